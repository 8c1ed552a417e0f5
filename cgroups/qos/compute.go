package qos

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups"
)

// Node is the machine the pod runs on, as far as the formulas care.
type Node struct {
	// MilliCPU is the node's CPU capacity in millicores.
	MilliCPU int64
	// Memory is the node's memory in bytes: the capacity in the Burstable
	// oom_score_adj, and the allocatable memory that bounds memory.high for
	// a container without a memory limit (no reservations are modeled).
	Memory int64
}

// KubepodsRoot is the kubelet's top cgroup for pods with the cgroupfs
// driver (--cgroup-root / plus the "kubepods" node-allocatable cgroup).
const KubepodsRoot = "/kubepods"

// Report is everything the explorer shows for one pod.
type Report struct {
	Pod          string  `json:"pod"`
	Namespace    string  `json:"namespace"`
	UID          string  `json:"uid"`
	UIDGenerated bool    `json:"uidGenerated,omitempty"`
	Class        Class   `json:"qosClass"`
	Node         NodeOut `json:"node"`
	// Requests and Limits are the pod's effective totals (cpu, memory):
	// what the scheduler counts and the pod cgroup is sized from.
	Requests   map[string]string `json:"requests"`
	Limits     map[string]string `json:"limits"`
	Cgroup     CgroupValues      `json:"cgroup"`
	Containers []ContainerReport `json:"containers"`
	Notes      []string          `json:"notes,omitempty"`
	// Driver is the cgroup driver the paths are for (Cgroup.Path and the
	// containers' paths), and DriverReason why it was chosen.
	Driver       Driver `json:"cgroupDriver"`
	DriverReason string `json:"cgroupDriverReason,omitempty"`
	// Drivers is the pod's cgroup with each driver.
	Drivers Drivers `json:"drivers"`
}

// NodeOut is the node the values were computed for.
type NodeOut struct {
	CPU         string `json:"cpu"`
	Memory      string `json:"memory"`
	MemoryBytes int64  `json:"memoryBytes"`
}

// ContainerReport is one container's resources and cgroup.
type ContainerReport struct {
	Name string `json:"name"`
	// Type is "container", "init" or "sidecar".
	Type string `json:"type"`
	// ID names the container's cgroup. A container runtime picks a random
	// 64-hex-digit id; this one is derived from the pod uid and the name so
	// that the output is reproducible.
	ID string `json:"id"`
	// Requests and Limits are after the API server's defaulting (a request
	// left out is the limit).
	Requests    map[string]string `json:"requests"`
	Limits      map[string]string `json:"limits"`
	Cgroup      CgroupValues      `json:"cgroup"`
	OOMScoreAdj int               `json:"oomScoreAdj"`
	// CgroupsPath is the linux.cgroupsPath the runtime receives with the
	// report's driver; Drivers has the cgroup with each driver.
	CgroupsPath string  `json:"cgroupsPath"`
	Drivers     Drivers `json:"drivers"`
}

// CgroupValues are the values of one cgroup. Zero means "not written",
// which reads back as the kernel's default (cpu.max "max 100000",
// memory.max "max", memory.min "0", memory.high "max").
type CgroupValues struct {
	Path string `json:"path"`
	// CPUShares is the v1 cpu.shares the kubelet computes; cgroup v2 gets it
	// converted to cpu.weight.
	CPUShares uint64 `json:"cpu.shares"`
	// Linear is true where the kubelet converts cpu.shares itself with the
	// linear formula (the pod cgroup); false where the OCI runtime does
	// (containers; runc 1.3.2 and later use the quadratic one).
	Linear bool `json:"-"`
	// CPUQuota is the CFS quota in microseconds per CPUPeriod; 0 is none.
	CPUQuota  int64  `json:"cpuQuota,omitempty"`
	CPUPeriod uint64 `json:"cpuPeriod"`
	// MemoryLimit, MemoryMin and MemoryHigh are bytes; 0 is not written.
	MemoryLimit int64 `json:"memoryLimit,omitempty"`
	MemoryMin   int64 `json:"memoryMinBytes,omitempty"`
	MemoryHigh  int64 `json:"memoryHighBytes,omitempty"`
}

// WeightQuadratic is cpu.weight by runc's current (quadratic) conversion.
func (v CgroupValues) WeightQuadratic() uint64 { return cgroups.CPUSharesToWeight(v.CPUShares) }

// WeightLinear is cpu.weight by the older linear conversion.
func (v CgroupValues) WeightLinear() uint64 { return cgroups.CPUSharesToWeightLinear(v.CPUShares) }

// Weight is the cpu.weight that is written.
func (v CgroupValues) Weight() uint64 {
	if v.Linear {
		return v.WeightLinear()
	}
	return v.WeightQuadratic()
}

// CPUMax is the cpu.max file: "quota period" or "max period".
func (v CgroupValues) CPUMax() string {
	if v.CPUQuota == 0 {
		return fmt.Sprintf("max %d", v.CPUPeriod)
	}
	return fmt.Sprintf("%d %d", v.CPUQuota, v.CPUPeriod)
}

// MemoryMax is the memory.max file.
func (v CgroupValues) MemoryMax() string { return bytesOrDefault(v.MemoryLimit, "max") }

// MemoryMinFile is the memory.min file (MemoryQoS).
func (v CgroupValues) MemoryMinFile() string { return bytesOrDefault(v.MemoryMin, "0") }

// MemoryHighFile is the memory.high file (MemoryQoS).
func (v CgroupValues) MemoryHighFile() string { return bytesOrDefault(v.MemoryHigh, "max") }

func bytesOrDefault(n int64, def string) string {
	if n == 0 {
		return def
	}
	return strconv.FormatInt(n, 10)
}

// MarshalJSON names the values by the cgroup v2 files they end up in.
func (v CgroupValues) MarshalJSON() ([]byte, error) {
	type plain CgroupValues
	written := "quadratic"
	if v.Linear {
		written = "linear"
	}
	return marshalJSON(struct {
		plain
		Weight          uint64 `json:"cpu.weight"`
		WeightQuadratic uint64 `json:"cpu.weight.quadratic"`
		WeightLinear    uint64 `json:"cpu.weight.linear"`
		WeightWritten   string `json:"cpu.weight.formula"`
		CPUMax          string `json:"cpu.max"`
		MemoryMax       string `json:"memory.max"`
		MemoryMin       string `json:"memory.min"`
		MemoryHigh      string `json:"memory.high"`
	}{plain(v), v.Weight(), v.WeightQuadratic(), v.WeightLinear(), written, v.CPUMax(), v.MemoryMax(), v.MemoryMinFile(), v.MemoryHighFile()})
}

// amounts are a container's (or the pod's) CPU in millicores and memory in
// bytes; 0 is unset.
type amounts struct {
	cpu, mem int64
}

func (a amounts) add(b amounts) amounts { return amounts{a.cpu + b.cpu, a.mem + b.mem} }
func (a amounts) max(b amounts) amounts { return amounts{max(a.cpu, b.cpu), max(a.mem, b.mem)} }

// effective applies the API server's defaulting: a resource with a limit
// and no request gets the limit as its request.
func effective(c Container) (req, lim ResourceList) {
	req = ResourceList{}
	for k, v := range c.Resources.Requests {
		req[k] = v
	}
	for k, v := range c.Resources.Limits {
		if _, ok := req[k]; !ok {
			req[k] = v
		}
	}
	return req, c.Resources.Limits
}

func amountsOf(l ResourceList) amounts {
	var a amounts
	if q, ok := l["cpu"]; ok {
		a.cpu = q.MilliValue()
	}
	if q, ok := l["memory"]; ok {
		a.mem = q.Value()
	}
	return a
}

// containerClass is resourceQOS of pkg/apis/core/v1/helper/qos: Guaranteed
// when CPU and memory both have a request equal to a non-zero limit,
// BestEffort when neither has either, Burstable otherwise.
func containerClass(req, lim amounts) Class {
	if req.cpu != lim.cpu || req.mem != lim.mem {
		return Burstable
	}
	cpuNone, memNone := lim.cpu == 0, lim.mem == 0
	switch {
	case cpuNone && memNone:
		return BestEffort
	case !cpuNone && !memNone:
		return Guaranteed
	}
	return Burstable
}

// PodClass is the pod's QoS class (ComputePodQOS): the class every init
// and regular container has, or Burstable when they differ.
func PodClass(p *Pod) Class {
	var class Class
	for _, c := range append(append([]Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		req, lim := effective(c)
		cc := containerClass(amountsOf(req), amountsOf(lim))
		switch {
		case cc == Burstable:
			return Burstable
		case class == "":
			class = cc
		case class != cc:
			return Burstable
		}
	}
	if class == "" {
		return BestEffort
	}
	return class
}

// podTotals sums one side (requests or limits) over the pod the way
// k8s.io/component-helpers/resource does: regular containers and sidecars
// add up, and every other init container, which runs alone next to the
// sidecars started before it, sets a floor. each sees every container's
// (or init step's) amounts, as the kubelet's ContainerFn does.
func podTotals(p *Pod, side func(Container) amounts, each func(amounts)) (total, sum, initFloor amounts) {
	for _, c := range p.Spec.Containers {
		a := side(c)
		each(a)
		sum = sum.add(a)
	}
	var sidecars amounts
	for _, c := range p.Spec.InitContainers {
		a := side(c)
		if c.RestartPolicy == "Always" {
			sum = sum.add(a)
			sidecars = sidecars.add(a)
			a = sidecars
		} else {
			a = a.add(sidecars)
		}
		each(a)
		initFloor = initFloor.max(a)
	}
	return sum.max(initFloor), sum, initFloor
}

// Compute derives the pod's QoS class and every cgroup value.
func Compute(p *Pod, n Node) (*Report, error) {
	if err := Validate(p); err != nil {
		return nil, err
	}
	if n.Memory <= 0 {
		return nil, errors.New("node memory must be positive")
	}
	r := &Report{
		Pod: p.Metadata.Name, Namespace: p.Metadata.Namespace, UID: p.Metadata.UID,
		Class: PodClass(p),
		Node: NodeOut{
			CPU:    milli(n.MilliCPU),
			Memory: bytesQ(n.Memory), MemoryBytes: n.Memory,
		},
	}
	if r.Pod == "" {
		r.Pod = "pod"
	}
	if r.Namespace == "" {
		r.Namespace = "default"
	}
	if r.UID == "" {
		r.UID, r.UIDGenerated = nameUID(r.Namespace, r.Pod), true
	}

	// The pod cgroup (ResourceConfigForPod).
	cpuDeclared, memDeclared := true, true
	reqs, reqSum, reqInit := podTotals(p, func(c Container) amounts { req, _ := effective(c); return amountsOf(req) }, func(amounts) {})
	lims, _, _ := podTotals(p, func(c Container) amounts { return amountsOf(c.Resources.Limits) }, func(a amounts) {
		cpuDeclared = cpuDeclared && a.cpu != 0
		memDeclared = memDeclared && a.mem != 0
	})
	r.Requests, r.Limits = quantities(reqs), quantities(lims)
	podName := PodCgroupName(r.Class, r.UID)
	pod := CgroupValues{Path: podName.Cgroupfs(), Linear: true, CPUPeriod: QuotaPeriod}
	quota := MilliCPUToQuota(lims.cpu, QuotaPeriod)
	switch r.Class {
	case Guaranteed:
		pod.CPUShares, pod.CPUQuota, pod.MemoryLimit = MilliCPUToShares(reqs.cpu), quota, lims.mem
	case Burstable:
		pod.CPUShares = MilliCPUToShares(reqs.cpu)
		if cpuDeclared {
			pod.CPUQuota = quota
		}
		if memDeclared {
			pod.MemoryLimit = lims.mem
		}
	default:
		pod.CPUShares = MinShares
	}
	pod.MemoryMin = reqs.mem
	r.Cgroup = pod
	r.Drivers = Drivers{
		Cgroupfs: DriverNames{Path: podName.Cgroupfs()},
		Systemd:  DriverNames{Path: podName.Systemd(), Unit: podName.Slice(), Properties: UnitProperties(pod)},
	}

	// The containers (calculateLinuxResources, MemoryQoS, the OOM policy).
	minRegular := int64(-1)
	for _, c := range p.Spec.Containers {
		req, _ := effective(c)
		if m := amountsOf(req).mem; minRegular < 0 || m < minRegular {
			minRegular = m
		}
	}
	add := func(c Container, typ string) {
		req, lim := effective(c)
		ra, la := amountsOf(req), amountsOf(lim)
		cr := ContainerReport{
			Name: c.Name, Type: typ, ID: containerID(r.UID, c.Name),
			Requests: quantities(ra), Limits: quantities(la),
		}
		v := CgroupValues{CPUPeriod: QuotaPeriod}
		v.Path = pod.Path + "/" + cr.ID
		if ra.cpu == 0 && la.cpu != 0 {
			v.CPUShares = MilliCPUToShares(la.cpu)
		} else {
			v.CPUShares = MilliCPUToShares(ra.cpu)
		}
		v.CPUQuota = MilliCPUToQuota(la.cpu, QuotaPeriod)
		v.MemoryLimit = la.mem
		v.MemoryMin = ra.mem
		v.MemoryHigh = MemoryHigh(ra.mem, la.mem, n.Memory, MemoryThrottlingFactor)
		cr.Cgroup = v
		cr.Drivers = Drivers{
			Cgroupfs: DriverNames{Path: ContainerCgroupPath(Cgroupfs, podName, cr.ID), CgroupsPath: CgroupsPath(Cgroupfs, podName, cr.ID)},
			Systemd: DriverNames{Path: ContainerCgroupPath(Systemd, podName, cr.ID), CgroupsPath: CgroupsPath(Systemd, podName, cr.ID),
				Unit: ScopeUnit(cr.ID), Properties: UnitProperties(v)},
		}
		cr.CgroupsPath = cr.Drivers.Cgroupfs.CgroupsPath
		cr.OOMScoreAdj = OOMScoreAdj(r.Class, ra.mem, n.Memory, typ == "sidecar", minRegular)
		r.Containers = append(r.Containers, cr)
	}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy == "Always" {
			add(c, "sidecar")
		} else {
			add(c, "init")
		}
	}
	for _, c := range p.Spec.Containers {
		add(c, "container")
	}
	r.Notes = notes(p, r, n, reqs, reqSum, reqInit, cpuDeclared, memDeclared)
	r.Driver = Cgroupfs
	return r, nil
}

func notes(p *Pod, r *Report, n Node, reqs, sum, initFloor amounts, cpuDeclared, memDeclared bool) []string {
	var out []string
	if len(p.Spec.InitContainers) > 0 {
		out = append(out, fmt.Sprintf("pod requests = max(containers and sidecars added up, the largest init step with the sidecars before it): cpu max(%s, %s), memory max(%s, %s)",
			milli(sum.cpu), milli(initFloor.cpu), bytesQ(sum.mem), bytesQ(initFloor.mem)))
	}
	if r.Class == Burstable && !cpuDeclared {
		out = append(out, "the pod cgroup has no CPU quota: a container (or init step) has no CPU limit")
	}
	if r.Class == Burstable && !memDeclared {
		out = append(out, "the pod cgroup has no memory limit: a container (or init step) has no memory limit")
	}
	if n.MilliCPU > 0 && reqs.cpu > n.MilliCPU {
		out = append(out, fmt.Sprintf("the pod requests %s CPU but the node has %s: the scheduler would not place it here", r.Requests["cpu"], r.Node.CPU))
	}
	if reqs.mem > n.Memory {
		out = append(out, fmt.Sprintf("the pod requests %s of memory but the node has %s: the scheduler would not place it here", r.Requests["memory"], r.Node.Memory))
	}
	return out
}

// PodCgroupPath is the pod's cgroup with the kubelet's cgroupfs driver:
// Guaranteed pods directly under kubepods, the others under their class.
func PodCgroupPath(c Class, uid string) string { return PodCgroupName(c, uid).Cgroupfs() }

// nameUID makes a stable UUID (version 5 layout) from the pod's name, for
// manifests without metadata.uid (the API server assigns a random one).
func nameUID(namespace, name string) string {
	h := sha1.Sum([]byte("miniruntime-qos/" + namespace + "/" + name))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func containerID(uid, name string) string {
	h := sha256.Sum256([]byte(uid + "/" + name))
	return hex.EncodeToString(h[:])
}

func quantities(a amounts) map[string]string {
	out := map[string]string{}
	if a.cpu != 0 {
		out["cpu"] = milli(a.cpu)
	}
	if a.mem != 0 {
		out["memory"] = bytesQ(a.mem)
	}
	return out
}

// human is a byte count for a person: 97.2Mi, 23.5Gi.
func human(b int64) string {
	units := []struct {
		suffix string
		size   float64
	}{{"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}}
	for _, u := range units {
		if float64(b) >= u.size {
			s := strconv.FormatFloat(float64(b)/u.size, 'f', 1, 64)
			return strings.TrimSuffix(s, ".0") + u.suffix
		}
	}
	return strconv.FormatInt(b, 10)
}

// HostNode describes this machine: its CPUs and MemTotal from /proc/meminfo.
func HostNode() (Node, error) {
	n := Node{MilliCPU: int64(goruntime.NumCPU()) * 1000}
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return n, fmt.Errorf("node memory: %w", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					n.Memory = kb * 1024
					return n, nil
				}
			}
		}
	}
	return n, errors.New("node memory: no MemTotal in /proc/meminfo; give --node-memory")
}
