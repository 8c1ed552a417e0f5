package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// mountCgroup gives the container its view of the cgroup filesystem. On a
// cgroup v2 host that is a fresh cgroup2 mount (rooted at the container's
// cgroup when it has a cgroup namespace). On a v1 or hybrid host it is what
// runc builds: a tmpfs holding one bind mount per hierarchy, each showing
// only the container's own cgroup.
func (f *fs) mountCgroup(m MountOp, mode cgroups.Mode) error {
	// The view depends on the cgroup this process is in: the parent must
	// have finished moving it there.
	if f.beforeCgroup != nil {
		if err := f.beforeCgroup(); err != nil {
			return err
		}
	}
	target, err := f.target(m.Destination, true)
	if err != nil {
		return err
	}
	defer target.Close()
	dst := procFD(target)
	if mode == cgroups.Unified {
		err := f.mount("cgroup2", dst, "cgroup2", uintptr(m.Flags), "", m.Destination)
		if err == nil || !(errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY)) {
			return err
		}
		// A user namespace without a cgroup namespace of its own may not
		// mount cgroup2 (runc's rootless config is one): show the host's
		// hierarchy through a bind mount instead, as runc does.
		if err := f.mount("/sys/fs/cgroup", dst, "", unix.MS_BIND|unix.MS_REC, "", m.Destination); err != nil {
			return err
		}
		if m.Flags == 0 {
			return nil
		}
		return f.remount(dst, m.Destination, uintptr(m.Flags))
	}
	if err := f.mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755", m.Destination); err != nil {
		return err
	}
	hier, err := ownCgroups()
	if err != nil {
		return err
	}
	for _, h := range hier {
		// A hybrid host's cgroup2 hierarchy is left out, as runc leaves it.
		if h.fstype == "cgroup2" {
			continue
		}
		if err := f.mountHierarchy(h, m.Destination); err != nil {
			return err
		}
	}
	// One recursive attribute change covers the tmpfs and every hierarchy
	// in it; the tmpfs itself then stays writable, as under runc.
	top, err := f.target(m.Destination, true)
	if err != nil {
		return err
	}
	defer top.Close()
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if m.Flags&unix.MS_RDONLY != 0 {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(int(top.Fd()), "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("mount_setattr %s: %w", m.Destination, err)
	}
	if f.rec.Enabled() {
		what := "nosuid,nodev,noexec"
		if attr.Attr_set&unix.MOUNT_ATTR_RDONLY != 0 {
			what = "ro," + what
		}
		f.rec.Step("make "+m.Destination+" and every hierarchy in it "+what,
			fmt.Sprintf("mount_setattr(%s, AT_RECURSIVE, set=%s)", m.Destination, what))
	}
	if attr.Attr_set&unix.MOUNT_ATTR_RDONLY == 0 {
		return nil
	}
	rw := unix.MountAttr{Attr_clr: unix.MOUNT_ATTR_RDONLY}
	if err := unix.MountSetattr(int(top.Fd()), "", unix.AT_EMPTY_PATH, &rw); err != nil {
		return fmt.Errorf("mount_setattr %s: %w", m.Destination, err)
	}
	f.rec.Step("leave the tmpfs at "+m.Destination+" itself writable", trace.Quote("mount", "-o", "remount,rw", m.Destination))
	return nil
}

// mountHierarchy shows one cgroup v1 hierarchy (or the hybrid host's
// cgroup2 one) under dest, rooted at this process's cgroup. In a cgroup
// namespace of its own that is a new mount of the hierarchy, which the
// kernel roots at the namespace's root; /proc/self/cgroup then reads "/"
// and a bind of it would show the host's root cgroup. Otherwise it is a
// bind of the cgroup's directory.
func (f *fs) mountHierarchy(h hierarchy, dest string) error {
	src := filepath.Join(h.mountpoint, h.path)
	if !f.cgroupNS {
		if _, err := os.Stat(src); err != nil {
			return nil
		}
	}
	shown := filepath.Join(dest, h.name)
	sub, err := f.target(shown, true)
	if err != nil {
		return err
	}
	defer sub.Close()
	switch {
	case !f.cgroupNS:
		return f.mount(src, procFD(sub), "", unix.MS_BIND|unix.MS_REC, "", shown)
	case h.fstype == "cgroup2":
		return f.mount("cgroup2", procFD(sub), "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "", shown)
	}
	return f.mount("cgroup", procFD(sub), "cgroup", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, h.options, shown)
}

type hierarchy struct {
	name       string // directory name under /sys/fs/cgroup ("memory", "cpu,cpuacct", "systemd", "unified")
	mountpoint string
	path       string // this process's cgroup in it
	fstype     string // cgroup or cgroup2
	options    string // a v1 hierarchy's controllers and flags as mount(2) takes them ("cpu,cpuacct", "xattr,name=systemd")
}

// ownCgroups lists the cgroup hierarchies mounted in this mount namespace
// with this process's cgroup in each, joining /proc/self/mountinfo and
// /proc/self/cgroup.
func ownCgroups() ([]hierarchy, error) {
	paths := map[string]string{} // controller list or "" (v2) -> path
	cg, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	defer cg.Close()
	sc := bufio.NewScanner(cg)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) == 3 {
			paths[parts[1]] = parts[2]
		}
	}
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer mi.Close()
	var out []hierarchy
	sc = bufio.NewScanner(mi)
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fields, pfields := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(pfields) < 3 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		switch pfields[0] {
		case "cgroup2":
			if p, ok := paths[""]; ok {
				out = append(out, hierarchy{filepath.Base(mp), mp, p, "cgroup2", ""})
			}
		case "cgroup":
			if p, ok := controllersKey(paths, pfields[2]); ok {
				out = append(out, hierarchy{filepath.Base(mp), mp, p, "cgroup", superOptions(pfields[2])})
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cgroup hierarchy found in /proc/self/mountinfo")
	}
	return out, nil
}

// controllersKey matches a v1 mount's super options against the controller
// lists of /proc/self/cgroup ("cpu,cpuacct" is one line there).
func controllersKey(paths map[string]string, superOpts string) (string, bool) {
	opts := map[string]bool{}
	for _, o := range strings.Split(superOpts, ",") {
		opts[o] = true
	}
	for key, p := range paths {
		if key == "" {
			continue
		}
		all := true
		for _, c := range strings.Split(key, ",") {
			if !opts[c] {
				all = false
			}
		}
		if all {
			return p, true
		}
	}
	return "", false
}

// superOptions drops the read-write state from a v1 mount's super options:
// what remains names the hierarchy to mount again.
func superOptions(super string) string {
	var keep []string
	for _, o := range strings.Split(super, ",") {
		if o != "rw" && o != "ro" {
			keep = append(keep, o)
		}
	}
	return strings.Join(keep, ",")
}
