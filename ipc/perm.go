package ipc

import "golang.org/x/sys/unix"

// Perm is the ownership and permission record every object carries
// (struct ipc64_perm): its key, owner, creator and mode.
type Perm struct {
	Key  Key
	UID  uint32 // owner
	GID  uint32
	CUID uint32 // creator
	CGID uint32
	Mode Mode   // permission bits only
	Seq  uint16 // the slot's reuse counter, part of the id
}

// PermFromKernel converts the kernel's record.
func PermFromKernel(p *unix.SysvIpcPerm) Perm {
	return Perm{
		Key:  Key(p.Key),
		UID:  p.Uid,
		GID:  p.Gid,
		CUID: p.Cuid,
		CGID: p.Cgid,
		Mode: Mode(p.Mode & 0o777),
		Seq:  p.Seq,
	}
}
