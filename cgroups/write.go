package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/internal/sysfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// writer is the thin layer that touches cgroupfs. Every change goes through
// it so that the recorder sees it with its shell equivalent.
type writer struct {
	rec *trace.Recorder
}

// writeFile writes value to dir/file with a single write(2), as the kernel
// wants, and records "echo value > path".
func (w writer) writeFile(what, dir, file, value string) error {
	path := filepath.Join(dir, file)
	if w.rec.Enabled() {
		w.rec.Step(what, "echo "+trace.Quote(value)+" > "+trace.Quote(path))
	}
	// No O_CREAT (sysfile.Write): a missing file means the kernel has no
	// such knob, which callers report.
	err := sysfile.Write(path, value)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in our message already
		}
		return fmt.Errorf("write %s > %s: %w", strconv.Quote(value), path, err)
	}
	return nil
}

// apply writes settings into dir(s). dirFor maps a setting to the directory
// of its hierarchy. Settings marked Retry that fail with EINVAL are written
// again after the others.
func (w writer) apply(settings []Setting, dirFor func(Setting) (string, error)) error {
	var again []Setting
	for _, s := range settings {
		err := w.applyOne(s, dirFor)
		if err != nil && s.Retry && errors.Is(err, unix.EINVAL) {
			again = append(again, s)
			continue
		}
		if err != nil {
			return err
		}
	}
	for _, s := range again {
		if err := w.applyOne(s, dirFor); err != nil {
			return err
		}
	}
	return nil
}

func (w writer) applyOne(s Setting, dirFor func(Setting) (string, error)) error {
	dir, err := dirFor(s)
	if err != nil {
		return err
	}
	if s.Alt != nil || s.Optional {
		// Look first, so the recorder shows only the write that happens.
		if _, serr := os.Stat(filepath.Join(dir, s.File)); errors.Is(serr, os.ErrNotExist) {
			err = serr
		}
	}
	if err == nil {
		err = w.writeFile(s.shortField(), dir, s.File, s.Value)
	}
	switch {
	case err == nil:
		if s.Verify {
			return verify(s, dir)
		}
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return &FieldError{Field: s.Field, Err: withHint(s, err)}
	case s.Alt != nil:
		return w.applyOne(*s.Alt, dirFor)
	case s.Optional:
		if w.rec.Enabled() {
			w.rec.Step(fmt.Sprintf("%s: no %s on this kernel; nothing to do", s.shortField(), s.File), "")
		}
		return nil
	}
	if _, serr := os.Stat(dir); serr != nil {
		return &FieldError{Field: s.Field, Err: fmt.Errorf("cgroup directory %s: %w", dir, serr)}
	}
	return unsupportedf(s.Field, "this kernel has no %s in %s", s.File, dir)
}

// withHint adds what the kernel's terse errno usually means for a file.
func withHint(s Setting, err error) error {
	switch {
	case errors.Is(err, unix.EBUSY) && strings.HasPrefix(s.File, "memory."):
		return fmt.Errorf("%w (the cgroup already uses more memory than that)", err)
	case errors.Is(err, unix.EINVAL) && (s.File == "memory.limit_in_bytes" || s.File == "memory.memsw.limit_in_bytes"):
		return fmt.Errorf("%w (v1 needs memory.limit_in_bytes <= memory.memsw.limit_in_bytes)", err)
	case errors.Is(err, unix.EINVAL) && strings.HasPrefix(s.File, "cpu.rt_"):
		return fmt.Errorf("%w (realtime runtime must fit in the period and in the parent's realtime budget)", err)
	case errors.Is(err, unix.EPERM) && strings.HasPrefix(s.File, "devices."):
		return fmt.Errorf("%w (a cgroup cannot allow a device its parent denies)", err)
	}
	return err
}

// verify reads a limit back to catch kernels that accept a write and ignore
// it, so the value is refused instead of silently dropped.
func verify(s Setting, dir string) error {
	want, err := strconv.ParseInt(s.Value, 10, 64)
	if err != nil || want < 0 {
		return nil
	}
	data, err := sysfile.Read(filepath.Join(dir, s.File))
	if err != nil {
		return &FieldError{Field: s.Field, Err: err}
	}
	got, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return &FieldError{Field: s.Field, Err: fmt.Errorf("read back %s: %w", s.File, err)}
	}
	// The kernel rounds limits down to whole pages.
	if got > want || want-got >= int64(os.Getpagesize()) {
		return unsupportedf(s.Field, "the kernel accepted %s=%d but kept %d: this kernel accepts and ignores the knob (kernel memory limits are deprecated upstream and gone in cgroup v2)", s.File, want, got)
	}
	return nil
}

// mkdirAll creates dir and its missing parents, returning the directories it
// created, outermost first, so that a failed New can remove exactly those.
func (w writer) mkdirAll(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if w.rec.Enabled() {
		w.rec.Step("create cgroup", "mkdir -p "+trace.Quote(dir))
	}
	var created []string
	for i := len(missing) - 1; i >= 0; i-- {
		if err := os.Mkdir(missing[i], 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return created, fmt.Errorf("mkdir %s: %w", missing[i], err)
		} else if err == nil {
			created = append(created, missing[i])
		}
	}
	return created, nil
}

// rmdir removes one cgroup directory; a missing one is not an error.
func (w writer) rmdir(dir string) error {
	if w.rec.Enabled() {
		w.rec.Step("remove cgroup", "rmdir "+trace.Quote(dir))
	}
	err := unix.Rmdir(dir)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return &os.PathError{Op: "rmdir", Path: dir, Err: err}
}
