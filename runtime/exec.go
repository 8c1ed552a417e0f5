package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Exec starts an additional process in a created or running container: it
// joins every namespace of the container's init (the user namespace
// included, through the init's C preamble), its cgroup, and gets the
// process's user, capabilities, rlimits, no_new_privs and the container's
// seccomp filter. It returns once the process exists and the pid file is
// written; the caller waits for it or, detached, leaves it to its
// subreaper.
func (c *Container) Exec(p *specs.Process, o ProcessIO) (*os.Process, error) {
	switch st := c.Status(); st {
	case Created, Running:
	default:
		return nil, fmt.Errorf("cannot exec in a %s container", st)
	}
	spec, err := c.Spec()
	if err != nil {
		return nil, err
	}
	es, mountNS := execSpec(spec, p, c.Pid)
	if err := validateProcess(es); err != nil {
		return nil, err
	}
	for _, w := range processWarnings(es.Process) {
		c.warn("%s", w)
	}
	if p.Terminal != (o.ConsoleSocket != "") {
		return nil, errors.New("process.terminal and --console-socket must be given together")
	}
	cg, err := c.cgroup(o.Trace)
	if err != nil {
		return nil, err
	}
	cmd, sock, held, err := initCommand(es, o, cg)
	if err != nil {
		return nil, err
	}
	defer sock.Close()
	// An exec'd process always starts as the Go init, from a sealed handle
	// on this binary.
	exe, err := sealedExe(o.Trace, 3+o.PreserveFDs+32)
	if err != nil {
		closeAll(held)
		return nil, err
	}
	cmd.Path = exe.Name()
	err = startInit(cmd, es, o.Trace, nil)
	closeAll(append(held, exe))
	if err != nil {
		return nil, fmt.Errorf("start exec process: %w", err)
	}
	if err := joinCgroup(cmd, es, cg, o.Trace); err != nil {
		return nil, killed(cmd, err)
	}
	cfg := initConfig{
		ID: c.ID, Bundle: c.Bundle, Rootfs: c.Rootfs, StateDir: c.dir, HostPid: cmd.Process.Pid,
		Spec: appArmorForInit(es, spec.Process), Exec: true, CgroupNS: cgroupNS(es, false),
	}
	if cfg.SpecJSON, err = json.Marshal(cfg.Spec); err != nil {
		return nil, killed(cmd, fmt.Errorf("send config to exec process: %w", err))
	}
	cfg.setIO(o)
	// From cfg.Spec: the AppArmor profile as decided for the init (an
	// exec without one of its own gets the container's; none where off).
	cfg.Plan = compileExec(cfg.Spec, cfg.CgroupNS, mountNS, cfg.ConsoleFD != 0)
	enc := json.NewEncoder(sock)
	if err := writeCgroupsLine(sock, selfJoin(cmd.Cmd, es, cg)); err != nil {
		return nil, killed(cmd, fmt.Errorf("send config to exec process: %w", err))
	}
	if err := enc.Encode(cfg); err != nil {
		return nil, killed(cmd, fmt.Errorf("send config to exec process: %w", err))
	}
	var m syncMsg
	if err := json.NewDecoder(sock).Decode(&m); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("exec process exited during setup")
		}
		return nil, killed(cmd, err)
	}
	if m.Type != msgReady {
		return nil, killed(cmd, m.err())
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, cmd.Process.Pid); err != nil {
			return nil, killed(cmd, err)
		}
	}
	return cmd.Process, nil
}

func killed(cmd *initCmd, err error) error {
	cmd.Process.Kill()
	cmd.Wait()
	return err
}

// execSpec is the container's config with p as its process and every
// namespace replaced by the init's, so that startInit joins them all,
// except the mount namespace, returned separately: the process is executed
// from this binary's handle in the caller's mount namespace (the container
// may have no /proc to reach it by) and enters the container's mount
// namespace itself (runExec).
func execSpec(s *specs.Spec, p *specs.Process, initPid int) (*specs.Spec, string) {
	es := *s
	es.Process = p
	l := *s.Linux
	l.Namespaces = nil
	mountNS := ""
	for _, ns := range s.Linux.Namespaces {
		path := "/proc/" + strconv.Itoa(initPid) + "/ns/" + nsFlags[ns.Type].proc
		if ns.Type == specs.MountNamespace {
			mountNS = path
			continue
		}
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: ns.Type, Path: path})
	}
	// The id maps belong to the user namespace being joined, not to us.
	l.UIDMappings, l.GIDMappings = nil, nil
	es.Linux = &l
	return &es, mountNS
}
