// Package trace is the explorer's recorder: every step that touches the kernel
// reports itself here, together with the shell command a person would type to
// do the same thing by hand. A nil *Recorder is valid and records nothing, so
// the cost when tracing is off is one nil check per step.
package trace

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Recorder prints steps as they happen. It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	w     io.Writer
	who   string
	start time.Time
}

// New returns a recorder that writes to w. who names the process that records
// ("create", "init", ...), so that the parent's and the container init's steps
// can be told apart when both write to the same terminal.
func New(w io.Writer, who string) *Recorder {
	return &Recorder{w: w, who: who, start: time.Now()}
}

// Enabled reports whether steps are being recorded. Callers that must build
// an expensive description check it first.
func (r *Recorder) Enabled() bool { return r != nil }

// Step records one action. shell is the equivalent command line, or "" when
// there is none (a pure Go step such as reading a file).
func (r *Recorder) Step(what, shell string) {
	if r == nil {
		return
	}
	r.StepAt(time.Now(), what, shell)
}

// StepAt records an action that happened at t, before the recorder could
// be made (the container init learns the parent's clock only from its
// config).
func (r *Recorder) StepAt(t time.Time, what, shell string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := float64(t.Sub(r.start).Microseconds()) / 1000
	if shell == "" {
		fmt.Fprintf(r.w, "[%7.2fms %-6s] %s\n", ms, r.who, what)
		return
	}
	fmt.Fprintf(r.w, "[%7.2fms %-6s] %-44s $ %s\n", ms, r.who, what, shell)
}

// Stepf is Step with a formatted description; the shell command is given
// already formatted because it is usually built from several quoted parts.
func (r *Recorder) Stepf(shell, format string, args ...any) {
	if r == nil {
		return
	}
	r.Step(fmt.Sprintf(format, args...), shell)
}

// Quote renders words as a shell command line, quoting only where needed.
func Quote(words ...string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		if w != "" && strings.IndexFunc(w, needsQuote) < 0 {
			b.WriteString(w)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(w, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

func needsQuote(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
}

// Since returns a recorder like New whose clock started at start, so that
// the container init's steps line up with its parent's on one timeline.
func Since(w io.Writer, who string, start time.Time) *Recorder {
	return &Recorder{w: w, who: who, start: start}
}

// Start is when the recorder's clock started.
func (r *Recorder) Start() time.Time {
	if r == nil {
		return time.Time{}
	}
	return r.start
}

// Stderr is a convenience for commands: a recorder on standard error.
func Stderr(who string) *Recorder { return New(os.Stderr, who) }
