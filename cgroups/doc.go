// Package cgroups puts a container's linux.resources into the kernel.
//
// The shape follows containerd/cgroups: a concrete Manager (New, Load, Update,
// Delete), one small file per controller, and resource settings rendered as
// plain (controller, file, value) triples by pure functions, V1Values and
// V2Values, that are table-tested without root. The writing layer is thin:
// it opens a file, writes one value and records the equivalent shell command
// on the explorer's recorder, so a learner sees
//
//	echo 67108864 > /sys/fs/cgroup/memory/miniruntime-web/memory.limit_in_bytes
//
// for every write the runtime makes.
//
// Every field of linux.resources is either applied or refused with an error
// that names the field; nothing is dropped silently. The one exception is
// the deprecated kernel memory limits (memory.kernel, memory.kernelTCP):
// where the kernel ignores them, as every kernel since 6.1 does with
// memory.kmem.limit_in_bytes and cgroup v2 does with both, they are accepted
// with a warning handed to Options.Warn, as runc and crun accept them. Where
// cgroup v1 and v2 differ, the conversions are the ones runc makes
// (cpu.shares to cpu.weight, memory+swap totals to memory.swap.max, blkio
// weights to io weights).
//
// Three host layouts are handled (see Mode): a pure cgroup v2 host, a hybrid
// host (v1 controllers plus an empty cgroup2 mount at <mnt>/unified) and a
// legacy v1 host. On v1 the container gets one directory per mounted
// hierarchy; on v2 one directory.
//
// The package is linked into a binary that is re-executed for every container
// start, so package initialisation does nothing: no D-Bus, no eBPF library,
// no protobuf; the device filter is assembled and loaded with a few raw bpf(2)
// calls (devicefilter.go, bpf_linux.go).
package cgroups
