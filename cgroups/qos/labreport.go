package qos

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miniruntime/miniruntime/cgroups"
)

// LabTableOptions change how WriteLabTableWith prints.
type LabTableOptions struct {
	// ASCII draws the sparklines with ASCII characters, for a terminal
	// that cannot show Unicode block characters.
	ASCII bool
}

// WriteLabTable prints the lab's report: one row per container and the
// verdict.
func WriteLabTable(w io.Writer, res *LabResult) error {
	return WriteLabTableWith(w, res, LabTableOptions{})
}

// WriteLabTableWith is WriteLabTable with options.
func WriteLabTableWith(w io.Writer, res *LabResult, o LabTableOptions) error {
	var b strings.Builder
	driver := res.Driver
	if driver == "" {
		driver = Cgroupfs
	}
	fmt.Fprintf(&b, "QoS lab: %s (%s); %s driver, under %s; node %d CPUs, %s of memory; CPU phase %gs, memory phase up to %gs\n\n",
		res.Mode, modeWords(res.Mode), driver, res.CgroupRoot, res.NodeCPUs, human(res.NodeMemory), res.CPUSeconds, res.MemorySeconds)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	sp := newSparklines(res, o.ASCII)
	fmt.Fprintln(tw, "POD/CONTAINER\tCLASS\tCPU.SHARES\tCPU.MAX\tCPU SHARE\tCPUS\tTHROTTLED\tMEMORY.MAX\tOOM_SCORE_ADJ\tMEMORY PHASE\tPEAK\tOOM KILLS\tMEMORY OVER TIME")
	for _, r := range res.Rows {
		fmt.Fprintf(tw, "%s/%s\t%s\t%d\t%s\t%.1f%%\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Pod, r.Container, r.Class, r.CPUShares, r.CPUMax, r.CPUShare, r.CPUs,
			throttled(r), r.MemoryMax, adjWords(r), r.MemoryPlan, human(int64(r.PeakMemory)), oomWords(r), sp.line(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString(`
CPU SHARE is the part of all the CPU time the lab's containers used; CPUS the average number of CPUs busy.
THROTTLED is periods in which cpu.max stopped the container, out of all its periods, and for how long.
OOM_SCORE_ADJ is what the kubelet sets (and, after "=", what /proc/<pid>/oom_score_adj said).
MEMORY PHASE: a container with a memory limit holds a fixed amount (3/4 of its limit, or a quarter of
  the way from its request to its limit); one without allocates until the kernel kills it.
PEAK is the container cgroup's peak memory (memory.peak on v2, memory.max_usage_in_bytes on v1).
`)
	b.WriteString(sp.legend())
	b.WriteString("\n")
	for _, v := range res.Verdict {
		b.WriteString(v + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func throttled(r LabRow) string {
	if r.Periods == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d (%s)", r.ThrottledPeriods, r.Periods, r.ThrottledTime.Round(time.Millisecond))
}

func adjWords(r LabRow) string {
	s := strconv.Itoa(r.OOMScoreAdj)
	if r.OOMScoreAdjRead != -1001 {
		s += "=" + strconv.Itoa(r.OOMScoreAdjRead)
	}
	return s
}

func oomWords(r LabRow) string {
	if r.OOMKills == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (first at %.2fs)", r.OOMKills, r.FirstOOM.Seconds())
}

// sparklines draws each container's memory in the memory phase on one
// scale: the same time span in the same number of characters for every
// row, so that columns line up in time, and the same top (the highest
// reading of any), so that heights compare.
type sparklines struct {
	ascii  bool
	width  int
	t1     float64 // the phase's last sample time; it starts at 0
	top    uint64
	levels []rune
}

// sparkWidth is the most characters a sparkline takes.
const sparkWidth = 24

var (
	sparkBlocks = []rune("▁▂▃▄▅▆▇█")
	sparkASCII  = []rune("_.-:=+*#")
)

func newSparklines(res *LabResult, ascii bool) *sparklines {
	s := &sparklines{ascii: ascii, levels: sparkBlocks}
	if ascii {
		s.levels = sparkASCII
	}
	most := 0
	for _, r := range res.Rows {
		n := 0
		for _, x := range r.Samples {
			if x.Phase != PhaseMemory {
				continue
			}
			n++
			s.t1 = max(s.t1, x.Seconds)
			s.top = max(s.top, x.MemoryBytes)
		}
		most = max(most, n)
	}
	s.width = min(sparkWidth, most)
	return s
}

// line is the row's sparkline: each character the last reading in its
// slice of time (so that a kill shows as the drop it is; PEAK has the
// highest), the one before where a slice has none, blank before the
// container's first reading (a container started late).
func (s *sparklines) line(r LabRow) string {
	if s.width == 0 || s.top == 0 {
		return "-"
	}
	vals := make([]int64, s.width)
	for i := range vals {
		vals[i] = -1
	}
	for _, x := range r.Samples {
		if x.Phase != PhaseMemory {
			continue
		}
		i := 0
		if s.t1 > 0 {
			i = min(int(x.Seconds/s.t1*float64(s.width)), s.width-1)
		}
		vals[i] = int64(x.MemoryBytes)
	}
	out := make([]rune, s.width)
	last := int64(-1)
	for i, v := range vals {
		if v < 0 {
			v = last
		}
		last = v
		if v < 0 {
			out[i] = ' '
			continue
		}
		level := int(v * int64(len(s.levels)) / int64(s.top+1))
		out[i] = s.levels[min(level, len(s.levels)-1)]
	}
	return string(out)
}

func (s *sparklines) legend() string {
	if s.width == 0 || s.top == 0 {
		return "MEMORY OVER TIME: no samples.\n"
	}
	lo, hi := s.levels[0], s.levels[len(s.levels)-1]
	return fmt.Sprintf("MEMORY OVER TIME is each container's memory in the memory phase, %d steps of %.2fs; %c is near 0, %c is %s\n  (the highest reading of any); blank before its first reading.\n",
		s.width, s.t1/float64(s.width), lo, hi, human(int64(s.top)))
}

// LabCSVHeader is the first line of WriteLabCSV.
var LabCSVHeader = []string{
	"pod", "container", "qos_class", "cpu_shares", "cpu_weight", "cpu_max", "memory_max", "oom_score_adj", "oom_score_adj_read",
	"cpu_share_percent", "cpus", "periods", "throttled_periods", "throttled_ms",
	"memory_plan", "peak_memory_bytes", "oom_kills", "first_oom_ms",
}

// WriteLabCSV writes one line per container, for a spreadsheet.
func WriteLabCSV(w io.Writer, res *LabResult) error {
	cw := csv.NewWriter(w)
	cw.Write(LabCSVHeader)
	for _, r := range res.Rows {
		cw.Write([]string{
			r.Pod, r.Container, string(r.Class), u(r.CPUShares), u(r.CPUWeight), r.CPUMax, r.MemoryMax,
			strconv.Itoa(r.OOMScoreAdj), strconv.Itoa(r.OOMScoreAdjRead),
			strconv.FormatFloat(r.CPUShare, 'f', 2, 64), strconv.FormatFloat(r.CPUs, 'f', 3, 64),
			u(r.Periods), u(r.ThrottledPeriods), strconv.FormatInt(r.ThrottledTime.Milliseconds(), 10),
			r.MemoryPlan, u(r.PeakMemory), u(r.OOMKills), strconv.FormatInt(r.FirstOOM.Milliseconds(), 10),
		})
	}
	cw.Flush()
	return cw.Error()
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

// LabSamplesCSVHeader is the first line of WriteLabSamplesCSV.
var LabSamplesCSVHeader = []string{"pod", "container", "qos_class", "phase", "t_seconds", "memory_bytes", "cpus", "cpu_seconds", "oom_kills"}

// WriteLabSamplesCSV writes every sample, one line each: the time series
// behind the summary of WriteLabCSV, in the long form a spreadsheet's
// pivot table or a plotting program takes. The kubepods cgroup's samples
// come last, with pod "kubepods" and no container or class.
func WriteLabSamplesCSV(w io.Writer, res *LabResult) error {
	cw := csv.NewWriter(w)
	cw.Write(LabSamplesCSVHeader)
	write := func(pod, container string, class Class, samples []LabSample) {
		for _, x := range samples {
			cw.Write([]string{
				pod, container, string(class), x.Phase, strconv.FormatFloat(x.Seconds, 'f', 3, 64),
				u(x.MemoryBytes), strconv.FormatFloat(x.CPUs, 'f', 3, 64), strconv.FormatFloat(x.CPUSeconds, 'f', 3, 64), u(x.OOMKills),
			})
		}
	}
	for _, r := range res.Rows {
		write(r.Pod, r.Container, r.Class, r.Samples)
	}
	write("kubepods", "", "", res.Kubepods)
	cw.Flush()
	return cw.Error()
}

// verdict explains the outcome in a few sentences.
func (l *lab) verdict() {
	v := &l.res.Verdict
	var cpu []string
	for _, r := range l.rows {
		s := fmt.Sprintf("%s %.1f%%", r.Class, r.CPUShare)
		if r.Periods > 0 && r.ThrottledPeriods*2 > r.Periods {
			s += fmt.Sprintf(" (throttled in %d of %d periods: cpu.max %s caps it even with CPUs to spare)", r.ThrottledPeriods, r.Periods, r.CPUMax)
		}
		cpu = append(cpu, s)
	}
	*v = append(*v, "CPU contention: "+strings.Join(cpu, ", ")+" of the CPU time the lab used.")
	if l.firstOf(BestEffort) != nil {
		*v = append(*v, "BestEffort gets what the others leave: under kubepods, its besteffort cgroup has cpu.shares 2 (cpu.weight 1), the least there is, against "+l.siblings()+".")
	}

	var died []*labRow
	for _, r := range l.rows {
		if r.OOMKills > 0 {
			died = append(died, r)
		}
	}
	slices.SortStableFunc(died, func(a, b *labRow) int { return int(a.FirstOOM - b.FirstOOM) })
	limit := human(l.o.NodeMemory)
	if len(died) == 0 {
		*v = append(*v, fmt.Sprintf("Memory pressure: nothing was OOM-killed within %s (the growing containers did not reach the %s limit in time; try a longer --memory-seconds).", l.o.MemoryTime, limit))
		return
	}
	for _, r := range l.rows {
		if r.OOMScoreAdjNote != "" {
			*v = append(*v, fmt.Sprintf("Note: %s/%s's oom_score_adj was %s.", r.Pod, r.Container, r.OOMScoreAdjNote))
		}
	}
	first := died[0]
	*v = append(*v, fmt.Sprintf("Memory pressure: %s (%s/%s) was OOM-killed first, %.2fs in. When %s ran out, the kernel killed the process with the highest badness = its memory + oom_score_adj/1000 × %s: oom_score_adj %d adds %s.",
		first.Class, first.Pod, first.Container, first.FirstOOM.Seconds(), l.kubepods(), limit, first.OOMScoreAdj, signedBytes(int64(first.OOMScoreAdj)*l.o.NodeMemory/1000)))
	for _, r := range l.rows {
		if r.Class != Guaranteed {
			continue
		}
		if r.OOMKills == 0 {
			adj := r.OOMScoreAdj
			if r.OOMScoreAdjRead != -1001 {
				adj = r.OOMScoreAdjRead
			}
			why := fmt.Sprintf("oom_score_adj %d takes %s off its badness, so it is the last candidate", adj, human(-int64(adj)*l.o.NodeMemory/1000))
			if adj >= 0 {
				why = fmt.Sprintf("with oom_score_adj %d its badness is just its own memory, the lowest", adj)
			}
			*v = append(*v, fmt.Sprintf("Guaranteed (%s/%s) survived: %s.", r.Pod, r.Container, why))
		} else {
			*v = append(*v, fmt.Sprintf("Guaranteed (%s/%s) was OOM-killed too (%d kills): it went over its own memory limit %s.", r.Pod, r.Container, r.OOMKills, r.MemoryMax))
		}
	}
}

func (l *lab) firstOf(c Class) *labRow {
	for _, r := range l.rows {
		if r.Class == c {
			return r
		}
	}
	return nil
}

// siblings describes the other children of kubepods and their cpu.shares.
func (l *lab) siblings() string {
	var s []string
	for _, r := range l.pods {
		if r.Class == Guaranteed {
			s = append(s, fmt.Sprintf("pod %s cpu.shares %d (cpu.weight %d)", r.Pod, r.Cgroup.CPUShares, r.Cgroup.WeightLinear()))
		}
	}
	if slices.ContainsFunc(l.pods, func(r *Report) bool { return r.Class == Burstable }) {
		s = append(s, fmt.Sprintf("the burstable cgroup cpu.shares %d (cpu.weight %d, the sum of its pods' CPU requests)", l.burstableShares, cgroups.CPUSharesToWeightLinear(l.burstableShares)))
	}
	if len(s) == 0 {
		return "nothing else"
	}
	return strings.Join(s, " and ")
}

func signedBytes(b int64) string {
	if b < 0 {
		return "−" + human(-b)
	}
	return human(b)
}
