package cgroups

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is a snapshot of the container's usage, shaped like the "stats"
// event of runc events (same JSON names), plus the OOM kill count.
type Stats struct {
	CPU    CPUStats    `json:"cpu"`
	Memory MemoryStats `json:"memory"`
	Pids   PidsStats   `json:"pids"`
	// OOMKills counts processes the OOM killer killed in this cgroup
	// (memory.events oom_kill on v2, memory.oom_control oom_kill on v1).
	OOMKills uint64 `json:"oomKills"`
}

// CPUStats is CPU time used and CFS throttling. Times are nanoseconds.
type CPUStats struct {
	Usage      CPUUsage   `json:"usage"`
	Throttling Throttling `json:"throttling"`
}

// CPUUsage is CPU time in nanoseconds; Percpu only on v1 (cpuacct).
type CPUUsage struct {
	Total  uint64   `json:"total,omitempty"`
	Percpu []uint64 `json:"percpu,omitempty"`
	Kernel uint64   `json:"kernel"`
	User   uint64   `json:"user"`
}

// Throttling counts CFS periods and how often and how long the quota
// stopped the cgroup.
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// MemoryStats is memory use in bytes. A limit of math.MaxUint64 means none.
type MemoryStats struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage"`
	Swap      MemoryEntry       `json:"swap"`
	Kernel    MemoryEntry       `json:"kernel"`
	KernelTCP MemoryEntry       `json:"kernelTCP"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

// MemoryEntry is one counter with its limit, peak and failure count.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// PidsStats is the number of tasks and the limit (0 when unlimited).
type PidsStats struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// statReader reads numeric cgroup files, remembering the first real error;
// a missing file (controller not mounted or not enabled) reads as 0.
type statReader struct {
	dir string
	err error
}

func (r *statReader) uint(file string) uint64 {
	v, _ := r.str(file)
	return parseStatUint(v)
}

func (r *statReader) str(file string) (string, bool) {
	if r.dir == "" {
		return "", false
	}
	data, err := os.ReadFile(filepath.Join(r.dir, file))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && r.err == nil {
			r.err = err
		}
		return "", false
	}
	return strings.TrimSpace(string(data)), true
}

// keyed parses "key value" lines (cpu.stat, memory.stat, memory.events).
func (r *statReader) keyed(file string) map[string]uint64 {
	v, ok := r.str(file)
	if !ok {
		return nil
	}
	out := map[string]uint64{}
	for line := range strings.SplitSeq(v, "\n") {
		if k, val, ok := strings.Cut(line, " "); ok {
			out[k] = parseStatUint(val)
		}
	}
	return out
}

func parseStatUint(s string) uint64 {
	if s == "max" {
		return math.MaxUint64
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// v1 reports some counters as negative numbers when reset.
		if i, err := strconv.ParseInt(s, 10, 64); err == nil && i < 0 {
			return 0
		}
	}
	return v
}

// Stats reads the container's current usage and limits.
func (m *Manager) Stats() (*Stats, error) {
	st := &Stats{}
	if m.h.mode == Unified {
		r := &statReader{dir: m.dir(m.h.hier[0])}
		statsV2(r, st)
		return st, r.err
	}
	dirOf := func(c string) string {
		if x, ok := m.h.controllerHier(c); ok {
			return m.dir(x)
		}
		return ""
	}
	readers := []*statReader{{dir: dirOf("cpuacct")}, {dir: dirOf("cpu")}, {dir: dirOf("memory")}, {dir: dirOf("pids")}}
	statsV1(readers[0], readers[1], readers[2], readers[3], st)
	for _, r := range readers {
		if r.err != nil {
			return st, r.err
		}
	}
	return st, nil
}

func statsV1(acct, cpu, mem, pids *statReader, st *Stats) {
	const nsPerTick = 1e9 / 100 // cpuacct.stat counts USER_HZ (100) ticks
	st.CPU.Usage.Total = acct.uint("cpuacct.usage")
	if v, ok := acct.str("cpuacct.usage_percpu"); ok {
		for f := range strings.FieldsSeq(v) {
			st.CPU.Usage.Percpu = append(st.CPU.Usage.Percpu, parseStatUint(f))
		}
	}
	if s := acct.keyed("cpuacct.stat"); s != nil {
		st.CPU.Usage.User = s["user"] * nsPerTick
		st.CPU.Usage.Kernel = s["system"] * nsPerTick
	}
	if s := cpu.keyed("cpu.stat"); s != nil {
		st.CPU.Throttling = Throttling{Periods: s["nr_periods"], ThrottledPeriods: s["nr_throttled"], ThrottledTime: s["throttled_time"]}
	}
	entry := func(prefix string) MemoryEntry {
		return MemoryEntry{
			Usage: mem.uint(prefix + "usage_in_bytes"), Max: mem.uint(prefix + "max_usage_in_bytes"),
			Limit: mem.uint(prefix + "limit_in_bytes"), Failcnt: mem.uint(prefix + "failcnt"),
		}
	}
	st.Memory.Usage = entry("memory.")
	st.Memory.Swap = entry("memory.memsw.")
	st.Memory.Kernel = entry("memory.kmem.")
	st.Memory.KernelTCP = entry("memory.kmem.tcp.")
	st.Memory.Raw = mem.keyed("memory.stat")
	st.Memory.Cache = st.Memory.Raw["cache"]
	st.OOMKills = mem.keyed("memory.oom_control")["oom_kill"]
	st.Pids = PidsStats{Current: pids.uint("pids.current"), Limit: pidsLimit(pids)}
}

func statsV2(r *statReader, st *Stats) {
	const nsPerUsec = 1000
	if s := r.keyed("cpu.stat"); s != nil {
		st.CPU.Usage = CPUUsage{Total: s["usage_usec"] * nsPerUsec, User: s["user_usec"] * nsPerUsec, Kernel: s["system_usec"] * nsPerUsec}
		st.CPU.Throttling = Throttling{Periods: s["nr_periods"], ThrottledPeriods: s["nr_throttled"], ThrottledTime: s["throttled_usec"] * nsPerUsec}
	}
	events := r.keyed("memory.events")
	st.Memory.Usage = MemoryEntry{Usage: r.uint("memory.current"), Max: r.uint("memory.peak"), Limit: r.uint("memory.max"), Failcnt: events["max"]}
	st.Memory.Swap = MemoryEntry{Usage: r.uint("memory.swap.current"), Max: r.uint("memory.swap.peak"), Limit: r.uint("memory.swap.max")}
	st.Memory.Raw = r.keyed("memory.stat")
	st.Memory.Cache = st.Memory.Raw["file"]
	st.OOMKills = events["oom_kill"]
	st.Pids = PidsStats{Current: r.uint("pids.current"), Limit: pidsLimit(r)}
}

func pidsLimit(r *statReader) uint64 {
	if v, _ := r.str("pids.max"); v != "max" {
		return parseStatUint(v)
	}
	return 0
}
