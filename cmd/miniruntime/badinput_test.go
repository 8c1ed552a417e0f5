package main

import (
	"os"
	"path/filepath"
	"strconv"
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
		// Ids at and past their limits: runc and the kernel's interfaces
		// take 0-2147483647 (4294967295 is -1, "unchanged", to setresuid).
		{name: "uid past 2^31-1", mutate: func(e *env) { e.spec.Process.User.UID = 1 << 31 }, want: "process.user.uid: 2147483648 is outside"},
		{name: "uid 2^32-1", mutate: func(e *env) { e.spec.Process.User.UID = 1<<32 - 1 }, want: "process.user.uid: 4294967295"},
		{name: "gid past 2^31-1", mutate: func(e *env) { e.spec.Process.User.GID = 1 << 31 }, want: "process.user.gid"},
		{name: "additional gid 2^32-1", mutate: func(e *env) { e.spec.Process.User.AdditionalGids = []uint32{10, 1<<32 - 1} }, want: "process.user.additionalGids[1]"},
		{name: "device uid past 2^31-1", mutate: func(e *env) {
			u := uint32(1 << 31)
			e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 3, UID: &u}}
		}, want: "linux.devices[0].uid"},
		{name: "device gid 2^32-1", mutate: func(e *env) {
			g := uint32(1<<32 - 1)
			e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 3, GID: &g}}
		}, want: "linux.devices[0].gid"},
		// dev_t has 12 bits of major and 20 of minor; -1 is a cgroup
		// wildcard, not a device.
		{name: "device major 4096", mutate: func(e *env) { e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 4096}} }, want: "linux.devices[0].major: 4096 is outside"},
		{name: "device major -1", mutate: func(e *env) { e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "b", Major: -1}} }, want: "linux.devices[0].major"},
		{name: "device minor 2^20", mutate: func(e *env) {
			e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: 1, Minor: 1 << 20}}
		}, want: "linux.devices[0].minor: 1048576 is outside"},
		{name: "device minor -1", mutate: func(e *env) {
			e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "u", Major: 1, Minor: -1}}
		}, want: "linux.devices[0].minor"},
		{name: "device relative path", mutate: func(e *env) {
			e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "c", Major: 1, Minor: 3}}
		}, want: "linux.devices[0].path"},
		{name: "device path with NUL", mutate: func(e *env) {
			e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x\x00y", Type: "c", Major: 1, Minor: 3}}
		}, want: "linux.devices[0].path"},
		// User-namespace maps: the kernel refuses overlaps, more than 340
		// lines and ranges past the last id; unsorted maps it takes (see
		// TestOddInputAccepted).
		{name: "uid maps overlap inside", mutate: func(e *env) {
			userns(e, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 10}, {ContainerID: 5, HostID: 200000, Size: 10}}, nil)
		}, want: "linux.uidMappings[1].containerID"},
		{name: "gid maps overlap on the host", mutate: func(e *env) {
			userns(e, nil, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 10}, {ContainerID: 100, HostID: 100009, Size: 1}})
		}, want: "linux.gidMappings[1].hostID"},
		{name: "341 uid map lines", mutate: func(e *env) {
			var m []specs.LinuxIDMapping
			for i := uint32(0); i < 341; i++ {
				m = append(m, specs.LinuxIDMapping{ContainerID: i, HostID: 100000 + i, Size: 1})
			}
			userns(e, m, nil)
		}, want: "linux.uidMappings: 341 mappings; the kernel takes at most 340"},
		{name: "gid map past the last id", mutate: func(e *env) {
			userns(e, nil, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1<<32 - 10, Size: 11}})
		}, want: "linux.gidMappings[0].size"},
		{name: "zero-size gid map", mutate: func(e *env) { userns(e, nil, []specs.LinuxIDMapping{{HostID: 100000, Size: 0}}) }, want: "linux.gidMappings[0].size: is zero"},
		{name: "user namespace without uid maps", mutate: func(e *env) {
			userns(e, nil, nil)
			e.spec.Linux.UIDMappings = nil
		}, want: "linux.uidMappings: a new user namespace needs uid mappings"},
		{name: "user namespace without gid maps", mutate: func(e *env) {
			userns(e, nil, nil)
			e.spec.Linux.GIDMappings = nil
		}, want: "linux.gidMappings: a new user namespace needs gid mappings"},
		{name: "mount uid map without gid map", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: []string{"bind"},
				UIDMappings: []specs.LinuxIDMapping{{HostID: 100000, Size: 1}}})
		}, want: "uidMappings and gidMappings must be given together"},
		// NUL bytes in every field that reaches a system call; Go (runc's
		// too) cannot pass them, and the init would fail with EINVAL.
		{name: "arg with NUL", mutate: func(e *env) { e.spec.Process.Args = []string{"sleep", "3\x000"} }, want: "process.args[1]"},
		{name: "env with NUL", mutate: func(e *env) { e.spec.Process.Env = append(e.spec.Process.Env, "A=b\x00c") }, want: "process.env[2]"},
		{name: "env with empty key", mutate: func(e *env) { e.spec.Process.Env = append(e.spec.Process.Env, "=x") }, want: "process.env[2]"},
		{name: "cwd with NUL", mutate: func(e *env) { e.spec.Process.Cwd = "/tmp\x00x" }, want: "process.cwd"},
		{name: "hostname with NUL", mutate: func(e *env) { e.spec.Hostname = "a\x00b" }, want: "hostname: \"a\\x00b\" holds a NUL"},
		{name: "hostname of 65 bytes", mutate: func(e *env) { e.spec.Hostname = strings.Repeat("h", 65) }, want: "hostname: 65 bytes; the kernel takes at most 64"},
		{name: "domainname of 65 bytes", mutate: func(e *env) { e.spec.Domainname = strings.Repeat("d", 65) }, want: "domainname: 65 bytes"},
		{name: "domainname without uts", mutate: func(e *env) {
			e.spec.Hostname = ""
			e.spec.Domainname = "example.org"
			e.spec.Linux.Namespaces = without(e.spec.Linux.Namespaces, specs.UTSNamespace)
		}, want: "domainname: cannot be set"},
		{name: "root path with NUL", mutate: func(e *env) { e.spec.Root.Path = "rootfs\x00x" }, want: "root.path"},
		{name: "mount destination with NUL", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt\x00x", Type: "tmpfs", Source: "tmpfs"})
		}, want: ".destination: \"/mnt\\x00x\" holds a NUL"},
		{name: "mount source with NUL", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp\x00", Options: []string{"bind"}})
		}, want: ".source"},
		{name: "mount option with NUL", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m\x00"}})
		}, want: ".options[0]"},
		{name: "empty mount option", mutate: func(e *env) {
			e.spec.Mounts = append(e.spec.Mounts, specs.Mount{Destination: "/mnt", Type: "tmpfs", Source: "tmpfs", Options: []string{""}})
		}, want: ".options[0]: empty option"},
		{name: "masked path with NUL", mutate: func(e *env) { e.spec.Linux.MaskedPaths = []string{"/proc/kcore\x00"} }, want: "linux.maskedPaths[0]"},
		{name: "relative readonly path", mutate: func(e *env) { e.spec.Linux.ReadonlyPaths = []string{"proc/sys"} }, want: "linux.readonlyPaths[0]"},
		{name: "readonly path with NUL", mutate: func(e *env) { e.spec.Linux.ReadonlyPaths = []string{"/proc\x00/sys"} }, want: "linux.readonlyPaths[0]"},
		{name: "hook path with NUL", mutate: func(e *env) { e.spec.Hooks = &specs.Hooks{Prestart: []specs.Hook{{Path: "/bin/true\x00"}}} }, want: "hooks.prestart[0].path"},
		{name: "hook arg with NUL", mutate: func(e *env) {
			e.spec.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/true", Args: []string{"true", "a\x00"}}}}
		}, want: "hooks.poststop[0].args[1]"},
		{name: "namespace path with NUL", mutate: func(e *env) { e.spec.Linux.Namespaces[0].Path = "/proc/self/ns/pid\x00" }, want: "linux.namespaces[0].path"},
		{name: "namespace path not a namespace", mutate: func(e *env) { e.spec.Linux.Namespaces[0].Path = "/dev/null" }, want: "/dev/null is not a namespace"},
		{name: "cgroupsPath with NUL", mutate: func(e *env) { e.spec.Linux.CgroupsPath = e.cgroup + "\x00x" }, want: "linux.cgroupsPath"},
		{name: "cgroupsPath with newline", mutate: func(e *env) { e.spec.Linux.CgroupsPath = e.cgroup + "\nx" }, want: "linux.cgroupsPath"},
		{name: "empty annotation key", mutate: func(e *env) { e.spec.Annotations = map[string]string{"": "x"} }, want: "annotations: an empty key"},
		{name: "bad network name", mutate: func(e *env) { e.spec.Annotations = map[string]string{"miniruntime.network": "no/such"} }, want: "annotations[\"miniruntime.network\"]"},
		{name: "bad port mapping", mutate: func(e *env) {
			e.spec.Annotations = map[string]string{"miniruntime.network": "default", "miniruntime.ports": "0:80"}
		}, want: "annotations[\"miniruntime.ports\"]"},
		{name: "port on loopback", mutate: func(e *env) {
			e.spec.Annotations = map[string]string{"miniruntime.network": "default", "miniruntime.ports": "127.0.0.1:8080:80"}
		}, want: "loopback"},
		// Ids on the command line: runc's alphabet and length.
		{name: "id with newline", args: []string{"create", "-b", "BUNDLE", "a\nb"}, want: "invalid container id"},
		{name: "id with space", args: []string{"create", "-b", "BUNDLE", "a b"}, want: "invalid container id"},
		{name: "id of 1025 characters", args: []string{"create", "-b", "BUNDLE", strings.Repeat("i", 1025)}, want: "longer than 1024"},
		{name: "empty id", args: []string{"create", "-b", "BUNDLE", ""}, want: "container id is empty"},
		// Sysctls: namespaced ones only, each in its own namespace, with
		// names the kernel has.
		{name: "sysctl with NUL", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward\x00": "1"} }, want: "not a sysctl name"},
		{name: "sysctl with newline", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"net.ipv4\n.ip_forward": "1"} }, want: "not a sysctl name"},
		{name: "sysctl climbing with ..", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"net/../kernel/core_pattern": "x"} }, want: "not a sysctl name"},
		{name: "empty sysctl name", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"": "1"} }, want: "not a sysctl name"},
		{name: "sysctl value with NUL", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1\x00"} }, want: "holds a NUL"},
		{name: "kernel.hostname sysctl", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"kernel.hostname": "x"} }, want: "conflicts with the hostname field"},
		{name: "ipc sysctl without ipc namespace", mutate: func(e *env) {
			e.spec.Linux.Namespaces = without(e.spec.Linux.Namespaces, specs.IPCNamespace)
			e.spec.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"}
		}, want: "needs an ipc namespace"},
		{name: "user sysctl without user namespace", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"user.max_user_namespaces": "0"} }, want: "needs a user namespace"},
		{name: "slash sysctl of the host", mutate: func(e *env) { e.spec.Linux.Sysctl = map[string]string{"kernel/core_pattern": "x"} }, want: "not namespaced"},
		// Rlimits.
		{name: "lower-case rlimit", mutate: func(e *env) { e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "rlimit_nofile", Hard: 1, Soft: 1}} }, want: "process.rlimits[0].type"},
		{name: "empty rlimit type", mutate: func(e *env) { e.spec.Process.Rlimits = []specs.POSIXRlimit{{Hard: 1, Soft: 1}} }, want: "process.rlimits[0].type"},
		{name: "nofile above nr_open", mutate: func(e *env) {
			e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 40, Soft: 1024}}
		}, want: "process.rlimits[0].hard: 1099511627776 is above this kernel's fs.nr_open"},
		{name: "unlimited nofile", mutate: func(e *env) {
			e.spec.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1<<64 - 1, Soft: 1024}}
		}, want: "process.rlimits[0].hard"},
		// Seccomp rules of every invalid shape.
		{name: "seccomp unknown architecture", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_Z80"}}
		}, want: "linux.seccomp.architectures[0]"},
		{name: "seccomp unknown rule action", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: "SCMP_ACT_MAYBE"}}}
		}, want: "linux.seccomp.syscalls[0].action"},
		{name: "seccomp empty rule action", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}}}}
		}, want: "linux.seccomp.syscalls[0].action"},
		{name: "seccomp unknown operator", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_ALMOST"}}}}}
		}, want: "linux.seccomp.syscalls[0].args[0].op"},
		{name: "seccomp argument index 6", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno,
				Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}
		}, want: "linux.seccomp.syscalls[0].args[0].index: 6"},
		{name: "seccomp unknown flag", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}
		}, want: "linux.seccomp.flags[0]"},
		{name: "seccomp notify action", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}}
		}, want: "SCMP_ACT_NOTIFY is not supported"},
		{name: "seccomp listener path", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"}
		}, want: "linux.seccomp.listenerPath"},
		{name: "seccomp rules without default action", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
		}, want: "linux.seccomp.defaultAction"},
		// Time offsets: as the kernel's timens_offsets judges them.
		{name: "time offset of an unknown clock", mutate: func(e *env) {
			timens(e, map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}})
		}, want: "unknown clock \"realtime\""},
		{name: "time offset nanoseconds of a second", mutate: func(e *env) {
			timens(e, map[string]specs.LinuxTimeOffset{"monotonic": {Nanosecs: 1e9}})
		}, want: "linux.timeOffsets[\"monotonic\"].nanosecs"},
		{name: "time offset before zero", mutate: func(e *env) {
			timens(e, map[string]specs.LinuxTimeOffset{"boottime": {Secs: -1 << 40}})
		}, want: "linux.timeOffsets[\"boottime\"].secs"},
		{name: "time offset past KTIME_SEC_MAX/2", mutate: func(e *env) {
			timens(e, map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1 << 62}})
		}, want: "linux.timeOffsets[\"monotonic\"].secs"},
		{name: "time offsets for a joined time namespace", mutate: func(e *env) {
			timens(e, map[string]specs.LinuxTimeOffset{"monotonic": {Secs: 1}})
			e.spec.Linux.Namespaces[len(e.spec.Linux.Namespaces)-1].Path = "/proc/self/ns/time"
		}, want: "joined by path"},
		// Scheduler and I/O priority: sched_setattr's and ioprio_set's rules.
		{name: "unknown scheduler policy", mutate: func(e *env) { e.spec.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FAST"} }, want: "process.scheduler.policy"},
		{name: "nice 20", mutate: func(e *env) { e.spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Nice: 20} }, want: "process.scheduler.nice: 20"},
		{name: "priority for SCHED_OTHER", mutate: func(e *env) { e.spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Priority: 5} }, want: "process.scheduler.priority"},
		{name: "runtime for SCHED_FIFO", mutate: func(e *env) {
			e.spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedFIFO, Priority: 1, Runtime: 1000}
		}, want: "SCHED_DEADLINE only"},
		{name: "unknown scheduler flag", mutate: func(e *env) {
			e.spec.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedOther, Flags: []specs.LinuxSchedulerFlag{"SCHED_FLAG_BOGUS"}}
		}, want: "process.scheduler.flags[0]"},
		{name: "io priority 8", mutate: func(e *env) {
			e.spec.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 8}
		}, want: "process.ioPriority.priority"},
		{name: "unknown io class", mutate: func(e *env) { e.spec.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_FAST"} }, want: "process.ioPriority.class"},
		{name: "oomScoreAdj -1001", mutate: func(e *env) { v := -1001; e.spec.Process.OOMScoreAdj = &v }, want: "process.oomScoreAdj: -1001"},
		{name: "unknown ambient capability", mutate: func(e *env) {
			e.spec.Process.Capabilities.Ambient = []string{"CAP_FLY"}
		}, want: "process.capabilities.ambient[0]"},
		{name: "hook timeout negative", mutate: func(e *env) {
			n := -1
			e.spec.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true", Timeout: &n}}}
		}, want: "hooks.poststart[0].timeout: -1"},
		{name: "intelRdt", mutate: func(e *env) { e.spec.Linux.IntelRdt = &specs.LinuxIntelRdt{ClosID: "x"} }, want: "linux.intelRdt"},
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
			if args[0] == "create" && len(args) == 4 && args[3] != "" && !strings.Contains(line, " "+args[3]+": ") && !strings.Contains(line, " "+strconv.Quote(args[3])+": ") {
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

// userns gives the spec a new user namespace with the maps given, or
// one-line maps of 65536 ids where a map is nil.
func userns(e *env, uids, gids []specs.LinuxIDMapping) {
	if uids == nil {
		uids = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	}
	if gids == nil {
		gids = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	}
	e.spec.Linux.Namespaces = append(without(e.spec.Linux.Namespaces, specs.UserNamespace), specs.LinuxNamespace{Type: specs.UserNamespace})
	e.spec.Linux.UIDMappings, e.spec.Linux.GIDMappings = uids, gids
}

// timens gives the spec a new time namespace with the offsets given.
func timens(e *env, offs map[string]specs.LinuxTimeOffset) {
	e.spec.Linux.Namespaces = append(without(e.spec.Linux.Namespaces, specs.TimeNamespace), specs.LinuxNamespace{Type: specs.TimeNamespace})
	e.spec.Linux.TimeOffsets = offs
}

// What runc and the kernel take stays accepted, however odd: each of these
// runs, and the container sees the value as it was given.
func TestOddInputAccepted(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(e *env)
		out    string // the container's whole stdout
	}{
		// A newline is only a byte to execve: runc passes it on.
		{name: "newline in an env value", mutate: func(e *env) {
			e.spec.Process.Env = append(e.spec.Process.Env, "V=a\nb")
			e.spec.Process.Args = []string{"sh", "-c", `printf %s "$V"`}
		}, out: "a\nb"},
		{name: "newline in an arg", mutate: func(e *env) { e.spec.Process.Args = []string{"sh", "-c", `printf %s "$1"`, "sh", "a\nb"} }, out: "a\nb"},
		// sethostname takes any bytes up to 64; runc sets what it is given.
		{name: "newline in the hostname", mutate: func(e *env) {
			e.spec.Hostname = "a\nb"
			e.spec.Process.Args = []string{"hostname"}
		}, out: "a\nb\n"},
		{name: "hostname of 64 bytes", mutate: func(e *env) {
			e.spec.Hostname = strings.Repeat("h", 64)
			e.spec.Process.Args = []string{"hostname"}
		}, out: strings.Repeat("h", 64) + "\n"},
		// Annotations never reach the kernel: runc keeps any string.
		{name: "NUL and newline in annotations", mutate: func(e *env) {
			e.spec.Annotations = map[string]string{"org.example.nul": "a\x00b", "org.example.nl\n": "x\ny"}
			e.spec.Process.Args = []string{"true"}
		}},
		// The top of runc's id range, without a user namespace.
		{name: "uid and gid 2147483647", mutate: func(e *env) {
			e.spec.Process.User = specs.User{UID: 1<<31 - 1, GID: 1<<31 - 1, AdditionalGids: []uint32{1<<31 - 1}}
			e.spec.Process.Args = []string{"sh", "-c", "echo $(id -u) $(id -g)"}
		}, out: "2147483647 2147483647\n"},
		// The kernel takes map lines in any order as long as no two
		// overlap; runc writes them as they are.
		{name: "unsorted id maps", mutate: func(e *env) {
			unsorted := []specs.LinuxIDMapping{{ContainerID: 1, HostID: 100001, Size: 65535}, {ContainerID: 0, HostID: 100000, Size: 1}}
			userns(e, unsorted, unsorted)
			// The bundle must be reachable by the mapped root (host uid 100000).
			os.Chmod(filepath.Dir(e.bundle), 0o755)
			os.Chmod(filepath.Dir(filepath.Dir(e.bundle)), 0o755)
			e.spec.Process.Args = []string{"cat", "/proc/self/uid_map"}
		}, out: "         1     100001      65535\n         0     100000          1\n"},
		// The largest dev_t numbers.
		{name: "device 4095:1048575", mutate: func(e *env) {
			e.spec.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/edge", Type: "c", Major: 4095, Minor: 1048575}}
			e.spec.Process.Args = []string{"stat", "-c", "%t:%T", "/dev/edge"}
		}, out: "fff:fffff\n"},
		// sysctl(8)'s "/" form, which runc reads too.
		{name: "sysctl with slashes", mutate: func(e *env) {
			e.spec.Linux.Sysctl = map[string]string{"net/ipv4/ip_forward": "1"}
			e.spec.Process.Args = []string{"cat", "/proc/sys/net/ipv4/ip_forward"}
		}, out: "1\n"},
		// libseccomp cannot resolve the name; runc skips such a rule, so
		// one profile serves kernels of different ages.
		{name: "seccomp rule for an unknown system call", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"no_such_syscall"}, Action: specs.ActErrno}}}
			e.spec.Process.Args = []string{"true"}
		}},
		// Six arguments, the last at index 5.
		{name: "seccomp argument index 5", mutate: func(e *env) {
			e.spec.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mount"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 5, Value: 42, Op: specs.OpEqualTo}}}}}
			e.spec.Process.Args = []string{"true"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			tc.mutate(e)
			r := e.run("odd")
			if r.code != 0 {
				t.Fatalf("exit %d, want 0; stderr %q", r.code, r.stderr)
			}
			if r.stdout != tc.out {
				t.Fatalf("stdout %q, want %q", r.stdout, tc.out)
			}
		})
	}
}
