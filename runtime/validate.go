package runtime

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Validate checks a bundle completely before anything on the system is
// touched, so that bad input fails with one clear line and leaves nothing
// behind. Errors name the config.json field.
func Validate(b *Bundle) error {
	_, err := check(b)
	return err
}

// checked is what checking a bundle computed on the way and create uses
// later: kept, so that nothing is checked or parsed twice.
type checked struct {
	resources *cgroups.Checked // linux.resources, with the device rules built
	network   *networkRequest  // the network annotations; nil for none
}

// check is Validate keeping what it computed.
func check(b *Bundle) (*checked, error) {
	s := b.Spec
	if err := validateSpec(b); err != nil {
		return nil, err
	}
	res, err := cgroups.Check(s.Linux.Resources)
	if err != nil {
		return nil, err
	}
	net, err := parseNetworkRequest(s)
	if err != nil {
		return nil, err
	}
	if err := validateNames(s); err != nil {
		return nil, err
	}
	return &checked{resources: res, network: net}, nil
}

// validateSpec is check up to linux.resources.
func validateSpec(b *Bundle) error {
	s := b.Spec
	if s.Version == "" {
		return fieldErr("ociVersion", "missing")
	}
	if !strings.HasPrefix(s.Version, "1.") {
		return fieldErr("ociVersion", "%q is not a 1.x version", s.Version)
	}
	if err := validateRoot(b); err != nil {
		return err
	}
	if err := validateProcess(s); err != nil {
		return err
	}
	if err := validateMounts(s.Mounts); err != nil {
		return err
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	if s.Linux == nil {
		return fieldErr("linux", "missing: this runtime runs Linux containers")
	}
	return validateLinux(s)
}

// validateNames is check after the network annotations.
func validateNames(s *specs.Spec) error {
	if s.Hostname != "" && !hasNamespace(s, specs.UTSNamespace) {
		return fieldErr("hostname", "cannot be set without a uts namespace")
	}
	if s.Domainname != "" && !hasNamespace(s, specs.UTSNamespace) {
		return fieldErr("domainname", "cannot be set without a uts namespace")
	}
	// sethostname and setdomainname take at most 64 bytes (the kernel's
	// __NEW_UTS_LEN) and fail later, in the init, with a bare EINVAL. A
	// newline or any other byte is taken as it is, as runc takes it.
	for _, u := range []struct{ field, v string }{{"hostname", s.Hostname}, {"domainname", s.Domainname}} {
		if len(u.v) > maxUTSName {
			return fieldErr(u.field, "%d bytes; the kernel takes at most %d", len(u.v), maxUTSName)
		}
		if err := noNUL(u.field, u.v); err != nil {
			return err
		}
	}
	for k := range s.Annotations {
		// Annotations never reach the kernel: a NUL or newline in a value
		// is kept, as runc keeps it, but an empty key names nothing.
		if k == "" {
			return fieldErr("annotations", "an empty key")
		}
	}
	return nil
}

// maxUTSName is the kernel's limit on a host or domain name, in bytes.
const maxUTSName = 64

// noNUL refuses a string that reaches a system call: Go (as runc's Go)
// cannot pass a NUL byte in a path or name, and would fail with a bare
// EINVAL long after create has made things.
func noNUL(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return fieldErr(field, "%q holds a NUL byte, which no system call can take", v)
	}
	return nil
}

func validateRoot(b *Bundle) error {
	if b.Spec.Root == nil || b.Spec.Root.Path == "" {
		return fieldErr("root.path", "missing")
	}
	if err := noNUL("root.path", b.Spec.Root.Path); err != nil {
		return err
	}
	fi, err := os.Stat(b.Rootfs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fieldErr("root.path", "%q does not exist", b.Rootfs)
		}
		return fieldErr("root.path", "%v", err)
	}
	if !fi.IsDir() {
		return fieldErr("root.path", "%q is not a directory", b.Rootfs)
	}
	return nil
}

func validateProcess(s *specs.Spec) error {
	p := s.Process
	if p == nil {
		return nil // allowed at create; start refuses it
	}
	if len(p.Args) == 0 && p.CommandLine == "" {
		return fieldErr("process.args", "empty: there is nothing to run")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return fieldErr("process.cwd", "%q is not an absolute path", p.Cwd)
	}
	if err := noNUL("process.cwd", p.Cwd); err != nil {
		return err
	}
	for i, e := range p.Env {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			return fieldErr(fmt.Sprintf("process.env[%d]", i), "%q is not of the form KEY=VALUE", e)
		}
		if strings.IndexByte(e, 0) >= 0 {
			return fieldErr(fmt.Sprintf("process.env[%d]", i), "%q holds a NUL byte, which execve cannot pass", e)
		}
	}
	for i, a := range p.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return fieldErr(fmt.Sprintf("process.args[%d]", i), "%q holds a NUL byte, which execve cannot pass", a)
		}
	}
	// The kernel's ids are unsigned, but runc and the kernel's own
	// interfaces (-1 means "unchanged" to setresuid) treat the top half as
	// invalid: 4294967295 would leave the process as root.
	if err := checkID("process.user.uid", p.User.UID); err != nil {
		return err
	}
	if err := checkID("process.user.gid", p.User.GID); err != nil {
		return err
	}
	for i, g := range p.User.AdditionalGids {
		if err := checkID(fmt.Sprintf("process.user.additionalGids[%d]", i), g); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i, rl := range p.Rlimits {
		f := fmt.Sprintf("process.rlimits[%d]", i)
		if _, ok := rlimitNames[rl.Type]; !ok {
			return fieldErr(f+".type", "unknown rlimit %q", rl.Type)
		}
		if seen[rl.Type] {
			return fieldErr(f+".type", "%s is given twice", rl.Type)
		}
		seen[rl.Type] = true
		if rl.Soft > rl.Hard {
			return fieldErr(f, "soft limit %d is above hard limit %d", rl.Soft, rl.Hard)
		}
		// setrlimit refuses a file limit above fs.nr_open with EPERM, even
		// to root, and only in the init, after create made everything.
		// Unlimited (2^64-1) is above it too.
		if rl.Type == "RLIMIT_NOFILE" {
			if max, ok := nrOpen(); ok && rl.Hard > max {
				return fieldErr(f+".hard", "%d is above this kernel's fs.nr_open, %d", rl.Hard, max)
			}
		}
	}
	if err := validateCaps(p.Capabilities); err != nil {
		return err
	}
	if err := validateLSM(&specs.Spec{Process: p}); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil && (*p.OOMScoreAdj < -1000 || *p.OOMScoreAdj > 1000) {
		return fieldErr("process.oomScoreAdj", "%d is outside [-1000, 1000]", *p.OOMScoreAdj)
	}
	if p.ConsoleSize != nil && !p.Terminal {
		return fieldErr("process.consoleSize", "set without process.terminal")
	}
	if p.Scheduler != nil {
		if err := validateScheduler(p.Scheduler); err != nil {
			return err
		}
	}
	if p.IOPriority != nil {
		if _, ok := ioprioClasses[p.IOPriority.Class]; !ok {
			return fieldErr("process.ioPriority.class", "unknown class %q", p.IOPriority.Class)
		}
		if p.IOPriority.Priority < 0 || p.IOPriority.Priority > 7 {
			return fieldErr("process.ioPriority.priority", "%d is outside [0, 7]", p.IOPriority.Priority)
		}
	}
	return nil
}

func validateMounts(ms []specs.Mount) error {
	for i, m := range ms {
		f := fmt.Sprintf("mounts[%d]", i)
		if m.Destination == "" {
			return fieldErr(f+".destination", "missing")
		}
		if !filepath.IsAbs(m.Destination) {
			return fieldErr(f+".destination", "%q is not an absolute path", m.Destination)
		}
		if err := noNUL(f+".destination", m.Destination); err != nil {
			return err
		}
		if err := noNUL(f+".source", m.Source); err != nil {
			return err
		}
		if err := noNUL(f+".type", m.Type); err != nil {
			return err
		}
		bind := isBind(m)
		if m.Type == "" && !bind {
			return fieldErr(f+".type", "missing (only bind mounts may omit it)")
		}
		if bind {
			if m.Source == "" {
				return fieldErr(f+".source", "missing for a bind mount")
			}
		}
		for j, o := range m.Options {
			if o == "" {
				return fieldErr(fmt.Sprintf("%s.options[%d]", f, j), "empty option")
			}
			if err := noNUL(fmt.Sprintf("%s.options[%d]", f, j), o); err != nil {
				return err
			}
		}
		if len(m.UIDMappings) > 0 != (len(m.GIDMappings) > 0) {
			return fieldErr(f, "uidMappings and gidMappings must be given together")
		}
	}
	return nil
}

func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	for _, set := range hookSets(h) {
		for i, hk := range set.hooks {
			f := fmt.Sprintf("hooks.%s[%d]", set.name, i)
			if !filepath.IsAbs(hk.Path) {
				return fieldErr(f+".path", "%q is not an absolute path", hk.Path)
			}
			if err := noNUL(f+".path", hk.Path); err != nil {
				return err
			}
			for j, a := range hk.Args {
				if err := noNUL(fmt.Sprintf("%s.args[%d]", f, j), a); err != nil {
					return err
				}
			}
			for j, e := range hk.Env {
				if err := noNUL(fmt.Sprintf("%s.env[%d]", f, j), e); err != nil {
					return err
				}
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fieldErr(f+".timeout", "%d is not positive", *hk.Timeout)
			}
		}
	}
	return nil
}

var nsTypes = map[specs.LinuxNamespaceType]bool{
	specs.PIDNamespace: true, specs.NetworkNamespace: true, specs.MountNamespace: true,
	specs.IPCNamespace: true, specs.UTSNamespace: true, specs.UserNamespace: true,
	specs.CgroupNamespace: true, specs.TimeNamespace: true,
}

func validateLinux(s *specs.Spec) error {
	l := s.Linux
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		if !nsTypes[ns.Type] {
			return fieldErr(f+".type", "unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fieldErr(f+".type", "namespace %q is given twice", ns.Type)
		}
		seen[ns.Type] = true
		// /proc/self/ns lists the kinds this kernel has. Only the newer
		// two can be missing on a kernel this runtime runs on (cgroup
		// namespaces came in 4.6, time namespaces in 5.6).
		if ns.Type == specs.TimeNamespace || ns.Type == specs.CgroupNamespace {
			if _, err := os.Stat("/proc/self/ns/" + nsFlags[ns.Type].proc); err != nil {
				return fieldErr(f+".type", "this kernel has no %s namespaces", ns.Type)
			}
		}
		if ns.Path != "" {
			if !filepath.IsAbs(ns.Path) {
				return fieldErr(f+".path", "%q is not an absolute path", ns.Path)
			}
			if err := noNUL(f+".path", ns.Path); err != nil {
				return err
			}
			if err := checkNamespaceType(ns); err != nil {
				return fieldErr(f+".path", "%v", err)
			}
		}
	}
	userns := seen[specs.UserNamespace]
	if (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) && !userns {
		return fieldErr("linux.uidMappings", "set without a user namespace")
	}
	if hasNewNamespace(s, specs.UserNamespace) {
		// The kernel would start the init with no identity at all; runc
		// refuses this too ("user namespaces enabled, but no uid
		// mappings found"). `crun spec --rootless` run as root gives it.
		if len(l.UIDMappings) == 0 {
			return fieldErr("linux.uidMappings", "a new user namespace needs uid mappings, and none are given")
		}
		if len(l.GIDMappings) == 0 {
			return fieldErr("linux.gidMappings", "a new user namespace needs gid mappings, and none are given")
		}
	}
	if err := checkIDMaps("linux.uidMappings", l.UIDMappings); err != nil {
		return err
	}
	if err := checkIDMaps("linux.gidMappings", l.GIDMappings); err != nil {
		return err
	}
	if len(l.TimeOffsets) > 0 && !seen[specs.TimeNamespace] {
		return fieldErr("linux.timeOffsets", "set without a time namespace")
	}
	if len(l.TimeOffsets) > 0 && namespacePath(s, specs.TimeNamespace) != "" {
		// Offsets can only be written before the first process enters a
		// time namespace; runc refuses both together too.
		return fieldErr("linux.timeOffsets", "set for a time namespace joined by path, whose clocks are already fixed")
	}
	for clock, off := range l.TimeOffsets {
		if err := checkTimeOffset(clock, off); err != nil {
			return err
		}
	}
	switch l.RootfsPropagation {
	case "", "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable":
	default:
		return fieldErr("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	for i, p := range l.MaskedPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.maskedPaths[%d]", i), "%q is not an absolute path", p)
		}
		if err := noNUL(fmt.Sprintf("linux.maskedPaths[%d]", i), p); err != nil {
			return err
		}
	}
	for i, p := range l.ReadonlyPaths {
		if !filepath.IsAbs(p) {
			return fieldErr(fmt.Sprintf("linux.readonlyPaths[%d]", i), "%q is not an absolute path", p)
		}
		if err := noNUL(fmt.Sprintf("linux.readonlyPaths[%d]", i), p); err != nil {
			return err
		}
	}
	for i, d := range l.Devices {
		f := fmt.Sprintf("linux.devices[%d]", i)
		if !filepath.IsAbs(d.Path) {
			return fieldErr(f+".path", "%q is not an absolute path", d.Path)
		}
		if err := noNUL(f+".path", d.Path); err != nil {
			return err
		}
		if d.UID != nil {
			if err := checkID(f+".uid", *d.UID); err != nil {
				return err
			}
		}
		if d.GID != nil {
			if err := checkID(f+".gid", *d.GID); err != nil {
				return err
			}
		}
		switch d.Type {
		case "c", "u", "b", "p":
		default:
			return fieldErr(f+".type", "unknown device type %q (c, u, b or p)", d.Type)
		}
		// mknod takes a real device number: the wildcard -1 belongs in
		// linux.resources.devices, and the kernel's dev_t has 12 bits of
		// major and 20 of minor.
		if d.Type != "p" && (d.Major < 0 || d.Major > 0xfff) {
			return fieldErr(f+".major", "%d is outside [0, 4095]", d.Major)
		}
		if d.Type != "p" && (d.Minor < 0 || d.Minor > 0xfffff) {
			return fieldErr(f+".minor", "%d is outside [0, 1048575]", d.Minor)
		}
	}
	for key := range l.Sysctl {
		if err := validateSysctl(s, key); err != nil {
			return err
		}
	}
	if l.Seccomp != nil {
		// A system call has six arguments; libseccomp refuses a rule on
		// a seventh only when the init loads the filter.
		for i, sc := range l.Seccomp.Syscalls {
			for j, a := range sc.Args {
				if a.Index > 5 {
					return fieldErr(fmt.Sprintf("linux.seccomp.syscalls[%d].args[%d].index", i, j), "%d is past the sixth argument (0-5)", a.Index)
				}
			}
		}
	}
	if err := validateSeccomp(l.Seccomp); err != nil {
		return err
	}
	if l.IntelRdt != nil {
		return fieldErr("linux.intelRdt", "not supported by this runtime")
	}
	if strings.Contains(l.CgroupsPath, "..") {
		return fieldErr("linux.cgroupsPath", "%q must not contain ..", l.CgroupsPath)
	}
	if strings.ContainsAny(l.CgroupsPath, "\x00\n") {
		return fieldErr("linux.cgroupsPath", "%q holds a NUL byte or a newline, which no cgroup name can", l.CgroupsPath)
	}
	// linux.resources is checked last, by check (cgroups.Check), which
	// keeps the device rules it builds.
	return validateLSM(&specs.Spec{Linux: l})
}

// maxID is the largest user or group id runc and the kernel's interfaces
// accept as a real id.
const maxID = 1<<31 - 1

func checkID(field string, id uint32) error {
	if id > maxID {
		return fieldErr(field, "%d is outside [0, %d]", id, maxID)
	}
	return nil
}

// maxIDMapLines is the kernel's limit on the lines of a uid_map or gid_map.
const maxIDMapLines = 340

// checkIDMaps checks what the kernel would refuse in a uid_map or gid_map
// with a bare EINVAL: empty or overflowing ranges, too many lines, and
// ranges that overlap inside the namespace or on the host.
func checkIDMaps(field string, maps []specs.LinuxIDMapping) error {
	if len(maps) > maxIDMapLines {
		return fieldErr(field, "%d mappings; the kernel takes at most %d", len(maps), maxIDMapLines)
	}
	for i, m := range maps {
		f := fmt.Sprintf("%s[%d]", field, i)
		if m.Size == 0 {
			return fieldErr(f+".size", "is zero")
		}
		if uint64(m.ContainerID)+uint64(m.Size) > 1<<32 || uint64(m.HostID)+uint64(m.Size) > 1<<32 {
			return fieldErr(f+".size", "%d runs past the last id 4294967295", m.Size)
		}
		for j, o := range maps[:i] {
			if overlap(m.ContainerID, m.Size, o.ContainerID, o.Size) {
				return fieldErr(f+".containerID", "ids %d-%d overlap %s[%d]", m.ContainerID, uint64(m.ContainerID)+uint64(m.Size)-1, field, j)
			}
			if overlap(m.HostID, m.Size, o.HostID, o.Size) {
				return fieldErr(f+".hostID", "ids %d-%d overlap %s[%d]", m.HostID, uint64(m.HostID)+uint64(m.Size)-1, field, j)
			}
		}
	}
	return nil
}

func overlap(a, an, b, bn uint32) bool {
	return uint64(a) < uint64(b)+uint64(bn) && uint64(b) < uint64(a)+uint64(an)
}

// specWarnings are what a valid config asks for that this runtime skips,
// as runc does, instead of failing: each is said once at create.
func specWarnings(s *specs.Spec) []string {
	var w []string
	return append(w, processWarnings(s.Process)...)
}

// processWarnings are specWarnings' part for a process, also said by exec.
func processWarnings(p *specs.Process) []string {
	if p == nil {
		return nil
	}
	return append(capWarnings(p.Capabilities), lsmWarnings(p)...)
}

// validateSysctl refuses sysctls that would change the host rather than the
// container: a namespaced sysctl is only safe inside its own namespace. The
// rules are runc's, "/" separators included (net/ipv4/ip_forward).
func validateSysctl(s *specs.Spec, key string) error {
	f := fmt.Sprintf("linux.sysctl[%q]", key)
	name := sysctlDots(key)
	if name == "" || strings.ContainsAny(name, "\x00\n/ ") || strings.HasPrefix(name, ".") ||
		strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return fieldErr(f, "not a sysctl name (such as net.ipv4.ip_forward)")
	}
	if v := s.Linux.Sysctl[key]; strings.IndexByte(v, 0) >= 0 {
		return fieldErr(f, "the value %q holds a NUL byte", v)
	}
	switch {
	case strings.HasPrefix(name, "net."):
		if !hasNamespace(s, specs.NetworkNamespace) {
			return fieldErr(f, "needs a network namespace")
		}
	case strings.HasPrefix(name, "fs.mqueue.") || name == "kernel.msgmax" || name == "kernel.msgmnb" ||
		name == "kernel.msgmni" || name == "kernel.sem" || name == "kernel.shmall" || name == "kernel.shmmax" ||
		name == "kernel.shmmni" || name == "kernel.shm_rmid_forced":
		if !hasNamespace(s, specs.IPCNamespace) {
			return fieldErr(f, "needs an ipc namespace")
		}
	case name == "kernel.hostname":
		// runc refuses it outright: the hostname field says the same
		// thing, and the two would race.
		return fieldErr(f, "conflicts with the hostname field; set that instead")
	case name == "kernel.domainname":
		if !hasNamespace(s, specs.UTSNamespace) {
			return fieldErr(f, "needs a uts namespace")
		}
	case strings.HasPrefix(name, "user."):
		// The user.max_* counts are per user namespace.
		if !hasNamespace(s, specs.UserNamespace) {
			return fieldErr(f, "needs a user namespace")
		}
	default:
		return fieldErr(f, "not namespaced: it would change the host")
	}
	return nil
}

// sysctlDots turns a sysctl name written with "/" separators (as sysctl(8)
// also reads them) into the dotted form, swapping dots and slashes as
// runc does, so "net/ipv4/conf/eth0.100/rp_filter" is
// "net.ipv4.conf.eth0/100.rp_filter". A name whose first separator is a
// dot is already dotted.
func sysctlDots(key string) string {
	i := strings.IndexAny(key, "./")
	if i < 0 || key[i] == '.' {
		return key
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, key)
}

// validateScheduler checks process.scheduler as runc does, against
// sched_setattr(2): a known policy, nice only in [-20, 19] for the normal
// policies, a priority only for the real-time ones, and runtime, deadline
// and period only for SCHED_DEADLINE.
func validateScheduler(sc *specs.Scheduler) error {
	const f = "process.scheduler"
	if _, ok := schedPolicies[sc.Policy]; !ok {
		return fieldErr(f+".policy", "unknown policy %q", sc.Policy)
	}
	if (sc.Policy == specs.SchedOther || sc.Policy == specs.SchedBatch) && (sc.Nice < -20 || sc.Nice > 19) {
		return fieldErr(f+".nice", "%d is outside [-20, 19]", sc.Nice)
	}
	if sc.Priority != 0 && sc.Policy != specs.SchedFIFO && sc.Policy != specs.SchedRR {
		return fieldErr(f+".priority", "only SCHED_FIFO and SCHED_RR take a priority, not %s", sc.Policy)
	}
	if sc.Priority < 0 || sc.Priority > 99 {
		return fieldErr(f+".priority", "%d is outside [0, 99]", sc.Priority)
	}
	if sc.Policy != specs.SchedDeadline && (sc.Runtime != 0 || sc.Deadline != 0 || sc.Period != 0) {
		return fieldErr(f, "runtime, deadline and period are for SCHED_DEADLINE only, not %s", sc.Policy)
	}
	for i, fl := range sc.Flags {
		if _, ok := schedFlags[fl]; !ok {
			return fieldErr(fmt.Sprintf("%s.flags[%d]", f, i), "unknown flag %q", fl)
		}
	}
	return nil
}

// ktimeSecMax is the kernel's KTIME_SEC_MAX: the seconds that fit an int64
// of nanoseconds.
const ktimeSecMax = math.MaxInt64 / int64(1e9)

// checkTimeOffset refuses what the kernel refuses in timens_offsets: a
// clock other than monotonic and boottime, nanoseconds of a second or
// more (EINVAL), and an offset that would put the clock before zero or
// past KTIME_SEC_MAX/2 (ERANGE), judged against the clock now.
func checkTimeOffset(clock string, off specs.LinuxTimeOffset) error {
	f := fmt.Sprintf("linux.timeOffsets[%q]", clock)
	var id int32
	switch clock {
	case "monotonic":
		id = unix.CLOCK_MONOTONIC
	case "boottime":
		id = unix.CLOCK_BOOTTIME
	default:
		return fieldErr("linux.timeOffsets", "unknown clock %q (monotonic or boottime)", clock)
	}
	if off.Nanosecs >= 1e9 {
		return fieldErr(f+".nanosecs", "%d is not below one second (1000000000)", off.Nanosecs)
	}
	if off.Secs > ktimeSecMax || off.Secs < -ktimeSecMax {
		return fieldErr(f+".secs", "%d is outside [-%d, %d]", off.Secs, int64(ktimeSecMax), int64(ktimeSecMax))
	}
	var now unix.Timespec
	if err := unix.ClockGettime(id, &now); err != nil {
		return nil // the kernel will judge it
	}
	// The kernel adds the offset to the clock as it is when the offsets
	// are written, a moment after this.
	at := now.Sec + off.Secs + (now.Nsec+int64(off.Nanosecs))/1e9
	if at < 0 {
		return fieldErr(f+".secs", "%d would put the %s clock before zero (it reads %d s now)", off.Secs, clock, now.Sec)
	}
	if at > ktimeSecMax/2 {
		return fieldErr(f+".secs", "%d would put the %s clock past the kernel's limit of %d s", off.Secs, clock, int64(ktimeSecMax/2))
	}
	return nil
}

// nrOpen is fs.nr_open, the ceiling of RLIMIT_NOFILE.
func nrOpen() (uint64, bool) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return n, err == nil
}

// namespacePath is the path of the namespace of type t the spec joins, or
// "" when it makes a new one or none.
func namespacePath(s *specs.Spec, t specs.LinuxNamespaceType) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return ns.Path
		}
	}
	return ""
}

// nsGetNSType is NS_GET_NSTYPE, _IO(0xb7, 0x3): which kind of namespace an
// nsfs file is.
const nsGetNSType = 0xb703

// checkNamespaceType refuses a path that is not a namespace of the type
// the config says, before anything tries to join it.
func checkNamespaceType(ns specs.LinuxNamespace) error {
	// An nsfs file is a regular file to stat. Anything else is refused
	// before it is opened: opening a FIFO would block, and opening some
	// devices (a watchdog) has effects of its own.
	var st unix.Stat_t
	// The path is printed as itself only when it prints as itself, so
	// that the error stays on one line.
	p := ns.Path
	if q := strconv.Quote(p); q[1:len(q)-1] != p {
		p = q
	}
	if err := unix.Stat(ns.Path, &st); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s is not a namespace", p)
	}
	fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer unix.Close(fd)
	t, err := unix.IoctlRetInt(fd, nsGetNSType)
	if err != nil {
		return fmt.Errorf("%s is not a namespace: %w", p, err)
	}
	if uintptr(t) != nsFlags[ns.Type].flag {
		return fmt.Errorf("%s is not a %s namespace", p, ns.Type)
	}
	return nil
}
