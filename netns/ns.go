package netns

import (
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/google/nftables"
	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// nsHandle is one network namespace, opened once: its file descriptor and a
// netlink handle whose socket lives in it. Nothing here moves the caller's
// thread; do runs a function on a separate locked thread inside the
// namespace when a step needs the namespace itself (sysctls).
type nsHandle struct {
	path string // as given; "" = the caller's namespace
	fd   vnetns.NsHandle
	nl   *netlink.Handle
	rec  *trace.Recorder
}

// openNS opens the network namespace at path ("" = the caller's current one).
func openNS(path string, rec *trace.Recorder) (*nsHandle, error) {
	var fd vnetns.NsHandle
	var err error
	if path == "" {
		goruntime.LockOSThread() // the namespace of this very thread
		fd, err = vnetns.Get()
		goruntime.UnlockOSThread()
	} else {
		fd, err = vnetns.GetFromPath(path)
	}
	if err != nil {
		return nil, fmt.Errorf("open network namespace %q: %w", path, err)
	}
	nl, err := netlink.NewHandleAt(fd)
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("netlink socket in network namespace %q: %w", path, err)
	}
	return &nsHandle{path: path, fd: fd, nl: nl, rec: rec}, nil
}

func (h *nsHandle) Close() {
	if h == nil {
		return
	}
	h.nl.Close()
	h.fd.Close()
}

// nft returns an nftables connection whose netlink socket lives in h.
func (h *nsHandle) nft() (*nftables.Conn, error) {
	return nftables.New(nftables.WithNetNSFd(int(h.fd)))
}

// step records a kernel step with its shell equivalent run in h: the command
// as is for the caller's namespace, behind nsenter for any other.
// cmd is called only when tracing is on; nil means there is no command.
func (h *nsHandle) step(what string, cmd func() string) {
	if !h.rec.Enabled() {
		return
	}
	if cmd == nil {
		h.rec.Step(what, "")
		return
	}
	h.rec.Step(what, h.shell(cmd()))
}

func (h *nsHandle) shell(cmd string) string {
	if h.path == "" {
		return cmd
	}
	return trace.Quote("nsenter", "--net="+h.path) + " " + cmd
}

// do runs fn on a fresh locked OS thread that has entered h. If the thread
// cannot return to its original namespace it stays locked, so the Go runtime
// throws it away when the goroutine ends instead of reusing a thread in the
// wrong namespace.
func (h *nsHandle) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := vnetns.Set(h.fd); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %q: %w", h.path, err)
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("return from network namespace %q: %w", h.path, err))
			return // the thread stays locked and dies with this goroutine
		}
		goruntime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// sysctl sets a net.* sysctl inside h (the /proc/sys/net files belong to
// the network namespace of the thread that opens them), skipping the write
// when the value is already there.
//
//	sysctl -w net.ipv4.ip_forward=1
func (h *nsHandle) sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return h.do(func() error {
		cur, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("sysctl %s: %w", key, err)
		}
		if strings.TrimSpace(string(cur)) == value {
			return nil
		}
		h.step("enable "+key, func() string { return trace.Quote("sysctl", "-w", key+"="+value) })
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
		}
		return nil
	})
}

// retryDump repeats a netlink dump that the kernel interrupted because the
// table changed under it (a few times, then gives up with the error).
func retryDump[T any](f func() (T, error)) (T, error) {
	for i := 0; ; i++ {
		v, err := f()
		if errors.Is(err, netlink.ErrDumpInterrupted) && i < 5 {
			continue
		}
		return v, err
	}
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}
