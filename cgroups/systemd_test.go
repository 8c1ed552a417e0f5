package cgroups

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestExpandSlice(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "system.slice", want: "/system.slice"},
		{in: "-.slice", want: "/"},
		{in: "user-1000.slice", want: "/user.slice/user-1000.slice"},
		{in: "kubepods-burstable-pod123.slice", want: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod123.slice"},
		{in: "machine.slice", want: "/machine.slice"},
		{in: "a_b-c:d.slice", want: "/a_b.slice/a_b-c:d.slice"},
		{in: "system", err: "not a slice unit name"},
		{in: ".slice", err: "not a slice unit name"},
		{in: "system.slice/foo.slice", err: `contains "/"`},
		{in: "a--b.slice", err: "empty part"},
		{in: "-a.slice", err: "empty part"},
		{in: "a-.slice", err: "empty part"},
		{in: "a b.slice", err: "not allowed"},
	} {
		got, err := ExpandSlice(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ExpandSlice(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ExpandSlice(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSystemdPath(t *testing.T) {
	long := strings.Repeat("x", 250)
	for _, tc := range []struct {
		id, path            string
		slice, unit, cgroup string
		err                 string
	}{
		{id: "web", path: "", slice: "system.slice", unit: "miniruntime-web.scope", cgroup: "/system.slice/miniruntime-web.scope"},
		{id: "web", path: "system.slice:docker:abc", slice: "system.slice", unit: "docker-abc.scope", cgroup: "/system.slice/docker-abc.scope"},
		{id: "web", path: ":crio:abc", slice: "system.slice", unit: "crio-abc.scope", cgroup: "/system.slice/crio-abc.scope"},
		{id: "web", path: "machine.slice:libpod:0123abcd", slice: "machine.slice", unit: "libpod-0123abcd.scope", cgroup: "/machine.slice/libpod-0123abcd.scope"},
		{
			id: "c1", path: "kubepods-burstable-pod7c9c.slice:cri-containerd:c1",
			slice: "kubepods-burstable-pod7c9c.slice", unit: "cri-containerd-c1.scope",
			cgroup: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c9c.slice/cri-containerd-c1.scope",
		},
		{id: "web", path: "-:x:web", slice: "-.slice", unit: "x-web.scope", cgroup: "/x-web.scope"},
		{id: "web", path: "-.slice:x:web", slice: "-.slice", unit: "x-web.scope", cgroup: "/x-web.scope"},
		// runc's spelling with an empty prefix.
		{id: "web", path: "system.slice::web", slice: "system.slice", unit: "-web.scope", cgroup: "/system.slice/-web.scope"},
		// A name ending in .slice makes a slice unit, placed by its name.
		{id: "web", path: "kubepods.slice::kubepods-pod1.slice", slice: "kubepods.slice", unit: "kubepods-pod1.slice", cgroup: "/kubepods.slice/kubepods-pod1.slice"},
		{id: "web", path: ":ignored:kubepods-pod1.slice", slice: "kubepods.slice", unit: "kubepods-pod1.slice", cgroup: "/kubepods.slice/kubepods-pod1.slice"},
		{id: "web", path: "system.slice::foo.slice", err: "lives in -.slice by its name, not in system.slice"},
		{id: "web", path: "a:b", err: `expected "slice:prefix:name"`},
		{id: "web", path: "/kubepods/burstable/pod1/web", err: `expected "slice:prefix:name"`},
		{id: "web", path: "a:b:c:d", err: `expected "slice:prefix:name"`},
		{id: "web", path: "system.slice:docker:", err: "name (third part) is empty"},
		{id: "web", path: "kubepods/burstable.slice:x:web", err: `contains "/"`},
		{id: "web", path: "machine:libpod:web", err: "not a slice unit name"},
		{id: "web", path: "a--b.slice:x:web", err: "empty part"},
		{id: "a+b", path: "", err: `"+" is not allowed`},
		{id: "web", path: "system.slice:x:" + long, err: "longer than systemd's 255"},
	} {
		p, err := parseSystemdPath(tc.id, tc.path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseSystemdPath(%q, %q) = %+v, %v; want an error with %q", tc.id, tc.path, p, err, tc.err)
				continue
			}
			// One line, naming the field and the path.
			if want := `linux.cgroupsPath "` + tc.path + `": `; !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q does not start with %q on one line", err, want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %q is not ErrInvalid", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSystemdPath(%q, %q): %v", tc.id, tc.path, err)
			continue
		}
		if p.Slice != tc.slice || p.Unit != tc.unit || p.Path != tc.cgroup {
			t.Errorf("parseSystemdPath(%q, %q) = %+v; want slice %s unit %s path %s", tc.id, tc.path, p, tc.slice, tc.unit, tc.cgroup)
		}
		if p.Scope() != strings.HasSuffix(tc.unit, ".scope") {
			t.Errorf("%q: Scope() = %v", tc.path, p.Scope())
		}
	}
}

func props(t *testing.T, res *specs.LinuxResources, version int) ([]unitProperty, []Setting) {
	t.Helper()
	settings, err := V2Values(res)
	if err != nil {
		t.Fatal(err)
	}
	p, out, err := unitResources(settings, version, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p, out
}

func texts(p []unitProperty) []string {
	var out []string
	for _, x := range p {
		out = append(out, x.Text)
	}
	return out
}

func TestUnitResourcesV2(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(32 << 20), Swap: i64(128 << 20)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0-1", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: i64(100)},
	}
	p, out := props(t, res, 252)
	want := []string{
		"TasksMax=100", "MemorySwapMax=67108864", "MemoryMax=67108864", "MemoryLow=33554432",
		"CPUWeight=" + "59", "CPUQuotaPeriodSec=100000us", "CPUQuota=50%", "AllowedCPUs=0-1", "AllowedMemoryNodes=0",
	}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("properties\n got %q\nwant %q", got, want)
	}
	for _, x := range p {
		switch x.Name {
		case "MemoryMax":
			if x.Value != uint64(64<<20) {
				t.Errorf("MemoryMax = %#v", x.Value)
			}
		case "CPUQuotaPerSecUSec":
			if x.Value != uint64(500000) {
				t.Errorf("CPUQuotaPerSecUSec = %#v, want 500000 us/s", x.Value)
			}
		case "AllowedCPUs":
			if !reflect.DeepEqual(x.Value, []byte{0x03}) {
				t.Errorf("AllowedCPUs = %#v, want [0x03]", x.Value)
			}
		}
	}
	if !reflect.DeepEqual(out, mustV2(t, res)) {
		t.Errorf("settings changed although the quota is a whole percent")
	}

	// Old systemd: no period or cpuset properties, the files still get them.
	p, _ = props(t, res, 239)
	for _, x := range p {
		if x.Name == "CPUQuotaPeriodUSec" || x.Name == "AllowedCPUs" || x.Name == "AllowedMemoryNodes" {
			t.Errorf("systemd 239 got %s", x.Text)
		}
	}
}

func mustV2(t *testing.T, res *specs.LinuxResources) []Setting {
	s, err := V2Values(res)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnitResourcesLimits(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	for _, tc := range []struct {
		name string
		res  *specs.LinuxResources
		want []string
		file string // cpu.max as written, when the quota is rounded
	}{
		{name: "unlimited", res: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}, Pids: &specs.LinuxPids{Limit: i64(-1)}},
			want: []string{"TasksMax=infinity", "MemorySwapMax=infinity", "MemoryMax=infinity"}},
		{name: "pids 0 is 1 for systemd", res: &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}}, want: []string{"TasksMax=1"}},
		{name: "no quota", res: &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1)}}, want: []string{"CPUQuota="}},
		{name: "quota rounded up to a percent", res: &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(12345), Period: u64(100000)}},
			want: []string{"CPUQuotaPeriodSec=100000us", "CPUQuota=13%"}, file: "13000 100000"},
		{name: "quota with the default period", res: &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(25000)}},
			want: []string{"CPUQuota=25%"}},
		{name: "idle", res: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024), Idle: i64(1)}}, want: []string{"CPUWeight=idle"}},
		{name: "unified keys", res: &specs.LinuxResources{Unified: map[string]string{"memory.high": "1000000", "pids.max": "7", "cpu.max": "max 50000"}},
			want: []string{"CPUQuotaPeriodSec=50000us", "CPUQuota=", "MemoryHigh=1000000", "TasksMax=7"}},
		{name: "io weight", res: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: func() *uint16 { w := uint16(500); return &w }()}},
			want: []string{"IOWeight=" + utoa(BlkioWeightToIOWeight(500))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, out := props(t, tc.res, 252)
			if got := texts(p); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if tc.file != "" {
				for _, s := range out {
					if s.File == "cpu.max" && s.Value != tc.file {
						t.Errorf("cpu.max = %q, want %q", s.Value, tc.file)
					}
				}
			}
		})
	}
}

func TestUnitResourcesV1(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	settings, err := renderV1(&specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(1 << 30)},
		CPU:    &specs.LinuxCPU{Shares: u64(2048), Quota: i64(33333), Period: u64(100000)},
		Pids:   &specs.LinuxPids{Limit: i64(50)},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	p, out, err := unitResources(settings, 252, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MemoryLimit=1073741824", "CPUShares=2048", "TasksMax=50", "CPUQuotaPeriodSec=100000us", "CPUQuota=34%"}
	if got := texts(p); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, s := range out {
		if s.File == "cpu.cfs_quota_us" && s.Value != "34000" {
			t.Errorf("cpu.cfs_quota_us = %q, want the rounded 34000", s.Value)
		}
	}
}

func TestQuotaPerSec(t *testing.T) {
	for _, tc := range []struct {
		quota   int64
		period  uint64
		perSec  uint64
		rounded int64
	}{
		{-1, 100000, math.MaxUint64, -1},
		{50000, 100000, 500000, 50000},
		{100000, 100000, 1000000, 100000},
		{1000, 100000, 10000, 1000},
		{1001, 100000, 20000, 2000},
		{150000, 1000000, 150000, 150000},
		{12345, 0, 130000, 13000},
	} {
		perSec, rounded, err := quotaPerSec(tc.quota, tc.period)
		if err != nil || perSec != tc.perSec || rounded != tc.rounded {
			t.Errorf("quotaPerSec(%d, %d) = %d, %d, %v; want %d, %d", tc.quota, tc.period, perSec, rounded, err, tc.perSec, tc.rounded)
		}
	}
	if _, _, err := quotaPerSec(math.MaxInt64, 1000); err == nil {
		t.Error("a huge quota was accepted")
	}
}

func TestCPUMask(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte
	}{
		{"0", []byte{0x01}},
		{"0-2,4", []byte{0x17}},
		{"1,3-5", []byte{0x3a}},
		{"8", []byte{0x00, 0x01}},
		{"0-9", []byte{0xff, 0x03}},
	} {
		got, err := cpuMask(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("cpuMask(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	if _, err := cpuMask(""); err == nil {
		t.Error("an empty list was accepted")
	}
}

func TestAnnotationProperties(t *testing.T) {
	p, err := annotationProperties(map[string]string{
		"org.systemd.property.TimeoutStopUSec": "uint64 15000000",
		"org.systemd.property.CollectMode":     "'inactive-or-failed'",
		"org.systemd.property.TimeoutStopSec":  "uint64 3",
		"io.kubernetes.cri.container-type":     "container",
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, x := range p {
		got[x.Name+" "+x.Text] = x.Value.(dbus.Variant).Value()
	}
	want := map[string]any{
		"CollectMode CollectMode='inactive-or-failed'":    "inactive-or-failed",
		"TimeoutStopUSec TimeoutStopSec=uint64 3":         uint64(3000000),
		"TimeoutStopUSec TimeoutStopUSec=uint64 15000000": uint64(15000000),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	for _, bad := range []map[string]string{
		{"org.systemd.property.Time-out": "true"},
		{"org.systemd.property.X": "true"},
		{"org.systemd.property.Delegate": "not a variant"},
		{"org.systemd.property.TimeoutStopSec": "'ten'"},
	} {
		if _, err := annotationProperties(bad); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

func TestSystemdVersion(t *testing.T) {
	for in, want := range map[string]int{`"252.38-1~deb12u1"`: 252, `"v245.4-1.fc32"`: 245, "239": 239, `""`: 0} {
		if got := systemdVersion(in); got != want {
			t.Errorf("systemdVersion(%q) = %d, want %d", in, got, want)
		}
	}
}

// The systemd driver refuses to start on a host without systemd, before it
// creates anything, with one line that says so.
func TestBeginSystemdWithoutSystemd(t *testing.T) {
	if SystemdRunning() {
		t.Skip("systemd runs on this host")
	}
	h := &host{mode: Unified, mnt: t.TempDir(), hier: []hierarchy{{Name: "", Root: "/", V2: true}}, own: map[string]string{"": "/"}}
	_, err := begin(h, "web", "", nil, Options{Systemd: true})
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "systemd is not running") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
}
