package cgroups

// The systemd cgroup driver (runc's --systemd-cgroup). On a host whose init
// is systemd, systemd owns the cgroup tree: a container's cgroup is a
// transient unit that systemd creates, places and removes, and that the
// runtime asks for over systemd's D-Bus API. As root that is systemd's own
// socket, /run/systemd/private, with no D-Bus daemon in between.
//
//	create  Begin       parse "slice:prefix:name", render the resources as
//	                    unit properties and files, connect to systemd
//	        (fork the init: not into its cgroup, which does not exist yet)
//	        FinishFor   StartTransientUnit <prefix>-<name>.scope with
//	                    Slice=, Delegate=yes, PIDs=[init], the accounting
//	                    switches and the resource properties; wait for the
//	                    job; then write the cgroup files as the cgroupfs
//	                    driver does (the scope is delegated: below its
//	                    attributes, the tree is ours)
//	update  Update      SetUnitProperties (runtime) and the files
//	delete  Delete      kill what is left, StopUnit, ResetFailedUnit, rmdir
//
// pause, resume, events, ps and exec use the cgroup files like the cgroupfs
// driver (exec's process is born in the scope's cgroup with
// CLONE_INTO_CGROUP, which a delegated scope allows).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"golang.org/x/sys/unix"

	"github.com/miniruntime/miniruntime/internal/trace"
)

// systemdRunDir exists when systemd is the host's init (sd_booted(3)).
const systemdRunDir = "/run/systemd/system"

// jobTimeout bounds the wait for systemd to run a start or stop job, as
// runc's 30 s.
const jobTimeout = 30 * time.Second

// SystemdRunning reports whether systemd is the host's init: whether
// /run/systemd/system is a directory, as sd_booted(3) checks.
func SystemdRunning() bool {
	fi, err := os.Lstat(systemdRunDir)
	return err == nil && fi.IsDir()
}

// errNoSystemd is what the systemd driver says on a host without systemd.
// It matches ErrNotSupported.
var errNoSystemd error = noSystemdError{}

type noSystemdError struct{}

func (noSystemdError) Error() string {
	return "systemd cgroup driver: systemd is not running on this host (no " + systemdRunDir + "); without --systemd-cgroup the cgroupfs driver is used"
}

func (noSystemdError) Unwrap() error { return ErrNotSupported }

// unit is the systemd side of a Manager.
type unit struct {
	systemdPath
	desc  string
	props []unitProperty // the resources, rendered at Begin
	extra []unitProperty // org.systemd.property.* annotations
	// started: FinishFor started the unit, or Load found it in the state;
	// Delete stops only such a unit, never one another container owns.
	started bool
	placed  int // the pid FinishFor put in every hierarchy
}

// beginSystemd is Begin for the systemd driver. It checks and renders
// everything and connects to systemd, but creates nothing: the unit can be
// started only with the init's pid (FinishFor).
func beginSystemd(h *host, id, cgroupsPath string, res *Checked, opts Options) (*Manager, error) {
	if !SystemdRunning() {
		return nil, errNoSystemd
	}
	p, err := parseSystemdPath(id, cgroupsPath)
	if err != nil {
		return nil, err
	}
	extra, err := annotationProperties(opts.Annotations)
	if err != nil {
		return nil, err
	}
	m, err := plan(h, id, p.Path, res, opts)
	if err != nil {
		return nil, err
	}
	_, version, err := systemdBus(m.w.rec)
	if err != nil {
		return nil, err
	}
	props, settings, err := unitResources(m.todo.settings, version, 0)
	if err != nil {
		return nil, err
	}
	m.todo.settings = settings
	m.sd = &unit{systemdPath: p, desc: "miniruntime container " + id, props: props, extra: extra}
	if opts.Record != nil {
		if err := opts.Record(m.Path(), m.Unit()); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// loadSystemd marks a loaded Manager as the cgroup of a systemd unit.
func (m *Manager) loadSystemd(unitName string) {
	m.sd = &unit{systemdPath: systemdPath{Unit: unitName, Path: m.paths[m.h.hier[0].Name]}, started: true}
}

// Unit is the systemd unit that owns the cgroup ("miniruntime-web.scope"),
// or "" with the cgroupfs driver. The container's state records it.
func (m *Manager) Unit() string {
	if m.sd == nil {
		return ""
	}
	return m.sd.Unit
}

// Placed reports whether FinishFor has already put pid in the container's
// cgroup in every hierarchy (the systemd driver does: systemd moves the pid
// into the scope it starts), so that the caller need not.
func (m *Manager) Placed(pid int) bool {
	return m.sd != nil && pid > 0 && m.sd.placed == pid
}

// finishUnit is FinishFor for the systemd driver: start the unit with pid in
// it, then write the resources as Finish does, then join pid to whatever
// hierarchies systemd did not put it in.
func (m *Manager) finishUnit(pid int) error {
	u := m.sd
	if u.Scope() && pid <= 0 {
		return fmt.Errorf("systemd cgroup driver: the scope unit %s needs a process to start with (FinishFor(pid))", u.Unit)
	}
	conn, _, err := systemdBus(m.w.rec)
	if err != nil {
		return err
	}
	if err := u.start(conn, pid, m.w.rec); err != nil {
		return err
	}
	u.started = true
	if err := m.Finish(); err != nil {
		return err
	}
	// A scope on cgroup v2 holds pid now. systemd cannot put a process in a
	// slice, and on v1 it only joins the hierarchies it manages.
	if pid > 0 && !(u.Scope() && m.h.mode == Unified) {
		if err := m.Add(pid); err != nil {
			return err
		}
	}
	if pid > 0 && m.w.rec.Enabled() && u.Scope() {
		m.w.rec.Stepf("", "systemd put the init (pid %d) in %s", pid, m.Path())
	}
	u.placed = pid
	return nil
}

// start starts the transient unit and waits for systemd's job to finish. A
// unit of that name that failed before and was never reset would refuse the
// start: it is reset and the start tried once more, as runc does.
func (u *unit) start(conn *sdbus.Conn, pid int, rec *trace.Recorder) error {
	var props []unitProperty
	add := func(name string, v any, text string) {
		props = append(props, unitProperty{Name: name, Value: v, Text: text})
	}
	add("Description", u.desc, "")
	if u.Scope() {
		add("Slice", u.Slice, "")
		add("Delegate", true, "Delegate=yes")
		add("PIDs", []uint32{uint32(pid)}, "")
	} else {
		add("Wants", []string{u.Slice}, "")
	}
	// Accounting on, so that systemd enables the controllers the
	// container's limits and statistics need all the way down, and keeps
	// them enabled.
	for _, a := range []string{"MemoryAccounting", "CPUAccounting", "IOAccounting", "TasksAccounting"} {
		add(a, true, a+"=yes")
	}
	add("DefaultDependencies", false, "DefaultDependencies=no")
	props = append(props, u.props...)
	props = append(props, u.extra...)
	if rec.Enabled() {
		if u.Scope() {
			words := []string{"systemd-run", "--scope", "--unit=" + u.Unit, "--slice=" + u.Slice, "--description=" + u.desc}
			rec.Step(fmt.Sprintf("start scope unit %s for the init (pid %d)", u.Unit, pid),
				trace.Quote(append(append(words, propertyArgs(props)...), "miniruntime", "init")...))
		} else {
			rec.Step("start slice unit "+u.Unit, setPropertyCommand(u.Unit, props)+" && systemctl start "+u.Unit)
		}
	}
	dprops := dbusProperties(props)
	for retried := false; ; retried = true {
		ch := make(chan string, 1)
		_, err := conn.StartTransientUnitContext(context.Background(), u.Unit, "replace", dprops, ch)
		if isDBusError(err, "org.freedesktop.systemd1.UnitExists") && !retried {
			// Perhaps a failed unit left over: systemd removes it once
			// reset (a unit in use stays, and the retry says so).
			rec.Step("a unit "+u.Unit+" exists: reset it if it failed, and try again", trace.Quote("systemctl", "reset-failed", u.Unit))
			_ = conn.ResetFailedUnitContext(context.Background(), u.Unit)
			continue
		}
		if isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
			return fmt.Errorf("systemd cgroup driver: unit %s already exists: another container has the cgroupsPath that names it", u.Unit)
		}
		if err != nil {
			return fmt.Errorf("systemd cgroup driver: start unit %s: %w", u.Unit, err)
		}
		if err := waitJob(ch, "start", u.Unit); err != nil {
			_ = conn.ResetFailedUnitContext(context.Background(), u.Unit)
			return err
		}
		return nil
	}
}

// stopUnit is Delete's systemd part: stop the unit this Manager started or
// loaded and let systemd forget it. What is left in the cgroup is killed
// first: a scope stopped with processes in it gets SIGTERM and systemd's
// TimeoutStopSec (90 s by default) before SIGKILL.
func (m *Manager) stopUnit() error {
	u := m.sd
	if pids, err := m.Pids(); err == nil && len(pids) > 0 {
		if err := m.Signal(unix.SIGKILL); err != nil {
			return fmt.Errorf("delete cgroup: %w", err)
		}
	}
	conn, _, err := systemdBus(m.w.rec)
	if err != nil {
		if !m.Exists() {
			return nil // the unit's cgroup is gone: so is a scope
		}
		return err
	}
	m.w.rec.Step("stop unit "+u.Unit, trace.Quote("systemctl", "stop", u.Unit))
	ch := make(chan string, 1)
	_, err = conn.StopUnitContext(context.Background(), u.Unit, "replace", ch)
	switch {
	case isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit"):
		// A scope goes away by itself when its last process has.
	case err != nil:
		return fmt.Errorf("systemd cgroup driver: stop unit %s: %w", u.Unit, err)
	default:
		// A job that ends otherwise than "done" (the scope emptied and
		// stopped by itself meanwhile) is fine once the cgroup is gone.
		if err := waitJob(ch, "stop", u.Unit); err != nil && m.Exists() {
			return err
		}
	}
	// A unit that failed (an OOM kill can do that) stays listed until
	// reset; a unit that is gone makes this fail, which is fine.
	if err := conn.ResetFailedUnitContext(context.Background(), u.Unit); err == nil {
		m.w.rec.Step("forget the failed unit "+u.Unit, trace.Quote("systemctl", "reset-failed", u.Unit))
	}
	return nil
}

// updateUnit is Update's systemd part: the new limits become unit
// properties (runtime ones, as `systemctl set-property --runtime`), and the
// settings come back with the CPU quota rounded as systemd keeps it.
func (m *Manager) updateUnit(settings []Setting) ([]Setting, error) {
	conn, version, err := systemdBus(m.w.rec)
	if err != nil {
		return nil, err
	}
	props, out, err := unitResources(settings, version, m.currentPeriod())
	if err != nil {
		return nil, err
	}
	if len(props) == 0 {
		return out, nil
	}
	m.w.rec.Step("set the new limits on unit "+m.sd.Unit, setPropertyCommand(m.sd.Unit, props))
	if err := conn.SetUnitPropertiesContext(context.Background(), m.sd.Unit, true, dbusProperties(props)...); err != nil {
		return nil, fmt.Errorf("systemd cgroup driver: set properties of unit %s: %w", m.sd.Unit, err)
	}
	return out, nil
}

// currentPeriod is the CFS period the cgroup has now (0 when unknown), for
// a quota updated without one.
func (m *Manager) currentPeriod() uint64 {
	if m.h.mode == Unified {
		v, err := readTrim(m.dir(m.h.hier[0]) + "/cpu.max")
		if err != nil {
			return 0
		}
		_, p, ok, err := parseCPUMax(v)
		if err != nil || !ok {
			return 0
		}
		return p
	}
	x, ok := m.h.controllerHier("cpu")
	if !ok {
		return 0
	}
	v, err := readTrim(m.dir(x) + "/cpu.cfs_period_us")
	if err != nil {
		return 0
	}
	p, _ := strconv.ParseUint(v, 10, 64)
	return p
}

// waitJob waits for the result of a systemd job; anything but "done"
// (failed, timeout, canceled, dependency, skipped) is an error.
func waitJob(ch <-chan string, what, unitName string) error {
	timer := time.NewTimer(jobTimeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r != "done" {
			return fmt.Errorf("systemd cgroup driver: the job to %s unit %s ended %q, not \"done\" (systemctl status %s; journalctl -u %s)", what, unitName, r, unitName, unitName)
		}
		return nil
	case <-timer.C:
		return fmt.Errorf("systemd cgroup driver: timed out after %s waiting for systemd to %s unit %s", jobTimeout, what, unitName)
	}
}

// bus is this process's connection to systemd, made once, and systemd's
// version (the properties a unit may have depend on it).
var bus struct {
	sync.Mutex
	conn    *sdbus.Conn
	version int
}

// systemdBus connects to systemd's private socket, once per process.
func systemdBus(rec *trace.Recorder) (*sdbus.Conn, int, error) {
	bus.Lock()
	defer bus.Unlock()
	if bus.conn != nil && bus.conn.Connected() {
		return bus.conn, bus.version, nil
	}
	if !SystemdRunning() {
		return nil, 0, errNoSystemd
	}
	// The connection lives as long as its context: not a timeout's.
	conn, err := sdbus.NewSystemdConnectionContext(context.Background())
	if err != nil {
		return nil, 0, fmt.Errorf("systemd cgroup driver: connect to systemd at /run/systemd/private: %w", err)
	}
	v, err := conn.GetManagerProperty("Version")
	if err != nil {
		conn.Close()
		return nil, 0, fmt.Errorf("systemd cgroup driver: read systemd's version: %w", err)
	}
	bus.conn, bus.version = conn, systemdVersion(v)
	if rec.Enabled() {
		rec.Stepf("", "connected to systemd %d (PID 1) over /run/systemd/private", bus.version)
	}
	return bus.conn, bus.version, nil
}

// systemdVersion reads the number at the start of systemd's version string
// as D-Bus renders it: "\"252.38-1~deb12u1\"" is 252; 0 when there is none.
func systemdVersion(s string) int {
	s = strings.TrimLeft(s, "\"v")
	end := 0
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return n
}

func isDBusError(err error, name string) bool {
	var derr dbus.Error
	return err != nil && errors.As(err, &derr) && derr.Name == name
}

// dbusProperties converts properties for go-systemd.
func dbusProperties(props []unitProperty) []sdbus.Property {
	out := make([]sdbus.Property, 0, len(props))
	for _, p := range props {
		v, ok := p.Value.(dbus.Variant)
		if !ok {
			v = dbus.MakeVariant(p.Value)
		}
		out = append(out, sdbus.Property{Name: p.Name, Value: v})
	}
	return out
}

// propertyArgs renders properties as systemd-run's "-p NAME=VALUE"
// arguments; those with no Text are given by other flags.
func propertyArgs(props []unitProperty) []string {
	var out []string
	for _, p := range props {
		if p.Text != "" {
			out = append(out, "-p", p.Text)
		}
	}
	return out
}

// setPropertyCommand is the systemctl command that sets props on a running
// unit without writing them to /etc.
func setPropertyCommand(unitName string, props []unitProperty) string {
	words := []string{"systemctl", "set-property", "--runtime", unitName}
	for _, p := range props {
		if p.Text != "" {
			words = append(words, p.Text)
		}
	}
	return trace.Quote(words...)
}

// annotationPrefix marks annotations that are systemd unit properties, as
// in runc: "org.systemd.property.TimeoutStopUSec": "uint64 15000000"
// (podman sets that one for --stop-timeout).
const annotationPrefix = "org.systemd.property."

// annotationProperties reads the org.systemd.property.<Name> annotations:
// a name of letters only, a value in GVariant text ("uint64 15000000",
// "true", "'idle'"). A name ending in a lowercase letter and "Sec" is
// systemd's spelling in unit files; D-Bus wants microseconds, so it becomes
// <Name>USec with the number of seconds converted.
func annotationProperties(ann map[string]string) ([]unitProperty, error) {
	var keys []string
	for k := range ann {
		if strings.HasPrefix(k, annotationPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []unitProperty
	for _, k := range keys {
		name := strings.TrimPrefix(k, annotationPrefix)
		if err := checkPropertyName(name); err != nil {
			return nil, fmt.Errorf("annotation %s: %w", k, err)
		}
		v, err := dbus.ParseVariant(ann[k], dbus.Signature{})
		if err != nil {
			return nil, fmt.Errorf("annotation %s: value %q is not a GVariant (such as \"uint64 1000\" or \"true\"): %w", k, ann[k], err)
		}
		text := name + "=" + ann[k]
		if base, ok := strings.CutSuffix(name, "Sec"); ok && base != "" && base[len(base)-1] >= 'a' && base[len(base)-1] <= 'z' {
			name = base + "USec"
			if v, err = secondsToUSec(v); err != nil {
				return nil, fmt.Errorf("annotation %s: %w", k, err)
			}
		}
		out = append(out, unitProperty{Name: name, Value: v, Text: text})
	}
	return out, nil
}

func checkPropertyName(s string) error {
	if len(s) < 3 {
		return fmt.Errorf("property name %q is too short", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return fmt.Errorf("property name %q has a character other than a letter", s)
		}
	}
	return nil
}

// secondsToUSec converts a number of seconds of any D-Bus numeric type to
// uint64 microseconds.
func secondsToUSec(v dbus.Variant) (dbus.Variant, error) {
	var sec float64
	switch x := v.Value().(type) {
	case byte:
		sec = float64(x)
	case int16:
		sec = float64(x)
	case uint16:
		sec = float64(x)
	case int32:
		sec = float64(x)
	case uint32:
		sec = float64(x)
	case int64:
		sec = float64(x)
	case uint64:
		sec = float64(x)
	case float64:
		sec = x
	default:
		return v, fmt.Errorf("value %s is not a number of seconds", v)
	}
	if sec < 0 || sec*1e6 >= 1<<64 {
		return v, fmt.Errorf("value %s is out of range for a number of seconds", v)
	}
	return dbus.MakeVariant(uint64(sec * 1e6)), nil
}
