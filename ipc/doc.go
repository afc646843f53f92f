// Package ipc holds what the System V IPC families share: keys (including
// ftok exactly as glibc computes it), open flags and permission bits, the
// typed errors every package of this module returns, and the host-wide view
// of objects and limits that ipcs, ipcrm and lsipc show.
//
// The families themselves live in their own packages: semaphore sets in
// package sem, message queues in package msgq, shared memory in package shm.
package ipc
