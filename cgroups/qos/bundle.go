package qos

import (
	"errors"
	"fmt"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Container returns the report of the container named name, or of the
// first regular container when name is empty.
func (r *Report) Container(name string) (*ContainerReport, error) {
	var names []string
	for i := range r.Containers {
		c := &r.Containers[i]
		if (name == "" && c.Type == "container") || (name != "" && c.Name == name) {
			return c, nil
		}
		names = append(names, c.Name)
	}
	return nil, fmt.Errorf("--container: %w %q in pod %s (it has: %v)", errNoContainer, name, r.Pod, names)
}

// ApplyToSpec writes a container's values into an OCI spec the way
// containerd's CRI plugin turns what the kubelet sends into config.json:
// linux.resources.cpu.shares, .quota and .period, memory.limit,
// process.oomScoreAdj and linux.cgroupsPath (the report's driver's: with
// systemd, "slice:prefix:name", for a runtime run with --systemd-cgroup).
// With v2 (the host is cgroup
// v2) the MemoryQoS files go to linux.resources.unified too; on v1 they are
// left out, since a v1 host cannot take unified keys. Values the kubelet
// would not write are cleared, so that applying twice gives the same
// config. It returns one line per field, for the person to read.
func ApplyToSpec(s *specs.Spec, c *ContainerReport, v2 bool) ([]string, error) {
	if s.Process == nil {
		return nil, errors.New("config.json has no process: oomScoreAdj needs one")
	}
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	res := s.Linux.Resources
	v := c.Cgroup
	var out []string
	set := func(field string, value any) { out = append(out, fmt.Sprintf("%-40s %v", field, value)) }

	s.Linux.CgroupsPath = c.CgroupsPath
	set("linux.cgroupsPath", c.CgroupsPath)
	adj := c.OOMScoreAdj
	s.Process.OOMScoreAdj = &adj
	set("process.oomScoreAdj", adj)

	if res.CPU == nil {
		res.CPU = &specs.LinuxCPU{}
	}
	shares, period := v.CPUShares, v.CPUPeriod
	res.CPU.Shares, res.CPU.Period = &shares, &period
	set("linux.resources.cpu.shares", shares)
	set("linux.resources.cpu.period", period)
	if v.CPUQuota != 0 {
		q := v.CPUQuota
		res.CPU.Quota = &q
		set("linux.resources.cpu.quota", q)
	} else {
		res.CPU.Quota = nil
		set("linux.resources.cpu.quota", "(none: no CPU limit)")
	}
	if v.MemoryLimit != 0 {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		l := v.MemoryLimit
		res.Memory.Limit = &l
		set("linux.resources.memory.limit", l)
	} else {
		if res.Memory != nil {
			res.Memory.Limit = nil
		}
		set("linux.resources.memory.limit", "(none: no memory limit)")
	}

	delete(res.Unified, "memory.min")
	delete(res.Unified, "memory.high")
	unified := map[string]int64{"memory.min": v.MemoryMin, "memory.high": v.MemoryHigh}
	for _, k := range []string{"memory.min", "memory.high"} {
		field := fmt.Sprintf("linux.resources.unified[%q]", k)
		switch {
		case unified[k] == 0:
			set(field, "(not written)")
		case !v2:
			set(field, "(left out: this host is cgroup v1)")
		default:
			if res.Unified == nil {
				res.Unified = map[string]string{}
			}
			res.Unified[k] = strconv.FormatInt(unified[k], 10)
			set(field, res.Unified[k])
		}
	}
	if len(res.Unified) == 0 {
		res.Unified = nil
	}
	return out, nil
}
