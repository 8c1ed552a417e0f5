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
	rec  *trace.Recorder
	warn func(string) // Options.Warn
}

// ignored accepts a field that has no effect on this host: the recorder
// shows it, and the warning sink gets one line that starts with the field.
func (w writer) ignored(s Setting, why string) {
	if w.rec.Enabled() {
		w.rec.Step(s.shortField()+": ignored: "+why, "")
	}
	if w.warn != nil {
		w.warn(s.Field + ": ignored: " + why)
	}
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
	if s.Ignore != "" {
		w.ignored(s, s.Ignore)
		return nil
	}
	dir, err := dirFor(s)
	if err != nil {
		return err
	}
	if s.Alt != nil || s.Optional || s.Deprecated {
		// Look first, so the recorder shows only the write that happens.
		if _, serr := os.Stat(filepath.Join(dir, s.File)); errors.Is(serr, os.ErrNotExist) {
			err = serr
		}
	}
	if err == nil {
		err = w.writeFile(s.shortField(), dir, s.File, s.Value)
	}
	switch {
	case err == nil && s.Verify:
		kept, err := readBack(s, dir)
		switch {
		case err != nil:
			return err
		case kept == "":
			return nil
		case s.Deprecated:
			w.ignored(s, fmt.Sprintf("this kernel accepts %s=%s but keeps %s%s", s.File, s.Value, kept, deprecatedNote))
			return nil
		}
		return unsupportedf(s.Field, "this kernel accepts %s=%s but keeps %s: it ignores the knob", s.File, s.Value, kept)
	case err == nil:
		return nil
	case s.Deprecated && errors.Is(err, unix.EOPNOTSUPP):
		w.ignored(s, fmt.Sprintf("this kernel answers %s with %v%s", s.File, unix.EOPNOTSUPP, deprecatedNote))
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return &FieldError{Field: s.Field, Err: withHint(s, err)}
	}
	// The file is missing: the kernel has no such knob, or the cgroup went.
	if _, serr := os.Stat(dir); serr != nil {
		return &FieldError{Field: s.Field, Err: fmt.Errorf("cgroup directory %s: %w", dir, serr)}
	}
	switch {
	case s.Alt != nil:
		if _, serr := os.Stat(filepath.Join(dir, s.Alt.File)); errors.Is(serr, os.ErrNotExist) && s.Alt.Alt == nil {
			return unsupportedf(s.Field, "this kernel has neither %s nor %s in %s%s", s.File, s.Alt.File, dir, missingHint(s.File))
		}
		return w.applyOne(*s.Alt, dirFor)
	case s.Optional:
		if w.rec.Enabled() {
			w.rec.Step(fmt.Sprintf("%s: no %s on this kernel; nothing to do", s.shortField(), s.File), "")
		}
		return nil
	case s.Deprecated:
		w.ignored(s, fmt.Sprintf("this kernel has no %s%s", s.File, deprecatedNote))
		return nil
	}
	return unsupportedf(s.Field, "this kernel has no %s in %s%s", s.File, dir, missingHint(s.File))
}

const deprecatedNote = " (kernel memory limits are deprecated; runc and crun ignore them)"

// missingHint says in a few words why a kernel may lack a file.
func missingHint(file string) string {
	switch {
	case file == "blkio.weight" || file == "blkio.weight_device":
		return " (proportional weights need the BFQ I/O scheduler: CFQ, which had blkio.weight, left Linux in 5.0)"
	case strings.HasPrefix(file, "blkio.leaf_weight"):
		return " (leaf weights belonged to the CFQ I/O scheduler, which left Linux in 5.0)"
	case file == "io.bfq.weight" || file == "io.weight":
		return " (io.weight needs a kernel built with CONFIG_BLK_CGROUP_IOCOST, io.bfq.weight the BFQ I/O scheduler)"
	case file == "cpu.cfs_burst_us" || file == "cpu.max.burst":
		return " (CPU burst needs Linux 5.14 or later)"
	case file == "cpu.idle":
		return " (cpu.idle needs Linux 5.15 or later)"
	case strings.HasPrefix(file, "cpu.rt_"):
		return " (realtime group scheduling needs a kernel built with CONFIG_RT_GROUP_SCHED)"
	case strings.HasPrefix(file, "memory.memsw.") || file == "memory.swap.max":
		return " (this kernel does not account swap per cgroup; see swapaccount= on its command line)"
	case strings.HasPrefix(file, "hugetlb."):
		return " (the host has no huge pages of that size; /sys/kernel/mm/hugepages lists the sizes it has)"
	}
	return ""
}

// withHint adds what the kernel's terse errno usually means for a file.
func withHint(s Setting, err error) error {
	switch {
	case errors.Is(err, unix.EBUSY) && strings.HasPrefix(s.File, "memory."):
		return fmt.Errorf("%w (the cgroup already uses more memory than that)", err)
	case errors.Is(err, unix.EINVAL) && (s.File == "memory.limit_in_bytes" || s.File == "memory.memsw.limit_in_bytes"):
		return fmt.Errorf("%w (v1 needs memory.limit_in_bytes <= memory.memsw.limit_in_bytes)", err)
	case errors.Is(err, unix.EINVAL) && s.File == "memory.use_hierarchy":
		return fmt.Errorf("%w (this kernel has hierarchical memory cgroups only)", err)
	case errors.Is(err, unix.EINVAL) && strings.HasPrefix(s.File, "cpu.rt_"):
		return fmt.Errorf("%w (realtime runtime must fit in the period and in the parent's realtime budget)", err)
	case errors.Is(err, unix.EPERM) && strings.HasPrefix(s.File, "devices."):
		return fmt.Errorf("%w (a cgroup cannot allow a device its parent denies)", err)
	case errors.Is(err, unix.ENODEV) && (strings.HasPrefix(s.File, "blkio.") || strings.HasPrefix(s.File, "io.")):
		return fmt.Errorf("%w (no block device with that number on this host; /sys/block lists them)", err)
	case errors.Is(err, unix.ENODEV) && s.File == "rdma.max":
		return fmt.Errorf("%w (no RDMA device of that name on this host; /sys/class/infiniband lists them)", err)
	case errors.Is(err, unix.EINVAL) && s.File == "misc.max":
		return fmt.Errorf("%w (misc.capacity in the root cgroup lists the resources this host has)", err)
	}
	return err
}

// readBack reads a limit back after writing it, to catch kernels that
// accept a write and ignore it. kept is what the kernel holds instead, or
// "" when the value took (the kernel rounds limits down to whole pages).
func readBack(s Setting, dir string) (kept string, err error) {
	want, err := strconv.ParseInt(s.Value, 10, 64)
	if err != nil || want < 0 {
		return "", nil // -1 is unlimited: nothing to compare
	}
	data, err := sysfile.Read(filepath.Join(dir, s.File))
	if err != nil {
		return "", &FieldError{Field: s.Field, Err: err}
	}
	v := strings.TrimSpace(string(data))
	got, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "", &FieldError{Field: s.Field, Err: fmt.Errorf("read back %s: %w", s.File, err)}
	}
	if got > want || want-got >= int64(os.Getpagesize()) {
		return v, nil
	}
	return "", nil
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
