package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/miniruntime/miniruntime/images"
	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
)

// demoScript is what a bundle runs when no command is given: it shows the
// learner what the runtime just built.
const demoScript = `echo "hostname:   $(hostname)"
echo "pid:        $$ (pid 1 is the container process itself)"
echo "user:       $(id)"
echo "namespaces:"; ls -l /proc/self/ns | awk 'NR>1 {print "  " $9 " " $11}'
echo "cgroup:"; sed 's/^/  /' /proc/self/cgroup
echo "mounts:"; awk '{print "  " $2 " (" $1 ")"}' /proc/self/mounts
echo "capabilities: $(grep CapEff /proc/self/status)"`

func bundleCmd() *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "bundle [-b DIR] [-- COMMAND ARGS...]",
		Short: "Make a bundle from the built-in busybox image (no download): DIR/rootfs and DIR/config.json",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := filepath.Join(dir, "config.json")
			if _, err := os.Stat(cfg); err == nil {
				return fmt.Errorf("%s already exists; remove it first", cfg)
			}
			if err := images.Busybox(filepath.Join(dir, "rootfs")); err != nil {
				return err
			}
			spec := runtime.DefaultSpec()
			spec.Hostname = "miniruntime"
			spec.Process.Terminal = false
			spec.Process.Args = []string{"sh", "-c", demoScript}
			if len(args) > 0 {
				spec.Process.Args = args
			}
			b, err := json.MarshalIndent(spec, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(cfg, append(b, '\n'), 0o644)
		},
	}
	c.Flags().StringVarP(&dir, "bundle", "b", ".", "directory for the bundle")
	return c
}
