package netns

import (
	"bufio"
	"bytes"
	"net/netip"
	"os"
	"strings"
)

// Where ContainerFiles looks for the host's resolvers: the first file that
// names a nameserver a container can reach wins. The second is the list of
// upstream servers kept by systemd-resolved, whose /etc/resolv.conf only
// names its stub at 127.0.0.53.
var resolvConfPaths = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

// ContainerFiles returns the files the runtime bind-mounts into a container
// that has none of its own, keyed by their path in the container:
//
//   - /etc/hosts: the localhost lines and the container's address with its
//     hostname;
//   - /etc/hostname: the hostname (the first 12 characters of the container
//     id when hostname is empty);
//   - /etc/resolv.conf: the host's nameservers, search and options lines.
//     Loopback nameservers (127.0.0.53 of systemd-resolved, a local
//     dnsmasq) cannot be reached from the container, so they are dropped;
//     when nothing is left the file says so in a comment and names no
//     server: the package does not invent a public resolver, and the
//     gateway only answers DNS if the administrator runs a resolver bound
//     to it (docs/networking.md, "DNS").
//
// att may be nil for a container without a network (only the localhost
// lines then). It reads the host's files in the caller's mount namespace.
func ContainerFiles(att *Attachment, hostname string) map[string][]byte {
	if hostname == "" && att != nil {
		hostname = att.ContainerID
		if len(hostname) > 12 {
			hostname = hostname[:12]
		}
	}
	var sources [][]byte
	for _, p := range resolvConfPaths {
		if b, err := os.ReadFile(p); err == nil {
			sources = append(sources, b)
		}
	}
	files := map[string][]byte{
		"/etc/hosts":       hostsFile(att, hostname),
		"/etc/resolv.conf": resolvConf(sources...),
	}
	if hostname != "" {
		files["/etc/hostname"] = []byte(hostname + "\n")
	}
	return files
}

func hostsFile(att *Attachment, hostname string) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	if att != nil && att.IP.IsValid() && hostname != "" {
		b.WriteString(att.IP.String() + "\t" + hostname + "\n")
	}
	return b.Bytes()
}

// resolvConf builds the container's resolv.conf from the first source that
// has a usable (IPv4, non-loopback) nameserver, keeping its search, domain
// and options lines.
func resolvConf(sources ...[]byte) []byte {
	var dropped []string
	for _, src := range sources {
		var keep, servers []string
		sc := bufio.NewScanner(bytes.NewReader(src))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "nameserver":
				ip, err := netip.ParseAddr(f[1])
				if err != nil || !ip.Unmap().Is4() || ip.IsLoopback() || ip.IsUnspecified() {
					dropped = append(dropped, f[1])
					continue
				}
				servers = append(servers, "nameserver "+ip.Unmap().String())
			case "search", "domain", "options":
				keep = append(keep, strings.Join(f, " "))
			}
		}
		if len(servers) > 0 {
			return []byte(strings.Join(append(keep, servers...), "\n") + "\n")
		}
	}
	var b strings.Builder
	b.WriteString("# miniruntime: the host has no nameserver a container can reach")
	if len(dropped) > 0 {
		b.WriteString(" (dropped loopback or IPv6: " + strings.Join(dropped, ", ") + ")")
	}
	b.WriteString(".\n# Run a resolver listening on the network's gateway address and name it here.\n")
	return []byte(b.String())
}
