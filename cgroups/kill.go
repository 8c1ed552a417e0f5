package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/sysfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// rmdirTimeout bounds how long Delete waits for killed tasks to leave.
const rmdirTimeout = 2 * time.Second

// Signal sends sig to every process in the cgroup. On v2, SIGKILL is one
// write to cgroup.kill (Linux 5.14), which the kernel applies atomically,
// forks included. Otherwise the cgroup is frozen first so that no process can
// fork a child the signal would miss, every pid is signalled, and the cgroup
// is thawed. A cgroup the user paused stays paused, except for SIGKILL: a
// frozen task cannot die, so it is thawed to let the kill through.
func (m *Manager) Signal(sig unix.Signal) error {
	if m.h.mode == Unified && sig == unix.SIGKILL {
		err := m.w.writeFile("kill every process", m.dir(m.h.hier[0]), "cgroup.kill", "1")
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.ENODEV) && !m.Exists():
			// The cgroup went while the file was open: systemd removes a
			// scope's cgroup once the unit stops. No cgroup, no processes.
			return nil
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("kill cgroup: %w", err)
		case !m.Exists():
			return nil // no cgroup, no processes
		}
		// No cgroup.kill before Linux 5.14: freeze, kill, thaw.
	}
	wasFrozen, ferr := m.Frozen()
	froze := false
	if ferr == nil && !wasFrozen {
		if err := m.Freeze(); err != nil {
			if m.w.rec.Enabled() {
				m.w.rec.Step("freeze failed, signalling anyway: "+err.Error(), "")
			}
		} else {
			froze = true
		}
	}
	pids, err := m.Pids()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(pids) > 0 && m.w.rec.Enabled() {
		words := []string{"kill", "-" + strings.TrimPrefix(unix.SignalName(sig), "SIG")}
		for _, p := range pids {
			words = append(words, strconv.Itoa(p))
		}
		m.w.rec.Step("signal every process", strings.Join(words, " "))
	}
	var errs []error
	for _, p := range pids {
		if err := unix.Kill(p, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %d: %w", p, err))
		}
	}
	if froze || (wasFrozen && sig == unix.SIGKILL) {
		if err := m.Thaw(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delete kills what is left in the cgroup and removes its directories,
// children first, in every hierarchy. rmdir fails with EBUSY while killed
// tasks are still exiting, so it is retried for up to rmdirTimeout. A
// directory that is already gone is fine: Delete can be called again.
// Parent directories are left: they belong to whoever named them.
func (m *Manager) Delete() error {
	if m.sd != nil {
		if !m.sd.started {
			// The unit was never started: whatever is at its path
			// belongs to someone else.
			m.removeCreated(0)
			return nil
		}
		// systemd removes the unit's cgroup; what is left (v1
		// hierarchies systemd does not manage, child cgroups) goes below.
		if err := m.stopUnit(); err != nil {
			return err
		}
	}
	if m.removeEmpty() {
		return nil
	}
	if pids, err := m.Pids(); err == nil && len(pids) > 0 {
		if err := m.Signal(unix.SIGKILL); err != nil {
			return fmt.Errorf("delete cgroup: %w", err)
		}
	}
	deadline := time.Now().Add(rmdirTimeout)
	var errs []error
	for _, dir := range m.Dirs() {
		if err := m.removeTree(dir, deadline); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete cgroup %s: %w", m.Path(), err)
	}
	return nil
}

// removeEmpty tries the common case first: the processes are gone and
// there are no child cgroups, so one rmdir per hierarchy is all it takes,
// without listing processes or walking directories full of control files.
// It reports whether that was enough.
func (m *Manager) removeEmpty() bool {
	for _, dir := range m.Dirs() {
		if err := unix.Rmdir(dir); err != nil && !errors.Is(err, unix.ENOENT) {
			return false
		}
		if m.w.rec.Enabled() {
			m.w.rec.Step("remove cgroup", "rmdir "+trace.Quote(dir))
		}
	}
	return true
}

// removeTree removes dir and the cgroups under it, deepest first.
func (m *Manager) removeTree(dir string, deadline time.Time) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// WalkDir visits parents before children; remove in reverse.
	for _, d := range slices.Backward(dirs) {
		for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
			err := m.w.rmdir(d)
			if err == nil {
				break
			}
			if !errors.Is(err, unix.EBUSY) || time.Now().After(deadline) {
				return fmt.Errorf("%w (processes left: %s)", err, procsIn(d))
			}
			time.Sleep(delay)
		}
	}
	return nil
}

func procsIn(dir string) string {
	data, err := sysfile.Read(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return "unknown"
	}
	if s := strings.Join(strings.Fields(string(data)), " "); s != "" {
		return s
	}
	return "none"
}
