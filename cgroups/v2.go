package cgroups

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/miniruntime/miniruntime/internal/sysfile"
)

// statsControllers are enabled for every container on v2 so that Stats can
// report memory, CPU throttling and pids even when no limit is set.
var statsControllers = []string{"cpu", "memory", "pids"}

// wantControllers lists the v2 controllers the container's cgroup needs:
// those the settings write to, which the kernel must have (else the setting
// is refused, before anything is created), and the stats controllers where
// the kernel has them.
func (m *Manager) wantControllers(settings []Setting) ([]string, error) {
	avail, err := readWords(filepath.Join(m.h.mnt, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("list controllers: %w", err)
	}
	var want []string
	for _, c := range statsControllers {
		if slices.Contains(avail, c) {
			want = append(want, c)
		}
	}
	for _, s := range settings {
		if s.Controller == "" || s.Controller == "cgroup" || slices.Contains(want, s.Controller) {
			continue
		}
		if !slices.Contains(avail, s.Controller) {
			return nil, unsupportedf(s.Field, "the %s controller is not available on this host (%s/cgroup.controllers lists: %s)", s.Controller, m.h.mnt, strings.Join(avail, " "))
		}
		want = append(want, s.Controller)
	}
	return want, nil
}

// enableControllers makes controllers available in the container's cgroup:
// on v2 a controller's files appear in a cgroup only when its parent lists
// it in cgroup.subtree_control, and the parent only when its own parent
// does, up to the root.
func (m *Manager) enableControllers(want []string) error {
	leaf := m.dir(m.h.hier[0])
	rel, err := filepath.Rel(m.h.mnt, leaf)
	if err != nil {
		return err
	}
	dir := m.h.mnt
	for elem := range strings.SplitSeq(rel, "/") {
		if err := m.enableIn(dir, want); err != nil {
			return err
		}
		dir = filepath.Join(dir, elem)
	}
	return nil
}

// enableIn writes the missing controllers to dir's cgroup.subtree_control.
func (m *Manager) enableIn(dir string, want []string) error {
	enabled, err := readWords(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("enable controllers: %w", err)
	}
	var add []string
	for _, c := range want {
		if !slices.Contains(enabled, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	err = m.w.writeFile("enable controllers for children", dir, "cgroup.subtree_control", strings.Join(add, " "))
	if errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("enable controllers: %w (%s has processes of its own, and v2 forbids controllers in the children of a cgroup with processes)", err, dir)
	}
	if err != nil {
		return fmt.Errorf("enable controllers: %w", err)
	}
	return nil
}

func readWords(path string) ([]string, error) {
	data, err := sysfile.Read(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}
