package netns

// The integration tests' world. Each test builds its own: a fresh network
// namespace that plays "the host" (Options.HostNS), an "outside" namespace
// joined to it by a veth pair (192.0.2.0/24, TEST-NET-1, exists only between
// those two), and container namespaces. They are unnamed namespaces held by
// file descriptors, so nothing can outlive the test process; the cleanup
// checks that the package left nothing behind in the host namespace, then
// force-removes whatever a failed test left and closes the namespaces.
// Traffic only ever goes to addresses inside these namespaces.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	hostAddr    = "192.0.2.1" // the host's own address, on its uplink
	outsideAddr = "192.0.2.2" // a machine outside, on the same link
	uplink      = "uplink0"
	blocked     = 700 * time.Millisecond // how long a dial that must fail may try
)

// TestMain guards the real host: the tests must not leave links or nftables
// tables in the namespace the test binary runs in. It only reads.
func TestMain(m *testing.M) {
	before := realHostSnapshot()
	code := m.Run()
	if after := realHostSnapshot(); after != before {
		fmt.Fprintf(os.Stderr, "the real host namespace changed during the tests:\nbefore: %s\nafter:  %s\n", before, after)
		code = 1
	}
	os.Exit(code)
}

func realHostSnapshot() string {
	if os.Geteuid() != 0 {
		return ""
	}
	var names []string
	if links, err := netlink.LinkList(); err == nil {
		for _, l := range links {
			names = append(names, "link:"+l.Attrs().Name)
		}
	}
	if c, err := nftables.New(); err == nil {
		if ts, err := c.ListTables(); err == nil {
			for _, t := range ts {
				names = append(names, "table:"+t.Name)
			}
		}
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

type testNS struct {
	name string
	fd   vnetns.NsHandle
	path string
	nl   *netlink.Handle
}

// newTestNS creates an unnamed network namespace: unshare on a locked
// thread that then returns to its namespace (or dies locked if it cannot).
func newTestNS(t *testing.T, name string) *testNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, links and nftables tables")
	}
	var ns vnetns.NsHandle
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		goruntime.LockOSThread()
		orig, e := vnetns.Get()
		if e != nil {
			err = e
			goruntime.UnlockOSThread()
			return
		}
		defer orig.Close()
		if ns, err = vnetns.New(); err != nil {
			goruntime.UnlockOSThread()
			return
		}
		if err = vnetns.Set(orig); err != nil {
			ns.Close()
			return // stays locked: the thread dies with the goroutine
		}
		goruntime.UnlockOSThread()
	}()
	<-done
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		t.Fatal(err)
	}
	n := &testNS{name: name, fd: ns, path: fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), int(ns)), nl: nl}
	t.Cleanup(func() { nl.Close(); ns.Close() })
	n.linkUp("lo")
	return n
}

// run runs fn on a locked thread inside the namespace.
func (n *testNS) run(fn func() error) error {
	return (&nsHandle{path: n.path, fd: n.fd}).do(fn)
}

func (n *testNS) linkUp(name string) {
	if l, err := n.nl.LinkByName(name); err == nil {
		n.nl.LinkSetUp(l)
	}
}

func (n *testNS) links() []string {
	links, _ := n.nl.LinkList()
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	sort.Strings(names)
	return names
}

func (n *testNS) addRoute(t *testing.T, dst, via string) {
	t.Helper()
	_, d, _ := net.ParseCIDR(dst)
	if err := n.nl.RouteAdd(&netlink.Route{Dst: d, Gw: net.ParseIP(via)}); err != nil {
		t.Fatalf("%s: route %s via %s: %v", n.name, dst, via, err)
	}
}

type world struct {
	t             *testing.T
	host, outside *testNS
	o             Options
	log           bytes.Buffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, host: newTestNS(t, "host"), outside: newTestNS(t, "outside")}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: uplink}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(w.outside.fd))}
	if err := w.host.nl.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		ns   *testNS
		link string
		addr string
	}{{w.host, uplink, hostAddr + "/24"}, {w.outside, "eth0", outsideAddr + "/24"}} {
		l, err := side.ns.nl.LinkByName(side.link)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := netlink.ParseAddr(side.addr)
		if err := side.ns.nl.AddrAdd(l, a); err != nil {
			t.Fatal(err)
		}
		side.ns.linkUp(side.link)
	}
	w.o = Options{Root: t.TempDir(), HostNS: w.host.path, Recorder: trace.New(&w.log, "test")}
	t.Cleanup(w.cleanup) // runs before the namespaces close (cleanups are LIFO)
	return w
}

// cleanup checks that the test left nothing, then removes what it did leave.
func (w *world) cleanup() {
	t := w.t
	if !t.Failed() {
		w.assertClean()
	}
	if t.Failed() {
		t.Logf("trace:\n%s", w.log.String())
		if out, err := w.nftList(); err == nil {
			t.Logf("nft list ruleset in the host namespace:\n%s", out)
		}
	}
	nets, _ := ListNetworks(w.o)
	for _, n := range nets {
		if err := RemoveNetwork(n.Name, true, w.o); err != nil {
			t.Errorf("cleanup: remove network %s: %v", n.Name, err)
		}
	}
}

func (w *world) assertClean() {
	t := w.t
	t.Helper()
	if got := strings.Join(w.host.links(), " "); got != "lo "+uplink {
		t.Errorf("links left in the host namespace: %s", got)
	}
	if ok, err := w.tableExists(); err != nil || ok {
		t.Errorf("nftables table %s left (err %v)", tableName, err)
	}
	filepath.WalkDir(w.o.networksDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".lock") {
			t.Errorf("state left: %s", p)
		}
		return nil
	})
}

func (w *world) tableExists() (bool, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(w.host.fd)))
	if err != nil {
		return false, err
	}
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	for _, t := range ts {
		if t.Name == tableName {
			return true, nil
		}
	}
	return false, err
}

// nftList shows the host's ruleset with the nft tool, when it is installed.
func (w *world) nftList() (string, error) {
	out, err := exec.Command("nsenter", "--net="+w.host.path, "nft", "list", "ruleset").CombinedOutput()
	return string(out), err
}

func (w *world) network(n Network) *Network {
	w.t.Helper()
	got, err := CreateNetwork(n, w.o)
	if err != nil {
		w.t.Fatalf("create network %s: %v", n.Name, err)
	}
	return got
}

// container creates a container namespace and attaches it to network.
func (w *world) container(name, network string, ports ...string) (*testNS, *Attachment) {
	w.t.Helper()
	ns := newTestNS(w.t, name)
	return ns, w.attach(ns, network, ports...)
}

func (w *world) attach(ns *testNS, network string, ports ...string) *Attachment {
	w.t.Helper()
	att, err := Allocate(network, ns.name, w.o)
	if err != nil {
		w.t.Fatalf("allocate %s on %s: %v", ns.name, network, err)
	}
	if att.Ports, err = ParsePortMappings(strings.Join(ports, ",")); err != nil {
		w.t.Fatal(err)
	}
	if err := Attach(att, ns.path, w.o); err != nil {
		w.t.Fatalf("attach %s to %s: %v", ns.name, network, err)
	}
	return att
}

func (w *world) detach(atts ...*Attachment) {
	w.t.Helper()
	for _, a := range atts {
		if err := Detach(a, w.o); err != nil {
			w.t.Errorf("detach %s: %v", a.ContainerID, err)
		}
	}
}

func (w *world) remove(names ...string) {
	w.t.Helper()
	for _, n := range names {
		if err := RemoveNetwork(n, false, w.o); err != nil {
			w.t.Errorf("remove network %s: %v", n, err)
		}
	}
}

// serve answers every TCP connection to port inside ns with
// "<ns name> <the peer's address>\n" and every UDP datagram likewise.
func serve(t *testing.T, ns *testNS, proto string, port int) {
	t.Helper()
	addr := fmt.Sprintf(":%d", port)
	err := ns.run(func() error {
		if proto == "udp" {
			pc, err := net.ListenPacket("udp4", addr)
			if err != nil {
				return err
			}
			t.Cleanup(func() { pc.Close() })
			go func() {
				buf := make([]byte, 64)
				for {
					_, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo([]byte(ns.name+" "+from.(*net.UDPAddr).IP.String()+"\n"), from)
				}
			}()
			return nil
		}
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				c.Write([]byte(ns.name + " " + host + "\n"))
				c.Close()
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatalf("%s: listen %s %s: %v", ns.name, proto, addr, err)
	}
}

// dial connects from inside ns and returns the server's line.
func dial(ns *testNS, proto, addr string, timeout time.Duration) (string, error) {
	var line string
	err := ns.run(func() error {
		c, err := net.DialTimeout(proto+"4", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		if proto == "udp" {
			if _, err := c.Write([]byte("ping")); err != nil {
				return err
			}
		}
		line, err = bufio.NewReader(c).ReadString('\n')
		line = strings.TrimSpace(line)
		return err
	})
	return line, err
}

// mustReach dials and checks who answered and whom it saw.
func mustReach(t *testing.T, from *testNS, proto, addr, server, peer string) {
	t.Helper()
	got, err := dial(from, proto, addr, 3*time.Second)
	if err != nil {
		t.Fatalf("%s -> %s %s: %v", from.name, proto, addr, err)
	}
	if want := server + " " + peer; got != want {
		t.Fatalf("%s -> %s %s: answered %q, want %q", from.name, proto, addr, got, want)
	}
}

func mustNotReach(t *testing.T, from *testNS, addr string) {
	t.Helper()
	if got, err := dial(from, "tcp", addr, blocked); err == nil {
		t.Fatalf("%s -> %s: answered %q, want no connection", from.name, addr, got)
	}
}

func hostPort(a netip.Addr, port int) string { return net.JoinHostPort(a.String(), fmt.Sprint(port)) }
