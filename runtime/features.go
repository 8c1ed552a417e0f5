package runtime

import (
	"sort"

	"github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features describes what this build supports, for `miniruntime features`
// (the runtime-spec features document). It is derived from the same tables
// that validation and the init use, so it cannot drift from them.
func Features() features.Features {
	yes, no := true, false
	var mountOpts []string
	for o := range flagOpts {
		mountOpts = append(mountOpts, o)
	}
	for o := range propagationOpts {
		mountOpts = append(mountOpts, o)
	}
	for o := range recursiveAttrs {
		mountOpts = append(mountOpts, o)
	}
	mountOpts = append(mountOpts, "bind", "rbind")
	sort.Strings(mountOpts)
	var nss []string
	for t := range nsTypes {
		nss = append(nss, string(t))
	}
	sort.Strings(nss)
	var caps []string
	for c := range capNames {
		caps = append(caps, c)
	}
	sort.Strings(caps)
	var hooks []string
	for _, h := range hookSets(&specs.Hooks{}) {
		hooks = append(hooks, h.name)
	}
	major, _, _ := seccomp.Version()
	sc := &features.Seccomp{Enabled: &no}
	if major > 0 {
		sc = &features.Seccomp{
			Enabled: &yes,
			Actions: []string{"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
				"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"},
			Operators: []string{"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
				"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"},
			Archs: []string{"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"},
		}
	}
	aa := appArmorEnabled()
	return features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         hooks,
		MountOptions:  mountOpts,
		Linux: &features.Linux{
			Namespaces:      nss,
			Capabilities:    caps,
			Cgroup:          &features.Cgroup{V1: &yes, V2: &yes, Systemd: &yes, SystemdUser: &no, Rdma: &yes},
			Seccomp:         sc,
			Apparmor:        &features.Apparmor{Enabled: &aa},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &no}},
		},
	}
}
