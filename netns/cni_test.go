package netns

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

func needCNI(t *testing.T) {
	t.Helper()
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		found := false
		for _, dir := range DefaultCNIPath {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				found = true
			}
		}
		if !found {
			t.Skipf("needs the CNI plugin %s (apt-get install containernetworking-plugins)", p)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("the CNI bridge and portmap plugins need iptables")
	}
}

func TestConflist(t *testing.T) {
	o := Options{Root: "/state"}
	n, err := normalize(Network{Name: "cn", Subnet: pfx("10.210.0.0/24"), Driver: DriverCNI})
	if err != nil {
		t.Fatal(err)
	}
	if n.Bridge != "cni-cn" {
		t.Fatalf("bridge %q", n.Bridge)
	}
	if long := cniBridgeName("a-rather-long-network-name"); len(long) != 15 || !strings.HasPrefix(long, "cni-a-rath") {
		t.Fatalf("long bridge name %q", long)
	}
	b, err := o.conflist(&n)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				DataDir string `json:"dataDir"`
			} `json:"ipam"`
			Caps map[string]bool `json:"capabilities"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "cn" || len(c.Plugins) != 2 || c.Plugins[0].Type != "bridge" || c.Plugins[1].Type != "portmap" ||
		c.Plugins[0].IPAM.DataDir != "/state/networks/cn/cni/ipam" || !c.Plugins[0].Caps["ips"] || !c.Plugins[1].Caps["portMappings"] {
		t.Fatalf("conflist:\n%s", b)
	}
	if _, err := normalize(Network{Name: "x", Subnet: pfx("10.210.1.0/24"), Driver: "weave"}); err == nil {
		t.Fatal("unknown driver accepted")
	}
}

func TestCNINetwork(t *testing.T) {
	w := newWorld(t)
	needCNI(t)
	n := w.network(Network{Name: "cn", Subnet: pfx("10.211.0.0/24"), Driver: DriverCNI})
	if n.Bridge != "cni-cn" || n.Driver != DriverCNI {
		t.Fatalf("network: %+v", n)
	}
	c1, a1 := w.container("c1", "cn")
	c2, a2 := w.container("c2", "cn", "8080:80")
	if a1.IP != addr("10.211.0.2") || a2.IP != addr("10.211.0.3") || a1.Interface != "eth0" || a1.Gateway != addr("10.211.0.1") {
		t.Fatalf("attachments: %+v %+v", a1, a2)
	}
	if !strings.HasPrefix(a1.HostVeth, "veth") || a1.MAC == "" {
		t.Fatalf("attachment from the CNI result: %+v", a1)
	}
	// the address and a default route, from the plugins
	l, err := c1.nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := c1.nl.AddrList(l, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.211.0.2/24" {
		t.Fatalf("eth0 in c1: %v", addrs)
	}
	routes, _ := c1.nl.RouteList(nil, netlink.FAMILY_V4)
	var def bool
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			def = r.Gw.String() == "10.211.0.1"
		}
	}
	if !def {
		t.Fatalf("no default route via 10.211.0.1 in c1: %v", routes)
	}
	// host-local keeps its allocations under the state root
	held := filepath.Join(w.o.Root, "networks/cn/cni/ipam/cn/10.211.0.2")
	if b, err := os.ReadFile(held); err != nil || !strings.Contains(string(b), "c1") {
		t.Fatalf("host-local allocation %s: %q %v", held, b, err)
	}
	// the containers talk, the host reaches them, the port is published
	serve(t, c1, "tcp", 80)
	serve(t, c2, "tcp", 80)
	mustReach(t, c2, "tcp", hostPort(a1.IP, 80), "c1", a2.IP.String())
	mustReach(t, w.host, "tcp", hostPort(a1.IP, 80), "c1", "10.211.0.1")
	mustReach(t, w.outside, "tcp", hostAddr+":8080", "c2", outsideAddr)
	if !strings.Contains(w.log.String(), "CNI_COMMAND=ADD") || !strings.Contains(w.log.String(), "/bridge") {
		t.Errorf("trace lacks the plugin runs:\n%s", w.log.String())
	}

	w.detach(a1, a2)
	w.detach(a1) // idempotent
	if l := c1.links(); len(l) != 1 {
		t.Fatalf("links left in c1 after Detach: %v", l)
	}
	for _, dir := range []string{"cni/ipam/cn", "cni/cache/results", "cni/netns", "ipam"} {
		ents, _ := os.ReadDir(filepath.Join(w.o.Root, "networks/cn", dir))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Name() != "lock" && e.Name() != "last_reserved_ip.0" {
				t.Errorf("left after Detach: %s/%s", dir, e.Name())
			}
		}
	}
	if _, err := dial(w.outside, "tcp", hostAddr+":8080", blocked); err == nil {
		t.Fatal("the port still answers after Detach")
	}
	w.remove("cn")
}

// A crashed runtime's container: GC finds its interface name in libcni's
// cache and removes everything, and RemoveNetwork --force does the same.
func TestCNIGCAndForce(t *testing.T) {
	w := newWorld(t)
	needCNI(t)
	w.network(Network{Name: "cg", Subnet: pfx("10.212.0.0/24"), Driver: DriverCNI})
	_, a1 := w.container("g1", "cg")
	w.container("g2", "cg")
	if err := GC("cg", func(id string) bool { return id == "g2" }, w.o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.o.Root, "networks/cg/cni/ipam/cg", a1.IP.String())); !os.IsNotExist(err) {
		t.Fatalf("GC left g1's host-local allocation: %v", err)
	}
	if err := RemoveNetwork("cg", true, w.o); err != nil {
		t.Fatal(err)
	}
}
