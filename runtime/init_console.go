package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// setupConsole allocates the container's terminal from its own devpts
// (so the slave is /dev/pts/N inside the container), sends the master to
// the caller over --console-socket in a single message carrying exactly one
// fd, and returns the slave for the process's stdio.
func (in *initProc) setupConsole() (*os.File, error) {
	sock := os.NewFile(uintptr(in.cfg.ConsoleFD), "console-socket")
	defer sock.Close()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("process.terminal: open /dev/ptmx: %w", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("process.terminal: unlockpt: %w", err)
	}
	// TIOCGPTPEER opens the slave through the master, with no path lookup
	// that the container could redirect.
	slaveFd, _, e := unix.Syscall(unix.SYS_IOCTL, master.Fd(), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if e != 0 {
		return nil, fmt.Errorf("process.terminal: open the pty slave: %w", e)
	}
	slave := os.NewFile(slaveFd, "pty-slave")
	if cs := in.cfg.Spec.Process.ConsoleSize; cs != nil {
		ws := &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}
		if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, ws); err != nil {
			slave.Close()
			return nil, fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	rights := unix.UnixRights(int(master.Fd()))
	if err := unix.Sendmsg(int(sock.Fd()), []byte("/dev/ptmx"), rights, nil, 0); err != nil {
		slave.Close()
		return nil, fmt.Errorf("--console-socket: send the terminal: %w", err)
	}
	in.rec.Step("send the pty master to --console-socket", "sendmsg(SCM_RIGHTS, /dev/ptmx)")
	return slave, nil
}

// attachConsole makes the pty slave the controlling terminal and the stdio
// of the process about to be executed.
func attachConsole(slave *os.File) error {
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("process.terminal: setsid: %w", err)
	}
	if err := unix.IoctlSetInt(int(slave.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("process.terminal: set controlling terminal: %w", err)
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup3(int(slave.Fd()), fd, 0); err != nil {
			return fmt.Errorf("process.terminal: dup to fd %d: %w", fd, err)
		}
	}
	return slave.Close()
}
