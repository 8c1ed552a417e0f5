package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// startSleeper creates and starts a container running sleep and returns
// its init pid; the container is deleted at the end of the test.
func startSleeper(t *testing.T, e *env, id string) int {
	t.Helper()
	e.spec.Process.Args = []string{"sleep", "30"}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, id)
	t.Cleanup(func() { e.mr("delete", "--force", id) })
	e.ok("start", id)
	e.waitStatus(id, "running")
	return e.state(id).Pid
}

func nsLinks(t *testing.T, pid string, kinds ...string) string {
	t.Helper()
	var out []string
	for _, k := range kinds {
		l, err := os.Readlink("/proc/" + pid + "/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n") + "\n"
}

func TestExecJoinsTheContainer(t *testing.T) {
	e := newEnv(t)
	pid := startSleeper(t, e, "ex")
	kinds := []string{"pid", "mnt", "net", "ipc", "uts"}
	out := e.ok("exec", "ex", "sh", "-c", "for n in "+strings.Join(kinds, " ")+"; do readlink /proc/self/ns/$n; done")
	if want := nsLinks(t, strconv.Itoa(pid), kinds...); out != want {
		t.Fatalf("exec'd process namespaces:\n%s\nwant the init's:\n%s", out, want)
	}
	// Inside the container's pid namespace the init is pid 1.
	if out := e.ok("exec", "ex", "cat", "/proc/1/cmdline"); out != "sleep\x0030\x00" {
		t.Fatalf("/proc/1/cmdline from exec: %q", out)
	}
	if out := e.ok("exec", "ex", "hostname"); out != "mrtest\n" {
		t.Fatalf("hostname from exec: %q", out)
	}
	if r := e.mr("exec", "ex", "sh", "-c", "exit 7"); r.code != 7 {
		t.Fatalf("exit status %d, want 7", r.code)
	}
	r := e.mr("exec", "ex", "/no/such/binary")
	if r.code != 1 || !strings.Contains(r.stderr, "no such file or directory") {
		t.Fatalf("exec of a missing binary: exit %d, %q", r.code, r.stderr)
	}
	// Environment, user and cwd from the command line.
	out = e.ok("exec", "--user", "1000:1000", "--cwd", "/tmp", "-e", "FOO=bar", "ex", "sh", "-c", `echo "$(id -u):$(id -g) $PWD $FOO"`)
	if out != "1000:1000 /tmp bar\n" {
		t.Fatalf("exec with user, cwd, env: %q", out)
	}
}

func TestExecDetachedJoinsTheCgroup(t *testing.T) {
	e := newEnv(t)
	startSleeper(t, e, "exd")
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	process := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(process, []byte(`{"args":["sleep","20"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]}`), 0o600)
	e.ok("exec", "--process", process, "--detach", "--pid-file", pidFile, "exd")
	raw, err := os.ReadFile(pidFile)
	if err != nil || bytes.ContainsAny(raw, "\n ") {
		t.Fatalf("pid file %q: %v", raw, err)
	}
	cg, _ := os.ReadFile("/proc/" + string(raw) + "/cgroup")
	if !strings.Contains(string(cg), e.cgroup) {
		t.Fatalf("exec'd process is not in the container's cgroup %s:\n%s", e.cgroup, cg)
	}
	var pids []int
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(e.ok("ps", "--format", "json", "exd"), string(raw)) {
		if time.Now().After(deadline) {
			t.Fatalf("ps does not list the exec'd pid %s: %v", raw, pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecJoinsTheUserNamespace(t *testing.T) {
	e := newEnv(t)
	e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	e.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	e.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	// The bundle must be reachable by the mapped root (host uid 100000).
	os.Chmod(filepath.Dir(e.bundle), 0o755)
	os.Chmod(filepath.Dir(filepath.Dir(e.bundle)), 0o755)
	pid := startSleeper(t, e, "exu")
	out := e.ok("exec", "exu", "sh", "-c", "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u")
	want := nsLinks(t, strconv.Itoa(pid), "user")
	if !strings.HasPrefix(out, want) || !strings.Contains(out, "100000") || !strings.HasSuffix(out, "\n0\n") {
		t.Fatalf("exec in a user-namespaced container:\n%s\nwant user ns %s, the 100000 mapping and uid 0", out, want)
	}
	if status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); !strings.Contains(string(status), "Uid:\t100000") {
		t.Fatalf("the init does not run as host uid 100000")
	}
}

// The console-socket protocol containerd's shim and conmon rely on: one
// message, a non-empty name and exactly one fd, the pty master, sent
// before create returns.
func TestConsoleSocket(t *testing.T) {
	e := newEnv(t)
	sockPath := filepath.Join(t.TempDir(), "pty.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e.spec.Process.Terminal = true
	e.spec.Process.ConsoleSize = &specs.Box{Height: 30, Width: 100}
	e.spec.Process.Args = []string{"sh", "-c", "tty; stty size; sleep 30"}
	e.writeSpec()
	// create's stdout and stderr must reach EOF when it returns: the
	// waiting init must not hold them (containerd reads them to EOF).
	createDone := make(chan result, 1)
	go func() { createDone <- e.mr("create", "-b", e.bundle, "--console-socket", sockPath, "tty") }()
	defer e.mr("delete", "--force", "tty")
	conn, err := ln.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, 4096), make([]byte, 256)
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	conn.Close()
	if err != nil || n == 0 {
		t.Fatalf("recvmsg: %d bytes, %v", n, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v %v", msgs, err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("fds: %v %v", fds, err)
	}
	master := os.NewFile(uintptr(fds[0]), "master")
	defer master.Close()
	select {
	case r := <-createDone:
		if r.code != 0 {
			t.Fatalf("create: exit %d, %s", r.code, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("create with --console-socket did not return: its output pipes never reached EOF")
	}
	e.ok("start", "tty")
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []byte
	for !bytes.Contains(got, []byte("30 100")) {
		chunk := make([]byte, 256)
		n, err := master.Read(chunk)
		if err != nil {
			t.Fatalf("read from the pty: %v (so far %q)", err, got)
		}
		got = append(got, chunk[:n]...)
	}
	if !bytes.Contains(got, []byte("/dev/pts/0")) {
		t.Fatalf("the process's terminal is not the container's /dev/pts/0: %q", got)
	}
}
