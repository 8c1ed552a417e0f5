package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// globals are runc's global flags plus --trace.
type globals struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
	trace         bool

	logFile *os.File
}

var g globals

// exitError carries an exit status other than 1 (run returns the
// container process's status) without printing anything.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "miniruntime",
		Short:         "A small OCI container runtime that shows what it does",
		Version:       version,
		SilenceErrors: true,
		SilenceUsage:  true,
		// An OCI runtime's global flags come before the command; cobra
		// accepts them anywhere, which is a superset.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return g.setup() },
	}
	root.SetVersionTemplate("miniruntime version {{.Version}}\nspec: " + specVersion() + "\n")
	f := root.PersistentFlags()
	f.StringVar(&g.root, "root", "/run/miniruntime", "directory for container state")
	f.StringVar(&g.log, "log", "", "append errors (and with --debug, trace steps) to this file")
	f.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	f.BoolVar(&g.debug, "debug", false, "log trace steps at debug level")
	f.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "make each container's cgroup a transient systemd unit (linux.cgroupsPath is slice:prefix:name; see docs/cgroup-driver.md)")
	f.BoolVar(&g.trace, "trace", false, "print every kernel-facing step with its shell equivalent on stderr")
	root.AddCommand(createCmd(), startCmd(), stateCmd(), killCmd(), deleteCmd(), runCmd(), listCmd(), specCmd(), bundleCmd(),
		execCmd(), pauseCmd(), resumeCmd(), psCmd(), updateCmd(), eventsCmd(), featuresCmd(), networkCmd())
	root.AddCommand(qosCmd())
	root.AddCommand(podCmd())
	root.AddCommand(imageCmds()...)
	root.AddCommand(explainCmd(), topCmd(), planCmd())
	return root
}

func (g *globals) setup() error {
	switch g.logFormat {
	case "text", "json":
	default:
		return fmt.Errorf("--log-format: %q is not text or json", g.logFormat)
	}
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_SYNC, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", g.log, err)
		}
		g.logFile = f
	}
	// --systemd-cgroup matters to create and run, which make the cgroup: on
	// a host without systemd they refuse it (cgroups.Begin). The other
	// commands read the driver from the container's state, so containerd,
	// which passes the flag to every command, can still delete a container
	// whose create failed.
	return nil
}

// runtime is the library with the global flags: the state root, the
// cgroup driver, and warnings on stderr and in --log.
func (g *globals) runtime() *runtime.Runtime {
	return &runtime.Runtime{Root: g.root, SystemdCgroup: g.systemdCgroup, Warn: g.warn}
}

func (g *globals) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(os.Stderr, "miniruntime: warning:", msg)
	g.writeLog("warning", msg)
}

// recorder returns the trace recorder for a command, or nil when off.
func (g *globals) recorder(who string) *trace.Recorder {
	switch {
	case g.trace:
		return trace.Stderr(who)
	case g.debug && g.logFile != nil:
		return trace.New(&trace.Log{F: g.logFile, Format: g.logFormat}, who)
	}
	return nil
}

// writeLog appends one entry to --log.
func (g *globals) writeLog(level, msg string) {
	if g.logFile != nil {
		(&trace.Log{F: g.logFile, Format: g.logFormat}).Entry(level, msg)
	}
}

func execute(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	msg := "miniruntime"
	if cmd != nil && cmd != root {
		msg = cmd.CommandPath() // "miniruntime network create"
		if id := idArg(cmd); id != "" {
			// Quoted when it holds anything that would not print as
			// itself (a newline would split the message): one line.
			if q := strconv.Quote(id); q[1:len(q)-1] != id {
				id = q
			}
			msg += " " + id
		}
	}
	msg += ": " + err.Error()
	fmt.Fprintln(os.Stderr, msg)
	g.writeLog("error", msg)
	return 1
}

// idArg is the container id a failed command was given, for the error line.
func idArg(cmd *cobra.Command) string {
	if a := cmd.Flags().Args(); len(a) > 0 && cmd.Annotations["id"] == "first" {
		return a[0]
	}
	return ""
}

// idCmd marks a command whose first argument is a container id.
func idCmd(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations["id"] = "first"
	return c
}

func exactID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("requires exactly one container id, got %d arguments", len(args))
	}
	return nil
}
