package main

import (
	"fmt"
	"os"

	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
)

func planCmd() *cobra.Command {
	var (
		cf     createFlags
		format string
	)
	c := &cobra.Command{
		Use:   "plan [-b DIR] [--format text|json] [ID]",
		Short: "Print what create would do to the kernel, step by step, without doing it",
		Long: `plan reads a bundle, prepares and checks it as create would, and prints the
plan it compiles to: the runtime's own steps (state dir, cgroup and limits,
the fork into new namespaces, networks, hooks) around the ordered steps the
container's init takes (each mount with its resolved flags, devices,
pivot_root, sysctls, read-only and masked paths, then the process's user,
capabilities, no_new_privs, seccomp, rlimits and AppArmor down to execve),
each with the shell command that would do the same. The init executes exactly
this list. Nothing runs, and no root is needed. See docs/plan.md.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return fmt.Errorf("--format: %q is not text or json", format)
			}
			id := "ID"
			if len(args) == 1 {
				id = args[0]
				if err := runtime.ValidateID(id); err != nil {
					return err
				}
			}
			p, err := runtime.CompilePlan(runtime.PlanRequest{
				Bundle: cf.bundle, ID: id, NoPivot: cf.noPivot, NoNewKeyring: cf.noNewKeyring,
				SystemdCgroup: g.systemdCgroup, Networks: cf.nets, Ports: cf.ports,
			})
			if err != nil {
				return err
			}
			if format == "json" {
				return printJSON(p)
			}
			_, err = os.Stdout.WriteString(p.String())
			return err
		},
	}
	f := c.Flags()
	f.StringVarP(&cf.bundle, "bundle", "b", ".", "path to the bundle (config.json and rootfs)")
	f.BoolVar(&cf.noPivot, "no-pivot", false, "as create --no-pivot")
	f.BoolVar(&cf.noNewKeyring, "no-new-keyring", false, "as create --no-new-keyring")
	f.StringArrayVar(&cf.nets, "net", nil, "as create --net")
	f.StringArrayVarP(&cf.ports, "publish", "p", nil, "as create -p")
	f.StringVarP(&format, "format", "f", "text", "text or json")
	return c
}
