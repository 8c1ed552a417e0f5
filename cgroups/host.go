package cgroups

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/miniruntime/miniruntime/internal/sysfile"
)

// hierarchy is one mounted cgroup tree the container gets a directory in.
type hierarchy struct {
	// Name is the directory under the mountpoint: "memory", "cpu,cpuacct",
	// "systemd", "unified"; "" on a unified host, where the mountpoint
	// itself is the one hierarchy.
	Name string
	// Controllers are the v1 controllers bound to it ("cpu", "cpuacct"),
	// or "name=systemd" for a named hierarchy; empty for cgroup2.
	Controllers []string
	// Root is the mount's root inside the hierarchy (mountinfo field 4),
	// "/" except inside some containers. Only relative cgroupsPaths use it.
	Root string
	// V2 is true for a cgroup2 hierarchy.
	V2 bool
}

func (h hierarchy) has(controller string) bool { return slices.Contains(h.Controllers, controller) }

// host is what New needs to know about the machine. It is a plain value so
// that tests can describe a fake host rooted in t.TempDir().
type host struct {
	mode Mode
	mnt  string
	// hier lists the hierarchies the container joins: on v1 every mounted
	// one (controllers, name=systemd, and the empty cgroup2 at unified/ on
	// a hybrid host), on v2 just one.
	hier []hierarchy
	// own maps a hierarchy Name to the calling process's cgroup in it, for
	// relative cgroupsPaths.
	own map[string]string
}

// v1Controllers is the set of known v1 controller names, used to tell them
// apart from other super options (rw, xattr, ...) in mountinfo.
var v1Controllers = []string{
	"cpuset", "cpu", "cpuacct", "blkio", "memory", "devices", "freezer", "net_cls",
	"perf_event", "net_prio", "hugetlb", "pids", "rdma", "misc", "debug",
}

// probed caches the layout under DefaultMountpoint: one command asks for it
// several times (create, start, delete in `run`), and it cannot change
// under a running command without breaking every container anyway.
var probed struct {
	sync.Mutex
	h *host
}

// Prewarm reads the host's cgroup layout in the background, so that the
// first New or Load of this process finds it ready.
func Prewarm() {
	go probe("")
}

// probe describes the host's cgroup layout under mnt.
func probe(mnt string) (*host, error) {
	if mnt == "" || mnt == DefaultMountpoint {
		probed.Lock()
		defer probed.Unlock()
		if probed.h == nil {
			h, err := probeUncached(DefaultMountpoint)
			if err != nil {
				return nil, err
			}
			probed.h = h
		}
		return probed.h, nil
	}
	return probeUncached(mnt)
}

func probeUncached(mnt string) (*host, error) {
	mode, err := DetectMode(mnt)
	if err != nil {
		return nil, err
	}
	h := &host{mode: mode, mnt: filepath.Clean(mnt)}
	if mode == Unified {
		h.hier = []hierarchy{{Name: "", Root: "/", V2: true}}
		for _, m := range mountinfoCgroups() {
			if m.point == h.mnt && m.v2 {
				h.hier[0].Root = m.root
			}
		}
	} else {
		h.hier = v1Hierarchies(h.mnt)
		if len(h.hier) == 0 {
			return nil, fmt.Errorf("no cgroup hierarchies under %s", h.mnt)
		}
	}
	data, err := sysfile.Read("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	h.own = parseOwnCgroups(data, h.hier)
	return h, nil
}

type cgroupMount struct {
	point, root string
	opts        []string
	v2          bool
}

// mountinfoCgroups lists the cgroup and cgroup2 mounts of this mount namespace.
func mountinfoCgroups() []cgroupMount {
	data, err := sysfile.Read("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []cgroupMount
	for line := range strings.SplitSeq(string(data), "\n") {
		// 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(p) < 3 || (p[0] != "cgroup" && p[0] != "cgroup2") {
			continue
		}
		out = append(out, cgroupMount{
			point: unescapeMount(f[4]), root: unescapeMount(f[3]),
			opts: strings.Split(p[2], ","), v2: p[0] == "cgroup2",
		})
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
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

// v1Hierarchies finds the v1 (and hybrid cgroup2) mounts directly under mnt.
// It trusts mountinfo; when mountinfo knows nothing about mnt (a fake tree in
// a test) it reads the directory names, which follow the same convention
// ("cpu,cpuacct", "systemd" for name=systemd, "unified" for cgroup2).
func v1Hierarchies(mnt string) []hierarchy {
	var out []hierarchy
	for _, m := range mountinfoCgroups() {
		if filepath.Dir(m.point) != mnt {
			continue
		}
		h := hierarchy{Name: filepath.Base(m.point), Root: m.root, V2: m.v2}
		if !m.v2 {
			for _, o := range m.opts {
				if slices.Contains(v1Controllers, o) || strings.HasPrefix(o, "name=") {
					h.Controllers = append(h.Controllers, o)
				}
			}
		}
		out = append(out, h)
	}
	if len(out) > 0 {
		return out
	}
	ents, err := os.ReadDir(mnt)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue // symlinks such as cpu -> cpu,cpuacct
		}
		h := hierarchy{Name: e.Name(), Root: "/"}
		switch e.Name() {
		case "unified":
			h.V2 = true
		case "systemd":
			h.Controllers = []string{"name=systemd"}
		default:
			h.Controllers = strings.Split(e.Name(), ",")
		}
		out = append(out, h)
	}
	return out
}

// parseOwnCgroups maps each hierarchy to the caller's cgroup in it, from the
// contents of /proc/self/cgroup ("4:memory:/a/b", "0::/"), made relative to
// the hierarchy's mount root as runc does for nested containers.
func parseOwnCgroups(data []byte, hier []hierarchy) map[string]string {
	own := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls := strings.Split(parts[1], ",")
		for _, h := range hier {
			var match bool
			if parts[1] == "" {
				match = h.V2
			} else {
				match = !h.V2 && len(h.Controllers) > 0 && slices.Contains(h.Controllers, ctrls[0])
			}
			if !match {
				continue
			}
			p := parts[2]
			if h.Root != "/" && h.Root != "" {
				if rest, ok := strings.CutPrefix(p, h.Root); ok && (rest == "" || rest[0] == '/') {
					p = "/" + strings.TrimPrefix(rest, "/")
				}
			}
			own[h.Name] = p
		}
	}
	return own
}

// controllerDir is the hierarchy that holds a v1 controller, or false when
// the controller is not mounted.
func (h *host) controllerHier(controller string) (hierarchy, bool) {
	for _, x := range h.hier {
		if x.has(controller) {
			return x, true
		}
	}
	return hierarchy{}, false
}

// notMounted refuses a setting whose v1 controller has no hierarchy. On a
// hybrid host the controller may instead be free for the cgroup2 hierarchy
// at unified/ (its cgroup.controllers lists it: hugetlb, when no v1
// hierarchy binds it). Resources on a hybrid host go through v1 only, as in
// runc, whose fs driver fails there too; so the field is refused all the
// same, but the message says where the controller is.
func (h *host) notMounted(s Setting) error {
	for _, x := range h.hier {
		if !x.V2 {
			continue
		}
		dir := filepath.Join(h.mnt, x.Name)
		if avail, err := readWords(filepath.Join(dir, "cgroup.controllers")); err == nil && slices.Contains(avail, s.Controller) {
			return unsupportedf(s.Field, "the %s controller is not mounted as a cgroup v1 hierarchy; this hybrid host has it only in the cgroup2 hierarchy at %s, where miniruntime, like runc, sets no limits", s.Controller, dir)
		}
	}
	return unsupportedf(s.Field, "the %s controller is not mounted on this host (no hierarchy under %s has it)", s.Controller, h.mnt)
}
