package cgroups

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultPrefix names a container's cgroup when linux.cgroupsPath is empty:
// /miniruntime-<id> at the root of each hierarchy. Flat, as runc's /<id>:
// there is no parent to make before the first container or to remove after
// the last, and delete leaves nothing behind.
const DefaultPrefix = "/miniruntime-"

// cleanPath makes a cgroupsPath safe to join under a hierarchy, as runc's
// LexicallyCleanPath does: an absolute path is cleaned, and a relative path
// is cleaned as if it were rooted, so "../../etc" cannot climb out of the
// caller's cgroup.
func cleanPath(p string) string {
	if p == "" {
		return ""
	}
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return strings.TrimPrefix(filepath.Clean("/"+p), "/")
}

// resolve returns the container's cgroup path in every hierarchy.
//
//   - "" becomes DefaultPrefix<id>.
//   - An absolute path is taken from the root of each hierarchy.
//   - A relative path is joined to the caller's own cgroup, hierarchy by
//     hierarchy, as runc's cgroupfs driver does. On cgroup v1 the caller may
//     sit in different cgroups in different hierarchies (this process's
//     memory cgroup is often not "/"), so the paths can differ. On a unified
//     host the base is the parent of the caller's cgroup, again as runc does:
//     the caller's own cgroup has processes in it, and v2's "no internal
//     processes" rule would forbid enabling controllers for a child there.
func (h *host) resolve(id, cgroupsPath string) (map[string]string, error) {
	inner := cleanPath(cgroupsPath)
	if inner == "" {
		if id == "" || strings.ContainsAny(id, "/\n") || id == "." || id == ".." {
			return nil, invalidf("linux.cgroupsPath", "empty, and container id %q cannot name a cgroup", id)
		}
		inner = DefaultPrefix + id
	}
	if inner == "/" {
		return nil, invalidf("linux.cgroupsPath", "%q is the root cgroup; a container needs its own", cgroupsPath)
	}
	if strings.ContainsAny(inner, ";\n") {
		return nil, invalidf("linux.cgroupsPath", "%q: ';' and newlines are not supported in cgroup paths", cgroupsPath)
	}
	paths := make(map[string]string, len(h.hier))
	for _, x := range h.hier {
		if filepath.IsAbs(inner) {
			paths[x.Name] = inner
			continue
		}
		base, ok := h.own[x.Name]
		if !ok {
			return nil, fmt.Errorf("resolve relative cgroupsPath %q: own cgroup in hierarchy %q not found in /proc/self/cgroup", cgroupsPath, x.Name)
		}
		if h.mode == Unified {
			base = filepath.Dir(base)
		}
		paths[x.Name] = filepath.Join(base, inner)
	}
	return paths, nil
}

// encodePaths is the inverse of decodePaths. When every hierarchy has the
// same path (always, for absolute paths) the result is that path, e.g.
// "/miniruntime-web". When a relative path resolved differently per
// hierarchy, it is the most common path followed by the exceptions:
// "/testdir/c;memory=/process_api/x/testdir/c".
func encodePaths(paths map[string]string) string {
	count := map[string]int{}
	for _, p := range paths {
		count[p]++
	}
	var common string
	for p, n := range count {
		if n > count[common] || (n == count[common] && p < common) {
			common = p
		}
	}
	var extra []string
	for name, p := range paths {
		if p != common {
			extra = append(extra, name+"="+p)
		}
	}
	sort.Strings(extra)
	return strings.Join(append([]string{common}, extra...), ";")
}

// decodePaths reads what encodePaths (Manager.Path) produced.
func decodePaths(s string, hier []hierarchy) (map[string]string, error) {
	parts := strings.Split(s, ";")
	common := parts[0]
	if !filepath.IsAbs(common) || filepath.Clean(common) != common || common == "/" {
		return nil, fmt.Errorf("load cgroup: %q is not an absolute container cgroup path", s)
	}
	paths := make(map[string]string, len(hier))
	for _, x := range hier {
		paths[x.Name] = common
	}
	for _, p := range parts[1:] {
		name, path, ok := strings.Cut(p, "=")
		if !ok || !filepath.IsAbs(path) {
			return nil, fmt.Errorf("load cgroup: bad hierarchy path %q in %q", p, s)
		}
		if _, known := paths[name]; known {
			paths[name] = filepath.Clean(path)
		}
	}
	return paths, nil
}
