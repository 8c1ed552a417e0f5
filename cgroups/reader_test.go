package cgroups

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
	v1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	"github.com/containerd/cgroups/v3/cgroup2"
	v2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// reader reads a container's cgroup back through containerd/cgroups/v3, the
// library containerd's shim reads metrics with: its cgroup1 package on the
// v1 hierarchies, cgroup2 on a unified host. It finds the hierarchies and
// parses the files on its own, so a value written in the wrong unit, file
// or hierarchy fails a test even where our writer and our Stats would
// agree with each other. Only imported from tests: the runtime binary does
// not link it (its package initialisation costs milliseconds per start).
type reader struct {
	t    *testing.T
	h    *host
	path string
	v1   cgroup1.Cgroup
	v2   *cgroup2.Manager
}

func newReader(t *testing.T, h *host, path string) *reader {
	t.Helper()
	r := &reader{t: t, h: h, path: path}
	var err error
	if h.mode == Unified {
		r.v2, err = cgroup2.Load(path, cgroup2.WithMountpoint(h.mnt))
	} else {
		r.v1, err = cgroup1.Load(cgroup1.StaticPath(path), cgroup1.WithHierarchy(v1Hierarchy))
	}
	if err != nil {
		t.Fatalf("containerd cgroups: load %s: %v", path, err)
	}
	return r
}

// v1Hierarchy is containerd's default v1 hierarchy, with the memory
// controller told to skip the counters this kernel lacks (memory.memsw.*
// without swap accounting, memory.kmem.* where removed), as containerd's
// OptionalSwap does for swap; otherwise Stat fails on such a host.
func v1Hierarchy() ([]cgroup1.Subsystem, error) {
	subs, err := cgroup1.Default()
	if err != nil {
		return nil, err
	}
	for i, s := range subs {
		if s.Name() != cgroup1.Memory {
			continue
		}
		dir := s.(interface{ Path(string) string }).Path("/")
		var skip []string
		for _, m := range []string{"memsw", "kmem", "kmem.tcp"} {
			if _, err := os.Stat(filepath.Join(dir, "memory."+m+".limit_in_bytes")); err != nil {
				skip = append(skip, m)
			}
		}
		subs[i] = cgroup1.NewMemory(filepath.Dir(dir), cgroup1.IgnoreModules(skip...))
	}
	return subs, nil
}

// v1Metrics is what containerd's shim reports for a v1 container.
func (r *reader) v1Metrics() *v1stats.Metrics {
	r.t.Helper()
	st, err := r.v1.Stat()
	if err != nil {
		r.t.Fatalf("containerd cgroup1 Stat %s: %v", r.path, err)
	}
	return st
}

// v2Metrics is what containerd's shim reports for a v2 container.
func (r *reader) v2Metrics() *v2stats.Metrics {
	r.t.Helper()
	st, err := r.v2.Stat()
	if err != nil {
		r.t.Fatalf("containerd cgroup2 Stat %s: %v", r.path, err)
	}
	return st
}

// file reads a cgroup file that containerd's metrics do not cover (cpu
// shares, weights, cpusets...) from the directory containerd's library
// finds for the controller: on v1 the subsystem's own path, so a value
// written into the wrong hierarchy is not found there.
func (r *reader) file(ctrl, name string) string {
	r.t.Helper()
	dir := filepath.Join(r.h.mnt, r.path)
	if r.v1 != nil {
		dir = ""
		for _, s := range r.v1.Subsystems() {
			if string(s.Name()) == ctrl {
				dir = s.(interface{ Path(string) string }).Path(r.path)
			}
		}
		if dir == "" {
			r.t.Fatalf("containerd cgroup1 sees no %s hierarchy for %s", ctrl, r.path)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		r.t.Fatalf("read back: %v", err)
	}
	return strings.TrimSpace(string(data))
}

// wantFile checks a file read back through the reader.
func (r *reader) wantFile(ctrl, name, want string) {
	r.t.Helper()
	if got := r.file(ctrl, name); got != want {
		r.t.Errorf("%s = %q, want %q", name, got, want)
	}
}

// wantEq checks one value from containerd's metrics.
func wantEq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("containerd reads %s = %v, want %v", what, got, want)
	}
}
