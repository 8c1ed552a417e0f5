package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capNames maps capability names, as config.json spells them, to their bits.
var capNames = map[string]uint{
	"CAP_CHOWN": unix.CAP_CHOWN, "CAP_DAC_OVERRIDE": unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH": unix.CAP_DAC_READ_SEARCH, "CAP_FOWNER": unix.CAP_FOWNER,
	"CAP_FSETID": unix.CAP_FSETID, "CAP_KILL": unix.CAP_KILL, "CAP_SETGID": unix.CAP_SETGID,
	"CAP_SETUID": unix.CAP_SETUID, "CAP_SETPCAP": unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE": unix.CAP_LINUX_IMMUTABLE, "CAP_NET_BIND_SERVICE": unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST": unix.CAP_NET_BROADCAST, "CAP_NET_ADMIN": unix.CAP_NET_ADMIN,
	"CAP_NET_RAW": unix.CAP_NET_RAW, "CAP_IPC_LOCK": unix.CAP_IPC_LOCK, "CAP_IPC_OWNER": unix.CAP_IPC_OWNER,
	"CAP_SYS_MODULE": unix.CAP_SYS_MODULE, "CAP_SYS_RAWIO": unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT": unix.CAP_SYS_CHROOT, "CAP_SYS_PTRACE": unix.CAP_SYS_PTRACE,
	"CAP_SYS_PACCT": unix.CAP_SYS_PACCT, "CAP_SYS_ADMIN": unix.CAP_SYS_ADMIN,
	"CAP_SYS_BOOT": unix.CAP_SYS_BOOT, "CAP_SYS_NICE": unix.CAP_SYS_NICE,
	"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE, "CAP_SYS_TIME": unix.CAP_SYS_TIME,
	"CAP_SYS_TTY_CONFIG": unix.CAP_SYS_TTY_CONFIG, "CAP_MKNOD": unix.CAP_MKNOD,
	"CAP_LEASE": unix.CAP_LEASE, "CAP_AUDIT_WRITE": unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL": unix.CAP_AUDIT_CONTROL, "CAP_SETFCAP": unix.CAP_SETFCAP,
	"CAP_MAC_OVERRIDE": unix.CAP_MAC_OVERRIDE, "CAP_MAC_ADMIN": unix.CAP_MAC_ADMIN,
	"CAP_SYSLOG": unix.CAP_SYSLOG, "CAP_WAKE_ALARM": unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND": unix.CAP_BLOCK_SUSPEND, "CAP_AUDIT_READ": unix.CAP_AUDIT_READ,
	"CAP_PERFMON": unix.CAP_PERFMON, "CAP_BPF": unix.CAP_BPF,
	"CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// capSets is the five sets of process.capabilities with their JSON names, in
// one place so that validation and application walk them the same way.
func capSets(c *specs.LinuxCapabilities) []struct {
	name string
	list []string
} {
	return []struct {
		name string
		list []string
	}{
		{"bounding", c.Bounding}, {"effective", c.Effective}, {"inheritable", c.Inheritable},
		{"permitted", c.Permitted}, {"ambient", c.Ambient},
	}
}

func validateCaps(c *specs.LinuxCapabilities) error {
	if c == nil {
		return nil
	}
	for _, set := range capSets(c) {
		for i, name := range set.list {
			if _, ok := capNames[strings.ToUpper(name)]; !ok {
				return fieldErr(fmt.Sprintf("process.capabilities.%s[%d]", set.name, i), "unknown capability %q", name)
			}
		}
	}
	return nil
}

// lastCap is the highest capability the running kernel knows. Capabilities
// above it are valid names but cannot be granted; they are skipped, as runc
// does, so one config works across kernel versions.
func lastCap() uint {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return unix.CAP_LAST_CAP
	}
	return uint(n)
}

// capMask turns a list of names (already validated) into a 64-bit mask.
func capMask(names []string, last uint) uint64 {
	var m uint64
	for _, n := range names {
		if bit := capNames[strings.ToUpper(n)]; bit <= last {
			m |= 1 << bit
		}
	}
	return m
}

// unraisableAmbient lists the ambient capabilities the kernel will refuse
// to raise: an ambient capability must also be permitted and inheritable.
// Generated configs (runc spec, crun spec) ask for some that are not; as
// runc does, they are skipped with a warning rather than failing the start.
func unraisableAmbient(c *specs.LinuxCapabilities) []string {
	if c == nil || len(c.Ambient) == 0 {
		return nil
	}
	last := lastCap()
	both := capMask(c.Permitted, last) & capMask(c.Inheritable, last)
	var out []string
	for _, name := range c.Ambient {
		bit, ok := capNames[strings.ToUpper(name)]
		if ok && bit <= last && both&(1<<bit) == 0 {
			out = append(out, name)
		}
	}
	return out
}

// capWarnings are the warnings process.capabilities gets at create or exec.
func capWarnings(c *specs.LinuxCapabilities) []string {
	var w []string
	for _, name := range unraisableAmbient(c) {
		w = append(w, fmt.Sprintf("process.capabilities.ambient: %s is not in both the inheritable and the permitted set, so it cannot be raised; ignored", name))
	}
	return w
}
