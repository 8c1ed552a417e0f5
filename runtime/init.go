package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/sysfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Init is the container init: this binary re-executed as `miniruntime init`
// inside the new namespaces. It never returns: it either execs the user
// process or exits. main dispatches to it before any command-line parsing.
//
// preambleErr is the result of the C preamble that joins a user namespace
// (package nsenter); it is reported to the parent like any other failure.
func Init(preambleErr error) {
	up := time.Now()
	// Capabilities, securebits and the seccomp filter are per thread; the
	// thread that sets them must be the one that calls execve.
	goruntime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(syncFDEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "miniruntime init: must be started by miniruntime create, not by hand")
		os.Exit(1)
	}
	os.Unsetenv(syncFDEnv)
	sock := os.NewFile(uintptr(fd), "sync")
	unix.CloseOnExec(fd)
	br := bufio.NewReader(sock)
	enc, dec := json.NewEncoder(sock), json.NewDecoder(br)
	tasks, err := readCgroupsLine(br)
	if err != nil {
		os.Exit(1) // the parent is gone; it reports the failure
	}
	// The config is decoded on another thread while this one, the one
	// that will execve, joins its cgroups: first of all, so that nothing
	// of the container runs outside them.
	var cfg initConfig
	decoded := make(chan error, 1)
	go func() { decoded <- dec.Decode(&cfg) }()
	joins, joinErr := joinV1Cgroups(tasks)
	if err := <-decoded; err != nil {
		os.Exit(1)
	}
	var rec *trace.Recorder
	if cfg.Trace {
		unix.CloseOnExec(cfg.TraceFD)
		rec = trace.ToFile(os.NewFile(uintptr(cfg.TraceFD), "trace"), cfg.TraceLog, "init", time.Unix(0, cfg.TraceEpoch))
		rec.StepAt(up, "the init runs: exec of the runtime binary and Go start-up are done", "")
		for _, j := range joins {
			hier, _, _ := strings.Cut(strings.TrimPrefix(j.file, "/sys/fs/cgroup/"), "/")
			rec.StepAt(j.at, "join the "+hier+" cgroup (this thread only: no global lock)", "echo 0 > "+j.file)
		}
		rec.Step("the init has read its config from the sync socket", "")
	}
	in := &initProc{cfg: &cfg, rec: rec, enc: enc, dec: dec, sock: sock}
	err = preambleErr
	if err == nil {
		err = joinErr
	}
	if err == nil {
		err = in.run()
	}
	// Only failures come back here.
	if in.sock != nil {
		enc.Encode(syncMsg{Type: msgError, Error: err.Error()})
	} else {
		fmt.Fprintln(os.Stderr, "miniruntime init:", err)
	}
	os.Exit(1)
}

type initProc struct {
	cfg    *initConfig
	rec    *trace.Recorder
	enc    *json.Encoder
	dec    *json.Decoder
	sock   *os.File // nil once create has returned
	fifo   int
	joined bool // the parent has put us in our cgroup (joinedCgroup)
}

// prepareProcess is the first thing any init does, for a container's
// process or an exec'd one.
func prepareProcess(p *specs.Process, rec *trace.Recorder) error {
	// Not dumpable: other processes in the container cannot open our
	// /proc/<pid>/ files (exe, fd, mem) while we still run the runtime's
	// code. execve of the user process resets this.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
	}
	if p != nil && p.OOMScoreAdj != nil {
		v := strconv.Itoa(*p.OOMScoreAdj)
		if err := sysfile.Write("/proc/self/oom_score_adj", v); err != nil {
			return fmt.Errorf("process.oomScoreAdj: %w", err)
		}
		rec.Step("set the OOM score adjustment", "echo "+v+" > /proc/self/oom_score_adj")
	}
	return nil
}

func (in *initProc) run() error {
	s := in.cfg.Spec
	if in.cfg.Exec {
		return in.runExec()
	}
	if err := prepareProcess(s.Process, in.rec); err != nil {
		return err
	}
	f := &fs{rec: in.rec, rootfs: in.cfg.Rootfs, beforeCgroup: in.joinedCgroup, cgroupNS: hasNamespace(s, specs.CgroupNamespace)}
	ownMountNS := hasNamespace(s, specs.MountNamespace)
	if err := f.prepareRoot(s, ownMountNS); err != nil {
		return err
	}
	mode, _ := cgroups.DetectMode("/sys/fs/cgroup")
	if err := f.mountAll(s, string(mode)); err != nil {
		return err
	}
	if err := f.createDevices(s, hasNamespace(s, specs.UserNamespace)); err != nil {
		return err
	}
	if err := in.joinedCgroup(); err != nil {
		return err
	}
	if err := runHooks(in.rec, "createContainer", hooksOf(s, "createContainer"), in.hookState(specs.StateCreated)); err != nil {
		return err
	}
	// The exec FIFO lives in the state dir on the host: open it while the
	// host's tree is still reachable. O_RDWR never blocks; the read below
	// blocks until start writes.
	fifo, err := unix.Open(in.cfg.StateDir+"/"+fifoFile, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	in.fifo = fifo
	switch {
	case !ownMountNS:
		err = f.chrootRoot()
	case in.cfg.NoPivot:
		err = f.moveRoot()
	default:
		err = f.pivotRoot()
	}
	if err != nil {
		return err
	}
	f.root.Close()
	// Sysctls are written before /proc/sys is made read-only, as every
	// generated config asks (linux.readonlyPaths).
	if err := in.setupSystem(); err != nil {
		return err
	}
	if err := in.finishRootfs(f, ownMountNS); err != nil {
		return err
	}
	var console *os.File
	if in.cfg.ConsoleFD != 0 {
		if console, err = in.setupConsole(); err != nil {
			return err
		}
	}
	var exe string
	if s.Process != nil {
		if exe, err = lookPath(s.Process); err != nil {
			return err
		}
	}
	if err := in.send(msgReady); err != nil {
		return err
	}
	if in.cfg.StartAtOnce {
		if err := in.wait(msgStart); err != nil {
			return err
		}
	}
	in.sock.Close()
	in.sock = nil
	// Wait for start.
	for !in.cfg.StartAtOnce {
		var b [1]byte
		_, err = unix.Read(in.fifo, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		break
	}
	// in.fifo stays open, close-on-exec: start watches it to learn when
	// the process has been executed.
	if s.Process == nil {
		return errors.New("config.json has no process to start")
	}
	if err := runHooks(in.rec, "startContainer", hooksOf(s, "startContainer"), in.hookState(specs.StateRunning)); err != nil {
		return err
	}
	return execProcess(s, exe, in.cfg.PreserveFDs, console, in.rec)
}

// joinV1Cgroups moves this thread, the one that will execve, into the
// container's v1 cgroups (cgroups.Manager.SelfJoinFiles), and says when
// it joined each, for the trace.
func joinV1Cgroups(tasks []string) ([]joined, error) {
	var done []joined
	for _, f := range tasks {
		if err := sysfile.Write(f, "0"); err != nil {
			return done, fmt.Errorf("join cgroup: %w", unwrapPath(err))
		}
		done = append(done, joined{file: f, at: time.Now()})
	}
	return done, nil
}

type joined struct {
	file string
	at   time.Time
}

// joinedCgroup waits, once, until the parent has put this process in its
// cgroup and run the createRuntime hooks. It happens before the first
// cgroup mount, or else after all mounts: as late as possible, because on
// cgroup v1 the parent may still be waiting for the kernel.
func (in *initProc) joinedCgroup() error {
	if in.joined {
		return nil
	}
	if err := in.send(msgHooks); err != nil {
		return err
	}
	if err := in.wait(msgContinue); err != nil {
		return err
	}
	in.joined = true
	return enterCgroupNS(in.cfg.CgroupNS, in.rec)
}

func (in *initProc) send(t string) error {
	if err := in.enc.Encode(syncMsg{Type: t}); err != nil {
		return fmt.Errorf("sync with parent: %w", err)
	}
	return nil
}

func (in *initProc) wait(t string) error {
	var m syncMsg
	if err := in.dec.Decode(&m); err != nil {
		return fmt.Errorf("sync with parent: %w", err)
	}
	if m.Type != t {
		return fmt.Errorf("sync with parent: got %q, want %q", m.Type, t)
	}
	return nil
}

func (in *initProc) hookState(st specs.ContainerState) specs.State {
	return specs.State{
		Version: specs.Version, ID: in.cfg.ID, Status: st, Pid: in.cfg.HostPid,
		Bundle: in.cfg.Bundle, Annotations: in.cfg.Spec.Annotations,
	}
}

// finishRootfs runs after pivot_root: masked and read-only paths, the
// propagation asked for, and a read-only root.
func (in *initProc) finishRootfs(f *fs, ownMountNS bool) error {
	l := in.cfg.Spec.Linux
	// runc's order: read-only paths, then masked ones.
	if err := f.readonlyPaths(l.ReadonlyPaths); err != nil {
		return err
	}
	if err := f.maskPaths(l.MaskedPaths); err != nil {
		return err
	}
	if p, ok := propagationOpts[l.RootfsPropagation]; ok && ownMountNS {
		if err := f.mount("", "/", "", p|unix.MS_REC, "", ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation: %w", err)
		}
	}
	if in.cfg.Spec.Root.Readonly {
		if err := f.readonlyRoot(); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}

// setupSystem sets hostname, domainname, sysctls and the session keyring.
func (in *initProc) setupSystem() error {
	s := in.cfg.Spec
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
		in.rec.Step("set the hostname", trace.Quote("hostname", s.Hostname))
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fmt.Errorf("domainname: %w", err)
		}
		in.rec.Step("set the domain name", trace.Quote("domainname", s.Domainname))
	}
	for k, v := range s.Linux.Sysctl {
		p := "/proc/sys/" + strings.ReplaceAll(k, ".", "/")
		if err := sysfile.Write(p, v); err != nil {
			return fmt.Errorf("linux.sysctl[%q]: the kernel refused %q: %w", k, v, unwrapPath(err))
		}
		in.rec.Step("set sysctl "+k, trace.Quote("sysctl", "-w", k+"="+v))
	}
	if !in.cfg.NoNewKeyring {
		// A session keyring of its own, so containers cannot read each
		// other's (or the host's) keys.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + in.cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("join session keyring: %w", err)
		}
		in.rec.Step("join a new session keyring", trace.Quote("keyctl", "session", "_ses."+in.cfg.ID))
	}
	return nil
}
