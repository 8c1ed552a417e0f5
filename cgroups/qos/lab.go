package qos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The QoS lab runs one container per pod container of a few pods, under a
// kubepods tree of its own, first with every container burning CPU and then
// with memory pressure on the tree's memory limit, and reports what each
// QoS class got. The lab builds the cgroup tree the kubelet would (kubepods,
// the burstable and besteffort class cgroups, one cgroup per pod) with
// cgroups.New, as directories with the cgroupfs driver and as transient
// systemd slice units with the systemd driver; the containers themselves
// are made by the caller's CreateFunc, so that this package stays below the
// runtime.

// LabContainer is what the lab asks CreateFunc for.
type LabContainer struct {
	ID          string
	Args        []string // run by the container's shell-capable rootfs (busybox)
	CgroupsPath string
	// SystemdCgroup: CgroupsPath is "slice:prefix:name", for the runtime's
	// systemd driver (--systemd-cgroup).
	SystemdCgroup bool
	Resources     *specs.LinuxResources
	OOMScoreAdj   int
}

// CreateFunc creates a container whose process waits to be started. The
// lab creates every container of a phase before it starts any, so that
// their start is not slowed down by the others' busy loops.
type CreateFunc func(LabContainer) (*LabHandle, error)

// LabHandle is a created container.
type LabHandle struct {
	Pid   int          // its init's host pid
	Start func() error // runs its process
	// Stop kills and deletes it, whatever its state; the lab calls it
	// once.
	Stop func() error
}

// LabOptions configure RunLab.
type LabOptions struct {
	Pods       []*Pod
	CPUTime    time.Duration // the CPU contention phase
	MemoryTime time.Duration // the memory pressure phase, at most
	Interval   time.Duration // how often the cgroups are sampled
	// NodeMemory is the lab node's memory: the memory limit of the lab's
	// kubepods cgroup, and the capacity in the Burstable oom_score_adj.
	NodeMemory int64
	Mountpoint string // cgroup mountpoint; "" is /sys/fs/cgroup
	// Driver is the cgroup driver of the lab's kubelet and runtime: with
	// Systemd the tree is made of transient slice units and the containers
	// are scopes in them. "" is Cgroupfs.
	Driver   Driver
	Recorder *trace.Recorder
	Progress io.Writer // one line per step; nil is silent
	Create   CreateFunc
}

// LabResult is the lab's report.
type LabResult struct {
	Mode          cgroups.Mode `json:"mode"`
	Driver        Driver       `json:"cgroupDriver"`
	CgroupRoot    string       `json:"cgroupRoot"`
	NodeCPUs      int          `json:"nodeCPUs"`
	NodeMemory    int64        `json:"nodeMemory"`
	CPUSeconds    float64      `json:"cpuSeconds"`
	MemorySeconds float64      `json:"memorySeconds"`
	Rows          []LabRow     `json:"rows"`
	Verdict       []string     `json:"verdict"`
	// PressureSeconds is when, in the memory phase's sample time, the
	// containers without a memory limit were started: the holders had
	// filled up by then.
	PressureSeconds float64 `json:"pressureSeconds,omitempty"`
	// Kubepods are the readings of the lab's kubepods cgroup, taken with
	// the containers': all the pods' memory together, which is what
	// meets the kubepods limit (its CPUs: all of theirs).
	Kubepods []LabSample `json:"kubepodsSamples,omitempty"`
}

// LabSample is one reading of a container's (or kubepods') cgroup during a
// phase.
type LabSample struct {
	Phase string `json:"phase"` // PhaseCPU or PhaseMemory
	// Seconds is the time on the phase's clock: in the CPU phase from
	// when every container runs, in the memory phase from when the first
	// one starts.
	Seconds     float64 `json:"t"`
	MemoryBytes uint64  `json:"memoryBytes"`
	// CPUs is the average number of CPUs the container kept busy since
	// the reading before; CPUSeconds the CPU time it used in the phase so
	// far (whose slope is CPUs, and which a late or early reading does
	// not distort).
	CPUs       float64 `json:"cpus"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// OOMKills counts the container's OOM kills in this phase so far.
	OOMKills uint64 `json:"oomKills"`
}

// The phases, as LabSample names them.
const (
	PhaseCPU    = "cpu"
	PhaseMemory = "memory"
)

// MaxSamples bounds a container's samples per phase: a long phase at a
// short --interval is thinned (every other reading dropped, and the
// stride doubled) rather than growing without end. A reading that shows a
// new OOM kill is always kept.
const MaxSamples = 512

// LabRow is one container's outcome.
type LabRow struct {
	Pod         string `json:"pod"`
	Container   string `json:"container"`
	Class       Class  `json:"qosClass"`
	CPUShares   uint64 `json:"cpuShares"`
	CPUWeight   uint64 `json:"cpuWeight"`
	CPUMax      string `json:"cpuMax"`
	MemoryMax   string `json:"memoryMax"`
	OOMScoreAdj int    `json:"oomScoreAdj"`
	// OOMScoreAdjRead is /proc/<pid>/oom_score_adj of the memory phase's
	// container init as the kernel reports it (-1001 if unread).
	OOMScoreAdjRead int `json:"oomScoreAdjRead"`
	// OOMScoreAdjNote says why the container ran with another value.
	OOMScoreAdjNote string `json:"oomScoreAdjNote,omitempty"`
	// CPUShare is the container's part of all the CPU time the lab's
	// containers used in the CPU phase, in percent; CPUs is its average
	// number of CPUs busy.
	CPUShare         float64       `json:"cpuSharePercent"`
	CPUs             float64       `json:"cpus"`
	Periods          uint64        `json:"periods"`
	ThrottledPeriods uint64        `json:"throttledPeriods"`
	ThrottledTime    time.Duration `json:"throttledTimeNs"`
	// MemoryPlan says what the container did in the memory phase.
	MemoryPlan string `json:"memoryPlan"`
	PeakMemory uint64 `json:"peakMemoryBytes"`
	OOMKills   uint64 `json:"oomKills"`
	// FirstOOM is when its first OOM kill was seen, from the start of the
	// memory pressure; 0 if never.
	FirstOOM time.Duration `json:"firstOOMNs,omitempty"`
	// Samples are the container's readings over time, the CPU phase's
	// then the memory phase's, at most MaxSamples of each.
	Samples []LabSample `json:"samples,omitempty"`
}

type labRow struct {
	LabRow
	c    *ContainerReport
	pod  CgroupName // the pod's cgroup in the lab
	hold int64      // bytes the container holds in the memory phase; 0 = grows
	// sampling state of the current phase
	mgr     *cgroups.Manager
	base    cgroups.Stats
	last    cgroups.Stats
	handle  *LabHandle
	started bool
	lastAt  time.Time // when last was read
	series  sampler   // the current phase's samples
}

// sampler keeps one phase's samples of a container within MaxSamples.
type sampler struct {
	phase  string
	out    []LabSample
	n      int // readings offered
	stride int // keep every stride-th reading
}

func (s *sampler) add(x LabSample, kill bool) {
	s.n++
	if s.stride == 0 {
		s.stride = 1
	}
	if s.n%s.stride != 0 && !kill {
		return
	}
	if len(s.out) >= 2*MaxSamples { // only kills left to keep: a hard stop
		return
	}
	s.out = append(s.out, x)
	if len(s.out) < MaxSamples {
		return
	}
	kept := make([]LabSample, 0, MaxSamples)
	var kills uint64
	for i, y := range s.out {
		if i%2 == 0 || y.OOMKills != kills {
			kept = append(kept, y)
		}
		kills = y.OOMKills
	}
	s.out, s.stride = kept, s.stride*2
}

// LoadDir reads every .yaml, .yml and .json file in dir as a Pod, in name
// order.
func LoadDir(dir string) ([]*Pod, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	var pods []*Pod
	for _, e := range ents {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		p, err := Parse(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pods = append(pods, p)
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("--dir %s: no pod manifests (*.yaml, *.yml, *.json)", dir)
	}
	return pods, nil
}

// allowAllDevices keeps the kubepods, class and pod cgroups from
// restricting devices (the kubelet skips the devices controller there);
// each container's own cgroup gets the container's device rules.
var allowAllDevices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}

// RunLab runs the lab. Whatever happens (an error, ctx cancelled), it stops
// every container it started and removes its cgroup tree before returning.
func RunLab(ctx context.Context, o LabOptions) (res *LabResult, err error) {
	if o.Create == nil {
		return nil, errors.New("qos lab: no CreateFunc")
	}
	if o.Interval <= 0 || o.CPUTime <= 0 || o.MemoryTime <= 0 {
		return nil, errors.New("--cpu-seconds, --memory-seconds and --interval must be positive")
	}
	if o.Driver == "" {
		o.Driver = Cgroupfs
	}
	if o.Driver == Systemd && !cgroups.SystemdRunning() {
		return nil, ErrNoSystemd
	}
	mode, err := cgroups.DetectMode(o.Mountpoint)
	if err != nil {
		return nil, err
	}
	l := &lab{o: o, res: &LabResult{
		Mode: mode, Driver: o.Driver, NodeCPUs: goruntime.NumCPU(), NodeMemory: o.NodeMemory,
		CPUSeconds: o.CPUTime.Seconds(), MemorySeconds: o.MemoryTime.Seconds(),
	}}
	if err := l.plan(); err != nil {
		return nil, err
	}
	l.oomFloor = oomFloor()
	for _, gone := range SweepStaleLabs(o.Mountpoint, o.Recorder) {
		l.progress("removed %s, left by a lab that was killed", gone)
	}
	l.progress("cgroup mode: %s (%s); cgroup driver: %s; lab cgroup %s; node: %d CPUs, %s of memory (the limit of %s)",
		mode, modeWords(mode), o.Driver, l.res.CgroupRoot, l.res.NodeCPUs, human(o.NodeMemory), l.kubepods())
	defer func() {
		if cerr := l.cleanup(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := l.buildTree(); err != nil {
		return nil, err
	}
	if err := l.cpuPhase(ctx); err != nil {
		return nil, interrupted(err)
	}
	if err := l.memoryPhase(ctx); err != nil {
		return nil, interrupted(err)
	}
	l.verdict()
	for _, r := range l.rows {
		l.res.Rows = append(l.res.Rows, r.LabRow)
	}
	return l.res, nil
}

func interrupted(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted; the lab's containers and cgroups are removed")
	case errors.Is(err, context.DeadlineExceeded):
		return errors.New("timed out; the lab's containers and cgroups are removed")
	}
	return err
}

// ErrNoSystemd is the lab's answer to the systemd driver on a host whose
// init is not systemd.
var ErrNoSystemd = errors.New("--cgroup-driver systemd: systemd is not running on this host (no " + DefaultSystemdDir + "), and the lab's cgroups would be systemd slice units; use --cgroup-driver cgroupfs")

// LabPrefix starts the name of a lab's cgroup (and of the command's
// temporary directory), followed by the lab's process id.
const LabPrefix = "miniruntime-qoslab-"

// labSlicePrefix starts a lab's slice with the systemd driver: LabPrefix
// with its dashes written as underscores, as the kubelet escapes them.
var labSlicePrefix = strings.ReplaceAll(LabPrefix, "-", "_")

// LabOwnerGone reports whether name (LabPrefix, a pid, "-", anything; or
// the systemd driver's "miniruntime_qoslab_<pid>_....slice") belongs to a
// lab whose process no longer exists.
func LabOwnerGone(name string) bool {
	rest, ok := strings.CutPrefix(name, LabPrefix)
	sep := "-"
	if !ok {
		if rest, ok = strings.CutPrefix(name, labSlicePrefix); !ok || !strings.HasSuffix(rest, ".slice") {
			return false
		}
		sep = "_"
	}
	pid, err := strconv.Atoi(strings.SplitN(rest, sep, 2)[0])
	if err != nil || pid <= 0 {
		return false
	}
	_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
	return errors.Is(err, os.ErrNotExist)
}

// SweepStaleLabs removes the cgroup trees of labs that were killed before
// they could clean up (SIGKILL, a crash), killing what still runs in them.
// A systemd driver lab's tree is its slice unit: systemd stops it, and the
// scopes and slices in it, where systemd runs. It returns the cgroup paths
// it removed.
func SweepStaleLabs(mountpoint string, rec *trace.Recorder) []string {
	if mountpoint == "" {
		mountpoint = cgroups.DefaultMountpoint
	}
	seen := map[string]bool{}
	var gone []string
	for _, prefix := range []string{LabPrefix, labSlicePrefix} {
		for _, pattern := range []string{"/" + prefix + "*", "/*/" + prefix + "*"} {
			matches, _ := filepath.Glob(filepath.Join(mountpoint, pattern))
			for _, m := range matches {
				name := filepath.Base(m)
				if seen[name] || !LabOwnerGone(name) {
					continue
				}
				seen[name] = true
				opts := cgroups.Options{Mountpoint: mountpoint, Recorder: rec}
				if prefix == labSlicePrefix && cgroups.SystemdRunning() {
					opts.Unit = name
				}
				if cg, err := cgroups.Load("/"+name, opts); err == nil && cg.Delete() == nil {
					gone = append(gone, "/"+name)
				}
			}
		}
	}
	return gone
}

func modeWords(m cgroups.Mode) string {
	switch m {
	case cgroups.Unified:
		return "cgroup v2: cpu.weight, cpu.max, memory.max"
	case cgroups.Hybrid:
		return "cgroup v1 controllers on a hybrid host: cpu.shares, cpu.cfs_quota_us, memory.limit_in_bytes"
	}
	return "cgroup v1: cpu.shares, cpu.cfs_quota_us, memory.limit_in_bytes"
}

type lab struct {
	o   LabOptions
	res *LabResult
	// name is the lab's cgroup name, {"miniruntime-qoslab-<pid>-<random>"}:
	// the kubelet's cgroup root, above kubepods. Its path is res.CgroupRoot.
	name CgroupName
	id   string
	rows []*labRow
	// the cgroups the lab made, outermost first
	made []*cgroups.Manager
	pods []*Report
	// cpu.shares of kubepods' children: the class cgroups
	burstableShares uint64
	// oomFloor is the lowest oom_score_adj the containers can get: -1000
	// with CAP_SYS_RESOURCE, else this process's own.
	oomFloor int
	// phaseStart is the time origin of the current phase's samples.
	phaseStart time.Time
	// kube is the kubepods cgroup and its readings, as a row's.
	kube labRow
}

func (l *lab) progress(format string, args ...any) {
	if l.o.Progress != nil {
		fmt.Fprintf(l.o.Progress, "qos lab: "+format+"\n", args...)
	}
}

// plan computes every pod's values on the lab node, orders the rows
// Guaranteed, Burstable, BestEffort, and decides what each container does
// under memory pressure: one with a memory limit holds a fixed amount below
// it, one without keeps allocating.
func (l *lab) plan() error {
	var b [4]byte
	rand.Read(b[:])
	l.id = fmt.Sprintf("qoslab-%d-%s", os.Getpid(), hex.EncodeToString(b[:]))
	l.name = CgroupName{LabPrefix + l.id[len("qoslab-"):]}
	l.res.CgroupRoot = l.name.Path(l.o.Driver)
	node := Node{MilliCPU: int64(l.res.NodeCPUs) * 1000, Memory: l.o.NodeMemory}
	var held int64
	uids := map[string]string{}
	for _, p := range l.o.Pods {
		r, err := Compute(p, node)
		if err != nil {
			return fmt.Errorf("pod %s: %w", p.Metadata.Name, err)
		}
		if other, ok := uids[r.UID]; ok {
			return fmt.Errorf("pods %s and %s have the same uid %s: each pod needs a cgroup of its own", other, r.Pod, r.UID)
		}
		uids[r.UID] = r.Pod
		l.pods = append(l.pods, r)
		for i := range r.Containers {
			c := &r.Containers[i]
			if c.Type != "container" {
				continue // init steps and sidecars are not part of the lab
			}
			pod := l.name.Child(PodCgroupName(r.Class, r.UID)...)
			row := &labRow{c: c, pod: pod}
			row.LabRow = LabRow{
				Pod: r.Pod, Container: c.Name, Class: r.Class,
				CPUShares: c.Cgroup.CPUShares, CPUWeight: c.Cgroup.WeightQuadratic(), CPUMax: c.Cgroup.CPUMax(), MemoryMax: c.Cgroup.MemoryMax(),
				OOMScoreAdj: c.OOMScoreAdj, OOMScoreAdjRead: -1001,
			}
			req, lim := parseBytesQ(c.Requests["memory"]), c.Cgroup.MemoryLimit
			switch {
			case lim == 0:
				row.MemoryPlan = "grows until killed"
			case req >= lim:
				row.hold = roundMi(lim * 3 / 4)
				row.MemoryPlan = "holds " + human(row.hold)
			default:
				row.hold = roundMi(req + (lim-req)/4)
				row.MemoryPlan = "holds " + human(row.hold)
			}
			held += row.hold
			l.rows = append(l.rows, row)
		}
	}
	if len(l.rows) == 0 {
		return errors.New("the pods have no containers to run")
	}
	if held+32<<20 > l.o.NodeMemory {
		return fmt.Errorf("--node-memory %s is too small: the containers with memory limits hold %s in the memory phase; give at least %s",
			human(l.o.NodeMemory), human(held), human(held+64<<20))
	}
	rank := map[Class]int{Guaranteed: 0, Burstable: 1, BestEffort: 2}
	slices.SortStableFunc(l.rows, func(a, b *labRow) int { return rank[a.Class] - rank[b.Class] })
	return nil
}

func roundMi(b int64) int64 { return b >> 20 << 20 }

func parseBytesQ(s string) int64 {
	if s == "" {
		return 0
	}
	q, err := ParseQuantity(s, "")
	if err != nil {
		return 0
	}
	return q.Value()
}

// kubepods is the path of the lab's kubepods cgroup.
func (l *lab) kubepods() string { return l.name.Child(KubepodsName...).Path(l.o.Driver) }

// buildTree makes the kubelet's tree under the lab root: kubepods (the
// node's allocatable CPU and memory), its burstable and besteffort class
// cgroups, and each pod's cgroup with the pod values. With the systemd
// driver each is a transient slice unit, as the kubelet's systemd cgroup
// manager starts them ("systemctl set-property" shows the properties), and
// the lab's root is one too, so that stopping it leaves nothing.
func (l *lab) buildTree() error {
	var burstableMilli int64
	for _, r := range l.pods {
		if r.Class == Burstable {
			burstableMilli += parseMilliQ(r.Requests["cpu"])
		}
	}
	l.burstableShares = MilliCPUToShares(burstableMilli)
	shares := func(s uint64) *specs.LinuxCPU { return &specs.LinuxCPU{Shares: &s} }
	limit := l.o.NodeMemory
	type level struct {
		name CgroupName
		res  *specs.LinuxResources
	}
	kube := l.name.Child(KubepodsName...)
	tree := []level{
		{kube, &specs.LinuxResources{CPU: shares(MilliCPUToShares(int64(l.res.NodeCPUs) * 1000)), Memory: &specs.LinuxMemory{Limit: &limit}}},
		{kube.Child("burstable"), &specs.LinuxResources{CPU: shares(l.burstableShares)}},
		{kube.Child("besteffort"), &specs.LinuxResources{CPU: shares(MinShares)}},
	}
	if l.o.Driver == Systemd {
		tree = append([]level{{l.name, &specs.LinuxResources{}}}, tree...)
	}
	for _, r := range l.pods {
		tree = append(tree, level{l.name.Child(PodCgroupName(r.Class, r.UID)...), resourcesOf(r.Cgroup)})
	}
	for _, t := range tree {
		t.res.Devices = allowAllDevices
		if l.res.Mode == cgroups.Unified && t.res.CPU != nil {
			// The kubelet converts these itself, with the linear formula.
			w := cgroups.CPUSharesToWeightLinear(*t.res.CPU.Shares)
			t.res.CPU.Shares = nil
			t.res.Unified = map[string]string{"cpu.weight": strconv.FormatUint(w, 10)}
		}
		opts := cgroups.Options{Mountpoint: l.o.Mountpoint, Recorder: l.o.Recorder}
		path, what := t.name.Cgroupfs(), "lab cgroup "+t.name.Cgroupfs()
		if l.o.Driver == Systemd {
			// "::<name>.slice" is a slice unit, placed by its name.
			opts.Systemd, path, what = true, "::"+t.name.Slice(), "lab slice "+t.name.Slice()
		}
		m, err := cgroups.New(l.id, path, t.res, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		l.made = append(l.made, m)
		if slices.Equal(t.name, kube) {
			l.kube.mgr = m
		}
	}
	return nil
}

func parseMilliQ(s string) int64 {
	if s == "" {
		return 0
	}
	q, err := ParseQuantity(s, "")
	if err != nil {
		return 0
	}
	return q.MilliValue()
}

// resourcesOf turns cgroup values into linux.resources (no MemoryQoS: the
// kubelet's default).
func resourcesOf(v CgroupValues) *specs.LinuxResources {
	shares, period := v.CPUShares, v.CPUPeriod
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares, Period: &period}}
	if v.CPUQuota != 0 {
		q := v.CPUQuota
		res.CPU.Quota = &q
	}
	if v.MemoryLimit != 0 {
		m := v.MemoryLimit
		res.Memory = &specs.LinuxMemory{Limit: &m}
	}
	return res
}

// cleanup stops every container still running and removes the lab's
// cgroup tree, whatever state the lab is in: the cgroupfs driver's from its
// root, deepest first; the systemd driver's unit by unit, deepest first
// (systemd removes a slice's cgroup when it stops it).
func (l *lab) cleanup() error {
	errs := []error{l.stopAll()}
	if len(l.made) == 0 {
		return errors.Join(errs...)
	}
	if l.o.Driver == Systemd {
		for _, m := range slices.Backward(l.made) {
			errs = append(errs, m.Delete())
		}
		return errors.Join(errs...)
	}
	m, err := cgroups.Load(l.res.CgroupRoot, cgroups.Options{Mountpoint: l.o.Mountpoint, Recorder: l.o.Recorder})
	if err == nil {
		err = m.Delete()
	}
	return errors.Join(append(errs, err)...)
}

// stopAll stops every container at once: deleting one waits for its
// processes to die, which need not wait for the others'.
func (l *lab) stopAll() error {
	errs := make([]error, len(l.rows))
	var wg sync.WaitGroup
	for i, r := range l.rows {
		if r.handle != nil {
			h := r.handle
			wg.Go(func() { errs[i] = h.Stop() })
		}
		r.Samples = append(r.Samples, r.series.out...)
		r.handle, r.started, r.mgr, r.series = nil, false, nil, sampler{}
	}
	l.res.Kubepods = append(l.res.Kubepods, l.kube.series.out...)
	l.kube.series = sampler{}
	wg.Wait()
	return errors.Join(errs...)
}

// containerID is the runtime's id of the row's container in a phase; it
// names the container's cgroup too, as containerd's container id does
// (with systemd, the scope cri-containerd-<id>.scope: a unit name is
// unique on the host, so it must not repeat from one lab to the next).
func (l *lab) containerID(r *labRow, phase string) string {
	return fmt.Sprintf("%s-%s-%s-%s", l.id, r.Pod, r.Container, phase)
}

// create makes the row's container for a phase, ready to start.
func (l *lab) create(r *labRow, phase string, args []string) error {
	res := resourcesOf(r.c.Cgroup)
	id := l.containerID(r, phase)
	adj := r.c.OOMScoreAdj
	if adj < l.oomFloor {
		adj = l.oomFloor
		r.OOMScoreAdjNote = fmt.Sprintf("raised from %d to %d: this host withholds CAP_SYS_RESOURCE, without which no process can lower its oom_score_adj", r.c.OOMScoreAdj, adj)
	}
	h, err := l.o.Create(LabContainer{ID: id, Args: args, CgroupsPath: CgroupsPath(l.o.Driver, r.pod, id), SystemdCgroup: l.o.Driver == Systemd, Resources: res, OOMScoreAdj: adj})
	if err != nil {
		return fmt.Errorf("create %s/%s: %w", r.Pod, r.Container, err)
	}
	r.handle = h
	m, err := cgroups.Load(ContainerCgroupPath(l.o.Driver, r.pod, id), cgroups.Options{Mountpoint: l.o.Mountpoint})
	if err != nil {
		return err
	}
	r.mgr = m
	r.base, r.last = cgroups.Stats{}, cgroups.Stats{}
	if st, _ := m.Stats(); st != nil {
		r.base, r.last = *st, *st
	}
	r.lastAt = time.Now()
	return nil
}

// createAll creates a container for every row; start starts some.
func (l *lab) createAll(phase string, args func(*labRow) []string) error {
	for _, r := range l.rows {
		if err := l.create(r, phase, args(r)); err != nil {
			return err
		}
	}
	return nil
}

func (l *lab) start(rows []*labRow) error {
	for _, r := range rows {
		if err := r.handle.Start(); err != nil {
			return fmt.Errorf("start %s/%s: %w", r.Pod, r.Container, err)
		}
		// Its first sample's CPUs count from here: a container made
		// earlier and started late used next to nothing before.
		r.started, r.lastAt = true, time.Now()
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sampleAll reads every started container's cgroup, and the kubepods
// cgroup, and records a sample of each.
func (l *lab) sampleAll() {
	running := false
	for _, r := range l.rows {
		if r.started && r.mgr != nil {
			l.sample(r)
			running = true
		}
	}
	if running && l.kube.mgr != nil {
		l.sample(&l.kube)
	}
}

// beginPhase starts the phase's sample clock, and takes the reading of
// every container made so far and of kubepods that the first sample's CPU
// time is measured from, recording none.
func (l *lab) beginPhase(phase string) {
	l.phaseStart = time.Now()
	for _, r := range append(slices.Clone(l.rows), &l.kube) {
		r.series = sampler{phase: phase}
		if r.mgr == nil {
			continue
		}
		at := time.Now()
		if st, err := r.mgr.Stats(); err == nil && st != nil {
			r.last, r.lastAt = *st, at
		}
	}
	l.kube.base = l.kube.last
}

// sample reads the row's cgroup and records a sample.
func (l *lab) sample(r *labRow) {
	// The time before the reading: Stats reads the CPU time first, and
	// the rest can take long on a slow (emulated) machine.
	now := time.Now()
	if now.Sub(r.lastAt) < time.Millisecond {
		return // read just now (a last check right after another)
	}
	st, err := r.mgr.Stats()
	if err != nil || st == nil {
		return
	}
	x := LabSample{Phase: r.series.phase, Seconds: now.Sub(l.phaseStart).Seconds(), MemoryBytes: st.Memory.Usage.Usage}
	if st.Memory.Usage.Usage == math.MaxUint64 {
		x.MemoryBytes = 0
	}
	if d := now.Sub(r.lastAt); d > 0 && st.CPU.Usage.Total >= r.last.CPU.Usage.Total {
		x.CPUs = float64(st.CPU.Usage.Total-r.last.CPU.Usage.Total) / float64(d)
	}
	if st.CPU.Usage.Total >= r.base.CPU.Usage.Total {
		x.CPUSeconds = float64(st.CPU.Usage.Total-r.base.CPU.Usage.Total) / 1e9
	}
	if st.OOMKills >= r.base.OOMKills {
		x.OOMKills = st.OOMKills - r.base.OOMKills
	}
	prevKills := r.last.OOMKills
	r.last, r.lastAt = *st, now
	r.series.add(x, st.OOMKills != prevKills)
	peak := max(st.Memory.Usage.Max, st.Memory.Usage.Usage)
	if peak != math.MaxUint64 && peak > r.PeakMemory {
		r.PeakMemory = peak
	}
}

// burn is two busy loops: more CPU than the node has, from every container.
var burn = []string{"sh", "-c", "while :; do :; done & while :; do :; done"}

func (l *lab) cpuPhase(ctx context.Context) error {
	l.progress("CPU contention: %d containers each run 2 busy loops for %s", len(l.rows), l.o.CPUTime)
	if err := l.createAll("cpu", func(*labRow) []string { return burn }); err != nil {
		return err
	}
	if err := l.start(l.rows); err != nil {
		return err
	}
	// Measure, and sample, from when all are running.
	l.beginPhase(PhaseCPU)
	for _, r := range l.rows {
		r.base = r.last
	}
	began := time.Now()
	for time.Since(began) < l.o.CPUTime {
		if err := sleep(ctx, min(l.o.Interval, l.o.CPUTime-time.Since(began))); err != nil {
			return err
		}
		l.sampleAll()
	}
	wall := time.Since(began).Seconds()
	var total float64
	for _, r := range l.rows {
		total += float64(r.last.CPU.Usage.Total - r.base.CPU.Usage.Total)
	}
	for _, r := range l.rows {
		used := float64(r.last.CPU.Usage.Total - r.base.CPU.Usage.Total)
		if total > 0 {
			r.CPUShare = 100 * used / total
		}
		r.CPUs = used / 1e9 / wall
		t, b := r.last.CPU.Throttling, r.base.CPU.Throttling
		r.Periods, r.ThrottledPeriods = t.Periods-b.Periods, t.ThrottledPeriods-b.ThrottledPeriods
		r.ThrottledTime = time.Duration(t.ThrottledTime - b.ThrottledTime)
	}
	// The peaks so far were the busy loops'; the memory phase measures anew.
	for _, r := range l.rows {
		r.PeakMemory = 0
	}
	return l.stopAll()
}

// allocate is an awk program that fills memory a mebibyte string at a
// time: one copy per MiB, where a pipe into tail costs two copies and a
// system call per 64 KiB (ten times slower in an emulated machine).
const allocate = `BEGIN { s = sprintf("%%1048576s", ""); for (i = 0; %s; i++) a[i] = s; %s }`

// holdArgs holds b bytes (whole MiB) until the container is stopped.
func holdArgs(b int64) []string {
	return []string{"sh", "-c", "exec awk '" + fmt.Sprintf(allocate, fmt.Sprintf("i < %d", b>>20), `system("exec sleep 3600")`) + "'"}
}

// grow allocates until the kernel kills it; the shell then stays, so that
// the container's cgroup does too: with the systemd driver, a scope whose
// last process has exited goes away at once, and the OOM kill recorded in
// its memory.events with it.
var grow = []string{"sh", "-c", "awk '" + fmt.Sprintf(allocate, "1", "") + "'; exec sleep 3600"}

func (l *lab) memoryPhase(ctx context.Context) error {
	l.progress("memory pressure: %s is the limit of %s; the containers with limits hold memory, the others allocate until the kernel kills something",
		human(l.o.NodeMemory), l.kubepods())
	var holders, growers []*labRow
	for _, r := range l.rows {
		if r.hold > 0 {
			holders = append(holders, r)
		} else {
			growers = append(growers, r)
		}
	}
	if err := l.createAll("mem", func(r *labRow) []string {
		if r.hold > 0 {
			return holdArgs(r.hold)
		}
		return grow
	}); err != nil {
		return err
	}
	l.beginPhase(PhaseMemory)
	if err := l.start(holders); err != nil {
		return err
	}
	// Let the holders fill up and go idle before the others push: a
	// BestEffort container (cpu.weight 1) next to a busy one barely gets
	// to start. Bounded: a slow machine only makes the lesson less clean.
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		prev := make([]uint64, len(holders))
		for i, r := range holders {
			prev[i] = r.last.CPU.Usage.Total
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
		l.sampleAll()
		full := true
		for i, r := range holders {
			filled := r.last.Memory.Usage.Usage >= uint64(r.hold)*19/20 && r.last.CPU.Usage.Total-prev[i] < uint64(5*time.Millisecond)
			if !filled && r.last.OOMKills == r.base.OOMKills {
				full = false
			}
		}
		if full {
			break
		}
	}
	l.res.PressureSeconds = time.Since(l.phaseStart).Seconds()
	if err := l.start(growers); err != nil {
		return err
	}
	for _, r := range l.rows {
		r.OOMScoreAdjRead = readOOMScoreAdj(r.handle.Pid)
	}
	began := time.Now()
	check := func() bool { // sample; true when every grower has been OOM-killed
		l.sampleAll()
		all := len(growers) > 0
		for _, r := range l.rows {
			r.OOMKills = r.last.OOMKills - r.base.OOMKills
			if r.OOMKills > 0 && r.FirstOOM == 0 {
				r.FirstOOM = max(time.Since(began), time.Millisecond)
			}
		}
		for _, r := range growers {
			all = all && r.OOMKills > 0
		}
		return all
	}
	for time.Since(began) < l.o.MemoryTime {
		if err := sleep(ctx, min(l.o.Interval, l.o.MemoryTime-time.Since(began))); err != nil {
			return err
		}
		if check() {
			// One more interval, so that a kill right behind shows too.
			if err := sleep(ctx, l.o.Interval); err != nil {
				return err
			}
			check()
			break
		}
	}
	check()
	return l.stopAll()
}

// capSysResource is CAP_SYS_RESOURCE's bit: it lets a process lower an
// oom_score_adj.
const capSysResource = 24

// oomFloor is the lowest oom_score_adj a container started by this process
// can have: any with CAP_SYS_RESOURCE, else no lower than this process's.
func oomFloor() int {
	data, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "CapEff:"); ok {
				if eff, err := strconv.ParseUint(strings.TrimSpace(rest), 16, 64); err == nil && eff&(1<<capSysResource) != 0 {
					return -1000
				}
			}
		}
	}
	if own := readOOMScoreAdj(os.Getpid()); own != -1001 {
		return own
	}
	return -1000
}

func readOOMScoreAdj(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid))
	if err != nil {
		return -1001
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return -1001
	}
	return n
}
