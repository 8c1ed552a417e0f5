package cgroups

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PrimeMigrations starts, in the background, a no-op cgroup v1 migration:
// the calling process is written into the cgroup it is already in.
//
// Why: on cgroup v1 the first write to a cgroup.procs file after a quiet
// spell waits for an RCU grace period (the kernel's threadgroup lock is a
// percpu rwsem, and taking it for writing starts an rcu_sync), which costs
// 10-20 ms here; writes that follow soon after are fast. A container start
// must move its init into every v1 hierarchy, so starting that wait while
// the bundle is still being read hides most of it. On cgroup v2 the init is
// born in its cgroup (clone3 CLONE_INTO_CGROUP takes the lock only for
// reading) and nothing is done.
func PrimeMigrations(mountpoint string) {
	if mountpoint == "" {
		mountpoint = DefaultMountpoint
	}
	if mode, err := DetectMode(mountpoint); err != nil || mode == Unified {
		return
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] == "pids" {
			procs := filepath.Join(mountpoint, "pids", parts[2], "cgroup.procs")
			go os.WriteFile(procs, []byte(strconv.Itoa(os.Getpid())), 0)
			return
		}
	}
}
