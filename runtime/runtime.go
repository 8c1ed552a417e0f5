package runtime

import (
	"os"
	"os/signal"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Runtime is the library's entry point: it owns what every operation shares
// (the state root, the cgroup driver, where warnings go), and does the
// choreography around the fork itself (the network namespace made ahead,
// signals caught where that delays nothing and forwarded to the container,
// the terminal or pipes relayed), so that a command only parses its flags
// and calls one method.
type Runtime struct {
	Root          string
	SystemdCgroup bool
	// Warn receives each warning (a problem that must not fail the
	// operation); nil writes them to stderr.
	Warn func(format string, args ...any)
}

// Load reads container id from the state root.
func (r *Runtime) Load(id string) (*Container, error) {
	c, err := Load(r.Root, id)
	if c != nil {
		c.warnTo = r.Warn
	}
	return c, err
}

func (r *Runtime) options(o CreateOptions) CreateOptions {
	o.Root, o.SystemdCgroup, o.warn = r.Root, r.SystemdCgroup, r.Warn
	return o
}

// Create sets up a container from its bundle and leaves its init waiting
// for start. It returns the init process: the caller that stays (qos lab)
// can wait for it; `create` simply exits and lets its caller's subreaper
// adopt it.
func (r *Runtime) Create(o CreateOptions) (*Container, *os.Process, error) {
	Prewarm()
	o = r.options(o)
	o.netns = prepareNetNS()
	return createContainer(o)
}

// Run is runc's run: create and start, and unless detached wait for the
// process, relaying its terminal or its pipes and forwarding the signals
// the runtime gets, then delete it. It returns the process's exit status
// (128+signal when killed). The runtime stays the init's parent, so it
// reaps it directly.
func (r *Runtime) Run(o CreateOptions, detach bool) (int, error) {
	Prewarm()
	o = r.options(o)
	o.netns = prepareNetNS()
	defer o.netns.end()
	fwd := forwardSignals(!detach)
	defer fwd.done()
	if err := validateNewID(o.ID); err != nil {
		return 0, err
	}
	b, err := LoadBundle(o.Bundle)
	if err != nil {
		return 0, err
	}
	o.loaded = b
	wantTTY := b.Spec.Process != nil && b.Spec.Process.Terminal
	relay, err := relayFor(o.ConsoleSocket == "" && wantTTY, detach, &o.ProcessIO)
	if err != nil {
		return 0, err
	}
	if relay != nil {
		defer relay.close()
	}
	var pipes *pipeRelay
	if relay == nil && !detach && o.ConsoleSocket == "" {
		if pipes, err = newPipeRelay(&o.ProcessIO); err != nil {
			return 0, err
		}
		defer pipes.started()
	}
	o.beforeFork, o.idle = fwd.waitUsual, fwd.catchRest
	// Without a terminal to relay, nothing stands between create and start
	// here but prestart and poststart hooks, which create checks; every
	// signal is caught before the process starts.
	o.startAtOnce, o.beforeStart = relay == nil, fwd.wait
	c, proc, err := createContainer(o)
	if err != nil {
		return 0, err
	}
	if pipes != nil {
		pipes.started()
	}
	var ttyDone <-chan struct{}
	if relay != nil {
		if err := relay.receive(); err != nil {
			c.Delete(true, o.Trace)
			return 0, err
		}
		ttyDone = relay.attach()
	}
	fwd.wait()
	if err := c.Start(o.Trace); err != nil {
		c.Delete(true, o.Trace)
		return 0, err
	}
	if detach {
		return 0, nil
	}
	st := waitForwarding(proc, fwd.sigs)
	if ttyDone != nil {
		<-ttyDone
	}
	if pipes != nil {
		pipes.drain()
	}
	if err := c.Delete(true, o.Trace); err != nil {
		return 0, err
	}
	return exitStatus(st), nil
}

// Exec starts p in container c and, unless detached, waits for it with its
// terminal relayed and the runtime's signals forwarded, returning its exit
// status.
func (r *Runtime) Exec(c *Container, p *specs.Process, o ProcessIO, detach bool) (int, error) {
	Prewarm()
	c.warnTo = r.Warn
	fwd := forwardSignals(!detach)
	fwd.catchRest()
	defer fwd.done()
	relay, err := relayFor(p.Terminal, detach, &o)
	if err != nil {
		return 0, err
	}
	if relay != nil {
		defer relay.close()
	}
	fwd.wait()
	proc, err := c.Exec(p, o)
	if err != nil || detach {
		return 0, err
	}
	var ttyDone <-chan struct{}
	if relay != nil {
		if err := relay.receive(); err != nil {
			proc.Kill()
			proc.Wait()
			return 0, err
		}
		ttyDone = relay.attach()
	}
	st := waitForwarding(proc, fwd.sigs)
	if ttyDone != nil {
		<-ttyDone
	}
	return exitStatus(st), nil
}

// signalForwarder catches every signal the runtime gets, so that they can
// be passed to the container's process instead of ending the runtime.
// Catching a signal costs a handoff to the runtime's signal thread, tens of
// microseconds each and about 2 ms for all 64, so it happens in the
// background: first the usual ones (those a shell, a terminal or a process
// manager sends; usual closes then), and when catchRest is called the rest
// (ready closes then).
type signalForwarder struct {
	sigs         chan os.Signal // nil when not forwarding
	usual, ready chan struct{}
	restOnce     sync.Once
}

var usualSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

func forwardSignals(on bool) *signalForwarder {
	f := &signalForwarder{usual: make(chan struct{}), ready: make(chan struct{})}
	if !on {
		close(f.usual)
		close(f.ready)
		f.restOnce.Do(func() {})
		return f
	}
	f.sigs = make(chan os.Signal, 16)
	go func() {
		signal.Notify(f.sigs, usualSignals...)
		close(f.usual)
	}()
	return f
}

// catchRest starts catching every other signal, in the background.
func (f *signalForwarder) catchRest() {
	f.restOnce.Do(func() {
		go func() {
			<-f.usual
			signal.Notify(f.sigs)
			close(f.ready)
		}()
	})
}

// waitUsual returns once the usual signals are caught: call it before the
// container's init exists, so that a ^C or a TERM from then on reaches the
// container instead of orphaning it.
func (f *signalForwarder) waitUsual() { <-f.usual }

// wait returns once every signal is caught: call it before the container's
// process starts, so that none meant for it is lost.
func (f *signalForwarder) wait() {
	f.catchRest()
	<-f.ready
}

// done is called when the container's process is gone and the command is
// about to exit. The signals stay caught, and are dropped from now on: a
// TERM during the final delete must not cut it short, and undoing the
// catching would cost the same handoff per signal again, for nothing.
func (f *signalForwarder) done() {
	f.wait()
}

// waitForwarding waits for proc, passing on every signal the runtime gets
// except those that concern the runtime itself.
func waitForwarding(proc *os.Process, sigs chan os.Signal) *os.ProcessState {
	// The wait happens here and the forwarding beside it, so that the exit
	// reaches the caller without a hop between goroutines.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case s := <-sigs:
				switch s {
				case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, unix.SIGWINCH:
					continue
				}
				proc.Signal(s)
			}
		}
	}()
	st, _ := proc.Wait()
	return st
}

// exitStatus is the shell's convention: the status, or 128+signal.
func exitStatus(st *os.ProcessState) int {
	if st == nil {
		return 255
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}
