package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/miniruntime/miniruntime/inspect"
	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
)

func explainCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "explain [--format text|json] ID",
		Short: "The anatomy of a live container, read from the kernel, each fact beside its source",
		Long: `explain reads a running (or created, or paused) container from the kernel at
the moment of the call: its namespaces beside the host's, its cgroup with every
limit next to the usage it bounds and the pressure the kernel measures, its
QoS class, its rootfs and mounts with the masked and read-only paths, the init
process's user, capabilities, no_new_privs, seccomp, AppArmor, rlimits and
oom_score_adj, and its network: both ends of the veth pair, the bridge,
addresses, routes, published ports and the nftables rules that carry them.
Each fact is followed by the file or command it came from. See docs/explain.md.`,
		Args: exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format: %q is not text or json", format)
			}
			a, err := explain(g.root, args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(a)
			}
			return a.WriteText(os.Stdout)
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "text or json")
	return idCmd(c)
}

// explain reads container id's anatomy, or says in one line why there is
// nothing live to read.
func explain(root, id string) (*inspect.Anatomy, error) {
	c, err := runtime.Load(root, id)
	if err != nil {
		return nil, err
	}
	st := c.Status()
	if st == runtime.Stopped {
		return nil, fmt.Errorf("container %s is stopped: there is no live process to explain (remove it with `miniruntime delete %s`)", id, id)
	}
	a, err := inspect.Explain(targetOf(c, st))
	if errors.Is(err, inspect.ErrGone) {
		return nil, fmt.Errorf("container %s stopped while it was being read", id)
	}
	return a, err
}

// targetOf is what inspect needs of a container's state.
func targetOf(c *runtime.Container, st runtime.Status) inspect.Target {
	t := inspect.Target{
		ID: c.ID, Status: string(st), Pid: c.Pid, Bundle: c.Bundle, Rootfs: c.Rootfs, Created: c.Created,
		StateDir: c.Dir(), CgroupPath: c.CgroupPath, SystemdUnit: c.SystemdUnit, Networks: c.Networks,
	}
	if s, err := c.Spec(); err == nil {
		t.Spec = s
	}
	return t
}
