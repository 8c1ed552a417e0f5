package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestRunExitStatus(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sh", "-c", "echo hello from $(hostname); exit 3"}
	r := e.run("exit3")
	if r.code != 3 {
		t.Fatalf("exit code %d, want 3 (stderr %q)", r.code, r.stderr)
	}
	if r.stdout != "hello from mrtest\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sleep", "30"}
	e.writeSpec()
	cmd := exec.Command(binary, "--root", e.root, "run", "-b", e.bundle, "sig")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until it runs, then kill the container from outside.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if r := e.mr("state", "sig"); r.code == 0 && strings.Contains(r.stdout, `"running"`) {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("container never reached running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.ok("kill", "sig", "KILL")
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+9 {
		t.Fatalf("run exited %d, want 137", code)
	}
}

func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sleep", "30"}
	e.spec.Annotations = map[string]string{"org.example.note": "kept"}
	e.writeSpec()
	pidFile := filepath.Join(t.TempDir(), "init.pid")
	e.ok("create", "--bundle", e.bundle, "--pid-file", pidFile, "lc")

	st := e.state("lc")
	if st.Status != "created" || st.Pid <= 0 || st.Bundle != e.bundle || st.ID != "lc" {
		t.Fatalf("after create: %+v", st)
	}
	if st.Rootfs != filepath.Join(e.bundle, "rootfs") || st.Created.IsZero() || st.Annotations["org.example.note"] != "kept" {
		t.Fatalf("after create: rootfs, created or annotations wrong: %+v", st)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != strconv.Itoa(st.Pid) {
		t.Fatalf("pid file %q, want %q with no newline", raw, strconv.Itoa(st.Pid))
	}
	// The process must not have started: the init is still our binary.
	if exe, _ := os.Readlink("/proc/" + strconv.Itoa(st.Pid) + "/exe"); strings.HasSuffix(exe, "/sleep") || strings.HasSuffix(exe, "/busybox") {
		t.Fatalf("process started before start: exe %s", exe)
	}
	if r := e.mr("delete", "lc"); r.code == 0 {
		t.Fatal("delete of a created container without --force succeeded")
	}
	// Edits to config.json after create change nothing.
	e.spec.Process.Args = []string{"false"}
	e.writeSpec()

	if out := e.ok("start", "lc"); out != "" {
		t.Fatalf("start printed %q", out)
	}
	e.waitStatus("lc", "running")
	if r := e.mr("start", "lc"); r.code == 0 {
		t.Fatal("second start succeeded")
	}
	if r := e.mr("delete", "lc"); r.code == 0 {
		t.Fatal("delete of a running container without --force succeeded")
	}
	e.ok("kill", "lc", "KILL")
	e.waitStatus("lc", "stopped")
	if s := e.state("lc"); s.Pid != 0 {
		t.Fatalf("stopped container has pid %d", s.Pid)
	}
	if a, b := e.ok("state", "lc"), e.ok("state", "lc"); a != b {
		t.Fatalf("state of a stopped container changed:\n%s\n%s", a, b)
	}
	r := e.mr("kill", "lc", "TERM")
	if r.code == 0 || !strings.Contains(r.stderr, "container not running") {
		t.Fatalf("kill of a stopped container: exit %d, stderr %q", r.code, r.stderr)
	}
	e.ok("delete", "lc")
	if r := e.mr("state", "lc"); r.code == 0 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("state after delete: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestStateErrorsAndDeleteForce(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sleep", "30"}
	e.writeSpec()
	if out := e.ok("delete", "--force", "never-existed"); out != "" {
		t.Fatalf("delete --force of a missing id printed %q", out)
	}
	e.ok("create", "-b", e.bundle, "df")
	r := e.mr("create", "-b", e.bundle, "df")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second create with the same id: exit %d, stderr %q", r.code, r.stderr)
	}
	e.ok("start", "df")
	e.ok("delete", "--force", "df")
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Fatalf("state root not empty after delete --force: %v", ents)
	}
}

func TestNoProcessFailsAtStart(t *testing.T) {
	e := newEnv(t)
	e.spec.Process = nil
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "noproc")
	if r := e.mr("start", "noproc"); r.code != 1 || !strings.Contains(r.stderr, "no process") {
		t.Fatalf("start without a process: exit %d, stderr %q", r.code, r.stderr)
	}
	e.waitStatus("noproc", "stopped")
	e.ok("delete", "noproc")
}

func TestMissingExecutableFailsCreate(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"/no/such/binary"}
	e.writeSpec()
	logFile := filepath.Join(t.TempDir(), "log.json")
	r := e.mr("--log", logFile, "--log-format", "json", "create", "-b", e.bundle, "nobin")
	if r.code != 1 || !strings.Contains(r.stderr, "no such file or directory") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), `"level":"error"`) || !strings.Contains(string(log), "/no/such/binary") {
		t.Fatalf("log.json: %q", log)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Fatalf("failed create left state: %v", ents)
	}
}

func TestStdioAndPreservedFDs(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sh", "-c", "echo out; echo err >&2; echo extra >&3; ls /proc/self/fd | sort -n | tr '\\n' ' '"}
	e.writeSpec()
	dir := t.TempDir()
	outF, _ := os.Create(filepath.Join(dir, "out"))
	errF, _ := os.Create(filepath.Join(dir, "err"))
	extra, _ := os.Create(filepath.Join(dir, "extra"))
	leak, _ := os.Open("/etc/hostname") // fd 4 in the child: must not reach the container
	cmd := exec.Command(binary, "--root", e.root, "run", "--preserve-fds", "1", "-b", e.bundle, "fds")
	cmd.Stdout, cmd.Stderr = outF, errF
	cmd.ExtraFiles = []*os.File{extra, leak}
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, f := range []*os.File{outF, errF, extra, leak} {
		f.Close()
	}
	out, _ := os.ReadFile(filepath.Join(dir, "out"))
	errOut, _ := os.ReadFile(filepath.Join(dir, "err"))
	ex, _ := os.ReadFile(filepath.Join(dir, "extra"))
	if string(ex) != "extra\n" || string(errOut) != "err\n" {
		t.Fatalf("extra %q, stderr %q", ex, errOut)
	}
	// ls itself opens one fd for the directory it lists.
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "0 1 2 3 ") || strings.Contains(lines[1], " 4 5") {
		t.Fatalf("stdout %q: want out, then fds 0 1 2 3 and ls's own", out)
	}
}

func TestHooksRunInOrderWithState(t *testing.T) {
	e := newEnv(t)
	log := filepath.Join(t.TempDir(), "hooks.log")
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `read -r s; echo "` + name + ` $s" >> ` + log}}
	}
	failing := specs.Hook{Path: "/bin/false"}
	e.spec.Hooks = &specs.Hooks{
		Prestart:        []specs.Hook{hook("prestart")},
		CreateRuntime:   []specs.Hook{hook("createRuntime")},
		CreateContainer: []specs.Hook{hook("createContainer")},
		StartContainer:  []specs.Hook{{Path: "/bin/true"}},
		Poststart:       []specs.Hook{failing, hook("poststart")},
		Poststop:        []specs.Hook{failing, hook("poststop")},
	}
	e.spec.Process.Args = []string{"true"}
	r := e.run("hooks")
	if r.code != 0 {
		t.Fatalf("run: exit %d, %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "warning") {
		t.Errorf("a failing poststart/poststop hook gave no warning: %q", r.stderr)
	}
	raw, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	// prestart runs at start, as the OCI validation suite expects (the
	// runtime-spec 1.0 wording), after the create-time hooks.
	want := []string{"createRuntime", "createContainer", "prestart", "poststart", "poststop"}
	if len(lines) != len(want) {
		t.Fatalf("hooks ran: %q", raw)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w+" {") || !strings.Contains(lines[i], `"id":"hooks"`) {
			t.Fatalf("hook %d: %q, want %s with the state", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[2], `"status":"created"`) || !strings.Contains(lines[3], `"status":"running"`) || !strings.Contains(lines[4], `"status":"stopped"`) {
		t.Fatalf("hook states: %q", raw)
	}
}

func TestFailingPrestartHookUndoesCreate(t *testing.T) {
	e := newEnv(t)
	e.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
	e.writeSpec()
	r := e.mr("create", "-b", e.bundle, "badhook")
	if r.code != 1 || !strings.Contains(r.stderr, "hooks.createRuntime[0]") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sleep", "30"}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "l1")
	defer e.ok("delete", "-f", "l1")
	if out := e.ok("list", "-q"); out != "l1\n" {
		t.Fatalf("list -q: %q", out)
	}
	if out := e.ok("list", "--format", "json"); !strings.Contains(out, `"id":"l1"`) || !strings.Contains(out, `"status":"created"`) {
		t.Fatalf("list json: %q", out)
	}
	if out := e.ok("list"); !strings.Contains(out, "l1") || !strings.Contains(out, "created") {
		t.Fatalf("list: %q", out)
	}
}

// A cgroup namespace is rooted at the container's own cgroup: inside, every
// hierarchy reads "/".
func TestCgroupNamespaceRootedAtContainer(t *testing.T) {
	e := newEnv(t)
	if !hasNS(e.spec, specs.CgroupNamespace) {
		e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	e.spec.Process.Args = []string{"sh", "-c", "cut -d: -f3 /proc/self/cgroup | sort -u"}
	r := e.run("cgns")
	if r.code != 0 || r.stdout != "/\n" {
		t.Fatalf("exit %d, cgroup paths inside %q (want only /), stderr %q", r.code, r.stdout, r.stderr)
	}
}

func hasNS(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}
