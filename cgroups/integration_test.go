package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Integration tests run as root on the host's real cgroups. Each test works
// under its own parent cgroup, /mrtest-<pid>-<n>, which its cleanup removes
// in every hierarchy (killing anything left), failure or not.

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates cgroups")
	}
}

// needMode skips unless the host's cgroup layout is one of modes.
func needMode(t *testing.T, modes ...Mode) *host {
	t.Helper()
	needRoot(t)
	h, err := probe("")
	if err != nil {
		t.Skipf("no usable cgroup mount: %v", err)
	}
	if !slices.Contains(modes, h.mode) {
		t.Skipf("needs a %v cgroup host, this one is %s (v2 tests run in the VM: go test -exec \"scripts/vm-test.sh --\")", modes, h.mode)
	}
	return h
}

var parentSeq int

// testParent returns a fresh absolute parent cgroup path and registers its
// removal.
func testParent(t *testing.T, h *host) string {
	t.Helper()
	parentSeq++
	parent := fmt.Sprintf("/mrtest-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6, parentSeq)
	t.Cleanup(func() { removeTestTree(t, h, parent) })
	return parent
}

func removeTestTree(t *testing.T, h *host, parent string) {
	for _, x := range h.hier {
		root := filepath.Join(h.mnt, x.Name, parent)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range slices.Backward(dirs) {
			if data, err := os.ReadFile(filepath.Join(d, "cgroup.procs")); err == nil {
				for f := range strings.FieldsSeq(string(data)) {
					var pid int
					fmt.Sscan(f, &pid)
					_ = unix.Kill(pid, unix.SIGKILL)
				}
			}
			_ = os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0)
			_ = os.WriteFile(filepath.Join(d, "cgroup.freeze"), []byte("0"), 0)
			for i := 0; i < 100; i++ {
				if err := unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if _, err := os.Stat(root); err == nil {
			t.Errorf("cleanup: %s is still there", root)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

func ptr[T any](v T) *T { return &v }

// startSleep starts "sleep 30" and makes sure it is reaped.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestV1NewAppliesLimits(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	for _, c := range []string{"memory", "cpu", "cpuset", "pids"} {
		v1dir(t, h, c, parent)
	}
	var rec bytes.Buffer
	res := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr[int64](1), Minor: ptr[int64](3), Access: "rw"}},
		Memory:  &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Reservation: ptr[int64](32 << 20), Swappiness: ptr[uint64](10)},
		CPU:     &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000), Cpus: "0", Mems: "0"},
		Pids:    &specs.LinuxPids{Limit: ptr[int64](20)},
	}
	m, err := create(h, "web", parent+"/web", res, Options{Recorder: trace.New(&rec, "test")})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Path(); got != parent+"/web" {
		t.Errorf("Path() = %q, want %q", got, parent+"/web")
	}
	dir := func(c string) string { return v1dir(t, h, c, parent+"/web") }
	// Read back the way containerd's shim does.
	r := newReader(t, h, parent+"/web")
	st := r.v1Metrics()
	wantEq(t, "memory limit", st.Memory.Usage.Limit, 64<<20)
	wantEq(t, "pids limit", st.Pids.Limit, 20)
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.soft_limit_in_bytes", "33554432"},
		{"memory", "memory.swappiness", "10"},
		{"cpu", "cpu.cfs_quota_us", "50000"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.shares", "512"},
		{"cpuset", "cpuset.cpus", "0"},
		{"cpuset", "cpuset.mems", "0"},
	} {
		r.wantFile(c.ctrl, c.file, c.want)
	}
	list := r.file("devices", "devices.list")
	for _, want := range []string{"c 1:3 rwm", "c 1:5 rwm", "c *:* m", "b *:* m", "c 136:* rwm"} {
		if !strings.Contains(list, want) {
			t.Errorf("devices.list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, "a *:* rwm") {
		t.Errorf("devices.list still allows everything:\n%s", list)
	}
	for _, want := range []string{
		"echo 67108864 > " + filepath.Join(dir("memory"), "memory.limit_in_bytes"),
		"mkdir -p " + dir("pids"),
		"echo 'a *:* rwm' > " + filepath.Join(dir("devices"), "devices.deny"),
	} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("recorder lacks %q:\n%s", want, rec.String())
		}
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Dirs() {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived Delete: %v", d, err)
		}
	}
	if err := m.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestV1Lifecycle(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	m, err := create(h, "life", parent+"/life", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := startSleep(t)
	pid := cmd.Process.Pid
	if err := m.Add(pid); err != nil {
		t.Fatal(err)
	}
	// Every line of /proc/<pid>/cgroup (one per hierarchy) names the cgroup.
	for line := range strings.SplitSeq(readFile(t, fmt.Sprintf("/proc/%d/cgroup", pid)), "\n") {
		if !strings.HasSuffix(line, ":"+parent+"/life") {
			t.Errorf("pid %d: %q is not in %s", pid, line, parent+"/life")
		}
	}
	pids, err := m.Pids()
	if err != nil || !slices.Equal(pids, []int{pid}) {
		t.Fatalf("Pids() = %v, %v; want [%d]", pids, err, pid)
	}

	// Load by path sees the same cgroup.
	l, err := load(h, m.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := l.Pids(); !slices.Equal(p, []int{pid}) {
		t.Errorf("Load(...).Pids() = %v", p)
	}

	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Fatalf("Frozen() = %v, %v after Freeze", f, err)
	}
	x, _ := h.controllerHier("freezer")
	if st := readFile(t, filepath.Join(h.mnt, x.Name, parent, "life", "freezer.state")); st != "FROZEN" {
		t.Errorf("freezer.state = %s", st)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Frozen(); f {
		t.Error("still frozen after Thaw")
	}

	if err := m.Signal(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != unix.SIGTERM {
			t.Errorf("sleep ended with %v, want SIGTERM", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sleep did not die of SIGTERM")
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Dirs() {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived Delete", d)
		}
	}
}

// Delete must kill what is left, including processes in nested cgroups.
func TestV1DeleteKills(t *testing.T) {
	h := needMode(t, Hybrid, Legacy)
	parent := testParent(t, h)
	m, err := create(h, "k", parent+"/k", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmd := startSleep(t)
	if err := m.Add(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := m.Freeze(); err != nil { // a paused container must still go
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Delete took %s", time.Since(start))
	if err := cmd.Wait(); err == nil {
		t.Error("sleep exited cleanly; want killed")
	}
	for _, d := range m.Dirs() {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived Delete", d)
		}
	}
}

func waitABit() { time.Sleep(20 * time.Millisecond) }
