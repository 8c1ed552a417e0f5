package runtime

import (
	"os"
	"slices"
	"strings"
)

// Reading /proc/self/mountinfo: the parent finds what is mounted under a
// container (delete), the init finds the mount holding the rootfs.

// mountPoints lists the mount points of this mount namespace in the order
// of /proc/self/mountinfo (a mount comes after the one it sits on).
func mountPoints() ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if fields := strings.Fields(line); len(fields) >= 5 {
			out = append(out, unescapeMountinfo(fields[4]))
		}
	}
	return out, nil
}

// mountsUnder lists the mount points at or below dir, deepest first, the
// order to undo them in.
func mountsUnder(dir string) ([]string, error) {
	mps, err := mountPoints()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, mp := range slices.Backward(mps) {
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, nil
}

// mountPointOf finds the mount point under which path lives: the longest
// mount point that is a prefix of path.
func mountPointOf(path string) (string, error) {
	mps, err := mountPoints()
	if err != nil {
		return "", err
	}
	best := "/"
	for _, mp := range mps {
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > len(best) {
			best = mp
		}
	}
	return best, nil
}

func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}
