/*
 * cref: the C yardstick of ipc bench. It measures what ipc bench's Go cases
 * measure, between the same two processes (a parent and a forked child),
 * with the same placement, warm-up and timing, so that the Go/C ratio says
 * what the Go side costs and nothing else.
 *
 *   cref CASE PLACEMENT ROUNDS SIZE
 *
 * CASE       sem-split     two semaphores; each side posts the other's and
 *                          waits on its own in two semop calls (4 per round trip)
 *            sem-combined  each side waits and posts in one semop (2 per trip)
 *            msgq-ping     one queue: type 1 there, type 2 back, SIZE bytes
 *            msgq-stream   ROUNDS messages of SIZE bytes one way
 *            pipe-ping     two pipes, SIZE bytes each way
 *            pipe-stream   ROUNDS writes of SIZE bytes into one pipe
 *            sock-ping     one AF_UNIX stream socketpair, SIZE bytes each way
 *            sock-stream   ROUNDS writes of SIZE bytes into a socketpair
 *            shm-copy      memcpy of SIZE bytes into an attached segment,
 *                          ROUNDS times (no child; the first touch is not timed)
 * PLACEMENT  same (both on CPU 0), cross (parent on 0, child on 1) or any
 *
 * It prints one line of key=value fields; ns_per_op is the time per round
 * trip, message, chunk or copy. A stream is timed from the first write until
 * the child says it has read everything (it says it is ready first, so its
 * start is not timed), as the Go cases do. Every object made is removed,
 * also when something fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int semid = -1, msqid = -1, shmid = -1;
static pid_t child = -1;

/* cleanup removes what was made and kills the child: on every way out. */
static void cleanup(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	if (semid >= 0)
		semctl(semid, 0, IPC_RMID);
	if (msqid >= 0)
		msgctl(msqid, IPC_RMID, NULL);
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
	semid = msqid = shmid = -1;
}

static void fail(const char *what)
{
	int e = errno;
	fprintf(stderr, "cref: %s: %s\n", what, strerror(e));
	if (child != 0) /* the parent (or no child yet): clean up */
		cleanup();
	_exit(1);
}

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *placement = "same";

/* place puts the calling process where the placement says; side is 0 for
 * the parent and 1 for the child. */
static void place(int side)
{
	cpu_set_t set;
	int cpu = 0;
	if (strcmp(placement, "any") == 0)
		return;
	if (strcmp(placement, "cross") == 0)
		cpu = side;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0)
		fail("sched_setaffinity");
}

/* spawn forks the child, which runs fn and exits 0, or 1 if fn failed. */
static void spawn(void (*fn)(void))
{
	child = fork();
	if (child < 0)
		fail("fork");
	if (child == 0) {
		place(1);
		fn();
		_exit(0);
	}
	place(0);
}

/* reap waits for the child and fails if it did not exit 0. */
static void reap(void)
{
	int st;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			fail("waitpid");
	child = -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		errno = ECHILD;
		fail("child failed");
	}
}

static long rounds, size, warm;

/* Every blocking call retries EINTR, as the Go side does. */
static void semop1(struct sembuf *ops, size_t n)
{
	while (semop(semid, ops, n) < 0)
		if (errno != EINTR)
			fail("semop");
}

static void xwrite(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fail("write");
		}
		p += w;
		n -= (size_t)w;
	}
}

/* readsome reads at least one byte and at most n; the end of the file is
 * a failure, as the other side never closes first. */
static size_t readsome(int fd, char *p, size_t n)
{
	for (;;) {
		ssize_t r = read(fd, p, n);
		if (r > 0)
			return (size_t)r;
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			errno = EPIPE;
		fail("read");
	}
}

static void xread(int fd, char *p, size_t n)
{
	while (n > 0) {
		size_t r = readsome(fd, p, n);
		p += r;
		n -= r;
	}
}

/* Semaphore ping-pong. The parent waits on 0 and posts 1; the child the
 * other way round. */
static int combined;
static struct sembuf p0 = {0, -1, 0}, v0 = {0, 1, 0}, p1 = {1, -1, 0}, v1 = {1, 1, 0};

static void sem_child(void)
{
	struct sembuf both[2] = {p1, v0};
	for (long i = 0; i < warm + rounds; i++) {
		if (combined) {
			semop1(both, 2);
		} else {
			semop1(&p1, 1);
			semop1(&v0, 1);
		}
	}
}

static double sem_ping(void)
{
	struct sembuf both[2] = {p0, v1};
	uint64_t start = 0;
	semid = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
	if (semid < 0)
		fail("semget");
	spawn(sem_child);
	if (combined)
		semop1(&v1, 1); /* the first serve */
	for (long i = 0; i < warm + rounds; i++) {
		if (i == warm)
			start = now();
		if (combined) {
			semop1(both, 2);
		} else {
			semop1(&v1, 1);
			semop1(&p0, 1);
		}
	}
	uint64_t d = now() - start;
	reap();
	return (double)d / rounds;
}

/* Message queues: a message is a long type and then the text. */
struct msg {
	long type;
	char text[];
};
static struct msg *mbuf;

static void msnd(long type, size_t n)
{
	mbuf->type = type;
	while (msgsnd(msqid, mbuf, n, 0) < 0)
		if (errno != EINTR)
			fail("msgsnd");
}

static void mrcv(long type)
{
	while (msgrcv(msqid, mbuf, (size_t)size, type, MSG_NOERROR) < 0)
		if (errno != EINTR)
			fail("msgrcv");
}

static void msgq_pong(void)
{
	for (long i = 0; i < warm + rounds; i++) {
		mrcv(1);
		msnd(2, (size_t)size);
	}
}

static void msgq_sink(void)
{
	msnd(2, 1); /* ready */
	for (long i = 0; i < rounds; i++)
		mrcv(1);
	msnd(2, 1); /* all taken */
}

static void msgq_open(void)
{
	msqid = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	if (msqid < 0)
		fail("msgget");
	mbuf = calloc(1, sizeof(struct msg) + (size_t)size + 1);
	if (!mbuf)
		fail("calloc");
}

static double msgq_ping(void)
{
	uint64_t start = 0;
	msgq_open();
	spawn(msgq_pong);
	for (long i = 0; i < warm + rounds; i++) {
		if (i == warm)
			start = now();
		msnd(1, (size_t)size);
		mrcv(2);
	}
	uint64_t d = now() - start;
	reap();
	return (double)d / rounds;
}

static double msgq_stream(void)
{
	msgq_open();
	spawn(msgq_sink);
	mrcv(2);
	uint64_t start = now();
	for (long i = 0; i < rounds; i++)
		msnd(1, (size_t)size);
	mrcv(2);
	uint64_t d = now() - start;
	reap();
	return (double)d / rounds;
}

/* Descriptors: mine[0] reads what the child writes to theirs[1], and
 * mine[1] writes what the child reads from theirs[0]. */
static int mine[2], theirs[2];
static char *buf;

static void fd_open(int sock)
{
	int a[2], b[2];
	if (sock) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) < 0)
			fail("socketpair");
		mine[0] = mine[1] = a[0];
		theirs[0] = theirs[1] = a[1];
	} else {
		if (pipe(a) < 0 || pipe(b) < 0)
			fail("pipe");
		mine[1] = a[1], theirs[0] = a[0]; /* to the child */
		theirs[1] = b[1], mine[0] = b[0]; /* back */
	}
	buf = malloc((size_t)size);
	if (!buf)
		fail("malloc");
	memset(buf, 'x', (size_t)size);
}

static void fd_close(int *fds)
{
	close(fds[0]);
	if (fds[1] != fds[0])
		close(fds[1]);
}

static void fd_pong(void)
{
	fd_close(mine);
	for (long i = 0; i < warm + rounds; i++) {
		xread(theirs[0], buf, (size_t)size);
		xwrite(theirs[1], buf, (size_t)size);
	}
}

static void fd_sink(void)
{
	char ack = 1;
	fd_close(mine);
	xwrite(theirs[1], &ack, 1); /* ready */
	for (long left = rounds * size; left > 0;)
		left -= (long)readsome(theirs[0], buf, (size_t)(left < size ? left : size));
	xwrite(theirs[1], &ack, 1); /* all read */
}

static double fd_ping(int sock)
{
	uint64_t start = 0;
	fd_open(sock);
	spawn(fd_pong);
	fd_close(theirs);
	for (long i = 0; i < warm + rounds; i++) {
		if (i == warm)
			start = now();
		xwrite(mine[1], buf, (size_t)size);
		xread(mine[0], buf, (size_t)size);
	}
	uint64_t d = now() - start;
	reap();
	return (double)d / rounds;
}

static double fd_stream(int sock)
{
	char ack;
	fd_open(sock);
	spawn(fd_sink);
	fd_close(theirs);
	xread(mine[0], &ack, 1);
	uint64_t start = now();
	for (long i = 0; i < rounds; i++)
		xwrite(mine[1], buf, (size_t)size);
	xread(mine[0], &ack, 1);
	uint64_t d = now() - start;
	reap();
	return (double)d / rounds;
}

/* shm-copy: what memcpy does into a segment whose pages are in. */
static double shm_copy(void)
{
	char *src = malloc((size_t)size);
	if (!src)
		fail("malloc");
	for (long i = 0; i < size; i++)
		src[i] = (char)i;
	shmid = shmget(IPC_PRIVATE, (size_t)size, IPC_CREAT | 0600);
	if (shmid < 0)
		fail("shmget");
	char *mem = shmat(shmid, NULL, 0);
	if (mem == (void *)-1)
		fail("shmat");
	place(0);
	memcpy(mem, src, (size_t)size); /* the first touch faults the pages in */
	uint64_t start = now();
	for (long i = 0; i < rounds; i++) {
		memcpy(mem, src, (size_t)size);
		__asm__ volatile("" : : "r"(mem) : "memory"); /* every copy happens */
	}
	uint64_t d = now() - start;
	if (shmdt(mem) < 0)
		fail("shmdt");
	return (double)d / rounds;
}

static void usage(void)
{
	fprintf(stderr, "usage: cref sem-split|sem-combined|msgq-ping|msgq-stream|pipe-ping|pipe-stream|"
	                "sock-ping|sock-stream|shm-copy same|cross|any ROUNDS SIZE\n");
	exit(2);
}

static long number(const char *s, long min)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	if (argc != 5)
		usage();
	const char *c = argv[1];
	placement = argv[2];
	if (strcmp(placement, "same") && strcmp(placement, "cross") && strcmp(placement, "any"))
		usage();
	rounds = number(argv[3], 1);
	size = number(argv[4], 0);
	warm = rounds / 20 + 100; /* as ipc bench: the child's start is not measured */
	if (strncmp(c, "sem-", 4) && size < 1)
		usage();
	signal(SIGPIPE, SIG_IGN);
	atexit(cleanup);
	double ns;
	if (!strcmp(c, "sem-split") || !strcmp(c, "sem-combined")) {
		combined = c[4] == 'c';
		ns = sem_ping();
	} else if (!strcmp(c, "msgq-ping")) {
		ns = msgq_ping();
	} else if (!strcmp(c, "msgq-stream")) {
		ns = msgq_stream();
	} else if (!strcmp(c, "pipe-ping") || !strcmp(c, "sock-ping")) {
		ns = fd_ping(c[0] == 's');
	} else if (!strcmp(c, "pipe-stream") || !strcmp(c, "sock-stream")) {
		ns = fd_stream(c[0] == 's');
	} else if (!strcmp(c, "shm-copy")) {
		ns = shm_copy();
	} else {
		usage();
	}
	cleanup();
	printf("case=%s placement=%s rounds=%ld size=%ld ns_per_op=%.1f\n", c, placement, rounds, size, ns);
	return 0;
}
