package runtime

import (
	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cgroupJob creates the container's cgroup and puts the init in it.
//
// On cgroup v2 that happens before the init exists: the cgroup is made
// first and the init is born in it (clone3 CLONE_INTO_CGROUP). On cgroup
// v1 a process must be moved in after it exists, and the first cgroup
// migration after a quiet spell waits for an RCU grace period (10-20 ms on
// this kind of machine, longer than everything else create does). So on v1
// the job runs concurrently with the init's startup and rootfs setup, and
// the handshake waits for it before any hook or user code runs.
type cgroupJob struct {
	cg   *cgroups.Manager
	err  error
	pid  chan int // the init's pid, or 0 if it never started
	done chan struct{}
}

// startCgroupJob begins the job. With born set (cgroup v2), it finishes
// the cgroup before returning so that the init can be cloned into it.
func startCgroupJob(id string, l *specs.Linux, rec *trace.Recorder) *cgroupJob {
	j := &cgroupJob{pid: make(chan int, 1), done: make(chan struct{})}
	opts := cgroups.Options{Recorder: rec}
	if mode, err := cgroups.DetectMode(""); err == nil && mode == cgroups.Unified {
		j.cg, j.err = cgroups.New(id, l.CgroupsPath, l.Resources, opts)
		close(j.done)
		return j
	}
	cgroups.PrimeMigrations("")
	go func() {
		defer close(j.done)
		j.cg, j.err = cgroups.New(id, l.CgroupsPath, l.Resources, opts)
		if pid := <-j.pid; pid > 0 && j.err == nil {
			j.err = j.cg.Add(pid)
		}
	}()
	return j
}

// started tells the job the init's pid (0: it failed to start). It must be
// called exactly once.
func (j *cgroupJob) started(pid int) { j.pid <- pid }

// wait blocks until the cgroup exists and holds the init.
func (j *cgroupJob) wait() error {
	<-j.done
	return j.err
}

// undo removes the cgroup, once the job has finished.
func (j *cgroupJob) undo() {
	<-j.done
	if j.cg != nil {
		j.cg.Delete()
	}
}
