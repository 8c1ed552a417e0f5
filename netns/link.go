package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// createBridge creates n's bridge with the gateway address and brings it up.
// The bridge gets a fixed MAC (derived from the gateway) so that it does not
// change as ports come and go, which would leave stale neighbour entries.
//
//	ip link add name mr0 address 02:6d:0a:58:00:01 mtu 1500 type bridge
//	ip addr add 10.88.0.1/24 brd + dev mr0
//	ip link set mr0 up
func createBridge(h *nsHandle, n *Network) error {
	mac := macFor(n.Gateway)
	attrs := netlink.NewLinkAttrs() // TxQLen -1: the kernel's default, as ip(8) leaves it
	attrs.Name, attrs.MTU, attrs.HardwareAddr = n.Bridge, n.MTU, mac
	br := &netlink.Bridge{LinkAttrs: attrs}
	h.step("create bridge of network "+n.Name, func() string {
		return trace.Quote("ip", "link", "add", "name", n.Bridge, "address", mac.String(), "mtu", strconv.Itoa(n.MTU), "type", "bridge")
	})
	if err := h.nl.LinkAdd(br); err != nil {
		return fmt.Errorf("create bridge %s: %w", n.Bridge, err)
	}
	gw := netip.PrefixFrom(n.Gateway, n.Subnet.Bits())
	h.step("give the bridge the gateway address", func() string {
		return trace.Quote("ip", "addr", "add", gw.String(), "brd", "+", "dev", n.Bridge)
	})
	if err := h.nl.AddrAdd(br, &netlink.Addr{IPNet: ipNet(gw)}); err != nil {
		return fmt.Errorf("address %s on bridge %s: %w", gw, n.Bridge, err)
	}
	h.step("bring the bridge up", func() string { return trace.Quote("ip", "link", "set", n.Bridge, "up") })
	if err := h.nl.LinkSetUp(br); err != nil {
		return fmt.Errorf("bring up bridge %s: %w", n.Bridge, err)
	}
	return nil
}

// linkExists reports whether h has a link of that name.
func linkExists(h *nsHandle, name string) (bool, error) {
	_, err := h.nl.LinkByName(name)
	if isLinkNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// deleteLink removes a link; one that is already gone is not an error.
// Deleting either end of a veth pair deletes both.
//
//	ip link del mr1a2b3c4d5e
func deleteLink(h *nsHandle, name, what string) error {
	l, err := h.nl.LinkByName(name)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("find link %s: %w", name, err)
	}
	h.step(what, func() string { return trace.Quote("ip", "link", "del", name) })
	if err := h.nl.LinkDel(l); err != nil && !isLinkNotFound(err) && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}

// hostPrefixes returns what a new subnet must not overlap in h: the
// destinations of the main routing table and the host's own addresses.
//
//	ip -4 route show; ip -4 addr show
func hostPrefixes(h *nsHandle) ([]netip.Prefix, error) {
	h.step("read the host's routes (a new subnet must not overlap)", func() string { return "ip -4 route show" })
	routes, err := retryDump(func() ([]netlink.Route, error) { return h.nl.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	h.step("read the host's addresses", func() string { return "ip -4 addr show" })
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.nl.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	var out []netip.Prefix
	for _, r := range routes {
		if p, ok := prefixOf(r.Dst); ok {
			out = append(out, p)
		}
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && !p.Addr().IsLoopback() {
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// createVeth builds the container's link, following runc's and CNI's order:
// the pair is created with its peer directly inside the container's
// namespace (so the name eth0 never exists in the host), the host end joins
// the bridge, then the container end gets its address, MTU and routes.
//
//	ip link add mr1a2b3c4d5e mtu 1500 type veth peer name eth0 address 02:6d:0a:58:00:02 mtu 1500 netns /proc/<pid>/ns/net
//	ip link set mr1a2b3c4d5e master mr0
//	ip link set mr1a2b3c4d5e type bridge_slave hairpin on
//	ip link set mr1a2b3c4d5e up
//	nsenter --net=/proc/<pid>/ns/net ip addr add 10.88.0.2/24 brd + dev eth0
//	nsenter --net=/proc/<pid>/ns/net ip link set eth0 up
//	nsenter --net=/proc/<pid>/ns/net ip link set lo up
//	nsenter --net=/proc/<pid>/ns/net ip route add default via 10.88.0.1 dev eth0
func createVeth(host, ctr *nsHandle, n *Network, att *Attachment) error {
	mac, err := net.ParseMAC(att.MAC)
	if err != nil {
		return fmt.Errorf("%w: attachment MAC %q: %v", ErrInvalid, att.MAC, err)
	}
	mtu := strconv.Itoa(n.MTU)
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = att.HostVeth, n.MTU
	veth := &netlink.Veth{
		LinkAttrs:        attrs,
		PeerTxQLen:       -1,
		PeerName:         att.Interface,
		PeerHardwareAddr: mac,
		PeerMTU:          uint32(n.MTU),
		PeerNamespace:    netlink.NsFd(int(ctr.fd)),
	}
	host.step("create the veth pair, peer in the container", func() string {
		return trace.Quote("ip", "link", "add", att.HostVeth, "mtu", mtu, "type", "veth",
			"peer", "name", att.Interface, "address", att.MAC, "mtu", mtu, "netns", ctr.path)
	})
	if err := host.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s (peer %s): %w", att.HostVeth, att.Interface, err)
	}
	br, err := host.nl.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s of network %s: %w", n.Bridge, n.Name, err)
	}
	hostEnd, err := host.nl.LinkByName(att.HostVeth)
	if err != nil {
		return fmt.Errorf("find veth %s: %w", att.HostVeth, err)
	}
	host.step("plug the host end into the bridge", func() string {
		return trace.Quote("ip", "link", "set", att.HostVeth, "master", n.Bridge)
	})
	if err := host.nl.LinkSetMaster(hostEnd, br); err != nil {
		return fmt.Errorf("put %s on bridge %s: %w", att.HostVeth, n.Bridge, err)
	}
	// Hairpin: when br_netfilter passes bridged frames through the ip
	// hooks (bridge-nf-call-iptables=1, the default once the module is
	// loaded), a container that reaches its own published port through a
	// host address is DNATed back to itself and the bridge must send the
	// frame out of the port it came in on, which it only does in hairpin
	// mode (docker and kubelet's hairpin-veth do the same).
	host.step("hairpin: frames may leave by the way they came", func() string {
		return trace.Quote("ip", "link", "set", att.HostVeth, "type", "bridge_slave", "hairpin", "on")
	})
	if err := host.nl.LinkSetHairpin(hostEnd, true); err != nil {
		return fmt.Errorf("hairpin mode on %s: %w", att.HostVeth, err)
	}
	host.step("bring the host end up", func() string { return trace.Quote("ip", "link", "set", att.HostVeth, "up") })
	if err := host.nl.LinkSetUp(hostEnd); err != nil {
		return fmt.Errorf("bring up %s: %w", att.HostVeth, err)
	}

	ctrEnd, err := ctr.nl.LinkByName(att.Interface)
	if err != nil {
		return fmt.Errorf("find %s in the container: %w", att.Interface, err)
	}
	ctr.step("give the container its address", func() string {
		return trace.Quote("ip", "addr", "add", att.Prefix.String(), "brd", "+", "dev", att.Interface)
	})
	if err := ctr.nl.AddrAdd(ctrEnd, &netlink.Addr{IPNet: ipNet(att.Prefix)}); err != nil {
		return fmt.Errorf("address %s on %s: %w", att.Prefix, att.Interface, err)
	}
	ctr.step("bring the container end up", func() string { return trace.Quote("ip", "link", "set", att.Interface, "up") })
	if err := ctr.nl.LinkSetUp(ctrEnd); err != nil {
		return fmt.Errorf("bring up %s: %w", att.Interface, err)
	}
	lo, err := ctr.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo in the container: %w", err)
	}
	if lo.Attrs().Flags&net.FlagUp == 0 {
		ctr.step("bring the container's loopback up", func() string { return trace.Quote("ip", "link", "set", "lo", "up") })
		if err := ctr.nl.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bring up lo: %w", err)
		}
	}
	if n.Internal {
		return nil // no way out: no default route
	}
	routes, err := retryDump(func() ([]netlink.Route, error) { return ctr.nl.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list the container's routes: %w", err)
	}
	for _, r := range routes {
		if p, ok := prefixOf(r.Dst); ok && p.Bits() == 0 {
			ctr.step("keep the default route of an earlier network", nil)
			return nil
		}
	}
	ctr.step("route everything else via the gateway", func() string {
		return trace.Quote("ip", "route", "add", "default", "via", att.Gateway.String(), "dev", att.Interface)
	})
	err = ctr.nl.RouteAdd(&netlink.Route{
		LinkIndex: ctrEnd.Attrs().Index,
		Gw:        net.IP(att.Gateway.AsSlice()),
		Scope:     netlink.SCOPE_UNIVERSE,
	})
	if err != nil {
		return fmt.Errorf("default route via %s: %w", att.Gateway, err)
	}
	return nil
}

// freeIfName returns the first ethN that does not exist in the container.
func freeIfName(ctr *nsHandle) (string, error) {
	links, err := retryDump(ctr.nl.LinkList)
	if err != nil {
		return "", fmt.Errorf("list the container's links: %w", err)
	}
	used := map[string]bool{}
	for _, l := range links {
		used[l.Attrs().Name] = true
	}
	for i := 0; i < 1000; i++ {
		if name := "eth" + strconv.Itoa(i); !used[name] {
			return name, nil
		}
	}
	return "", fmt.Errorf("no free ethN name in the container")
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// prefixOf converts a netlink destination; nil (a default route) is 0.0.0.0/0.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), true
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
