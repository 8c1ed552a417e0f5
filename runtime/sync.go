package runtime

// The parent (create, run) and the container init talk over a socketpair,
// one JSON message per step. The init is re-executed from this binary with
// fresh namespaces, born in its cgroup.
//
//	parent (create)                          init (miniruntime init, pid 1 inside)
//	---------------                          -------------------------------------
//	mkdir the cgroup, allocate addresses
//	clone3 init into new namespaces and
//	its cgroup2 dir (CLONE_INTO_CGROUP) ───▶
//	send the cgroups line, initConfig  ───▶  join the v1 cgroups (this thread, via
//	                                         tasks files) while another decodes the
//	                                         config
//	                                         mount propagation, rootfs bind, mounts up
//	                                         to the first cgroup mount
//	                                   ◀───  msgHooks
//	attach networks (veth into the netns),
//	run createRuntime hooks
//	send msgContinue                   ───▶  cgroup namespace, remaining mounts, /dev,
//	                                         createContainer hooks, pivot_root,
//	                                         masked/readonly paths, hostname, sysctls,
//	                                         open exec.fifo, check process.args[0]
//	                                   ◀───  msgReady
//	write pid file and state.json, exit      block reading exec.fifo
//
// With no networks and no createRuntime hooks, msgContinue follows the
// config at once, so that the init never waits at msgHooks, and state.json
// is written while the init works. `run` of a config with no prestart and
// no poststart hooks skips start's round trip: after msgReady the init
// waits for msgStart on the sync socket instead of the exec FIFO.
//
//	start: prestart hooks, write one   ───▶  startContainer hooks, user, capabilities,
//	byte to exec.fifo, remove it, wait       no_new_privs, seccomp, rlimits,
//	until the init has exec'd (its           execve(process.args)
//	FIFO end closes), poststart hooks
//
// Any failure in the init is sent as msgError and the init exits; the parent
// then undoes everything it did. exec uses the same init with no rootfs
// work: it joins the container's namespaces and goes straight to the
// process attributes.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	msgHooks    = "hooks"
	msgContinue = "continue"
	msgReady    = "ready"
	msgError    = "error"
	msgStart    = "start"
)

// The first message, ahead of initConfig, is one line: "cgroups" and the
// v1 tasks files the init writes "0" to, joining its cgroups itself
// (cgroups.Manager.SelfJoinFiles), each as a Go-quoted string. Plain text,
// so that the init can join them at once, while another thread decodes
// initConfig, the larger part of its start-up.
const cgroupsLine = "cgroups"

func writeCgroupsLine(w io.Writer, tasks []string) error {
	var b strings.Builder
	b.WriteString(cgroupsLine)
	for _, t := range tasks {
		b.WriteByte(' ')
		b.WriteString(strconv.Quote(t))
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func readCgroupsLine(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	rest, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), cgroupsLine)
	if !ok {
		return nil, fmt.Errorf("sync: want a %s line, got %q", cgroupsLine, line)
	}
	var tasks []string
	for rest = strings.TrimLeft(rest, " "); rest != ""; rest = strings.TrimLeft(rest, " ") {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("sync: bad %s line %q: %w", cgroupsLine, line, err)
		}
		t, _ := strconv.Unquote(q)
		tasks = append(tasks, t)
		rest = rest[len(q):]
	}
	return tasks, nil
}

type syncMsg struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	// Errno is the system call error of a native init's failure (cinit),
	// which the parent names: the native init has no Go to do it.
	Errno int `json:"errno,omitempty"`
}

func (m syncMsg) err() error {
	if m.Errno != 0 {
		return fmt.Errorf("%s: %w", m.Error, syscall.Errno(m.Errno))
	}
	return errors.New(m.Error)
}

// sendConfig sends the init what it reads first: the Go init the cgroups
// line and its config, the native init its encoded plan.
func sendConfig(w io.Writer, enc *json.Encoder, cfg *initConfig, native []byte, tasks []string) error {
	if native != nil {
		_, err := w.Write(native)
		return err
	}
	if err := writeCgroupsLine(w, tasks); err != nil {
		return err
	}
	return enc.Encode(cfg)
}

// initConfig is everything the init needs, sent once over the sync socket.
type initConfig struct {
	ID       string `json:"id"`
	Bundle   string `json:"bundle"`
	Rootfs   string `json:"rootfs"`
	StateDir string `json:"stateDir"`
	HostPid  int    `json:"hostPid"`
	// SpecJSON is the spec as the parent marshalled it once (seal): the
	// bytes it froze in the state dir, sent as they are. The init decodes
	// them into Spec (readInitConfig).
	SpecJSON json.RawMessage `json:"spec"`
	Spec     *specs.Spec     `json:"-"`
	// StartAtOnce: after msgReady the init waits for msgStart on the sync
	// socket instead of the exec FIFO (run, with nothing to do between
	// create and start).
	StartAtOnce bool  `json:"startAtOnce,omitempty"`
	PreserveFDs int   `json:"preserveFDs,omitempty"`
	ConsoleFD   int   `json:"consoleFD,omitempty"` // fd of the connected console socket, 0 if none
	Trace       bool  `json:"trace,omitempty"`
	TraceEpoch  int64 `json:"traceEpoch,omitempty"` // the parent\'s trace clock, in Unix ns
	// TraceFD is the parent's trace output, TraceLog its --log format
	// ("" for plain lines, as on a terminal).
	TraceFD  int    `json:"traceFD,omitempty"`
	TraceLog string `json:"traceLog,omitempty"`
	// Exec is set for a process joining an existing container: no rootfs
	// setup, no FIFO, straight to the process attributes and execve.
	Exec bool `json:"exec,omitempty"`
	// CgroupNS is how the init enters its cgroup namespace (see cgroupNS).
	CgroupNS string `json:"cgroupNS,omitempty"`
	// Plan is what the init does, step by step (plan.go).
	Plan []Step `json:"plan"`
}

// readInitConfig is how the init reads its config: the message, then the
// spec in it.
func readInitConfig(dec *json.Decoder, cfg *initConfig) error {
	if err := dec.Decode(cfg); err != nil {
		return err
	}
	return json.Unmarshal(cfg.SpecJSON, &cfg.Spec)
}
