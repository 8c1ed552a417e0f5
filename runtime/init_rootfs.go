package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// fs performs the init's mount-namespace work and records each step.
type fs struct {
	rec    *trace.Recorder
	rootfs string
	root   *os.File // O_PATH handle on rootfs: every target is resolved inside it
	// beforeCgroup runs before the first cgroup mount: the container's view
	// of the cgroup tree needs the init to be in its cgroup already.
	beforeCgroup func() error
	// cgroupNS: the init has a cgroup namespace, so the cgroup v1
	// hierarchies are mounted anew rather than bound (mountHierarchy).
	cgroupNS bool
}

// mount is mount(2) with a trace line that reads as mount(8).
func (f *fs) mount(src, dst, fstype string, flags uintptr, data, shown string) error {
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s on %s (type %q, flags %#x, data %q): %w", src, shownOr(shown, dst), fstype, flags, data, err)
	}
	if f.rec.Enabled() {
		f.rec.Step("mount "+shownOr(shown, dst), mountCommand(src, shownOr(shown, dst), fstype, flags, data))
	}
	return nil
}

// bindRootfs bind-mounts the rootfs onto itself so that it is a mount
// point, which pivot_root requires, and opens it: every later target is
// resolved inside it.
func (f *fs) bindRootfs() error {
	if err := f.mount(f.rootfs, f.rootfs, "", unix.MS_BIND|unix.MS_REC, "", ""); err != nil {
		return err
	}
	root, err := os.OpenFile(f.rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", f.rootfs, err)
	}
	f.root = root
	return nil
}

// makeParentPrivate: pivot_root fails if the mount holding the new root is
// shared, which it is when rootfsPropagation asks for shared.
func (f *fs) makeParentPrivate() error {
	mp, err := mountPointOf(f.rootfs)
	if err != nil {
		return err
	}
	return f.mount("", mp, "", unix.MS_PRIVATE, "", "")
}

// mountOp performs one of the spec's mounts (not a cgroup one: see
// mountCgroup), with the flags and data the compiler resolved.
func (f *fs) mountOp(m MountOp) error {
	isDir := true
	if m.Bind {
		fi, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source: %w", unwrapPath(err))
		}
		isDir = fi.IsDir()
	}
	target, err := f.target(m.Destination, isDir)
	if err != nil {
		return err
	}
	defer target.Close()
	dst := procFD(target)
	if m.Bind {
		flags := uintptr(unix.MS_BIND)
		if m.Recursive {
			flags |= unix.MS_REC
		}
		if err := f.mount(m.Source, dst, "", flags, "", m.Destination); err != nil {
			return err
		}
	} else if err := f.mount(m.Source, dst, m.Type, uintptr(m.Flags), m.Data, m.Destination); err != nil {
		return err
	}
	// A bind mount ignores all other flags: they need a remount.
	remount := m.Bind && m.Flags&^unix.MS_REC != 0
	if !remount && m.Propagation == 0 && m.AttrSet|m.AttrClr == 0 {
		return nil
	}
	// The handle still names the directory under the new mount; reopen the
	// path to reach the mount itself.
	top, err := f.target(m.Destination, isDir)
	if err != nil {
		return err
	}
	defer top.Close()
	if remount {
		if err := f.remount(procFD(top), m.Destination, uintptr(m.Flags)); err != nil {
			return err
		}
	}
	return f.finishMount(procFD(top), m)
}

// finishMount applies the propagation and the recursive attributes, which
// take separate system calls, to m mounted at dst.
func (f *fs) finishMount(dst string, m MountOp) error {
	if m.Propagation != 0 {
		if err := f.mount("", dst, "", uintptr(m.Propagation), "", m.Destination); err != nil {
			return err
		}
	}
	if m.AttrSet|m.AttrClr != 0 {
		attr := unix.MountAttr{Attr_set: m.AttrSet, Attr_clr: m.AttrClr}
		if err := unix.MountSetattr(unix.AT_FDCWD, dst, unix.AT_RECURSIVE, &attr); err != nil {
			return fmt.Errorf("mount_setattr %s: %w", m.Destination, err)
		}
		f.rec.Step("set recursive mount attributes on "+m.Destination, fmt.Sprintf("mount_setattr(%s, AT_RECURSIVE, set=%#x clr=%#x)", m.Destination, m.AttrSet, m.AttrClr))
	}
	return nil
}

// remount changes the flags of an existing bind mount. Flags the kernel
// locks on a mount (nosuid, nodev, noexec, ro when made in a less privileged
// user namespace) must be repeated or the remount fails: keep those that are
// already set.
func (f *fs) remount(dst, shown string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err == nil {
		flags |= uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	}
	return f.mount("", dst, "", flags|unix.MS_BIND|unix.MS_REMOUNT, "", shown)
}

// target creates the mount point (a directory, or an empty file for a bind
// mount of a file) and returns an O_PATH handle on it, resolved inside the
// rootfs: a symlink in the rootfs can never send a mount outside it
// (CVE-2021-30465), even if it is swapped in while we work.
func (f *fs) target(dest string, isDir bool) (*os.File, error) {
	if h := f.quickTarget(dest, isDir); h != nil {
		return h, nil
	}
	if isDir {
		h, err := pathrs.MkdirAllHandle(f.root, dest, 0o755)
		if err != nil {
			return nil, fmt.Errorf("mkdir in rootfs: %w", err)
		}
		return h, nil
	}
	dir, err := pathrs.MkdirAllHandle(f.root, filepath.Dir(dest), 0o755)
	if err != nil {
		return nil, fmt.Errorf("mkdir in rootfs: %w", err)
	}
	defer dir.Close()
	name := filepath.Base(dest)
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o644)
	if err == nil {
		unix.Close(fd)
	} else if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.ENXIO) && !errors.Is(err, unix.EACCES) {
		return nil, fmt.Errorf("create mount point %s: %w", dest, err)
	}
	h, err := pathrs.OpenatInRoot(f.root, dest)
	if err != nil {
		return nil, fmt.Errorf("open mount point in rootfs: %w", err)
	}
	return h, nil
}

// inRoot is how every lookup in the rootfs is made: the kernel resolves
// the path as if the rootfs were /, so no symlink or ".." can lead out of
// it, and refuses /proc magic links. pathrs uses the same.
var inRoot = unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}

// quickTarget is target's common case in a few system calls: the mount
// point exists, or only its last element is missing. It returns nil when
// the general path (pathrs, which also makes missing parents and names
// what went wrong) must be taken. Both resolve with inRoot.
func (f *fs) quickTarget(dest string, isDir bool) *os.File {
	rel := strings.TrimPrefix(filepath.Clean("/"+dest), "/")
	if rel == "" {
		return nil
	}
	root := int(f.root.Fd())
	fd, err := unix.Openat2(root, rel, &inRoot)
	if errors.Is(err, unix.ENOENT) {
		fd, err = f.createLast(rel, isDir)
	}
	if err != nil {
		return nil
	}
	if isDir {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(fd)
			return nil
		}
	}
	return os.NewFile(uintptr(fd), filepath.Join(f.rootfs, rel))
}

// createLast makes the last element of rel (a directory, or an empty file)
// in its parent, which must exist, and opens it.
func (f *fs) createLast(rel string, isDir bool) (int, error) {
	parent, err := unix.Openat2(int(f.root.Fd()), filepath.Dir(rel), &unix.OpenHow{
		Flags: unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: inRoot.Resolve,
	})
	if err != nil {
		return -1, err
	}
	defer unix.Close(parent)
	name := filepath.Base(rel)
	if isDir {
		err = unix.Mkdirat(parent, name, 0o755)
	} else {
		var fd int
		if fd, err = unix.Openat(parent, name, unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o644); err == nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return -1, err
	}
	return unix.Openat2(int(f.root.Fd()), rel, &inRoot)
}

func procFD(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// pivotRoot makes the rootfs the root of the mount namespace and detaches
// the old root, so nothing of the host's tree stays reachable.
func (f *fs) pivotRoot() error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /: %w", err)
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(f.rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.rootfs, err)
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("chdir %s: %w", f.rootfs, err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one; it is
	// then reachable as "." after fchdir to it, and can be detached.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root %s: %w", f.rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("chdir to old root: %w", err)
	}
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root rslave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	f.rec.Step("make the rootfs the new /", trace.Quote("pivot_root", f.rootfs, f.rootfs+"/.oldroot")+" && umount -l /.oldroot")
	return nil
}

// chrootRoot is for a container without a mount namespace, where there is
// no root to pivot: it only changes this process's view.
func (f *fs) chrootRoot() error {
	if err := unix.Chroot(f.rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", f.rootfs, err)
	}
	f.rec.Step("chroot into the rootfs (no mount namespace)", trace.Quote("chroot", f.rootfs))
	return unix.Chdir("/")
}

// moveRoot is --no-pivot: for a rootfs on a ramfs, where pivot_root is not
// possible. The old root stays reachable to a process that can chroot out,
// which is why it is not the default.
func (f *fs) moveRoot() error {
	if err := unix.Chdir(f.rootfs); err != nil {
		return fmt.Errorf("chdir %s: %w", f.rootfs, err)
	}
	if err := f.mount(f.rootfs, "/", "", unix.MS_MOVE, "", ""); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot %s: %w", f.rootfs, err)
	}
	f.rec.Step("chroot into the rootfs (--no-pivot)", trace.Quote("chroot", f.rootfs))
	return unix.Chdir("/")
}

// maskPaths hides host information under /proc and /sys: directories get an
// empty read-only tmpfs, files get /dev/null bound over them.
func (f *fs) maskPaths(paths []string) error {
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return fmt.Errorf("linux.maskedPaths %s: %w", p, err)
		}
		if fi.IsDir() {
			err = f.mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "", "")
		} else {
			err = f.mount("/dev/null", p, "", unix.MS_BIND, "", "")
		}
		if err != nil {
			return fmt.Errorf("linux.maskedPaths: %w", err)
		}
	}
	return nil
}

// readonlyPaths bind-mounts each path onto itself and remounts it read-only.
func (f *fs) readonlyPaths(paths []string) error {
	for _, p := range paths {
		if err := f.mount(p, p, "", unix.MS_BIND|unix.MS_REC, "", ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("linux.readonlyPaths: %w", err)
		}
		if err := f.remount(p, p, unix.MS_RDONLY|unix.MS_REC); err != nil {
			return fmt.Errorf("linux.readonlyPaths: %w", err)
		}
	}
	return nil
}

// readonlyRoot is root.readonly: the container's / becomes read-only.
func (f *fs) readonlyRoot() error {
	return f.remount("/", "/", unix.MS_RDONLY)
}
