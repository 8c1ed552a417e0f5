package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const fMemory = "linux.resources.memory"

// checkBytes accepts -1 (unlimited) and, when zeroOK, 0.
func checkBytes(field string, v *int64, zeroOK bool) error {
	switch {
	case v == nil || *v == -1 || *v > 0:
		return nil
	case *v == 0 && zeroOK:
		return nil
	case *v == 0:
		return invalidf(field, "0 leaves no memory at all; use -1 for unlimited, or omit the field")
	}
	return invalidf(field, "%d is negative (only -1, meaning unlimited, is allowed)", *v)
}

func validateMemory(m *specs.LinuxMemory) error {
	if m == nil {
		return nil
	}
	if err := checkBytes(fMemory+".limit", m.Limit, false); err != nil {
		return err
	}
	if err := checkBytes(fMemory+".reservation", m.Reservation, true); err != nil {
		return err
	}
	if err := checkBytes(fMemory+".kernel", m.Kernel, false); err != nil { //nolint:staticcheck // deprecated but still in the spec
		return err
	}
	if err := checkBytes(fMemory+".kernelTCP", m.KernelTCP, false); err != nil {
		return err
	}
	if s := m.Swap; s != nil {
		if err := checkBytes(fMemory+".swap", s, false); err != nil {
			return err
		}
		if *s != -1 {
			if m.Limit == nil {
				return invalidf(fMemory+".swap", "%d needs linux.resources.memory.limit in the same config (swap is the memory+swap total)", *s)
			}
			if *m.Limit > 0 && *s < *m.Limit {
				return invalidf(fMemory+".swap", "%d is below memory.limit %d (swap is the memory+swap total; set it equal to limit for no swap)", *s, *m.Limit)
			}
		}
	}
	if m.Swappiness != nil && *m.Swappiness > 100 {
		return invalidf(fMemory+".swappiness", "%d is above the maximum of 100", *m.Swappiness)
	}
	return nil
}

// memoryV1 renders the memory controller's v1 files. Limit and memsw are
// marked Retry: v1 insists on limit <= memsw at every moment, so raising
// both must write memsw first and lowering both must write limit first; the
// writer finds the order by retrying the one the kernel refused.
func memoryV1(m *specs.LinuxMemory) ([]Setting, error) {
	if m == nil {
		return nil, nil
	}
	var out []Setting
	add := func(field, file, value string) *Setting {
		out = append(out, Setting{Field: fMemory + "." + field, Controller: "memory", File: file, Value: value})
		return &out[len(out)-1]
	}
	if m.Limit != nil {
		add("limit", "memory.limit_in_bytes", itoa(*m.Limit)).Retry = true
	}
	switch {
	case m.Swap != nil:
		if m.Limit != nil && *m.Limit == -1 && *m.Swap != -1 {
			return nil, unsupportedf(fMemory+".swap", "a finite memory+swap total %d with an unlimited memory limit cannot be expressed in cgroup v1", *m.Swap)
		}
		add("swap", "memory.memsw.limit_in_bytes", itoa(*m.Swap)).Retry = true
	case m.Limit != nil && *m.Limit == -1:
		// runc: "unlimited memory" means unlimited memory+swap too, when
		// the kernel accounts swap at all.
		s := add("limit", "memory.memsw.limit_in_bytes", "-1")
		s.Retry, s.Optional = true, true
	}
	if m.Reservation != nil {
		add("reservation", "memory.soft_limit_in_bytes", itoa(*m.Reservation))
	}
	// The kernel memory limits are deprecated. runc 1.4 ignores both on v1
	// and v2 with one warning; here they are written and read back, so a
	// kernel that still honours them gets them (memory.kmem.tcp.* still
	// works on Linux 6.x), and where the kernel has no file or ignores the
	// value (every memory.kmem.limit_in_bytes since Linux 6.1 keeps
	// "unlimited") the field is accepted with a warning.
	if m.Kernel != nil { //nolint:staticcheck // deprecated but still in the spec
		s := add("kernel", "memory.kmem.limit_in_bytes", itoa(*m.Kernel)) //nolint:staticcheck
		s.Verify, s.Deprecated = true, true
	}
	if m.KernelTCP != nil {
		s := add("kernelTCP", "memory.kmem.tcp.limit_in_bytes", itoa(*m.KernelTCP))
		s.Verify, s.Deprecated = true, true
	}
	if m.Swappiness != nil {
		add("swappiness", "memory.swappiness", utoa(*m.Swappiness))
	}
	if m.DisableOOMKiller != nil {
		add("disableOOMKiller", "memory.oom_control", btoa(*m.DisableOOMKiller))
	}
	if m.UseHierarchy != nil {
		add("useHierarchy", "memory.use_hierarchy", btoa(*m.UseHierarchy))
	}
	// checkBeforeUpdate writes nothing: Manager.Update compares the new
	// limit with the current usage before writing.
	return out, nil
}

// memoryV2 renders the memory controller's v2 files. The v1-only knobs are
// refused instead of dropped as runc does, except the deprecated kernel
// memory limits, which runc and crun accept with a warning: so does this.
func memoryV2(m *specs.LinuxMemory) ([]Setting, error) {
	if m == nil {
		return nil, nil
	}
	var out []Setting
	if m.Kernel != nil { //nolint:staticcheck // deprecated but still in the spec
		out = append(out, Setting{Field: fMemory + ".kernel", Value: itoa(*m.Kernel), //nolint:staticcheck
			Ignore: "cgroup v2 has no kernel memory limit; kernel memory is charged to memory.max (a deprecated field, which runc and crun ignore too)"})
	}
	if m.KernelTCP != nil {
		out = append(out, Setting{Field: fMemory + ".kernelTCP", Value: itoa(*m.KernelTCP),
			Ignore: "cgroup v2 has no separate TCP buffer limit; socket memory is charged to memory.max (a deprecated field, which runc and crun ignore too)"})
	}
	if m.Swappiness != nil {
		return nil, unsupportedf(fMemory+".swappiness", "cgroup v2 has no per-cgroup swappiness; limit swap with memory.swap.max (linux.resources.memory.swap)")
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		return nil, unsupportedf(fMemory+".disableOOMKiller", "cgroup v2 cannot disable the OOM killer (memory.oom.group, via linux.resources.unified, only decides whether the whole cgroup is killed)")
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy {
		return nil, unsupportedf(fMemory+".useHierarchy", "cgroup v2 is always hierarchical")
	}
	// Swap first, as runc does: memory.swap.max does not depend on
	// memory.max in v2, and this keeps the order the same as runc's.
	switch {
	case m.Swap != nil:
		limit := int64(-1)
		if m.Limit != nil {
			limit = *m.Limit
		}
		v, err := MemorySwapToV2(*m.Swap, limit)
		if err != nil {
			return nil, invalid(fMemory+".swap", err)
		}
		// "max" and "0" already hold on a kernel without swap.
		out = append(out, Setting{Field: fMemory + ".swap", Controller: "memory", File: "memory.swap.max", Value: maxOr(v), Optional: v <= 0})
	case m.Limit != nil && *m.Limit == -1:
		out = append(out, Setting{Field: fMemory + ".limit", Controller: "memory", File: "memory.swap.max", Value: "max", Optional: true})
	}
	if m.Limit != nil {
		out = append(out, Setting{Field: fMemory + ".limit", Controller: "memory", File: "memory.max", Value: maxOr(*m.Limit)})
	}
	if m.Reservation != nil {
		out = append(out, Setting{Field: fMemory + ".reservation", Controller: "memory", File: "memory.low", Value: maxOr(*m.Reservation)})
	}
	return out, nil
}
