package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are the nodes every container gets, whatever linux.devices
// says (runtime-spec "Default Devices").
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// devSymlinks are the standard links under /dev.
var devSymlinks = [][2]string{
	{"/proc/self/fd", "/dev/fd"},
	{"/proc/self/fd/0", "/dev/stdin"},
	{"/proc/self/fd/1", "/dev/stdout"},
	{"/proc/self/fd/2", "/dev/stderr"},
	{"pts/ptmx", "/dev/ptmx"},
}

// createDevices makes the default devices and linux.devices. Inside a user
// namespace mknod is not allowed, so the host's node is bind-mounted instead.
func (f *fs) createDevices(s *specs.Spec, inUserNS bool) error {
	devs := append([]specs.LinuxDevice{}, defaultDevices...)
	for _, d := range s.Linux.Devices {
		devs = replaceDevice(devs, d)
	}
	// Most nodes live directly in /dev: resolve it once.
	dev, err := f.openDir("/dev")
	if err != nil {
		return fmt.Errorf("/dev: %w", err)
	}
	defer unix.Close(dev)
	for i, d := range devs {
		dirfd := dev
		if filepath.Dir(d.Path) != "/dev" {
			if dirfd, err = f.openDir(filepath.Dir(d.Path)); err != nil {
				return fmt.Errorf("linux.devices %s: %w", d.Path, err)
			}
		}
		err := f.createDevice(dirfd, d, inUserNS)
		if dirfd != dev {
			unix.Close(dirfd)
		}
		if err != nil {
			if i < len(defaultDevices) {
				return fmt.Errorf("default device %s: %w", d.Path, err)
			}
			return fmt.Errorf("linux.devices %s: %w", d.Path, err)
		}
	}
	links := devSymlinks
	// runc links /dev/core to the kernel's memory image where the kernel
	// has one (it is readable only with CAP_SYS_RAWIO, which containers
	// lack by default), and so does miniruntime, so that programs that
	// look for it find the same /dev.
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links[:len(links):len(links)], [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, filepath.Base(l[1])); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s: %w", l[1], err)
		}
		f.rec.Step("link "+l[1], trace.Quote("ln", "-s", l[0], l[1]))
	}
	return nil
}

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

// replaceDevice lets linux.devices override a default device of the same path.
func replaceDevice(devs []specs.LinuxDevice, d specs.LinuxDevice) []specs.LinuxDevice {
	for i := range devs {
		if devs[i].Path == d.Path {
			devs[i] = d
			return devs
		}
	}
	return append(devs, d)
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
