package cgroups

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const fHugetlb = "linux.resources.hugepageLimits"

func validateHugetlb(limits []specs.LinuxHugepageLimit) error {
	seen := map[string]bool{}
	for i, l := range limits {
		f := fmt.Sprintf("%s[%d].pageSize", fHugetlb, i)
		if !validPageSize(l.Pagesize) {
			return invalidf(f, "%q is not a size such as 2MB or 1GB", l.Pagesize)
		}
		if seen[l.Pagesize] {
			return invalidf(f, "%q is listed twice", l.Pagesize)
		}
		seen[l.Pagesize] = true
	}
	return nil
}

// validPageSize accepts the kernel's file-name spelling: digits then KB, MB,
// GB, TB or PB ("2MB", "1GB", "64KB").
func validPageSize(s string) bool {
	for _, unit := range []string{"KB", "MB", "GB", "TB", "PB"} {
		if n, ok := strings.CutSuffix(s, unit); ok && n != "" && strings.Trim(n, "0123456789") == "" && n[0] != '0' {
			return true
		}
	}
	return false
}

// hugetlbSettings renders the limits. The spec asks for reservation limits
// where the kernel has them (hugetlb.*.rsvd.*, Linux 5.7) and fault limits
// otherwise; like runc, both are written, the reservation one Optional. A
// page size the host does not support has no file and is refused.
func hugetlbSettings(limits []specs.LinuxHugepageLimit, v2 bool) []Setting {
	var out []Setting
	for i, l := range limits {
		f := fmt.Sprintf("%s[%d].limit", fHugetlb, i)
		file, rsvd := "hugetlb."+l.Pagesize+".limit_in_bytes", "hugetlb."+l.Pagesize+".rsvd.limit_in_bytes"
		if v2 {
			file, rsvd = "hugetlb."+l.Pagesize+".max", "hugetlb."+l.Pagesize+".rsvd.max"
		}
		out = append(out,
			Setting{Field: f, Controller: "hugetlb", File: file, Value: utoa(l.Limit)},
			Setting{Field: f, Controller: "hugetlb", File: rsvd, Value: utoa(l.Limit), Optional: true})
	}
	return out
}
