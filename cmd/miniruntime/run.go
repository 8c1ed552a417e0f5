package main

import (
	"errors"

	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
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

// run is create + start + wait + delete, through the library.
func run(o runtime.CreateOptions, detach bool) (int, error) {
	return g.runtime().Run(o, detach)
}
