package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

type execFlags struct {
	process, cwd, user, consoleSocket, pidFile, apparmor, label string
	env, caps                                                   []string
	additionalGids                                              []uint
	tty, detach, noNewPrivs                                     bool
	preserveFDs                                                 int
}

func execCmd() *cobra.Command {
	var x execFlags
	c := &cobra.Command{
		Use:   "exec [flags] ID [COMMAND [ARGS...]]",
		Short: "Run another process in a running container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			p, err := x.buildProcess(c, args[1:])
			if err != nil {
				return err
			}
			code, err := runExec(c, p, x)
			if err != nil {
				return err
			}
			if code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	f := c.Flags()
	f.SetInterspersed(false) // flags after the command belong to it
	f.StringVarP(&x.process, "process", "p", "", "process.json (a runtime-spec process) to run")
	f.StringVar(&x.cwd, "cwd", "", "working directory inside the container")
	f.StringArrayVarP(&x.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	f.StringVarP(&x.user, "user", "u", "", "UID[:GID] to run as")
	f.UintSliceVarP(&x.additionalGids, "additional-gids", "g", nil, "additional group ids")
	f.StringArrayVarP(&x.caps, "cap", "c", nil, "add a capability (CAP_NET_ADMIN)")
	f.BoolVarP(&x.tty, "tty", "t", false, "allocate a terminal")
	f.StringVar(&x.consoleSocket, "console-socket", "", "unix socket that receives the terminal's master fd")
	f.BoolVarP(&x.detach, "detach", "d", false, "return once the process has started")
	f.StringVar(&x.pidFile, "pid-file", "", "write the process's host pid to this file")
	f.BoolVar(&x.noNewPrivs, "no-new-privs", false, "set no_new_privs")
	f.StringVar(&x.apparmor, "apparmor", "", "AppArmor profile")
	f.StringVar(&x.label, "process-label", "", "SELinux label")
	f.IntVar(&x.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio to the process")
	return idCmd(c)
}

// buildProcess is --process's document, or the container's own process
// with the command line's changes, as runc does.
func (x *execFlags) buildProcess(c *runtime.Container, args []string) (*specs.Process, error) {
	var p specs.Process
	if x.process != "" {
		raw, err := os.ReadFile(x.process)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", x.process, err)
		}
	} else {
		if len(args) == 0 {
			return nil, fmt.Errorf("no command given (and no --process)")
		}
		spec, err := c.Spec()
		if err != nil {
			return nil, err
		}
		if spec.Process != nil {
			p = *spec.Process
		} else {
			p = specs.Process{Cwd: "/"}
		}
		p.Args = args
		p.Terminal = false
		p.ConsoleSize = nil
	}
	if x.cwd != "" {
		p.Cwd = x.cwd
	}
	p.Env = append(append([]string{}, p.Env...), x.env...)
	if x.user != "" {
		uid, gid, err := parseUser(x.user)
		if err != nil {
			return nil, err
		}
		p.User.UID, p.User.GID = uid, gid
	}
	for _, gid := range x.additionalGids {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if len(x.caps) > 0 {
		caps := specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			caps = *p.Capabilities
		}
		for _, name := range x.caps {
			caps.Bounding = append(caps.Bounding, name)
			caps.Effective = append(caps.Effective, name)
			caps.Permitted = append(caps.Permitted, name)
		}
		p.Capabilities = &caps
	}
	if x.tty {
		p.Terminal = true
	}
	if x.noNewPrivs {
		p.NoNewPrivileges = true
	}
	if x.apparmor != "" {
		p.ApparmorProfile = x.apparmor
	}
	if x.label != "" {
		p.SelinuxLabel = x.label
	}
	return &p, nil
}

func parseUser(s string) (uint32, uint32, error) {
	u, g, hasGid := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: not UID[:GID]", s)
	}
	gid := uint64(0)
	if hasGid {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("--user %q: not UID[:GID]", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}

// runExec starts the process and, unless detached, waits for it with its
// terminal relayed, returning its exit status.
func runExec(c *runtime.Container, p *specs.Process, x execFlags) (int, error) {
	o := runtime.ProcessIO{PidFile: x.pidFile, ConsoleSocket: x.consoleSocket, PreserveFDs: x.preserveFDs, Trace: g.recorder("exec")}
	return g.runtime().Exec(c, p, o, x.detach)
}
