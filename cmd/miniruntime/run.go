package main

import (
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func runCmd() *cobra.Command {
	var cf createFlags
	var detach bool
	c := &cobra.Command{
		Use:   "run [flags] ID",
		Short: "Create and start a container, wait for it, delete it, and exit with its status",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := run(cf.options(args[0], "run"), detach)
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
	return idCmd(c)
}

// run is create + start + wait. The runtime stays the init's parent, so it
// reaps it directly and forwards the signals it receives to it.
func run(o runtime.CreateOptions, detach bool) (int, error) {
	relay, err := relayFor(o.ConsoleSocket == "" && wantsTerminal(o.Bundle), detach, &o.ProcessIO)
	if err != nil {
		return 0, err
	}
	if relay != nil {
		defer relay.close()
	}
	// Take signals before the init exists, so none is lost in between.
	sigs := forwardSignals(!detach)
	defer stopForwarding(sigs)
	c, proc, err := runtime.Create(o)
	if err != nil {
		return 0, err
	}
	var ttyDone <-chan struct{}
	if relay != nil {
		if err := relay.receive(); err != nil {
			c.Delete(true, o.Trace)
			return 0, err
		}
		ttyDone = relay.attach()
	}
	if err := c.Start(o.Trace); err != nil {
		c.Delete(true, o.Trace)
		return 0, err
	}
	if detach {
		return 0, nil
	}
	st := waitForwarding(proc, sigs)
	if ttyDone != nil {
		<-ttyDone
	}
	if err := c.Delete(true, o.Trace); err != nil {
		return 0, err
	}
	return exitStatus(st), nil
}

// wantsTerminal peeks at process.terminal in the bundle's config.json; a
// full parse and validation follows in Create.
func wantsTerminal(bundle string) bool {
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return false
	}
	var peek struct {
		Process *struct {
			Terminal bool `json:"terminal"`
		} `json:"process"`
	}
	return json.Unmarshal(raw, &peek) == nil && peek.Process != nil && peek.Process.Terminal
}

// forwardSignals starts catching every signal (when on), so that they can
// be passed to the container's process instead of ending the runtime.
func forwardSignals(on bool) chan os.Signal {
	if !on {
		return nil
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs)
	return sigs
}

func stopForwarding(sigs chan os.Signal) {
	if sigs != nil {
		signal.Stop(sigs)
	}
}

// waitForwarding waits for proc, passing on every signal the runtime gets
// except those that concern the runtime itself.
func waitForwarding(proc *os.Process, sigs chan os.Signal) *os.ProcessState {
	done := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := proc.Wait()
		done <- st
	}()
	for {
		select {
		case st := <-done:
			return st
		case s := <-sigs:
			switch s {
			case unix.SIGCHLD, unix.SIGURG, unix.SIGPIPE, unix.SIGWINCH:
				continue
			}
			proc.Signal(s)
		}
	}
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
