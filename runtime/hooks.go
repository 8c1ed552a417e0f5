package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

type hookSet struct {
	name  string
	hooks []specs.Hook
}

// hookSets lists the six hook kinds in lifecycle order with their JSON names.
func hookSets(h *specs.Hooks) []hookSet {
	//lint:ignore SA1019 prestart is deprecated by the spec but still honoured.
	return []hookSet{
		{"prestart", h.Prestart}, {"createRuntime", h.CreateRuntime},
		{"createContainer", h.CreateContainer}, {"startContainer", h.StartContainer},
		{"poststart", h.Poststart}, {"poststop", h.Poststop},
	}
}

func hooksOf(s *specs.Spec, name string) []specs.Hook {
	if s.Hooks == nil {
		return nil
	}
	for _, set := range hookSets(s.Hooks) {
		if set.name == name {
			return set.hooks
		}
	}
	return nil
}

// runHooks runs the named hooks in order, each with the container state as
// JSON on its standard input, and stops at the first failure.
func runHooks(rec *trace.Recorder, name string, hooks []specs.Hook, state any) error {
	if len(hooks) == 0 {
		return nil
	}
	in, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(rec, h, in); err != nil {
			return fmt.Errorf("hooks.%s[%d] %s: %w", name, i, h.Path, err)
		}
	}
	return nil
}

// runHooksWarn runs every hook of a kind whose failure the spec makes a
// warning (poststart, poststop): each failure is reported and the rest
// still run.
func runHooksWarn(rec *trace.Recorder, warn func(string, ...any), name string, hooks []specs.Hook, state any) {
	for i, h := range hooks {
		if err := runHooks(rec, name, []specs.Hook{h}, state); err != nil {
			warn("%s", strings.Replace(err.Error(), name+"[0]", fmt.Sprintf("%s[%d]", name, i), 1))
		}
	}
}

func runHook(rec *trace.Recorder, h specs.Hook, stdin []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if rec.Enabled() {
		rec.Step("run hook with the state on stdin", "echo \"$STATE\" | "+trace.Quote(args...))
	}
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
