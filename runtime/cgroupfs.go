package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountCgroup gives the container its view of the cgroup filesystem. On a
// cgroup v2 host that is a fresh cgroup2 mount (rooted at the container's
// cgroup when it has a cgroup namespace). On a v1 or hybrid host it is what
// runc builds: a tmpfs holding one bind mount per hierarchy, each showing
// only the container's own cgroup.
func (f *fs) mountCgroup(m specs.Mount, o mountOpts, mode string) error {
	target, err := f.target(m.Destination, true)
	if err != nil {
		return err
	}
	defer target.Close()
	dst := procFD(target)
	if mode == "unified" {
		return f.mount("cgroup2", dst, "cgroup2", o.flags, "", m.Destination)
	}
	if err := f.mount("tmpfs", dst, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755", m.Destination); err != nil {
		return err
	}
	hier, err := ownCgroups()
	if err != nil {
		return err
	}
	for _, h := range hier {
		src := filepath.Join(h.mountpoint, h.path)
		if _, err := os.Stat(src); err != nil {
			continue
		}
		sub, err := f.target(filepath.Join(m.Destination, h.name), true)
		if err != nil {
			return err
		}
		shown := filepath.Join(m.Destination, h.name)
		err = f.mount(src, procFD(sub), "", unix.MS_BIND|unix.MS_REC, "", shown)
		sub.Close()
		if err != nil {
			return err
		}
		if err := f.remountPath(shown, o.flags|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
			return err
		}
	}
	if o.flags&unix.MS_RDONLY != 0 {
		return f.remountPath(m.Destination, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)
	}
	return nil
}

// remountPath remounts the mount at dest (inside the rootfs) with flags.
func (f *fs) remountPath(dest string, flags uintptr) error {
	top, err := f.target(dest, true)
	if err != nil {
		return err
	}
	defer top.Close()
	return f.remount(procFD(top), dest, flags)
}

type hierarchy struct {
	name       string // directory name under /sys/fs/cgroup ("memory", "cpu,cpuacct", "systemd", "unified")
	mountpoint string
	path       string // this process's cgroup in it
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
				out = append(out, hierarchy{filepath.Base(mp), mp, p})
			}
		case "cgroup":
			if p, ok := controllersKey(paths, pfields[2]); ok {
				out = append(out, hierarchy{filepath.Base(mp), mp, p})
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
