package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const fCPU = "linux.resources.cpu"

// Kernel limits for CFS bandwidth (kernel/sched/core.c): a period between
// 1 ms and 1 s, a quota of at least 1 ms.
const (
	minCFSPeriod = 1000
	maxCFSPeriod = 1000000
	minCFSQuota  = 1000
	minShares    = 2
	maxShares    = 262144
)

func validateCPU(c *specs.LinuxCPU) error {
	if c == nil {
		return nil
	}
	if s := c.Shares; s != nil {
		if *s < minShares {
			return invalidf(fCPU+".shares", "%d is below the minimum of %d", *s, minShares)
		}
		if *s > maxShares {
			return invalidf(fCPU+".shares", "%d is above the maximum of %d", *s, maxShares)
		}
	}
	if q := c.Quota; q != nil && *q != -1 {
		if *q < 0 {
			return invalidf(fCPU+".quota", "%d is negative (only -1, meaning no limit, is allowed)", *q)
		}
		if *q < minCFSQuota {
			return invalidf(fCPU+".quota", "%d is below the minimum of %d", *q, minCFSQuota)
		}
	}
	if p := c.Period; p != nil {
		if *p < minCFSPeriod {
			return invalidf(fCPU+".period", "%d is below the minimum of %d", *p, minCFSPeriod)
		}
		if *p > maxCFSPeriod {
			return invalidf(fCPU+".period", "%d is above the maximum of %d", *p, maxCFSPeriod)
		}
	}
	if b := c.Burst; b != nil && c.Quota != nil && *c.Quota > 0 && int64(*b) > *c.Quota {
		return invalidf(fCPU+".burst", "%d is above the quota %d (the kernel allows a burst of at most one quota)", *b, *c.Quota)
	}
	if i := c.Idle; i != nil && *i != 0 && *i != 1 {
		return invalidf(fCPU+".idle", "%d is neither 0 nor 1", *i)
	}
	if r := c.RealtimeRuntime; r != nil && *r < -1 {
		return invalidf(fCPU+".realtimeRuntime", "%d is negative (only -1, meaning no limit, is allowed)", *r)
	}
	if p := c.RealtimePeriod; p != nil && *p == 0 {
		return invalidf(fCPU+".realtimePeriod", "0 is below the minimum of 1")
	}
	if r, p := c.RealtimeRuntime, c.RealtimePeriod; r != nil && p != nil && *r > 0 && uint64(*r) > *p {
		return invalidf(fCPU+".realtimeRuntime", "%d is above realtimePeriod %d", *r, *p)
	}
	if c.Cpus != "" {
		if _, err := parseList(c.Cpus); err != nil {
			return invalid(fCPU+".cpus", err)
		}
	}
	if c.Mems != "" {
		if _, err := parseList(c.Mems); err != nil {
			return invalid(fCPU+".mems", err)
		}
	}
	return nil
}

// cpuV1 renders the cpu controller's v1 files. Period, quota and burst are
// marked Retry because the kernel checks burst <= quota at each write.
// Realtime period is written before runtime, as runc does.
func cpuV1(c *specs.LinuxCPU) []Setting {
	if c == nil {
		return nil
	}
	var out []Setting
	add := func(field, file, value string, retry bool) {
		out = append(out, Setting{Field: fCPU + "." + field, Controller: "cpu", File: file, Value: value, Retry: retry})
	}
	if c.Shares != nil {
		add("shares", "cpu.shares", utoa(*c.Shares), false)
	}
	if c.Period != nil {
		add("period", "cpu.cfs_period_us", utoa(*c.Period), true)
	}
	if c.Quota != nil {
		add("quota", "cpu.cfs_quota_us", itoa(*c.Quota), true)
	}
	if c.Burst != nil {
		add("burst", "cpu.cfs_burst_us", utoa(*c.Burst), true)
	}
	if c.RealtimePeriod != nil {
		add("realtimePeriod", "cpu.rt_period_us", utoa(*c.RealtimePeriod), true)
	}
	if c.RealtimeRuntime != nil {
		add("realtimeRuntime", "cpu.rt_runtime_us", itoa(*c.RealtimeRuntime), true)
	}
	if c.Idle != nil {
		add("idle", "cpu.idle", itoa(*c.Idle), false)
	}
	return append(out, cpusetSettings(c)...)
}

// cpuV2 renders the cpu controller's v2 files: shares become cpu.weight,
// quota and period share cpu.max ("$QUOTA $PERIOD", "max" for no limit).
// Writing the quota alone leaves the period as it is. Realtime bandwidth has
// no v2 interface and is refused.
func cpuV2(c *specs.LinuxCPU) ([]Setting, error) {
	if c == nil {
		return nil, nil
	}
	if c.RealtimeRuntime != nil {
		return nil, unsupportedf(fCPU+".realtimeRuntime", "cgroup v2 has no realtime CPU bandwidth control (realtime tasks must stay in the root cgroup when the cpu controller is enabled)")
	}
	if c.RealtimePeriod != nil {
		return nil, unsupportedf(fCPU+".realtimePeriod", "cgroup v2 has no realtime CPU bandwidth control (realtime tasks must stay in the root cgroup when the cpu controller is enabled)")
	}
	var out []Setting
	if c.Shares != nil {
		out = append(out, Setting{Field: fCPU + ".shares", Controller: "cpu", File: "cpu.weight", Value: utoa(CPUSharesToWeight(*c.Shares))})
	}
	if c.Burst != nil {
		out = append(out, Setting{Field: fCPU + ".burst", Controller: "cpu", File: "cpu.max.burst", Value: utoa(*c.Burst), Retry: true})
	}
	switch {
	case c.Quota != nil && c.Period != nil:
		out = append(out, Setting{Field: fCPU + ".quota", Controller: "cpu", File: "cpu.max", Value: maxOr(*c.Quota) + " " + utoa(*c.Period), Retry: true})
	case c.Quota != nil:
		out = append(out, Setting{Field: fCPU + ".quota", Controller: "cpu", File: "cpu.max", Value: maxOr(*c.Quota), Retry: true})
	case c.Period != nil:
		// cpu.max cannot take a period alone. New starts from "max", and
		// Manager.Update first fills in the current quota.
		out = append(out, Setting{Field: fCPU + ".period", Controller: "cpu", File: "cpu.max", Value: "max " + utoa(*c.Period), Retry: true})
	}
	if c.Idle != nil {
		out = append(out, Setting{Field: fCPU + ".idle", Controller: "cpu", File: "cpu.idle", Value: itoa(*c.Idle)})
	}
	return append(out, cpusetSettings(c)...), nil
}
