package runtime

import (
	"io"
	"os"
	"time"
)

// pipeRelay gives a foreground container without a terminal pipes of its
// own for stdin, stdout and stderr, and copies them to and from the
// runtime's, as runc's foreground run does. Handing the caller's own
// descriptors over instead would let the container reopen the caller's
// files through /proc/1/fd and read what was written there before.
type pipeRelay struct {
	child  []*os.File    // the container's ends, closed here once it has them
	copied chan struct{} // one value per output stream at EOF
}

func newPipeRelay(o *ProcessIO) (*pipeRelay, error) {
	var ends [6]*os.File // stdin r/w, stdout r/w, stderr r/w
	for i := 0; i < 6; i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			for _, f := range ends[:i] {
				f.Close()
			}
			return nil, err
		}
		ends[i], ends[i+1] = r, w
	}
	o.Stdin, o.Stdout, o.Stderr = ends[0], ends[3], ends[5]
	p := &pipeRelay{child: []*os.File{ends[0], ends[3], ends[5]}, copied: make(chan struct{}, 2)}
	go func() {
		io.Copy(ends[1], os.Stdin)
		ends[1].Close() // the container reads EOF when the caller's input ends
	}()
	for _, c := range []struct{ dst, src *os.File }{{os.Stdout, ends[2]}, {os.Stderr, ends[4]}} {
		go func() {
			io.Copy(c.dst, c.src)
			c.src.Close()
			p.copied <- struct{}{}
		}()
	}
	return p, nil
}

// started closes the runtime's copies of the container's ends, so that the
// output streams end when the container's last process closes them.
func (p *pipeRelay) started() {
	for _, f := range p.child {
		f.Close()
	}
	p.child = nil
}

// drain waits, after the container's init has exited, for its output to be
// copied. Processes it left behind in a pid namespace it shares with the
// host may hold the pipes open; they get a moment, not forever.
func (p *pipeRelay) drain() {
	p.started()
	timeout := time.After(2 * time.Second)
	for i := 0; i < 2; i++ {
		select {
		case <-p.copied:
		case <-timeout:
			return
		}
	}
}
