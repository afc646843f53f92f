// Package sys is the raw layer under the sem and msgq packages: the System V
// semaphore and message-queue system calls, which golang.org/x/sys/unix does
// not wrap, and the kernel's semid64_ds and msqid64_ds layouts for each
// supported architecture.
//
// Nothing here retries, classifies or formats errors: each function makes one
// system call and returns the raw errno (0 on success), so the callers can
// decide what EINTR, EAGAIN and friends mean for the operation they attempted.
//
// The module supports Linux on amd64, arm64, riscv64 and loong64. Built for
// anything else, this package stops with one compile error that says so
// (unsupported.go), and every package that reaches the kernel depends on it,
// so that error is the only one.
//
// Every unsafe.Pointer to uintptr conversion happens inside the Syscall call
// expression (rule 4 of package unsafe), so the memory the kernel reads or
// writes cannot move or be collected during the call.
package sys
