package netns

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParsePortMapping(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		in   string
		want PortMapping
	}{
		{"8080:80", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{"8080:80/tcp", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{"5353:53/udp", PortMapping{HostPort: 5353, ContainerPort: 53, Protocol: "udp"}},
		{"5353:53/UDP", PortMapping{HostPort: 5353, ContainerPort: 53, Protocol: "udp"}},
		{"192.0.2.1:8080:80", PortMapping{HostIP: a("192.0.2.1"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{"0.0.0.0:8080:80", PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{" 1:65535 ", PortMapping{HostPort: 1, ContainerPort: 65535, Protocol: "tcp"}},
	} {
		got, err := ParsePortMapping(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, err := ParsePortMapping(got.String()); err != nil || again != got {
			t.Errorf("%q: String %q does not round-trip: %+v %v", tc.in, got.String(), again, err)
		}
	}
	for _, in := range []string{
		"", "80", "a:80", "80:b", "0:80", "80:0", "70000:80", "8080:80/sctp", "8080:80/",
		"1.2.3:8080:80", "[::1]:8080:80", "::1:8080:80", "127.0.0.1:8080:80", "224.0.0.1:80:80",
		"1.2.3.4:5:6:7",
	} {
		if m, err := ParsePortMapping(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: got %+v, %v; want ErrInvalid", in, m, err)
		}
	}
}

func TestParsePortMappings(t *testing.T) {
	ms, err := ParsePortMappings("8080:80, 192.0.2.1:8443:443/tcp,,5353:53/udp")
	if err != nil || len(ms) != 3 {
		t.Fatalf("%v %v", ms, err)
	}
	// same port, tcp and udp: fine; the same tcp port twice: not
	if _, err := ParsePortMappings("53:53/tcp,53:53/udp"); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{"8080:80,8080:81", "192.0.2.1:8080:80,8080:81", "8080:80,bad"} {
		if _, err := ParsePortMappings(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", in, err)
		}
	}
	if _, err := ParsePortMappings("192.0.2.1:8080:80,192.0.2.2:8080:81"); err != nil {
		t.Errorf("different host addresses: %v", err)
	}
}

func TestParseNetworkList(t *testing.T) {
	got, err := ParseNetworkList(" default, back ,")
	if err != nil || len(got) != 2 || got[0] != "default" || got[1] != "back" {
		t.Fatalf("%v %v", got, err)
	}
	for _, in := range []string{"a,a", "a/b"} {
		if _, err := ParseNetworkList(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestPortsConflict(t *testing.T) {
	a := netip.MustParseAddr
	all := PortMapping{HostPort: 80, ContainerPort: 80, Protocol: "tcp"}
	one := PortMapping{HostIP: a("192.0.2.1"), HostPort: 80, ContainerPort: 80, Protocol: "tcp"}
	two := PortMapping{HostIP: a("192.0.2.2"), HostPort: 80, ContainerPort: 80, Protocol: "tcp"}
	udp := PortMapping{HostPort: 80, ContainerPort: 80, Protocol: "udp"}
	for _, tc := range []struct {
		a, b PortMapping
		want bool
	}{{all, one, true}, {one, one, true}, {one, two, false}, {all, udp, false}} {
		if got := portsConflict(tc.a, tc.b); got != tc.want {
			t.Errorf("%s vs %s: %v", tc.a, tc.b, got)
		}
	}
}

func TestPortFileName(t *testing.T) {
	for _, m := range []PortMapping{
		{HostPort: 80, ContainerPort: 1, Protocol: "tcp"},
		{HostIP: netip.MustParseAddr("192.0.2.1"), HostPort: 53, ContainerPort: 1, Protocol: "udp"},
	} {
		got, ok := parsePortFileName(portFileName(m))
		if !ok || got.HostIP != m.HostIP || got.HostPort != m.HostPort || got.Protocol != m.Protocol {
			t.Errorf("%s: %+v %v", portFileName(m), got, ok)
		}
	}
}
