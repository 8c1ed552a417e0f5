package inspect

import (
	"slices"
	"strconv"
	"strings"
)

// A Mount is one line of /proc/<pid>/mountinfo, with the mount point as the
// container sees it.
type Mount struct {
	ID     int    `json:"id"`
	Target string `json:"target"`
	Type   string `json:"type"`
	Source string `json:"source"`
	// Root is the part of the source filesystem mounted there ("/null"
	// for a bind of /dev/null).
	Root     string `json:"root"`
	Options  string `json:"options"` // per mount: rw/ro, nosuid, nodev...
	ReadOnly bool   `json:"readOnly"`
}

// Rootfs is the container's root as the kernel has it.
type Rootfs struct {
	HostPath string `json:"hostPath"` // the bundle's rootfs on the host
	Mount    Mount  `json:"mount"`
	// ReadOnlyInConfig is root.readonly of the frozen config.
	ReadOnlyInConfig bool   `json:"readOnlyInConfig"`
	File             string `json:"file"`
}

// A PathState says how one of the config's masked or read-only paths
// looks in the container's mount table.
type PathState struct {
	Path string `json:"path"`
	// How: for masked paths "/dev/null bound over it", "an empty read-only
	// tmpfs" or "not masked: ..."; for read-only paths "read-only bind" or
	// "not read-only: ...".
	How  string `json:"how"`
	OK   bool   `json:"ok"`
	File string `json:"file"`
}

// parseMountinfo reads /proc/<pid>/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
func parseMountinfo(data string) []Mount {
	var out []Mount
	for line := range strings.SplitSeq(data, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(p) < 2 {
			continue
		}
		id, _ := strconv.Atoi(f[0])
		m := Mount{ID: id, Root: unescape(f[3]), Target: unescape(f[4]), Options: f[5], Type: p[0], Source: unescape(p[1])}
		m.ReadOnly = slices.Contains(strings.Split(m.Options, ","), "ro")
		out = append(out, m)
	}
	return out
}

// unescape undoes mountinfo's octal escapes (\040 is a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// topmost is the last mount at target: the one a lookup sees.
func topmost(ms []Mount, target string) (Mount, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Target == target {
			return ms[i], true
		}
	}
	return Mount{}, false
}

func maskedState(ms []Mount, path, file string) PathState {
	ps := PathState{Path: path, File: file}
	m, ok := topmost(ms, path)
	switch {
	case !ok:
		ps.How = "not masked: nothing is mounted there (the runtime skips a path that does not exist)"
	case m.Root == "/null" || strings.HasSuffix(m.Root, "/null"):
		ps.How, ps.OK = "/dev/null bound over it", true
	case m.Type == "tmpfs" && m.ReadOnly:
		ps.How, ps.OK = "an empty read-only tmpfs", true
	default:
		ps.How = "not masked: " + m.Type + " " + m.Options + " is mounted there"
	}
	return ps
}

func readonlyState(ms []Mount, path, file string) PathState {
	ps := PathState{Path: path, File: file}
	m, ok := topmost(ms, path)
	switch {
	case !ok:
		ps.How = "not read-only: no mount there (the runtime skips a path that does not exist)"
	case m.ReadOnly:
		ps.How, ps.OK = "read-only bind ("+m.Options+")", true
	default:
		ps.How = "not read-only: " + m.Options
	}
	return ps
}

func (p *prober) mounts() {
	file := p.proc + "/mountinfo"
	data, err := readTrim(file)
	if err != nil {
		p.problem("%s: %v", file, err)
		return
	}
	ms := parseMountinfo(data)
	p.a.Mounts = ms
	root := &Rootfs{HostPath: p.t.Rootfs, File: file}
	if m, ok := topmost(ms, "/"); ok {
		root.Mount = m
	}
	s := p.t.Spec
	if s != nil && s.Root != nil {
		root.ReadOnlyInConfig = s.Root.Readonly
	}
	p.a.Rootfs = root
	if s == nil || s.Linux == nil {
		return
	}
	for _, path := range s.Linux.MaskedPaths {
		p.a.Masked = append(p.a.Masked, maskedState(ms, path, file))
	}
	for _, path := range s.Linux.ReadonlyPaths {
		p.a.ReadOnly = append(p.a.ReadOnly, readonlyState(ms, path, file))
	}
}
