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
		path = defaultPath
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

// defaultPath is the search path for process.args[0] when process.env has
// no PATH.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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

// raiseRlimitCeilings raises hard limits that the config sets above the
// current ones, leaving the soft limits alone.
func raiseRlimitCeilings(rls []RlimitOp) error {
	for _, rl := range rls {
		var cur unix.Rlimit
		if err := unix.Getrlimit(rl.Resource, &cur); err != nil {
			return fmt.Errorf("process.rlimits %s: %w", rl.Type, err)
		}
		if rl.Hard > cur.Max {
			if err := unix.Setrlimit(rl.Resource, &unix.Rlimit{Cur: cur.Cur, Max: rl.Hard}); err != nil {
				return fmt.Errorf("process.rlimits %s: raise hard limit to %d: %w", rl.Type, rl.Hard, err)
			}
		}
	}
	return nil
}
