package trace

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Log is a --log file: each line written to it becomes one entry in the
// format containerd's shim decodes (text: logfmt; json: JSON lines with
// level, msg and an RFC 3339 time). As a recorder's writer it logs every
// step at debug level.
type Log struct {
	F      *os.File
	Format string // "text" or "json"
}

// Entry appends one entry.
func (l *Log) Entry(level, msg string) {
	if l == nil || l.F == nil {
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if l.Format == "json" {
		b, _ := json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
		l.F.Write(append(b, '\n'))
		return
	}
	fmt.Fprintf(l.F, "time=%q level=%s msg=%q\n", now, level, msg)
}

// Write logs p, one recorder line, at debug level.
func (l *Log) Write(p []byte) (int, error) {
	l.Entry("debug", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Output is where the recorder's lines go, in a form another process can
// be handed: the file, and the --log format when lines are wrapped as log
// entries ("" when they are written as they are). The container init gets
// it so that its steps follow the parent's. f is nil when r records
// nothing or writes to something that is not a file.
func (r *Recorder) Output() (f *os.File, logFormat string) {
	if r == nil {
		return nil, ""
	}
	switch w := r.w.(type) {
	case *os.File:
		return w, ""
	case *Log:
		return w.F, w.Format
	}
	return nil, ""
}

// ToFile returns a recorder for another process's end of Output: lines go
// to f as they are, or as --log entries when logFormat is set.
func ToFile(f *os.File, logFormat, who string, start time.Time) *Recorder {
	if logFormat != "" {
		return Since(&Log{F: f, Format: logFormat}, who, start)
	}
	return Since(f, who, start)
}
