package cgroups

import (
	"fmt"
	"slices"
	"strings"
)

const fUnified = "linux.resources.unified"

// unifiedFiles are the writable cgroup v2 interface files (Linux 6.x
// Documentation/admin-guide/cgroup-v2.rst), the only keys
// linux.resources.unified may name. hugetlb.<size>.max and .rsvd.max are
// matched by pattern.
var unifiedFiles = []string{
	"cgroup.type", "cgroup.max.descendants", "cgroup.max.depth", "cgroup.pressure",
	"cpu.weight", "cpu.weight.nice", "cpu.max", "cpu.max.burst", "cpu.idle",
	"cpu.uclamp.min", "cpu.uclamp.max", "cpu.pressure",
	"cpuset.cpus", "cpuset.mems", "cpuset.cpus.partition", "cpuset.cpus.exclusive",
	"memory.min", "memory.low", "memory.high", "memory.max", "memory.oom.group",
	"memory.swap.high", "memory.swap.max", "memory.swap.peak", "memory.peak",
	"memory.zswap.max", "memory.zswap.writeback", "memory.reclaim", "memory.pressure",
	"io.weight", "io.bfq.weight", "io.max", "io.latency", "io.prio.class", "io.pressure",
	"pids.max", "rdma.max", "misc.max", "irq.pressure",
	"dmem.max", "dmem.min", "dmem.low",
}

// runtimeFiles are v2 files the runtime itself drives; a config must not
// race it for them.
var runtimeFiles = map[string]string{
	"cgroup.procs":           "the runtime moves processes",
	"cgroup.threads":         "the runtime moves processes",
	"cgroup.subtree_control": "the container's cgroup holds processes and cannot delegate controllers (no internal processes rule)",
	"cgroup.freeze":          "pause and resume drive the freezer",
	"cgroup.kill":            "kill and delete drive it",
}

func validateUnified(u map[string]string) error {
	for _, k := range sortedKeys(u) {
		f := fmt.Sprintf("%s[%q]", fUnified, k)
		if why, ok := runtimeFiles[k]; ok {
			return invalidf(f, "%q is managed by the runtime: %s", k, why)
		}
		if strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
			return invalidf(fUnified, "key %q is not a file name", k)
		}
		if !isUnifiedFile(k) {
			return invalidf(fUnified, "key %q is not a cgroup v2 file", k)
		}
		if strings.ContainsRune(u[k], 0) {
			return invalidf(f, "value contains a NUL byte")
		}
	}
	return nil
}

func isUnifiedFile(k string) bool {
	if slices.Contains(unifiedFiles, k) {
		return true
	}
	if rest, ok := strings.CutPrefix(k, "hugetlb."); ok {
		size, _ := strings.CutSuffix(rest, ".max")
		size, _ = strings.CutSuffix(size, ".rsvd")
		return strings.HasSuffix(rest, ".max") && validPageSize(size)
	}
	return false
}

// unifiedSettings renders the keys in sorted order. A multi-line value is
// written line by line (io.max for two devices), since cgroupfs parses one
// line per write.
func unifiedSettings(u map[string]string) []Setting {
	var out []Setting
	for _, k := range sortedKeys(u) {
		ctrl, _, _ := strings.Cut(k, ".")
		for line := range strings.SplitSeq(strings.TrimRight(u[k], "\n"), "\n") {
			out = append(out, Setting{Field: fmt.Sprintf("%s[%q]", fUnified, k), Controller: ctrl, File: k, Value: line})
		}
	}
	return out
}

// checkUnifiedConflicts refuses a unified key that sets a file another
// field already sets to a different value: runc lets unified win, which
// silently drops the other field.
func checkUnifiedConflicts(fields, unified []Setting) error {
	once := map[string]Setting{}
	count := map[string]int{}
	for _, s := range fields {
		if s.Ignore != "" {
			continue
		}
		once[s.File] = s
		count[s.File]++
	}
	for _, u := range unified {
		s, ok := once[u.File]
		if !ok || count[u.File] != 1 {
			continue
		}
		if strings.TrimSpace(s.Value) != strings.TrimSpace(u.Value) {
			return invalidf(u.Field, "sets %s to %q but %s sets it to %q; set it in one place", u.File, u.Value, s.Field, s.Value)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
