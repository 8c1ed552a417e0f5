package cgroups

import (
	"strings"
	"testing"
)

var v1Hier = []hierarchy{
	{Name: "cpu,cpuacct", Controllers: []string{"cpu", "cpuacct"}, Root: "/"},
	{Name: "memory", Controllers: []string{"memory"}, Root: "/"},
	{Name: "systemd", Controllers: []string{"name=systemd"}, Root: "/"},
	{Name: "unified", V2: true, Root: "/"},
}

const ownV1 = `11:cpu,cpuacct:/
4:memory:/process_api/c3eb
1:name=systemd:/user.slice/s
0::/user.slice/s
`

func TestParseOwnCgroups(t *testing.T) {
	got := parseOwnCgroups([]byte(ownV1), v1Hier)
	want := map[string]string{"cpu,cpuacct": "/", "memory": "/process_api/c3eb", "systemd": "/user.slice/s", "unified": "/user.slice/s"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("own[%q] = %q, want %q", k, got[k], v)
		}
	}
	// Inside a container the mount root hides the host's part of the path.
	nested := []hierarchy{{Name: "memory", Controllers: []string{"memory"}, Root: "/docker/abc"}}
	if got := parseOwnCgroups([]byte("4:memory:/docker/abc/inner\n"), nested)["memory"]; got != "/inner" {
		t.Errorf("nested own = %q, want /inner", got)
	}
}

func TestResolve(t *testing.T) {
	v1 := &host{mode: Hybrid, mnt: "/sys/fs/cgroup", hier: v1Hier, own: parseOwnCgroups([]byte(ownV1), v1Hier)}
	v2 := &host{mode: Unified, mnt: "/sys/fs/cgroup", hier: []hierarchy{{V2: true, Root: "/"}}, own: map[string]string{"": "/user.slice/s"}}
	for _, c := range []struct {
		h          *host
		id, path   string
		wantMemory string
		wantCPU    string
		encoded    string
		err        string
	}{
		{h: v1, id: "web", path: "", wantMemory: "/miniruntime-web", wantCPU: "/miniruntime-web", encoded: "/miniruntime-web"},
		{h: v1, id: "web", path: "/a/b", wantMemory: "/a/b", wantCPU: "/a/b", encoded: "/a/b"},
		{h: v1, id: "web", path: "/a/../../b/", wantMemory: "/b", wantCPU: "/b", encoded: "/b"},
		{h: v1, id: "web", path: "testdir/c", wantMemory: "/process_api/c3eb/testdir/c", wantCPU: "/testdir/c",
			encoded: "/user.slice/s/testdir/c;cpu,cpuacct=/testdir/c;memory=/process_api/c3eb/testdir/c"},
		{h: v1, id: "web", path: "../../escape", wantMemory: "/process_api/c3eb/escape", wantCPU: "/escape"},
		{h: v2, id: "web", path: "rel", wantCPU: "/user.slice/rel", encoded: "/user.slice/rel"},
		{h: v2, id: "web", path: "", wantCPU: "/miniruntime-web", encoded: "/miniruntime-web"},
		{h: v1, id: "", path: "", err: "linux.cgroupsPath: empty"},
		{h: v1, id: "a/b", path: "", err: "cannot name a cgroup"},
		{h: v1, id: "x", path: "/", err: "is the root cgroup"},
		{h: v1, id: "x", path: "/a;b", err: "';'"},
	} {
		paths, err := c.h.resolve(c.id, c.path)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("resolve(%q, %q) err = %v, want %q", c.id, c.path, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("resolve(%q, %q): %v", c.id, c.path, err)
			continue
		}
		cpuKey := "cpu,cpuacct"
		if c.h.mode == Unified {
			cpuKey = ""
		}
		if paths[cpuKey] != c.wantCPU || (c.wantMemory != "" && paths["memory"] != c.wantMemory) {
			t.Errorf("resolve(%q, %q) = %v", c.id, c.path, paths)
		}
		if c.encoded == "" {
			continue
		}
		enc := encodePaths(paths)
		if enc != c.encoded {
			t.Errorf("encodePaths = %q, want %q", enc, c.encoded)
		}
		back, err := decodePaths(enc, c.h.hier)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range paths {
			if back[k] != v {
				t.Errorf("decode(%q)[%q] = %q, want %q", enc, k, back[k], v)
			}
		}
	}
}

func TestDecodePathsRejects(t *testing.T) {
	for _, s := range []string{"", "relative", "/", "/a/../b", "/a;memory", "/a;memory=rel"} {
		if _, err := decodePaths(s, v1Hier); err == nil {
			t.Errorf("decodePaths(%q) accepted", s)
		}
	}
}
