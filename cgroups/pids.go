package cgroups

import specs "github.com/opencontainers/runtime-spec/specs-go"

const fPids = "linux.resources.pids.limit"

func validatePids(p *specs.LinuxPids) error {
	if p == nil || p.Limit == nil || *p.Limit >= -1 {
		return nil
	}
	return invalidf(fPids, "%d is negative (only -1, meaning no limit, is allowed)", *p.Limit)
}

// pidsSettings renders pids.max, which has the same name and syntax on v1
// and v2. 0 is written as 0: no new process may start in the cgroup (runc
// writes 1 to match systemd's TasksMax, which cannot be 0; with the init
// already inside, both forbid every fork).
func pidsSettings(p *specs.LinuxPids) []Setting {
	if p == nil || p.Limit == nil {
		return nil
	}
	return []Setting{{Field: fPids, Controller: "pids", File: "pids.max", Value: maxOr(*p.Limit)}}
}
