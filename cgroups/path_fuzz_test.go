package cgroups

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzResolve checks linux.cgroupsPath resolution for the cgroupfs driver
// on a hybrid and a unified host: an accepted path is absolute, clean,
// never the root, stays under the caller's base when relative, and
// survives encodePaths and decodePaths unchanged; a refusal is ErrInvalid
// naming linux.cgroupsPath on one line.
func FuzzResolve(f *testing.F) {
	v1 := &host{mode: Hybrid, mnt: "/sys/fs/cgroup", hier: v1Hier, own: parseOwnCgroups([]byte(ownV1), v1Hier)}
	v2 := &host{mode: Unified, mnt: "/sys/fs/cgroup", hier: []hierarchy{{V2: true, Root: "/"}}, own: map[string]string{"": "/user.slice/s"}}
	for _, s := range []struct{ id, path string }{
		{"web", ""}, {"web", "/a/b"}, {"web", "/a/../../b/"}, {"web", "testdir/c"}, {"web", "../../escape"},
		{"web", "rel"}, {"", ""}, {"a/b", ""}, {"x", "/"}, {"x", "/a;b"}, {"x", "a\nb"}, {"..", ""}, {"x", "/a;memory=/b"},
	} {
		f.Add(s.id, s.path)
	}
	f.Fuzz(func(t *testing.T, id, cgroupsPath string) {
		for _, h := range []*host{v1, v2} {
			paths, err := h.resolve(id, cgroupsPath)
			if err != nil {
				if !errors.Is(err, ErrInvalid) && !strings.Contains(err.Error(), "own cgroup") {
					t.Fatalf("resolve(%q, %q): %v is not ErrInvalid", id, cgroupsPath, err)
				}
				if !strings.Contains(err.Error(), "linux.cgroupsPath") || strings.ContainsAny(err.Error(), "\n\r") {
					t.Fatalf("resolve(%q, %q): refusal %q does not name linux.cgroupsPath on one line", id, cgroupsPath, err)
				}
				continue
			}
			for name, p := range paths {
				if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" || strings.ContainsAny(p, ";\n") {
					t.Fatalf("resolve(%q, %q)[%q] = %q: not an absolute, clean, non-root path", id, cgroupsPath, name, p)
				}
				// A relative path that cleans to nothing ("." or "a/..")
				// is the default path, as an empty one is.
				if !filepath.IsAbs(cgroupsPath) && cleanPath(cgroupsPath) != "" {
					base := h.own[name]
					if h.mode == Unified {
						base = filepath.Dir(base)
					}
					if base != "/" && !strings.HasPrefix(p, base+"/") {
						t.Fatalf("relative %q resolved to %q, outside the base %q", cgroupsPath, p, base)
					}
				}
			}
			back, err := decodePaths(encodePaths(paths), h.hier)
			if err != nil {
				t.Fatalf("decode(encode(%v)): %v", paths, err)
			}
			for k, v := range paths {
				if back[k] != v {
					t.Fatalf("decode(encode(%v))[%q] = %q", paths, k, back[k])
				}
			}
		}
	})
}

// FuzzDecodePaths feeds arbitrary state text to decodePaths: it never
// panics, and whatever it accepts is absolute and clean.
func FuzzDecodePaths(f *testing.F) {
	for _, s := range []string{"", "relative", "/", "/a/../b", "/a;memory", "/a;memory=rel", "/miniruntime-web",
		"/user.slice/s/testdir/c;cpu,cpuacct=/testdir/c;memory=/process_api/c3eb/testdir/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		paths, err := decodePaths(s, v1Hier)
		if err != nil {
			return
		}
		for k, p := range paths {
			if !filepath.IsAbs(p) || filepath.Clean(p) != p {
				t.Fatalf("decodePaths(%q)[%q] = %q: not absolute and clean", s, k, p)
			}
		}
	})
}

// FuzzSystemdPath checks the systemd driver's "slice:prefix:name": an
// accepted path puts a valid unit in a valid slice, the unit's cgroup is
// under the slice's, and every level of it is a slice unit systemd would
// take; a refusal is ErrInvalid naming linux.cgroupsPath on one line.
func FuzzSystemdPath(f *testing.F) {
	for _, s := range []struct{ id, path string }{
		{"web", ""}, {"web", "system.slice:docker:abc"}, {"web", ":crio:abc"}, {"web", "-:x:web"}, {"web", "-.slice:x:web"},
		{"web", "system.slice::web"}, {"web", "kubepods.slice::kubepods-pod1.slice"}, {"web", ":ignored:kubepods-pod1.slice"},
		{"web", "system.slice::foo.slice"}, {"web", "a:b"}, {"web", "/kubepods/burstable/pod1/web"}, {"web", "a:b:c:d"},
		{"web", "system.slice:docker:"}, {"web", "kubepods/burstable.slice:x:web"}, {"web", "machine:libpod:web"},
		{"web", "a--b.slice:x:web"}, {"a+b", ""}, {"web", "kubepods-burstable-pod12.slice:cri-containerd:abc"},
		{"web", "system.slice:x:a\nb"},
	} {
		f.Add(s.id, s.path)
	}
	f.Fuzz(func(t *testing.T, id, cgroupsPath string) {
		p, err := parseSystemdPath(id, cgroupsPath)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "linux.cgroupsPath ") || strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("parseSystemdPath(%q, %q): refusal %q is not ErrInvalid naming linux.cgroupsPath on one line", id, cgroupsPath, err)
			}
			return
		}
		if err := checkUnitName(p.Unit); err != nil {
			t.Fatalf("accepted unit %q: %v", p.Unit, err)
		}
		dir, err := ExpandSlice(p.Slice)
		if err != nil {
			t.Fatalf("accepted slice %q: %v", p.Slice, err)
		}
		if !strings.HasPrefix(p.Path, strings.TrimSuffix(dir, "/")+"/") || filepath.Base(p.Path) != p.Unit || filepath.Clean(p.Path) != p.Path {
			t.Fatalf("parseSystemdPath(%q, %q) = %+v: the unit's cgroup is not <slice dir>/<unit>", id, cgroupsPath, p)
		}
		for _, level := range strings.Split(strings.TrimPrefix(filepath.Dir(p.Path), "/"), "/") {
			if level == "" {
				continue
			}
			if _, err := ExpandSlice(level); err != nil {
				t.Fatalf("parseSystemdPath(%q, %q) = %+v: level %q: %v", id, cgroupsPath, p, level, err)
			}
		}
	})
}
