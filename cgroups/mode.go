package cgroups

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Mode is the cgroup layout of a host.
type Mode string

const (
	// Unified is a pure cgroup v2 host: one hierarchy mounted at the
	// mountpoint, every controller in it.
	Unified Mode = "unified"
	// Hybrid is systemd's transition layout: v1 controller hierarchies under
	// the mountpoint and an extra cgroup2 mount at <mountpoint>/unified that
	// usually has no controllers. Resources go through v1.
	Hybrid Mode = "hybrid"
	// Legacy is v1 only.
	Legacy Mode = "legacy"
)

// DefaultMountpoint is where distributions mount the cgroup filesystems.
const DefaultMountpoint = "/sys/fs/cgroup"

// DetectMode reports the layout mounted at mountpoint ("" means
// DefaultMountpoint). It looks at filesystem types with statfs(2), as
// containerd and runc do, so it costs two system calls and reads no files.
//
// containerd/cgroups/v3.Mode does the same but only for /sys/fs/cgroup and
// caches the answer in a package variable; taking the mountpoint keeps tests
// and nested setups honest.
func DetectMode(mountpoint string) (Mode, error) {
	if mountpoint == "" {
		mountpoint = DefaultMountpoint
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mountpoint, &st); err != nil {
		return "", fmt.Errorf("detect cgroup mode: statfs %s: %w", mountpoint, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return Unified, nil
	}
	var ust unix.Statfs_t
	if err := unix.Statfs(filepath.Join(mountpoint, "unified"), &ust); err == nil && ust.Type == unix.CGROUP2_SUPER_MAGIC {
		return Hybrid, nil
	}
	// Anything else is read as v1 hierarchies under a directory (normally a
	// tmpfs); New finds out which hierarchies are there and fails if none.
	return Legacy, nil
}
