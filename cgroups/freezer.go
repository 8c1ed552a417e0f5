package cgroups

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/sysfile"
)

// freezeTimeout bounds how long Freeze waits for every task to stop.
const freezeTimeout = 5 * time.Second

// Freeze stops every process in the cgroup (runc pause). v1 writes FROZEN to
// freezer.state and polls until the kernel leaves FREEZING, writing FROZEN
// again as runc does because v1 can miss tasks that fork meanwhile; v2
// writes 1 to cgroup.freeze and waits for "frozen 1" in cgroup.events.
func (m *Manager) Freeze() error {
	dir, v2, err := m.freezerDir()
	if err != nil {
		return err
	}
	if v2 {
		if err := m.w.writeFile("freeze", dir, "cgroup.freeze", "1"); err != nil {
			return fmt.Errorf("freeze: %w", err)
		}
		return waitFor(func() (bool, error) { return eventIs(dir, "frozen", "1") }, "cgroup.events frozen 1 in "+dir)
	}
	err = waitFor(func() (bool, error) {
		if err := m.w.writeFile("freeze", dir, "freezer.state", "FROZEN"); err != nil {
			return false, err
		}
		st, err := readTrim(filepath.Join(dir, "freezer.state"))
		return st == "FROZEN", err
	}, "freezer.state FROZEN in "+dir)
	if err != nil {
		// Never leave a container half frozen.
		_ = m.w.writeFile("thaw after a failed freeze", dir, "freezer.state", "THAWED")
		return fmt.Errorf("freeze: %w", err)
	}
	return nil
}

// Thaw lets the processes run again (runc resume).
func (m *Manager) Thaw() error {
	dir, v2, err := m.freezerDir()
	if err != nil {
		return err
	}
	if v2 {
		if err := m.w.writeFile("thaw", dir, "cgroup.freeze", "0"); err != nil {
			return fmt.Errorf("thaw: %w", err)
		}
		return nil
	}
	if err := m.w.writeFile("thaw", dir, "freezer.state", "THAWED"); err != nil {
		return fmt.Errorf("thaw: %w", err)
	}
	return nil
}

// Frozen reports whether the cgroup is frozen (on v1, also when an
// ancestor froze it). A freeze still in progress counts as not frozen.
func (m *Manager) Frozen() (bool, error) {
	dir, v2, err := m.freezerDir()
	if err != nil {
		return false, err
	}
	if v2 {
		return eventIs(dir, "frozen", "1")
	}
	st, err := readTrim(filepath.Join(dir, "freezer.state"))
	return st == "FROZEN", err
}

func (m *Manager) freezerDir() (dir string, v2 bool, err error) {
	if m.h.mode == Unified {
		return m.dir(m.h.hier[0]), true, nil
	}
	x, ok := m.h.controllerHier("freezer")
	if !ok {
		return "", false, fmt.Errorf("freezer: the freezer controller is not mounted: %w", ErrNotSupported)
	}
	return m.dir(x), false, nil
}

// eventIs reports whether a key of cgroup.events has a value.
func eventIs(dir, key, value string) (bool, error) {
	data, err := sysfile.Read(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return v == value, nil
		}
	}
	return false, nil
}

func readTrim(path string) (string, error) {
	data, err := sysfile.Read(path)
	return strings.TrimSpace(string(data)), err
}

// waitFor polls cond with a growing delay until it holds or freezeTimeout
// passes.
func waitFor(cond func() (bool, error), what string) error {
	deadline := time.Now().Add(freezeTimeout)
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 50*time.Millisecond) {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", freezeTimeout, what)
		}
		time.Sleep(delay)
	}
}
