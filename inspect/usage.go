package inspect

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Usage is one sample of a container's cgroup counters: what `top` shows,
// cheap enough to read every second for every container.
type Usage struct {
	ID     string    `json:"id"`
	Status string    `json:"status"`
	QoS    string    `json:"qos,omitempty"`
	Pid    int       `json:"pid"`
	At     time.Time `json:"at"`
	// CPUNanos is the cgroup's CPU time so far; the throttling counters
	// are cpu.stat's.
	CPUNanos       uint64 `json:"cpuNanos"`
	Periods        uint64 `json:"periods"`
	Throttled      uint64 `json:"throttledPeriods"`
	ThrottledNanos uint64 `json:"throttledNanos"`
	// MemLimit is 0 when there is none.
	MemCurrent uint64 `json:"memCurrent"`
	MemLimit   uint64 `json:"memLimit"`
	OOMKills   uint64 `json:"oomKills"`
	Pids       uint64 `json:"pids"`
	PidsMax    uint64 `json:"pidsMax"` // 0 when there is none
	// Err says why the cgroup could not be read (a stopped container's
	// cgroup may be gone).
	Err string `json:"error,omitempty"`
}

// Sample reads t's cgroup counters now.
func Sample(t Target) Usage {
	u := Usage{ID: t.ID, Status: t.Status, Pid: t.Pid, At: time.Now()}
	if q := QoSOf(t); q != nil {
		u.QoS = q.Class
	}
	if t.CgroupPath == "" {
		u.Err = "no cgroup recorded"
		return u
	}
	_, _, d, err := locate(t.CgroupPath)
	if err != nil {
		u.Err = err.Error()
		return u
	}
	cg := &Cgroup{}
	r := reader{}
	if d.v2 {
		r.v2(cg, d.unified)
	} else {
		r.v1(cg, d)
	}
	if m := cg.Memory; m != nil {
		if m.Current != nil {
			u.MemCurrent = m.Current.Value
		}
		if m.Max != nil && !m.Max.Unlimited {
			u.MemLimit = m.Max.Value
		}
		u.OOMKills = m.OOMKills
	}
	if c := cg.CPU; c != nil {
		if c.Usage != nil {
			u.CPUNanos = c.Usage.Value
		}
		u.Periods, u.Throttled, u.ThrottledNanos = c.Periods, c.Throttled, c.ThrottledNanos
	}
	if p := cg.Pids; p != nil {
		if p.Current != nil {
			u.Pids = p.Current.Value
		}
		if p.Max != nil && !p.Max.Unlimited {
			u.PidsMax = p.Max.Value
		}
	}
	if cg.Memory == nil && cg.CPU == nil && cg.Pids == nil {
		u.Err = "cgroup not found"
	}
	return u
}

// QoSOf is t's Kubernetes QoS class, when it came from a pod manifest.
func QoSOf(t Target) *QoS {
	p := &prober{t: t, a: &Anatomy{ConfigFile: "config.json"}}
	p.qos()
	return p.a.QoS
}

// A Row is a sample with the rates since the previous one.
type Row struct {
	Usage
	// CPUPercent is CPU time over wall time since the previous sample:
	// 100 is one CPU busy; -1 before there are two samples.
	CPUPercent float64 `json:"cpuPercent"`
	// ThrottledPercent is the share of the CFS periods since the previous
	// sample in which the quota stopped the cgroup.
	ThrottledPercent float64 `json:"throttledPercent"`
}

// Rate compares two samples of one container; prev may be the zero Usage.
func Rate(prev, cur Usage) Row {
	r := Row{Usage: cur, CPUPercent: -1}
	dt := cur.At.Sub(prev.At).Seconds()
	if prev.At.IsZero() || dt <= 0 || cur.CPUNanos < prev.CPUNanos {
		return r
	}
	r.CPUPercent = 100 * float64(cur.CPUNanos-prev.CPUNanos) / 1e9 / dt
	if dp := cur.Periods - prev.Periods; cur.Periods > prev.Periods {
		r.ThrottledPercent = 100 * float64(cur.Throttled-prev.Throttled) / float64(dp)
	}
	return r
}

// SortKeys are the orders `top` offers: by id, status, QoS, CPU, memory,
// OOM kills, pids.
var SortKeys = []string{"id", "status", "qos", "cpu", "memory", "oom", "pids"}

// SortRows orders rows by key, highest first for the numeric keys (the
// busiest container on top), id as the tie-break; reverse flips it.
func SortRows(rows []Row, key string, reverse bool) {
	cmp := func(a, b Row) int {
		var c int
		switch key {
		case "status":
			c = strings.Compare(a.Status, b.Status)
		case "qos":
			c = strings.Compare(a.QoS, b.QoS)
		case "cpu":
			c = -cmpFloat(a.CPUPercent, b.CPUPercent)
		case "memory":
			c = -cmpUint(a.MemCurrent, b.MemCurrent)
		case "oom":
			c = -cmpUint(a.OOMKills, b.OOMKills)
		case "pids":
			c = -cmpUint(a.Pids, b.Pids)
		}
		if c == 0 {
			c = strings.Compare(a.ID, b.ID)
		}
		if reverse {
			c = -c
		}
		return c
	}
	slices.SortStableFunc(rows, cmp)
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MemFraction is memory use against the limit, or -1 without a limit.
func (r Row) MemFraction() float64 {
	if r.MemLimit == 0 {
		return -1
	}
	return float64(r.MemCurrent) / float64(r.MemLimit)
}

// Bar draws frac (0..1) as width cells of '#' and '.'; an unknown
// fraction is blank.
func Bar(frac float64, width int) string {
	if frac < 0 {
		return strings.Repeat(" ", width)
	}
	n := int(frac*float64(width) + 0.5)
	n = min(max(n, 0), width)
	return strings.Repeat("#", n) + strings.Repeat(".", width-n)
}

// Cells are a row's columns as text, shared by the plain table and the
// terminal view (which draws the bar itself).
type Cells struct {
	ID, Status, QoS, CPU, Throttled, Memory, OOM, Pids string
}

// Header is the column titles.
var Header = Cells{"ID", "STATUS", "QOS", "CPU%", "THROTTLED", "MEMORY", "OOM", "PIDS"}

// CellsOf formats a row.
func CellsOf(r Row) Cells {
	c := Cells{ID: r.ID, Status: r.Status, QoS: r.QoS, CPU: "-", Throttled: "-", OOM: strconv.FormatUint(r.OOMKills, 10)}
	if c.QoS == "" {
		c.QoS = "-"
	}
	if r.CPUPercent >= 0 {
		c.CPU = strconv.FormatFloat(r.CPUPercent, 'f', 1, 64)
	}
	if r.Periods > 0 {
		c.Throttled = fmt.Sprintf("%.0f%% %s", r.ThrottledPercent, seconds(r.ThrottledNanos))
	}
	c.Memory = Bytes(r.MemCurrent) + " / "
	if r.MemLimit > 0 {
		c.Memory += Bytes(r.MemLimit)
	} else {
		c.Memory += "no limit"
	}
	c.Pids = strconv.FormatUint(r.Pids, 10)
	if r.PidsMax > 0 {
		c.Pids += " / " + strconv.FormatUint(r.PidsMax, 10)
	}
	if r.Err != "" && r.Status != "stopped" {
		c.Memory = r.Err
	}
	return c
}

// BarWidth is the width of the memory bar in the plain table.
const BarWidth = 20

// WriteTable prints rows as one plain table, the memory bar in ASCII.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	h := Header
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Status, h.QoS, h.CPU, h.Throttled, h.Memory, "", h.OOM, h.Pids)
	for _, r := range rows {
		c := CellsOf(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t[%s]\t%s\t%s\n", c.ID, c.Status, c.QoS, c.CPU, c.Throttled, c.Memory, Bar(r.MemFraction(), BarWidth), c.OOM, c.Pids)
	}
	return tw.Flush()
}
