package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v1dir is the container's directory in the hierarchy of a controller.
func v1dir(t *testing.T, h *host, ctrl, path string) string {
	t.Helper()
	x, ok := h.controllerHier(ctrl)
	if !ok {
		t.Skipf("%s is not mounted", ctrl)
	}
	return filepath.Join(h.mnt, x.Name, path)
}

func TestV1MoreFields(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	p := parent + "/more"
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{
			Limit: i64(64 << 20), Swap: i64(96 << 20), KernelTCP: i64(16 << 20),
			DisableOOMKiller: ptr(true), UseHierarchy: ptr(true),
		},
		CPU: &specs.LinuxCPU{Quota: i64(50000), Burst: u64(10000), Idle: i64(0), RealtimePeriod: u64(500000), RealtimeRuntime: i64(0)},
		// (Per-device weights need a disk on BFQ; the kernel answers
		// EOPNOTSUPP otherwise, which New reports for the field.)
		BlockIO: &specs.LinuxBlockIO{Weight: u16(300)},
	}
	m, err := create(h, "more", p, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Delete()
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.memsw.limit_in_bytes", "100663296"},
		{"memory", "memory.kmem.tcp.limit_in_bytes", "16777216"},
		{"memory", "memory.use_hierarchy", "1"},
		{"cpu", "cpu.cfs_burst_us", "10000"},
		{"cpu", "cpu.idle", "0"},
		{"cpu", "cpu.rt_period_us", "500000"},
		{"cpu", "cpu.rt_runtime_us", "0"},
	} {
		if got := readFile(t, filepath.Join(v1dir(t, h, c.ctrl, p), c.file)); got != c.want {
			t.Errorf("%s = %q, want %q", c.file, got, c.want)
		}
	}
	if got := readFile(t, filepath.Join(v1dir(t, h, "memory", p), "memory.oom_control")); !strings.Contains(got, "oom_kill_disable 1") {
		t.Errorf("memory.oom_control = %q", got)
	}
	blk := v1dir(t, h, "blkio", p)
	if _, err := os.Stat(filepath.Join(blk, "blkio.weight")); err == nil {
		if got := readFile(t, filepath.Join(blk, "blkio.weight")); got != "300" {
			t.Errorf("blkio.weight = %s", got)
		}
	} else if got := readFile(t, filepath.Join(blk, "blkio.bfq.weight")); got != "300" {
		t.Errorf("blkio.bfq.weight = %s", got)
	}
}

// Fields the host cannot apply are refused, naming the field, and leave
// nothing behind.
func TestV1Refusals(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	cases := []struct {
		name string
		res  *specs.LinuxResources
		err  string
	}{
		{"realtime runtime beyond the parent's budget", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(10000)}}, "linux.resources.cpu.realtimeRuntime: write"},
		{"unified", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, "linux.resources.unified: cgroup v2 files cannot be set"},
	}
	if _, ok := h.controllerHier("hugetlb"); !ok {
		cases = append(cases, struct {
			name string
			res  *specs.LinuxResources
			err  string
		}{"hugetlb not mounted", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}, "linux.resources.hugepageLimits[0].limit: the hugetlb controller is not mounted"})
	}
	if _, ok := h.controllerHier("net_cls"); !ok {
		cases = append(cases, struct {
			name string
			res  *specs.LinuxResources
			err  string
		}{"net_cls not mounted", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x10001)}}, "linux.resources.network.classID: the net_cls controller is not mounted"})
	}
	// Linux 6.x accepts and ignores kernel memory limits: refused after
	// reading the value back.
	if m, err := create(h, "probe", parent+"/probe", nil, nil); err == nil {
		kmem := filepath.Join(v1dir(t, h, "memory", parent+"/probe"), "memory.kmem.limit_in_bytes")
		_ = os.WriteFile(kmem, []byte("1048576"), 0)
		if data, err := os.ReadFile(kmem); err == nil && strings.TrimSpace(string(data)) != "1048576" {
			cases = append(cases, struct {
				name string
				res  *specs.LinuxResources
				err  string
			}{"kernel memory ignored by the kernel", &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(1 << 20)}}, "linux.resources.memory.kernel: the kernel accepted memory.kmem.limit_in_bytes=1048576 but kept"}) //nolint:staticcheck
		}
		m.Delete()
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := fmt.Sprintf("%s/r%d", parent, i)
			_, err := create(h, "r", p, c.res, nil)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("New = %v, want %q", err, c.err)
			}
			t.Log(err)
			for _, x := range h.hier {
				if _, err := os.Stat(filepath.Join(h.mnt, x.Name, p)); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s left behind in %s", p, x.Name)
				}
			}
		})
	}
}

func TestV1Update(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	p := parent + "/up"
	m, err := create(h, "up", p, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(64 << 20)},
		CPU:    &specs.LinuxCPU{Shares: u64(1024)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Delete()
	mem := v1dir(t, h, "memory", p)
	check := func(limit, memsw string) {
		t.Helper()
		if got := readFile(t, filepath.Join(mem, "memory.limit_in_bytes")); got != limit {
			t.Errorf("limit = %s, want %s", got, limit)
		}
		if got := readFile(t, filepath.Join(mem, "memory.memsw.limit_in_bytes")); got != memsw {
			t.Errorf("memsw = %s, want %s", got, memsw)
		}
	}
	// Raising both needs memsw first; the writer finds that order.
	if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(128 << 20), Swap: i64(256 << 20)}}); err != nil {
		t.Fatal(err)
	}
	check("134217728", "268435456")
	// Lowering both needs limit first.
	if err := m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(32 << 20), Swap: i64(32 << 20)}}); err != nil {
		t.Fatal(err)
	}
	check("33554432", "33554432")
	// Fields not given are left alone.
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(256)}}); err != nil {
		t.Fatal(err)
	}
	check("33554432", "33554432")
	if got := readFile(t, filepath.Join(v1dir(t, h, "cpu", p), "cpu.shares")); got != "256" {
		t.Errorf("cpu.shares = %s", got)
	}

	// Devices move by differences only.
	devs := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "r"}}
	if err := m.Update(&specs.LinuxResources{Devices: devs}); err != nil {
		t.Fatal(err)
	}
	list := readFile(t, filepath.Join(v1dir(t, h, "devices", p), "devices.list"))
	if !strings.Contains(list, "c 1:11 r") || !strings.Contains(list, "c 1:3 rwm") {
		t.Errorf("devices.list after Update:\n%s", list)
	}

	// checkBeforeUpdate refuses a limit below the current usage. v1 does
	// not move a process's memory with it, so the process execs after it
	// joined, to be charged for something.
	startCharged(t, m)
	usage := readFile(t, filepath.Join(mem, "memory.usage_in_bytes"))
	err = m.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(4096), CheckBeforeUpdate: ptr(true)}})
	if err == nil || !strings.Contains(err.Error(), "linux.resources.memory.limit: 4096 is not above the current usage") {
		t.Errorf("Update below usage %s = %v", usage, err)
	}
	check("33554432", "33554432")
}

// startCharged starts a process in m that allocates after joining, and
// waits until the memory cgroup has charged it.
func startCharged(t *testing.T, m *Manager) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sh", "-c", "read x; exec sleep 30")
	in, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := m.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, "go")
	for i := 0; i < 250; i++ {
		if st, err := m.Stats(); err == nil && st.Memory.Usage.Usage > 8192 {
			return cmd
		}
		waitABit()
	}
	t.Fatal("the memory cgroup never charged the process")
	return nil
}

func TestV1Stats(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	m, err := create(h, "st", parent+"/st", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20)},
		Pids:   &specs.LinuxPids{Limit: i64(50)},
		CPU:    &specs.LinuxCPU{Quota: i64(10000), Period: u64(100000)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Delete()
	startCharged(t, m)
	var st *Stats
	for i := 0; i < 100; i++ {
		if st, err = m.Stats(); err != nil {
			t.Fatal(err)
		}
		if st.CPU.Usage.Total > 0 && st.Pids.Current > 0 {
			break
		}
		waitABit()
	}
	if st.Memory.Usage.Limit != 64<<20 || st.Memory.Usage.Usage == 0 || st.Pids.Limit != 50 || st.Pids.Current == 0 ||
		st.CPU.Usage.Total == 0 || len(st.CPU.Usage.Percpu) == 0 || st.Memory.Raw == nil {
		t.Errorf("Stats() = %+v", st)
	}
}

// A relative cgroupsPath is relative to the caller's cgroup in each
// hierarchy, as runc does. The caller here is a helper process placed in
// <parent>/a in the memory hierarchy and <parent>/b in all others, so the
// paths differ and Path() carries both.
func TestV1RelativePath(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	helper := exec.Command(os.Args[0], "-test.run=^TestHelperRelative$")
	helper.Env = append(os.Environ(), "MR_CGROUPS_HELPER=1")
	stdin, _ := helper.StdinPipe()
	stdout, _ := helper.StdoutPipe()
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	for _, x := range h.hier {
		sub := "b"
		if x.has("memory") {
			sub = "a"
		}
		dir := filepath.Join(h.mnt, x.Name, parent, sub)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if x.has("cpuset") {
			if err := (writer{}).cpusetFill(filepath.Join(h.mnt, x.Name), dir); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(fmt.Sprint(helper.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintln(stdin, "go")
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	path := strings.TrimSpace(strings.TrimPrefix(line, "PATH "))
	want := fmt.Sprintf("%s/b/rel/c;memory=%s/a/rel/c", parent, parent)
	if path != want {
		t.Fatalf("helper's Path() = %q, want %q", path, want)
	}
	m, err := load(h, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Dirs() {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("missing %s: %v", d, err)
		}
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
}

// TestHelperRelative is TestV1RelativePath's caller process.
func TestHelperRelative(t *testing.T) {
	if os.Getenv("MR_CGROUPS_HELPER") != "1" {
		t.Skip("helper process for TestV1RelativePath")
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	m, err := New("x", "rel/c", nil, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		return
	}
	fmt.Println("PATH", m.Path())
}
