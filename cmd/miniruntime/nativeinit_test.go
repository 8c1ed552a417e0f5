package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The native init (runtime/cinit) and the Go init execute the same plan;
// these tests hold them to the same result.

// nativeSpec asks for most of what a plan can do: the cgroup view, its
// own mounts with flags and propagation, a device, a sysctl, the process
// attributes. On a host with no cgroup2 at all the parent moves the init
// into its v1 cgroups and the view is the Go init's: the config then has
// none.
func nativeSpec(e *env) {
	var mounts []specs.Mount
	for _, m := range e.spec.Mounts {
		if hostHasCgroup2() || (m.Type != "cgroup" && m.Type != "cgroup2") {
			mounts = append(mounts, m)
		}
	}
	e.spec.Mounts = append(mounts,
		specs.Mount{Destination: "/data/ro", Type: "bind", Source: e.bundle, Options: []string{"rbind", "ro", "nosuid", "rprivate"}},
		specs.Mount{Destination: "/run/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nodev", "mode=1777", "size=1m"}})
	mode := os.FileMode(0o640)
	uid, gid := uint32(7), uint32(8)
	e.spec.Linux.Devices = append(e.spec.Linux.Devices, specs.LinuxDevice{Path: "/dev/sub/kmsg", Type: "c", Major: 1, Minor: 11, FileMode: &mode, UID: &uid, GID: &gid})
	e.spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	e.spec.Domainname = "example.test"
	e.spec.Root.Readonly = false // process.cwd is made
	oom := 123
	umask := uint32(0o027)
	p := e.spec.Process
	p.OOMScoreAdj = &oom
	p.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{20, 30}, Umask: &umask}
	p.Cwd = "/tmp"
	p.Env = []string{"PATH=/bin:/usr/bin", "X=1"}
	p.Capabilities.Inheritable = []string{"CAP_NET_BIND_SERVICE"}
	p.Capabilities.Ambient = []string{"CAP_NET_BIND_SERVICE"}
	p.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 512, Hard: 1024}, {Type: "RLIMIT_NPROC", Soft: 100, Hard: 200}}
	p.Args = []string{"sh", "-c", strings.Join([]string{
		"grep -E '^(Cap|NoNewPrivs|Uid|Gid|Groups|Umask)' /proc/self/status",
		"cat /proc/self/oom_score_adj /proc/sys/net/ipv4/ip_forward",
		"hostname; cat /proc/sys/kernel/domainname",
		"pwd; env | sort",
		"ulimit -n; ulimit -u",
		"ls -ln /dev /dev/sub | awk '{print $1, $3, $4, $5, $6, $NF}'",
		"awk '{for(i=7;i<=NF;i++) if($i==\"-\"){print $5, $6, $(i+1); break}}' /proc/self/mountinfo",
		"ls /proc/self/fd | tr '\\n' ' '",
		"ls /sys/fs/cgroup | tr '\\n' ' '",
	}, "; ")}
}

func TestNativeInitMatchesGoInit(t *testing.T) {
	e := newEnv(t)
	nativeSpec(e)
	e.writeSpec()
	native := e.run("native")
	t.Setenv("MINIRUNTIME_INIT", "go")
	goInit := e.run("goinit")
	if native.code != 0 || goInit.code != 0 {
		t.Fatalf("native: exit %d, stderr %q; Go: exit %d, stderr %q", native.code, native.stderr, goInit.code, goInit.stderr)
	}
	for _, want := range []string{"Umask:\t0027", "Groups:\t20 30", "CapAmb:\t0000000000000400", "123", "example.test", "/tmp\n", "HOME=/", "512", "crw-r-----", "/data/ro ro,nosuid"} {
		if !strings.Contains(native.stdout, want) {
			t.Errorf("native init: output lacks %q:\n%s", want, native.stdout)
		}
	}
	if native.stdout != goInit.stdout {
		t.Fatalf("the two inits made different containers:\nnative:\n%s\nGo:\n%s", native.stdout, goInit.stdout)
	}
	e.checkNoLeaks()
}

// TestNativeInitIsNative checks which init a created container waits in,
// by its command line: `miniruntime init native` or the Go init's
// `miniruntime init`. A created native init ends on the signals a Go init
// ends on, and start releases it.
func TestNativeInitIsNative(t *testing.T) {
	e := newEnv(t)
	nativeSpec(e)
	e.spec.Process.Args = []string{"true"}
	e.writeSpec()
	cmdline := func(id string) string {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(e.state(id).Pid) + "/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(b), "\x00", " ")
	}
	e.ok("create", "-b", e.bundle, "n1")
	if c := cmdline("n1"); c != "miniruntime init native " {
		t.Fatalf("init of n1 runs %q, want the native init", c)
	}
	e.ok("kill", "n1", "TERM")
	e.waitStatus("n1", "stopped")
	e.ok("delete", "n1")
	e.ok("create", "-b", e.bundle, "n2")
	e.ok("start", "n2")
	e.waitStatus("n2", "stopped")
	e.ok("delete", "n2")
	t.Setenv("MINIRUNTIME_INIT", "go")
	e.ok("create", "-b", e.bundle, "g1")
	if c := cmdline("g1"); c != "miniruntime init " {
		t.Fatalf("init of g1 runs %q, want the Go init", c)
	}
	e.ok("delete", "--force", "g1")
	e.checkNoLeaks()
}

// TestNativeInitErrors: a failing step names itself and its cause as the
// Go init does, and create leaves nothing behind.
func TestNativeInitErrors(t *testing.T) {
	e := newEnv(t)
	nativeSpec(e)
	e.spec.Process.Args = []string{"no-such-binary"}
	e.writeSpec()
	r := e.mr("create", "-b", e.bundle, "bad")
	if r.code != 1 || !strings.Contains(r.stderr, `exec: "no-such-binary": executable file not found in $PATH`) || !strings.Contains(r.stderr, "step ") {
		t.Fatalf("missing binary: exit %d, stderr %q", r.code, r.stderr)
	}
	e.spec.Process.Args = []string{"true"}
	e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/x", Type: "no-such-fs", Source: "none"})
	e.writeSpec()
	r = e.mr("create", "-b", e.bundle, "bad")
	if r.code != 1 || !strings.Contains(r.stderr, "mount no-such-fs on /x") || !strings.HasSuffix(strings.TrimSpace(r.stderr), "no such device") {
		t.Fatalf("bad mount: exit %d, stderr %q", r.code, r.stderr)
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Fatalf("failed create left state: %v", ents)
	}
	e.checkNoLeaks()
}

func hostHasCgroup2() bool {
	for _, f := range []string{"/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/unified/cgroup.controllers"} {
		if _, err := os.Stat(f); err == nil {
			return true
		}
	}
	return false
}
