// Package cinit is the native init: the container's init written in C.
// create starts it as it starts the Go init, by executing this binary from
// its sealed handle (runtime/exe.go), but with MR_NATIVE_ENV set: a C
// constructor then reads the plan (plain data, encoded by Plan) from the
// sync socket, executes it step by step and execs the container's
// process. The Go runtime never starts in it.
//
// Why: in a cgroup v2 guest under emulation a Go program's start (the
// runtime, package initialisation) costs tens of milliseconds, about what a
// whole container start of crun spends; the Go init paid it once per
// container on top of the command's own start.
//
// Why an exec at all, rather than a fork of the runtime (which was tried,
// and measured no faster under emulation: copying a Go process's page
// tables is not free either): the process the container's program is executed from must be this
// binary behind a read-only mount. A forked init's /proc/self/exe is the
// binary on the host's disk, and a "#!/proc/self/exe" entrypoint would hand
// the container a writable handle on it (CVE-2019-5736).
//
// The runtime package decides which plans it executes: the steps listed in
// cinit.h; anything else (hooks run by the init, a console, seccomp, user
// and time namespaces, tracing) goes to the Go init.
package cinit

/*
#cgo CFLAGS: -Wall -O2
#include "cinit.h"
*/
import "C"

import (
	"encoding/binary"
	"strconv"
)

// Op is a native init operation (cinit.h).
type Op uint32

// The operations, with the values the C side was compiled with.
const (
	NotDumpable     Op = C.MR_OP_NOT_DUMPABLE
	OOMScoreAdj     Op = C.MR_OP_OOM_SCORE_ADJ
	RootPropagation Op = C.MR_OP_ROOT_PROPAGATION
	ParentPrivate   Op = C.MR_OP_PARENT_PRIVATE
	BindRootfs      Op = C.MR_OP_BIND_ROOTFS
	Mount           Op = C.MR_OP_MOUNT
	Cgroup2View     Op = C.MR_OP_CGROUP2_VIEW
	Cgroup1View     Op = C.MR_OP_CGROUP1_VIEW
	WaitParent      Op = C.MR_OP_WAIT_PARENT
	Device          Op = C.MR_OP_DEVICE
	Symlink         Op = C.MR_OP_SYMLINK
	OpenFIFO        Op = C.MR_OP_OPEN_FIFO
	PivotRoot       Op = C.MR_OP_PIVOT_ROOT
	MoveRoot        Op = C.MR_OP_MOVE_ROOT
	Chroot          Op = C.MR_OP_CHROOT
	Hostname        Op = C.MR_OP_HOSTNAME
	Domainname      Op = C.MR_OP_DOMAINNAME
	Sysctl          Op = C.MR_OP_SYSCTL
	Keyring         Op = C.MR_OP_KEYRING
	ReadonlyPath    Op = C.MR_OP_READONLY_PATH
	MaskPath        Op = C.MR_OP_MASK_PATH
	RootfsPropagate Op = C.MR_OP_ROOTFS_PROPAGATE
	ReadonlyRoot    Op = C.MR_OP_READONLY_ROOT
	LookPath        Op = C.MR_OP_LOOK_PATH
	Ready           Op = C.MR_OP_READY
	WaitStart       Op = C.MR_OP_WAIT_START
	RlimitCeilings  Op = C.MR_OP_RLIMIT_CEILINGS
	Umask           Op = C.MR_OP_UMASK
	OpenAppArmor    Op = C.MR_OP_OPEN_APPARMOR
	CheckCwd        Op = C.MR_OP_CHECK_CWD
	CloseFDs        Op = C.MR_OP_CLOSE_FDS
	BoundingSet     Op = C.MR_OP_BOUNDING_SET
	SetIDs          Op = C.MR_OP_SET_IDS
	Capabilities    Op = C.MR_OP_CAPABILITIES
	Ambient         Op = C.MR_OP_AMBIENT
	NoNewPrivileges Op = C.MR_OP_NO_NEW_PRIVS
	Chdir           Op = C.MR_OP_CHDIR
	Rlimit          Op = C.MR_OP_RLIMIT
	AppArmor        Op = C.MR_OP_APPARMOR
	Exec            Op = C.MR_OP_EXEC
)

// Step is one encoded step: its operation, the text that names it in an
// error, and its operands (which ones, in which order: cinit.h).
type Step struct {
	Op   Op
	What string
	Nums []uint64
	Strs []string
}

// Plan encodes the v1 tasks files the init joins first and its steps, in
// the layout cinit.c reads: a magic word and the body's length, then
// little-endian u32 counts, u64 numbers and strings (a u32 length, the
// bytes and a NUL).
func Plan(tasks []string, steps []Step) []byte {
	b := binary.LittleEndian.AppendUint32(nil, C.MR_PLAN_MAGIC)
	b = binary.LittleEndian.AppendUint32(b, 0) // the length, below
	str := func(s string) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(append(b, s...), 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(tasks)))
	for _, t := range tasks {
		str(t)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(steps)))
	for _, s := range steps {
		b = binary.LittleEndian.AppendUint32(b, uint32(s.Op))
		str(s.What)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Nums)))
		for _, n := range s.Nums {
			b = binary.LittleEndian.AppendUint64(b, n)
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s.Strs)))
		for _, x := range s.Strs {
			str(x)
		}
	}
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// Env is the environment entry that makes the init native, reading its
// plan from descriptor syncFD.
func Env(syncFD int) string { return C.MR_NATIVE_ENV + "=" + strconv.Itoa(syncFD) }
