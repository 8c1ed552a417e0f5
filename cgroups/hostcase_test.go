package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Fields that depend on a controller, a knob or a kernel feature are tested
// for what this host has, which each test finds out first (and logs as
// "host case: ..."): applied and read back, through containerd's cgroups
// library, where the kernel has the file; refused with one line that starts
// with the field where it has not; and for the deprecated kernel memory
// limits, accepted with one warning line where the kernel ignores them.
// Every case is checked twice: by New, and by Update of a container made
// without it. These run on this hybrid host (v1) and in the cgroup v2 guest.

// hostEnv is a test's parent cgroup and a bare probe cgroup in it, which
// shows what files a new cgroup gets on this host.
type hostEnv struct {
	t      *testing.T
	h      *host
	parent string
	probe  *Manager
	seq    *int // shared by the copies subtests make
}

func newHostEnv(t *testing.T) *hostEnv {
	t.Helper()
	h := needMode(t, Unified, Hybrid, Legacy)
	parent := testParent(t, h)
	probe, err := create(h, "probe", parent+"/probe", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &hostEnv{t: t, h: h, parent: parent, probe: probe, seq: new(int)}
}

func (e *hostEnv) v2() bool { return e.h.mode == Unified }

// hostCase logs which case this host is in.
func (e *hostEnv) hostCase(format string, a ...any) {
	e.t.Helper()
	e.t.Logf("host case: "+format, a...)
}

// controller reports whether a container's cgroup can have ctrl here: a v1
// hierarchy binds it, or on v2 the root's cgroup.controllers lists it.
func (e *hostEnv) controller(ctrl string) bool {
	if !e.v2() {
		_, ok := e.h.controllerHier(ctrl)
		return ok
	}
	avail, err := readWords(filepath.Join(e.h.mnt, "cgroup.controllers"))
	if err != nil {
		e.t.Fatal(err)
	}
	return slices.Contains(avail, ctrl)
}

// unifiedOffers reports whether a hybrid host's cgroup2 hierarchy lists ctrl.
func (e *hostEnv) unifiedOffers(ctrl string) (string, bool) {
	for _, x := range e.h.hier {
		if x.V2 && e.h.mode != Unified {
			dir := filepath.Join(e.h.mnt, x.Name)
			avail, _ := readWords(filepath.Join(dir, "cgroup.controllers"))
			return dir, slices.Contains(avail, ctrl)
		}
	}
	return "", false
}

// probeDir is the probe's directory for ctrl; on v2 ctrl is enabled for it
// first, as New would, so that its files appear.
func (e *hostEnv) probeDir(ctrl string) string {
	e.t.Helper()
	if e.v2() {
		if err := e.probe.enableControllers([]string{ctrl}); err != nil {
			e.t.Fatal(err)
		}
		return e.probe.Dirs()[0]
	}
	x, ok := e.h.controllerHier(ctrl)
	if !ok {
		e.t.Fatalf("no %s hierarchy", ctrl)
	}
	return e.probe.dir(x)
}

// has reports whether a new cgroup here gets ctrl's file.
func (e *hostEnv) has(ctrl, file string) bool {
	e.t.Helper()
	if !e.controller(ctrl) {
		return false
	}
	_, err := os.Stat(filepath.Join(e.probeDir(ctrl), file))
	return err == nil
}

// keeps writes value to the probe's file and reports whether the kernel
// took the write and kept the value.
func (e *hostEnv) keeps(ctrl, file, value string) bool {
	e.t.Helper()
	path := filepath.Join(e.probeDir(ctrl), file)
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		e.t.Logf("probe: %v", err)
		return false
	}
	got, err := os.ReadFile(path)
	return err == nil && strings.TrimSpace(string(got)) == value
}

// run applies res to a fresh container cgroup, by New, or by Update of one
// New made without resources. It returns the cgroup path and the warnings.
func (e *hostEnv) run(how string, res *specs.LinuxResources) (string, []string, error) {
	e.t.Helper()
	*e.seq++
	p := fmt.Sprintf("%s/c%d", e.parent, *e.seq)
	var warnings []string
	opts := Options{Warn: func(s string) { warnings = append(warnings, s) }}
	if how == "New" {
		_, err := create(e.h, "c", p, res, opts)
		return p, warnings, err
	}
	m, err := create(e.h, "c", p, nil, Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	if m, err = load(e.h, m.Path(), opts); err != nil {
		e.t.Fatal(err)
	}
	return p, warnings, m.Update(res)
}

// applied wants res applied without a warning, and check to find it.
func (e *hostEnv) applied(res *specs.LinuxResources, check func(r *reader)) {
	e.t.Helper()
	for _, how := range []string{"New", "Update"} {
		p, warnings, err := e.run(how, res)
		if err != nil {
			e.t.Fatalf("%s: %v", how, err)
		}
		if len(warnings) > 0 {
			e.t.Errorf("%s warned: %q", how, warnings)
		}
		check(newReader(e.t, e.h, p))
	}
}

// warned wants res accepted with one single-line warning per prefix.
func (e *hostEnv) warned(res *specs.LinuxResources, prefixes ...string) {
	e.t.Helper()
	for _, how := range []string{"New", "Update"} {
		_, warnings, err := e.run(how, res)
		if err != nil {
			e.t.Fatalf("%s: %v", how, err)
		}
		checkWarnings(e.t, warnings, prefixes...)
		e.t.Logf("%s warns: %s", how, strings.Join(warnings, " | "))
	}
}

// refused wants res refused with one line that starts with "field: " and
// contains want, of kind (ErrNotSupported, ErrInvalid; nil for a write the
// kernel refused); New must leave nothing behind.
func (e *hostEnv) refused(res *specs.LinuxResources, field, want string, kind error) {
	e.t.Helper()
	for _, how := range []string{"New", "Update"} {
		p, _, err := e.run(how, res)
		switch {
		case err == nil:
			e.t.Fatalf("%s succeeded, want %s refused", how, field)
		case !strings.HasPrefix(err.Error(), field+": ") || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n"):
			e.t.Errorf("%s = %q, want one line starting %q and containing %q", how, err, field+": ", want)
		case kind != nil && !errors.Is(err, kind):
			e.t.Errorf("%s = %v, want errors.Is %v", how, err, kind)
		}
		e.t.Logf("%s refuses: %v", how, err)
		if how != "New" {
			continue
		}
		for _, x := range e.h.hier {
			if _, err := os.Stat(filepath.Join(e.h.mnt, x.Name, p)); !errors.Is(err, fs.ErrNotExist) {
				e.t.Errorf("a refused New left %s behind in %s", p, hierName(x))
			}
		}
	}
}

// notThere is the refusal's wording for a controller this host lacks.
func (e *hostEnv) notThere(ctrl string) string {
	if e.v2() {
		return "the " + ctrl + " controller is not available on this host"
	}
	return "the " + ctrl + " controller is not mounted"
}

// lastWord is a weight file's value: "300" or "default 300".
func lastWord(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// The controllers behind the everyday fields: applied where mounted (v1) or
// available (v2), refused by name where not; net_cls and net_prio have no
// cgroup v2 counterpart at all.
func TestHostControllers(t *testing.T) {
	e := newHostEnv(t)
	for _, c := range []struct {
		ctrl, field string
		res         specs.LinuxResources
		v1, v2      func(r *reader)
		v2Refusal   string
	}{
		{
			ctrl: "memory", field: fMemory + ".limit",
			res: specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}},
			v1:  func(r *reader) { wantEq(t, "memory limit", r.v1Metrics().Memory.Usage.Limit, 64<<20) },
			v2:  func(r *reader) { wantEq(t, "memory limit", r.v2Metrics().Memory.UsageLimit, 64<<20) },
		},
		{
			ctrl: "cpu", field: fCPU + ".shares",
			res: specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(512)}},
			v1:  func(r *reader) { r.wantFile("cpu", "cpu.shares", "512") },
			v2:  func(r *reader) { r.wantFile("cpu", "cpu.weight", "59") },
		},
		{
			ctrl: "cpuset", field: fCPU + ".cpus",
			res: specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}},
			v1:  func(r *reader) { r.wantFile("cpuset", "cpuset.cpus", "0"); r.wantFile("cpuset", "cpuset.mems", "0") },
			v2:  func(r *reader) { r.wantFile("cpuset", "cpuset.cpus", "0"); r.wantFile("cpuset", "cpuset.mems", "0") },
		},
		{
			ctrl: "pids", field: fPids,
			res: specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(20)}},
			v1:  func(r *reader) { wantEq(t, "pids limit", r.v1Metrics().Pids.Limit, 20) },
			v2:  func(r *reader) { wantEq(t, "pids limit", r.v2Metrics().Pids.Limit, 20) },
		},
		{
			ctrl: "net_cls", field: fNetwork + ".classID",
			res:       specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001)}},
			v1:        func(r *reader) { r.wantFile("net_cls", "net_cls.classid", "1048577") },
			v2Refusal: "cgroup v2 has no net_cls controller",
		},
		{
			ctrl: "net_prio", field: fNetwork + ".priorities",
			res: specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "lo", Priority: 5}}}},
			v1: func(r *reader) {
				if got := r.file("net_prio", "net_prio.ifpriomap"); !slices.Contains(strings.Split(got, "\n"), "lo 5") {
					t.Errorf("net_prio.ifpriomap = %q, lacks lo 5", got)
				}
			},
			v2Refusal: "cgroup v2 has no net_prio controller",
		},
	} {
		t.Run(c.ctrl, func(t *testing.T) {
			e := *e
			e.t = t
			field := c.field
			if c.ctrl == "net_prio" && !e.v2() {
				field += "[0]"
			}
			switch {
			case e.v2() && c.v2Refusal != "":
				e.hostCase("cgroup v2: no %s at all, refused", c.ctrl)
				e.refused(&c.res, c.field, c.v2Refusal, ErrNotSupported)
			case !e.controller(c.ctrl):
				e.hostCase("no %s controller, refused", c.ctrl)
				e.refused(&c.res, field, e.notThere(c.ctrl), ErrNotSupported)
			case e.v2():
				e.hostCase("%s available, applied", c.ctrl)
				e.applied(&c.res, c.v2)
			default:
				e.hostCase("%s mounted, applied", c.ctrl)
				e.applied(&c.res, c.v1)
			}
		})
	}
}

// blockIO.weight: v1 writes CFQ's blkio.weight, else BFQ's blkio.bfq.weight;
// v2 writes io.bfq.weight unconverted, else io.weight converted to
// 1..10000. A kernel with neither file refuses it, naming both.
func TestHostBlockIOWeight(t *testing.T) {
	e := newHostEnv(t)
	res := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(300)}}
	field := fBlkio + ".weight"
	switch {
	case !e.v2() && !e.controller("blkio"):
		e.hostCase("no blkio controller, refused")
		e.refused(res, field, e.notThere("blkio"), ErrNotSupported)
	case !e.v2() && e.has("blkio", "blkio.weight"):
		e.hostCase("v1 with CFQ's blkio.weight, applied")
		e.applied(res, func(r *reader) { wantEq(t, "blkio.weight", lastWord(r.file("blkio", "blkio.weight")), "300") })
	case !e.v2() && e.has("blkio", "blkio.bfq.weight"):
		e.hostCase("v1 with BFQ's blkio.bfq.weight, applied")
		e.applied(res, func(r *reader) { wantEq(t, "blkio.bfq.weight", lastWord(r.file("blkio", "blkio.bfq.weight")), "300") })
	case !e.v2():
		e.hostCase("v1 without CFQ or BFQ (neither blkio.weight nor blkio.bfq.weight), refused")
		e.refused(res, field, "this kernel has neither blkio.weight nor blkio.bfq.weight", ErrNotSupported)
	case !e.controller("io"):
		e.hostCase("no io controller, refused")
		e.refused(res, field, e.notThere("io"), ErrNotSupported)
	case e.has("io", "io.bfq.weight"):
		e.hostCase("v2 with BFQ's io.bfq.weight, applied unconverted")
		e.applied(res, func(r *reader) { wantEq(t, "io.bfq.weight", r.file("io", "io.bfq.weight"), "default 300") })
	case e.has("io", "io.weight"):
		e.hostCase("v2 with io.weight (iocost), applied as 1+(300-10)*9999/990")
		e.applied(res, func(r *reader) { wantEq(t, "io.weight", r.file("io", "io.weight"), "default 2930") })
	default:
		e.hostCase("v2 without io.bfq.weight or io.weight, refused")
		e.refused(res, field, "this kernel has neither io.bfq.weight nor io.weight", ErrNotSupported)
	}
}

// Leaf weights were CFQ's alone: applied where blkio.leaf_weight exists,
// refused elsewhere.
func TestHostBlockIOLeafWeight(t *testing.T) {
	e := newHostEnv(t)
	res := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(200)}}
	field := fBlkio + ".leafWeight"
	switch {
	case e.v2():
		e.hostCase("cgroup v2 has no leaf weights, refused")
		e.refused(res, field, "cgroup v2 has no leaf weights", ErrNotSupported)
	case !e.controller("blkio"):
		e.hostCase("no blkio controller, refused")
		e.refused(res, field, e.notThere("blkio"), ErrNotSupported)
	case e.has("blkio", "blkio.leaf_weight"):
		e.hostCase("v1 with CFQ's blkio.leaf_weight, applied")
		e.applied(res, func(r *reader) { wantEq(t, "blkio.leaf_weight", lastWord(r.file("blkio", "blkio.leaf_weight")), "200") })
	default:
		e.hostCase("v1 without blkio.leaf_weight (no CFQ), refused")
		e.refused(res, field, "this kernel has no blkio.leaf_weight", ErrNotSupported)
	}
}

// blockDevice is a block device of this host ("254:0"), or "".
func blockDevice(t *testing.T) (major, minor int64, ok bool) {
	devs, _ := filepath.Glob("/sys/block/*/dev")
	// Prefer a real disk to loop and zram devices.
	slices.SortStableFunc(devs, func(a, b string) int {
		virt := func(s string) bool {
			return strings.Contains(s, "/loop") || strings.Contains(s, "/zram") || strings.Contains(s, "/ram")
		}
		switch {
		case virt(a) == virt(b):
			return 0
		case virt(a):
			return 1
		}
		return -1
	})
	for _, d := range devs {
		data, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		if _, err := fmt.Sscanf(strings.TrimSpace(string(data)), "%d:%d", &major, &minor); err == nil {
			return major, minor, true
		}
	}
	return 0, 0, false
}

// A throttle needs a block device: applied for one this host has, refused
// (by the kernel, ENODEV) for a number no device has.
func TestHostBlockIOThrottle(t *testing.T) {
	e := newHostEnv(t)
	major, minor, ok := blockDevice(t)
	if !ok {
		major, minor = 4095, 0 // the largest major: no driver has it
	}
	res := &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
		ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(major, minor), Rate: 1 << 20}},
	}}
	field := fBlkio + ".throttleReadBpsDevice[0]"
	ctrl := "blkio"
	if e.v2() {
		ctrl = "io"
	}
	num := fmt.Sprintf("%d:%d", major, minor)
	switch {
	case !e.controller(ctrl):
		e.hostCase("no %s controller, refused", ctrl)
		e.refused(res, field, e.notThere(ctrl), ErrNotSupported)
	case !ok:
		e.hostCase("no block device, refused by the kernel for %s", num)
		e.refused(res, field, "no such device", nil)
	case e.v2():
		e.hostCase("block device %s, applied to io.max", num)
		e.applied(res, func(r *reader) {
			if got := r.file("io", "io.max"); !strings.HasPrefix(got, num+" rbps=1048576 ") {
				t.Errorf("io.max = %q, want %s rbps=1048576", got, num)
			}
		})
	default:
		e.hostCase("block device %s, applied to blkio.throttle.read_bps_device", num)
		e.applied(res, func(r *reader) { r.wantFile("blkio", "blkio.throttle.read_bps_device", num+" 1048576") })
	}
}

// hugePageSizes lists the host's huge page sizes in the kernel's file-name
// spelling ("2MB"), from /sys/kernel/mm/hugepages/hugepages-2048kB.
func hugePageSizes() map[string]uint64 {
	out := map[string]uint64{}
	ents, _ := os.ReadDir("/sys/kernel/mm/hugepages")
	for _, e := range ents {
		var kb uint64
		if _, err := fmt.Sscanf(e.Name(), "hugepages-%dkB", &kb); err != nil {
			continue
		}
		switch {
		case kb >= 1<<20:
			out[fmt.Sprintf("%dGB", kb>>20)] = kb << 10
		case kb >= 1<<10:
			out[fmt.Sprintf("%dMB", kb>>10)] = kb << 10
		default:
			out[fmt.Sprintf("%dKB", kb)] = kb << 10
		}
	}
	return out
}

// hugepageLimits: applied in a v1 hugetlb hierarchy or, on v2, with the
// hugetlb controller; refused where the controller is absent, where a hybrid
// host has it only in its cgroup2 hierarchy (resources go through v1 there,
// as in runc), and for a page size the host does not have.
func TestHostHugetlb(t *testing.T) {
	e := newHostEnv(t)
	sizes := hugePageSizes()
	size, bytes := "2MB", uint64(2<<20)
	if _, ok := sizes[size]; !ok {
		for _, s := range slices.Sorted(maps.Keys(sizes)) {
			size, bytes = s, sizes[s]
			break
		}
	}
	limit := 4 * bytes
	res := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: size, Limit: limit}}}
	field := fHugetlb + "[0].limit"
	var missing string // a size the host does not have
	for _, s := range []string{"64KB", "32MB", "16GB", "1GB", "2MB"} {
		if _, ok := sizes[s]; !ok {
			missing = s
			break
		}
	}
	bad := &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: missing, Limit: 1 << 30}}}
	limitFile := "hugetlb." + size + ".limit_in_bytes"
	if e.v2() {
		limitFile = "hugetlb." + size + ".max"
	}
	unified, inUnified := e.unifiedOffers("hugetlb")
	switch {
	case !e.v2() && !e.controller("hugetlb") && inUnified:
		e.hostCase("hybrid host: no v1 hugetlb hierarchy, hugetlb only in the cgroup2 hierarchy at %s, refused", unified)
		e.refused(res, field, "the hugetlb controller is not mounted as a cgroup v1 hierarchy; this hybrid host has it only in the cgroup2 hierarchy at "+unified, ErrNotSupported)
	case !e.controller("hugetlb"):
		e.hostCase("no hugetlb controller, refused")
		e.refused(res, field, e.notThere("hugetlb"), ErrNotSupported)
	case len(sizes) == 0 || !e.has("hugetlb", limitFile):
		e.hostCase("hugetlb controller but no %s huge pages, refused", size)
		e.refused(res, field, "this kernel has no "+limitFile, ErrNotSupported)
	default:
		rsvd := strings.Replace(limitFile, size+".", size+".rsvd.", 1)
		hasRsvd := e.has("hugetlb", rsvd)
		e.hostCase("hugetlb with %s pages (reservation file %s: %v), applied", size, rsvd, hasRsvd)
		e.applied(res, func(r *reader) {
			if e.v2() {
				var found bool
				for _, st := range r.v2Metrics().Hugetlb {
					if st.Pagesize == size {
						found = true
						wantEq(t, "hugetlb "+size+" max", st.Max, limit)
					}
				}
				if !found {
					t.Errorf("containerd reads no hugetlb stats for %s", size)
				}
			} else {
				r.wantFile("hugetlb", limitFile, fmt.Sprint(limit))
			}
			if hasRsvd {
				r.wantFile("hugetlb", rsvd, fmt.Sprint(limit))
			}
		})
		e.hostCase("no %s huge pages, refused", missing)
		missingFile := strings.Replace(limitFile, size, missing, 1)
		e.refused(bad, field, "this kernel has no "+missingFile, ErrNotSupported)
	}
}

// memory.kernel is deprecated: applied where the kernel keeps a written
// memory.kmem.limit_in_bytes, accepted with a warning where it has no such
// file or ignores it (every kernel since 6.1), and on cgroup v2.
func TestHostKernelMemory(t *testing.T) {
	e := newHostEnv(t)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(8 << 20)}} //nolint:staticcheck
	field := fMemory + ".kernel"
	const file = "memory.kmem.limit_in_bytes"
	switch {
	case e.v2():
		e.hostCase("cgroup v2: no kernel memory limit, accepted with a warning")
		e.warned(res, field+": ignored: cgroup v2 has no kernel memory limit")
	case !e.controller("memory"):
		e.hostCase("no memory controller, refused")
		e.refused(res, field, e.notThere("memory"), ErrNotSupported)
	case !e.has("memory", file):
		e.hostCase("no %s, accepted with a warning", file)
		e.warned(res, field+": ignored: this kernel has no "+file)
	case e.keeps("memory", file, "8388608"):
		e.hostCase("the kernel keeps %s, applied", file)
		e.applied(res, func(r *reader) { wantEq(t, "kernel memory limit", r.v1Metrics().Memory.Kernel.Limit, 8<<20) })
	default:
		e.hostCase("the kernel ignores writes to %s, accepted with a warning", file)
		e.warned(res, field+": ignored: this kernel accepts "+file+"=8388608 but keeps ")
	}
}

// memory.kernelTCP is deprecated too (runc 1.4 ignores it on v1 and v2
// alike): applied where the kernel keeps memory.kmem.tcp.limit_in_bytes,
// accepted with a warning where it has no such file, and on cgroup v2.
func TestHostKernelTCP(t *testing.T) {
	e := newHostEnv(t)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(16 << 20)}}
	field := fMemory + ".kernelTCP"
	const file = "memory.kmem.tcp.limit_in_bytes"
	switch {
	case e.v2():
		e.hostCase("cgroup v2: no TCP buffer limit, accepted with a warning")
		e.warned(res, field+": ignored: cgroup v2 has no separate TCP buffer limit")
	case !e.controller("memory"):
		e.hostCase("no memory controller, refused")
		e.refused(res, field, e.notThere("memory"), ErrNotSupported)
	case !e.has("memory", file):
		e.hostCase("no %s, accepted with a warning", file)
		e.warned(res, field+": ignored: this kernel has no "+file)
	case e.keeps("memory", file, "16777216"):
		e.hostCase("the kernel keeps %s, applied", file)
		e.applied(res, func(r *reader) { wantEq(t, "kernel TCP limit", r.v1Metrics().Memory.KernelTCP.Limit, 16<<20) })
	default:
		e.hostCase("the kernel ignores writes to %s, accepted with a warning", file)
		e.warned(res, field+": ignored: this kernel accepts "+file+"=16777216 but keeps ")
	}
}

// memory.swap needs swap accounting: v1's memory.memsw.limit_in_bytes takes
// the memory+swap total, v2's memory.swap.max the swap alone. Without it, a
// finite swap limit is refused, while values whose effect already holds
// (unlimited on v1, no swap on v2) are accepted.
func TestHostSwap(t *testing.T) {
	e := newHostEnv(t)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(96 << 20)}}
	field := fMemory + ".swap"
	switch {
	case !e.controller("memory"):
		e.hostCase("no memory controller, refused")
		e.refused(res, fMemory+".limit", e.notThere("memory"), ErrNotSupported)
	case !e.v2() && e.has("memory", "memory.memsw.limit_in_bytes"):
		e.hostCase("v1 with swap accounting, applied as the memory+swap total")
		e.applied(res, func(r *reader) {
			st := r.v1Metrics()
			wantEq(t, "memory limit", st.Memory.Usage.Limit, 64<<20)
			wantEq(t, "memory+swap limit", st.Memory.Swap.Limit, 96<<20)
		})
		e.applied(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}, func(r *reader) {
			st := r.v1Metrics()
			wantEq(t, "memory+swap limit for limit -1", st.Memory.Swap.Limit, st.Memory.Usage.Limit)
		})
	case !e.v2():
		e.hostCase("v1 without swap accounting: a finite swap limit refused, limit -1 applied")
		e.refused(res, field, "this kernel has no memory.memsw.limit_in_bytes", ErrNotSupported)
		e.applied(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}, func(r *reader) {
			if l := r.v1Metrics().Memory.Usage.Limit; l < 1<<62 {
				t.Errorf("containerd reads memory limit %d for -1, want unlimited", l)
			}
		})
	case e.has("memory", "memory.swap.max"):
		e.hostCase("v2 with swap accounting, applied as swap alone")
		e.applied(res, func(r *reader) {
			st := r.v2Metrics().Memory
			wantEq(t, "memory.max", st.UsageLimit, 64<<20)
			wantEq(t, "memory.swap.max", st.SwapLimit, 32<<20)
		})
	default:
		e.hostCase("v2 without memory.swap.max: a finite swap limit refused, no swap applied")
		e.refused(res, field, "this kernel has no memory.swap.max", ErrNotSupported)
		e.applied(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(64 << 20)}}, func(r *reader) {
			wantEq(t, "memory.max", r.v2Metrics().Memory.UsageLimit, 64<<20)
		})
	}
}

// rdma: applied for a device the host has (/sys/class/infiniband), refused
// by the kernel for one it has not, refused by name without the controller.
func TestHostRdma(t *testing.T) {
	e := newHostEnv(t)
	devs, _ := os.ReadDir("/sys/class/infiniband")
	name := "mrtest0"
	if len(devs) > 0 {
		name = devs[0].Name()
	}
	res := &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{name: {HcaHandles: u32(2), HcaObjects: u32(100)}}}
	field := fmt.Sprintf("%s[%q]", fRdma, name)
	switch {
	case !e.controller("rdma"):
		e.hostCase("no rdma controller, refused")
		e.refused(res, field, e.notThere("rdma"), ErrNotSupported)
	case len(devs) == 0:
		e.hostCase("rdma controller, no RDMA device: refused by the kernel")
		e.refused(res, field, "no such device", nil)
	default:
		e.hostCase("rdma controller and device %s, applied", name)
		e.applied(res, func(r *reader) {
			var handles, objects uint32
			if e.v2() {
				for _, l := range r.v2Metrics().Rdma.GetLimit() {
					if l.Device == name {
						handles, objects = l.HcaHandles, l.HcaObjects
					}
				}
			} else {
				for _, l := range r.v1Metrics().Rdma.GetLimit() {
					if l.Device == name {
						handles, objects = l.HcaHandles, l.HcaObjects
					}
				}
			}
			wantEq(t, "rdma hca_handle", handles, 2)
			wantEq(t, "rdma hca_object", objects, 100)
		})
	}
}

// The misc controller (Linux 5.13) has no OCI field: only
// linux.resources.unified["misc.max"] reaches it, on cgroup v2. Applied for
// a resource misc.capacity lists, refused by the kernel for one it does not.
func TestHostMisc(t *testing.T) {
	e := newHostEnv(t)
	if !e.v2() {
		e.hostCase("cgroup v1: misc only through linux.resources.unified, refused")
		e.refused(&specs.LinuxResources{Unified: map[string]string{"misc.max": "sev 1"}}, fUnified, "cgroup v2 files cannot be set on a cgroup v1 host", ErrNotSupported)
		return
	}
	resource := "mrtest"
	if e.controller("misc") {
		capacity, err := os.ReadFile(filepath.Join(e.h.mnt, "misc.capacity"))
		if err != nil {
			t.Fatal(err)
		}
		if f := strings.Fields(string(capacity)); len(f) > 0 {
			resource = f[0]
		}
	}
	res := &specs.LinuxResources{Unified: map[string]string{"misc.max": resource + " 1"}}
	field := fmt.Sprintf("%s[%q]", fUnified, "misc.max")
	switch {
	case !e.controller("misc"):
		e.hostCase("no misc controller, refused")
		e.refused(res, field, e.notThere("misc"), ErrNotSupported)
	case resource == "mrtest":
		e.hostCase("misc controller with an empty misc.capacity: refused by the kernel")
		e.refused(res, field, "invalid argument (misc.capacity", nil)
	default:
		e.hostCase("misc controller with resource %s, applied", resource)
		e.applied(res, func(r *reader) {
			if got := r.file("misc", "misc.max"); !slices.Contains(strings.Split(got, "\n"), resource+" 1") {
				t.Errorf("misc.max = %q, lacks %s 1", got, resource)
			}
		})
	}
}

// cpu.idle (Linux 5.15) and CPU burst (5.14), same knobs on v1 and v2.
func TestHostCPUIdleAndBurst(t *testing.T) {
	e := newHostEnv(t)
	for _, c := range []struct {
		name, field, first, v1file, v2file string
		res                                specs.LinuxResources
		want                               string
	}{
		{"idle", fCPU + ".idle", fCPU + ".idle", "cpu.idle", "cpu.idle", specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(1)}}, "1"},
		{"burst", fCPU + ".burst", fCPU + ".period", "cpu.cfs_burst_us", "cpu.max.burst", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000), Burst: u64(10000)}}, "10000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := *e
			e.t = t
			file := c.v1file
			if e.v2() {
				file = c.v2file
			}
			switch {
			case !e.controller("cpu"):
				e.hostCase("no cpu controller, refused")
				e.refused(&c.res, c.first, e.notThere("cpu"), ErrNotSupported)
			case e.has("cpu", file):
				e.hostCase("%s present, applied", file)
				e.applied(&c.res, func(r *reader) {
					r.wantFile("cpu", file, c.want)
					if c.name == "burst" && e.v2() {
						r.wantFile("cpu", "cpu.max", "50000 100000")
					}
				})
			default:
				e.hostCase("no %s, refused", file)
				e.refused(&c.res, c.field, "this kernel has no "+file, ErrNotSupported)
			}
		})
	}
}

// Realtime CPU bandwidth needs CONFIG_RT_GROUP_SCHED on v1 and does not
// exist on v2. Where the files exist, a runtime beyond the parent's budget
// is refused by the kernel with the field named.
func TestHostRealtime(t *testing.T) {
	e := newHostEnv(t)
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimePeriod: u64(500000), RealtimeRuntime: i64(0)}}
	switch {
	case e.v2():
		e.hostCase("cgroup v2: no realtime bandwidth, refused")
		e.refused(res, fCPU+".realtimeRuntime", "cgroup v2 has no realtime CPU bandwidth control", ErrNotSupported)
	case !e.controller("cpu"):
		e.hostCase("no cpu controller, refused")
		e.refused(res, fCPU+".realtimePeriod", e.notThere("cpu"), ErrNotSupported)
	case e.has("cpu", "cpu.rt_period_us"):
		e.hostCase("cpu.rt_period_us present (RT_GROUP_SCHED), applied")
		e.applied(res, func(r *reader) {
			r.wantFile("cpu", "cpu.rt_period_us", "500000")
			r.wantFile("cpu", "cpu.rt_runtime_us", "0")
		})
		e.hostCase("a runtime beyond the parent's budget of 0, refused by the kernel")
		e.refused(&specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(10000)}}, fCPU+".realtimeRuntime", "realtime runtime must fit", nil)
	default:
		e.hostCase("no cpu.rt_period_us (no RT_GROUP_SCHED), refused")
		e.refused(res, fCPU+".realtimePeriod", "this kernel has no cpu.rt_period_us", ErrNotSupported)
	}
}

// memory.useHierarchy false: applied by a kernel that still allows
// non-hierarchical memory cgroups, refused by one that does not (Linux 6.x
// answers EINVAL), and meaningless on v2.
func TestHostUseHierarchy(t *testing.T) {
	e := newHostEnv(t)
	res := &specs.LinuxResources{Memory: &specs.LinuxMemory{UseHierarchy: ptr(false)}}
	field := fMemory + ".useHierarchy"
	switch {
	case e.v2():
		e.hostCase("cgroup v2 is always hierarchical, refused")
		e.refused(res, field, "cgroup v2 is always hierarchical", ErrNotSupported)
	case !e.controller("memory"):
		e.hostCase("no memory controller, refused")
		e.refused(res, field, e.notThere("memory"), ErrNotSupported)
	case e.keeps("memory", "memory.use_hierarchy", "0"):
		e.hostCase("the kernel allows use_hierarchy 0, applied")
		e.applied(res, func(r *reader) { r.wantFile("memory", "memory.use_hierarchy", "0") })
	default:
		e.hostCase("the kernel has hierarchical memory cgroups only, refused by the kernel")
		e.refused(res, field, "hierarchical memory cgroups only", nil)
	}
}
