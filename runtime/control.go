package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The operations here act on a live container through its cgroup.

// Pause freezes every process of a running container.
func (c *Container) Pause(rec *trace.Recorder) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	switch st := c.Status(); st {
	case Running:
	case Paused:
		return fmt.Errorf("container is already paused")
	default:
		return fmt.Errorf("%w: %s", ErrNotRunning, st)
	}
	cg, err := c.cgroup(rec)
	if err != nil {
		return err
	}
	return cg.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume(rec *trace.Recorder) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st != Paused {
		return fmt.Errorf("container is not paused: %s", st)
	}
	cg, err := c.cgroup(rec)
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Processes lists the host pids of every process in the container.
func (c *Container) Processes() ([]int, error) {
	if c.Status() == Stopped && !c.SharedPidNS {
		return []int{}, nil
	}
	cg, err := c.cgroup(nil)
	if err != nil {
		return nil, err
	}
	pids, err := cg.Pids()
	if pids == nil {
		pids = []int{}
	}
	return pids, err
}

// Stats reads the container's cgroup statistics.
func (c *Container) Stats() (*cgroups.Stats, error) {
	cg, err := c.cgroup(nil)
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// Update changes the resource limits of a created, running or paused
// container, and records them in the frozen config so that the state dir
// keeps describing the container as it is.
func (c *Container) Update(res *specs.LinuxResources, rec *trace.Recorder) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.Status(); st == Stopped {
		return fmt.Errorf("%w: cannot update a stopped container", ErrNotRunning)
	}
	if err := cgroups.Validate(res); err != nil {
		return err
	}
	cg, err := c.cgroup(rec)
	if err != nil {
		return err
	}
	if err := cg.Update(res); err != nil {
		return err
	}
	spec, err := c.Spec()
	if err != nil {
		return err
	}
	spec.Linux.Resources = mergeResources(spec.Linux.Resources, res)
	b, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(c.dir, configFile), b, 0o600)
}

// mergeResources lays the fields set in upd over old, section by section,
// the way runc's update does.
func mergeResources(old, upd *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		old = &specs.LinuxResources{}
	}
	out := *old
	if upd.Memory != nil {
		m := specs.LinuxMemory{}
		if old.Memory != nil {
			m = *old.Memory
		}
		setIf(&m.Limit, upd.Memory.Limit)
		setIf(&m.Reservation, upd.Memory.Reservation)
		setIf(&m.Swap, upd.Memory.Swap)
		setIf(&m.Kernel, upd.Memory.Kernel)
		setIf(&m.KernelTCP, upd.Memory.KernelTCP)
		out.Memory = &m
	}
	if upd.CPU != nil {
		cpu := specs.LinuxCPU{}
		if old.CPU != nil {
			cpu = *old.CPU
		}
		setIf(&cpu.Shares, upd.CPU.Shares)
		setIf(&cpu.Quota, upd.CPU.Quota)
		setIf(&cpu.Period, upd.CPU.Period)
		setIf(&cpu.Burst, upd.CPU.Burst)
		setIf(&cpu.RealtimeRuntime, upd.CPU.RealtimeRuntime)
		setIf(&cpu.RealtimePeriod, upd.CPU.RealtimePeriod)
		if upd.CPU.Cpus != "" {
			cpu.Cpus = upd.CPU.Cpus
		}
		if upd.CPU.Mems != "" {
			cpu.Mems = upd.CPU.Mems
		}
		out.CPU = &cpu
	}
	if upd.Pids != nil {
		out.Pids = upd.Pids
	}
	if upd.BlockIO != nil {
		out.BlockIO = upd.BlockIO
	}
	if upd.Devices != nil {
		out.Devices = upd.Devices
	}
	if upd.HugepageLimits != nil {
		out.HugepageLimits = upd.HugepageLimits
	}
	if upd.Unified != nil {
		out.Unified = upd.Unified
	}
	return &out
}

func setIf[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

// ReadResources parses LinuxResources JSON from a file, or from stdin for
// "-" (containerd's shim pipes it in).
func ReadResources(path string) (*specs.LinuxResources, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("--resources %s: %w", path, err)
	}
	var res specs.LinuxResources
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("--resources %s: %s", path, jsonErr(raw, err))
	}
	return &res, nil
}
