package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CVE-2019-5736: a container that gets hold of the runtime binary through
// /proc/<pid>/exe of a runtime process must not be able to write to it. The
// attacker opens the link with O_PATH while the init runs, waits for the
// runtime to exit (a running binary cannot be opened for writing), then
// reopens it for writing.
func TestRuntimeBinaryCannotBeOverwritten(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sleep", "30"}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "exe")
	pid := e.state("exe").Pid
	exe, err := os.OpenFile("/proc/"+strconv.Itoa(pid)+"/exe", unix.O_PATH, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	e.ok("delete", "--force", "exe")
	w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(exe.Fd())), os.O_WRONLY, 0)
	if err == nil {
		w.Close()
		t.Fatal("the runtime binary could be opened for writing through the init's /proc/<pid>/exe")
	}
	if !errors.Is(err, unix.EROFS) {
		t.Fatalf("open for writing failed with %v, want EROFS (read-only mount)", err)
	}
	// The init's exe is our binary, only reached read-only.
	if fi, err := os.Stat("/proc/self/fd/" + strconv.Itoa(int(exe.Fd()))); err != nil || fi.Size() == 0 {
		t.Fatalf("stat through the handle: %v", err)
	}
}

// CVE-2024-21626: a process.cwd of /proc/self/fd/N, where N is a descriptor
// of a host directory that leaked into the init, would start the process
// outside the container's root. It must fail instead.
func TestLeakedFDCannotBeCwd(t *testing.T) {
	e := newEnv(t)
	hostDir := t.TempDir()
	os.WriteFile(filepath.Join(hostDir, "secret"), []byte("host"), 0o600)
	for fd := 3; fd <= 6; fd++ {
		e.spec.Process.Cwd = "/proc/self/fd/" + strconv.Itoa(fd)
		e.spec.Process.Args = []string{"cat", "secret"}
		e.writeSpec()
		d1, _ := os.Open(hostDir)
		d2, _ := os.Open(hostDir)
		d3, _ := os.Open(hostDir)
		cmd := exec.Command(binary, "--root", e.root, "run", "-b", e.bundle, "cwd"+strconv.Itoa(fd))
		cmd.ExtraFiles = []*os.File{d1, d2, d3} // fds 3, 4, 5 of the runtime
		out, _ := cmd.CombinedOutput()
		d1.Close()
		d2.Close()
		d3.Close()
		if strings.Contains(string(out), "host") && !strings.Contains(string(out), "miniruntime") {
			t.Fatalf("cwd %s: the container read a host file: %q", e.spec.Process.Cwd, out)
		}
		if cmd.ProcessState.ExitCode() == 0 {
			t.Fatalf("cwd %s: run succeeded: %q", e.spec.Process.Cwd, out)
		}
	}
}

// CVE-2021-30465 and kin: a mount destination that goes through a symlink
// in the rootfs is resolved inside the rootfs, never on the host.
func TestMountTargetSymlinksStayInRootfs(t *testing.T) {
	e := newEnv(t)
	rootfs := filepath.Join(e.bundle, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "target"), 0o755)
	os.Symlink("/target", filepath.Join(rootfs, "abs"))
	os.Symlink("../../../../../../../target", filepath.Join(rootfs, "rel"))
	escape := t.TempDir() // a host path the symlink would reach if followed on the host
	os.Symlink(escape, filepath.Join(rootfs, "hostpath"))
	os.MkdirAll(filepath.Join(rootfs, escape), 0o755)
	e.spec.Mounts = append(e.spec.Mounts,
		specs.Mount{Destination: "/abs/a", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/rel/r", Type: "tmpfs", Source: "tmpfs"},
		specs.Mount{Destination: "/hostpath", Type: "tmpfs", Source: "tmpfs"},
	)
	e.spec.Process.Args = []string{"sh", "-c", "awk '{print $2}' /proc/self/mounts | grep -E '^/(target|tmp)' | sort"}
	r := e.run("symlinks")
	if r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	want := "/target/a\n/target/r\n" + escape + "\n"
	if r.stdout != want {
		t.Fatalf("mounts inside the container:\n%s\nwant\n%s", r.stdout, want)
	}
	if ents, _ := os.ReadDir(escape); len(ents) != 0 {
		t.Fatalf("the host directory %s was touched: %v", escape, ents)
	}
	if _, err := os.Stat(filepath.Join(rootfs, escape)); err != nil {
		t.Fatalf("the mount point was not made inside the rootfs: %v", err)
	}
}

// /proc and /sys are only as the spec allows: masked paths read as empty,
// read-only paths refuse writes, and /sys is read-only.
func TestProcAndSysAreRestricted(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Args = []string{"sh", "-c", `
		[ -z "$(cat /proc/kcore 2>/dev/null | head -c 1)" ] || echo kcore-readable
		[ -z "$(ls /proc/acpi 2>/dev/null)" ] || echo acpi-listed
		echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo proc-sys-writable
		echo x > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable
		mkdir /sys/fs/x 2>/dev/null && echo sys-writable
		echo checked`}
	r := e.run("procsys")
	if r.code != 0 || r.stdout != "checked\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// Capabilities are dropped to what the spec lists, in all sets, and a
// non-root user keeps none it was not given.
func TestCapabilitiesDropped(t *testing.T) {
	e := newEnv(t)
	e.spec.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: []string{"CAP_CHOWN", "CAP_KILL"}, Effective: []string{"CAP_CHOWN"},
		Permitted: []string{"CAP_CHOWN", "CAP_KILL"}, Inheritable: []string{"CAP_KILL"},
		Ambient: []string{"CAP_KILL"},
	}
	e.spec.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{27}}
	e.spec.Process.Args = []string{"sh", "-c", "grep -E '^(Cap|Uid|Gid|Groups|NoNewPrivs)' /proc/self/status"}
	r := e.run("caps")
	if r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	// Across exec a non-root process keeps only ambient capabilities.
	for _, want := range []string{"CapInh:\t0000000000000020", "CapPrm:\t0000000000000020", "CapEff:\t0000000000000020",
		"CapBnd:\t0000000000000021", "CapAmb:\t0000000000000020", "Uid:\t1000\t1000\t1000\t1000", "Gid:\t1000\t1000\t1000\t1000", "Groups:\t27", "NoNewPrivs:\t1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("missing %q in\n%s", want, r.stdout)
		}
	}
}

// Seccomp is loaded last: a filter that blocks getcwd and mkdir does not
// break the runtime's own checks, and does block the container.
func TestSeccompLoadedLast(t *testing.T) {
	e := newEnv(t)
	errno := uint(1)
	e.spec.Linux.Seccomp = &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"getcwd", "mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: &errno,
		}},
	}
	e.spec.Process.Args = []string{"sh", "-c", "mkdir /tmp/x 2>/dev/null && echo mkdir-allowed; grep Seccomp: /proc/self/status"}
	r := e.run("seccomp")
	if r.code != 0 {
		t.Fatalf("run: %d %s", r.code, r.stderr)
	}
	if r.stdout != "Seccomp:\t2\n" {
		t.Fatalf("stdout %q", r.stdout)
	}
}
