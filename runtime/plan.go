package runtime

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A plan is what a runtime does to the kernel for one container, as data:
// config.json compiled into the ordered steps the container's init takes,
// each with the shell command that would do the same. The parent compiles
// it (compileInit) and hands it to the init, which only executes it
// (initProc.execute); `miniruntime plan` prints it without running
// anything. The order rules that keep a container safe (mounts before
// pivot_root, masked paths after /proc is mounted, capabilities dropped and
// no_new_privs set before seccomp, rlimits and the LSM profile last) are
// properties of this data, tested without root.
//
// The plan's types and the compiler are shared by both processes; CompilePlan
// and hostHasKcore, which read the host, are the parent's (for the plan
// command). The init's executor is init_plan.go.

// Op is the kind of a step.
type Op string

// The init's operations, in roughly the order a plan uses them.
const (
	OpNotDumpable     Op = "not-dumpable"
	OpOOMScoreAdj     Op = "oom-score-adj"
	OpEnterCgroupNS   Op = "enter-cgroup-namespace" // an exec'd process
	OpJoinMountNS     Op = "join-mount-namespace"   // an exec'd process
	OpRootPropagation Op = "root-propagation"
	OpParentPrivate   Op = "rootfs-parent-private"
	OpBindRootfs      Op = "bind-rootfs"
	OpMount           Op = "mount"
	OpCgroupView      Op = "mount-cgroup"
	OpWaitParent      Op = "wait-for-parent"
	OpDevice          Op = "device"
	OpSymlink         Op = "symlink"
	OpHooks           Op = "hooks"
	OpOpenFIFO        Op = "open-exec-fifo"
	OpPivotRoot       Op = "pivot-root"
	OpMoveRoot        Op = "move-root"
	OpChroot          Op = "chroot"
	OpHostname        Op = "hostname"
	OpDomainname      Op = "domainname"
	OpSysctl          Op = "sysctl"
	OpKeyring         Op = "session-keyring"
	OpReadonlyPath    Op = "readonly-path"
	OpMaskPath        Op = "mask-path"
	OpRootfsPropagate Op = "rootfs-propagation"
	OpReadonlyRoot    Op = "readonly-root"
	OpConsole         Op = "console"
	OpLookPath        Op = "look-path"
	OpReady           Op = "report-ready"
	OpWaitStart       Op = "wait-for-start"
	OpRlimitCeilings  Op = "raise-rlimit-ceilings"
	OpUmask           Op = "umask"
	OpScheduling      Op = "scheduling"
	OpOpenAppArmor    Op = "open-apparmor"
	OpAttachConsole   Op = "attach-console"
	OpCheckCwd        Op = "check-cwd"
	OpCloseFDs        Op = "close-leaked-fds"
	OpSeccomp         Op = "seccomp"
	OpBoundingSet     Op = "bounding-set"
	OpSetIDs          Op = "set-ids"
	OpCapabilities    Op = "capabilities"
	OpAmbient         Op = "ambient-capabilities"
	OpNoNewPrivileges Op = "no-new-privileges"
	OpChdir           Op = "chdir"
	OpRlimits         Op = "rlimits"
	OpAppArmor        Op = "apparmor"
	OpExec            Op = "exec"
	OpParentCgroup    Op = "cgroup"
	OpParentClone     Op = "clone"
	OpParentJoin      Op = "join-namespace"
	OpParentIDMaps    Op = "id-maps"
	OpParentNetwork   Op = "network"
	OpParentHooks     Op = "hooks"
	OpParentState     Op = "state"
)

// Step is one operation. Which operands are set depends on Op.
type Step struct {
	Op    Op     `json:"op"`
	What  string `json:"what"`
	Shell string `json:"shell,omitempty"`

	Path   string             `json:"path,omitempty"`
	Value  string             `json:"value,omitempty"`
	Flags  uint64             `json:"flags,omitempty"`
	Mount  *MountOp           `json:"mount,omitempty"`
	Device *specs.LinuxDevice `json:"device,omitempty"`
	// Rlimits: every rlimit for OpRlimitCeilings, the one it sets for
	// OpRlimits.
	Rlimits []RlimitOp `json:"rlimits,omitempty"`
}

// RlimitOp is one entry of process.rlimits resolved into setrlimit(2)'s
// operands: the init looks nothing up.
type RlimitOp struct {
	Type     string `json:"type"` // the config's name, for errors
	Resource int    `json:"resource"`
	Soft     uint64 `json:"soft"`
	Hard     uint64 `json:"hard"`
}

// resolveRlimits gives each rlimit its resource number. Validate has
// refused unknown types.
func resolveRlimits(rls []specs.POSIXRlimit) []RlimitOp {
	out := make([]RlimitOp, len(rls))
	for i, rl := range rls {
		out[i] = RlimitOp{Type: rl.Type, Resource: rlimitNames[rl.Type], Soft: rl.Soft, Hard: rl.Hard}
	}
	return out
}

// MountOp is one entry of config.json's mounts with its options resolved
// into what the system calls take: the compiler parses the options once
// (resolveMount), and the init passes these values to the kernel as they
// are.
type MountOp struct {
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination"`
	Type        string `json:"type,omitempty"`
	Flags       uint64 `json:"flags,omitempty"` // mount(2) flags
	Data        string `json:"data,omitempty"`  // the filesystem's own options, mount(2)'s data
	Bind        bool   `json:"bind,omitempty"`
	Recursive   bool   `json:"recursive,omitempty"` // rbind
	Propagation uint64 `json:"propagation,omitempty"`
	AttrSet     uint64 `json:"attrSet,omitempty"` // mount_setattr(2), recursive
	AttrClr     uint64 `json:"attrClr,omitempty"`
}

// Plan is a container's compiled plan: the parent's steps, around the
// init's (which the init executes one by one).
type Plan struct {
	Parent []Step `json:"parent"`
	Init   []Step `json:"init"`
}

// planOptions are the choices and host facts a plan depends on besides the
// spec: everything the compiler needs, so that it reads nothing itself.
type planOptions struct {
	Rootfs       string
	NoPivot      bool
	NoNewKeyring bool
	Console      bool // process.terminal with a console socket
	StartAtOnce  bool // run: start follows create with no FIFO round trip
	CgroupNS     string
	CgroupMode   cgroups.Mode // the host's cgroup layout
	Kcore        bool         // the host has /proc/kcore (runc links /dev/core to it)
}

func step(op Op, what, shell string) Step { return Step{Op: op, What: what, Shell: shell} }

// compileInit compiles a container's init. The spec is the prepared one
// (validated, every edit made).
func compileInit(s *specs.Spec, o planOptions) ([]Step, error) {
	var out []Step
	add := func(st ...Step) { out = append(out, st...) }
	add(processPrelude(s.Process)...)
	ownMountNS := hasNamespace(s, specs.MountNamespace)
	if ownMountNS {
		prop := uint64(unix.MS_SLAVE | unix.MS_REC)
		if p, ok := propagationOpts[s.Linux.RootfsPropagation]; ok && !strings.HasSuffix(s.Linux.RootfsPropagation, "unbindable") {
			prop = uint64(p | unix.MS_REC)
		}
		st := step(OpRootPropagation, "stop mount events propagating between the host and the container", mountCommand("", "/", "", uintptr(prop), ""))
		st.Flags = prop
		add(st, Step{Op: OpParentPrivate, Path: o.Rootfs, What: "make the mount holding the rootfs private (pivot_root refuses a shared one)",
			Shell: "mount --make-private $(findmnt -n -o TARGET --target " + trace.Quote(o.Rootfs) + ")"})
	}
	add(Step{Op: OpBindRootfs, Path: o.Rootfs, What: "make the rootfs a mount point of its own",
		Shell: mountCommand(o.Rootfs, o.Rootfs, "", unix.MS_BIND|unix.MS_REC, "")})
	waited := false
	wait := Step{Op: OpWaitParent, What: "wait until the parent has put the init in its cgroups and run the createRuntime hooks"}
	if o.CgroupNS == "new" {
		wait.What += ", then make a cgroup namespace rooted there"
		wait.Shell = "unshare --cgroup"
	} else if o.CgroupNS != "" {
		wait.What += ", then join the cgroup namespace"
		wait.Shell = trace.Quote("nsenter", "--cgroup="+o.CgroupNS)
	}
	wait.Value = o.CgroupNS
	for i, m := range s.Mounts {
		mo, err := resolveMount(m)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] %s: %w", i, m.Destination, err)
		}
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			// The view of the cgroup tree depends on the cgroup the
			// init is in: the parent must have put it there.
			if !waited {
				add(wait)
				waited = true
			}
			view := trace.Quote("mount", "-t", "cgroup2", "cgroup2", m.Destination)
			if o.CgroupMode != cgroups.Unified {
				view = mountCommand("tmpfs", m.Destination, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755") +
					"; then each v1 hierarchy at " + m.Destination + "/NAME: " + map[bool]string{true: "mount -t cgroup -o NAME cgroup (in the cgroup namespace)", false: "mount --bind /sys/fs/cgroup/NAME/<container's cgroup>"}[o.CgroupNS != ""]
			}
			// Value: the host's layout, which decides how the view is made.
			add(Step{Op: OpCgroupView, Mount: &mo, Value: string(o.CgroupMode), What: "show the container its own cgroups at " + m.Destination, Shell: view})
			continue
		}
		add(Step{Op: OpMount, Mount: &mo, What: "mount " + mountWhat(mo), Shell: mo.shell()})
	}
	inUserNS := hasNamespace(s, specs.UserNamespace)
	devs := slices.Clone(defaultDevices)
	for _, d := range s.Linux.Devices {
		devs = replaceDevice(devs, d)
	}
	for _, d := range devs {
		d := d
		st := Step{Op: OpDevice, Device: &d, Path: d.Path, What: "create device " + d.Path}
		if inUserNS {
			st.What = "bind the host's " + d.Path + " (mknod is not allowed in a user namespace)"
			st.Shell = mountCommand(d.Path, d.Path, "", unix.MS_BIND, "")
			st.Flags = 1
		} else {
			mode := uint32(0o666)
			if d.FileMode != nil {
				mode = uint32(*d.FileMode) & 0o7777
			}
			st.Shell = fmt.Sprintf("mknod -m %o %s %s %d %d", mode, d.Path, d.Type, d.Major, d.Minor)
		}
		add(st)
	}
	links := devSymlinks
	if o.Kcore {
		links = append(links[:len(links):len(links)], [2]string{"/proc/kcore", "/dev/core"})
	}
	for _, l := range links {
		add(Step{Op: OpSymlink, Path: l[1], Value: l[0], What: "link " + l[1], Shell: trace.Quote("ln", "-s", l[0], l[1])})
	}
	if !waited {
		add(wait)
	}
	if h := hooksOf(s, "createContainer"); len(h) > 0 {
		add(Step{Op: OpHooks, Value: "createContainer", What: fmt.Sprintf("run %d createContainer hook(s) in the container's namespaces", len(h)), Shell: hookShell(h)})
	}
	add(step(OpOpenFIFO, "open the exec FIFO while the host's tree is reachable", "exec 3<> $STATE_DIR/exec.fifo"))
	switch {
	case !ownMountNS:
		add(Step{Op: OpChroot, Path: o.Rootfs, What: "chroot into the rootfs (no mount namespace)", Shell: trace.Quote("chroot", o.Rootfs)})
	case o.NoPivot:
		add(Step{Op: OpMoveRoot, Path: o.Rootfs, What: "move the rootfs onto / and chroot (--no-pivot)", Shell: mountCommand(o.Rootfs, "/", "", unix.MS_MOVE, "") + " && chroot ."})
	default:
		add(Step{Op: OpPivotRoot, Path: o.Rootfs, What: "make the rootfs the new / and detach the old one",
			Shell: trace.Quote("pivot_root", o.Rootfs, o.Rootfs+"/.oldroot") + " && umount -l /.oldroot"})
	}
	if s.Hostname != "" {
		add(Step{Op: OpHostname, Value: s.Hostname, What: "set the hostname", Shell: trace.Quote("hostname", s.Hostname)})
	}
	if s.Domainname != "" {
		add(Step{Op: OpDomainname, Value: s.Domainname, What: "set the domain name", Shell: trace.Quote("domainname", s.Domainname)})
	}
	// Sysctls are written before /proc/sys is made read-only, as every
	// generated config asks (linux.readonlyPaths).
	for _, k := range slices.Sorted(maps.Keys(s.Linux.Sysctl)) {
		v := s.Linux.Sysctl[k]
		add(Step{Op: OpSysctl, Path: k, Value: v, What: "set sysctl " + k, Shell: trace.Quote("sysctl", "-w", k+"="+v)})
	}
	if !o.NoNewKeyring {
		add(Step{Op: OpKeyring, What: "join a new session keyring", Shell: "keyctl session _ses.$ID"})
	}
	// runc's order: read-only paths, then masked ones.
	for _, p := range s.Linux.ReadonlyPaths {
		add(Step{Op: OpReadonlyPath, Path: p, What: "make " + p + " read-only",
			Shell: mountCommand(p, p, "", unix.MS_BIND|unix.MS_REC, "") + " && " + mountCommand("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC, "")})
	}
	for _, p := range s.Linux.MaskedPaths {
		add(Step{Op: OpMaskPath, Path: p, What: "mask " + p,
			Shell: mountCommand("/dev/null", p, "", unix.MS_BIND, "") + "  # an empty read-only tmpfs for a directory"})
	}
	if p, ok := propagationOpts[s.Linux.RootfsPropagation]; ok && ownMountNS {
		st := Step{Op: OpRootfsPropagate, Flags: uint64(p | unix.MS_REC), What: "linux.rootfsPropagation " + s.Linux.RootfsPropagation,
			Shell: mountCommand("", "/", "", p|unix.MS_REC, "")}
		add(st)
	}
	if s.Root != nil && s.Root.Readonly {
		add(step(OpReadonlyRoot, "make / read-only", mountCommand("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")))
	}
	if o.Console {
		add(step(OpConsole, "make the terminal and send its master to the console socket", "openpty; sendmsg(SCM_RIGHTS)"))
	}
	if s.Process != nil {
		add(step(OpLookPath, "find "+s.Process.Args[0]+" in the container's PATH (a missing binary fails create)", trace.Quote("command", "-v", s.Process.Args[0])))
	}
	add(step(OpReady, "tell the parent the container is created", ""))
	if o.StartAtOnce {
		add(step(OpWaitStart, "wait for start on the sync socket", ""))
	} else {
		add(step(OpWaitStart, "wait for start: block reading the exec FIFO", "read -n 1 < $STATE_DIR/exec.fifo"))
	}
	if h := hooksOf(s, "startContainer"); len(h) > 0 {
		add(Step{Op: OpHooks, Value: "startContainer", What: fmt.Sprintf("run %d startContainer hook(s)", len(h)), Shell: hookShell(h)})
	}
	if s.Process != nil {
		add(compileProcess(s, o.Console)...)
	}
	return out, nil
}

// compileExec compiles the init of a process exec'd into a container.
func compileExec(s *specs.Spec, cgroupNS, mountNS string, console bool) []Step {
	out := processPrelude(s.Process)
	if cgroupNS != "" {
		out = append(out, Step{Op: OpEnterCgroupNS, Value: cgroupNS, What: "enter the container's cgroup namespace", Shell: trace.Quote("nsenter", "--cgroup="+cgroupNS)})
	}
	if mountNS != "" {
		out = append(out, Step{Op: OpJoinMountNS, Path: mountNS, What: "join the container's mount namespace", Shell: trace.Quote("nsenter", "--mount="+mountNS)})
	}
	if console {
		out = append(out, step(OpConsole, "make the terminal and send its master to the console socket", "openpty; sendmsg(SCM_RIGHTS)"))
	}
	out = append(out,
		step(OpLookPath, "find "+s.Process.Args[0]+" in the container's PATH", trace.Quote("command", "-v", s.Process.Args[0])),
		step(OpReady, "tell the parent the process is ready", ""))
	return append(out, compileProcess(s, console)...)
}

// processPrelude is the first thing any init does.
func processPrelude(p *specs.Process) []Step {
	// Not dumpable: other processes in the container cannot open our
	// /proc/<pid>/ files (exe, fd, mem) while we still run the runtime's
	// code. execve of the user process resets this.
	out := []Step{step(OpNotDumpable, "not dumpable while the runtime's code runs", "prctl(PR_SET_DUMPABLE, 0)")}
	if p != nil && p.OOMScoreAdj != nil {
		v := strconv.Itoa(*p.OOMScoreAdj)
		out = append(out, Step{Op: OpOOMScoreAdj, Value: v, What: "set the OOM score adjustment", Shell: "echo " + v + " > /proc/self/oom_score_adj"})
	}
	return out
}

// compileProcess is the process attributes, in the order that keeps each
// step possible and safe, then the execve:
//
//	raise rlimit ceilings, umask, scheduling -> cwd (checked inside the
//	rootfs) -> close leaked fds -> bounding set -> groups, gid, uid (caps
//	kept across) -> capability sets -> ambient -> no_new_privs -> seccomp
//	-> rlimits -> AppArmor profile -> execve
//
// The rlimits come last so that the runtime's own code never runs under
// them: a Go process reserves more address space than a modest RLIMIT_AS
// allows, and a huge RLIMIT_STACK gives every new thread a huge stack.
// Hard limits above the current ones are raised first, while the init is
// still privileged; setting the exact values at the end only lowers.
//
// Without noNewPrivileges an unprivileged user could not load a seccomp
// filter, so then it is loaded before the user and capabilities change, as
// runc does.
func compileProcess(s *specs.Spec, console bool) []Step {
	p := s.Process
	var out []Step
	add := func(st ...Step) { out = append(out, st...) }
	rlimits := resolveRlimits(p.Rlimits)
	if len(rlimits) > 0 {
		add(Step{Op: OpRlimitCeilings, Rlimits: rlimits, What: "raise the hard rlimits the config sets above the current ones"})
	}
	if p.User.Umask != nil {
		add(Step{Op: OpUmask, Value: fmt.Sprintf("%04o", *p.User.Umask), What: "set the umask", Shell: fmt.Sprintf("umask %04o", *p.User.Umask)})
	}
	if p.IOPriority != nil || p.Scheduler != nil {
		add(step(OpScheduling, "set the I/O priority and scheduling policy", "ionice / chrt"))
	}
	if p.ApparmorProfile != "" {
		add(step(OpOpenAppArmor, "open this thread's AppArmor exec attribute while the runtime may", "exec 4> /proc/thread-self/attr/apparmor/exec"))
	}
	if console {
		add(step(OpAttachConsole, "make the terminal the controlling terminal and stdio", "setsid -c"))
	}
	// The cwd must be checked, and leaked fds closed, before any seccomp
	// filter can block getcwd or readdir.
	add(Step{Op: OpCheckCwd, Path: p.Cwd, What: "enter the working directory and check it is inside the root", Shell: trace.Quote("mkdir", "-p", p.Cwd) + " && " + trace.Quote("cd", p.Cwd)},
		step(OpCloseFDs, "close every descriptor the container was not given", "close-on-exec fd 3+"))
	filter := s.Linux.Seccomp != nil && (s.Linux.Seccomp.DefaultAction != "" || len(s.Linux.Seccomp.Syscalls) > 0)
	seccomp := Step{Op: OpSeccomp, What: "load the seccomp filter", Shell: "seccomp(SECCOMP_SET_MODE_FILTER, ...)"}
	if filter {
		seccomp.What = fmt.Sprintf("load the seccomp filter (%d rules, default %s)", len(s.Linux.Seccomp.Syscalls), s.Linux.Seccomp.DefaultAction)
	}
	if filter && !p.NoNewPrivileges {
		add(seccomp)
	}
	c := p.Capabilities
	if c == nil {
		c = &specs.LinuxCapabilities{}
	}
	add(Step{Op: OpBoundingSet, What: fmt.Sprintf("trim the bounding set to %d capabilities", len(c.Bounding)), Shell: "setpriv --bounding-set=" + capList(c.Bounding)},
		Step{Op: OpSetIDs, What: fmt.Sprintf("become uid %d gid %d (capabilities kept across)", p.User.UID, p.User.GID),
			Shell: fmt.Sprintf("setpriv --reuid=%d --regid=%d --groups=%s", p.User.UID, p.User.GID, gidList(p.User.AdditionalGids))},
		Step{Op: OpCapabilities, What: fmt.Sprintf("set the effective, permitted and inheritable sets (%d, %d, %d)", len(c.Effective), len(c.Permitted), len(c.Inheritable)),
			Shell: "setpriv --inh-caps=" + capList(c.Inheritable)})
	if len(c.Ambient) > 0 {
		add(Step{Op: OpAmbient, What: fmt.Sprintf("raise %d ambient capabilities", len(c.Ambient)), Shell: "setpriv --ambient-caps=" + capList(c.Ambient)})
	}
	if p.NoNewPrivileges {
		add(step(OpNoNewPrivileges, "no new privileges from setuid binaries or file caps", "prctl(PR_SET_NO_NEW_PRIVS, 1)"))
	}
	add(Step{Op: OpChdir, Path: p.Cwd, What: "enter the working directory as the container's user", Shell: trace.Quote("cd", p.Cwd)})
	if filter && p.NoNewPrivileges {
		add(seccomp)
	}
	for _, rl := range rlimits {
		add(Step{Op: OpRlimits, Rlimits: []RlimitOp{rl}, What: "set " + rl.Type, Shell: fmt.Sprintf("prlimit --%s=%d:%d", rlimitFlag(rl.Type), rl.Soft, rl.Hard)})
	}
	if p.ApparmorProfile != "" {
		add(Step{Op: OpAppArmor, Value: p.ApparmorProfile, What: "confine the process in AppArmor profile " + p.ApparmorProfile + " from its execve on",
			Shell: "echo 'exec " + p.ApparmorProfile + "' > /proc/thread-self/attr/apparmor/exec"})
	}
	add(step(OpExec, "replace the init with the container process", trace.Quote(append([]string{"exec"}, p.Args...)...)))
	return out
}

// capList is setpriv's form of a capability set: all dropped, then each
// one added.
func capList(caps []string) string {
	out := []string{"-all"}
	for _, c := range caps {
		out = append(out, "+"+strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return strings.Join(out, ",")
}

func gidList(g []uint32) string {
	if len(g) == 0 {
		return "''"
	}
	out := make([]string, len(g))
	for i, x := range g {
		out[i] = strconv.FormatUint(uint64(x), 10)
	}
	return strings.Join(out, ",")
}

func hookShell(h []specs.Hook) string {
	words := make([]string, len(h))
	for i, x := range h {
		words[i] = trace.Quote(append([]string{x.Path}, x.Args[min(1, len(x.Args)):]...)...)
	}
	return strings.Join(words, "; ")
}

// resolveMount splits one config.json mount's options into what the system
// calls take.
func resolveMount(m specs.Mount) (MountOp, error) {
	o, err := parseMountOptions(m.Options)
	if err != nil {
		return MountOp{}, err
	}
	return MountOp{
		Source: m.Source, Destination: m.Destination, Type: m.Type,
		Flags: uint64(o.flags), Data: strings.Join(o.data, ","),
		Bind: isBind(m), Recursive: o.recursive,
		Propagation: uint64(o.propagation), AttrSet: o.attrSet, AttrClr: o.attrClr,
	}, nil
}

// shell is the mount(8) commands that make the same mount.
func (m MountOp) shell() string {
	var cmds []string
	if m.Bind {
		f := uintptr(unix.MS_BIND)
		if m.Recursive {
			f |= unix.MS_REC
		}
		cmds = append(cmds, mountCommand(m.Source, m.Destination, "", f, ""))
		if m.Flags&^unix.MS_REC != 0 {
			cmds = append(cmds, mountCommand("", m.Destination, "", uintptr(m.Flags)|unix.MS_BIND|unix.MS_REMOUNT, ""))
		}
	} else {
		cmds = append(cmds, mountCommand(m.Source, m.Destination, m.Type, uintptr(m.Flags), m.Data))
	}
	if m.Propagation != 0 {
		cmds = append(cmds, mountCommand("", m.Destination, "", uintptr(m.Propagation), ""))
	}
	if m.AttrSet|m.AttrClr != 0 {
		cmds = append(cmds, fmt.Sprintf("mount_setattr(%s, AT_RECURSIVE, set=%#x clr=%#x)", m.Destination, m.AttrSet, m.AttrClr))
	}
	return strings.Join(cmds, " && ")
}

func mountWhat(m MountOp) string {
	if m.Bind {
		return m.Source + " on " + m.Destination + " (bind)"
	}
	return m.Type + " on " + m.Destination
}

// String renders a plan as a learner reads it: numbered steps, each with
// its shell equivalent.
func (p *Plan) String() string {
	var b strings.Builder
	section := func(title string, steps []Step) {
		fmt.Fprintf(&b, "%s (%d steps)\n", title, len(steps))
		w := len(strconv.Itoa(len(steps)))
		for i, st := range steps {
			fmt.Fprintf(&b, "  %*d. %s\n", w, i+1, st.What)
			if st.Shell != "" {
				fmt.Fprintf(&b, "  %*s  $ %s\n", w, "", st.Shell)
			}
		}
	}
	section("The runtime (parent), around the init", p.Parent)
	b.WriteString("\n")
	section("The container's init, in the new namespaces", p.Init)
	return b.String()
}

// hostHasKcore: runc links /dev/core to /proc/kcore where the kernel has
// one (readable only with CAP_SYS_RAWIO, which containers lack by default),
// and so does miniruntime, so that programs that look for it find the same
// /dev.
func hostHasKcore() bool {
	_, err := os.Stat("/proc/kcore")
	return err == nil
}

// PlanRequest is a bundle and the choices `create` would be given for it.
type PlanRequest struct {
	Bundle        string
	ID            string
	NoPivot       bool
	NoNewKeyring  bool
	SystemdCgroup bool
	Networks      []string // --net
	Ports         []string // -p
}

// CompilePlan prepares a bundle as create would (the same edits, the same
// checks) and compiles its plan, without running anything: it needs no
// root, and reads of the host only what decides the plan (the cgroup
// layout, whether /proc/kcore exists).
func CompilePlan(r PlanRequest) (*Plan, error) {
	if r.ID == "" {
		r.ID = "ID"
	}
	b, err := LoadBundle(r.Bundle)
	if err != nil {
		return nil, err
	}
	p, err := prepare(b, r.Networks, r.Ports, "", "")
	if err != nil {
		return nil, err
	}
	// A terminal goes to the caller's console socket (or to run's own
	// terminal): the plan assumes one is given.
	mode, _ := cgroups.DetectMode("/sys/fs/cgroup")
	// On cgroup v2 with the cgroupfs driver the init is born in its cgroup
	// (CLONE_INTO_CGROUP), and clone makes its cgroup namespace.
	born := mode == cgroups.Unified && !r.SystemdCgroup
	init, err := compileInit(appArmorForInit(b.Spec, nil), planOptions{
		Rootfs: b.Rootfs, NoPivot: r.NoPivot, NoNewKeyring: r.NoNewKeyring,
		Console: b.Spec.Process != nil && b.Spec.Process.Terminal, CgroupNS: cgroupNS(b.Spec, born), CgroupMode: mode, Kcore: hostHasKcore(),
	})
	if err != nil {
		return nil, err
	}
	// Which init create would start: the native one when it can execute
	// every step (native.go).
	cfg := initConfig{Spec: b.Spec, ID: r.ID, Plan: init}
	if b.Spec.Process != nil && b.Spec.Process.Terminal {
		cfg.ConsoleFD = 1 // a console socket is assumed, as above
	}
	// On a hybrid host with the cgroupfs driver the init joins its v1
	// cgroups itself, where create resolves the view's sources.
	var view []hierarchy
	if mode == cgroups.Hybrid && !r.SystemdCgroup && !hasNamespace(b.Spec, specs.UserNamespace) {
		view, _ = cgroupV1View(nil)
	}
	_, native := nativeSteps(&cfg, view)
	return &Plan{Parent: compileParent(p, r, mode, born, native), Init: init}, nil
}

// compileParent is the runtime's own side, around the init's steps. It is
// a description: the parent's code (create.go) does these, in this order.
// It takes what prepare computed (the limits checked, the network
// annotations parsed) and recomputes none of it.
func compileParent(p *prepared, r PlanRequest, mode cgroups.Mode, born, native bool) []Step {
	s := p.Spec
	var out []Step
	add := func(st Step) { out = append(out, st) }
	add(step(OpParentState, "check config.json and make the container's state dir", trace.Quote("mkdir", "/run/miniruntime/"+r.ID)))
	if r.SystemdCgroup {
		add(step(OpParentCgroup, "ask systemd for a transient scope unit holding the container's cgroup",
			"systemd-run --scope --unit="+cgroups.DefaultScopePrefix+"-"+r.ID+".scope -p Delegate=yes ..."))
	} else {
		path := s.Linux.CgroupsPath
		if path == "" {
			path = cgroups.DefaultPrefix + r.ID
		}
		where := "/sys/fs/cgroup" + path
		if mode != cgroups.Unified {
			where = "/sys/fs/cgroup/{cpu,memory,pids,...}" + path
		}
		add(step(OpParentCgroup, "make the container's cgroup ("+string(mode)+" hierarchy)", trace.Quote("mkdir", "-p", where)))
	}
	var settings []cgroups.Setting
	if s.Linux.Resources != nil {
		settings, _ = p.resources.Values(mode)
	}
	for _, st := range settings {
		add(Step{Op: OpParentCgroup, Path: st.File, Value: st.Value, What: "limit: " + st.Field, Shell: "echo " + trace.Quote(st.Value) + " > " + st.File})
	}
	req := p.network
	if req != nil {
		for _, n := range req.names {
			add(Step{Op: OpParentNetwork, Value: n, What: "reserve an address on network " + n, Shell: "# in the network's allocation file"})
		}
	}
	var names []string
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" && ns.Type != specs.TimeNamespace && !(ns.Type == specs.CgroupNamespace && !born) {
			names = append(names, string(ns.Type))
		}
	}
	words := []string{"unshare"}
	for _, n := range names {
		words = append(words, nsFlags[specs.LinuxNamespaceType(n)].unshare)
	}
	if born {
		words = append(words, "# into its cgroup: clone3(CLONE_INTO_CGROUP)")
	}
	who, shell := "the Go init (this binary, `miniruntime init`)", trace.Quote(append(words, "miniruntime", "init")...)
	if native {
		who, shell = "the native init (this binary, `miniruntime init native`: C code, no Go runtime)", trace.Quote(append(words, "miniruntime", "init", "native")...)
	}
	add(step(OpParentClone, "fork "+who+" into new namespaces: "+strings.Join(names, ","), shell))
	if hasNewNamespace(s, specs.UserNamespace) {
		add(step(OpParentIDMaps, "write the user namespace's id maps", "newuidmap/newgidmap PID ..."))
	}
	for _, ns := range s.Linux.Namespaces {
		switch {
		case ns.Path == "":
		case ns.Type == specs.UserNamespace || ns.Type == specs.TimeNamespace:
			add(Step{Op: OpParentJoin, Path: ns.Path, What: "the init's C preamble joins the " + string(ns.Type) + " namespace before its Go runtime starts", Shell: trace.Quote("nsenter", "--"+nsFlags[ns.Type].proc+"="+ns.Path)})
		case ns.Type == specs.CgroupNamespace:
		default:
			add(Step{Op: OpParentJoin, Path: ns.Path, What: "join the " + string(ns.Type) + " namespace on the forking thread", Shell: trace.Quote("nsenter", "--"+nsFlags[ns.Type].proc+"="+ns.Path)})
		}
	}
	if hasNewNamespace(s, specs.TimeNamespace) {
		add(step(OpParentJoin, "the init's C preamble makes its time namespace, writes the offsets and enters it",
			"unshare --time "+strings.TrimSpace(strings.ReplaceAll(timeOffsets(s.Linux.TimeOffsets), "\n", "; "))))
	}
	if !born {
		add(step(OpParentCgroup, "move the init into its cgroup", "echo $PID > cgroup.procs"))
	}
	if req != nil {
		add(step(OpParentNetwork, "make a veth pair, move one end into the container's network namespace, address it and route", "ip link add ... type veth peer name ...; ip link set ... netns $PID"))
	}
	for _, h := range []string{"prestart", "createRuntime"} {
		if hs := hooksOf(s, h); len(hs) > 0 {
			add(Step{Op: OpParentHooks, Value: h, What: fmt.Sprintf("run %d %s hook(s) in the runtime's namespaces", len(hs), h), Shell: hookShell(hs)})
		}
	}
	add(step(OpParentState, "send the init its plan; write state.json once it reports created", "echo ... > state.json"))
	add(step(OpParentState, "start: write to the exec FIFO, which the init reads before it executes the process", "echo > /run/miniruntime/"+r.ID+"/exec.fifo"))
	if hs := hooksOf(s, "poststart"); len(hs) > 0 {
		add(Step{Op: OpParentHooks, Value: "poststart", What: fmt.Sprintf("run %d poststart hook(s)", len(hs)), Shell: hookShell(hs)})
	}
	return out
}

func mountCommand(src, dst, fstype string, flags uintptr, data string) string {
	words := []string{"mount"}
	switch {
	case flags&(unix.MS_SHARED|unix.MS_SLAVE|unix.MS_PRIVATE|unix.MS_UNBINDABLE) != 0:
		p := map[uintptr]string{unix.MS_SHARED: "shared", unix.MS_SLAVE: "slave", unix.MS_PRIVATE: "private", unix.MS_UNBINDABLE: "unbindable"}
		for bit, name := range p {
			if flags&bit != 0 {
				if flags&unix.MS_REC != 0 {
					name = "r" + name
				}
				return trace.Quote("mount", "--make-"+name, dst)
			}
		}
	case flags&unix.MS_MOVE != 0:
		return trace.Quote("mount", "--move", src, dst)
	}
	if fstype != "" && flags&unix.MS_BIND == 0 {
		words = append(words, "-t", fstype)
	}
	o := flagNames(flags &^ unix.MS_REMOUNT)
	if flags&unix.MS_REMOUNT != 0 {
		o = strings.TrimPrefix(o+",remount", ",")
	}
	if data != "" {
		o = strings.TrimPrefix(o+","+data, ",")
	}
	if o != "" {
		words = append(words, "-o", o)
	}
	if src == "" {
		return trace.Quote(append(words, dst)...)
	}
	return trace.Quote(append(words, src, dst)...)
}

func shownOr(shown, dst string) string {
	if shown != "" {
		return shown
	}
	return dst
}

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
