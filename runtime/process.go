package runtime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var rlimitNames = map[string]int{
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_CPU": unix.RLIMIT_CPU,
	"RLIMIT_DATA": unix.RLIMIT_DATA, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS,
	"RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK, "RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_NPROC": unix.RLIMIT_NPROC,
	"RLIMIT_RSS": unix.RLIMIT_RSS, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO, "RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING, "RLIMIT_STACK": unix.RLIMIT_STACK,
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]int{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var ioprioClasses = map[specs.IOPriorityClass]int{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

// lookPath finds process.args[0] inside the container the way execvp does,
// with the PATH of process.env. It runs at create, so that a missing binary
// fails create, where containerd and podman expect the error.
func lookPath(p *specs.Process) (string, error) {
	name := p.Args[0]
	if strings.Contains(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return name, nil
	}
	path, ok := lookupEnv(p.Env, "PATH")
	if !ok {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, name)
		if checkExecutable(cand) == nil {
			return cand, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("stat %s: is a directory", path)
	}
	if fi.Mode()&0o111 == 0 {
		return fmt.Errorf("stat %s: permission denied", path)
	}
	return nil
}

func rlimitFlag(t string) string {
	return strings.ToLower(strings.TrimPrefix(t, "RLIMIT_"))
}

// enterCwd changes into process.cwd (creating it, as runc does) and checks
// that the result is inside the container's root. A working directory
// inherited from the host, through a leaked fd (CVE-2024-21626), shows up
// in getcwd as "(unreachable)/..." or fails with ENOENT.
func enterCwd(cwd string) error {
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		return fmt.Errorf("process.cwd %s: %w", cwd, unwrapPath(err))
	}
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("process.cwd %s: current directory is outside the container root", cwd)
	}
	return nil
}

// closeLeakedFDs marks every fd from first on close-on-exec, so nothing the
// runtime or its caller held open reaches the container (fd leaks were the
// root of CVE-2024-21626). Preserved fds sit below first.
func closeLeakedFDs(first int) error {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list fds: %w", err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd < first {
			continue
		}
		unix.CloseOnExec(fd)
	}
	return nil
}

// withHome adds HOME from the container's /etc/passwd when process.env has
// none, as runc and Docker do.
func withHome(env []string, uid int) []string {
	if _, ok := lookupEnv(env, "HOME"); ok {
		return env
	}
	home := "/"
	if f, err := os.Open("/etc/passwd"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			parts := strings.Split(sc.Text(), ":")
			if len(parts) >= 6 && parts[2] == strconv.Itoa(uid) {
				home = parts[5]
				break
			}
		}
		f.Close()
	}
	return append(append([]string{}, env...), "HOME="+home)
}

func setScheduling(p *specs.Process) error {
	if p.IOPriority != nil {
		prio := ioprioClasses[p.IOPriority.Class]<<13 | p.IOPriority.Priority
		if _, _, e := unix.Syscall(unix.SYS_IOPRIO_SET, 1 /* IOPRIO_WHO_PROCESS */, 0, uintptr(prio)); e != 0 {
			return fmt.Errorf("process.ioPriority: %w", e)
		}
	}
	if p.Scheduler != nil {
		sc := p.Scheduler
		attr := unix.SchedAttr{
			Size: unix.SizeofSchedAttr, Policy: uint32(schedPolicies[sc.Policy]),
			Nice: sc.Nice, Priority: uint32(sc.Priority),
			Runtime: sc.Runtime, Deadline: sc.Deadline, Period: sc.Period,
		}
		for _, fl := range sc.Flags {
			attr.Flags |= schedFlags[fl]
		}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			return fmt.Errorf("process.scheduler: %w", err)
		}
	}
	return nil
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10, specs.SchedFlagUtilClampMin: 0x20,
	specs.SchedFlagUtilClampMax: 0x40,
}

// raiseRlimitCeilings raises hard limits that the config sets above the
// current ones, leaving the soft limits alone.
func raiseRlimitCeilings(rls []specs.POSIXRlimit) error {
	for _, rl := range rls {
		var cur unix.Rlimit
		if err := unix.Getrlimit(rlimitNames[rl.Type], &cur); err != nil {
			return fmt.Errorf("process.rlimits %s: %w", rl.Type, err)
		}
		if rl.Hard > cur.Max {
			if err := unix.Setrlimit(rlimitNames[rl.Type], &unix.Rlimit{Cur: cur.Cur, Max: rl.Hard}); err != nil {
				return fmt.Errorf("process.rlimits %s: raise hard limit to %d: %w", rl.Type, rl.Hard, err)
			}
		}
	}
	return nil
}
