package runtime

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Switching to process.user with exactly the requested capabilities takes
// four steps of the plan, in the only order that works: the bounding set is
// trimmed while CAP_SETPCAP is still held (dropBounding), keepcaps carries
// the permitted set across the uid change (setIDsKeepingCaps), the three
// sets are set afterwards (setCapSets), ambient last: it needs the
// capability in both permitted and inheritable (raiseAmbient).
//
// The id changes are raw system calls on this thread only: this is the
// thread that will execve, and execve ends every other thread.

func capsOrNone(c *specs.LinuxCapabilities) *specs.LinuxCapabilities {
	if c == nil {
		return &specs.LinuxCapabilities{}
	}
	return c
}

func dropBounding(c *specs.LinuxCapabilities) error {
	last := lastCap()
	bounding := capMask(capsOrNone(c).Bounding, last)
	for bit := uint(0); bit <= last; bit++ {
		if bounding&(1<<bit) == 0 {
			if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(bit), 0, 0, 0); err != nil {
				return fmt.Errorf("process.capabilities.bounding: drop %d: %w", bit, err)
			}
		}
	}
	return nil
}

func setIDsKeepingCaps(u specs.User) error {
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	if err := setIDs(u); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", err)
	}
	return nil
}

func setCapSets(c *specs.LinuxCapabilities) error {
	c, last := capsOrNone(c), lastCap()
	eff, perm, inh := capMask(c.Effective, last), capMask(c.Permitted, last), capMask(c.Inheritable, last)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(perm), Inheritable: uint32(inh)},
		{Effective: uint32(eff >> 32), Permitted: uint32(perm >> 32), Inheritable: uint32(inh >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("process.capabilities: capset: %w", err)
	}
	return nil
}

func raiseAmbient(c *specs.LinuxCapabilities) error {
	c, last := capsOrNone(c), lastCap()
	perm, inh := capMask(c.Permitted, last), capMask(c.Inheritable, last)
	for _, name := range c.Ambient {
		bit := capNames[strings.ToUpper(name)]
		if bit > last || (perm&inh)&(1<<bit) == 0 {
			continue // create warned about it (unraisableAmbient)
		}
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_RAISE, uintptr(bit), 0, 0); err != nil {
			return fmt.Errorf("process.capabilities.ambient %s: %w", name, err)
		}
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
