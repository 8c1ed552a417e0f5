package cgroups

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// These tests need a pure cgroup v2 host with controllers. This machine is
// hybrid, so they run in the QEMU guest:
//
//	go test -exec "$PWD/scripts/vm-test.sh --" ./cgroups

func TestUnifiedNewAppliesLimits(t *testing.T) {
	h := needMode(t, Unified)
	parent := testParent(t, h)
	p := parent + "/web"
	// Swap, hugetlb, CPU burst and idle depend on the kernel: see
	// hostcase_test.go. These the v2 controllers always have.
	res := &specs.LinuxResources{
		Memory:  &specs.LinuxMemory{Limit: i64(64 << 20), Reservation: i64(16 << 20)},
		CPU:     &specs.LinuxCPU{Shares: u64(512), Quota: i64(20000), Period: u64(100000), Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: i64(32)},
		Unified: map[string]string{"memory.high": "50331648"},
	}
	m, err := create(h, "web", p, res, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.mnt, p)
	// Read back the way containerd's shim does.
	r := newReader(t, h, p)
	st := r.v2Metrics()
	wantEq(t, "memory.max", st.Memory.UsageLimit, 64<<20)
	wantEq(t, "pids.max", st.Pids.Limit, 32)
	for file, want := range map[string]string{
		"memory.low":  "16777216",
		"memory.high": "50331648",
		"cpu.weight":  "59",
		"cpu.max":     "20000 100000",
		"cpuset.cpus": "0",
		"cpuset.mems": "0",
	} {
		r.wantFile("", file, want)
	}
	ctl := readFile(t, filepath.Join(h.mnt, parent, "cgroup.subtree_control"))
	for _, c := range []string{"cpu", "memory", "pids", "cpuset"} {
		if !strings.Contains(ctl, c) {
			t.Errorf("%s/cgroup.subtree_control = %q, lacks %s", parent, ctl, c)
		}
	}
	// A period alone keeps the quota.
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000)}}); err != nil {
		t.Fatal(err)
	}
	r.wantFile("", "cpu.max", "20000 50000")
	if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(128 << 20)}, Pids: &specs.LinuxPids{Limit: i64(-1)}}); err != nil {
		t.Fatal(err)
	}
	st = r.v2Metrics()
	wantEq(t, "memory.max after Update", st.Memory.UsageLimit, 128<<20)
	wantEq(t, "pids.max after Update", st.Pids.Limit, math.MaxUint64) // containerd's reading of "max"
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s survived Delete", dir)
	}
}

// v1-only fields are refused on v2, before anything is created.
func TestUnifiedRefusals(t *testing.T) {
	h := needMode(t, Unified)
	parent := testParent(t, h)
	for _, c := range []struct {
		res *specs.LinuxResources
		err string
	}{
		{&specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(10)}}, "linux.resources.memory.swappiness"},
		{&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(1000)}}, "linux.resources.cpu.realtimeRuntime"},
		{&specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(1)}}, "linux.resources.network.classID"},
		{&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(100)}}, "linux.resources.blockIO.leafWeight"},
	} {
		_, err := create(h, "x", parent+"/x", c.res, Options{})
		if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrNotSupported) {
			t.Errorf("New = %v, want %s refused", err, c.err)
		}
		if _, err := os.Stat(filepath.Join(h.mnt, parent)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s created for a refused config", parent)
		}
	}
}

// memory.max with no swap: a process that needs more is OOM-killed, and
// Stats counts it.
func TestUnifiedOOM(t *testing.T) {
	h := needMode(t, Unified)
	parent := testParent(t, h)
	m, err := create(h, "oom", parent+"/oom", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(32 << 20), Swap: i64(32 << 20)},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Delete()
	fd, err := m.FD()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	// The shell holds 64 MiB of "a" in a variable.
	cmd := exec.Command("sh", "-c", `x=$(head -c 67108864 /dev/zero | tr '\0' a); echo survived`)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	out, err := cmd.CombinedOutput()
	if err == nil && strings.Contains(string(out), "survived") {
		t.Fatalf("the hog survived a 32 MiB limit: %s", out)
	}
	st, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.OOMKills == 0 || st.Memory.Usage.Limit != 32<<20 {
		t.Errorf("Stats() = %+v, want an OOM kill", st)
	}
	// containerd's shim sees the same kill.
	cs := newReader(t, h, parent+"/oom").v2Metrics()
	if cs.MemoryEvents == nil || cs.MemoryEvents.OomKill != st.OOMKills {
		t.Errorf("containerd reads memory events %v, want oom_kill %d", cs.MemoryEvents, st.OOMKills)
	}
}
