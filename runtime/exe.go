package runtime

import (
	"fmt"
	"os"
	"strconv"

	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// sealedExe opens this very binary through a private, detached, read-only
// bind mount, and the init is executed from it (/proc/self/fd/N).
//
// Why: in CVE-2019-5736 a container reopened the runtime binary through
// /proc/<pid>/exe of a runtime process inside the container (or through a
// "#!/proc/self/exe" entrypoint) and overwrote it on the host. With the init
// running from a read-only mount, /proc/<pid>/exe of the init, and anything
// executed through it, can only ever be opened read-only: a write fails with
// EROFS. No copy of the binary is made, and the mount is invisible to every
// mount table and vanishes with the last process using it.
//
// minFD is the lowest fd number the handle may take: the child's fds from 3
// up are overwritten with the files passed to it before it execs, so the
// path /proc/self/fd/N must name an fd above all of those (and above the
// scratch fds Go's fork code uses while rearranging them).
func sealedExe(rec *trace.Recorder, minFD int) (*os.File, error) {
	tree, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("open_tree /proc/self/exe: %w", err)
	}
	fd, err := unix.FcntlInt(uintptr(tree), unix.F_DUPFD_CLOEXEC, minFD)
	unix.Close(tree)
	if err != nil {
		return nil, fmt.Errorf("dup the runtime binary's handle: %w", err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mount_setattr read-only on the runtime binary: %w", err)
	}
	name := "/proc/self/fd/" + strconv.Itoa(fd)
	rec.Step("run the init from a read-only clone mount of the runtime binary (CVE-2019-5736)",
		"mount --bind -o ro /proc/self/exe <detached>")
	return os.NewFile(uintptr(fd), name), nil
}
