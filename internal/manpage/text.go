package manpage

// The sections that are not a command's: written once here, in roff text
// (\- is a minus, \fB...\fR bold).

var description = []string{
	`ipc is a command-line tool for System V IPC on Linux: semaphore sets, message queues and ` +
		`shared memory segments, plus pipes and socketpairs. It creates, inspects, operates on and ` +
		`removes objects (\fBipc sem\fR, \fBipc msgq\fR, \fBipc shm\fR), stands in for util-linux ` +
		`2.38.1's ipcs, ipcrm and ipcmk (\fBipc ls\fR, \fBipc rm\fR, \fBipc mk\fR, byte for byte) and, ` +
		`invoked through a link of that name, is ipcs, ipcrm, ipcmk or lsipc; it shows the classic ` +
		`multiprocess patterns live (the demos), runs a prefork server (\fBipc serve\fR, ` +
		`\fBipc status\fR) and measures each mechanism (\fBipc bench\fR).`,
	`Keys are given as \fB\-\-key\fR 0x1b2c (hex), decimal or \fBprivate\fR, or derived from a ` +
		`file with \fB\-\-path\fR \fIfile\fR [\fB\-\-proj\fR \fIn\fR] exactly as glibc's ftok(3) ` +
		`does. Ids are decimal. Modes are octal; objects are created 0600 unless \fB\-\-mode\fR says ` +
		`otherwise. Create commands print the new id alone on standard output, so that ` +
		`\fBid=$(ipc sem create \-\-private \-\-nsems 1)\fR works. \fB\-\-json\fR, where a command ` +
		`has it, prints one JSON document and nothing else. Flags may come before or after arguments.`,
	`Errors are one line on standard error, \fBipc: \fIwhat failed\fB: \fIwhy\fR. A failed ` +
		`command leaves no object behind.`,
	`A demo's child is this same binary started again (/proc/self/exe), since Go cannot fork ` +
		`without exec: every line says which process printed it, \fB[\fIpid\fB] parent\fR or ` +
		`\fB[\fIpid\fB] child\fR.`,
	`Shell completion (\fBipc completion bash\fR|\fBzsh\fR|\fBfish\fR) only ever lists words: ` +
		`completing a command never runs it.`,
}

var exitStatus = [][2]string{
	{`0`, `Success.`},
	{`1`, `A failed operation (the kernel refused, the object does not exist, a wait timed out, ` +
		`a demo's child died). \fBipc ls\fR, \fBipc rm\fR, \fBipc mk\fR and the ipcs, ipcrm, ipcmk and ` +
		`lsipc links return util-linux's statuses instead: 1 for every error, usage errors included, ` +
		`and 0 for an \fB\-i\fR id that names nothing.`},
	{`2`, `A usage error: an unknown command or flag, a bad key, mode, size, id or count.`},
	{`128+N`, `Stopped by signal N (130 for SIGINT, 143 for SIGTERM) after removing what it made: ` +
		`the demos and \fBipc bench\fR.`},
}

var serveSignals = [][2]string{
	{`SIGTERM, SIGINT`, `Stop gracefully: close the listener, let connections finish within ` +
		`\fB\-\-graceful\-timeout\fR, then remove every IPC object and the state file.`},
	{`SIGQUIT`, `Stop at once, removing the IPC objects.`},
	{`SIGHUP`, `Reload: replace every worker by a new generation without refusing or cutting a connection.`},
	{`SIGTTIN`, `Add a worker.`},
	{`SIGTTOU`, `Remove a worker.`},
	{`SIGUSR1`, `Log each worker's counters.`},
	{`SIGCHLD`, `Handled internally: every worker is reaped, its end logged, and a crashed one replaced.`},
}

var environment = [][2]string{
	{`TZ`, `The time zone of the times ipc ls, the links and \fB\-\-json\fR print, as for the C ` +
		`library: a zone name (Europe/Berlin), a POSIX TZ string (CET\-1CEST,M3.5.0,M10.5.0/3, ` +
		`JST\-9, <+0530>\-5:30) or a right/ zone with leap seconds.`},
	{`POSIXLY_CORRECT`, `Set, the util-linux commands stop parsing options at the first argument, ` +
		`as glibc's getopt does.`},
	{`XDG_RUNTIME_DIR`, `Where \fBipc serve\fR and \fBipc status\fR keep and find the state file ` +
		`by default (see FILES).`},
	{`TMPDIR`, `Where \fBipc pipe\-demo\fR makes the file it passes.`},
	{`IPC_PROC_CHILD`, `Set by ipc in the environment of the children it starts (the demos', the ` +
		`server's workers, the benchmarks' partners) to name their role; not for users.`},
}

var files = [][2]string{
	{`/proc/sysvipc/msg, /proc/sysvipc/sem, /proc/sysvipc/shm`, `The objects of the IPC namespace, ` +
		`which \fBipc ls\fR lists, as ipcs does.`},
	{`/proc/sys/kernel/msgmax, msgmnb, msgmni, sem, shmall, shmmax, shmmni`, `The limits ` +
		`\fBipc limits\fR and \fBipc ls \-l\fR print.`},
}

var generalExamples = []string{
	`id=$(ipc sem create --private --nsems 2 --value 1)`,
	`ipc sem op "$id" 0:-1 1:+1`,
	`q=$(ipc msgq create --key 0x1234)`,
	`printf 'hello' | ipc msgq send "$q" --type 2`,
	`ipc msgq recv "$q" --type -5 --json`,
	`ipc ls -q; ipc rm -q "$q"; ipc sem rm "$id"`,
	`sudo unshare --ipc sh -c 'ipc mk -Q; ipc ls -q'`,
}
