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
// The tests that use it need the controllers every v1 container host has;
// what New does without one is checked by TestHostControllers.
func v1dir(t *testing.T, h *host, ctrl, path string) string {
	t.Helper()
	x, ok := h.controllerHier(ctrl)
	if !ok {
		t.Skipf("%s is not mounted; TestHostControllers checks the refusal", ctrl)
	}
	return filepath.Join(h.mnt, x.Name, path)
}

// The v1 memory knobs every v1 kernel has, read back the way containerd
// reads them. (Knobs that depend on the kernel are in hostcase_test.go.)
func TestV1MoreFields(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	p := parent + "/more"
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{
			Limit: i64(64 << 20), Reservation: i64(16 << 20), Swappiness: u64(20),
			DisableOOMKiller: ptr(true), UseHierarchy: ptr(true),
		},
	}
	v1dir(t, h, "memory", p)
	m, err := create(h, "more", p, res, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Delete()
	r := newReader(t, h, p)
	st := r.v1Metrics()
	wantEq(t, "memory limit", st.Memory.Usage.Limit, 64<<20)
	wantEq(t, "oom_kill_disable", st.MemoryOomControl.OomKillDisable, 1)
	r.wantFile("memory", "memory.soft_limit_in_bytes", "16777216")
	r.wantFile("memory", "memory.swappiness", "20")
	r.wantFile("memory", "memory.use_hierarchy", "1")
}

// Fields no v1 host can apply are refused, naming the field, and leave
// nothing behind. (Refusals that depend on the host are in
// hostcase_test.go.)
func TestV1Refusals(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	cases := []struct {
		name string
		res  *specs.LinuxResources
		err  string
	}{
		{"unified", &specs.LinuxResources{Unified: map[string]string{"memory.high": "1"}}, "linux.resources.unified: cgroup v2 files cannot be set"},
		{"finite swap with unlimited memory", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(1 << 30)}}, "linux.resources.memory.swap: a finite memory+swap total"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := fmt.Sprintf("%s/r%d", parent, i)
			_, err := create(h, "r", p, c.res, Options{})
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
	mem := v1dir(t, h, "memory", p)
	v1dir(t, h, "cpu", p)
	// Swap accounting is the host's choice: with it, limit and memsw move
	// together; without it, the limit alone (TestHostSwap checks that a
	// swap limit is refused there).
	_, err := os.Stat(filepath.Join(v1dir(t, h, "memory", "/"), "memory.memsw.limit_in_bytes"))
	swap := err == nil
	t.Logf("host case: swap accounting %v", swap)
	mkmem := func(limit, memsw int64) *specs.LinuxMemory {
		if swap {
			return &specs.LinuxMemory{Limit: i64(limit), Swap: i64(memsw)}
		}
		return &specs.LinuxMemory{Limit: i64(limit)}
	}
	m, err := create(h, "up", p, &specs.LinuxResources{
		Memory: mkmem(64<<20, 64<<20),
		CPU:    &specs.LinuxCPU{Shares: u64(1024)},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Delete()
	r := newReader(t, h, p)
	check := func(limit, memsw uint64) {
		t.Helper()
		st := r.v1Metrics()
		wantEq(t, "memory limit", st.Memory.Usage.Limit, limit)
		if swap {
			wantEq(t, "memory+swap limit", st.Memory.Swap.Limit, memsw)
		}
	}
	// Raising both needs memsw first; the writer finds that order.
	if err := m.Update(&specs.LinuxResources{Memory: mkmem(128<<20, 256<<20)}); err != nil {
		t.Fatal(err)
	}
	check(128<<20, 256<<20)
	// Lowering both needs limit first.
	if err := m.Update(&specs.LinuxResources{Memory: mkmem(32<<20, 32<<20)}); err != nil {
		t.Fatal(err)
	}
	check(32<<20, 32<<20)
	// Fields not given are left alone.
	if err := m.Update(&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(256)}}); err != nil {
		t.Fatal(err)
	}
	check(32<<20, 32<<20)
	r.wantFile("cpu", "cpu.shares", "256")

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
	check(32<<20, 32<<20)
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
	}, Options{})
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
	// Our Stats and containerd's agree on what does not move.
	cs := newReader(t, h, parent+"/st").v1Metrics()
	wantEq(t, "memory limit", cs.Memory.Usage.Limit, st.Memory.Usage.Limit)
	wantEq(t, "memory+swap limit", cs.Memory.Swap.Limit, st.Memory.Swap.Limit)
	wantEq(t, "pids limit", cs.Pids.Limit, st.Pids.Limit)
	wantEq(t, "percpu count", len(cs.CPU.Usage.PerCPU), len(st.CPU.Usage.Percpu))
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
	m, err := load(h, path, Options{})
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
