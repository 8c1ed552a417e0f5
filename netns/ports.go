package netns

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// A PortMapping publishes a container port on the host: traffic to
// HostIP:HostPort (any of the host's addresses when HostIP is the zero value)
// is forwarded to the container's address and ContainerPort.
type PortMapping struct {
	HostIP        netip.Addr `json:"hostIP,omitzero"`
	HostPort      uint16     `json:"hostPort"`
	ContainerPort uint16     `json:"containerPort"`
	Protocol      string     `json:"protocol"` // "tcp" or "udp"
}

// String renders m in the form ParsePortMapping reads.
func (m PortMapping) String() string {
	s := fmt.Sprintf("%d:%d/%s", m.HostPort, m.ContainerPort, m.proto())
	if !m.allAddrs() {
		s = m.HostIP.String() + ":" + s
	}
	return s
}

func (m PortMapping) proto() string {
	if m.Protocol == "" {
		return "tcp"
	}
	return m.Protocol
}

// ParsePortMapping reads "[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]", e.g.
// "8080:80", "192.0.2.1:8053:53/udp". The protocol defaults to tcp. HostIP
// 0.0.0.0 means all addresses, like an absent one. Loopback host addresses
// are refused: see docs/networking.md, "Published ports".
func ParsePortMapping(s string) (PortMapping, error) {
	var m PortMapping
	bad := func(format string, args ...any) (PortMapping, error) {
		return PortMapping{}, fmt.Errorf("%w: port mapping %q: %s", ErrInvalid, s, fmt.Sprintf(format, args...))
	}
	rest := strings.TrimSpace(s)
	m.Protocol = "tcp"
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		m.Protocol = strings.ToLower(rest[i+1:])
		rest = rest[:i]
	}
	if m.Protocol != "tcp" && m.Protocol != "udp" {
		return bad("protocol %q: want tcp or udp", m.Protocol)
	}
	if strings.HasPrefix(rest, "[") {
		return bad("IPv6 host addresses are not supported")
	}
	parts := strings.Split(rest, ":")
	switch len(parts) {
	case 2:
	case 3:
		ip, err := netip.ParseAddr(parts[0])
		if err != nil {
			return bad("host address %q is not an IP address", parts[0])
		}
		if !ip.Is4() {
			return bad("host address %s: only IPv4 is supported", ip)
		}
		switch {
		case ip.IsUnspecified():
			// 0.0.0.0: all addresses, the same as no address
		case ip.IsLoopback():
			return bad("publishing on a loopback address is not supported; use the host's own address or omit it")
		case ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return bad("host address %s is not a unicast address", ip)
		default:
			m.HostIP = ip
		}
		parts = parts[1:]
	default:
		return bad("want [HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]")
	}
	var err error
	if m.HostPort, err = parsePort(parts[0]); err != nil {
		return bad("host port: %v", err)
	}
	if m.ContainerPort, err = parsePort(parts[1]); err != nil {
		return bad("container port: %v", err)
	}
	return m, nil
}

// ParsePortMappings reads a comma-separated list (the AnnotationPorts value).
// Empty items are skipped; mappings that collide with each other are refused.
func ParsePortMappings(list string) ([]PortMapping, error) {
	var out []PortMapping
	for _, item := range strings.Split(list, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		m, err := ParsePortMapping(item)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := validatePorts(out); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseNetworkList reads the AnnotationNetwork value: comma-separated network
// names, blanks trimmed, duplicates refused.
func ParseNetworkList(list string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, item := range strings.Split(list, ",") {
		name := strings.TrimSpace(item)
		if name == "" {
			continue
		}
		if !validName(name) {
			return nil, fmt.Errorf("%w: network name %q", ErrInvalid, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: network %q listed twice", ErrInvalid, name)
		}
		seen[name] = true
		out = append(out, name)
	}
	return out, nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%q is not a port number 1-65535", s)
	}
	return uint16(n), nil
}

// validatePorts checks each mapping and that no two of them claim the same
// host port.
func validatePorts(ms []PortMapping) error {
	for i, m := range ms {
		if m.HostPort == 0 || m.ContainerPort == 0 {
			return fmt.Errorf("%w: port mapping %s: ports must be 1-65535", ErrInvalid, m)
		}
		if p := m.proto(); p != "tcp" && p != "udp" {
			return fmt.Errorf("%w: port mapping %s: protocol must be tcp or udp", ErrInvalid, m)
		}
		if !m.allAddrs() && (!m.HostIP.Is4() || m.HostIP.IsLoopback() || m.HostIP.IsMulticast()) {
			return fmt.Errorf("%w: port mapping %s: host address must be a non-loopback IPv4 address", ErrInvalid, m)
		}
		for _, o := range ms[:i] {
			if portsConflict(m, o) {
				return fmt.Errorf("%w: port mappings %s and %s claim the same host port", ErrInvalid, o, m)
			}
		}
	}
	return nil
}

// portsConflict reports whether a and b claim the same host port: same
// protocol and port, and the same host address or one of them on all.
func portsConflict(a, b PortMapping) bool {
	if a.proto() != b.proto() || a.HostPort != b.HostPort {
		return false
	}
	return a.allAddrs() || b.allAddrs() || a.HostIP == b.HostIP
}

// allAddrs reports whether m is published on all of the host's addresses.
func (m PortMapping) allAddrs() bool { return !m.HostIP.IsValid() || m.HostIP.IsUnspecified() }
