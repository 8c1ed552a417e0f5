package main

import (
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func runCmd() *cobra.Command {
	var cf createFlags
	var detach bool
	var img imageFlags
	c := &cobra.Command{
		Use:   "run [flags] [ID] | run --image REF [flags] [ID] [-- CMD...]",
		Short: "Create and start a container, wait for it, delete it, and exit with its status",
		Long: `run is runc's run: create and start the container ID from a bundle, wait for
it, delete it, and exit with its status.

Without an ID (and without --bundle) it starts a sandbox from the built-in
busybox image, with no download: an interactive shell on a terminal, the demo
command otherwise. The sandbox gets a generated id and is removed, bundle and
all, when it exits.

With --image REF it runs an image (pulled when missing): its layers are
mounted as an overlay with an upper dir of the container's own, the
image's Entrypoint and Cmd run (CMD after -- replaces Cmd), and the mount
is removed when the container is (docs/images.md).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if img.ref != "" {
				return nil // runImage checks: [ID] [-- CMD...]
			}
			return cobra.MaximumNArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if img.ref != "" {
				return runImage(cmd, args, &cf, &img, detach)
			}
			var o runtime.CreateOptions
			if len(args) == 0 {
				if cmd.Flags().Changed("bundle") {
					return errors.New("--bundle needs a container id: run [flags] ID")
				}
				sb, err := newSandbox()
				if err != nil {
					return err
				}
				defer sb.remove()
				cf.bundle = sb.bundle
				o = cf.options(sb.id, "run")
			} else {
				o = cf.options(args[0], "run")
			}
			code, err := run(o, detach)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	cf.register(c)
	c.Flags().BoolVarP(&detach, "detach", "d", false, "return once the process has started")
	img.register(c, false)
	return idCmd(c)
}

// run is create + start + wait. The runtime stays the init's parent, so it
// reaps it directly and forwards the signals it receives to it.
func run(o runtime.CreateOptions, detach bool) (int, error) {
	runtime.Prewarm()
	runtime.PrepareNetNS()
	fwd := forwardSignals(!detach)
	defer fwd.done()
	if err := runtime.ValidateID(o.ID); err != nil {
		return 0, err
	}
	b, err := runtime.LoadBundle(o.Bundle)
	if err != nil {
		return 0, err
	}
	o.Loaded = b
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
	o.BeforeFork, o.Idle = fwd.waitUsual, fwd.catchRest
	// Without a terminal to relay, nothing stands between create and start
	// here but prestart and poststart hooks, which Create checks; every
	// signal is caught before the process starts.
	o.StartAtOnce, o.BeforeStart = relay == nil, fwd.wait
	c, proc, err := runtime.Create(o)
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
