package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// topView finds the terminal view next to the binary under test. When
// TestMain built that binary in a directory of its own, the view is built
// there too; a binary given by MINIRUNTIME_TEST_BINARY must have it beside.
func topView(t *testing.T) {
	t.Helper()
	view := filepath.Join(filepath.Dir(binary), "miniruntime-top")
	if _, err := os.Stat(view); err == nil {
		return
	}
	if os.Getenv("MINIRUNTIME_TEST_BINARY") != "" {
		t.Skipf("no %s beside the binary under test: build it with `go build -o %s ./cmd/miniruntime-top`", view, view)
	}
	if out, err := exec.Command("go", "build", "-o", view, "../miniruntime-top").CombinedOutput(); err != nil {
		t.Fatalf("build miniruntime-top: %v\n%s", err, out)
	}
}

// tmux is one terminal of 160x40 on a tmux server of the test's own.
type tmux struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("needs tmux to drive the terminal view (apt-get install tmux)")
	}
	// A socket in the test's temporary directory: the server is the
	// test's own, and nothing of it stays in /tmp/tmux-<uid>.
	x := &tmux{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	t.Cleanup(func() {
		exec.Command("tmux", "-S", x.sock, "kill-server").Run()
		if exec.Command("tmux", "-S", x.sock, "has-session").Run() == nil {
			t.Errorf("leak: tmux server %s still has a session", x.sock)
		}
	})
	// A plain shell with a known prompt, and no user configuration.
	cmd := exec.Command("tmux", "-S", x.sock, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "40", "-s", "top",
		"env", "PS1=mrtest$ ", "TERM=xterm-256color", "sh")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	return x
}

func (x *tmux) keys(keys ...string) {
	x.t.Helper()
	if out, err := exec.Command("tmux", append([]string{"-S", x.sock, "send-keys", "-t", "top"}, keys...)...).CombinedOutput(); err != nil {
		x.t.Fatalf("tmux send-keys %q: %v %s", keys, err, out)
	}
}

func (x *tmux) screen() string {
	out, _ := exec.Command("tmux", "-S", x.sock, "capture-pane", "-p", "-t", "top").Output()
	return string(out)
}

// wait polls the screen until cond holds, for at most ten seconds.
func (x *tmux) wait(what string, cond func(screen string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := x.screen()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("the terminal never showed %s; it shows:\n%s", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rowOf is the line of the list that starts with id.
func rowOf(screen, id string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, id+" ") {
			return l
		}
	}
	return ""
}

// top in a real terminal: three containers with their limits, one created
// and one deleted while it runs, sorting, explain on Enter, and q leaves the
// terminal as it was.
func TestTopInATerminal(t *testing.T) {
	e := newEnv(t)
	topView(t)
	x := newTmux(t)
	start := func(id string, mem int64, pids int64) {
		e.spec.Process.Args = []string{"sleep", "60"}
		e.spec.Linux.CgroupsPath = e.cgroup + "/" + id
		e.spec.Linux.Resources = &specs.LinuxResources{Devices: e.spec.Linux.Resources.Devices,
			Memory: &specs.LinuxMemory{Limit: ptr(mem)}, Pids: &specs.LinuxPids{Limit: ptr(pids)}}
		e.writeSpec()
		e.ok("create", "-b", e.bundle, id)
		t.Cleanup(func() { e.mr("delete", "--force", id) })
		e.ok("start", id)
	}
	start("topa", 32<<20, 11)
	start("topb", 48<<20, 12)
	start("topc", 64<<20, 13)

	dir := t.TempDir()
	before, after := filepath.Join(dir, "before"), filepath.Join(dir, "after")
	x.keys("stty -g > "+before, "Enter")
	x.keys(fmt.Sprintf("%s --root %s top --interval 200ms", binary, e.root), "Enter")
	s := x.wait("three containers", func(s string) bool {
		return strings.Contains(s, "3 containers") && strings.Contains(rowOf(s, "topa"), "/ 32Mi")
	})
	for id, want := range map[string][]string{"topa": {"running", "/ 32Mi", "1 / 11"}, "topb": {"/ 48Mi", "1 / 12"}, "topc": {"/ 64Mi", "1 / 13"}} {
		for _, w := range want {
			if !strings.Contains(rowOf(s, id), w) {
				t.Errorf("row %s lacks %q:\n%s", id, w, s)
			}
		}
	}
	// CPU% shows once there are two samples.
	x.wait("a CPU percentage", func(s string) bool { return regexp.MustCompile(`running\s+-\s+\d+\.\d`).MatchString(rowOf(s, "topa")) })

	// Containers come and go.
	start("topd", 16<<20, 14)
	x.wait("the new container", func(s string) bool { return strings.Contains(rowOf(s, "topd"), "/ 16Mi") })
	e.ok("delete", "--force", "topb")
	x.wait("the deleted container gone", func(s string) bool { return rowOf(s, "topb") == "" && strings.Contains(s, "3 containers") })

	// Sorted by id, reversed: topd first.
	x.keys("i")
	x.keys("r")
	s = x.wait("the reversed order", func(s string) bool {
		return strings.Index(s, "topd ") < strings.Index(s, "topc ") && strings.Index(s, "topc ") < strings.Index(s, "topa ")
	})
	// The cursor is on the first row: Enter explains topd.
	x.keys("g", "Enter")
	s = x.wait("explain of topd", func(s string) bool {
		return strings.Contains(s, "explain topd") && strings.Contains(s, "NAMESPACES")
	})
	x.keys("Escape")
	x.wait("the list again", func(s string) bool { return strings.Contains(s, "3 containers") })

	x.keys("q")
	s = x.wait("the shell", func(s string) bool { return !strings.Contains(s, "containers") && strings.Count(s, "mrtest$") >= 3 })
	x.keys("stty -g > "+after+"; echo back-$((40+2))", "Enter")
	x.wait("the shell answering", func(s string) bool { return strings.Contains(s, "back-42") })
	b1, _ := os.ReadFile(before)
	b2, _ := os.ReadFile(after)
	if len(b1) == 0 || string(b1) != string(b2) {
		t.Errorf("terminal settings changed: before %q after %q", b1, b2)
	}
	if strings.Contains(s, "miniruntime top") {
		t.Errorf("the view was left on the screen:\n%s", s)
	}
}

// Without a terminal, and with --once, top prints one table; with no
// containers it is just the header.
func TestTopOnce(t *testing.T) {
	e := newEnv(t)
	out := e.ok("top")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("empty top: %q", out)
	}
	e.spec.Process.Args = []string{"sleep", "60"}
	e.spec.Linux.Resources.Memory = &specs.LinuxMemory{Limit: ptr(int64(40 << 20))}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "once")
	defer e.mr("delete", "--force", "once")
	e.ok("start", "once")
	out = e.ok("top", "--once", "--sort", "memory")
	row := rowOf(out, "once")
	if !strings.Contains(row, "running") || !strings.Contains(row, "/ 40Mi") || !strings.Contains(row, "[") {
		t.Fatalf("top --once:\n%s", out)
	}
	if r := e.mr("top", "--sort", "bogus"); r.code != 1 || !strings.Contains(r.stderr, "--sort") {
		t.Errorf("bad --sort: exit %d %q", r.code, r.stderr)
	}
}
