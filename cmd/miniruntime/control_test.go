package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// memoryLimitFile is where the kernel shows a container's memory limit on
// this host: v2 memory.max, or v1 memory.limit_in_bytes.
func memoryLimitFile(cgroupPath string) string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return filepath.Join("/sys/fs/cgroup", cgroupPath, "memory.max")
	}
	return filepath.Join("/sys/fs/cgroup/memory", cgroupPath, "memory.limit_in_bytes")
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestPauseResumeAndPs(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sh", "-c", "sleep 30 & sleep 30; true"}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "pr")
	defer e.ok("delete", "--force", "pr")
	e.ok("start", "pr")
	e.waitStatus("pr", "running")

	var pids []int
	deadline := time.Now().Add(5 * time.Second)
	for len(pids) < 3 && time.Now().Before(deadline) { // sh and two sleeps
		if err := json.Unmarshal([]byte(e.ok("ps", "--format", "json", "pr")), &pids); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pids) != 3 {
		t.Fatalf("ps --format json: %v, want 3 pids", pids)
	}
	if out := e.ok("ps", "pr"); !strings.Contains(out, "PID") || strings.Count(out, "\n") != 4 {
		t.Fatalf("ps table:\n%s", out)
	}
	e.ok("pause", "pr")
	if s := e.state("pr"); s.Status != "paused" {
		t.Fatalf("after pause: %s", s.Status)
	}
	if r := e.mr("pause", "pr"); r.code == 0 {
		t.Fatal("pausing a paused container succeeded")
	}
	e.ok("resume", "pr")
	if s := e.state("pr"); s.Status != "running" {
		t.Fatalf("after resume: %s", s.Status)
	}
	if r := e.mr("resume", "pr"); r.code == 0 {
		t.Fatal("resuming a running container succeeded")
	}
}

func TestUpdateChangesTheKernelLimits(t *testing.T) {
	e := newEnv(t)
	limit := int64(64 << 20)
	e.spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}
	e.spec.Process.Args = []string{"sleep", "30"}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "up")
	defer e.ok("delete", "--force", "up")
	file := memoryLimitFile(e.cgroup)
	if got := readTrim(t, file); got != strconv.FormatInt(limit, 10) {
		t.Fatalf("%s = %s after create", file, got)
	}
	e.ok("update", "--memory", "128m", "up")
	if got := readTrim(t, file); got != strconv.Itoa(128<<20) {
		t.Fatalf("%s = %s after update --memory 128m", file, got)
	}
	// containerd's shim pipes LinuxResources JSON into --resources -.
	r := e.mrIn([]byte(`{"memory":{"limit":100663296},"pids":{"limit":50}}`), "update", "--resources", "-", "up")
	if r.code != 0 {
		t.Fatalf("update --resources -: %d %s", r.code, r.stderr)
	}
	if got := readTrim(t, file); got != "100663296" {
		t.Fatalf("%s = %s after update --resources -", file, got)
	}
	r = e.mr("update", "--memory", "-5", "up")
	if r.code != 1 || !strings.Contains(r.stderr, "--memory") {
		t.Fatalf("update --memory -5: exit %d, %q", r.code, r.stderr)
	}
}

func TestEventsStatsAndOOM(t *testing.T) {
	e := newEnv(t)
	limit := int64(16 << 20)
	e.spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	// Allocates far past the limit, twice, a second apart.
	e.spec.Process.Args = []string{"sh", "-c", "sleep 1; head -c 200m /dev/zero | tail; sleep 1; head -c 200m /dev/zero | tail; sleep 1"}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "ev")
	defer e.mr("delete", "--force", "ev")

	var once event
	if err := json.Unmarshal([]byte(e.ok("events", "--stats", "ev")), &once); err != nil || once.Type != "stats" || once.ID != "ev" {
		t.Fatalf("events --stats: %+v %v", once, err)
	}
	cmd := exec.Command(binary, "--root", e.root, "events", "--interval", "200ms", "ev")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	e.ok("start", "ev")
	sc := bufio.NewScanner(out)
	stats, ooms := 0, 0
	for sc.Scan() { // ends when the container stops and events exits
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("events line %q: %v", sc.Text(), err)
		}
		switch ev.Type {
		case "stats":
			stats++
		case "oom":
			ooms++
		}
	}
	if stats < 3 || ooms < 1 {
		t.Fatalf("events: %d stats lines, %d oom events; want >= 3 and >= 1", stats, ooms)
	}
}

func TestFeatures(t *testing.T) {
	e := newEnv(t)
	var f struct {
		OCIVersionMax string   `json:"ociVersionMax"`
		Hooks         []string `json:"hooks"`
		Linux         struct {
			Namespaces   []string `json:"namespaces"`
			Capabilities []string `json:"capabilities"`
			Seccomp      struct {
				Enabled bool `json:"enabled"`
			} `json:"seccomp"`
		} `json:"linux"`
	}
	if err := json.Unmarshal([]byte(e.ok("features")), &f); err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMax != specs.Version || len(f.Hooks) != 6 || len(f.Linux.Namespaces) != 8 || len(f.Linux.Capabilities) < 40 || !f.Linux.Seccomp.Enabled {
		t.Fatalf("features: %+v", f)
	}
}
