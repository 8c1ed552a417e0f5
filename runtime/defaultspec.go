package runtime

import (
	"github.com/miniruntime/miniruntime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultSpec returns the config.json that `miniruntime spec` writes: an
// interactive sh in ./rootfs with few privileges. It is the same document
// `runc spec` writes, so a bundle made for either runtime runs on the other,
// and callers start from it and change what they need.
func DefaultSpec() *specs.Spec {
	// Three capabilities only: write to the audit log (login and su do),
	// signal processes of other users, bind ports below 1024.
	caps := func() []string { return []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"} }
	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			// sh is interactive: it wants a terminal.
			Terminal: true,
			User:     specs.User{UID: 0, GID: 0},
			Args:     []string{"sh"},
			Env: []string{
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"TERM=xterm",
			},
			Cwd: "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps(),
				Effective: caps(),
				Permitted: caps(),
			},
			Rlimits: []specs.POSIXRlimit{
				// A fixed, low descriptor limit rather than whatever
				// the caller happened to have.
				{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024},
			},
			// No setuid binary or file capability can raise privileges.
			NoNewPrivileges: true,
		},
		// Relative to the bundle; read-only so the image stays pristine.
		Root: &specs.Root{Path: "rootfs", Readonly: true},
		// runc's default, kept so the file matches what `runc spec` writes.
		Hostname: "runc",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			// A small tmpfs for the device nodes the runtime creates;
			// strictatime keeps device access times exact, as runc and
			// Docker mount it.
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			// A private devpts instance, so the container sees only its
			// own ptys; gid 5 is the tty group, mode 0620 lets it write
			// to a terminal, ptmxmode 0666 lets anyone open /dev/ptmx.
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts",
				Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			// POSIX shared memory: world-writable and sticky like /tmp.
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm",
				Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			// POSIX message queues of the container's ipc namespace.
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
				Options: []string{"nosuid", "noexec", "nodev"}},
			// The host's kernel and device tree: readable, never writable.
			{Destination: "/sys", Type: "sysfs", Source: "sysfs",
				Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup",
				Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				// Deny every device; the runtime still allows the
				// default ones (null, zero, tty, ...) itself.
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			// No user namespace: a default container is root-owned.
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			// Files that leak host information (kernel memory, keys,
			// timers, hardware) or allow host-wide actions: hidden.
			MaskedPaths: []string{
				"/proc/acpi",
				"/proc/asound",
				"/proc/kcore",
				"/proc/keys",
				"/proc/latency_stats",
				"/proc/timer_list",
				"/proc/timer_stats",
				"/proc/sched_debug",
				"/sys/firmware",
				"/proc/scsi",
			},
			// Kernel tunables that are not namespaced: visible but
			// read-only.
			ReadonlyPaths: []string{
				"/proc/bus",
				"/proc/fs",
				"/proc/irq",
				"/proc/sys",
				"/proc/sysrq-trigger",
			},
		},
	}
	// A cgroup namespace hides the host's cgroup paths. runc adds one only
	// on a cgroup v2 host (Docker's default cgroupns mode follows the same
	// rule: private on v2, host on v1), and so does this default.
	if mode, err := cgroups.DetectMode(""); err == nil && mode == cgroups.Unified {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return s
}
