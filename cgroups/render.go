package cgroups

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Validate checks every field of res without changing anything: ranges,
// formats, device rules that could not take effect, unified keys that are not
// cgroup v2 files, and CPUs or memory nodes the host does not have online
// (the only thing it reads). Errors name the field:
//
//	linux.resources.memory.limit: -5 is negative (...)
//	linux.resources.cpu.quota: 500 is below the minimum of 1000
//
// Whether a valid field can be applied on this host (a v1-only knob on a v2
// host, a controller that is not mounted) is New's question; V1Values and
// V2Values answer it per cgroup version.
func Validate(res *specs.LinuxResources) error {
	_, err := Check(res)
	return err
}

// Checked is linux.resources that Check has accepted, with the device rules
// it built on the way. Begin takes it instead of the resources, so that a
// container's resources are checked, and its device rules built, once.
type Checked struct {
	res   *specs.LinuxResources
	rules []DeviceRule
}

// Check is Validate keeping what it computed, for Begin and Values.
func Check(res *specs.LinuxResources) (*Checked, error) {
	rules, err := checkStatic(res)
	if err != nil {
		return nil, err
	}
	if res != nil && res.CPU != nil {
		if err := checkOnline(fCPU+".cpus", res.CPU.Cpus, "CPU", "/sys/devices/system/cpu/online"); err != nil {
			return nil, err
		}
		if err := checkOnline(fCPU+".mems", res.CPU.Mems, "memory node", "/sys/devices/system/node/online"); err != nil {
			return nil, err
		}
	}
	return &Checked{res: res, rules: rules}, nil
}

// Resources is what was checked.
func (c *Checked) Resources() *specs.LinuxResources { return c.res }

// Values renders the checked resources for a host of the given layout, as
// V2Values (unified) or V1Values (otherwise) would, without checking them
// again.
func (c *Checked) Values(mode Mode) ([]Setting, error) {
	if mode == Unified {
		return v2Values(c.res)
	}
	return v1Values(c.res, c.rules)
}

// validateStatic is Validate without looking at the host.
func validateStatic(res *specs.LinuxResources) error {
	_, err := checkStatic(res)
	return err
}

// checkStatic is validateStatic returning the device rules it built (the
// defaults alone when res is nil).
func checkStatic(res *specs.LinuxResources) ([]DeviceRule, error) {
	rules, err := DeviceRules(devicesOf(res))
	if err != nil || res == nil {
		return rules, err
	}
	for _, check := range []func() error{
		func() error { return validateMemory(res.Memory) },
		func() error { return validateCPU(res.CPU) },
		func() error { return validatePids(res.Pids) },
		func() error { return validateBlockIO(res.BlockIO) },
		func() error { return validateHugetlb(res.HugepageLimits) },
		func() error { return validateNetwork(res.Network) },
		func() error { return validateRdma(res.Rdma) },
		func() error { return validateUnified(res.Unified) },
	} {
		if err := check(); err != nil {
			return nil, err
		}
	}
	return rules, nil
}

// V1Values renders res as the cgroup v1 writes New makes, in order:
// devices first (deny-all, the config's rules, runc's defaults; present
// even when res is nil, as in runc), then memory, cpu and cpuset, pids,
// blkio, hugetlb, net_cls and net_prio, rdma. Fields v1 cannot express
// (linux.resources.unified) are refused.
func V1Values(res *specs.LinuxResources) ([]Setting, error) {
	return renderV1(res, true)
}

func renderV1(res *specs.LinuxResources, withDevices bool) ([]Setting, error) {
	rules, err := checkStatic(res)
	if err != nil {
		return nil, err
	}
	if !withDevices {
		rules = nil
	}
	return v1Values(res, rules)
}

// v1Values is V1Values of checked resources, with their device rules (none
// written when rules is nil).
func v1Values(res *specs.LinuxResources, rules []DeviceRule) ([]Setting, error) {
	if res == nil {
		res = &specs.LinuxResources{}
	}
	if len(res.Unified) > 0 {
		return nil, unsupportedf(fUnified, "cgroup v2 files cannot be set on a cgroup v1 host")
	}
	var out []Setting
	if rules != nil {
		out = append(out, devicesV1(rules)...)
	}
	mem, err := memoryV1(res.Memory)
	if err != nil {
		return nil, err
	}
	out = append(out, mem...)
	out = append(out, cpuV1(res.CPU)...)
	out = append(out, pidsSettings(res.Pids)...)
	out = append(out, blkioV1(res.BlockIO)...)
	out = append(out, hugetlbSettings(res.HugepageLimits, false)...)
	out = append(out, networkV1(res.Network)...)
	out = append(out, rdmaSettings(res.Rdma)...)
	return out, nil
}

// V2Values renders res as the cgroup v2 writes New makes, in runc's order:
// pids, memory, io, cpu and cpuset, hugetlb, rdma, then unified keys. Device
// rules are not files on v2; New attaches DeviceFilter(DeviceRules(...))
// instead. Fields v2 cannot express are refused.
func V2Values(res *specs.LinuxResources) ([]Setting, error) {
	if err := validateStatic(res); err != nil {
		return nil, err
	}
	return v2Values(res)
}

// v2Values is V2Values of checked resources.
func v2Values(res *specs.LinuxResources) ([]Setting, error) {
	if res == nil {
		return nil, nil
	}
	if err := networkV2(res.Network); err != nil {
		return nil, err
	}
	var out []Setting
	out = append(out, pidsSettings(res.Pids)...)
	mem, err := memoryV2(res.Memory)
	if err != nil {
		return nil, err
	}
	out = append(out, mem...)
	io, err := ioV2(res.BlockIO)
	if err != nil {
		return nil, err
	}
	out = append(out, io...)
	cpu, err := cpuV2(res.CPU)
	if err != nil {
		return nil, err
	}
	out = append(out, cpu...)
	out = append(out, hugetlbSettings(res.HugepageLimits, true)...)
	out = append(out, rdmaSettings(res.Rdma)...)
	uni := unifiedSettings(res.Unified)
	if err := checkUnifiedConflicts(out, uni); err != nil {
		return nil, err
	}
	return append(out, uni...), nil
}
