package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/internal/sysfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options configures New and Load.
type Options struct {
	// Mountpoint is where the cgroup filesystems are mounted; "" means
	// DefaultMountpoint.
	Mountpoint string
	// Recorder receives every change with its shell equivalent; nil
	// records nothing.
	Recorder *trace.Recorder
	// Warn receives one line for each field that is accepted but has no
	// effect on this host, starting with the field's path, e.g.
	// "linux.resources.memory.kernel: ignored: cgroup v2 has no kernel
	// memory limit ...". Only the deprecated kernel memory limits do that
	// (runc and crun accept and ignore them too); everything else is
	// applied or refused. nil drops the warnings (the recorder still shows
	// them).
	Warn func(string)

	// Systemd selects the systemd driver for Begin and New: cgroupsPath is
	// runc's "slice:prefix:name" and the cgroup is a transient unit that
	// systemd creates (systemd.go).
	Systemd bool
	// Unit is, for Load, the systemd unit that owns the cgroup
	// (Manager.Unit when it was made); "" for the cgroupfs driver.
	Unit string
	// Annotations are the config's; with the systemd driver,
	// org.systemd.property.<Name> ones become properties of the unit.
	Annotations map[string]string
	// Record, when set, is called by Begin with the cgroup's path (Path)
	// and unit (Unit) once they are known and before anything is created,
	// so that a caller killed at any later point has them on record and can
	// remove the cgroup (Load, Delete); an error stops Begin.
	Record func(path, unit string) error
}

func (o Options) writer() writer { return writer{rec: o.Recorder, warn: o.Warn} }

// Manager is one container's cgroup: a directory in each hierarchy on v1,
// one directory on v2.
type Manager struct {
	h     *host
	paths map[string]string // hierarchy Name -> cgroup path ("/miniruntime-web")
	w     writer

	todo    *pending // set between Begin and Finish
	created []string // directories Begin and Finish made, outermost first
	sd      *unit    // the systemd driver's unit; nil with cgroupfs
}

// New resolves cgroupsPath (see host.resolve: "" is DefaultPrefix<id>, an
// absolute path is taken from the root of each hierarchy, a relative one
// from the caller's own cgroup), creates the cgroup in every hierarchy the
// host's mode uses and applies res. Everything is checked before the first
// mkdir; if a later step fails, New removes the directories it created.
// It is Begin and Finish in one go.
func New(id, cgroupsPath string, res *specs.LinuxResources, opts Options) (*Manager, error) {
	h, err := probe(opts.Mountpoint)
	if err != nil {
		return nil, err
	}
	return create(h, id, cgroupsPath, res, opts)
}

func create(h *host, id, cgroupsPath string, res *specs.LinuxResources, opts Options) (*Manager, error) {
	c, err := Check(res)
	if err != nil {
		return nil, err
	}
	m, err := begin(h, id, cgroupsPath, c, opts)
	if err != nil {
		return nil, err
	}
	if err := m.Finish(); err != nil {
		m.removeCreated(0)
		return nil, err
	}
	return m, nil
}

// Begin checks everything New would do and creates only the cgroup2
// directory that clone3 can start a process in (FD); Finish does the rest.
// Between the two, a caller starts the container init, so that the v1
// hierarchies and the resource writes happen while the init's runtime is
// still starting up, instead of before it. On a host without cgroup2,
// Begin creates nothing.
//
// Begin takes the resources as Check accepted them: it neither checks them
// again nor rebuilds their device rules. nil is no linux.resources.
func Begin(id, cgroupsPath string, res *Checked, opts Options) (*Manager, error) {
	h, err := probe(opts.Mountpoint)
	if err != nil {
		return nil, err
	}
	return begin(h, id, cgroupsPath, res, opts)
}

func begin(h *host, id, cgroupsPath string, res *Checked, opts Options) (*Manager, error) {
	if res == nil {
		var err error
		if res, err = Check(nil); err != nil {
			return nil, err
		}
	}
	if opts.Systemd {
		return beginSystemd(h, id, cgroupsPath, res, opts)
	}
	m, err := plan(h, id, cgroupsPath, res, opts)
	if err != nil {
		return nil, err
	}
	if opts.Record != nil {
		if err := opts.Record(m.Path(), ""); err != nil {
			return nil, err
		}
	}
	for i, x := range h.hier {
		if x.V2 {
			if err := m.createIn(x); err != nil {
				m.removeCreated(0)
				return nil, err
			}
			m.todo.done = i
			break
		}
	}
	return m, nil
}

// Finish creates the cgroup in the hierarchies Begin left, enables the
// controllers, writes the resources and installs the device rules. On
// failure it removes what it created itself; what Begin made is left for
// Delete, since a process may already live in it.
func (m *Manager) Finish() (err error) {
	t := m.todo
	if t == nil {
		return nil
	}
	if m.sd != nil && !m.sd.started {
		return m.finishUnit(0)
	}
	m.todo = nil
	begun := len(m.created)
	defer func() {
		if err != nil {
			m.removeCreated(begun)
		}
	}()
	for i, x := range m.h.hier {
		if i == t.done {
			continue
		}
		if err := m.createIn(x); err != nil {
			return err
		}
	}
	if m.h.mode == Unified {
		if err := m.enableControllers(t.controllers); err != nil {
			return err
		}
	}
	if err := m.w.apply(t.settings, m.dirFor); err != nil {
		return err
	}
	if t.prog != nil {
		return m.w.attachDeviceFilter(m.dir(m.h.hier[0]), t.prog)
	}
	return m.checkDevicesList(t.rules)
}

// FinishFor is Finish for a cgroup that the container init, pid, is to live
// in. The cgroupfs driver has no use for the pid: it is Finish. The systemd
// driver starts the unit with pid in it first (systemd refuses a scope
// without a process), then writes the resources as Finish does; Placed then
// tells the caller the init is where it belongs.
func (m *Manager) FinishFor(pid int) error {
	if m.sd != nil && !m.sd.started && m.todo != nil {
		return m.finishUnit(pid)
	}
	return m.Finish()
}

// pending is what Begin has checked and rendered and Finish writes.
type pending struct {
	settings    []Setting
	prog        *DeviceProgram // v2 device filter; nil on v1
	rules       []DeviceRule
	controllers []string // v2 controllers to enable
	done        int      // index of the hierarchy Begin created, or -1
}

// Load opens a cgroup New created, given the path Manager.Path returned
// then. It creates nothing, and a cgroup that no longer exists is not an
// error (Delete is idempotent; Pids reports fs.ErrNotExist).
func Load(path string, opts Options) (*Manager, error) {
	h, err := probe(opts.Mountpoint)
	if err != nil {
		return nil, err
	}
	return load(h, path, opts)
}

func load(h *host, path string, opts Options) (*Manager, error) {
	paths, err := decodePaths(path, h.hier)
	if err != nil {
		return nil, err
	}
	m := &Manager{h: h, paths: paths, w: opts.writer()}
	if opts.Unit != "" {
		m.loadSystemd(opts.Unit)
	}
	return m, nil
}

// plan renders, for this host, resources Check accepted, and checks what
// depends on the host before the system is touched.
func plan(h *host, id, cgroupsPath string, res *Checked, opts Options) (_ *Manager, err error) {
	paths, err := h.resolve(id, cgroupsPath)
	if err != nil {
		return nil, err
	}
	t := &pending{done: -1, rules: res.rules}
	m := &Manager{h: h, paths: paths, w: opts.writer(), todo: t}
	if t.settings, err = res.Values(h.mode); err != nil {
		return nil, err
	}
	if h.mode == Unified {
		if t.prog, err = DeviceFilter(t.rules); err != nil {
			return nil, err
		}
	} else {
		if _, ok := h.controllerHier("devices"); !ok {
			return nil, unsupportedf(fDevices, "the devices controller is not mounted; refusing to run a container without device isolation")
		}
	}
	for _, s := range t.settings {
		if _, err := m.dirFor(s); err != nil {
			return nil, err
		}
	}
	if h.mode == Unified {
		if t.controllers, err = m.wantControllers(t.settings); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// createIn makes the container's directory in hierarchy x, recording what
// it created so that a failure can remove exactly that.
func (m *Manager) createIn(x hierarchy) error {
	dir := m.dir(x)
	c, err := m.w.mkdirAll(dir)
	m.created = append(m.created, c...)
	if err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	if x.has("cpuset") {
		if err := m.w.cpusetFill(filepath.Join(m.h.mnt, x.Name), dir); err != nil {
			return fmt.Errorf("create cgroup: %w", err)
		}
	}
	return nil
}

// removeCreated undoes createIn from the from'th directory it made on,
// innermost first.
func (m *Manager) removeCreated(from int) {
	for _, d := range slices.Backward(m.created[from:]) {
		_ = m.w.rmdir(d)
	}
	m.created = m.created[:from]
}

func devicesOf(res *specs.LinuxResources) []specs.LinuxDeviceCgroup {
	if res == nil {
		return nil
	}
	return res.Devices
}

// Path is the resolved cgroup path, e.g. "/miniruntime-web", to store in
// the container's state and hand to Load. When a relative cgroupsPath
// resolved to different paths in different v1 hierarchies, the exceptions
// follow the common path: "/c;memory=/user.slice/c".
func (m *Manager) Path() string { return encodePaths(m.paths) }

// Mode is the host's cgroup layout.
func (m *Manager) Mode() Mode { return m.h.mode }

// Dirs lists the container's cgroup directories, one per hierarchy.
func (m *Manager) Dirs() []string {
	out := make([]string, 0, len(m.h.hier))
	for _, x := range m.h.hier {
		out = append(out, m.dir(x))
	}
	return out
}

func (m *Manager) dir(x hierarchy) string {
	return filepath.Join(m.h.mnt, x.Name, m.paths[x.Name])
}

// dirFor is the directory a setting is written in.
func (m *Manager) dirFor(s Setting) (string, error) {
	if m.h.mode == Unified {
		return m.dir(m.h.hier[0]), nil
	}
	if s.Ignore != "" {
		return "", nil // nothing is written
	}
	x, ok := m.h.controllerHier(s.Controller)
	if !ok {
		return "", m.h.notMounted(s)
	}
	return m.dir(x), nil
}

// mainDir is the directory Pids and Frozen look at on v1: pids and freezer
// see every process, and one hierarchy is enough because Add joins all.
func (m *Manager) mainDir() string {
	for _, c := range []string{"pids", "freezer", "memory", "cpu", "devices"} {
		if x, ok := m.h.controllerHier(c); ok {
			return m.dir(x)
		}
	}
	return m.dir(m.h.hier[0])
}

// Exists reports whether the container's cgroup directory is there.
func (m *Manager) Exists() bool {
	_, err := os.Stat(m.mainDir())
	return err == nil
}

// Add moves pid into the container's cgroup in every hierarchy by writing
// it to cgroup.procs, which moves the whole thread group.
func (m *Manager) Add(pid int) error {
	for _, x := range m.h.hier {
		dir := m.dir(x)
		if err := m.w.writeFile("join "+hierName(x), dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("add pid %d to cgroup: %w", pid, err)
		}
	}
	return nil
}

func hierName(x hierarchy) string {
	switch {
	case x.Name == "":
		return "cgroup"
	case x.V2:
		return x.Name + " (cgroup2)"
	}
	return x.Name + " cgroup"
}

// FD opens the container's cgroup2 directory for clone3's CLONE_INTO_CGROUP
// (syscall.SysProcAttr.UseCgroupFD and CgroupFD), so that the init is born
// inside it instead of being moved there: the one cgroup on a unified
// host, the one in the cgroup2 hierarchy mounted at unified/ on a hybrid
// host (whose v1 hierarchies the init then joins with SelfJoinFiles). A
// legacy host has no cgroup2 hierarchy: ErrNotSupported, use Add. Neither
// has a systemd unit not yet started (ErrNotSupported: FinishFor places the
// init); once it is, exec's processes are born in it like this.
func (m *Manager) FD() (*os.File, error) {
	if m.sd != nil && m.todo != nil {
		return nil, fmt.Errorf("cgroup fd: with the systemd driver, systemd puts the init in its unit by pid (FinishFor): %w", ErrNotSupported)
	}
	for _, x := range m.h.hier {
		if !x.V2 {
			continue
		}
		dir := m.dir(x)
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open cgroup fd", Path: dir, Err: err}
		}
		return os.NewFile(uintptr(fd), dir), nil
	}
	return nil, fmt.Errorf("cgroup fd: CLONE_INTO_CGROUP needs a cgroup2 hierarchy, this host is %s (use Add): %w", m.h.mode, ErrNotSupported)
}

// SelfJoinFiles are the v1 "tasks" files of the container's cgroup, one per
// v1 hierarchy. A thread that writes "0" to them moves itself alone, and
// the kernel does that without its global threadgroup lock, whose first
// writer after a quiet spell waits for an RCU grace period (10-20 ms here;
// that is what cgroup.procs writes of a whole process cost). The container
// init joins this way on the thread that will execve: after execve that
// thread is the whole process. Empty on a unified host.
func (m *Manager) SelfJoinFiles() []string {
	var out []string
	for _, x := range m.h.hier {
		if !x.V2 {
			out = append(out, filepath.Join(m.dir(x), "tasks"))
		}
	}
	return out
}

// Pids lists every process in the cgroup and its descendants.
func (m *Manager) Pids() ([]int, error) {
	root := m.mainDir()
	var pids []int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil // a child cgroup went away while we walked
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		data, err := sysfile.Read(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			if path != root && errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		for f := range strings.FieldsSeq(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list cgroup processes: %w", err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// checkDevicesList reads devices.list back after New's writes and compares
// it with the model of the rules, as runc does: the v1 device cgroup is the
// one place where a wrong state is a security problem.
func (m *Manager) checkDevicesList(rules []DeviceRule) error {
	x, _ := m.h.controllerHier("devices")
	data, err := sysfile.Read(filepath.Join(m.dir(x), "devices.list"))
	if err != nil {
		return &FieldError{Field: fDevices, Err: err}
	}
	got, err := parseDevicesList(string(data))
	if err != nil {
		return &FieldError{Field: fDevices, Err: err}
	}
	want, err := emulate(rules)
	if err != nil {
		return err
	}
	if want.defaultAllow != got.defaultAllow || (!want.defaultAllow && !want.equal(got)) {
		return &FieldError{Field: fDevices, Err: fmt.Errorf("devices.list in %s does not match the rules after writing them:\n%s", m.dir(x), data)}
	}
	return nil
}
