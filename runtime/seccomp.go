package runtime

import (
	"fmt"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

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
