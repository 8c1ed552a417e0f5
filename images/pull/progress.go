package pull

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Bars is a Progress with one bar per layer, for a terminal.
type Bars struct {
	p *mpb.Progress
}

// NewBars draws bars on w, a terminal.
func NewBars(w io.Writer) *Bars {
	return &Bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32))}
}

func (b *Bars) Layer(what string, size int64) Bar {
	lb := &bar{}
	total := size
	if total <= 0 {
		total = 0 // unknown: completed by Done
	}
	lb.b = b.p.AddBar(total,
		mpb.PrependDecorators(decor.Name(what, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string {
			if n, _ := lb.note.Load().(string); n != "" {
				return n
			}
			if s.Total > 0 {
				return fmt.Sprintf("%s / %s", humanSize(s.Current), humanSize(s.Total))
			}
			return humanSize(s.Current)
		})),
	)
	return lb
}

func (b *Bars) Wait() { b.p.Wait() }

type bar struct {
	b    *mpb.Bar
	note atomic.Value
}

func (b *bar) Write(p []byte) (int, error) {
	b.b.IncrBy(len(p))
	return len(p), nil
}

func (b *bar) Done(note string, err error) {
	if err != nil {
		b.note.Store("failed")
		b.b.Abort(false)
		return
	}
	b.note.Store(note)
	b.b.SetTotal(-1, true)
}

// Lines is a Progress for logs and pipes: one line when a blob starts and
// one when it is done.
type Lines struct {
	mu sync.Mutex
	w  io.Writer
}

// NewLines writes plain lines to w.
func NewLines(w io.Writer) *Lines { return &Lines{w: w} }

func (l *Lines) Layer(what string, size int64) Bar {
	return &line{l: l, what: what, size: size}
}

func (l *Lines) Wait() {}

func (l *Lines) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, format, args...)
}

type line struct {
	l    *Lines
	what string
	size int64
}

func (ln *line) Write(p []byte) (int, error) { return len(p), nil }

// Done prints one line for a layer that is in place; a failure is said
// once, by the error that ends the pull.
func (ln *line) Done(note string, err error) {
	if err == nil {
		ln.l.printf("pull: %s: %s\n", ln.what, note)
	}
}
