// The native init: the container's init as C code that runs before the Go
// runtime would start, executes the compiled plan and execs the
// container's process. See cinit.go.
#ifndef MINIRUNTIME_CINIT_H
#define MINIRUNTIME_CINIT_H

#include <stdint.h>

// The operations the native init executes. The Go side reads these values
// from here (cinit.go), so the two cannot disagree.
enum mr_op {
	MR_OP_NOT_DUMPABLE = 1,
	MR_OP_OOM_SCORE_ADJ,    // strs: value
	MR_OP_ROOT_PROPAGATION, // nums: flags
	MR_OP_PARENT_PRIVATE,   // strs: rootfs
	MR_OP_BIND_ROOTFS,      // strs: rootfs
	MR_OP_MOUNT,            // nums: flags, bind, recursive, propagation, attr_set, attr_clr; strs: source, destination, type, data
	MR_OP_CGROUP2_VIEW,     // nums: flags; strs: destination
	MR_OP_CGROUP1_VIEW,     // nums: flags, own cgroup namespace (1); strs: destination, then name, source, options per hierarchy
	MR_OP_WAIT_PARENT,      // strs: cgroup namespace ("", "new" or a path)
	MR_OP_DEVICE,           // nums: mode (type and permissions), major, minor, uid, gid; strs: path
	MR_OP_SYMLINK,          // strs: target, path
	MR_OP_OPEN_FIFO,        // strs: fifo path
	MR_OP_PIVOT_ROOT,       // strs: rootfs
	MR_OP_MOVE_ROOT,        // strs: rootfs
	MR_OP_CHROOT,           // strs: rootfs
	MR_OP_HOSTNAME,         // strs: name
	MR_OP_DOMAINNAME,       // strs: name
	MR_OP_SYSCTL,           // strs: name, /proc/sys path, value
	MR_OP_KEYRING,          // strs: keyring name
	MR_OP_READONLY_PATH,    // strs: path
	MR_OP_MASK_PATH,        // strs: path
	MR_OP_ROOTFS_PROPAGATE, // nums: flags
	MR_OP_READONLY_ROOT,
	MR_OP_LOOK_PATH,        // strs: args[0], PATH
	MR_OP_READY,
	MR_OP_WAIT_START,       // nums: start at once (1) or through the exec FIFO (0)
	MR_OP_RLIMIT_CEILINGS,  // nums: resource, soft, hard per rlimit; strs: their names
	MR_OP_UMASK,            // nums: umask
	MR_OP_OPEN_APPARMOR,    // strs: profile
	MR_OP_CHECK_CWD,        // nums: uid, HOME wanted (1); strs: cwd
	MR_OP_CLOSE_FDS,        // nums: first fd
	MR_OP_BOUNDING_SET,     // nums: kept mask, last capability
	MR_OP_SET_IDS,          // nums: uid, gid, additional gids...
	MR_OP_CAPABILITIES,     // nums: effective, permitted, inheritable
	MR_OP_AMBIENT,          // nums: capability numbers; strs: their names
	MR_OP_NO_NEW_PRIVS,
	MR_OP_CHDIR,            // strs: cwd
	MR_OP_RLIMIT,           // nums: resource, soft, hard; strs: name
	MR_OP_APPARMOR,         // strs: profile
	MR_OP_EXEC,             // nums: argument count; strs: args..., env...
	MR_OP_END_
};

// The first word of an encoded plan.
#define MR_PLAN_MAGIC 0x314e4c50u // "PLN1"

// The environment entry that makes an exec of the runtime binary the
// native init: its value is the sync socket's descriptor.
#define MR_NATIVE_ENV "_MINIRUNTIME_NATIVE"

#endif
