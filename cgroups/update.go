package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update changes the limits of a running container (runc update). Only the
// fields set in res are written; nil fields keep their current values, and
// device rules are replaced only when res.Devices is not nil. On v1 the
// device cgroup moves to the new rules by the smallest set of writes that
// never denies everything in between; on v2 the new filter is attached
// before the old one is detached.
//
// memory.checkBeforeUpdate refuses a memory limit at or below what the
// container already uses, instead of letting the kernel reclaim or kill.
func (m *Manager) Update(res *specs.LinuxResources) error {
	if res == nil {
		return nil
	}
	if err := Validate(res); err != nil {
		return err
	}
	var (
		settings []Setting
		prog     *DeviceProgram
		err      error
	)
	if m.h.mode == Unified {
		r := *res
		if c := r.CPU; c != nil && c.Period != nil && c.Quota == nil {
			// cpu.max takes "$QUOTA $PERIOD": keep the current quota.
			cpu := *c
			q, err := m.currentQuota()
			if err != nil {
				return &FieldError{Field: fCPU + ".period", Err: err}
			}
			cpu.Quota = &q
			r.CPU = &cpu
		}
		if settings, err = V2Values(&r); err != nil {
			return err
		}
		if res.Devices != nil {
			rules, err := DeviceRules(res.Devices)
			if err != nil {
				return err
			}
			if prog, err = DeviceFilter(rules); err != nil {
				return err
			}
		}
	} else {
		if settings, err = renderV1(res, false); err != nil {
			return err
		}
		if res.Devices != nil {
			dev, err := m.devicesUpdate(res.Devices)
			if err != nil {
				return err
			}
			settings = append(dev, settings...)
		}
	}
	for _, s := range settings {
		if _, err := m.dirFor(s); err != nil {
			return err
		}
	}
	if err := m.checkBeforeUpdate(res.Memory); err != nil {
		return err
	}
	if m.h.mode == Unified {
		want, err := m.wantControllers(settings)
		if err != nil {
			return err
		}
		if err := m.enableControllers(want); err != nil {
			return err
		}
	}
	if m.sd != nil {
		// The unit's properties first, as runc does: systemd rewrites
		// the files it owns from them.
		if settings, err = m.updateUnit(settings); err != nil {
			return err
		}
	}
	if err := m.w.apply(settings, m.dirFor); err != nil {
		return err
	}
	if prog != nil {
		return m.w.attachDeviceFilter(m.dir(m.h.hier[0]), prog)
	}
	return nil
}

// devicesUpdate computes the v1 writes from the current devices.list to the
// new rules.
func (m *Manager) devicesUpdate(devs []specs.LinuxDeviceCgroup) ([]Setting, error) {
	rules, err := DeviceRules(devs)
	if err != nil {
		return nil, err
	}
	target, err := emulate(rules)
	if err != nil {
		return nil, err
	}
	x, ok := m.h.controllerHier("devices")
	if !ok {
		return nil, unsupportedf(fDevices, "the devices controller is not mounted")
	}
	data, err := os.ReadFile(filepath.Join(m.dir(x), "devices.list"))
	if err != nil {
		return nil, &FieldError{Field: fDevices, Err: err}
	}
	cur, err := parseDevicesList(string(data))
	if err != nil {
		return nil, &FieldError{Field: fDevices, Err: err}
	}
	return devicesTransition(cur, target), nil
}

// currentQuota reads the quota half of v2's cpu.max (-1 for "max").
func (m *Manager) currentQuota() (int64, error) {
	v, err := readTrim(filepath.Join(m.dir(m.h.hier[0]), "cpu.max"))
	if err != nil {
		return 0, err
	}
	q, _, _ := strings.Cut(v, " ")
	if q == "max" {
		return -1, nil
	}
	return strconv.ParseInt(q, 10, 64)
}

func (m *Manager) checkBeforeUpdate(mem *specs.LinuxMemory) error {
	if mem == nil || mem.CheckBeforeUpdate == nil || !*mem.CheckBeforeUpdate {
		return nil
	}
	file := "memory.current"
	dir := m.dir(m.h.hier[0])
	if m.h.mode != Unified {
		x, ok := m.h.controllerHier("memory")
		if !ok {
			return unsupportedf(fMemory+".checkBeforeUpdate", "the memory controller is not mounted")
		}
		dir, file = m.dir(x), "memory.usage_in_bytes"
	}
	v, err := readTrim(filepath.Join(dir, file))
	if err != nil {
		return &FieldError{Field: fMemory + ".checkBeforeUpdate", Err: err}
	}
	usage, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return &FieldError{Field: fMemory + ".checkBeforeUpdate", Err: fmt.Errorf("parse %s: %w", file, err)}
	}
	if l := mem.Limit; l != nil && *l > 0 && *l <= usage {
		return invalidf(fMemory+".limit", "%d is not above the current usage of %d bytes (checkBeforeUpdate)", *l, usage)
	}
	if s := mem.Swap; s != nil && *s > 0 && *s <= usage {
		return invalidf(fMemory+".swap", "%d is not above the current usage of %d bytes (checkBeforeUpdate)", *s, usage)
	}
	return nil
}
