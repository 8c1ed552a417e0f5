package netns

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestNormalizeDefaults(t *testing.T) {
	n, err := normalize(Network{Name: "web", Subnet: netip.MustParsePrefix("10.90.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if n.Bridge != "mr-web" || n.Gateway != netip.MustParseAddr("10.90.0.1") || n.MTU != DefaultMTU {
		t.Fatalf("defaults: %+v", n)
	}
}

func TestNormalizeRefuses(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	for _, tc := range []struct {
		name string
		n    Network
		want string
	}{
		{"empty name", Network{Subnet: p("10.90.0.0/24")}, "network name"},
		{"bad name", Network{Name: "a/b", Subnet: p("10.90.0.0/24")}, "network name"},
		{"dot name", Network{Name: ".hidden", Subnet: p("10.90.0.0/24")}, "network name"},
		{"no subnet", Network{Name: "x"}, "subnet is required"},
		{"ipv6", Network{Name: "x", Subnet: p("fd00::/64")}, "only IPv4"},
		{"host bits", Network{Name: "x", Subnet: p("10.90.0.5/24")}, "did you mean 10.90.0.0/24"},
		{"too small", Network{Name: "x", Subnet: p("10.90.0.0/31")}, "between /8 and /30"},
		{"too big", Network{Name: "x", Subnet: p("10.0.0.0/7")}, "between /8 and /30"},
		{"loopback", Network{Name: "x", Subnet: p("127.1.0.0/16")}, "reserved"},
		{"multicast", Network{Name: "x", Subnet: p("224.1.0.0/16")}, "reserved"},
		{"gateway outside", Network{Name: "x", Subnet: p("10.90.0.0/24"), Gateway: a("10.91.0.1")}, "not in subnet"},
		{"gateway network", Network{Name: "x", Subnet: p("10.90.0.0/24"), Gateway: a("10.90.0.0")}, "network address"},
		{"gateway broadcast", Network{Name: "x", Subnet: p("10.90.0.0/24"), Gateway: a("10.90.0.255")}, "broadcast"},
		{"bridge too long", Network{Name: "x", Bridge: "a-very-long-bridge", Subnet: p("10.90.0.0/24")}, "longer than 15"},
		{"bridge slash", Network{Name: "x", Bridge: "br/0", Subnet: p("10.90.0.0/24")}, "contains"},
		{"mtu", Network{Name: "x", Subnet: p("10.90.0.0/24"), MTU: 40}, "mtu"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := normalize(tc.n)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestDefaultBridgeName(t *testing.T) {
	if got := defaultBridgeName("short"); got != "mr-short" {
		t.Fatalf("got %q", got)
	}
	a, b := defaultBridgeName("backend-services"), defaultBridgeName("backend-servicez")
	if len(a) > 15 || len(b) > 15 || a == b || !strings.HasPrefix(a, "mr-backen-") {
		t.Fatalf("long names: %q %q", a, b)
	}
	if err := validIfName(a); err != nil {
		t.Fatal(err)
	}
}

func TestCheckOverlap(t *testing.T) {
	p := netip.MustParsePrefix
	others := []Network{{Name: "a", Bridge: "mr-a", Subnet: p("10.90.0.0/24")}}
	routes := []netip.Prefix{p("0.0.0.0/0"), p("192.168.1.0/24"), p("172.20.5.7/32")}
	for _, tc := range []struct {
		n    Network
		want error
	}{
		{Network{Name: "b", Bridge: "mr-b", Subnet: p("10.90.1.0/24")}, nil},
		{Network{Name: "b", Bridge: "mr-b", Subnet: p("10.90.0.128/25")}, ErrOverlap},
		{Network{Name: "b", Bridge: "mr-b", Subnet: p("10.0.0.0/8")}, ErrOverlap},
		{Network{Name: "b", Bridge: "mr-b", Subnet: p("192.168.0.0/16")}, ErrOverlap},
		{Network{Name: "b", Bridge: "mr-b", Subnet: p("172.20.5.0/24")}, ErrOverlap},
		{Network{Name: "a", Bridge: "mr-b", Subnet: p("10.91.0.0/24")}, ErrExists},
		{Network{Name: "b", Bridge: "mr-a", Subnet: p("10.91.0.0/24")}, ErrExists},
	} {
		err := checkOverlap(tc.n, others, routes)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s %s: got %v, want %v", tc.n.Name, tc.n.Subnet, err, tc.want)
		}
	}
}

func TestFreeSubnet(t *testing.T) {
	p := netip.MustParsePrefix
	others := []Network{{Name: "a", Bridge: "mr-a", Subnet: p("10.88.0.0/24")}}
	routes := []netip.Prefix{p("10.88.1.0/24"), p("0.0.0.0/0")}
	got, err := freeSubnet(defaultPool, 24, others, routes)
	if err != nil || got != p("10.88.2.0/24") {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := freeSubnet(defaultPool, 24, nil, []netip.Prefix{p("10.0.0.0/8")}); !errors.Is(err, ErrOverlap) {
		t.Fatalf("full pool: %v", err)
	}
}

func TestBroadcastAndMAC(t *testing.T) {
	if got := broadcast(netip.MustParsePrefix("10.88.4.0/22")); got != netip.MustParseAddr("10.88.7.255") {
		t.Fatal(got)
	}
	if got := macFor(netip.MustParseAddr("10.88.0.2")).String(); got != "02:6d:0a:58:00:02" {
		t.Fatal(got)
	}
	if v := hostVethName("default", "abc"); len(v) != 12 || v != hostVethName("default", "abc") || v == hostVethName("other", "abc") {
		t.Fatal(v)
	}
}
