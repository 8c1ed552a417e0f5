package main

// The CLI tier: tests that build the real binary once and drive it the way
// containerd, podman and a person at a shell do. They need root; without it
// they skip.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miniruntime/miniruntime/images"
	"github.com/miniruntime/miniruntime/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var binary string // the built miniruntime, set by TestMain

// TestMain builds the binary under test, unless MINIRUNTIME_TEST_BINARY
// names one already built (the cgroup v2 guest runs these tests with the
// host's build, as it has no compiler cache of its own).
func TestMain(m *testing.M) {
	if b := os.Getenv("MINIRUNTIME_TEST_BINARY"); b != "" {
		binary = b
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "miniruntime-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "miniruntime")
	out, err := exec.Command("go", "build", "-tags", "seccomp", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build miniruntime: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	if _, err := os.Stat(images.BusyboxPath); err != nil {
		t.Skip("needs busybox-static for the test rootfs (scripts/setup.sh installs it)")
	}
}

// env is one test's world: its own state root, bundle and cgroup parent,
// and a cleanup that fails the test if anything was left behind.
type env struct {
	t      *testing.T
	root   string // --root
	bundle string
	spec   *specs.Spec
	cgroup string   // cgroupsPath given to containers
	prefix []string // a command the binary runs under (nsenter ...)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	needRoot(t)
	base := t.TempDir()
	e := &env{t: t, root: filepath.Join(base, "state"), bundle: filepath.Join(base, "bundle")}
	if err := os.MkdirAll(e.bundle, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := images.Busybox(filepath.Join(e.bundle, "rootfs")); err != nil {
		t.Fatal(err)
	}
	e.spec = runtime.DefaultSpec()
	e.spec.Process.Terminal = false
	e.spec.Process.Args = []string{"true"}
	e.spec.Hostname = "mrtest"
	e.cgroup = "/miniruntime-test/" + sanitize(t.Name())
	e.spec.Linux.CgroupsPath = e.cgroup
	t.Cleanup(e.checkNoLeaks)
	return e
}

func sanitize(s string) string {
	return strings.NewReplacer("/", "-", " ", "_").Replace(s)
}

func (e *env) writeSpec() {
	e.t.Helper()
	b, err := json.MarshalIndent(e.spec, "", " ")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bundle, "config.json"), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// mr runs the binary with --root and args, with a bounded time.
func (e *env) mr(args ...string) result {
	e.t.Helper()
	return e.mrIn(nil, args...)
}

func (e *env) mrIn(stdin []byte, args ...string) result {
	e.t.Helper()
	argv := append(append(append([]string{}, e.prefix...), binary, "--root", e.root), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Wait()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	if err != nil && r.code < 0 {
		e.t.Fatalf("miniruntime %s: %v (stderr %q)", strings.Join(args, " "), err, r.stderr)
	}
	return r
}

// ok runs a command that must succeed and returns its stdout.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.mr(args...)
	if r.code != 0 {
		e.t.Fatalf("miniruntime %s: exit %d, stderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// run writes the spec and runs the container, returning its result.
func (e *env) run(id string) result {
	e.t.Helper()
	e.writeSpec()
	return e.mr("run", "-b", e.bundle, id)
}

type stateJSON struct {
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations"`
}

func (e *env) state(id string) stateJSON {
	e.t.Helper()
	var s stateJSON
	out := e.ok("state", id)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		e.t.Fatalf("state %s: %v in %q", id, err, out)
	}
	return s
}

// waitStatus polls state until it reads want, for at most five seconds.
func (e *env) waitStatus(id, want string) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := e.state(id)
		if s.Status == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s: status %q, want %q", id, s.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkNoLeaks proves the test left nothing behind: no containers in its
// state root, no cgroup under its parent in any hierarchy, no mount of its
// bundle, no process running from it.
func (e *env) checkNoLeaks() {
	t := e.t
	// Delete what a failed test left, so one failure does not cascade, but
	// still report it.
	ents, _ := os.ReadDir(e.root)
	for _, ent := range ents {
		if ent.Name() == "pods" {
			if pods, _ := os.ReadDir(filepath.Join(e.root, "pods")); len(pods) > 0 {
				t.Errorf("leak: pods %v", pods)
			}
			continue
		}
		if ent.Name() == "networks" { // the network store: empty once every network is removed
			nets, _ := os.ReadDir(filepath.Join(e.root, "networks"))
			for _, n := range nets {
				if !strings.HasPrefix(n.Name(), ".") { // .lock, .ports: the store's own
					t.Errorf("leak: network %s", n.Name())
				}
			}
			continue
		}
		exec.Command(binary, "--root", e.root, "delete", "--force", ent.Name()).Run()
		t.Errorf("leak: container %s was left in the state root", ent.Name())
	}
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, e.cgroup)
		// Tests with several containers give each a cgroup under
		// e.cgroup; the parent itself is the test's, removed here.
		if subs, _ := os.ReadDir(dir); len(subs) > 0 {
			for _, s := range subs {
				if s.IsDir() {
					t.Errorf("leak: cgroup %s/%s", dir, s.Name())
					os.Remove(filepath.Join(dir, s.Name()))
				}
			}
		}
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			t.Errorf("leak: cgroup %s: %v", dir, err)
		}
	}
	for _, h := range cgroupHierarchies() {
		os.Remove(filepath.Join(h, "miniruntime-test")) // the shared parent, when empty
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), e.bundle) {
		t.Errorf("leak: a mount under %s", e.bundle)
	}
	if out, _ := exec.Command("pgrep", "-f", e.bundle).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("leak: processes %s", out)
	}
}

func cgroupHierarchies() []string {
	var out []string
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		out = append(out, "/sys/fs/cgroup")
	}
	return out
}
