package runtime

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

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
	go func() { decoded <- readInitConfig(dec, &cfg) }()
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

func (in *initProc) run() error {
	return in.execute(in.cfg.Plan)
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
	return enterCgroupNS(in.cfg.CgroupNS, nil) // the plan records the step
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
