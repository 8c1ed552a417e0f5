package runtime

import (
	"errors"
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// openDir makes a directory inside the rootfs (resolved safely, see
// target) and opens it for *at system calls.
func (f *fs) openDir(path string) (int, error) {
	h, err := f.target(path, true)
	if err != nil {
		return -1, err
	}
	defer h.Close()
	return unix.Open(procFD(h), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

func (f *fs) createDevice(dirfd int, d specs.LinuxDevice, inUserNS bool) error {
	name := filepath.Base(d.Path)
	if inUserNS {
		return f.bindDevice(dirfd, d)
	}
	mode := uint32(0o666)
	if d.FileMode != nil {
		mode = uint32(*d.FileMode) & 0o7777
	}
	var typ uint32
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	}
	// Replace whatever is there (an image may ship its own /dev entries).
	_ = unix.Unlinkat(dirfd, name, 0)
	old := unix.Umask(0)
	err := unix.Mknodat(dirfd, name, typ|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor))))
	unix.Umask(old)
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	uid, gid := 0, 0
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	if err := unix.Fchownat(dirfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	if f.rec.Enabled() {
		f.rec.Step("create device "+d.Path, fmt.Sprintf("mknod -m %o %s %s %d %d", mode, d.Path, d.Type, d.Major, d.Minor))
	}
	return nil
}

func (f *fs) bindDevice(dirfd int, d specs.LinuxDevice) error {
	name := filepath.Base(d.Path)
	fd, err := unix.Openat(dirfd, name, unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0o644)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create bind target: %w", err)
	}
	if err == nil {
		unix.Close(fd)
	}
	tgt, err := f.target(d.Path, false)
	if err != nil {
		return err
	}
	defer tgt.Close()
	return f.mount(d.Path, procFD(tgt), "", unix.MS_BIND, "", d.Path)
}
