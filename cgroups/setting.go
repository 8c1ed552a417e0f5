package cgroups

import (
	"strconv"
	"strings"
)

// Setting is one value for one cgroup file: what a person would write with
// echo. V1Values and V2Values render linux.resources into a list of them,
// in the order they must be written.
type Setting struct {
	// Field is the config.json field the value comes from
	// ("linux.resources.memory.limit"); errors start with it.
	Field string
	// Controller selects the hierarchy on v1 ("memory", "cpu", "net_cls")
	// and the controller that must be enabled on v2 ("memory", "io");
	// "cgroup" for v2 core files (cgroup.max.depth).
	Controller string
	// File is the file name in the container's cgroup directory.
	File string
	// Value is written as is (a single write(2)).
	Value string

	// Alt is written instead when File does not exist on this kernel,
	// e.g. blkio.bfq.weight when there is no CFQ blkio.weight.
	Alt *Setting
	// Optional means a missing File is fine because its effect already
	// holds, e.g. memory.swap.max=0 on a kernel built without swap.
	Optional bool
	// Retry marks values whose validity depends on a neighbour's current
	// value (memory.limit_in_bytes <= memory.memsw.limit_in_bytes, burst
	// <= quota, rt_runtime <= rt_period). If the kernel says EINVAL, the
	// write is tried once more after the other settings.
	Retry bool
	// Verify reads the file back after writing: some kernels accept and
	// ignore a write (memory.kmem.limit_in_bytes since Linux 6.1).
	Verify bool
	// Deprecated marks a field that runc and crun accept and ignore
	// (memory.kernel, memory.kernelTCP). It is applied where the kernel
	// honours it; where the kernel has no File, answers EOPNOTSUPP, or
	// (with Verify) keeps another value than the one written, the field is
	// accepted with a warning (Options.Warn) instead of refused.
	Deprecated bool
	// Ignore, when set, means nothing is written: the field is accepted and
	// this reason goes to Options.Warn. It is how a deprecated field that
	// this cgroup version cannot express at all is rendered (memory.kernel
	// on v2). Controller and File are empty then.
	Ignore string
}

// shortField drops the common prefix for the recorder's narrow column.
func (s Setting) shortField() string {
	return strings.TrimPrefix(s.Field, "linux.resources.")
}

// itoa renders a v1 number; v1 limit files take -1 literally as unlimited.
func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }
func btoa(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// maxOr renders a v2 limit: -1 becomes "max", the word every v2 limit file
// uses for unlimited.
func maxOr(v int64) string {
	if v == -1 {
		return "max"
	}
	return itoa(v)
}
