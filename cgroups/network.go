package cgroups

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const fNetwork = "linux.resources.network"

func validateNetwork(n *specs.LinuxNetwork) error {
	if n == nil {
		return nil
	}
	for i, p := range n.Priorities {
		if p.Name == "" || strings.ContainsAny(p.Name, " \t\n/") || len(p.Name) > 15 {
			return invalidf(fmt.Sprintf("%s.priorities[%d].name", fNetwork, i), "%q is not an interface name", p.Name)
		}
	}
	return nil
}

// networkV1 renders net_cls.classid (a tc class handle 0xAAAABBBB, written
// in decimal) and net_prio.ifpriomap lines ("eth0 5"), one per write.
func networkV1(n *specs.LinuxNetwork) []Setting {
	if n == nil {
		return nil
	}
	var out []Setting
	if n.ClassID != nil {
		out = append(out, Setting{Field: fNetwork + ".classID", Controller: "net_cls", File: "net_cls.classid", Value: utoa(uint64(*n.ClassID))})
	}
	for i, p := range n.Priorities {
		out = append(out, Setting{Field: fmt.Sprintf("%s.priorities[%d]", fNetwork, i), Controller: "net_prio", File: "net_prio.ifpriomap", Value: fmt.Sprintf("%s %d", p.Name, p.Priority)})
	}
	return out
}

// networkV2 refuses: cgroup v2 has no net_cls or net_prio. Traffic is
// classified by cgroup path instead (nftables "socket cgroupv2", eBPF).
func networkV2(n *specs.LinuxNetwork) error {
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		return unsupportedf(fNetwork+".classID", "cgroup v2 has no net_cls controller; match the cgroup path in nftables (socket cgroupv2) or eBPF instead")
	}
	if len(n.Priorities) > 0 {
		return unsupportedf(fNetwork+".priorities", "cgroup v2 has no net_prio controller; set priorities with nftables (socket cgroupv2) or eBPF instead")
	}
	return nil
}
