package cgroups

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const fRdma = "linux.resources.rdma"

func validateRdma(r map[string]specs.LinuxRdma) error {
	for dev, l := range r {
		f := fmt.Sprintf("%s[%q]", fRdma, dev)
		if dev == "" || strings.ContainsAny(dev, " \t\n=") {
			return invalidf(f, "%q is not an RDMA device name", dev)
		}
		if l.HcaHandles == nil && l.HcaObjects == nil {
			return invalidf(f, "sets neither hcaHandles nor hcaObjects")
		}
	}
	return nil
}

// rdmaSettings renders one rdma.max line per device, sorted by name so the
// order does not depend on map iteration. Same file on v1 and v2.
func rdmaSettings(r map[string]specs.LinuxRdma) []Setting {
	devs := make([]string, 0, len(r))
	for dev := range r {
		devs = append(devs, dev)
	}
	slices.Sort(devs)
	var out []Setting
	for _, dev := range devs {
		l := r[dev]
		v := dev
		if l.HcaHandles != nil {
			v += fmt.Sprintf(" hca_handle=%d", *l.HcaHandles)
		}
		if l.HcaObjects != nil {
			v += fmt.Sprintf(" hca_object=%d", *l.HcaObjects)
		}
		out = append(out, Setting{Field: fmt.Sprintf("%s[%q]", fRdma, dev), Controller: "rdma", File: "rdma.max", Value: v})
	}
	return out
}
