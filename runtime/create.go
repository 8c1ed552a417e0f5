package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/miniruntime/miniruntime/netns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ProcessIO is what a new container process (create's init, or exec's)
// gets from its caller besides its config.
type ProcessIO struct {
	PidFile       string
	ConsoleSocket string
	PreserveFDs   int
	Trace         *trace.Recorder
	// Stdin, Stdout and Stderr become the process's; nil means the
	// caller's own, handed over untouched as containerd and conmon expect.
	Stdin, Stdout, Stderr *os.File
}

// CreateOptions are runc's create flags plus where to record trace steps.
type CreateOptions struct {
	ProcessIO
	Root         string
	ID           string
	Bundle       string
	NoPivot      bool
	NoNewKeyring bool
	// Networks and Ports (--net, -p) are added to the config's
	// miniruntime.network and miniruntime.ports annotations.
	Networks, Ports []string
	// Pod (--pod) joins the pod's network, IPC and UTS namespaces and
	// mounts its /etc files.
	Pod string
	// SystemdCgroup (--systemd-cgroup) makes the cgroup a transient
	// systemd unit; linux.cgroupsPath is then "slice:prefix:name".
	SystemdCgroup bool

	// What Runtime sets, for Run's choreography around the fork.
	//
	// loaded is the bundle Run already read (for process.terminal); nil
	// reads it.
	loaded *Bundle
	// beforeFork, when set, is called just before the init is forked, and
	// idle once the init has its config, when create only waits for it.
	// Run uses them to catch the signals it forwards (a thread handoff per
	// signal, milliseconds in all) where that delays nothing: the usual
	// ones before the fork, the rest while the init sets itself up.
	beforeFork, idle func()
	// startAtOnce (Run) starts the process as soon as the init is ready,
	// with one message on the sync socket instead of start's round trip
	// through the exec FIFO, when nothing has to happen between create and
	// start: no prestart and no poststart hooks. beforeStart, when set, is
	// called just before. Start then has nothing left to do.
	startAtOnce bool
	beforeStart func()
	// netns is the network namespace made ahead for the init, if any.
	netns *netnsAhead
	// warn reports what must not fail the operation.
	warn func(format string, args ...any)
}

// Prewarm does, in the background, what a command that starts a container
// would otherwise do on its way to the fork: read the host's cgroup layout,
// and the one-time check Go's os package makes before a process's first
// child (whether pidfds work, which it learns by forking a test child).
// Commands that will start a container call it first.
func Prewarm() {
	cgroups.Prewarm()
	go func() {
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			p.Release()
		}
	}()
}

// create sets up a container from its bundle and leaves its init waiting for
// start. It returns the init process so that `run` can wait for it; `create`
// simply exits and lets the caller's subreaper adopt it.
func createContainer(o CreateOptions) (*Container, *os.Process, error) {
	defer o.netns.end() // when no init was forked on its thread
	if err := validateNewID(o.ID); err != nil {
		return nil, nil, err
	}
	b := o.loaded
	if b == nil {
		var err error
		if b, err = LoadBundle(o.Bundle); err != nil {
			return nil, nil, err
		}
	}
	p, err := prepare(b, o.Networks, o.Ports, o.Root, o.Pod)
	if err != nil {
		return nil, nil, err
	}
	if err := checkCreateFlags(b.Spec, o); err != nil {
		return nil, nil, err
	}
	for _, w := range specWarnings(b.Spec) {
		o.warnf("%s", w)
	}
	var pidFile string
	if o.PidFile != "" {
		var err error
		if pidFile, err = filepath.Abs(o.PidFile); err != nil {
			return nil, nil, fmt.Errorf("--pid-file %s: %w", o.PidFile, err)
		}
	}
	if err := os.MkdirAll(o.Root, 0o711); err != nil {
		return nil, nil, fmt.Errorf("state root %s: %w", o.Root, err)
	}
	dir := filepath.Join(o.Root, o.ID)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, nil, fmt.Errorf("%w: %s", ErrExist, o.ID)
		}
		return nil, nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	// Held until create returns, so that a delete of the same id waits for
	// it instead of removing what it is making; a create killed drops it.
	unlock, err := lockDir(dir)
	if err != nil {
		os.Remove(dir)
		return nil, nil, err
	}
	defer unlock()
	var undo undoStack
	undo.push(func() { os.RemoveAll(dir) })
	c := &Container{
		ID: o.ID, Bundle: b.Dir, Rootfs: b.Rootfs, Created: time.Now().UTC(),
		Owner: "", Annotations: b.Spec.Annotations, dir: dir,
		SharedPidNS: !hasNamespace(b.Spec, specs.PIDNamespace),
		HostMounts:  !hasNamespace(b.Spec, specs.MountNamespace),
		Creating:    true, PidFile: pidFile, warnTo: o.warn,
	}
	proc, err := c.create(p, o, &undo)
	if err != nil {
		undo.run()
		return nil, nil, err
	}
	return c, proc, nil
}

func checkCreateFlags(s *specs.Spec, o CreateOptions) error {
	if s.Process != nil && s.Process.Terminal && o.ConsoleSocket == "" {
		return fieldErr("process.terminal", "true, but no --console-socket was given to receive the terminal")
	}
	if (s.Process == nil || !s.Process.Terminal) && o.ConsoleSocket != "" {
		return errors.New("--console-socket given but process.terminal is false")
	}
	if o.PreserveFDs < 0 {
		return fmt.Errorf("--preserve-fds: %d is negative", o.PreserveFDs)
	}
	return nil
}

// create makes the container. Each thing it makes is on record in
// state.json before it is made, so that `delete --force` finds it whatever
// instruction a SIGKILL stops create at: the first record (cgroup path,
// systemd unit, the networks by name; Begin's Record) comes before the
// cgroup, addresses are released by network and id, the init's pid and
// start time are recorded before it is told anything (until then it exits
// when the sync socket closes under it), veths, port rules and port claims
// are found by network and id, and the pid file is on record before it is
// written. The last record clears Creating.
func (c *Container) create(b *prepared, o CreateOptions, undo *undoStack) (*os.Process, error) {
	rec := o.Trace
	req := b.network
	if req != nil {
		for _, name := range req.names {
			c.Networks = append(c.Networks, &netns.Attachment{Network: name, ContainerID: c.ID})
		}
	}

	// Only the cgroup2 directory the init is born in exists before clone;
	// the rest of the cgroup is made while the init's runtime starts up.
	cg, err := cgroups.Begin(c.ID, b.Spec.Linux.CgroupsPath, b.resources, cgroups.Options{
		Recorder: rec, Systemd: o.SystemdCgroup, Annotations: b.Spec.Annotations, Warn: func(l string) { o.warnf("%s", l) },
		Record: func(path, unit string) error {
			c.CgroupPath, c.SystemdUnit = path, unit
			return c.save()
		},
	})
	if err != nil {
		return nil, err
	}
	undo.push(func() { cg.Delete() })
	c.CgroupPath, c.SystemdUnit = cg.Path(), cg.Unit()
	if req != nil {
		undo.push(func() { c.detachNetworks(rec) })
		if err := c.allocateNetworks(req, b.Spec, rec); err != nil {
			return nil, err
		}
	}

	cmd, parentSock, held, err := initCommand(b.Spec, o.ProcessIO, cg)
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()
	born := cmd.SysProcAttr.UseCgroupFD && cg.Mode() == cgroups.Unified
	tasks := selfJoin(cmd.Cmd, b.Spec, cg)
	// The spec is final now (allocateNetworks added its mounts). For a
	// config the native init may run, it is sealed and compiled before the
	// fork, since the plan decides which init runs; for the others that
	// work is done while the Go init starts up.
	var sealed *sealedSpec
	var cfg initConfig
	if nativeCandidate(b.Spec, o.ProcessIO, cg.Mode()) {
		if sealed, err = seal(b.Spec); err == nil {
			cfg, err = c.initConfigFor(sealed, o, cg.Mode(), born)
		}
		if err != nil {
			closeAll(held)
			return nil, err
		}
		cmd.native = nativePlan(&cfg, tasks)
	}
	// Both inits are executed from a sealed handle on this binary.
	exe, err := sealedExe(rec, 3+o.PreserveFDs+32)
	if err != nil {
		closeAll(held)
		return nil, err
	}
	cmd.Path = exe.Name()
	if o.beforeFork != nil {
		o.beforeFork()
	}
	err = startInit(cmd, b.Spec, rec, o.netns)
	closeAll(held)
	// The binary's detached mount goes away with its last fd, which costs
	// the kernel an RCU grace period: handshake closes it when the parent
	// only waits for the init; this is for the paths that fail before.
	defer exe.Close()
	if err != nil {
		return nil, fmt.Errorf("start container init: %w", err)
	}
	undo.push(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if c.HostMounts {
			unmountUnder(c.Rootfs, nil)
		}
	})
	c.Pid = cmd.Process.Pid
	if _, c.StartTime, err = procStat(c.Pid); err != nil {
		return nil, fmt.Errorf("container init %d: %w", c.Pid, err)
	}
	// The init waits for its config: on record first, so that an init
	// that outlives a killed create can be found and killed.
	if err := c.save(); err != nil {
		return nil, err
	}
	if sealed == nil {
		if sealed, err = seal(b.Spec); err == nil {
			cfg, err = c.initConfigFor(sealed, o, cg.Mode(), born)
		}
		if err != nil {
			return nil, c.initFailed(cmd, err)
		}
	}
	c.spec = sealed.spec
	cfg.HostPid = c.Pid
	if err := c.freeze(sealed, rec); err != nil {
		return nil, err
	}
	// With the systemd driver, systemd starts the unit with the init in it.
	if err := cg.FinishFor(c.Pid); err != nil {
		return nil, err
	}
	if err := joinCgroup(cmd, b.Spec, cg, rec); err != nil {
		return nil, c.initFailed(cmd, err)
	}
	undo.push(func() { removePidFile(c.PidFile, c.Pid) })
	if err := c.handshake(sealed, &cfg, o, parentSock, cmd, tasks, exe); err != nil {
		return nil, err
	}
	return cmd.Process, nil
}

// commit writes the pid file and the last record, which says the container
// is made.
func (c *Container) commit() error {
	if c.PidFile != "" {
		if err := writePidFile(c.PidFile, c.Pid); err != nil {
			return err
		}
	}
	c.Creating = false
	if err := c.save(); err != nil {
		c.Creating = true
		return err
	}
	return nil
}

// freeze writes the config into the state dir, where start and delete read
// it, and makes the exec FIFO the init waits on until start. What is frozen
// is the spec the init runs, byte for byte, with every edit create made
// (networks, pod, AppArmor), not the bundle's file as it was read.
func (c *Container) freeze(s *sealedSpec, rec *trace.Recorder) error {
	if err := os.WriteFile(filepath.Join(c.dir, configFile), s.raw, 0o600); err != nil {
		return fmt.Errorf("freeze config: %w", err)
	}
	if err := unix.Mkfifo(c.fifoPath(), 0o622); err != nil {
		return fmt.Errorf("mkfifo %s: %w", c.fifoPath(), err)
	}
	rec.Step("exec FIFO: init waits on it until start", trace.Quote("mkfifo", c.fifoPath()))
	// In a user namespace the init runs as the host uid that container
	// root maps to, and must still be able to open the FIFO.
	if uid, gid, ok := rootHostIDs(s.spec.Linux); ok {
		if err := os.Chown(c.fifoPath(), uid, gid); err != nil {
			return fmt.Errorf("chown %s: %w", c.fifoPath(), err)
		}
	}
	return nil
}

// initConfigFor is the config the init is sent: the sealed spec's bytes,
// and the plan compiled from the same spec. born says the init was born in
// its cgroup on a cgroup v2 host, with its cgroup namespace.
func (c *Container) initConfigFor(s *sealedSpec, o CreateOptions, mode cgroups.Mode, born bool) (initConfig, error) {
	cfg := initConfig{
		ID: c.ID, Bundle: c.Bundle, Rootfs: c.Rootfs, StateDir: c.dir, HostPid: c.Pid,
		Spec: s.spec, SpecJSON: s.raw,
		CgroupNS: cgroupNS(s.spec, born),
		StartAtOnce: o.startAtOnce && s.spec.Process != nil &&
			len(hooksOf(s.spec, "prestart")) == 0 && len(hooksOf(s.spec, "poststart")) == 0,
	}
	cfg.setIO(o.ProcessIO)
	plan, err := compileInit(s.spec, planOptions{
		Rootfs: c.Rootfs, NoPivot: o.NoPivot, NoNewKeyring: o.NoNewKeyring,
		Console: cfg.ConsoleFD != 0, StartAtOnce: cfg.StartAtOnce, CgroupNS: cfg.CgroupNS, CgroupMode: mode, Kcore: hostHasKcore(),
	})
	cfg.Plan = plan
	return cfg, err
}

// handshake drives the init through the steps drawn in sync.go.
//
// exe, the sealed handle the init was executed from, is closed once the
// init has its config.
func (c *Container) handshake(s *sealedSpec, cfg *initConfig, o CreateOptions, sock *os.File, cmd *initCmd, tasks []string, exe *os.File) error {
	enc, dec := json.NewEncoder(sock), json.NewDecoder(sock)
	if err := sendConfig(sock, enc, cfg, cmd.native, tasks); err != nil {
		return c.initFailed(cmd, fmt.Errorf("send config to init: %w", err))
	}
	// With nothing to do when the init reaches msgHooks (no createRuntime
	// hooks, no networks), its msgContinue goes now, so that the init does
	// not wait for a round trip there.
	stops := len(hooksOf(s.spec, "createRuntime")) > 0 || len(c.Networks) > 0
	if !stops {
		if err := enc.Encode(syncMsg{Type: msgContinue}); err != nil {
			return c.initFailed(cmd, err)
		}
	}
	// While the init works, the parent does what it can do already; the
	// state is final now unless networks are still to be attached.
	if o.idle != nil {
		o.idle()
	}
	exe.Close()
	if !stops {
		if err := c.commit(); err != nil {
			return c.initFailed(cmd, err)
		}
	}
	for {
		var m syncMsg
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return c.initFailed(cmd, errors.New("container init exited during setup"))
			}
			return c.initFailed(cmd, fmt.Errorf("read from init: %w", err))
		}
		switch m.Type {
		case msgHooks:
			if !stops {
				continue
			}
			if err := c.attachNetworks(o.Trace); err != nil {
				return c.initFailed(cmd, err)
			}
			st := c.State().State
			st.Status = specs.StateCreated
			st.Pid = c.Pid
			// prestart runs at start (see Container.Start); createRuntime
			// runs here, with the namespaces made and the rootfs not yet
			// pivoted.
			if err := runHooks(o.Trace, "createRuntime", hooksOf(s.spec, "createRuntime"), st); err != nil {
				return err
			}
			if err := enc.Encode(syncMsg{Type: msgContinue}); err != nil {
				return c.initFailed(cmd, err)
			}
		case msgReady:
			if cfg.StartAtOnce {
				if o.beforeStart != nil {
					o.beforeStart()
				}
				// Running from now on: the FIFO is what says "created".
				os.Remove(c.fifoPath())
				if err := enc.Encode(syncMsg{Type: msgStart}); err != nil {
					return c.initFailed(cmd, err)
				}
				c.started = true
				o.Trace.Step("start the process at once, with a message on the sync socket (run, no prestart or poststart hooks)", "")
			}
			if stops {
				if err := c.commit(); err != nil {
					return c.initFailed(cmd, err)
				}
			}
			return nil
		case msgError:
			return m.err()
		default:
			return fmt.Errorf("init sent unknown message %q", m.Type)
		}
	}
}

// initFailed adds the init's exit status to an error, when it has one.
func (c *Container) initFailed(cmd *initCmd, err error) error {
	cmd.Process.Kill()
	if werr := cmd.Wait(); werr != nil {
		return fmt.Errorf("%w (%v)", err, werr)
	}
	return err
}

// initCommand builds the re-exec of this binary as the container init: the
// namespaces to create as clone flags, the id maps of a user namespace, the
// stdio, the preserved fds, the sync socket and the console socket. held are
// files the parent needs only until the init has started.
// setIO tells the init where the descriptors initCommand passes it are:
// after the preserved ones and the sync socket come the console socket
// (with --console-socket) and the trace output (when tracing).
func (cfg *initConfig) setIO(o ProcessIO) {
	next := 3 + o.PreserveFDs + 1
	cfg.PreserveFDs = o.PreserveFDs
	if o.ConsoleSocket != "" {
		cfg.ConsoleFD = next
		next++
	}
	if f, logFormat := o.Trace.Output(); f != nil {
		cfg.Trace, cfg.TraceFD, cfg.TraceLog = true, next, logFormat
		cfg.TraceEpoch = o.Trace.Start().UnixNano()
	}
}

func initCommand(s *specs.Spec, o ProcessIO, cg *cgroups.Manager) (cmd *initCmd, sock *os.File, held []*os.File, err error) {
	defer func() {
		if err != nil {
			closeAll(held)
		}
	}()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, held, fmt.Errorf("socketpair: %w", err)
	}
	parent, child := os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child")
	held = append(held, child)
	extra := make([]*os.File, 0, o.PreserveFDs+2)
	for i := 0; i < o.PreserveFDs; i++ {
		extra = append(extra, os.NewFile(uintptr(3+i), "preserved-"+strconv.Itoa(3+i)))
	}
	extra = append(extra, child)
	if o.ConsoleSocket != "" {
		conn, err := net.Dial("unix", o.ConsoleSocket)
		if err != nil {
			parent.Close()
			return nil, nil, held, fmt.Errorf("--console-socket %s: %w", o.ConsoleSocket, err)
		}
		f, err := conn.(*net.UnixConn).File()
		conn.Close()
		if err != nil {
			parent.Close()
			return nil, nil, held, fmt.Errorf("--console-socket %s: %w", o.ConsoleSocket, err)
		}
		held = append(held, f)
		extra = append(extra, f)
	}
	// The init's trace follows the parent's: to the same terminal or into
	// the same --log file, not to the container's stderr.
	if f, _ := o.Trace.Output(); f != nil {
		extra = append(extra, f)
	}
	cmd = &initCmd{syncFD: 3 + o.PreserveFDs, Cmd: &exec.Cmd{
		Args:       []string{"miniruntime", "init"},
		Env:        []string{syncFDEnv + "=" + strconv.Itoa(3+o.PreserveFDs)},
		Stdin:      stdio(o.Stdin, os.Stdin),
		Stdout:     stdio(o.Stdout, os.Stdout),
		Stderr:     stdio(o.Stderr, os.Stderr),
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: cloneFlags(s),
		},
	}}
	if o.ConsoleSocket != "" {
		// The process gets the pty; the caller's stdio must not stay open
		// in the waiting init: containerd's shim reads create's output
		// until EOF, which would then never come.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	}
	cmd.Env = append(cmd.Env, preambleEnv(s)...)
	if hasNewNamespace(s, specs.UserNamespace) {
		cmd.SysProcAttr.UidMappings = idMaps(s.Linux.UIDMappings)
		cmd.SysProcAttr.GidMappings = idMaps(s.Linux.GIDMappings)
		cmd.SysProcAttr.GidMappingsEnableSetgroups = true
		// Become the namespace's root before exec: the capabilities a
		// process has after execve in a user namespace depend on being
		// uid 0 there, and our host uid is not mapped in it.
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	if cg.Mode() != cgroups.Unified {
		// Its v1 cgroups are joined after clone (see joinCgroup), and a
		// cgroup namespace is rooted where its creator is: the init makes
		// its own once it is in them (cgroupNS).
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWCGROUP
	}
	f, err := cg.FD()
	if errors.Is(err, cgroups.ErrNotSupported) {
		// A legacy host, or the systemd driver: the init is moved after
		// clone, and makes its cgroup namespace once there (cgroupNS).
		cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWCGROUP
		return cmd, parent, held, nil
	}
	if err != nil {
		parent.Close()
		return nil, nil, held, err
	}
	held = append(held, f)
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(f.Fd())
	return cmd, parent, held, nil
}

// joinCgroup completes what clone did not. On a host without cgroup2 (no
// CLONE_INTO_CGROUP) the parent moves the init into its cgroups. On a
// hybrid host the init joins the v1 hierarchies itself (selfJoin), unless
// it runs in a user namespace: its host uid may not write the cgroup files,
// so the parent moves it there too.
func joinCgroup(cmd *initCmd, s *specs.Spec, cg *cgroups.Manager, rec *trace.Recorder) error {
	if cg.Placed(cmd.Process.Pid) {
		return nil // the systemd driver: FinishFor put it there
	}
	if cmd.SysProcAttr.UseCgroupFD {
		rec.Stepf("", "the init was born in its cgroup (clone3 CLONE_INTO_CGROUP): %s", cg.Path())
		if selfJoin(cmd.Cmd, s, cg) != nil || cg.Mode() == cgroups.Unified {
			return nil
		}
	}
	return cg.Add(cmd.Process.Pid)
}

// selfJoin lists the v1 tasks files the init writes itself: only when it
// was born in the cgroup2 part of a hybrid host and has no user namespace.
func selfJoin(cmd *exec.Cmd, s *specs.Spec, cg *cgroups.Manager) []string {
	if !cmd.SysProcAttr.UseCgroupFD || hasNamespace(s, specs.UserNamespace) {
		return nil
	}
	return cg.SelfJoinFiles()
}

const syncFDEnv = "_MINIRUNTIME_SYNCFD"

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

func stdio(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	// No trailing newline: containerd reads it with strconv.Atoi.
	if err := atomicfile.WriteFile(abs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file %s: %w", path, err)
	}
	return nil
}

// removePidFile removes the pid file of a container that was never made,
// if it still names its init (a later create may have reused the path).
func removePidFile(path string, pid int) {
	if path == "" || pid <= 0 {
		return
	}
	if b, err := os.ReadFile(path); err == nil && string(b) == strconv.Itoa(pid) {
		os.Remove(path)
	}
}

// undoStack collects the inverse of every step create has taken, so a
// failure anywhere leaves the system as it was.
type undoStack []func()

func (u *undoStack) push(f func()) { *u = append(*u, f) }

func (u *undoStack) run() {
	for i := len(*u) - 1; i >= 0; i-- {
		(*u)[i]()
	}
	*u = nil
}

// rootHostIDs are the host uid and gid that uid and gid 0 map to in a new
// user namespace; ok is false without one.
func rootHostIDs(l *specs.Linux) (uid, gid int, ok bool) {
	hostOf := func(m []specs.LinuxIDMapping) (int, bool) {
		for _, x := range m {
			if x.ContainerID == 0 && x.Size > 0 {
				return int(x.HostID), true
			}
		}
		return 0, false
	}
	uid, uok := hostOf(l.UIDMappings)
	gid, gok := hostOf(l.GIDMappings)
	return uid, gid, uok && gok
}

// warnf is where the options send warnings: the Runtime's sink, or stderr.
func (o *CreateOptions) warnf(format string, args ...any) {
	if o.warn != nil {
		o.warn(format, args...)
		return
	}
	warnStderr(format, args...)
}
