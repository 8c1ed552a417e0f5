package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
)

var (
	pfx  = netip.MustParsePrefix
	addr = netip.MustParseAddr
)

func TestSameNetworkTalks(t *testing.T) {
	w := newWorld(t)
	// A new network namespace copies the host's ip_forward: where the
	// host already forwards, there is nothing for the network to turn on.
	var fwd0 []byte
	w.host.run(func() (err error) { fwd0, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward"); return })
	w.network(Network{Name: "front", Subnet: pfx("10.201.0.0/24")})
	c1, a1 := w.container("c1", "front")
	c2, a2 := w.container("c2", "front")
	if a1.IP != addr("10.201.0.2") || a2.IP != addr("10.201.0.3") || a1.Interface != "eth0" {
		t.Fatalf("attachments: %+v %+v", a1, a2)
	}
	serve(t, c1, "tcp", 80)
	serve(t, c2, "udp", 53)
	// no NAT between containers of one network: c1 sees c2's own address
	mustReach(t, c2, "tcp", hostPort(a1.IP, 80), "c1", a2.IP.String())
	mustReach(t, c1, "udp", hostPort(a2.IP, 53), "c2", a1.IP.String())
	// the host reaches them through the bridge
	mustReach(t, w.host, "tcp", hostPort(a1.IP, 80), "c1", "10.201.0.1")

	// what Attach did, seen from inside c1
	l, err := c1.nl.LinkByName("eth0")
	if err != nil || l.Attrs().HardwareAddr.String() != a1.MAC || l.Attrs().MTU != DefaultMTU {
		t.Fatalf("eth0 in c1: %v %v", l, err)
	}
	routes, _ := c1.nl.RouteList(nil, netlink.FAMILY_V4)
	var def bool
	for _, r := range routes {
		if p, ok := prefixOf(r.Dst); ok && p.Bits() == 0 && r.Gw.String() == "10.201.0.1" {
			def = true
		}
	}
	if !def {
		t.Fatalf("no default route via the gateway in c1: %v", routes)
	}
	var fwd []byte
	w.host.run(func() (err error) { fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward"); return })
	if strings.TrimSpace(string(fwd)) != "1" {
		t.Fatalf("ip_forward in the host namespace: %q", fwd)
	}
	// the trace tells the story in ip and nft commands
	for _, want := range []string{
		"ip link add name mr-front address 02:6d:0a:c9:00:01 mtu 1500 type bridge",
		"ip addr add 10.201.0.1/24 brd + dev mr-front",
		"type veth peer name eth0 address " + a1.MAC,
		"ip addr add 10.201.0.2/24 brd + dev eth0",
		"ip route add default via 10.201.0.1 dev eth0",
		`nft 'add rule ip miniruntime postrouting ip saddr 10.201.0.0/24 oifname != "mr-front" masquerade comment "net front"'`,
	} {
		if !strings.Contains(w.log.String(), want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if turnedOn := strings.Contains(w.log.String(), "sysctl -w net.ipv4.ip_forward=1"); turnedOn != (strings.TrimSpace(string(fwd0)) != "1") {
		t.Errorf("ip_forward was %q before the network: the trace shows turning it on: %v", fwd0, turnedOn)
	}
	w.detach(a1, a2)
	w.remove("front")
}

func TestNetworksAreIsolated(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "a", Subnet: pfx("10.202.1.0/24")})
	w.network(Network{Name: "b", Subnet: pfx("10.202.2.0/24")})
	ca, aa := w.container("ca", "a")
	cb, ab := w.container("cb", "b")
	serve(t, ca, "tcp", 80)
	serve(t, cb, "tcp", 80)
	// both are up: the host and the outside (through the uplink) reach them
	mustReach(t, w.host, "tcp", hostPort(aa.IP, 80), "ca", "10.202.1.1")
	w.outside.addRoute(t, "10.202.0.0/16", hostAddr)
	mustReach(t, w.outside, "tcp", hostPort(ab.IP, 80), "cb", outsideAddr)
	// and the containers go out, masqueraded to the host's address
	serve(t, w.outside, "tcp", 7000)
	mustReach(t, ca, "tcp", outsideAddr+":7000", "outside", hostAddr)
	// but not to each other, either way
	mustNotReach(t, cb, hostPort(aa.IP, 80))
	mustNotReach(t, ca, hostPort(ab.IP, 80))
	w.detach(aa, ab)
	w.remove("a", "b")
}

func TestInternalNetwork(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "in", Subnet: pfx("10.203.1.0/24"), Internal: true})
	w.network(Network{Name: "out", Subnet: pfx("10.203.2.0/24")})
	serve(t, w.host, "tcp", 9000)
	serve(t, w.outside, "tcp", 9000)
	ci, ai := w.container("ci", "in")
	ci2, ai2 := w.container("ci2", "in")
	cn, an := w.container("cn", "out")
	serve(t, cn, "tcp", 80)
	serve(t, ci2, "tcp", 80)

	// the control: a container of an ordinary network reaches the host
	mustReach(t, cn, "tcp", hostAddr+":9000", "host", an.IP.String())
	// on its own bridge an internal network works, gateway included
	mustReach(t, ci, "tcp", hostPort(ai2.IP, 80), "ci2", ai.IP.String())
	mustReach(t, ci, "tcp", "10.203.1.1:9000", "host", ai.IP.String())
	// no default route: nothing else is even routable
	mustNotReach(t, ci, hostAddr+":9000")
	// and a container with CAP_NET_ADMIN that adds its own routes still
	// reaches neither the host's other addresses, nor the outside, nor
	// another network
	ci.addRoute(t, "192.0.2.0/24", "10.203.1.1")
	ci.addRoute(t, "10.203.2.0/24", "10.203.1.1")
	mustNotReach(t, ci, hostAddr+":9000")
	mustNotReach(t, ci, outsideAddr+":9000")
	mustNotReach(t, ci, hostPort(an.IP, 80))
	// nor can others come in
	mustNotReach(t, cn, hostPort(ai2.IP, 80))
	w.outside.addRoute(t, "10.203.0.0/16", hostAddr)
	mustNotReach(t, w.outside, hostPort(ai2.IP, 80))
	mustReach(t, w.outside, "tcp", hostPort(an.IP, 80), "cn", outsideAddr) // the control

	// an internal network publishes nothing
	att, err := Allocate("in", "web", w.o)
	if err != nil {
		t.Fatal(err)
	}
	att.Ports, _ = ParsePortMappings("8080:80")
	if err := Attach(att, ci.path, w.o); !errors.Is(err, ErrInvalid) {
		t.Fatalf("publishing on an internal network: %v", err)
	}
	w.detach(att, ai, ai2, an)
	w.remove("in", "out")
}

func TestPublishedPorts(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "pub", Subnet: pfx("10.204.0.0/24")})
	w.network(Network{Name: "other", Subnet: pfx("10.204.1.0/24")})
	web := newTestNS(t, "web")
	serve(t, web, "tcp", 80)
	serve(t, web, "udp", 53)
	aw := w.attach(web, "pub", "8080:80", "5353:53/udp", hostAddr+":8443:80")
	peer, ap := w.container("peer", "pub")
	far, af := w.container("far", "other")
	gw := "10.204.0.1"

	// from the host itself, to its own addresses (output chain)
	mustReach(t, w.host, "tcp", hostAddr+":8080", "web", hostAddr)
	mustReach(t, w.host, "tcp", gw+":8080", "web", gw)
	mustReach(t, w.host, "udp", hostAddr+":5353", "web", hostAddr)
	mustReach(t, w.host, "tcp", hostAddr+":8443", "web", hostAddr)
	// from outside (prerouting), keeping the client's address
	mustReach(t, w.outside, "tcp", hostAddr+":8080", "web", outsideAddr)
	mustReach(t, w.outside, "udp", hostAddr+":5353", "web", outsideAddr)
	// hairpin: another container of the network, and the container itself,
	// through the host's address: the answer comes back via the gateway
	mustReach(t, peer, "tcp", hostAddr+":8080", "web", gw)
	mustReach(t, web, "tcp", hostAddr+":8080", "web", gw)
	// a container of another network reaches the published port too (but
	// not the container directly: isolation)
	mustReach(t, far, "tcp", hostAddr+":8080", "web", "10.204.0.1")
	mustNotReach(t, far, hostPort(aw.IP, 80))
	// loopback is not published (documented): refused at once
	if _, err := dial(w.host, "tcp", "127.0.0.1:8080", blocked); err == nil {
		t.Fatal("127.0.0.1:8080 answered; loopback publishing is documented as unsupported")
	}

	// a second container cannot take the same host port
	clash, err := Allocate("other", "clash", w.o)
	if err != nil {
		t.Fatal(err)
	}
	clash.Ports, _ = ParsePortMappings(hostAddr + ":8080:80")
	clashNS := newTestNS(t, "clash")
	if err := Attach(clash, clashNS.path, w.o); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("second claim of 8080: %v", err)
	}
	if l := clashNS.links(); len(l) != 1 {
		t.Fatalf("a failed Attach left links in the container: %v", l)
	}
	if !strings.Contains(w.log.String(), `dnat to 10.204.0.2:80 comment "ctr pub/web"`) {
		t.Error("trace lacks the DNAT rule")
	}

	w.detach(aw)
	if _, err := dial(w.outside, "tcp", hostAddr+":8080", blocked); err == nil {
		t.Fatal("the port still answers after Detach")
	}
	// Detach is idempotent
	w.detach(aw, clash, ap, af)
	w.remove("pub", "other")
}

func TestTwoNetworksOneContainer(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "back", Subnet: pfx("10.206.1.0/24"), Internal: true})
	w.network(Network{Name: "front", Subnet: pfx("10.206.2.0/24"), MTU: 1400})
	c := newTestNS(t, "c")
	ab := w.attach(c, "back")
	af := w.attach(c, "front")
	if ab.Interface != "eth0" || af.Interface != "eth1" {
		t.Fatalf("interfaces %s %s", ab.Interface, af.Interface)
	}
	if l, _ := c.nl.LinkByName("eth1"); l == nil || l.Attrs().MTU != 1400 {
		t.Fatalf("eth1 MTU: %v", l)
	}
	// the internal network gave no default route, the second one did
	serve(t, w.outside, "tcp", 7000)
	mustReach(t, c, "tcp", outsideAddr+":7000", "outside", hostAddr)
	w.detach(ab, af)
	w.remove("back", "front")
}

func TestParallelAllocations(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "many", Subnet: pfx("10.207.0.0/24")})
	const n = 50
	atts := make([]*Attachment, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			atts[i], errs[i] = Allocate("many", fmt.Sprint("ctr", i), w.o)
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]string{}
	for i, a := range atts {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if other, dup := seen[a.IP]; dup {
			t.Fatalf("%s given to %s and %s", a.IP, other, a.ContainerID)
		}
		seen[a.IP] = a.ContainerID
	}
	ents, _ := os.ReadDir(filepath.Join(w.o.networkDir("many"), "ipam"))
	if len(ents) != n+1 { // + .lock
		t.Fatalf("%d files in ipam/", len(ents))
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = Detach(atts[i], w.o) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	again, err := Allocate("many", "late", w.o)
	if err != nil || again.IP != addr("10.207.0.2") {
		t.Fatalf("after releasing all: %v %v", again, err)
	}
	w.detach(again)
	w.remove("many")
}

func TestGCCollectsCrashLeftovers(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "gc", Subnet: pfx("10.208.0.0/24")})
	_, alive := w.container("alive", "gc")
	// a runtime that crashed between Allocate and Attach
	if _, err := Allocate("gc", "never-started", w.o); err != nil {
		t.Fatal(err)
	}
	// a container that died without delete: its namespace is gone (and
	// with it its end of the veth), its rules and claims are not
	dead := newTestNS(t, "dead")
	w.attach(dead, "gc", "8081:80")
	dead.nl.Close()
	dead.fd.Close()

	exists := func(id string) bool { return id == "alive" }
	if err := GC("gc", exists, w.o); err != nil {
		t.Fatal(err)
	}
	held, _ := w.o.allocator(&Network{Name: "gc", Subnet: pfx("10.208.0.0/24")}).All()
	if len(held) != 1 || held[alive.IP] != "alive" {
		t.Fatalf("after GC: %v", held)
	}
	// the port is free again
	_, again := w.container("again", "gc", "8081:80")
	if err := GC("gc", func(id string) bool { return id == "alive" || id == "again" }, w.o); err != nil {
		t.Fatal(err)
	}
	w.detach(alive, again)
	w.remove("gc")
}

func TestCreateRefuses(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "a", Subnet: pfx("10.209.0.0/24")})
	w.host.addRoute(t, "10.99.0.0/16", outsideAddr)
	dummy := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "mr-taken"}}
	if err := w.host.nl.LinkAdd(dummy); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    Network
		want error
	}{
		{Network{Name: "b", Subnet: pfx("10.209.0.128/25")}, ErrOverlap},  // another network
		{Network{Name: "b", Subnet: pfx("192.0.2.0/24")}, ErrOverlap},     // the uplink's subnet
		{Network{Name: "b", Subnet: pfx("10.99.3.0/24")}, ErrOverlap},     // a route
		{Network{Name: "a", Subnet: pfx("10.210.0.0/24")}, ErrExists},     // the name
		{Network{Name: "taken", Subnet: pfx("10.210.0.0/24")}, ErrExists}, // the bridge's name
		{Network{Name: "b"}, ErrInvalid},                                  // no subnet
		{Network{Name: "b", Subnet: pfx("10.210.0.1/24")}, ErrInvalid},    // host bits
	} {
		if _, err := CreateNetwork(tc.n, w.o); !errors.Is(err, tc.want) {
			t.Errorf("%s %s: got %v, want %v", tc.n.Name, tc.n.Subnet, err, tc.want)
		}
	}
	if got := strings.Join(w.host.links(), " "); got != "lo mr-a mr-taken "+uplink {
		t.Fatalf("a refused create left links: %s", got)
	}
	w.host.nl.LinkDel(dummy)
	w.remove("a")
}

func TestRemoveNetworkInUse(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "busy", Subnet: pfx("10.211.0.0/24")})
	_, a := w.container("c", "busy", "8082:80")
	if err := RemoveNetwork("busy", false, w.o); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove in use: %v", err)
	}
	if err := RemoveNetwork("busy", true, w.o); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNetwork("busy", true, w.o); !errors.Is(err, ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	if err := Detach(a, w.o); err != nil {
		t.Fatalf("detach after forced removal: %v", err)
	}
}

func TestDefaultNetwork(t *testing.T) {
	w := newWorld(t)
	w.host.addRoute(t, "10.88.0.0/24", outsideAddr) // 10.88.0.0/24 is taken on this host
	var wg sync.WaitGroup
	nets := make([]*Network, 4)
	errs := make([]error, 4)
	for i := range nets {
		wg.Add(1)
		go func() { defer wg.Done(); nets[i], errs[i] = DefaultNetwork(w.o) }()
	}
	wg.Wait()
	for i, n := range nets {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if n.Name != "default" || n.Bridge != "mr0" || n.Subnet != pfx("10.88.1.0/24") || n.Gateway != addr("10.88.1.1") {
			t.Fatalf("default network: %+v", n)
		}
	}
	if list, _ := ListNetworks(w.o); len(list) != 1 {
		t.Fatalf("networks: %+v", list)
	}
	w.remove("default")
}
