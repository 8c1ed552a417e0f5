package cgroups

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// unitProperty is one property of a systemd unit, as the D-Bus API takes it
// and as a person would type it.
type unitProperty struct {
	// Name is the D-Bus property: "MemoryMax", "CPUQuotaPerSecUSec".
	Name string
	// Value is its D-Bus value: uint64, bool, string, []byte, []uint32,
	// or a dbus.Variant already parsed (org.systemd.property. annotations).
	Value any
	// Text is the assignment for `systemctl set-property` and
	// `systemd-run -p`: "MemoryMax=67108864", "CPUQuota=50%".
	Text string
}

// infinity is systemd's USEC_INFINITY and CGROUP_LIMIT_MAX: no limit.
const infinity = math.MaxUint64

// defaultCFSPeriod is the kernel's CFS period when none is set, 100 ms.
const defaultCFSPeriod = 100000

// systemd versions that added the properties runc also guards.
const (
	sdCPUQuotaPeriod = 242 // CPUQuotaPeriodUSec
	sdAllowedCPUs    = 244 // AllowedCPUs, AllowedMemoryNodes
	sdCPUIdle        = 252 // CPUWeight=0 means cpu.idle=1
)

// unitResources renders the settings the cgroupfs code writes as the unit
// properties systemd has for them, so that systemd, which owns the unit's
// cgroup attributes and rewrites them from the unit on `systemctl
// daemon-reload` or when a sibling unit starts, writes the same values.
// It follows runc's systemd driver:
//
//	v2 memory.max/low/high/min/swap.max  MemoryMax/Low/High/Min/SwapMax
//	v2 cpu.weight, cpu.idle=1            CPUWeight (0 for idle, systemd >= 252)
//	cpu.max, v1 cfs quota and period     CPUQuotaPerSecUSec, CPUQuotaPeriodUSec (>= 242)
//	pids.max                             TasksMax (0 becomes 1: systemd refuses 0)
//	cpuset.cpus, cpuset.mems             AllowedCPUs, AllowedMemoryNodes (>= 244)
//	v1 memory.limit_in_bytes, cpu.shares, blkio.weight  MemoryLimit, CPUShares, BlockIOWeight
//
// and adds IOWeight for the v2 io weight. Everything else (devices, io.max,
// hugetlb, rdma, other unified keys) is written to the cgroup files only,
// which systemd leaves alone.
//
// systemd keeps a CPU quota in whole percents of a CPU when it writes the
// transient unit file it reloads from, so a quota that is not a multiple
// of 10 ms per second is rounded up to one, in the returned settings too,
// so that the file and the unit agree (runc does the same). period is the
// CFS period in force when the settings give none (0: the default).
func unitResources(settings []Setting, version int, period uint64) ([]unitProperty, []Setting, error) {
	out := slices.Clone(settings)
	var props []unitProperty
	add := func(name string, v any, text string) {
		props = append(props, unitProperty{Name: name, Value: v, Text: propertyText(name, text)})
	}
	limit := func(name, v string) error {
		if v == "max" || v == "-1" {
			add(name, uint64(infinity), "infinity")
			return nil
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%s %q is not a number", name, v)
		}
		add(name, n, strconv.FormatUint(n, 10))
		return nil
	}
	if period == 0 {
		period = defaultCFSPeriod
	}
	idle := false
	v1quota, v1period := -1, -1 // indexes in out
	for i, s := range out {
		if s.Ignore != "" {
			continue
		}
		var err error
		switch s.File {
		case "memory.max":
			err = limit("MemoryMax", s.Value)
		case "memory.low":
			err = limit("MemoryLow", s.Value)
		case "memory.high":
			err = limit("MemoryHigh", s.Value)
		case "memory.min":
			err = limit("MemoryMin", s.Value)
		case "memory.swap.max":
			err = limit("MemorySwapMax", s.Value)
		case "memory.limit_in_bytes":
			err = limit("MemoryLimit", s.Value)
		case "pids.max":
			if strings.TrimSpace(s.Value) == "0" {
				add("TasksMax", uint64(1), "1")
				continue
			}
			err = limit("TasksMax", s.Value)
		case "cpu.weight":
			err = limit("CPUWeight", s.Value)
		case "cpu.shares":
			err = limit("CPUShares", s.Value)
		case "blkio.weight":
			err = limit("BlockIOWeight", s.Value)
		case "io.weight", "io.bfq.weight":
			// The config's weight, rendered for io.bfq.weight first
			// with io.weight as the alternative: systemd's IOWeight is
			// the io.weight scale, and systemd converts it for BFQ.
			w := s
			if s.File == "io.bfq.weight" {
				if s.Alt == nil {
					continue
				}
				w = *s.Alt
			}
			// Per-device weights ("8:0 200") have no unit property.
			if v := strings.TrimPrefix(strings.TrimSpace(w.Value), "default "); !strings.Contains(v, " ") {
				err = limit("IOWeight", v)
			}
		case "cpu.idle":
			if strings.TrimSpace(s.Value) == "1" && version >= sdCPUIdle {
				idle = true
				add("CPUWeight", uint64(0), "idle")
			}
		case "cpu.max":
			q, p, hasPeriod, perr := parseCPUMax(s.Value)
			if perr != nil {
				return nil, nil, &FieldError{Field: s.Field, Err: perr}
			}
			if !hasPeriod {
				p = period
			}
			perSec, rounded, qerr := quotaPerSec(q, p)
			if qerr != nil {
				return nil, nil, &FieldError{Field: s.Field, Err: qerr}
			}
			if hasPeriod {
				addPeriod(add, p, version)
			}
			addQuota(add, perSec)
			if rounded >= 0 && rounded != q {
				out[i].Value = strconv.FormatInt(rounded, 10)
				if hasPeriod {
					out[i].Value += " " + strconv.FormatUint(p, 10)
				}
			}
		case "cpu.cfs_quota_us":
			v1quota = i
		case "cpu.cfs_period_us":
			v1period = i
		case "cpuset.cpus", "cpuset.mems":
			if version < sdAllowedCPUs {
				continue // written to the file only, as runc does
			}
			name := "AllowedCPUs"
			if s.File == "cpuset.mems" {
				name = "AllowedMemoryNodes"
			}
			mask, merr := cpuMask(s.Value)
			if merr != nil {
				return nil, nil, &FieldError{Field: s.Field, Err: merr}
			}
			add(name, mask, strings.TrimSpace(s.Value))
		}
		if err != nil {
			return nil, nil, &FieldError{Field: s.Field, Err: err}
		}
	}
	if v1quota >= 0 || v1period >= 0 {
		p := period
		if v1period >= 0 {
			n, err := strconv.ParseUint(out[v1period].Value, 10, 64)
			if err != nil {
				return nil, nil, &FieldError{Field: out[v1period].Field, Err: err}
			}
			p = n
			addPeriod(add, p, version)
		}
		if v1quota >= 0 {
			q, err := strconv.ParseInt(out[v1quota].Value, 10, 64)
			if err != nil {
				return nil, nil, &FieldError{Field: out[v1quota].Field, Err: err}
			}
			perSec, rounded, err := quotaPerSec(q, p)
			if err != nil {
				return nil, nil, &FieldError{Field: out[v1quota].Field, Err: err}
			}
			addQuota(add, perSec)
			if rounded >= 0 {
				out[v1quota].Value = strconv.FormatInt(rounded, 10)
			}
		}
	}
	if idle {
		// cpu.idle wins over cpu.weight, as in runc: both are CPUWeight.
		props = slices.DeleteFunc(props, func(p unitProperty) bool {
			return p.Name == "CPUWeight" && p.Value != uint64(0)
		})
	}
	return props, out, nil
}

// propertyText is an assignment as systemctl spells it: the D-Bus
// CPUQuotaPerSecUSec is CPUQuota there, in percent.
func propertyText(name, value string) string {
	switch name {
	case "CPUQuotaPerSecUSec":
		name = "CPUQuota"
	case "CPUQuotaPeriodUSec":
		name = "CPUQuotaPeriodSec"
	}
	return name + "=" + value
}

func addPeriod(add func(string, any, string), p uint64, version int) {
	if version >= sdCPUQuotaPeriod {
		add("CPUQuotaPeriodUSec", p, strconv.FormatUint(p, 10)+"us")
	}
}

// addQuota adds CPUQuotaPerSecUSec, which systemctl calls CPUQuota, in
// percent of one CPU ("CPUQuota=" for none).
func addQuota(add func(string, any, string), perSec uint64) {
	if perSec == infinity {
		// systemctl's empty assignment "CPUQuota=" means no quota.
		add("CPUQuotaPerSecUSec", perSec, "")
		return
	}
	add("CPUQuotaPerSecUSec", perSec, strconv.FormatUint(perSec/10000, 10)+"%")
}

// quotaPerSec converts a CFS quota per period (-1: none) into systemd's
// microseconds of CPU time per second, rounded up to a whole percent
// (10000 us/s), and returns the quota that corresponds to the rounded value
// (-1 when there is no quota).
func quotaPerSec(quota int64, period uint64) (perSec uint64, rounded int64, err error) {
	if quota < 0 {
		return infinity, -1, nil
	}
	if period == 0 {
		period = defaultCFSPeriod
	}
	hi, lo := bits.Mul64(uint64(quota), 1000000)
	if hi >= period {
		return 0, 0, fmt.Errorf("quota %d per period %d is too large for systemd's CPUQuotaPerSecUSec", quota, period)
	}
	perSec, _ = bits.Div64(hi, lo, period)
	if perSec%10000 != 0 {
		perSec = (perSec/10000 + 1) * 10000
	}
	hi, lo = bits.Mul64(perSec, period)
	r, _ := bits.Div64(hi, lo, 1000000)
	if r > math.MaxInt64 {
		return 0, 0, fmt.Errorf("quota %d per period %d is too large for systemd's CPUQuotaPerSecUSec", quota, period)
	}
	// Rounding up a quota the kernel accepted keeps it acceptable.
	return perSec, int64(r), nil
}

// parseCPUMax reads v2's cpu.max value: "$QUOTA [$PERIOD]", quota "max"
// (-1) for none.
func parseCPUMax(v string) (quota int64, period uint64, hasPeriod bool, err error) {
	f := strings.Fields(v)
	if len(f) < 1 || len(f) > 2 {
		return 0, 0, false, fmt.Errorf("cpu.max %q is not \"QUOTA [PERIOD]\"", v)
	}
	quota = -1
	if f[0] != "max" {
		if quota, err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return 0, 0, false, fmt.Errorf("cpu.max %q: bad quota", v)
		}
	}
	if len(f) == 2 {
		if period, err = strconv.ParseUint(f[1], 10, 64); err != nil || period == 0 {
			return 0, 0, false, fmt.Errorf("cpu.max %q: bad period", v)
		}
		hasPeriod = true
	}
	return quota, period, hasPeriod, nil
}

// cpuMask turns a CPU or node list ("0-2,4") into the bit mask systemd's
// AllowedCPUs and AllowedMemoryNodes take over D-Bus: byte i holds CPUs
// 8i to 8i+7, lowest bit first ("0-2,4" is [0x17]).
func cpuMask(list string) ([]byte, error) {
	set, err := parseList(list)
	if err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("%q lists no CPU or node", list)
	}
	top := 0
	for c := range set {
		top = max(top, c)
	}
	mask := make([]byte, top/8+1)
	for c := range set {
		mask[c/8] |= 1 << (c % 8)
	}
	return mask, nil
}
