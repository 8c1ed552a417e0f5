package runtime

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	"github.com/opencontainers/runc/libcontainer/specconv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// setUserAndCaps switches to process.user and leaves exactly the requested
// capabilities, in the only order that works: the bounding set is trimmed
// while CAP_SETPCAP is still held, keepcaps carries the permitted set across
// the uid change, the five sets are set afterwards, ambient last (it needs
// the capability in both permitted and inheritable).
//
// The id changes are raw system calls on this thread only: this is the
// thread that will execve, and execve ends every other thread.
func setUserAndCaps(p *specs.Process, rec *trace.Recorder) error {
	last := lastCap()
	c := p.Capabilities
	if c == nil {
		c = &specs.LinuxCapabilities{}
	}
	bounding := capMask(c.Bounding, last)
	for bit := uint(0); bit <= last; bit++ {
		if bounding&(1<<bit) == 0 {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(bit), 0, 0, 0); err != nil {
				return fmt.Errorf("process.capabilities.bounding: drop %d: %w", bit, err)
			}
		}
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	if err := setIDs(p.User); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	eff, perm, inh := capMask(c.Effective, last), capMask(c.Permitted, last), capMask(c.Inheritable, last)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("process.capabilities: capset: %w", err)
	}
	for _, name := range c.Ambient {
		bit := capNames[strings.ToUpper(name)]
		if bit > last {
			continue
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(bit), 0, 0); err != nil {
			return fmt.Errorf("process.capabilities.ambient %s: %w", name, err)
		}
	}
	if rec.Enabled() {
		rec.Step(fmt.Sprintf("become uid %d gid %d with %d capabilities", p.User.UID, p.User.GID, len(c.Effective)),
			fmt.Sprintf("setpriv --reuid=%d --regid=%d --bounding-set=... --inh-caps=...", p.User.UID, p.User.GID))
	}
	return nil
}

func setIDs(u specs.User) error {
	groups := make([]uint32, 0, len(u.AdditionalGids))
	groups = append(groups, u.AdditionalGids...)
	var gp uintptr
	if len(groups) > 0 {
		gp = uintptr(unsafe.Pointer(&groups[0]))
	}
	// setgroups is denied in a user namespace whose setgroups file says
	// "deny"; there the supplementary groups cannot be changed at all.
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), gp, 0); e != 0 && !(e == unix.EPERM && len(groups) == 0) {
		return fmt.Errorf("process.user.additionalGids: setgroups: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, e)
	}
	return nil
}

// seccompFilter is the spec's seccomp section converted once at create by
// runc's converter (validation) and again in the init (loading).
func seccompConfig(s *specs.LinuxSeccomp) (*configs.Seccomp, error) {
	if s == nil {
		return nil, nil
	}
	if s.ListenerPath != "" {
		return nil, fmt.Errorf("listenerPath: seccomp notify agents are not supported")
	}
	for i, sc := range s.Syscalls {
		if sc.Action == specs.ActNotify {
			return nil, fmt.Errorf("syscalls[%d].action: SCMP_ACT_NOTIFY is not supported", i)
		}
	}
	return specconv.SetupSeccomp(s)
}

func validateSeccomp(s *specs.LinuxSeccomp) error {
	if s == nil {
		return nil
	}
	// runc's seccomp package loads filters only when built with the
	// "seccomp" tag (and cgo); scripts/setup.sh builds that way.
	if major, _, _ := seccomp.Version(); major == 0 {
		return fieldErr("linux.seccomp", "this binary was built without seccomp support (go build -tags seccomp)")
	}
	if _, err := seccompConfig(s); err != nil {
		return fieldErr("linux.seccomp", "%v", err)
	}
	return nil
}

func loadSeccomp(sc *specs.LinuxSeccomp, rec *trace.Recorder) error {
	cfg, err := seccompConfig(sc)
	if err != nil || cfg == nil {
		return err
	}
	if _, err := seccomp.InitSeccomp(cfg); err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	rec.Step(fmt.Sprintf("load the seccomp filter (%d rules, default %s)", len(sc.Syscalls), sc.DefaultAction), "seccomp(SECCOMP_SET_MODE_FILTER, ...)")
	return nil
}
