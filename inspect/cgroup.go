package inspect

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups"
)

// A Reading is one value as a cgroup file holds it.
type Reading struct {
	// Value is the number in the unit the field's name gives (bytes,
	// microseconds...); 0 when Unlimited or when the file holds a list.
	Value uint64 `json:"value"`
	// Unlimited: "max" on v2, -1 or the page counter's maximum on v1.
	Unlimited bool   `json:"unlimited,omitempty"`
	Raw       string `json:"raw"`
	File      string `json:"file"`
}

// Counters are the "key value" lines of a file such as memory.events.
type Counters struct {
	Values map[string]uint64 `json:"values"`
	File   string            `json:"file"`
}

// A Line is one line of a file that lists settings or usage per device.
type Line struct {
	Text string `json:"text"`
	File string `json:"file"`
}

// Cgroup is the container's cgroup: where it is and every limit in force
// with the usage it bounds.
type Cgroup struct {
	// Driver is "cgroupfs" or "systemd" (then Unit owns the cgroup).
	Driver string `json:"driver"`
	Unit   string `json:"unit,omitempty"`
	// Path is the runtime's record (state.json cgroupPath).
	Path string `json:"path"`
	// Version is "v2" on a unified host, "v1" otherwise (hybrid and
	// legacy hosts put the limits in v1 hierarchies); Mode says which.
	Version string `json:"version"`
	Mode    string `json:"mode"`
	// ProcCgroup is /proc/<pid>/cgroup: where the kernel says the init is.
	ProcCgroup     []string `json:"procCgroup"`
	ProcCgroupFile string   `json:"procCgroupFile"`
	Dirs           []string `json:"dirs"`
	// Controllers are the ones the cgroup has (v2: cgroup.controllers,
	// what its parent enabled for it; v1: the hierarchies it is in).
	Controllers     []string `json:"controllers"`
	ControllersFile string   `json:"controllersFile,omitempty"`

	Memory   *Memory    `json:"memory,omitempty"`
	CPU      *CPU       `json:"cpu,omitempty"`
	Pids     *Pids      `json:"pids,omitempty"`
	IO       *IO        `json:"io,omitempty"`
	Cpuset   *Cpuset    `json:"cpuset,omitempty"`
	Pressure []Pressure `json:"pressure,omitempty"`
}

// Memory limits and usage, in bytes. v2 has high, low, min and swap of its
// own; v1 has a soft limit and counts memory+swap together (memsw).
type Memory struct {
	Current      *Reading  `json:"current,omitempty"`
	Max          *Reading  `json:"max,omitempty"`
	High         *Reading  `json:"high,omitempty"`
	Low          *Reading  `json:"low,omitempty"`
	Min          *Reading  `json:"min,omitempty"`
	SoftLimit    *Reading  `json:"softLimit,omitempty"`
	Peak         *Reading  `json:"peak,omitempty"`
	SwapCurrent  *Reading  `json:"swapCurrent,omitempty"`
	SwapMax      *Reading  `json:"swapMax,omitempty"`
	MemswCurrent *Reading  `json:"memswCurrent,omitempty"`
	MemswMax     *Reading  `json:"memswMax,omitempty"`
	Failcnt      *Reading  `json:"failcnt,omitempty"`
	OOMKills     uint64    `json:"oomKills"`
	Events       *Counters `json:"events,omitempty"` // memory.events (v2), memory.oom_control (v1)
}

// CPU weight, quota and usage. Quota and period are microseconds, usage
// and throttled time nanoseconds.
type CPU struct {
	Weight         *Reading  `json:"weight,omitempty"` // v2
	Shares         *Reading  `json:"shares,omitempty"` // v1
	Quota          *Reading  `json:"quotaMicros,omitempty"`
	Period         *Reading  `json:"periodMicros,omitempty"`
	Usage          *Reading  `json:"usageNanos,omitempty"`
	Periods        uint64    `json:"periods"`
	Throttled      uint64    `json:"throttledPeriods"`
	ThrottledNanos uint64    `json:"throttledNanos"`
	Stat           *Counters `json:"stat,omitempty"`
}

// Pids is the number of tasks and its limit.
type Pids struct {
	Current *Reading  `json:"current,omitempty"`
	Max     *Reading  `json:"max,omitempty"`
	Events  *Counters `json:"events,omitempty"`
}

// IO is the block I/O weight, per-device limits and per-device usage.
type IO struct {
	Weight *Reading `json:"weight,omitempty"`
	Limits []Line   `json:"limits,omitempty"`
	Usage  []Line   `json:"usage,omitempty"`
}

// Cpuset is the CPUs and memory nodes the container may use.
type Cpuset struct {
	Cpus          *Reading `json:"cpus,omitempty"`
	Mems          *Reading `json:"mems,omitempty"`
	EffectiveCpus *Reading `json:"effectiveCpus,omitempty"`
	EffectiveMems *Reading `json:"effectiveMems,omitempty"`
}

// Pressure is one PSI file: the share of time some (or all) tasks stalled
// on the resource, averaged over 10, 60 and 300 seconds.
type Pressure struct {
	Resource string `json:"resource"`
	Some     string `json:"some"`
	Full     string `json:"full,omitempty"`
	File     string `json:"file"`
}

// dirs maps controllers to the container's directory that holds them.
type cgDirs struct {
	v2      bool
	byCtrl  map[string]string
	unified string // the cgroup2 directory (the only one on v2)
}

func (d cgDirs) of(ctrl string) string {
	if d.v2 {
		return d.unified
	}
	return d.byCtrl[ctrl]
}

// locate finds the container's cgroup directories through the cgroups
// package, which knows the host's layout.
func locate(path string) (cgroups.Mode, []string, cgDirs, error) {
	m, err := cgroups.Load(path, cgroups.Options{})
	if err != nil {
		return "", nil, cgDirs{}, err
	}
	d := cgDirs{v2: m.Mode() == cgroups.Unified, byCtrl: map[string]string{}}
	dirs := m.Dirs()
	for _, dir := range dirs {
		rel, err := filepath.Rel(cgroups.DefaultMountpoint, dir)
		if err != nil {
			continue
		}
		hier, _, _ := strings.Cut(rel, "/")
		switch {
		case d.v2:
			d.unified = dir
		case hier == "unified":
			d.unified = dir
		default:
			for c := range strings.SplitSeq(hier, ",") {
				d.byCtrl[c] = dir
			}
		}
	}
	return m.Mode(), dirs, d, nil
}

func (p *prober) cgroup() {
	t := p.t
	cg := &Cgroup{Driver: "cgroupfs", Unit: t.SystemdUnit, Path: t.CgroupPath, ProcCgroupFile: p.proc + "/cgroup"}
	if t.SystemdUnit != "" {
		cg.Driver = "systemd"
	}
	if data, err := readTrim(cg.ProcCgroupFile); err == nil {
		cg.ProcCgroup = strings.Split(data, "\n")
	} else {
		p.problem("%s: %v", cg.ProcCgroupFile, err)
	}
	if t.CgroupPath == "" {
		p.problem("state.json records no cgroup path")
		p.a.Cgroup = cg
		return
	}
	mode, dirs, d, err := locate(t.CgroupPath)
	if err != nil {
		p.problem("cgroup %s: %v", t.CgroupPath, err)
		p.a.Cgroup = cg
		return
	}
	cg.Mode, cg.Dirs = string(mode), dirs
	cg.Version = "v1"
	if d.v2 {
		cg.Version = "v2"
	}
	r := reader{}
	if d.v2 {
		cg.ControllersFile = filepath.Join(d.unified, "cgroup.controllers")
		if v, err := readTrim(cg.ControllersFile); err == nil {
			cg.Controllers = strings.Fields(v)
		}
		r.v2(cg, d.unified)
	} else {
		for c := range d.byCtrl {
			cg.Controllers = append(cg.Controllers, c)
		}
		slices.Sort(cg.Controllers)
		r.v1(cg, d)
	}
	if cg.Controllers == nil {
		cg.Controllers = []string{}
	}
	// PSI: in the cgroup2 directory (v2, and a hybrid host's unified/ one,
	// which has pressure files even without controllers), or where a v1
	// kernel booted with psi_v1 puts them.
	for _, res := range []string{"cpu", "memory", "io"} {
		dir := d.unified
		if dir == "" || !fileExists(filepath.Join(dir, res+".pressure")) {
			dir = d.of(map[string]string{"cpu": "cpuacct", "memory": "memory", "io": "blkio"}[res])
		}
		if dir == "" {
			continue
		}
		file := filepath.Join(dir, res+".pressure")
		data, err := readTrim(file)
		if err != nil {
			continue
		}
		ps := Pressure{Resource: res, File: file}
		for line := range strings.SplitSeq(data, "\n") {
			if v, ok := strings.CutPrefix(line, "some "); ok {
				ps.Some = v
			} else if v, ok := strings.CutPrefix(line, "full "); ok {
				ps.Full = v
			}
		}
		cg.Pressure = append(cg.Pressure, ps)
	}
	p.a.Cgroup = cg
}

// reader reads cgroup files; a file that is missing gives nil (the
// controller is not there, or the kernel has no such file).
type reader struct{}

type unit int

const (
	plain   unit = iota // a number
	limit               // a number, or "max"
	v1Bytes             // v1's "unlimited" is the page counter's maximum
	v1Quota             // v1's "unlimited" is -1
	list                // text such as "0-1"
)

func (reader) read(dir, file string, u unit) *Reading {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, file)
	raw, err := readTrim(path)
	if err != nil {
		return nil
	}
	return parseReading(raw, path, u)
}

func parseReading(raw, path string, u unit) *Reading {
	r := &Reading{Raw: raw, File: path}
	switch {
	case u == list:
	case raw == "max":
		r.Unlimited = true
	case u == v1Quota && raw == "-1":
		r.Unlimited = true
	default:
		v, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			break
		}
		// PAGE_COUNTER_MAX pages: 9223372036854771712 with 4k pages.
		if u == v1Bytes && v >= 1<<62 {
			r.Unlimited = true
			break
		}
		r.Value = v
	}
	return r
}

func (reader) counters(dir, file string) *Counters {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, file)
	raw, err := readTrim(path)
	if err != nil {
		return nil
	}
	return &Counters{Values: parseKeyed(raw), File: path}
}

func parseKeyed(raw string) map[string]uint64 {
	out := map[string]uint64{}
	for line := range strings.SplitSeq(raw, "\n") {
		if k, v, ok := strings.Cut(line, " "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			out[k] = n
		}
	}
	return out
}

func (reader) lines(dir, file string, skipZero bool) []Line {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, file)
	raw, err := readTrim(path)
	if err != nil || raw == "" {
		return nil
	}
	var out []Line
	for l := range strings.SplitSeq(raw, "\n") {
		if l == "" || (skipZero && strings.HasSuffix(l, " 0")) {
			continue
		}
		out = append(out, Line{Text: l, File: path})
	}
	return out
}

func (r reader) v2(cg *Cgroup, dir string) {
	mem := &Memory{
		Current: r.read(dir, "memory.current", plain), Max: r.read(dir, "memory.max", limit),
		High: r.read(dir, "memory.high", limit), Low: r.read(dir, "memory.low", limit),
		Min: r.read(dir, "memory.min", limit), Peak: r.read(dir, "memory.peak", plain),
		SwapCurrent: r.read(dir, "memory.swap.current", plain), SwapMax: r.read(dir, "memory.swap.max", limit),
		Events: r.counters(dir, "memory.events"),
	}
	if mem.Events != nil {
		mem.OOMKills = mem.Events.Values["oom_kill"]
	}
	if mem.Current != nil || mem.Max != nil {
		cg.Memory = mem
	}
	cpu := &CPU{Weight: r.read(dir, "cpu.weight", plain), Stat: r.counters(dir, "cpu.stat")}
	if max := r.read(dir, "cpu.max", list); max != nil {
		q, per, _ := strings.Cut(max.Raw, " ")
		cpu.Quota = parseReading(q, max.File, limit)
		cpu.Period = parseReading(per, max.File, plain)
	}
	if cpu.Stat != nil {
		s := cpu.Stat.Values
		cpu.Usage = &Reading{Value: s["usage_usec"] * 1000, Raw: "usage_usec " + strconv.FormatUint(s["usage_usec"], 10), File: cpu.Stat.File}
		cpu.Periods, cpu.Throttled, cpu.ThrottledNanos = s["nr_periods"], s["nr_throttled"], s["throttled_usec"]*1000
	}
	cg.CPU = cpu
	if cur := r.read(dir, "pids.current", plain); cur != nil {
		cg.Pids = &Pids{Current: cur, Max: r.read(dir, "pids.max", limit), Events: r.counters(dir, "pids.events")}
	}
	if io := (&IO{Weight: r.read(dir, "io.weight", list), Limits: r.lines(dir, "io.max", false), Usage: r.lines(dir, "io.stat", false)}); io.Weight != nil || io.Limits != nil || io.Usage != nil {
		cg.IO = io
	}
	if cs := r.read(dir, "cpuset.cpus", list); cs != nil {
		cg.Cpuset = &Cpuset{Cpus: cs, Mems: r.read(dir, "cpuset.mems", list),
			EffectiveCpus: r.read(dir, "cpuset.cpus.effective", list), EffectiveMems: r.read(dir, "cpuset.mems.effective", list)}
	}
}

func (r reader) v1(cg *Cgroup, d cgDirs) {
	if dir := d.of("memory"); dir != "" {
		mem := &Memory{
			Current: r.read(dir, "memory.usage_in_bytes", plain), Max: r.read(dir, "memory.limit_in_bytes", v1Bytes),
			SoftLimit: r.read(dir, "memory.soft_limit_in_bytes", v1Bytes), Peak: r.read(dir, "memory.max_usage_in_bytes", plain),
			MemswCurrent: r.read(dir, "memory.memsw.usage_in_bytes", plain), MemswMax: r.read(dir, "memory.memsw.limit_in_bytes", v1Bytes),
			Failcnt: r.read(dir, "memory.failcnt", plain), Events: r.counters(dir, "memory.oom_control"),
		}
		if mem.Events != nil {
			mem.OOMKills = mem.Events.Values["oom_kill"]
		}
		cg.Memory = mem
	}
	cpu := &CPU{}
	if dir := d.of("cpu"); dir != "" {
		cpu.Shares = r.read(dir, "cpu.shares", plain)
		cpu.Quota = r.read(dir, "cpu.cfs_quota_us", v1Quota)
		cpu.Period = r.read(dir, "cpu.cfs_period_us", plain)
		if cpu.Stat = r.counters(dir, "cpu.stat"); cpu.Stat != nil {
			s := cpu.Stat.Values
			cpu.Periods, cpu.Throttled, cpu.ThrottledNanos = s["nr_periods"], s["nr_throttled"], s["throttled_time"]
		}
	}
	cpu.Usage = r.read(d.of("cpuacct"), "cpuacct.usage", plain)
	cg.CPU = cpu
	if dir := d.of("pids"); dir != "" {
		cg.Pids = &Pids{Current: r.read(dir, "pids.current", plain), Max: r.read(dir, "pids.max", limit), Events: r.counters(dir, "pids.events")}
	}
	if dir := d.of("blkio"); dir != "" {
		io := &IO{Weight: r.read(dir, "blkio.weight", plain)}
		for _, f := range []string{"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device", "blkio.weight_device"} {
			for _, l := range r.lines(dir, f, false) {
				l.Text = strings.TrimPrefix(f, "blkio.") + " " + l.Text
				io.Limits = append(io.Limits, l)
			}
		}
		for _, l := range r.lines(dir, "blkio.throttle.io_service_bytes", true) {
			if !strings.HasPrefix(l.Text, "Total") {
				io.Usage = append(io.Usage, l)
			}
		}
		cg.IO = io
	}
	if dir := d.of("cpuset"); dir != "" {
		cg.Cpuset = &Cpuset{Cpus: r.read(dir, "cpuset.cpus", list), Mems: r.read(dir, "cpuset.mems", list),
			EffectiveCpus: r.read(dir, "cpuset.effective_cpus", list), EffectiveMems: r.read(dir, "cpuset.effective_mems", list)}
	}
}
