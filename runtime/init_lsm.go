package runtime

import (
	"fmt"

	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The init's side of AppArmor: the profile asked for, applied at execve.
// The host-side checks (is AppArmor on, is the profile loaded) are lsm.go.

// appArmorOnExec is the thread's attr/exec file, opened early (before the
// user change and seccomp, which could forbid opening it) and written last.
type appArmorOnExec struct {
	fd      int
	profile string
}

// openAppArmor prepares the switch to process.apparmorProfile, or returns
// nil when there is nothing to do. It runs in the init, which applies any
// profile it is given: appArmorForInit has left one only where AppArmor is
// on.
func openAppArmor(p *specs.Process) (*appArmorOnExec, error) {
	if p.ApparmorProfile == "" {
		return nil, nil
	}
	// The AppArmor-specific file exists since Linux 5.8, when several
	// modules could share attr/; the older one is AppArmor's too where
	// it is the only module that uses it.
	var err error
	for _, f := range []string{"/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"} {
		var fd int
		if fd, err = unix.Open(f, unix.O_WRONLY|unix.O_CLOEXEC, 0); err == nil {
			return &appArmorOnExec{fd: fd, profile: p.ApparmorProfile}, nil
		}
	}
	return nil, fmt.Errorf("process.apparmorProfile %q: open attr/exec: %w", p.ApparmorProfile, err)
}

// apply asks the kernel to confine the process in the profile from the
// execve that follows.
func (a *appArmorOnExec) apply(rec *trace.Recorder) error {
	if a == nil {
		return nil
	}
	defer unix.Close(a.fd)
	if _, err := unix.Write(a.fd, []byte("exec "+a.profile)); err != nil {
		return fmt.Errorf("process.apparmorProfile %q: %w", a.profile, err)
	}
	rec.Step("confine the process in AppArmor profile "+a.profile+" from its execve on",
		"echo 'exec "+a.profile+"' > /proc/thread-self/attr/apparmor/exec")
	return nil
}
