package cgroups

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The writer runs against fake cgroup trees in a temporary directory, which
// needs no root. A fake tree is plain files: the test creates the files the
// kernel would, and reads back what was written last.

// fakeTree creates files (path -> content) under root.
func fakeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// defaultList is devices.list after deny-all and runc's defaults.
const defaultList = "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:8 rwm\nc 1:7 rwm\nc 5:0 rwm\nc 1:5 rwm\nc 1:9 rwm\nc 136:* rwm\nc 5:2 rwm\nc 10:200 rwm\n"

func fakeV1(t *testing.T, leaf string, extra map[string]string) string {
	root := t.TempDir()
	files := map[string]string{
		"cpuset/cpuset.cpus":                       "0-3\n",
		"cpuset/cpuset.mems":                       "0\n",
		"cpuset/mr/cpuset.cpus":                    "",
		"cpuset/mr/cpuset.mems":                    "",
		"cpuset" + leaf + "/cpuset.cpus":           "",
		"cpuset" + leaf + "/cpuset.mems":           "",
		"cpu,cpuacct" + leaf + "/cpu.shares":       "1024",
		"cpu,cpuacct" + leaf + "/cpu.cfs_quota_us": "-1",
		"memory" + leaf + "/memory.limit_in_bytes": "9223372036854771712",
		"devices" + leaf + "/devices.allow":        "",
		"devices" + leaf + "/devices.deny":         "",
		"devices" + leaf + "/devices.list":         defaultList,
		"pids" + leaf + "/pids.max":                "max",
		"blkio" + leaf + "/blkio.bfq.weight":       "100",
		"freezer" + leaf + "/freezer.state":        "THAWED",
		"systemd" + leaf + "/cgroup.procs":         "",
	}
	for _, h := range []string{"cpuset", "cpu,cpuacct", "memory", "devices", "pids", "blkio", "freezer", "systemd"} {
		files[h+leaf+"/cgroup.procs"] = ""
	}
	for k, v := range extra {
		files[k] = v
	}
	fakeTree(t, root, files)
	return root
}

func TestFakeV1New(t *testing.T) {
	root := fakeV1(t, "/mr/web", nil)
	var rec bytes.Buffer
	res := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(20000)},
		Pids:    &specs.LinuxPids{Limit: i64(10)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(500)},
	}
	m, err := New("web", "/mr/web", res, Options{Mountpoint: root, Recorder: trace.New(&rec, "test")})
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode() != Legacy || m.Path() != "/mr/web" {
		t.Errorf("mode %s path %s", m.Mode(), m.Path())
	}
	for file, want := range map[string]string{
		"memory/mr/web/memory.limit_in_bytes": "67108864",
		"cpu,cpuacct/mr/web/cpu.shares":       "512",
		"cpu,cpuacct/mr/web/cpu.cfs_quota_us": "20000",
		"pids/mr/web/pids.max":                "10",
		"blkio/mr/web/blkio.bfq.weight":       "500", // no CFQ blkio.weight: BFQ's file
		"cpuset/mr/cpuset.cpus":               "0-3", // copied down from the root
		"cpuset/mr/web/cpuset.mems":           "0",
		"devices/mr/web/devices.deny":         "a *:* rwm",
		"devices/mr/web/devices.allow":        "c 10:200 rwm", // the last write
	} {
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", file, data, err, want)
		}
	}
	// The recorder shows every write, in order, as shell.
	log := rec.String()
	order := []string{
		"echo 0-3 > " + root + "/cpuset/mr/cpuset.cpus",
		"echo 'a *:* rwm' > " + root + "/devices/mr/web/devices.deny",
		"echo 'c 1:3 rwm' > " + root + "/devices/mr/web/devices.allow",
		"echo 67108864 > " + root + "/memory/mr/web/memory.limit_in_bytes",
		"echo 512 > " + root + "/cpu,cpuacct/mr/web/cpu.shares",
		"echo 10 > " + root + "/pids/mr/web/pids.max",
		"echo 500 > " + root + "/blkio/mr/web/blkio.bfq.weight",
	}
	if strings.Contains(log, "blkio.weight ") {
		t.Errorf("recorder shows a write to the missing blkio.weight:\n%s", log)
	}
	at := 0
	for _, want := range order {
		i := strings.Index(log[at:], want)
		if i < 0 {
			t.Fatalf("recorder lacks %q after position %d:\n%s", want, at, log)
		}
		at += i
	}

	// Add writes the pid in every hierarchy.
	if err := m.Add(4242); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"memory", "cpu,cpuacct", "systemd", "devices"} {
		if data, _ := os.ReadFile(filepath.Join(root, h, "mr/web/cgroup.procs")); string(data) != "4242" {
			t.Errorf("%s cgroup.procs = %q", h, data)
		}
	}
	if pids, err := m.Pids(); err != nil || len(pids) != 1 || pids[0] != 4242 {
		t.Errorf("Pids() = %v, %v", pids, err)
	}
}

// A field whose file is missing is refused with the field's name, and New
// removes the directories it made.
func TestFakeV1RefusesAndCleansUp(t *testing.T) {
	for _, c := range []struct {
		name string
		res  *specs.LinuxResources
		err  string
		kind error
		path string
	}{
		{"no hugetlb hierarchy", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}},
			"linux.resources.hugepageLimits[0].limit: the hugetlb controller is not mounted", ErrNotSupported, ""},
		{"no net_cls hierarchy", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}},
			"linux.resources.network.classID: the net_cls controller is not mounted", ErrNotSupported, ""},
		{"unified on v1", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}},
			"linux.resources.unified: cgroup v2 files cannot be set on a cgroup v1 host", ErrNotSupported, ""},
		{"file missing: leaf weight without CFQ", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(100)}},
			"linux.resources.blockIO.leafWeight: this kernel has no blkio.leaf_weight", ErrNotSupported, "/mr/web"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := fakeV1(t, "/mr/web", nil)
			path := "/mr/new/other"
			if c.path != "" {
				path = c.path // the fake kernel files exist only there
			}
			_, err := New("other", path, c.res, Options{Mountpoint: root})
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, c.kind) {
				t.Fatalf("New = %v, want %q (%v)", err, c.err, c.kind)
			}
			// Nothing of /mr/new is left, /mr (which existed) stays.
			for _, h := range []string{"memory", "cpuset", "devices"} {
				if _, err := os.Stat(filepath.Join(root, h, "mr/new")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s/mr/new left behind: %v", h, err)
				}
			}
			if _, err := os.Stat(filepath.Join(root, "cpuset/mr")); err != nil {
				t.Errorf("pre-existing cpuset/mr removed: %v", err)
			}
		})
	}
}

func TestFakeV1Optional(t *testing.T) {
	// No memory.memsw.limit_in_bytes (swap accounting off): unlimited
	// memory needs no swap write, and the recorder says so.
	root := fakeV1(t, "/mr/web", nil)
	var rec bytes.Buffer
	_, err := New("web", "/mr/web", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}, Options{Mountpoint: root, Recorder: trace.New(&rec, "t")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.String(), "memory.limit: no memory.memsw.limit_in_bytes on this kernel; nothing to do") {
		t.Errorf("recorder:\n%s", rec.String())
	}
	// But a finite swap limit is refused there.
	_, err = New("web", "/mr/web", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(200)}}, Options{Mountpoint: root})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.memory.swap: this kernel has no memory.memsw.limit_in_bytes") {
		t.Errorf("New = %v", err)
	}
}

func TestFakeV1DevicesMismatch(t *testing.T) {
	// If devices.list does not end up as the rules say, New fails.
	root := fakeV1(t, "/mr/web", map[string]string{"devices/mr/web/devices.list": "a *:* rwm\n"})
	_, err := New("web", "/mr/web", nil, Options{Mountpoint: root})
	if err == nil || !strings.Contains(err.Error(), "devices.list") {
		t.Fatalf("New = %v", err)
	}
}

func TestFakeV2Writer(t *testing.T) {
	root := t.TempDir()
	fakeTree(t, root, map[string]string{
		"cgroup.controllers":            "cpuset cpu io memory pids",
		"cgroup.subtree_control":        "cpu",
		"mr/cgroup.controllers":         "cpuset cpu io memory pids",
		"mr/cgroup.subtree_control":     "",
		"mr/web/cgroup.subtree_control": "",
		"mr/web/memory.max":             "max",
		"mr/web/memory.swap.max":        "max",
		"mr/web/cpu.weight":             "100",
		"mr/web/cpu.max":                "max 100000",
		"mr/web/io.weight":              "default 100",
		"mr/web/pids.max":               "max",
	})
	h := &host{mode: Unified, mnt: root, hier: []hierarchy{{V2: true, Root: "/"}}}
	var rec bytes.Buffer
	m, err := load(h, "/mr/web", Options{Recorder: trace.New(&rec, "t")})
	if err != nil {
		t.Fatal(err)
	}
	res := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(100 << 20), Swap: i64(150 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(2048), Quota: i64(50000), Period: u64(100000)},
		BlockIO: &specs.LinuxBlockIO{Weight: u16(1000)},
		Pids:    &specs.LinuxPids{Limit: i64(64)},
	}
	settings, err := V2Values(res)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.wantControllers(settings)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.enableControllers(want); err != nil {
		t.Fatal(err)
	}
	if err := m.w.apply(settings, m.dirFor); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cgroup.subtree_control":    "+memory +pids +io", // cpu was already on
		"mr/cgroup.subtree_control": "+cpu +memory +pids +io",
		"mr/web/memory.max":         "104857600",
		"mr/web/memory.swap.max":    "52428800",
		"mr/web/cpu.weight":         "174",
		"mr/web/cpu.max":            "50000 100000",
		"mr/web/io.weight":          "10000", // no io.bfq.weight: converted
		"mr/web/pids.max":           "64",
	} {
		if data, _ := os.ReadFile(filepath.Join(root, file)); string(data) != want {
			t.Errorf("%s = %q, want %q", file, data, want)
		}
	}
	if !strings.Contains(rec.String(), "echo '+cpu +memory +pids +io' > "+root+"/mr/cgroup.subtree_control") {
		t.Errorf("recorder:\n%s", rec.String())
	}

	// A controller the kernel lacks is refused by name.
	bad, _ := V2Values(&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1}}})
	if _, err := m.wantControllers(bad); err == nil || !strings.Contains(err.Error(), "linux.resources.hugepageLimits[0].limit: the hugetlb controller is not available") {
		t.Errorf("wantControllers(hugetlb) = %v", err)
	}
	// Stats read the same files.
	fakeTree(t, root, map[string]string{
		"mr/web/cpu.stat":       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\nnr_throttled 3\nthrottled_usec 200\n",
		"mr/web/memory.current": "4096\n",
		"mr/web/memory.events":  "low 0\nhigh 0\nmax 7\noom 1\noom_kill 2\n",
		"mr/web/memory.stat":    "anon 100\nfile 200\n",
		"mr/web/pids.current":   "3\n",
	})
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPU.Usage.Total != 1500000 || st.CPU.Throttling.ThrottledPeriods != 3 || st.Memory.Usage.Usage != 4096 ||
		st.Memory.Usage.Limit != 104857600 || st.Memory.Usage.Failcnt != 7 || st.OOMKills != 2 || st.Memory.Cache != 200 ||
		st.Pids.Current != 3 || st.Pids.Limit != 64 || st.Memory.Swap.Limit != 52428800 {
		t.Errorf("Stats() = %+v", st)
	}
}

// The blkio weight goes to CFQ's blkio.weight, else BFQ's blkio.bfq.weight;
// a kernel with neither refuses it, naming both files.
func TestFakeV1BlkioWeight(t *testing.T) {
	for _, c := range []struct {
		name        string
		cfq, bfq    bool
		file, err   string
		wantWritten string
	}{
		{name: "CFQ", cfq: true, bfq: true, file: "blkio.weight"},
		{name: "BFQ", bfq: true, file: "blkio.bfq.weight"},
		{name: "neither", err: "linux.resources.blockIO.weight: this kernel has neither blkio.weight nor blkio.bfq.weight in "},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := fakeV1(t, "/mr/web", nil)
			blk := filepath.Join(root, "blkio/mr/web")
			if !c.bfq {
				os.Remove(filepath.Join(blk, "blkio.bfq.weight"))
			}
			if c.cfq {
				fakeTree(t, blk, map[string]string{"blkio.weight": "100"})
			}
			_, err := New("web", "/mr/web", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(300)}}, Options{Mountpoint: root})
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) || !errors.Is(err, ErrNotSupported) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("New = %v, want one line starting %q", err, c.err)
				}
				if !strings.Contains(err.Error(), "BFQ") {
					t.Errorf("New = %v, want a word on BFQ", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(filepath.Join(blk, c.file)); string(data) != "300" {
				t.Errorf("%s = %q, want 300", c.file, data)
			}
		})
	}
}

// The deprecated kernel memory limits: applied where the kernel has the
// file and keeps the value; accepted with one warning line naming the field
// where it has no file (and on v2, always).
func TestFakeKernelMemory(t *testing.T) {
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(1 << 20), KernelTCP: i64(2 << 20)}} //nolint:staticcheck
	t.Run("v1 files present", func(t *testing.T) {
		root := fakeV1(t, "/mr/web", map[string]string{
			"memory/mr/web/memory.kmem.limit_in_bytes":     "9223372036854771712",
			"memory/mr/web/memory.kmem.tcp.limit_in_bytes": "9223372036854771712",
		})
		var warnings []string
		if _, err := New("web", "/mr/web", res, Options{Mountpoint: root, Warn: func(s string) { warnings = append(warnings, s) }}); err != nil {
			t.Fatal(err)
		}
		for file, want := range map[string]string{"memory.kmem.limit_in_bytes": "1048576", "memory.kmem.tcp.limit_in_bytes": "2097152"} {
			if data, _ := os.ReadFile(filepath.Join(root, "memory/mr/web", file)); string(data) != want {
				t.Errorf("%s = %q, want %s", file, data, want)
			}
		}
		if len(warnings) != 0 {
			t.Errorf("warnings %q for limits the kernel kept", warnings)
		}
	})
	t.Run("v1 files missing", func(t *testing.T) {
		root := fakeV1(t, "/mr/web", nil)
		var warnings []string
		var rec bytes.Buffer
		if _, err := New("web", "/mr/web", res, Options{Mountpoint: root, Recorder: trace.New(&rec, "t"), Warn: func(s string) { warnings = append(warnings, s) }}); err != nil {
			t.Fatal(err)
		}
		checkWarnings(t, warnings, "linux.resources.memory.kernel: ignored: this kernel has no memory.kmem.limit_in_bytes",
			"linux.resources.memory.kernelTCP: ignored: this kernel has no memory.kmem.tcp.limit_in_bytes")
		if !strings.Contains(rec.String(), "memory.kernel: ignored: ") {
			t.Errorf("recorder does not show the ignored field:\n%s", rec.String())
		}
	})
	t.Run("v2", func(t *testing.T) {
		root := t.TempDir()
		fakeTree(t, root, map[string]string{
			"cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "",
			"mr/cgroup.subtree_control": "", "mr/web/cgroup.subtree_control": "",
		})
		h := &host{mode: Unified, mnt: root, hier: []hierarchy{{V2: true, Root: "/"}}}
		var warnings []string
		m, err := load(h, "/mr/web", Options{Warn: func(s string) { warnings = append(warnings, s) }})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Update(res); err != nil {
			t.Fatal(err)
		}
		checkWarnings(t, warnings, "linux.resources.memory.kernel: ignored: cgroup v2 has no kernel memory limit",
			"linux.resources.memory.kernelTCP: ignored: cgroup v2 has no separate TCP buffer limit")
	})
}

// checkWarnings wants exactly one single-line warning per prefix, in order.
func checkWarnings(t *testing.T, got []string, prefixes ...string) {
	t.Helper()
	if len(got) != len(prefixes) {
		t.Fatalf("warnings = %q, want %d", got, len(prefixes))
	}
	for i, p := range prefixes {
		if !strings.HasPrefix(got[i], p) || strings.Contains(got[i], "\n") {
			t.Errorf("warning %d = %q, want one line starting %q", i, got[i], p)
		}
	}
}

// On a hybrid host a controller that no v1 hierarchy binds can show up in
// the cgroup2 hierarchy at unified/ (hugetlb on this machine). Resources go
// through v1 there, so the field is refused, saying where the controller is.
func TestFakeHybridControllerInUnified(t *testing.T) {
	root := fakeV1(t, "/mr/web", map[string]string{"unified/cgroup.controllers": "hugetlb\n"})
	res := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}
	_, err := New("web", "/mr/new", res, Options{Mountpoint: root})
	want := "linux.resources.hugepageLimits[0].limit: the hugetlb controller is not mounted as a cgroup v1 hierarchy; this hybrid host has it only in the cgroup2 hierarchy at " + root + "/unified"
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrNotSupported) {
		t.Fatalf("New = %v, want %q", err, want)
	}
	if _, err := os.Stat(filepath.Join(root, "unified/mr")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("unified/mr created for a refused config: %v", err)
	}
}

// A v2 weight goes to io.bfq.weight, else to io.weight converted; a kernel
// with neither refuses it.
func TestFakeV2IOWeight(t *testing.T) {
	for _, c := range []struct {
		name, file, want, err string
	}{
		{name: "BFQ", file: "io.bfq.weight", want: "500"},
		{name: "iocost", file: "io.weight", want: "4950"},
		{name: "neither", err: "linux.resources.blockIO.weight: this kernel has neither io.bfq.weight nor io.weight in "},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{
				"cgroup.controllers": "cpu io memory pids", "cgroup.subtree_control": "",
				"mr/cgroup.subtree_control": "", "mr/web/cgroup.subtree_control": "",
			}
			if c.file != "" {
				files["mr/web/"+c.file] = "default 100\n"
			}
			fakeTree(t, root, files)
			h := &host{mode: Unified, mnt: root, hier: []hierarchy{{V2: true, Root: "/"}}}
			m, err := load(h, "/mr/web", Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = m.Update(&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(500)}})
			if c.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), c.err) || !errors.Is(err, ErrNotSupported) {
					t.Fatalf("Update = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(filepath.Join(root, "mr/web", c.file)); string(data) != c.want {
				t.Errorf("%s = %q, want %q", c.file, data, c.want)
			}
		})
	}
}
