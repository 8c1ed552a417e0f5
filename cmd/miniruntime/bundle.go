package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/miniruntime/miniruntime/images"
	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
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
	var img imageFlags
	c := &cobra.Command{
		Use:   "bundle [-b DIR] [--image REF [--copy]] [-- COMMAND ARGS...]",
		Short: "Make a bundle from the built-in busybox image (no download) or an image: DIR/rootfs and DIR/config.json",
		Long: `bundle makes DIR/config.json and DIR/rootfs from the built-in busybox image
(the host's busybox-static, no download), or with --image REF from an image,
pulled when missing. An image's rootfs is an overlay mount of its layers,
until miniruntime image umount DIR; with --copy it is a plain copy.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := filepath.Join(dir, "config.json")
			if _, err := os.Stat(cfg); err == nil {
				return fmt.Errorf("%s already exists; remove it first", cfg)
			}
			if img.ref != "" {
				return bundleImage(dir, args, &img)
			}
			return writeBusyboxBundle(dir, args, false)
		},
	}
	c.Flags().StringVarP(&dir, "bundle", "b", ".", "directory for the bundle")
	img.register(c, true)
	return c
}

// writeBusyboxBundle makes a bundle in dir from the built-in busybox image
// that runs args, or the demo script when there are none; with terminal,
// the process gets a terminal.
func writeBusyboxBundle(dir string, args []string, terminal bool) error {
	if err := images.Busybox(filepath.Join(dir, "rootfs")); err != nil {
		return err
	}
	spec := runtime.DefaultSpec()
	spec.Hostname = "miniruntime"
	spec.Process.Terminal = terminal
	spec.Process.Args = []string{"sh", "-c", demoScript}
	if len(args) > 0 {
		spec.Process.Args = args
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), append(b, '\n'), 0o644)
}

// sandbox is what `run` with no id starts: a throwaway bundle from the
// built-in image, under a generated id.
type sandbox struct {
	id, bundle string
}

func newSandbox() (*sandbox, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	id := "sandbox-" + hex.EncodeToString(b[:])
	dir, err := os.MkdirTemp("", "miniruntime-"+id+"-")
	if err != nil {
		return nil, err
	}
	// A shell where a person can type into it; the demo command where
	// nobody can (a pipe, a script, CI).
	tty := isTerminal(os.Stdin) && isTerminal(os.Stdout)
	var args []string
	if tty {
		args = []string{"sh"}
		fmt.Fprintf(os.Stderr, "miniruntime: sandbox %s from the built-in busybox image; leave the shell to remove it\n", id)
	}
	if err := writeBusyboxBundle(dir, args, tty); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &sandbox{id: id, bundle: dir}, nil
}

func (s *sandbox) remove() { os.RemoveAll(s.bundle) }

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
