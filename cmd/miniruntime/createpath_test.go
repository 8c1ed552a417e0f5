package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The config frozen in the state dir is the spec the init ran, with the
// edits create made: here the /etc files a network attaches.
func TestFrozenConfigIsWhatRan(t *testing.T) {
	n := newNetEnv(t)
	n.okNS("network", "create", "--subnet", "10.123.9.0/24", "frozen")
	defer n.mrNS("network", "rm", "--force", "frozen")
	n.spec.Process.Args = []string{"sleep", "30"}
	n.writeSpec()
	n.okNS("create", "-b", n.bundle, "--net", "frozen", "fr")
	defer n.mrNS("delete", "--force", "fr")
	raw, err := os.ReadFile(filepath.Join(n.root, "fr", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if s.Annotations["miniruntime.network"] != "frozen" {
		t.Errorf("frozen config lacks the --net annotation: %v", s.Annotations)
	}
	mounted := map[string]bool{}
	for _, m := range s.Mounts {
		mounted[m.Destination] = true
	}
	for _, dst := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"} {
		if !mounted[dst] {
			t.Errorf("frozen config has no mount of %s, which the init made", dst)
		}
	}
	// And the init did make them: what the frozen config says is there.
	if out := n.okNS("exec", "fr", "grep", "/etc/hosts", "/proc/self/mountinfo"); !strings.Contains(out, "/etc/hosts") {
		t.Errorf("no /etc/hosts mount in the container: %q", out)
	}
}

// The init's trace follows the parent's: into --log under --debug, never
// onto the container's own stderr; onto stderr only under --trace.
func TestInitTraceFollowsParent(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"true"}
	e.writeSpec()
	logFile := filepath.Join(t.TempDir(), "log")
	r := e.mr("--debug", "--log", logFile, "--log-format", "json", "run", "-b", e.bundle, "tr")
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "init") || strings.Contains(r.stderr, "pivot_root") {
		t.Errorf("--debug --log: trace lines reached stderr:\n%s", r.stderr)
	}
	log, _ := os.ReadFile(logFile)
	for _, want := range []string{"pivot_root", `"level":"debug"`, "[", "init"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("--log lacks %q:\n%s", want, log)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		var entry map[string]string
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("--log line is not a JSON entry: %q", line)
		}
	}
	r = e.mr("--trace", "run", "-b", e.bundle, "tr")
	if r.code != 0 || !regexp.MustCompile(`init  \] \d+/\d+ make the rootfs the new /`).MatchString(r.stderr) {
		t.Errorf("--trace: exit %d, stderr lacks the init's pivot_root step:\n%s", r.code, r.stderr)
	}
}

// A foreground run without a terminal gives the container pipes of its
// own, as runc does: the caller's output file is not reachable from inside
// (through /proc/self/fd), and what the container writes still arrives.
// With --detach the caller's descriptors are handed over, as runc does.
func TestForegroundRunGivesPipes(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sh", "-c", "for n in 0 1 2; do readlink /proc/self/fd/$n; done; read line; echo got $line; echo oops >&2"}
	e.writeSpec()
	out := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(out, []byte("written before the container started\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(binary, "--root", e.root, "run", "-b", e.bundle, "pipes")
	cmd.Stdin = strings.NewReader("hello\n")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v", err)
	}
	got, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 6 {
		t.Fatalf("output:\n%s", got)
	}
	// stdout and stderr are two pipes, copied side by side: the stderr
	// line may arrive anywhere among the stdout ones.
	var outLines []string
	oops := 0
	for _, l := range lines[1:] {
		if l == "oops" {
			oops++
			continue
		}
		outLines = append(outLines, l)
	}
	if oops != 1 || len(outLines) != 4 {
		t.Fatalf("stderr not relayed once:\n%s", got)
	}
	for _, l := range outLines[:3] {
		if !strings.HasPrefix(l, "pipe:[") {
			t.Errorf("a container descriptor is %q, not a pipe of its own", l)
		}
	}
	if outLines[3] != "got hello" {
		t.Errorf("stdin not relayed:\n%s", got)
	}
}

// `run` with nothing else starts a sandbox from the built-in image: the
// demo command without a terminal, a shell on one; nothing is left after.
func TestBareRunIsASandbox(t *testing.T) {
	e := newEnv(t)
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), "miniruntime-sandbox-*"))
	r := e.mrIn([]byte{}, "run")
	if r.code != 0 || !strings.Contains(r.stdout, "hostname:   miniruntime") || !strings.Contains(r.stdout, "pid:        1") {
		t.Fatalf("bare run: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if script, err := exec.LookPath("script"); err == nil {
		// script(1) gives the runtime a terminal: a shell that takes input.
		cmd := exec.Command(script, "-qec", binary+" --root "+e.root+" run", "/dev/null")
		cmd.Stdin = strings.NewReader("echo inside-$((6*7))\nexit 3\n")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !strings.Contains(string(out), "inside-42") || !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("bare run on a terminal: %v, output %q", err, out)
		}
	}
	if r := e.mr("run", "-b", e.bundle); r.code != 1 || !strings.Contains(r.stderr, "--bundle needs a container id") {
		t.Errorf("run -b without an id: exit %d, stderr %q", r.code, r.stderr)
	}
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), "miniruntime-sandbox-*"))
	if len(after) > len(before) {
		t.Errorf("sandbox bundles left: %v", after)
	}
	for _, h := range cgroupHierarchies() {
		if left, _ := filepath.Glob(filepath.Join(h, "miniruntime-sandbox-*")); len(left) > 0 {
			t.Errorf("sandbox cgroups left: %v", left)
		}
	}
}
