#include "textflag.h"

// func rawSyscall6(trap, a1, a2, a3, a4, a5 uintptr) (r uintptr, errno unix.Errno)
//
// The SYSCALL instruction and nothing else, as the runtime's own
// internal/runtime/syscall/linux.Syscall6 does, without the three Go
// frames (x/sys/unix's jump, syscall.RawSyscall6, the runtime's) that a
// unix.RawSyscall6 costs on the way there and back: see the package doc.
TEXT ·rawSyscall6(SB),NOSPLIT,$0-64
	MOVQ	trap+0(FP), AX
	MOVQ	a1+8(FP), DI
	MOVQ	a2+16(FP), SI
	MOVQ	a3+24(FP), DX
	MOVQ	a4+32(FP), R10
	MOVQ	a5+40(FP), R8
	MOVQ	$0, R9
	SYSCALL
	CMPQ	AX, $0xfffffffffffff001
	JLS	ok
	NEGQ	AX
	MOVQ	$0, r+48(FP)
	MOVQ	AX, errno+56(FP)
	RET
ok:
	MOVQ	AX, r+48(FP)
	MOVQ	$0, errno+56(FP)
	RET
