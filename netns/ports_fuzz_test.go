package netns

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// FuzzParsePortMappings checks the -p and miniruntime.ports syntax: a
// refusal is ErrInvalid on one line; every accepted mapping has real ports,
// a unicast non-loopback IPv4 host address or none, and its String parses
// back to itself; no two accepted mappings claim the same host port.
func FuzzParsePortMappings(f *testing.F) {
	for _, s := range []string{"8080:80", "192.0.2.1:8053:53/udp", "0.0.0.0:80:80", "80:80/TCP", "0:80", "65536:80", "127.0.0.1:8080:80",
		"[::1]:80:80", "224.0.0.1:80:80", "255.255.255.255:1:1", "8080:80,8080:81", "8080:80/tcp,8080:80/udp", "1.2.3.4:80:80,80:80",
		"a:b", "1:2:3:4", "80:80/sctp", ",,", " 80:80 ", "::80:80", "80:+80", "80:080"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		ms, err := ParsePortMappings(list)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParsePortMappings(%q): %v is not ErrInvalid", list, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") && !strings.ContainsAny(list, "\n\r") {
				t.Fatalf("ParsePortMappings(%q): refusal %q is more than one line", list, err)
			}
			return
		}
		for i, m := range ms {
			if m.HostPort == 0 || m.ContainerPort == 0 || (m.Protocol != "tcp" && m.Protocol != "udp") {
				t.Fatalf("ParsePortMappings(%q)[%d] = %+v", list, i, m)
			}
			if m.HostIP.IsValid() && (!m.HostIP.Is4() || m.HostIP.IsLoopback() || m.HostIP.IsMulticast() || m.HostIP.IsUnspecified() ||
				m.HostIP == netip.AddrFrom4([4]byte{255, 255, 255, 255})) {
				t.Fatalf("ParsePortMappings(%q)[%d]: host address %s accepted", list, i, m.HostIP)
			}
			back, err := ParsePortMapping(m.String())
			if err != nil || back != m {
				t.Fatalf("%+v prints as %q, which reads back as %+v, %v", m, m.String(), back, err)
			}
			for _, o := range ms[:i] {
				if o.Protocol == m.Protocol && o.HostPort == m.HostPort && (!o.HostIP.IsValid() || !m.HostIP.IsValid() || o.HostIP == m.HostIP) {
					t.Fatalf("ParsePortMappings(%q): %s and %s both accepted", list, o, m)
				}
			}
		}
	})
}

// FuzzParseNetworkList checks the miniruntime.network and --net syntax:
// accepted names are valid, distinct, and read back the same once joined.
func FuzzParseNetworkList(f *testing.F) {
	for _, s := range []string{"default", "default,backend", "a,a", "", ",", " a , b ", "-x", "a/b", strings.Repeat("n", 65), "é", "a\nb", "a.b_c-d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		names, err := ParseNetworkList(list)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseNetworkList(%q): %v is not ErrInvalid", list, err)
			}
			return
		}
		seen := map[string]bool{}
		for _, n := range names {
			if !validName(n) || seen[n] || strings.ContainsAny(n, ", /\n\x00") {
				t.Fatalf("ParseNetworkList(%q) accepted %q", list, n)
			}
			seen[n] = true
		}
		again, err := ParseNetworkList(strings.Join(names, ","))
		if err != nil || strings.Join(again, ",") != strings.Join(names, ",") {
			t.Fatalf("ParseNetworkList(%q) = %q, which reads back as %q, %v", list, names, again, err)
		}
	})
}

// FuzzNormalizeNetwork checks network create's validation with its flags
// parsed as the command parses them (--subnet, --gateway, --bridge,
// --mtu, --driver): an accepted network has a valid IPv4 subnet outside
// the reserved ranges, a gateway inside it that is neither its network
// nor its broadcast address, a bridge name the kernel takes and an MTU in
// range, and normalising it again changes nothing.
func FuzzNormalizeNetwork(f *testing.F) {
	f.Add("default", "10.88.0.0/24", "", "", 0, "")
	f.Add("backend", "10.89.0.0/16", "10.89.0.254", "br0", 9000, "bridge")
	f.Add("x", "10.88.0.1/24", "", "", 0, "")
	f.Add("x", "127.0.0.0/24", "", "", 0, "")
	f.Add("x", "10.0.0.0/31", "", "", 0, "")
	f.Add("x", "10.0.0.0/24", "10.0.0.255", "", 0, "")
	f.Add("x", "10.0.0.0/24", "10.0.1.1", "", 0, "")
	f.Add("x", "fd00::/64", "", "", 0, "")
	f.Add("cni-net", "192.168.5.0/24", "", "", 67, "cni")
	f.Add("averyveryverylongnetworkname", "172.20.0.0/24", "", "bad/name", 70000, "macvlan")
	f.Fuzz(func(t *testing.T, name, subnet, gateway, bridge string, mtu int, driver string) {
		n := Network{Name: name, Bridge: bridge, MTU: mtu, Driver: driver}
		var err error
		if subnet != "" {
			if n.Subnet, err = netip.ParsePrefix(subnet); err != nil {
				return // the command refuses it with --subnet named
			}
		}
		if gateway != "" {
			if n.Gateway, err = netip.ParseAddr(gateway); err != nil {
				return
			}
		}
		got, err := normalize(n)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("normalize(%+v): %v is not ErrInvalid", n, err)
			}
			return
		}
		p := got.Subnet
		if !p.Addr().Is4() || p.Masked() != p || p.Bits() < 8 || p.Bits() > 30 {
			t.Fatalf("normalize(%+v) accepted subnet %s", n, p)
		}
		for _, r := range reservedRanges {
			if r.Overlaps(p) {
				t.Fatalf("normalize(%+v) accepted subnet %s in %s", n, p, r)
			}
		}
		if !p.Contains(got.Gateway) || got.Gateway == p.Addr() || got.Gateway == broadcast(p) {
			t.Fatalf("normalize(%+v) accepted gateway %s for %s", n, got.Gateway, p)
		}
		if validIfName(got.Bridge) != nil || got.MTU < 68 || got.MTU > 65535 || !validName(got.Name) {
			t.Fatalf("normalize(%+v) = %+v", n, got)
		}
		again, err := normalize(got)
		if err != nil || again != got {
			t.Fatalf("normalize is not idempotent: %+v then %+v, %v", got, again, err)
		}
	})
}
