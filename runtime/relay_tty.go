package runtime

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/containerd/console"
	"golang.org/x/sys/unix"
)

// ttyRelay gives `run -t` and `exec -t` an interactive terminal when no
// --console-socket was given: it plays the part containerd's shim plays,
// receiving the pty master from the init over a private socket and
// relaying between it and the caller's own terminal (raw mode, window size
// and its changes forwarded, the terminal restored at the end).
type ttyRelay struct {
	dir    string
	ln     *net.UnixListener
	master console.Console
	cur    console.Console
	winch  chan os.Signal
}

// relayFor sets up a relay when a terminal is wanted and the caller gave no
// --console-socket, pointing o at it; nil when none is needed. A detached
// process cannot have one: nobody would be left to relay.
func relayFor(wantTTY, detach bool, o *ProcessIO) (*ttyRelay, error) {
	if !wantTTY || o.ConsoleSocket != "" {
		return nil, nil
	}
	if detach {
		return nil, errors.New("a terminal with --detach needs --console-socket to receive it")
	}
	r, err := newTTYRelay()
	if err != nil {
		return nil, err
	}
	o.ConsoleSocket = r.socketPath()
	return r, nil
}

func newTTYRelay() (*ttyRelay, error) {
	dir, err := os.MkdirTemp("", "miniruntime-tty")
	if err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "tty.sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &ttyRelay{dir: dir, ln: ln}, nil
}

func (r *ttyRelay) socketPath() string { return filepath.Join(r.dir, "tty.sock") }

// receive takes the master the init sent during create or exec.
func (r *ttyRelay) receive() error {
	conn, err := r.ln.AcceptUnix()
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	defer conn.Close()
	buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return errors.New("console socket: no terminal received")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return errors.New("console socket: expected exactly one fd")
	}
	master, err := console.ConsoleFromFile(os.NewFile(uintptr(fds[0]), "pty-master"))
	if err != nil {
		unix.Close(fds[0])
		return fmt.Errorf("console socket: %w", err)
	}
	r.master = master
	return nil
}

// attach starts relaying. Output is copied until the master reports EOF
// (every holder of the slave has exited); done is closed then.
func (r *ttyRelay) attach() (done <-chan struct{}) {
	d := make(chan struct{})
	if cur, err := console.ConsoleFromFile(os.Stdin); err == nil {
		r.cur = cur
		r.cur.SetRaw()
		r.master.ResizeFrom(r.cur)
		r.winch = make(chan os.Signal, 1)
		signal.Notify(r.winch, unix.SIGWINCH)
		go func() {
			for range r.winch {
				r.master.ResizeFrom(r.cur)
			}
		}()
	}
	go io.Copy(r.master, os.Stdin)
	go func() {
		io.Copy(os.Stdout, r.master)
		close(d)
	}()
	return d
}

// close restores the terminal and removes the socket.
func (r *ttyRelay) close() {
	if r.winch != nil {
		signal.Stop(r.winch)
		close(r.winch)
	}
	if r.cur != nil {
		r.cur.Reset()
	}
	if r.master != nil {
		r.master.Close()
	}
	r.ln.Close()
	os.RemoveAll(r.dir)
}
