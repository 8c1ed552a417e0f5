package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Every malformed bundle or flag fails with exit status 1 and one line that
// names the command, the container, the field and the cause, and leaves no
// state dir, cgroup, mount or process behind (checked by the env cleanup).
func TestBadInput(t *testing.T) {
	neg := int64(-5)
	one := 1
	badAdj := 5000
	cases := []struct {
		name   string
		mutate func(e *env) // changes the spec or the bundle
		args   []string     // replaces "create -b BUNDLE ID" when set
		want   string       // substring of the error line
	}{
		{name: "missing config.json", mutate: func(e *env) { os.Remove(filepath.Join(e.bundle, "config.json")) }, want: "config.json not found"},
		{name: "bad JSON", mutate: func(e *env) {
			os.WriteFile(filepath.Join(e.bundle, "config.json"), []byte("{\n\"ociVersion\": "), 0o644)
		}, want: "invalid JSON"},
		{name: "wrong JSON type", mutate: func(e *env) {
			os.WriteFile(filepath.Join(e.bundle, "config.json"), []byte(`{"ociVersion":"1.0.2","process":{"args":"sh"}}`), 0o644)
		}, want: "process.args"},
		{name: "no ociVersion", mutate: func(e *env) { e.spec.Version = "" }, want: "ociVersion: missing"},
		{name: "ociVersion 2", mutate: func(e *env) { e.spec.Version = "2.0.0" }, want: "ociVersion"},
		{name: "no root", mutate: func(e *env) { e.spec.Root = nil }, want: "root.path: missing"},
		{name: "missing rootfs", mutate: func(e *env) { e.spec.Root.Path = "nonexistent" }, want: "root.path: "},
		{name: "rootfs is a file", mutate: func(e *env) { e.spec.Root.Path = "rootfs/bin/busybox" }, want: "not a directory"},
		{name: "empty args", mutate: func(e *env) { e.spec.Process.Args = nil }, want: "process.args: empty"},
		{name: "relative cwd", mutate: func(e *env) { e.spec.Process.Cwd = "tmp" }, want: "process.cwd"},
		{name: "env without =", mutate: func(e *env) { e.spec.Process.Env = append(e.spec.Process.Env, "JUSTKEY") }, want: "process.env[2]"},
		{name: "unknown rlimit", mutate: func(e *env) { e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_BOGUS", Hard: 1, Soft: 1}} }, want: "unknown rlimit"},
		{name: "rlimit soft above hard", mutate: func(e *env) {
			e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 20}}
		}, want: "above hard"},
		{name: "duplicate rlimit", mutate: func(e *env) {
			e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 10, Soft: 10}, {Type: "RLIMIT_NOFILE", Hard: 10, Soft: 10}}
		}, want: "given twice"},
		{name: "unknown capability", mutate: func(e *env) {
			e.spec.Process.Capabilities.Bounding = append(e.spec.Process.Capabilities.Bounding, "CAP_BOGUS")
		}, want: "unknown capability"},
		{name: "oomScoreAdj out of range", mutate: func(e *env) { e.spec.Process.OOMScoreAdj = &badAdj }, want: "process.oomScoreAdj"},
		{name: "unknown namespace", mutate: func(e *env) {
			e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, want: "unknown namespace type"},
		{name: "duplicate namespace", mutate: func(e *env) {
			e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: "pid"})
		}, want: "given twice"},
		{name: "relative namespace path", mutate: func(e *env) { e.spec.Linux.Namespaces[0].Path = "proc/1/ns/pid" }, want: "not an absolute path"},
		{name: "missing namespace path", mutate: func(e *env) { e.spec.Linux.Namespaces[0].Path = "/proc/999999999/ns/pid" }, want: "no such file"},
		{name: "uid map without user namespace", mutate: func(e *env) {
			e.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
		}, want: "without a user namespace"},
		{name: "relative mount destination", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "mnt", Type: "tmpfs", Source: "tmpfs"})
		}, want: "not an absolute path"},
		{name: "mount without type", mutate: func(e *env) { e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt", Source: "x"}) }, want: ".type: missing"},
		{name: "bind without source", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Options: []string{"bind"}})
		}, want: "source: missing"},
		{name: "hook path not absolute", mutate: func(e *env) { e.spec.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "true"}}} }, want: "hooks.poststart[0].path"},
		{name: "hook timeout zero", mutate: func(e *env) {
			z := 0
			e.spec.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true", Timeout: &z}}}
		}, want: "timeout"},
		{name: "hostname without uts", mutate: func(e *env) { e.spec.Linux.Namespaces = without(e.spec.Linux.Namespaces, specs.UTSNamespace) }, want: "hostname: cannot be set"},
		{name: "net sysctl without netns", mutate: func(e *env) {
			e.spec.Linux.Namespaces = without(e.spec.Linux.Namespaces, specs.NetworkNamespace)
			e.spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, want: "needs a network namespace"},
		{name: "host sysctl", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"vm.swappiness": "1"} }, want: "not namespaced"},
		{name: "bad propagation", mutate: func(e *env) { e.spec.Linux.RootfsPropagation = "sideways" }, want: "linux.rootfsPropagation"},
		{name: "relative masked path", mutate: func(e *env) { e.spec.Linux.MaskedPaths = []string{"proc/kcore"} }, want: "linux.maskedPaths[0]"},
		{name: "bad device type", mutate: func(e *env) { e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "z"}} }, want: "unknown device type"},
		{name: "negative memory limit", mutate: func(e *env) {
			e.spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &neg}}
		}, want: "linux.resources.memory.limit"},
		{name: "bad seccomp action", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"}
		}, want: "linux.seccomp"},
		{name: "terminal without console socket", mutate: func(e *env) { e.spec.Process.Terminal = true }, want: "--console-socket"},
		{name: "console size without terminal", mutate: func(e *env) { e.spec.Process.ConsoleSize = &specs.Box{Height: 1, Width: 1} }, want: "process.consoleSize"},
		{name: "time offsets without time namespace", mutate: func(e *env) {
			e.spec.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}}
		}, want: "linux.timeOffsets"},
		{name: "zero-size uid map", mutate: func(e *env) {
			e.spec.Linux.Namespaces = append(e.spec.Linux.Namespaces, specs.LinuxNamespace{Type: "user"})
			e.spec.Linux.UIDMappings = []specs.LinuxIDMapping{{Size: 0}}
			e.spec.Linux.GIDMappings = []specs.LinuxIDMapping{{Size: 1}}
		}, want: "linux.uidMappings[0].size"},
		{name: "cgroupsPath with ..", mutate: func(e *env) { e.spec.Linux.CgroupsPath = "/a/../../b" }, want: "linux.cgroupsPath"},
		{name: "missing bind source", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/no/such/dir", Options: []string{"bind"}})
		}, want: "/no/such/dir"},
		{name: "id with slash", args: []string{"create", "-b", "BUNDLE", "a/b"}, want: "invalid container id"},
		{name: "id dot dot", args: []string{"create", "-b", "BUNDLE", ".."}, want: "invalid container id"},
		{name: "no id", args: []string{"create", "-b", "BUNDLE"}, want: "requires exactly one container id"},
		{name: "bad signal", args: []string{"kill", "x", "SIGBOGUS"}, want: "unknown signal"},
		{name: "unknown flag", args: []string{"create", "--bogus", "x"}, want: "unknown flag"},
		{name: "negative preserve-fds", args: []string{"create", "--preserve-fds", "-1", "-b", "BUNDLE", "x"}, want: "--preserve-fds"},
		{name: "bad log format", args: []string{"--log-format", "xml", "state", "x"}, want: "--log-format"},
		{name: "hook timeout", mutate: func(e *env) {
			e.spec.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sleep", Args: []string{"sleep", "5"}, Timeout: &one}}}
		}, want: "timed out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.spec.Process.Args = []string{"sleep", "30"}
			e.writeSpec()
			if tc.mutate != nil {
				tc.mutate(e)
				if _, err := os.Stat(filepath.Join(e.bundle, "config.json")); err == nil && !strings.Contains(tc.name, "JSON") {
					e.writeSpec()
				}
			}
			args := []string{"create", "-b", e.bundle, "bad"}
			if tc.args != nil {
				args = nil
				for _, a := range tc.args {
					args = append(args, strings.ReplaceAll(a, "BUNDLE", e.bundle))
				}
			}
			r := e.mr(args...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
			}
			line := strings.TrimSuffix(r.stderr, "\n")
			if strings.Contains(line, "\n") {
				t.Fatalf("error is more than one line: %q", r.stderr)
			}
			if !strings.HasPrefix(line, "miniruntime "+args[0]) && !strings.HasPrefix(line, "miniruntime "+args[2]) && !strings.HasPrefix(line, "miniruntime: ") {
				t.Fatalf("error line does not name the command: %q", line)
			}
			if !strings.Contains(line, tc.want) {
				t.Fatalf("error %q does not contain %q", line, tc.want)
			}
			if args[0] == "create" && len(args) == 4 && !strings.Contains(line, " "+args[3]+": ") {
				t.Fatalf("error line does not name the container: %q", line)
			}
			if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
				t.Fatalf("state left behind: %v", ents)
			}
		})
	}
}

func without(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, ns := range nss {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	return out
}
