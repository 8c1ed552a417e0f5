package main

import (
	"os"
	"os/signal"
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
	// Take signals before the init exists, so none is lost in between.
	sigs := make(chan os.Signal, 16)
	if !detach {
		signal.Notify(sigs)
		defer signal.Stop(sigs)
	}
	c, proc, err := runtime.Create(o)
	if err != nil {
		return 0, err
	}
	if err := c.Start(o.Trace); err != nil {
		c.Delete(true, o.Trace)
		return 0, err
	}
	if detach {
		return 0, nil
	}
	done := make(chan *os.ProcessState, 1)
	go func() {
		st, _ := proc.Wait()
		done <- st
	}()
	var st *os.ProcessState
	for st == nil {
		select {
		case st = <-done:
		case s := <-sigs:
			if s == unix.SIGCHLD || s == unix.SIGURG || s == unix.SIGPIPE {
				continue
			}
			proc.Signal(s)
		}
	}
	if err := c.Delete(true, o.Trace); err != nil {
		return 0, err
	}
	return exitStatus(st), nil
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
