package runtime

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/runtime/cinit"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The parent's side of the native init (package cinit): which inits it
// runs, the plan in the form it reads, and its start. A container's init
// is native when every step of its plan is one the C code knows and
// nothing about its start needs the re-executed Go init:
//
//   - a user or time namespace: they are entered by the Go init's C
//     preamble;
//   - a console, tracing, init-side hooks, scheduling and seccomp, which
//     stay in Go, where the libraries are;
//   - the cgroup v1 view where the parent, not the init, moves the init
//     into its v1 cgroups (a v1-only host, a user namespace): the parent
//     resolves the view's sources from the cgroups the init joins itself.
//
// MINIRUNTIME_INIT=go makes every init the Go one, to compare the two.
const initChoiceEnv = "MINIRUNTIME_INIT"

// initCmd is the init about to start: this binary, executed as the Go
// init, or as the native init when native holds its encoded plan.
type initCmd struct {
	*exec.Cmd
	native []byte
	syncFD int // the sync socket's number in the init
}

// Start starts the init.
func (c *initCmd) Start() error {
	if c.native != nil {
		// The native init's environment entry in place of the Go init's.
		c.Args = []string{"miniruntime", "init", "native"}
		env := []string{cinit.Env(c.syncFD)}
		for _, kv := range c.Env {
			if !strings.HasPrefix(kv, syncFDEnv+"=") {
				env = append(env, kv)
			}
		}
		c.Env = env
	}
	return c.Cmd.Start()
}

// nativeCandidate says, from the spec alone and before any plan is
// compiled, whether the native init may run this config: the plan is then
// compiled before the fork, and nativePlan decides step by step.
func nativeCandidate(s *specs.Spec, o ProcessIO, mode cgroups.Mode) bool {
	traced, _ := o.Trace.Output()
	if goInitOnly(s) || o.ConsoleSocket != "" || traced != nil ||
		s.Process.Scheduler != nil || s.Process.IOPriority != nil ||
		len(hooksOf(s, "createContainer")) > 0 || len(hooksOf(s, "startContainer")) > 0 {
		return false
	}
	if sc := s.Linux.Seccomp; sc != nil && (sc.DefaultAction != "" || len(sc.Syscalls) > 0) {
		return false
	}
	for _, m := range s.Mounts {
		if (m.Type == "cgroup" || m.Type == "cgroup2") && mode == cgroups.Legacy {
			return false
		}
	}
	return true
}

// nativePlan is the plan of cfg encoded for the native init, with the v1
// tasks files it joins first; nil when this init must be the Go one.
func nativePlan(cfg *initConfig, tasks []string) []byte {
	// Without tasks the parent moves the init into its v1 cgroups, and a
	// v1 view is the Go init's to find.
	var view []hierarchy
	if len(tasks) > 0 {
		view, _ = cgroupV1View(tasks)
	}
	steps, ok := nativeSteps(cfg, view)
	if !ok {
		return nil
	}
	return cinit.Plan(tasks, steps)
}

// goInitOnly: the Go init is asked for, or the config has no process, or
// a namespace only the Go init's preamble can enter.
func goInitOnly(s *specs.Spec) bool {
	return os.Getenv(initChoiceEnv) == "go" || s.Process == nil ||
		hasNamespace(s, specs.UserNamespace) || hasNamespace(s, specs.TimeNamespace)
}

// nativeSteps converts cfg's plan for the native init, or reports that
// the config needs the Go init. view is what a cgroup v1 view shows
// (cgroupV1View); nil leaves such a view to the Go init.
func nativeSteps(cfg *initConfig, view []hierarchy) ([]cinit.Step, bool) {
	if goInitOnly(cfg.Spec) || cfg.Trace || cfg.ConsoleFD != 0 || cfg.Exec {
		return nil, false
	}
	steps := make([]cinit.Step, 0, len(cfg.Plan))
	for i := range cfg.Plan {
		n, ok := nativeStep(cfg, &cfg.Plan[i], view)
		if !ok {
			return nil, false
		}
		steps = append(steps, n)
	}
	return steps, true
}

// nativeAsIs are the operations whose operand, if any, is the step's
// Path, Value or Flags as it is.
var nativeAsIs = map[Op]struct {
	op      cinit.Op
	operand string // "path", "value", "flags" or none
}{
	OpParentPrivate:   {cinit.ParentPrivate, "path"},
	OpBindRootfs:      {cinit.BindRootfs, "path"},
	OpPivotRoot:       {cinit.PivotRoot, "path"},
	OpMoveRoot:        {cinit.MoveRoot, "path"},
	OpChroot:          {cinit.Chroot, "path"},
	OpReadonlyPath:    {cinit.ReadonlyPath, "path"},
	OpMaskPath:        {cinit.MaskPath, "path"},
	OpOOMScoreAdj:     {cinit.OOMScoreAdj, "value"},
	OpWaitParent:      {cinit.WaitParent, "value"},
	OpHostname:        {cinit.Hostname, "value"},
	OpDomainname:      {cinit.Domainname, "value"},
	OpAppArmor:        {cinit.AppArmor, "value"},
	OpRootPropagation: {cinit.RootPropagation, "flags"},
	OpRootfsPropagate: {cinit.RootfsPropagate, "flags"},
	OpNotDumpable:     {cinit.NotDumpable, ""},
	OpReadonlyRoot:    {cinit.ReadonlyRoot, ""},
	OpReady:           {cinit.Ready, ""},
	OpNoNewPrivileges: {cinit.NoNewPrivileges, ""},
}

// nativeStep gives one step the operands cinit.h lists for its operation,
// or reports that the native init has no such operation.
func nativeStep(cfg *initConfig, st *Step, view []hierarchy) (cinit.Step, bool) {
	p := cfg.Spec.Process
	n := cinit.Step{What: st.What}
	if o, ok := nativeAsIs[st.Op]; ok {
		n.Op = o.op
		switch o.operand {
		case "path":
			n.Strs = []string{st.Path}
		case "value":
			n.Strs = []string{st.Value}
		case "flags":
			n.Nums = []uint64{st.Flags}
		}
		return n, true
	}
	strs := func(s ...string) { n.Strs = s }
	nums := func(v ...uint64) { n.Nums = v }
	switch st.Op {
	case OpMount:
		m := st.Mount
		n.Op = cinit.Mount
		nums(m.Flags, boolNum(m.Bind), boolNum(m.Recursive), m.Propagation, m.AttrSet, m.AttrClr)
		strs(m.Source, m.Destination, m.Type, m.Data)
	case OpCgroupView:
		if cgroups.Mode(st.Value) == cgroups.Unified {
			n.Op = cinit.Cgroup2View
			nums(st.Mount.Flags)
			strs(st.Mount.Destination)
			break
		}
		if view == nil {
			return n, false
		}
		n.Op = cinit.Cgroup1View
		nums(st.Mount.Flags, boolNum(hasNamespace(cfg.Spec, specs.CgroupNamespace)))
		strs(st.Mount.Destination)
		for _, h := range view {
			n.Strs = append(n.Strs, h.name, filepath.Join(h.mountpoint, h.path), h.options)
		}
	case OpDevice:
		d := st.Device
		if st.Flags == 1 {
			return n, false // a bind of the host's node, in a user namespace
		}
		mode := uint64(0o666)
		if d.FileMode != nil {
			mode = uint64(*d.FileMode) & 0o7777
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		}
		var uid, gid uint64
		if d.UID != nil {
			uid = uint64(*d.UID)
		}
		if d.GID != nil {
			gid = uint64(*d.GID)
		}
		n.Op = cinit.Device
		nums(mode, uint64(d.Major), uint64(d.Minor), uid, gid)
		strs(d.Path)
	case OpSymlink:
		n.Op = cinit.Symlink
		strs(st.Value, st.Path)
	case OpOpenFIFO:
		n.Op = cinit.OpenFIFO
		strs(cfg.StateDir + "/" + fifoFile)
	case OpSysctl:
		n.Op = cinit.Sysctl
		strs(st.Path, "/proc/sys/"+strings.ReplaceAll(st.Path, ".", "/"), st.Value)
	case OpKeyring:
		n.Op = cinit.Keyring
		strs("_ses." + cfg.ID)
	case OpLookPath:
		path, ok := lookupEnv(p.Env, "PATH")
		if !ok {
			path = defaultPath
		}
		n.Op = cinit.LookPath
		strs(p.Args[0], path)
	case OpWaitStart:
		n.Op = cinit.WaitStart
		nums(boolNum(cfg.StartAtOnce))
	case OpRlimitCeilings:
		n.Op = cinit.RlimitCeilings
		for _, rl := range st.Rlimits {
			n.Nums = append(n.Nums, uint64(rl.Resource), rl.Soft, rl.Hard)
			n.Strs = append(n.Strs, "process.rlimits "+rl.Type)
		}
	case OpUmask:
		n.Op = cinit.Umask
		nums(uint64(*p.User.Umask))
	case OpOpenAppArmor:
		n.Op = cinit.OpenAppArmor
		strs(p.ApparmorProfile)
	case OpCheckCwd:
		_, hasHome := lookupEnv(p.Env, "HOME")
		n.Op = cinit.CheckCwd
		nums(uint64(p.User.UID), boolNum(!hasHome))
		strs(p.Cwd)
	case OpCloseFDs:
		n.Op = cinit.CloseFDs
		nums(uint64(3 + cfg.PreserveFDs))
	case OpBoundingSet:
		n.Op = cinit.BoundingSet
		last := lastCap()
		nums(capMask(capsOrNone(p.Capabilities).Bounding, last), uint64(last))
	case OpSetIDs:
		n.Op = cinit.SetIDs
		nums(uint64(p.User.UID), uint64(p.User.GID))
		for _, g := range p.User.AdditionalGids {
			n.Nums = append(n.Nums, uint64(g))
		}
	case OpCapabilities:
		c, last := capsOrNone(p.Capabilities), lastCap()
		n.Op = cinit.Capabilities
		nums(capMask(c.Effective, last), capMask(c.Permitted, last), capMask(c.Inheritable, last))
	case OpAmbient:
		c, last := capsOrNone(p.Capabilities), lastCap()
		can := capMask(c.Permitted, last) & capMask(c.Inheritable, last)
		n.Op = cinit.Ambient
		for _, name := range c.Ambient {
			// The others were warned about at create (unraisableAmbient).
			if bit := capNames[strings.ToUpper(name)]; bit <= last && can&(1<<bit) != 0 {
				n.Nums = append(n.Nums, uint64(bit))
				n.Strs = append(n.Strs, "process.capabilities.ambient "+name)
			}
		}
	case OpChdir:
		n.Op = cinit.Chdir
		strs(p.Cwd)
	case OpRlimits:
		rl := st.Rlimits[0]
		n.Op = cinit.Rlimit
		nums(uint64(rl.Resource), rl.Soft, rl.Hard)
		strs("process.rlimits " + rl.Type)
	case OpExec:
		n.Op = cinit.Exec
		nums(uint64(len(p.Args)))
		n.Strs = append(append(n.Strs, p.Args...), p.Env...)
	default:
		return n, false
	}
	return n, true
}

// cgroupV1View lists the v1 hierarchies a cgroup v1 view shows, each with
// the init's cgroup in it: the container's in the hierarchies the init
// joins itself (tasks, its first step), this process's in the others,
// which the init inherits. A hybrid host's cgroup2 hierarchy is left out,
// as the Go init leaves it (mountCgroup).
func cgroupV1View(tasks []string) ([]hierarchy, error) {
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	var out []hierarchy
	for _, h := range own {
		if h.fstype != "cgroup" {
			continue
		}
		for _, t := range tasks {
			if dir := filepath.Dir(t); strings.HasPrefix(dir, h.mountpoint+"/") {
				h.path = strings.TrimPrefix(dir, h.mountpoint)
			}
		}
		out = append(out, h)
	}
	return out, nil
}

func boolNum(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
