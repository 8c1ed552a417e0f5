package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/sysfile"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The init's half of the plan (plan.go): it executes the steps the parent
// compiled, one by one, reports each through the recorder with its shell
// equivalent, and names the step that failed ("step 14 of 31: mount proc
// on /proc: ...").

// planRun is what the steps hand on to later ones.
type planRun struct {
	f       *fs
	dev     int // /dev in the rootfs, opened for the device steps
	console *os.File
	exe     string
	aa      *appArmorOnExec
	env     []string
}

// execute runs the plan. It returns only on failure: the last step is the
// execve of the container's process.
func (in *initProc) execute(steps []Step) error {
	s := in.cfg.Spec
	r := &planRun{dev: -1}
	if !in.cfg.Exec {
		r.f = &fs{rootfs: in.cfg.Rootfs, beforeCgroup: in.joinedCgroup, cgroupNS: hasNamespace(s, specs.CgroupNamespace)}
	}
	defer func() {
		if r.dev >= 0 {
			unix.Close(r.dev)
		}
	}()
	for i := range steps {
		st := &steps[i]
		if in.rec.Enabled() && st.Op == OpExec {
			in.rec.Step(fmt.Sprintf("%d/%d %s", i+1, len(steps), st.What), st.Shell)
		}
		if err := in.do(r, st); err != nil {
			return fmt.Errorf("step %d of %d: %s: %w", i+1, len(steps), st.What, err)
		}
		if in.rec.Enabled() && st.Op != OpExec {
			in.rec.Step(fmt.Sprintf("%d/%d %s", i+1, len(steps), st.What), st.Shell)
		}
	}
	return errors.New("the plan ended without executing the process")
}

func (in *initProc) do(r *planRun, st *Step) error {
	s := in.cfg.Spec
	p := s.Process
	switch st.Op {
	case OpNotDumpable:
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_DUMPABLE): %w", err)
		}
	case OpOOMScoreAdj:
		if err := sysfile.Write("/proc/self/oom_score_adj", st.Value); err != nil {
			return fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	case OpEnterCgroupNS:
		return enterCgroupNS(st.Value, nil)
	case OpJoinMountNS:
		// This thread is locked (Init) and is the one that will execve:
		// it alone enters the container's mount namespace, which needs an
		// fs_struct of its own first.
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			return fmt.Errorf("unshare(CLONE_FS): %w", err)
		}
		if err := setnsPath(st.Path, unix.CLONE_NEWNS); err != nil {
			return fmt.Errorf("join the container's mount namespace: %w", err)
		}
	case OpRootPropagation:
		return r.f.mount("", "/", "", uintptr(st.Flags), "", "")
	case OpParentPrivate:
		return r.f.makeParentPrivate()
	case OpBindRootfs:
		return r.f.bindRootfs()
	case OpMount:
		return r.f.mountOp(*st.Mount)
	case OpCgroupView:
		// The cgroup view's own mounts depend on this host's
		// hierarchies: they are recorded one by one.
		r.f.rec = in.rec
		defer func() { r.f.rec = nil }()
		return r.f.mountCgroup(*st.Mount, cgroups.Mode(st.Value))
	case OpWaitParent:
		return in.joinedCgroup()
	case OpDevice:
		return r.device(*st.Device, st.Flags == 1)
	case OpSymlink:
		dir, err := r.devDir(filepath.Dir(st.Path))
		if err != nil {
			return err
		}
		if dir != r.dev {
			defer unix.Close(dir)
		}
		if err := unix.Symlinkat(st.Value, dir, filepath.Base(st.Path)); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("symlink %s: %w", st.Path, err)
		}
	case OpHooks:
		state := specs.StateCreated
		if st.Value == "startContainer" {
			state = specs.StateRunning
		}
		return runHooks(nil, st.Value, hooksOf(s, st.Value), in.hookState(state))
	case OpOpenFIFO:
		// O_RDWR never blocks; the read at OpWaitStart blocks until start
		// writes.
		fifo, err := unix.Open(in.cfg.StateDir+"/"+fifoFile, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open exec fifo: %w", err)
		}
		in.fifo = fifo
	case OpPivotRoot, OpMoveRoot, OpChroot:
		if r.dev >= 0 {
			unix.Close(r.dev)
			r.dev = -1
		}
		var err error
		switch st.Op {
		case OpPivotRoot:
			err = r.f.pivotRoot()
		case OpMoveRoot:
			err = r.f.moveRoot()
		default:
			err = r.f.chrootRoot()
		}
		r.f.root.Close()
		return err
	case OpHostname:
		if err := unix.Sethostname([]byte(st.Value)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	case OpDomainname:
		if err := unix.Setdomainname([]byte(st.Value)); err != nil {
			return fmt.Errorf("domainname: %w", err)
		}
	case OpSysctl:
		path := "/proc/sys/" + strings.ReplaceAll(st.Path, ".", "/")
		if err := sysfile.Write(path, st.Value); err != nil {
			return fmt.Errorf("linux.sysctl[%q]: the kernel refused %q: %w", st.Path, st.Value, unwrapPath(err))
		}
	case OpKeyring:
		// A session keyring of its own, so containers cannot read each
		// other's (or the host's) keys.
		if _, err := unix.KeyctlJoinSessionKeyring("_ses." + in.cfg.ID); err != nil && !errors.Is(err, unix.ENOSYS) {
			return fmt.Errorf("join session keyring: %w", err)
		}
	case OpReadonlyPath:
		return r.f.readonlyPaths([]string{st.Path})
	case OpMaskPath:
		return r.f.maskPaths([]string{st.Path})
	case OpRootfsPropagate:
		if err := r.f.mount("", "/", "", uintptr(st.Flags), "", ""); err != nil {
			return fmt.Errorf("linux.rootfsPropagation: %w", err)
		}
	case OpReadonlyRoot:
		if err := r.f.readonlyRoot(); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	case OpConsole:
		c, err := in.setupConsole()
		r.console = c
		return err
	case OpLookPath:
		exe, err := lookPath(p)
		r.exe = exe
		return err
	case OpReady:
		if err := in.send(msgReady); err != nil {
			return err
		}
		if in.cfg.Exec {
			in.sock.Close()
			in.sock = nil
		}
	case OpWaitStart:
		return in.waitStart()
	case OpRlimitCeilings:
		return raiseRlimitCeilings(st.Rlimits)
	case OpUmask:
		unix.Umask(int(*p.User.Umask))
	case OpScheduling:
		return setScheduling(p)
	case OpOpenAppArmor:
		aa, err := openAppArmor(p)
		r.aa = aa
		return err
	case OpAttachConsole:
		return attachConsole(r.console)
	case OpCheckCwd:
		r.env = withHome(p.Env, int(p.User.UID))
		return enterCwd(p.Cwd)
	case OpCloseFDs:
		return closeLeakedFDs(3 + in.cfg.PreserveFDs)
	case OpSeccomp:
		return loadSeccomp(s.Linux.Seccomp, nil)
	case OpBoundingSet:
		return dropBounding(p.Capabilities)
	case OpSetIDs:
		return setIDsKeepingCaps(p.User)
	case OpCapabilities:
		return setCapSets(p.Capabilities)
	case OpAmbient:
		return raiseAmbient(p.Capabilities)
	case OpNoNewPrivileges:
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	case OpChdir:
		// After the user change the cwd may no longer be reachable.
		if err := unix.Chdir(p.Cwd); err != nil {
			return fmt.Errorf("process.cwd %s: %w", p.Cwd, err)
		}
	case OpRlimits:
		// syscall.Setrlimit, not x/sys: for RLIMIT_NOFILE it also stops
		// Go from restoring its startup value in execve.
		for _, rl := range st.Rlimits {
			if err := syscall.Setrlimit(rl.Resource, &syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard}); err != nil {
				return fmt.Errorf("process.rlimits %s: %w", rl.Type, err)
			}
		}
	case OpAppArmor:
		return r.aa.apply(nil)
	case OpExec:
		err := unix.Exec(r.exe, p.Args, r.env)
		return fmt.Errorf("exec %s: %w", r.exe, err)
	default:
		return fmt.Errorf("unknown step %q", st.Op)
	}
	return nil
}

// waitStart blocks until start: a message on the sync socket (run), or a
// write to the exec FIFO. The FIFO stays open, close-on-exec: start
// watches it to learn when the process has been executed.
func (in *initProc) waitStart() error {
	if in.cfg.StartAtOnce {
		if err := in.wait(msgStart); err != nil {
			return err
		}
	}
	in.sock.Close()
	in.sock = nil
	for !in.cfg.StartAtOnce {
		var b [1]byte
		_, err := unix.Read(in.fifo, b[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read exec fifo: %w", err)
		}
		break
	}
	if in.cfg.Spec.Process == nil {
		return errors.New("config.json has no process to start")
	}
	return nil
}

// devDir opens a directory of the rootfs for a device step; /dev itself
// is opened once and kept until pivot_root.
func (r *planRun) devDir(dir string) (int, error) {
	if dir != "/dev" {
		return r.f.openDir(dir)
	}
	if r.dev < 0 {
		d, err := r.f.openDir("/dev")
		if err != nil {
			return -1, fmt.Errorf("/dev: %w", err)
		}
		r.dev = d
	}
	return r.dev, nil
}

func (r *planRun) device(d specs.LinuxDevice, inUserNS bool) error {
	dir, err := r.devDir(filepath.Dir(d.Path))
	if err != nil {
		return fmt.Errorf("linux.devices %s: %w", d.Path, err)
	}
	if dir != r.dev {
		defer unix.Close(dir)
	}
	if err := r.f.createDevice(dir, d, inUserNS); err != nil {
		return fmt.Errorf("linux.devices %s: %w", d.Path, err)
	}
	return nil
}
