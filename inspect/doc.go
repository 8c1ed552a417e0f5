// Package inspect reads the anatomy of a live container from the kernel:
// its namespaces beside the host's, its cgroup with every limit next to
// the usage it bounds, its mounts, the init process's credentials and
// limits, and its network from both ends of the veth pair down to the
// nftables rules that publish its ports.
//
// Every fact carries where it was read: a file (/proc/<pid>/status,
// /sys/fs/cgroup/.../memory.max) or, for what comes over netlink, the
// command that shows the same (`nsenter --net=/proc/<pid>/ns/net ip addr`).
// Nothing is cached and nothing is written: Explain reads the kernel at the
// moment of the call. `miniruntime explain` prints the result, and the
// usage sampler (Sample, Usage) feeds `miniruntime top`.
//
// The package imports cgroups and netns for their read-only parts (where a
// container's cgroup directories are, a network's bridge, a pod's
// attachments) and not runtime: the command layer hands it a Target built
// from the container's state.
package inspect
