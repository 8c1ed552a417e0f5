package runtime

import (
	"fmt"
	"maps"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/miniruntime/miniruntime/runtime/nsenter"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsFlags maps namespace types to their clone/setns flags, to the unshare(1)
// option that creates the same namespace (for the trace) and to their name
// under /proc/<pid>/ns.
var nsFlags = map[specs.LinuxNamespaceType]struct {
	flag    uintptr
	unshare string
	proc    string
}{
	specs.PIDNamespace:     {unix.CLONE_NEWPID, "--pid", "pid"},
	specs.NetworkNamespace: {unix.CLONE_NEWNET, "--net", "net"},
	specs.MountNamespace:   {unix.CLONE_NEWNS, "--mount", "mnt"},
	specs.IPCNamespace:     {unix.CLONE_NEWIPC, "--ipc", "ipc"},
	specs.UTSNamespace:     {unix.CLONE_NEWUTS, "--uts", "uts"},
	specs.UserNamespace:    {unix.CLONE_NEWUSER, "--user", "user"},
	specs.CgroupNamespace:  {unix.CLONE_NEWCGROUP, "--cgroup", "cgroup"},
	specs.TimeNamespace:    {unix.CLONE_NEWTIME, "--time", "time"},
}

// setnsOrder is the order in which existing namespaces are joined: the user
// namespace first (it grants the capabilities for the others), the mount
// namespace last (it changes the root the other paths are looked up in).
var setnsOrder = []specs.LinuxNamespaceType{
	specs.UserNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.NetworkNamespace,
	specs.PIDNamespace, specs.CgroupNamespace, specs.TimeNamespace, specs.MountNamespace,
}

// cloneFlags are the new namespaces the init is born in. A time namespace
// made by clone(2) could not be given offsets: the init's preamble makes it
// (preambleEnv).
func cloneFlags(s *specs.Spec) uintptr {
	var f uintptr
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" && ns.Type != specs.TimeNamespace {
			f |= nsFlags[ns.Type].flag
		}
	}
	return f
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(m))
	for i, x := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)}
	}
	return out
}

// startInit starts the init. When the spec joins existing namespaces, the
// parent enters them itself on a dedicated OS thread and forks from that
// thread: namespaces are per thread, and a child inherits the namespaces
// (and pid_for_children) of the thread that forked it. The thread is never
// unlocked, so Go discards it when the goroutine ends and no other
// goroutine ever runs in those namespaces. A user or time namespace cannot
// be entered by a multi-threaded process; the init enters those in its C
// preamble before the Go runtime starts (package nsenter, preambleEnv).
func startInit(cmd *initCmd, s *specs.Spec, rec *trace.Recorder, ahead *netnsAhead) error {
	joins := joinedNamespaces(s)
	if rec.Enabled() {
		traceClone(rec, s)
	}
	if len(joins) == 0 {
		if ahead != nil {
			if start, ok := ahead.use(cmd, s, rec); ok {
				return start()
			}
		}
		return cmd.Start()
	}
	ahead.end()
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: see above
		errc <- enterAndStart(cmd, joins, rec)
	}()
	return <-errc
}

func enterAndStart(cmd *initCmd, joins []specs.LinuxNamespace, rec *trace.Recorder) error {
	for _, ns := range joins {
		switch ns.Type {
		case specs.UserNamespace, specs.TimeNamespace:
			continue // entered by the init's preamble
		case specs.CgroupNamespace:
			continue // joined by the init once it is in its cgroup (cgroupNS)
		}
		if ns.Type == specs.MountNamespace {
			// setns into a mount namespace needs an fs_struct of our own;
			// Go threads share one.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare(CLONE_FS): %w", err)
			}
		}
		if err := setnsPath(ns.Path, int(nsFlags[ns.Type].flag)); err != nil {
			return fmt.Errorf("linux.namespaces %s: %w", ns.Type, err)
		}
		rec.Step("join the "+string(ns.Type)+" namespace", trace.Quote("nsenter", "--"+nsFlags[ns.Type].proc+"="+ns.Path))
	}
	return cmd.Start()
}

// preambleEnv is what the init's C preamble must enter before its Go
// runtime starts: a user namespace joined by path, and a time namespace,
// joined or made with its offsets.
func preambleEnv(s *specs.Spec) []string {
	var env []string
	for _, ns := range s.Linux.Namespaces {
		switch {
		case ns.Type == specs.UserNamespace && ns.Path != "":
			env = append(env, nsenter.UserEnv(ns.Path))
		case ns.Type == specs.TimeNamespace && ns.Path != "":
			env = append(env, nsenter.JoinTimeEnv(ns.Path))
		case ns.Type == specs.TimeNamespace:
			env = append(env, nsenter.NewTimeEnv(timeOffsets(s.Linux.TimeOffsets)))
		}
	}
	return env
}

// timeOffsets is linux.timeOffsets as /proc/PID/timens_offsets reads them:
// one "clock seconds nanoseconds" line per clock.
func timeOffsets(offs map[string]specs.LinuxTimeOffset) string {
	var b strings.Builder
	for _, clock := range slices.Sorted(maps.Keys(offs)) {
		o := offs[clock]
		fmt.Fprintf(&b, "%s %d %d\n", clock, o.Secs, o.Nanosecs)
	}
	return b.String()
}

func joinedNamespaces(s *specs.Spec) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, t := range setnsOrder {
		for _, ns := range s.Linux.Namespaces {
			if ns.Type == t && ns.Path != "" {
				out = append(out, ns)
			}
		}
	}
	return out
}

// traceClone shows the clone(2) of the init as the unshare(1) command that
// creates the same namespaces.
func traceClone(rec *trace.Recorder, s *specs.Spec) {
	words := []string{"unshare"}
	var names []string
	for _, ns := range s.Linux.Namespaces {
		if ns.Path == "" {
			words = append(words, nsFlags[ns.Type].unshare)
			names = append(names, string(ns.Type))
		}
	}
	if hasNewNamespace(s, specs.PIDNamespace) {
		words = append(words, "--fork")
	}
	// unshare(1) takes whole seconds; the nanoseconds go to the kernel too.
	for _, clock := range slices.Sorted(maps.Keys(s.Linux.TimeOffsets)) {
		if hasNewNamespace(s, specs.TimeNamespace) {
			words = append(words, "--"+clock, strconv.FormatInt(s.Linux.TimeOffsets[clock].Secs, 10))
		}
	}
	words = append(words, "miniruntime", "init")
	rec.Step("clone the init into new namespaces: "+strings.Join(names, ","), trace.Quote(words...))
}

// cgroupNS says how the init enters its cgroup namespace, for initConfig:
// "" when clone(2) already made it (or there is none), "new" to unshare one,
// or the path of one to join.
//
// A cgroup namespace is rooted at the cgroup its creator is in, so it must
// be made after the init is in its own cgroup. On cgroup v2 the init is
// born there (CLONE_INTO_CGROUP) and clone can make it; on v1 the init is
// moved in later and unshares it itself. Joining an existing one must also
// wait: with nsdelegate, a process inside a cgroup namespace cannot be
// placed in a cgroup, or clone into one, outside its view.
func cgroupNS(s *specs.Spec, born bool) string {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.CgroupNamespace {
			continue
		}
		if ns.Path != "" {
			return ns.Path
		}
		if !born {
			return "new"
		}
	}
	return ""
}

// netnsAhead is a network namespace made before the config is even read,
// on an OS thread of its own that then forks the init: making a network
// namespace is the costliest part of the clone (about half a millisecond
// here), and this way it overlaps reading the bundle. It serves only a
// config that asks for a new network namespace and needs nothing else of
// the forking thread (no namespace joined by path, no new user namespace:
// a user namespace must own the network namespace made with it). Otherwise its thread ends unused, and the namespace goes with it.
type netnsAhead struct {
	made chan error        // the result of unshare(CLONE_NEWNET)
	fork chan func() error // run on the thread; closed to end it unused
	done chan error
	once sync.Once // fork is closed once
}

// prepareNetNS starts making the network namespace for the init this
// process is about to create (netnsAhead). Runtime.Create and Run call it
// first, before they read the bundle.
func prepareNetNS() *netnsAhead {
	a := &netnsAhead{made: make(chan error, 1), fork: make(chan func() error), done: make(chan error, 1)}
	go func() {
		// Never unlocked: the thread is in a namespace of its own, so Go
		// discards it when this goroutine ends.
		goruntime.LockOSThread()
		err := unix.Unshare(unix.CLONE_NEWNET)
		a.made <- err
		if err != nil {
			return
		}
		if f, ok := <-a.fork; ok {
			a.done <- f()
		}
	}()
	return a
}

// end lets the thread go unused, if it still waits; the namespace goes
// with it. A nil netnsAhead has nothing to end.
func (a *netnsAhead) end() {
	if a != nil {
		a.once.Do(func() { close(a.fork) })
	}
}

// use returns the fork of cmd on the namespace's thread, when the config
// can have that namespace; otherwise it ends the thread and reports false.
func (a *netnsAhead) use(cmd *initCmd, s *specs.Spec, rec *trace.Recorder) (func() error, bool) {
	if !hasNewNamespace(s, specs.NetworkNamespace) || hasNamespace(s, specs.UserNamespace) {
		a.end()
		return nil, false
	}
	if err := <-a.made; err != nil {
		return nil, false // its goroutine has ended already
	}
	rec.Step("the network namespace was made ahead, while the bundle was read, by the thread that forks the init", "unshare --net")
	cmd.SysProcAttr.Cloneflags &^= unix.CLONE_NEWNET
	return func() error {
		a.fork <- cmd.Start
		return <-a.done
	}, true
}
