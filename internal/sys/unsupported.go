//go:build !linux || !(amd64 || arm64 || riscv64 || loong64)

package sys

// This module supports Linux on its 64-bit ports only: amd64, arm64,
// riscv64 and loong64. System V IPC's structures (semid64_ds, msqid64_ds)
// are laid out per architecture, and the 32-bit ones (386, arm, mips) also
// need the IPC_64 command bit or the ipc(2) multiplexer, which this module
// does not implement; other systems' System V IPC differs again. So the
// build stops here, with one error whose name says why, rather than with a
// pile of undefined names in the packages above.
var _ = ipc_supports_only_linux_on_amd64_arm64_riscv64_loong64
