package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type createFlags struct {
	bundle, pidFile, consoleSocket string
	noPivot, noNewKeyring          bool
	preserveFDs                    int
	nets, ports                    []string
	pod                            string
}

func (cf *createFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVarP(&cf.bundle, "bundle", "b", ".", "path to the bundle (config.json and rootfs)")
	f.StringVar(&cf.pidFile, "pid-file", "", "write the init's host pid to this file")
	f.StringVar(&cf.consoleSocket, "console-socket", "", "unix socket that receives the terminal's master fd")
	f.BoolVar(&cf.noPivot, "no-pivot", false, "use MS_MOVE and chroot instead of pivot_root (rootfs on a ramfs)")
	f.BoolVar(&cf.noNewKeyring, "no-new-keyring", false, "keep the caller's session keyring")
	f.IntVar(&cf.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio (3, 4, ...) to the container")
	f.StringArrayVar(&cf.nets, "net", nil, "join this network (repeatable; writes the miniruntime.network annotation)")
	f.StringArrayVarP(&cf.ports, "publish", "p", nil, "publish [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp] (writes miniruntime.ports)")
	f.StringVar(&cf.pod, "pod", "", "join this pod's network, IPC and UTS namespaces (miniruntime pod create)")
}

func (cf *createFlags) options(id, who string) runtime.CreateOptions {
	return runtime.CreateOptions{
		ProcessIO: runtime.ProcessIO{
			PidFile: cf.pidFile, ConsoleSocket: cf.consoleSocket, PreserveFDs: cf.preserveFDs,
			Trace: g.recorder(who),
		},
		ID: id, Bundle: cf.bundle, NoPivot: cf.noPivot, NoNewKeyring: cf.noNewKeyring,
		Networks: cf.nets, Ports: cf.ports, Pod: cf.pod,
	}
}

func createCmd() *cobra.Command {
	var cf createFlags
	c := &cobra.Command{
		Use:   "create [flags] ID",
		Short: "Create a container from a bundle; its process waits for start",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, err := g.runtime().Create(cf.options(args[0], "create"))
			return err
		},
	}
	cf.register(c)
	return idCmd(c)
}

func startCmd() *cobra.Command {
	return idCmd(&cobra.Command{
		Use:   "start ID",
		Short: "Start the process of a created container",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			return c.Start(g.recorder("start"))
		},
	})
}

func stateCmd() *cobra.Command {
	return idCmd(&cobra.Command{
		Use:   "state ID",
		Short: "Print the OCI state of a container as JSON",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			return printJSON(c.State())
		},
	})
}

func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(b, '\n'))
	return err
}

func killCmd() *cobra.Command {
	var all bool
	c := &cobra.Command{
		Use:   "kill [--all] ID [SIGNAL]",
		Short: "Send a signal (default TERM) to a container's init, or with --all to all its processes",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("requires a container id and an optional signal, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = parseSignal(args[1]); err != nil {
					return err
				}
			}
			c, err := g.runtime().Load(args[0])
			if err != nil {
				return err
			}
			return c.Kill(sig, all, g.recorder("kill"))
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "signal every process in the container's cgroup")
	return idCmd(c)
}

// parseSignal accepts 9, KILL, SIGKILL and kill.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %q is out of range", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func deleteCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "delete [-f] ID",
		Short: "Delete a stopped container (with --force, kill it first)",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.runtime().Load(args[0])
			if err != nil {
				if force && errors.Is(err, runtime.ErrNotExist) {
					// containerd and podman delete --force redundantly;
					// a run --image killed before create left only its
					// rootfs.
					return releaseImageBundle(args[0])
				}
				return err
			}
			if err := c.Delete(force, g.recorder("delete")); err != nil {
				return err
			}
			return releaseImageBundle(args[0])
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "kill the container if it is still running")
	return idCmd(c)
}
