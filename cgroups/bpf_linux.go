package cgroups

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The few bpf(2) commands the device filter needs. The attribute structs
// are prefixes of union bpf_attr (include/uapi/linux/bpf.h); the kernel
// accepts a shorter struct and zero-fills the rest.

type bpfProgLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       uint64
	license     uint64
	logLevel    uint32
	logSize     uint32
	logBuf      uint64
	kernVersion uint32
	progFlags   uint32
	progName    [16]byte
}

type bpfAttachAttr struct {
	targetFd    uint32
	attachBpfFd uint32
	attachType  uint32
	attachFlags uint32
}

type bpfQueryAttr struct {
	targetFd    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     uint64
	progCnt     uint32
	_           uint32
}

type bpfGetIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

type bpfInfoAttr struct {
	fd      uint32
	infoLen uint32
	info    uint64
}

func bpf(cmd uintptr, attr unsafe.Pointer, size uintptr) (int, error) {
	// The verifier gives up with EAGAIN when a signal is pending, and a Go
	// program gets signals at any time (the runtime preempts goroutines
	// with SIGURG): try again, a bounded number of times.
	for try := 0; ; try++ {
		r, _, errno := unix.Syscall(unix.SYS_BPF, cmd, uintptr(attr), size)
		switch {
		case errno == 0:
			return int(r), nil
		case (errno == unix.EAGAIN || errno == unix.EINTR) && try < 10:
			continue
		}
		return int(r), errno
	}
}

// loadDeviceProgram loads p into the kernel and returns its fd. When the
// verifier refuses it, the load is repeated with a log so the error says why.
func loadDeviceProgram(p *DeviceProgram) (int, error) {
	code := p.Bytes()
	license := []byte("Apache-2.0\x00")
	attr := bpfProgLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(p.Len()),
		insns:    uint64(uintptr(unsafe.Pointer(&code[0]))),
		license:  uint64(uintptr(unsafe.Pointer(&license[0]))),
	}
	copy(attr.progName[:], "mr_devices")
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	if err == nil {
		return fd, nil
	}
	if errors.Is(err, unix.EPERM) {
		return -1, fmt.Errorf("load eBPF device filter: %w (needs CAP_BPF or CAP_SYS_ADMIN)", err)
	}
	log := make([]byte, 64<<10)
	attr.logLevel, attr.logSize = 1, uint32(len(log))
	attr.logBuf = uint64(uintptr(unsafe.Pointer(&log[0])))
	_, err2 := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	runtime.KeepAlive(license)
	runtime.KeepAlive(log)
	if err2 == nil {
		err2 = err
	}
	msg := strings.TrimRight(string(log[:max(0, strings.IndexByte(string(log), 0))]), "\n")
	return -1, fmt.Errorf("load eBPF device filter: %w; verifier: %s", err2, msg)
}

// attachedDevicePrograms lists the ids of the device programs attached
// directly to the cgroup open as dirFd.
func attachedDevicePrograms(dirFd int) ([]uint32, error) {
	ids := make([]uint32, 64)
	attr := bpfQueryAttr{
		targetFd:   uint32(dirFd),
		attachType: unix.BPF_CGROUP_DEVICE,
		progIDs:    uint64(uintptr(unsafe.Pointer(&ids[0]))),
		progCnt:    uint32(len(ids)),
	}
	_, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	runtime.KeepAlive(ids)
	if err != nil {
		return nil, fmt.Errorf("query attached device programs: %w", err)
	}
	return ids[:attr.progCnt], nil
}

func progFDByID(id uint32) (int, error) {
	attr := bpfGetIDAttr{id: id}
	return bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
}

func progID(fd int) uint32 {
	var info [2]uint32 // struct bpf_prog_info starts with type, id
	attr := bpfInfoAttr{fd: uint32(fd), infoLen: 8, info: uint64(uintptr(unsafe.Pointer(&info[0])))}
	if _, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return 0
	}
	return info[1]
}

// attachDeviceFilter loads p and attaches it to the cgroup directory dir,
// replacing the programs attached there before. The new program is attached
// first and the old ones detached after, so for a moment both run; a device
// is then allowed only if both allow it, never more than either.
func (w writer) attachDeviceFilter(dir string, p *DeviceProgram) error {
	dirFd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &FieldError{Field: fDevices, Err: fmt.Errorf("open cgroup %s: %w", dir, err)}
	}
	defer unix.Close(dirFd)
	old, err := attachedDevicePrograms(dirFd)
	if err != nil {
		return &FieldError{Field: fDevices, Err: err}
	}
	fd, err := loadDeviceProgram(p)
	if err != nil {
		return &FieldError{Field: fDevices, Err: err}
	}
	defer unix.Close(fd)
	if w.rec.Enabled() {
		// One line; DeviceProgram.String has the full listing.
		def := "deny"
		if p.DefaultAllow {
			def = "allow"
		}
		w.rec.Step(fmt.Sprintf("devices: eBPF filter of %d instructions, %d rules, default %s", p.Len(), p.Rules, def), "")
		w.rec.Step("devices: attach the filter", fmt.Sprintf("bpftool cgroup attach %s device id %d multi", dir, progID(fd)))
	}
	attr := bpfAttachAttr{targetFd: uint32(dirFd), attachBpfFd: uint32(fd), attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI}
	if _, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return &FieldError{Field: fDevices, Err: fmt.Errorf("attach device filter to %s: %w", dir, err)}
	}
	for _, id := range old {
		ofd, err := progFDByID(id)
		if err != nil {
			return &FieldError{Field: fDevices, Err: fmt.Errorf("open old device program %d: %w", id, err)}
		}
		if w.rec.Enabled() {
			w.rec.Step("devices: detach the previous filter", fmt.Sprintf("bpftool cgroup detach %s device id %d", dir, id))
		}
		attr := bpfAttachAttr{targetFd: uint32(dirFd), attachBpfFd: uint32(ofd), attachType: unix.BPF_CGROUP_DEVICE}
		_, err = bpf(unix.BPF_PROG_DETACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		unix.Close(ofd)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return &FieldError{Field: fDevices, Err: fmt.Errorf("detach old device program %d from %s: %w", id, dir, err)}
		}
	}
	return nil
}
