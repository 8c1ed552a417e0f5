package netns

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miniruntime/miniruntime/internal/trace"
)

// Annotation keys the runtime reads from config.json to attach a container.
const (
	// AnnotationNetwork: comma-separated network names ("default,backend").
	// The first network that is not Internal provides the default route.
	AnnotationNetwork = "miniruntime.network"
	// AnnotationPorts: comma-separated port mappings, each
	// "[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp]". They are published on
	// the first network of AnnotationNetwork, which must not be Internal.
	AnnotationPorts = "miniruntime.ports"
)

// DefaultMTU is the MTU of a network that does not set one.
const DefaultMTU = 1500

// A Network is a bridge with a subnet, like docker0 or the CNI bridge plugin.
type Network struct {
	Name string `json:"name"`
	// Bridge is the bridge device; default "mr-" + Name (shortened with a
	// hash when that is longer than the kernel's 15 characters).
	Bridge string `json:"bridge"`
	// Subnet is an IPv4 network address, e.g. 10.88.0.0/24.
	Subnet netip.Prefix `json:"subnet"`
	// Gateway is the bridge's address; default the first address of Subnet.
	Gateway netip.Addr `json:"gateway"`
	// Internal networks have no route outside, no masquerade, and reach
	// nothing but their own bridge (and the gateway address on it).
	Internal bool `json:"internal,omitempty"`
	// NoMasquerade keeps the containers' source addresses on outbound
	// traffic (the outside must route the subnet back to this host).
	NoMasquerade bool `json:"noMasquerade,omitempty"`
	// MTU of the bridge and of every veth; default DefaultMTU.
	MTU int `json:"mtu"`
	// Driver is DriverBridge ("" too: built in) or DriverCNI (the CNI
	// plugins bridge, host-local and portmap; see cni.go).
	Driver string `json:"driver,omitempty"`
}

// Options says where the state lives and which namespace is the host.
type Options struct {
	// Root is the state root, e.g. /run/miniruntime; networks live under
	// Root/networks/. Required.
	Root string
	// Recorder, when not nil, receives every kernel step with its shell
	// equivalent.
	Recorder *trace.Recorder
	// HostNS is the path of the network namespace acting as "the host";
	// "" means the caller's current network namespace.
	HostNS string
	// CNIPath is where the cni driver looks for plugins; default $CNI_PATH,
	// else DefaultCNIPath.
	CNIPath []string
}

// validName accepts the names of networks and pods: 1-64 of
// [a-zA-Z0-9_.-], starting with a letter or digit. (A loop, not a regexp:
// compiling one with {0,63} at package init cost a quarter of a
// millisecond of every run of the binary.)
func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// reserved ranges no network may use.
var reservedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this" network
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link local
	netip.MustParsePrefix("224.0.0.0/3"),    // multicast and reserved
}

// normalize validates n and fills in the defaults (Bridge, Gateway, MTU). It
// touches nothing: overlap with other networks and host routes is checked by
// checkOverlap.
func normalize(n Network) (Network, error) {
	if !validName(n.Name) {
		return n, fmt.Errorf("%w: network name %q: want 1-64 of [a-zA-Z0-9_.-], starting with a letter or digit", ErrInvalid, n.Name)
	}
	switch n.Driver {
	case "", DriverBridge:
		n.Driver = ""
	case DriverCNI:
	default:
		return n, fmt.Errorf("%w: network %s: driver %q: want %s or %s", ErrInvalid, n.Name, n.Driver, DriverBridge, DriverCNI)
	}
	if n.Bridge == "" {
		n.Bridge = defaultBridgeName(n.Name)
		if n.Driver == DriverCNI {
			n.Bridge = cniBridgeName(n.Name)
		}
	}
	if err := validIfName(n.Bridge); err != nil {
		return n, fmt.Errorf("%w: network %s: bridge: %v", ErrInvalid, n.Name, err)
	}
	if err := validSubnet(n.Subnet); err != nil {
		return n, fmt.Errorf("%w: network %s: %v", ErrInvalid, n.Name, err)
	}
	if !n.Gateway.IsValid() {
		n.Gateway = n.Subnet.Addr().Next()
	}
	if err := validGateway(n.Subnet, n.Gateway); err != nil {
		return n, fmt.Errorf("%w: network %s: %v", ErrInvalid, n.Name, err)
	}
	if n.MTU == 0 {
		n.MTU = DefaultMTU
	}
	if n.MTU < 68 || n.MTU > 65535 {
		return n, fmt.Errorf("%w: network %s: mtu %d out of range 68-65535", ErrInvalid, n.Name, n.MTU)
	}
	return n, nil
}

// masquerades reports whether outbound traffic of n is source-NATed.
func (n *Network) masquerades() bool { return !n.Internal && !n.NoMasquerade }

// defaultBridgeName is "mr-" + name, or, when that does not fit the kernel's
// 15 characters, "mr-" + the first 6 characters + "-" + 5 hex digits of a
// hash of the name, so that two long names stay distinct.
func defaultBridgeName(name string) string {
	if b := "mr-" + name; len(b) <= 15 {
		return b
	}
	sum := sha256.Sum256([]byte(name))
	return "mr-" + name[:6] + "-" + hex.EncodeToString(sum[:])[:5]
}

// validIfName checks a Linux interface name (dev_valid_name in the kernel).
func validIfName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty interface name")
	case len(s) > 15:
		return fmt.Errorf("interface name %q longer than 15 characters", s)
	case s == "." || s == "..":
		return fmt.Errorf("interface name %q not allowed", s)
	case strings.ContainsAny(s, "/: \t\n\x00"):
		return fmt.Errorf("interface name %q contains '/', ':' or whitespace", s)
	}
	return nil
}

func validSubnet(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("subnet is required (e.g. 10.88.0.0/24)")
	case !p.Addr().Is4():
		return fmt.Errorf("subnet %s: only IPv4 is supported", p)
	case p.Masked() != p:
		return fmt.Errorf("subnet %s is not a network address; did you mean %s?", p, p.Masked())
	case p.Bits() < 8 || p.Bits() > 30:
		return fmt.Errorf("subnet %s: prefix length must be between /8 and /30", p)
	}
	for _, r := range reservedRanges {
		if r.Overlaps(p) {
			return fmt.Errorf("subnet %s overlaps reserved range %s", p, r)
		}
	}
	return nil
}

func validGateway(subnet netip.Prefix, gw netip.Addr) error {
	switch {
	case !gw.Is4():
		return fmt.Errorf("gateway %s is not an IPv4 address", gw)
	case !subnet.Contains(gw):
		return fmt.Errorf("gateway %s is not in subnet %s", gw, subnet)
	case gw == subnet.Addr():
		return fmt.Errorf("gateway %s is the network address of %s", gw, subnet)
	case gw == broadcast(subnet):
		return fmt.Errorf("gateway %s is the broadcast address of %s", gw, subnet)
	}
	return nil
}

// broadcast returns the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// checkOverlap refuses a network whose name, bridge or subnet collides with
// one of others, or whose subnet overlaps one of the host's routes.
func checkOverlap(n Network, others []Network, hostRoutes []netip.Prefix) error {
	for _, o := range others {
		if o.Name == n.Name {
			return fmt.Errorf("%w: network %s", ErrExists, n.Name)
		}
		if o.Bridge == n.Bridge {
			return fmt.Errorf("%w: bridge %s is used by network %s", ErrExists, n.Bridge, o.Name)
		}
		if o.Subnet.Overlaps(n.Subnet) {
			return fmt.Errorf("%w: %s (network %s) and %s (network %s)", ErrOverlap, n.Subnet, n.Name, o.Subnet, o.Name)
		}
	}
	for _, r := range hostRoutes {
		if r.Bits() == 0 {
			continue // the default route overlaps everything and means nothing here
		}
		if r.Overlaps(n.Subnet) {
			return fmt.Errorf("%w: %s (network %s) and the host's route or address %s", ErrOverlap, n.Subnet, n.Name, r)
		}
	}
	return nil
}

// macFor derives a locally administered MAC from an IPv4 address,
// 02:6d:a:b:c:d ("6d" is 'm'). Tying the MAC to the address means a reused
// address comes back with the same MAC, so no neighbour holds a stale entry;
// the bridge gets the one of its gateway so that it never changes when ports
// come and go.
func macFor(ip netip.Addr) net.HardwareAddr {
	a := ip.As4()
	return net.HardwareAddr{0x02, 0x6d, a[0], a[1], a[2], a[3]}
}

// hostVethName is the host end of a container's veth pair: "mr" + 10 hex
// digits of a hash of network and container id (12 characters), the same on
// every call, so that Detach and GC can find it without any saved state.
func hostVethName(network, containerID string) string {
	sum := sha256.Sum256([]byte(network + "\x00" + containerID))
	return "mr" + hex.EncodeToString(sum[:])[:10]
}
