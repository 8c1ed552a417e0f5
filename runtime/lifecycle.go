package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Spec returns the config frozen into the state dir at create.
//
// Within one command it is read once: run's start and delete reuse what
// create parsed.
func (c *Container) Spec() (*specs.Spec, error) {
	if c.spec != nil {
		return c.spec, nil
	}
	raw, err := os.ReadFile(filepath.Join(c.dir, configFile))
	if err != nil {
		return nil, fmt.Errorf("read frozen config: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("read frozen config: %w", err)
	}
	c.spec = &s
	return &s, nil
}

func (c *Container) cgroup(rec *trace.Recorder) (*cgroups.Manager, error) {
	return cgroups.Load(c.CgroupPath, cgroups.Options{Recorder: rec, Unit: c.SystemdUnit, Warn: c.warnLine})
}

func frozen(c *Container) bool {
	if c.CgroupPath == "" {
		return false
	}
	cg, err := c.cgroup(nil)
	if err != nil {
		return false
	}
	f, err := cg.Frozen()
	return err == nil && f
}

// Start runs the prestart hooks, releases the init of a created container
// to exec the user process, waits until it has, then runs the poststart
// hooks. A failing prestart hook destroys the container, as the spec says.
func (c *Container) Start(rec *trace.Recorder) error {
	if c.started {
		return nil // create started it already (CreateOptions.StartAtOnce)
	}
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	st := c.Status()
	if !st.CanStart() {
		if st == Stopped {
			return fmt.Errorf("cannot start a container that has stopped")
		}
		return fmt.Errorf("cannot start an already %s container", st)
	}
	spec, err := c.Spec()
	if err != nil {
		return err
	}
	if spec.Process == nil {
		// Such a container can never run: stop its init, so that it
		// reads as stopped and can be deleted.
		c.killAll(rec)
		return errors.New("config.json has no process to start; the container is now stopped")
	}
	state := c.State().State
	if err := runHooks(rec, "prestart", hooksOf(spec, "prestart"), state); err != nil {
		if derr := c.destroy(spec, rec); derr != nil {
			return fmt.Errorf("%w (and destroying the container failed: %v)", err, derr)
		}
		return err
	}
	// O_NONBLOCK: if the init has died in the meantime there is no reader
	// and open fails with ENXIO instead of hanging.
	w, err := unix.Open(c.fifoPath(), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("cannot start a container that has stopped")
		}
		return fmt.Errorf("open exec fifo: %w", err)
	}
	// A reader of our own, to learn when the init has exec'd: the init
	// holds the FIFO open (close-on-exec) until then.
	r, err := unix.Open(c.fifoPath(), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(w)
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(r)
	_, err = unix.Write(w, []byte{0})
	unix.Close(w)
	if err != nil {
		return fmt.Errorf("write exec fifo: %w", err)
	}
	rec.Step("release the init: it execs the process", "echo > "+c.fifoPath())
	// With the FIFO gone the status reads "running" from now on.
	os.Remove(c.fifoPath())
	waitExec(r)
	state.Status = specs.StateRunning
	if post := hooksOf(spec, "poststart"); len(post) > 0 {
		settle(c.Pid, 50*time.Millisecond)
		runHooksWarn(rec, c.warn, "poststart", post, state)
	}
	return nil
}

// settle gives a process that has just been executed its first run: it
// waits until the process sleeps, stops or exits, at most max. poststart
// hooks then see a process that has really begun (and the OCI validation
// suite checks that the process's first output comes before the hook's).
func settle(pid int, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		st, _, err := procStat(pid)
		if err != nil || st != 'R' {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// waitExec waits, bounded, until the init has closed its end of the exec
// FIFO, which happens when it execs the user process (or dies).
func waitExec(r int) {
	deadline := time.Now().Add(10 * time.Second)
	fds := []unix.PollFd{{Fd: int32(r), Events: unix.POLLIN}}
	for time.Now().Before(deadline) {
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return
		}
		if n > 0 && fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return
		}
		if n > 0 {
			// The init has not read the start byte yet.
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// warnStderr is where warnings go when no Runtime says otherwise.
func warnStderr(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "miniruntime: warning: "+format+"\n", args...)
}

// warn reports a problem that the spec says must not fail the operation,
// to the Runtime's sink (--log too, from the command line) or stderr.
func (c *Container) warn(format string, args ...any) {
	if c.warnTo != nil {
		c.warnTo(format, args...)
		return
	}
	warnStderr(format, args...)
}

// warnLine is warn for a line already written, as the cgroups package
// gives them.
func (c *Container) warnLine(s string) { c.warn("%s", s) }

// Kill sends sig to the init, or with all to every process in the
// container's cgroup.
func (c *Container) Kill(sig unix.Signal, all bool, rec *trace.Recorder) error {
	st := c.Status()
	if !st.CanKill() {
		return ErrNotRunning
	}
	if all {
		cg, err := c.cgroup(rec)
		if err != nil {
			return err
		}
		return cg.Signal(sig)
	}
	if err := unix.Kill(c.Pid, sig); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return ErrNotRunning
		}
		return fmt.Errorf("kill %d: %w", c.Pid, err)
	}
	rec.Step("signal the init", fmt.Sprintf("kill -%d %d", sig, c.Pid))
	return nil
}

// Delete removes a stopped container (or, with force, any container after
// killing it): its processes, cgroup and state dir, then runs the poststop
// hooks.
func (c *Container) Delete(force bool, rec *trace.Recorder) error {
	unlock, err := c.lock()
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			return nil // removed concurrently
		}
		return err
	}
	defer unlock()
	if st := c.Status(); !st.CanDelete() && !force {
		return fmt.Errorf("cannot delete container %s that is not stopped: %s", c.ID, st)
	}
	spec, err := c.Spec()
	if err != nil {
		spec = nil // a broken state dir must still be removable
	}
	return c.destroy(spec, rec)
}

// destroy kills whatever is left, removes the cgroup, host mounts and the
// state dir, and runs the poststop hooks (which need a nil-safe spec).
func (c *Container) destroy(spec *specs.Spec, rec *trace.Recorder) error {
	if c.initAlive() {
		if err := c.killAll(rec); err != nil {
			return err
		}
	}
	if c.CgroupPath != "" {
		cg, err := c.cgroup(rec)
		if err == nil {
			// Without a pid namespace of its own, children of the init
			// survive it; they go with the cgroup.
			err = cg.Delete()
		}
		if err != nil {
			return fmt.Errorf("remove cgroup %s: %w", c.CgroupPath, err)
		}
	}
	if c.HostMounts && c.Rootfs != "" {
		if err := unmountUnder(c.Rootfs, rec); err != nil {
			return err
		}
	}
	if err := c.detachNetworks(rec); err != nil {
		return fmt.Errorf("release networks: %w", err)
	}
	if c.Creating {
		removePidFile(c.PidFile, c.Pid)
	}
	state := c.State().State
	state.Status = specs.StateStopped
	if err := removeStateDir(c.dir); err != nil {
		return err
	}
	rec.Step("remove the state dir", trace.Quote("rm", "-rf", c.dir))
	if spec != nil {
		runHooksWarn(rec, c.warn, "poststop", hooksOf(spec, "poststop"), state)
	}
	return nil
}

// removeStateDir removes the state dir with its record last, so that a
// delete killed half way leaves the record (and delete can begin again) or
// an empty dir (which Load still reads as a stopped container), never files
// without it.
func removeStateDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state dir %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.Name() == stateFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("remove state dir %s: %w", dir, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state dir %s: %w", dir, err)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state dir %s: %w", dir, err)
	}
	return nil
}

// killAll SIGKILLs the init (and through the cgroup everything else) and
// waits, bounded, until the init is gone.
func (c *Container) killAll(rec *trace.Recorder) error {
	if c.CgroupPath != "" {
		if cg, err := c.cgroup(rec); err == nil {
			cg.Signal(unix.SIGKILL)
		}
	}
	unix.Kill(c.Pid, unix.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for c.initAlive() {
		if time.Now().After(deadline) {
			return fmt.Errorf("container init %d did not die after SIGKILL", c.Pid)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// unmountUnder detaches every mount at or below dir, deepest first. It is
// for containers without a mount namespace, whose mounts were made in the
// caller's.
func unmountUnder(dir string, rec *trace.Recorder) error {
	mps, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, mp := range mps {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("umount %s: %w", mp, err)
		}
		rec.Step("remove a mount the container made in the host namespace", trace.Quote("umount", "-l", mp))
	}
	return nil
}
