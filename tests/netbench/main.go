// Command netbench times network attach + detach of one container, the
// built-in driver against the CNI bridge plugin run by the CNI driver, alternating
// the two, and prints the medians and their ratio. scripts/bench-net.sh
// runs it inside fresh network and mount namespaces, which play the host.
//
//	netbench [-n RUNS] [-root DIR] [-p HOSTPORT:PORT]
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	goruntime "runtime"
	"sort"
	"time"

	"github.com/miniruntime/miniruntime/netns"
	"golang.org/x/sys/unix"
)

func main() {
	runs := flag.Int("n", 30, "runs of each driver")
	root := flag.String("root", "", "state root (default: a temporary directory, removed at the end)")
	port := flag.String("p", "", "also publish this port mapping on each attach")
	flag.Parse()
	if err := run(*runs, *root, *port); err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
}

func run(runs int, root, port string) (err error) {
	if root == "" {
		if root, err = os.MkdirTemp("", "netbench-"); err != nil {
			return err
		}
		defer os.RemoveAll(root)
	}
	ports, err := netns.ParsePortMappings(port)
	if err != nil {
		return err
	}
	o := netns.Options{Root: root}
	nets := []netns.Network{
		{Name: "bench-builtin", Subnet: netip.MustParsePrefix("10.250.0.0/24")},
		{Name: "bench-cni", Subnet: netip.MustParsePrefix("10.250.1.0/24"), Driver: netns.DriverCNI},
	}
	for _, n := range nets {
		if _, err := netns.CreateNetwork(n, o); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, netns.RemoveNetwork(n.Name, true, o)) }()
	}
	// Every container's namespace is made before the clock starts and
	// closed after the last run: a namespace being destroyed keeps the
	// kernel busy (cleanup_net) and would slow down whichever run overlaps
	// with it.
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for i := 0; i < (runs+2)*len(nets); i++ {
		fd, err := newNetNS()
		if err != nil {
			return err
		}
		fds = append(fds, fd)
	}
	times := make([][]time.Duration, len(nets))
	for i := -2; i < runs; i++ { // two warm-up rounds: the CNI bridge is made on first use
		for k := range nets {
			// alternate which goes first
			n := nets[(k+i+2)%len(nets)]
			fd := fds[(i+2)*len(nets)+k]
			d, err := attachDetach(n.Name, fmt.Sprintf("c%d", i+2), fd, ports, o)
			if err != nil {
				return fmt.Errorf("%s: %w", n.Name, err)
			}
			if i >= 0 {
				idx := 0
				if n.Driver == netns.DriverCNI {
					idx = 1
				}
				times[idx] = append(times[idx], d)
			}
		}
	}
	b, c := median(times[0]), median(times[1])
	what := "attach + detach"
	if port != "" {
		what += " with -p " + port
	}
	fmt.Printf("%s, %d runs each, medians:\n", what, runs)
	fmt.Printf("  built-in (netlink + nftables in process): %8.2f ms\n", ms(b))
	fmt.Printf("  cni (bridge + host-local + portmap):      %8.2f ms\n", ms(c))
	fmt.Printf("  ratio built-in / cni: %.3f (target <= 0.333)\n", float64(b)/float64(c))
	return nil
}

// attachDetach times Allocate + Attach + Detach of one container whose
// network namespace is fd.
func attachDetach(network, id string, fd int, ports []netns.PortMapping, o netns.Options) (time.Duration, error) {
	path := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd)
	t0 := time.Now()
	att, err := netns.Allocate(network, id, o)
	if err != nil {
		return 0, err
	}
	att.Ports = ports
	if err := netns.Attach(att, path, o); err != nil {
		return 0, errors.Join(err, netns.Detach(att, o))
	}
	if err := netns.Detach(att, o); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// newNetNS returns a file descriptor of a new network namespace, made on a
// locked thread that returns to its own namespace (or dies if it cannot).
func newNetNS() (int, error) {
	type res struct {
		fd  int
		err error
	}
	c := make(chan res, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			goruntime.UnlockOSThread()
			c <- res{-1, err}
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			c <- res{-1, err}
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			c <- res{-1, errors.Join(err, serr)} // stays locked: the thread dies
			return
		}
		goruntime.UnlockOSThread()
		c <- res{fd, err}
	}()
	r := <-c
	return r.fd, r.err
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
