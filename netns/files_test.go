package netns

import (
	"net/netip"
	"strings"
	"testing"
)

func TestHostsAndHostname(t *testing.T) {
	att := &Attachment{ContainerID: "0123456789abcdef", IP: netip.MustParseAddr("10.88.0.2")}
	f := ContainerFiles(att, "")
	if got := string(f["/etc/hostname"]); got != "0123456789ab\n" {
		t.Fatalf("hostname %q", got)
	}
	hosts := string(f["/etc/hosts"])
	if !strings.Contains(hosts, "127.0.0.1\tlocalhost\n") || !strings.Contains(hosts, "10.88.0.2\t0123456789ab\n") {
		t.Fatalf("hosts:\n%s", hosts)
	}
	if _, ok := f["/etc/resolv.conf"]; !ok {
		t.Fatal("no resolv.conf")
	}
	if f := ContainerFiles(nil, "box"); strings.Contains(string(f["/etc/hosts"]), "box") || string(f["/etc/hostname"]) != "box\n" {
		t.Fatalf("no network: %q", f)
	}
}

func TestResolvConf(t *testing.T) {
	stub := []byte("# systemd-resolved stub\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n")
	upstream := []byte("nameserver 192.0.2.53\nnameserver fd00::53\nnameserver 198.51.100.53\nsearch lan\n")
	got := string(resolvConf(stub, upstream))
	want := "search lan\nnameserver 192.0.2.53\nnameserver 198.51.100.53\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// a direct resolv.conf wins over the fallback
	if got := string(resolvConf([]byte("nameserver 203.0.113.1\n"), upstream)); got != "nameserver 203.0.113.1\n" {
		t.Fatal(got)
	}
	// only loopback: no server, a comment that says why
	got = string(resolvConf(stub))
	if strings.Contains(got, "\nnameserver") || strings.HasPrefix(got, "nameserver") || !strings.Contains(got, "127.0.0.53") {
		t.Fatalf("got %q", got)
	}
}
