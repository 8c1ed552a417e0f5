package cgroups

import (
	"bytes"
	"errors"
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

// The parts of cgroup v2 that need no controller (directories, moving
// processes, clone3 into a cgroup, cgroup.freeze, cgroup.kill and the eBPF
// device filter) also work on the empty cgroup2 mount of a hybrid host.
// These tests run the v2 code paths there, so they run on this host
// without the VM; a unified host runs them on its own mount. Nothing is
// written outside the test's parent cgroup: with no resources set, New has
// no controller to enable.

func v2Host(t *testing.T) *host {
	t.Helper()
	h := needMode(t, Unified, Hybrid)
	if h.mode == Unified {
		return h
	}
	for _, x := range h.hier {
		if x.V2 {
			return &host{mode: Unified, mnt: filepath.Join(h.mnt, x.Name), hier: []hierarchy{{Name: "", V2: true, Root: x.Root}}, own: map[string]string{"": h.own[x.Name]}}
		}
	}
	t.Skip("no cgroup2 mount")
	return nil
}

// runIn runs a shell command born in the cgroup (clone3 CLONE_INTO_CGROUP).
func runIn(t *testing.T, m *Manager, script string) (string, error) {
	t.Helper()
	fd, err := m.FD()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestV2DeviceFilter(t *testing.T) {
	h := v2Host(t)
	parent := testParent(t, h)
	var rec bytes.Buffer
	res := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	m, err := create(h, "dev", parent+"/dev", res, Options{Recorder: trace.New(&rec, "test")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.String(), "bpftool cgroup attach "+m.Dirs()[0]+" device id") {
		t.Errorf("recorder lacks the attach step:\n%s", rec.String())
	}
	// runc's defaults allow /dev/null and /dev/full; /dev/kmsg (1:11) is denied.
	if out, err := runIn(t, m, ": < /dev/null && : > /dev/full && echo ok"); err != nil || out != "ok" {
		t.Errorf("default devices: %q, %v", out, err)
	}
	if out, err := runIn(t, m, ": < /dev/kmsg"); err == nil || !strings.Contains(out, "not permitted") {
		t.Errorf("/dev/kmsg: %q, %v; want Operation not permitted", out, err)
	}

	// Update replaces the filter: one program stays attached.
	res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(1), Minor: i64(11), Access: "r"})
	if err := m.Update(&specs.LinuxResources{Devices: res.Devices}); err != nil {
		t.Fatal(err)
	}
	if out, err := runIn(t, m, ": < /dev/kmsg && echo ok"); err != nil || out != "ok" {
		t.Errorf("/dev/kmsg after Update: %q, %v", out, err)
	}
	if out, err := runIn(t, m, ": > /dev/kmsg"); err == nil {
		t.Errorf("/dev/kmsg for writing after Update: %q, want denied", out)
	}
	fd, err := unix.Open(m.Dirs()[0], unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if ids, err := attachedDevicePrograms(fd); err != nil || len(ids) != 1 {
		t.Errorf("attached programs = %v, %v; want one", ids, err)
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestV2Lifecycle(t *testing.T) {
	h := v2Host(t)
	parent := testParent(t, h)
	m, err := create(h, "life", parent+"/life", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fd, err := m.FD()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fd.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	if pids, err := m.Pids(); err != nil || !slices.Equal(pids, []int{pid}) {
		t.Fatalf("Pids() = %v, %v; want [%d]", pids, err, pid)
	}
	if err := m.Freeze(); err != nil {
		t.Fatal(err)
	}
	if f, err := m.Frozen(); err != nil || !f {
		t.Fatalf("Frozen() = %v, %v", f, err)
	}
	if err := m.Thaw(); err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Frozen(); f {
		t.Error("frozen after Thaw")
	}
	// A second process joins with Add.
	other := startSleep(t)
	if err := m.Add(other.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if pids, _ := m.Pids(); len(pids) != 2 {
		t.Errorf("Pids() after Add = %v", pids)
	}
	if err := m.Signal(unix.SIGKILL); err != nil { // cgroup.kill
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != unix.SIGKILL {
			t.Errorf("sleep ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("sleep survived cgroup.kill")
	}
	if err := m.Delete(); err != nil {
		t.Fatal(err)
	}
	if m.Exists() {
		t.Error("cgroup survived Delete")
	}
}
