package runtime

import (
	"fmt"
	"strings"
	"unsafe"

	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/opencontainers/runc/libcontainer/configs"
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

// seccompConfig converts the spec's seccomp section into the form runc's
// seccomp package loads. It runs once at create (validation) and again in
// the init (loading), so every error names the config.json field.
func seccompConfig(s *specs.LinuxSeccomp) (*configs.Seccomp, error) {
	const f = "linux.seccomp"
	if s == nil {
		return nil, nil
	}
	if s.ListenerPath != "" {
		return nil, fieldErr(f+".listenerPath", "seccomp notify agents are not supported")
	}
	// An empty section (no default action, no rules) asks for no filter.
	if s.DefaultAction == "" && len(s.Syscalls) == 0 {
		return nil, nil
	}
	def, err := seccompAction(f+".defaultAction", s.DefaultAction)
	if err != nil {
		return nil, err
	}
	c := &configs.Seccomp{DefaultAction: def, DefaultErrnoRet: s.DefaultErrnoRet}
	if s.Flags == nil {
		// Flags absent (not merely empty): ask for SPEC_ALLOW, as runc
		// does, when libseccomp and the kernel have it. Without it the
		// kernel forces the costly speculative store bypass mitigation
		// on every process that has a filter.
		if seccomp.FlagSupported(specs.LinuxSeccompFlagSpecAllow) == nil {
			c.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagSpecAllow}
		}
	}
	for i, fl := range s.Flags {
		if err := seccomp.FlagSupported(fl); err != nil {
			return nil, fieldErr(fmt.Sprintf("%s.flags[%d]", f, i), "%v", err)
		}
		c.Flags = append(c.Flags, fl)
	}
	for i, a := range s.Architectures {
		name, ok := seccompArchs[a]
		if !ok {
			return nil, fieldErr(fmt.Sprintf("%s.architectures[%d]", f, i), "unknown architecture %q", a)
		}
		c.Architectures = append(c.Architectures, name)
	}
	// The spec groups names that share a rule; runc's form has one rule
	// per name.
	for i, sc := range s.Syscalls {
		sf := fmt.Sprintf("%s.syscalls[%d]", f, i)
		act, err := seccompAction(sf+".action", sc.Action)
		if err != nil {
			return nil, err
		}
		args := make([]configs.Arg, len(sc.Args))
		for j, a := range sc.Args {
			op, ok := seccompOperators[a.Op]
			if !ok {
				return nil, fieldErr(fmt.Sprintf("%s.args[%d].op", sf, j), "unknown operator %q", a.Op)
			}
			args[j] = configs.Arg{Index: a.Index, Value: a.Value, ValueTwo: a.ValueTwo, Op: op}
		}
		for _, name := range sc.Names {
			call := &configs.Syscall{Name: name, Action: act, ErrnoRet: sc.ErrnoRet, Args: make([]*configs.Arg, len(args))}
			for j := range args {
				arg := args[j]
				call.Args[j] = &arg
			}
			c.Syscalls = append(c.Syscalls, call)
		}
	}
	return c, nil
}

func seccompAction(field string, a specs.LinuxSeccompAction) (configs.Action, error) {
	if a == specs.ActNotify {
		return 0, fieldErr(field, "SCMP_ACT_NOTIFY is not supported")
	}
	act, ok := seccompActions[a]
	if !ok {
		return 0, fieldErr(field, "unknown action %q", a)
	}
	return act, nil
}

// seccompActions maps the spec's action names (libseccomp's) to runc's.
// SCMP_ACT_NOTIFY is missing on purpose: it needs an agent on a listener
// socket, which this runtime does not provide.
var seccompActions = map[specs.LinuxSeccompAction]configs.Action{
	specs.ActKill:        configs.Kill,
	specs.ActKillThread:  configs.KillThread,
	specs.ActKillProcess: configs.KillProcess,
	specs.ActErrno:       configs.Errno,
	specs.ActTrap:        configs.Trap,
	specs.ActTrace:       configs.Trace,
	specs.ActAllow:       configs.Allow,
	specs.ActLog:         configs.Log,
}

var seccompOperators = map[specs.LinuxSeccompOperator]configs.Operator{
	specs.OpEqualTo:      configs.EqualTo,
	specs.OpNotEqual:     configs.NotEqualTo,
	specs.OpGreaterThan:  configs.GreaterThan,
	specs.OpGreaterEqual: configs.GreaterThanOrEqualTo,
	specs.OpLessThan:     configs.LessThan,
	specs.OpLessEqual:    configs.LessThanOrEqualTo,
	specs.OpMaskedEqual:  configs.MaskEqualTo,
}

// seccompArchs maps the spec's SCMP_ARCH_ names to the names
// libseccomp-golang parses (Go's GOARCH spelling where there is one). These
// are the architectures runc accepts; the spec's PARISC, M68K and SH ones
// are left out, as libseccomp 2.5 lacks some of them.
var seccompArchs = map[specs.Arch]string{
	specs.ArchX86:         "x86",
	specs.ArchX86_64:      "amd64",
	specs.ArchX32:         "x32",
	specs.ArchARM:         "arm",
	specs.ArchAARCH64:     "arm64",
	specs.ArchMIPS:        "mips",
	specs.ArchMIPS64:      "mips64",
	specs.ArchMIPS64N32:   "mips64n32",
	specs.ArchMIPSEL:      "mipsel",
	specs.ArchMIPSEL64:    "mipsel64",
	specs.ArchMIPSEL64N32: "mipsel64n32",
	specs.ArchPPC:         "ppc",
	specs.ArchPPC64:       "ppc64",
	specs.ArchPPC64LE:     "ppc64le",
	specs.ArchS390:        "s390",
	specs.ArchS390X:       "s390x",
	specs.ArchRISCV64:     "riscv64",
	specs.ArchLOONGARCH64: "loong64",
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
	_, err := seccompConfig(s)
	return err
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
