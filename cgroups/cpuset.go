package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/internal/sysfile"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cpusetSettings renders cpus and mems; the file names are the same on v1
// and v2.
func cpusetSettings(c *specs.LinuxCPU) []Setting {
	var out []Setting
	if c.Cpus != "" {
		out = append(out, Setting{Field: fCPU + ".cpus", Controller: "cpuset", File: "cpuset.cpus", Value: c.Cpus})
	}
	if c.Mems != "" {
		out = append(out, Setting{Field: fCPU + ".mems", Controller: "cpuset", File: "cpuset.mems", Value: c.Mems})
	}
	return out
}

// parseList parses the kernel's list format ("0-3,8,10-11") into a set.
func parseList(s string) (map[int]bool, error) {
	set := map[int]bool{}
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q is not a list such as 0-3,5: bad number %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a list such as 0-3,5: bad range %q", s, part)
			}
		}
		if b-a > 1<<16 {
			return nil, fmt.Errorf("%q: range %q is too large", s, part)
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	return set, nil
}

// checkOnline refuses CPUs or memory nodes the host does not have online.
// sysfile is /sys/devices/system/cpu/online or .../node/online; a missing
// node file means a non-NUMA kernel with node 0 only.
func checkOnline(field, list, what, sysfile string) error {
	if list == "" {
		return nil
	}
	want, err := parseList(list)
	if err != nil {
		return invalid(field, err)
	}
	data, err := os.ReadFile(sysfile)
	if errors.Is(err, os.ErrNotExist) && what == "memory node" {
		data, err = []byte("0"), nil
	}
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", field, sysfile, err)
	}
	online, err := parseList(string(data))
	if err != nil {
		return fmt.Errorf("%s: parse %s: %w", field, sysfile, err)
	}
	for i := 0; i <= maxKey(want); i++ {
		if want[i] && !online[i] {
			return invalidf(field, "%s %d is not online on this host (online: %s)", what, i, strings.TrimSpace(string(data)))
		}
	}
	return nil
}

func maxKey(m map[int]bool) int {
	n := -1
	for k := range m {
		n = max(n, k)
	}
	return n
}

// cpusetFill gives a new v1 cpuset directory its parent's cpus and mems.
// A v1 cpuset starts empty and refuses tasks until both are set; runc does
// the same copy. Levels are filled top-down from the hierarchy root.
func (w writer) cpusetFill(root, dir string) error {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == "." {
		return err
	}
	parent := root
	for elem := range strings.SplitSeq(rel, "/") {
		cur := filepath.Join(parent, elem)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := sysfile.Read(filepath.Join(cur, f))
			if err != nil {
				return fmt.Errorf("cpuset: read %s: %w", filepath.Join(cur, f), err)
			}
			if strings.TrimSpace(string(v)) != "" {
				continue
			}
			pv, err := sysfile.Read(filepath.Join(parent, f))
			if err != nil {
				return fmt.Errorf("cpuset: read %s: %w", filepath.Join(parent, f), err)
			}
			if err := w.writeFile("cpuset: inherit "+f, cur, f, strings.TrimSpace(string(pv))); err != nil {
				return fmt.Errorf("cpuset: %w", err)
			}
		}
		parent = cur
	}
	return nil
}
