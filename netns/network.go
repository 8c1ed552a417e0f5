package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// CreateNetwork validates n, refuses a subnet that overlaps another network
// or a route or address of the host namespace, and creates it: the bridge
// with the gateway address, up; the network's nftables rules (masquerade
// unless Internal or NoMasquerade, isolation from the other networks, and
// for Internal networks no way out of the bridge); net.ipv4.ip_forward=1 in
// the host namespace unless Internal. It persists the network last, and
// undoes what it did if a step fails. It returns the network with its
// defaults filled in.
func CreateNetwork(n Network, o Options) (*Network, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	nn, err := normalize(n)
	if err != nil {
		return nil, err
	}
	unlock, err := o.lockNetworks(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	host, err := openNS(o.HostNS, o.Recorder)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	return createLocked(&nn, host, o)
}

// createLocked creates a normalized network; the caller holds the lock.
func createLocked(n *Network, host *nsHandle, o Options) (_ *Network, err error) {
	others, err := o.listNetworks()
	if err != nil {
		return nil, err
	}
	routes, err := hostPrefixes(host)
	if err != nil {
		return nil, err
	}
	if err := checkOverlap(*n, others, routes); err != nil {
		return nil, err
	}
	if ok, err := linkExists(host, n.Bridge); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("%w: link %s (not a network of %s; remove it with: ip link del %s)", ErrExists, n.Bridge, o.Root, n.Bridge)
	}

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if n.isCNI() {
		undo = append(undo, func() { os.RemoveAll(o.networkDir(n.Name)) })
		if err := o.createCNI(n, host); err != nil {
			return nil, err
		}
		out := *n
		return &out, nil
	}
	// On record before the bridge and the rules exist, so that a command
	// killed from here on leaves a network that RemoveNetwork removes.
	host.step("save network "+n.Name, nil)
	undo = append(undo, func() { os.RemoveAll(o.networkDir(n.Name)) })
	if err := o.saveNetwork(n); err != nil {
		return nil, err
	}
	undo = append(undo, func() { deleteLink(host, n.Bridge, "undo: remove the bridge") })
	if err := createBridge(host, n); err != nil {
		return nil, err
	}
	nft, err := openNft(host)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { nft.removeNetwork(n) })
	if err := nft.addNetwork(n); err != nil {
		return nil, err
	}
	if !n.Internal {
		if err := host.sysctl("net.ipv4.ip_forward", "1"); err != nil {
			return nil, err
		}
	}
	out := *n
	return &out, nil
}

// ListNetworks returns the networks under o.Root, sorted by name.
func ListNetworks(o Options) ([]Network, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return o.listNetworks()
}

// GetNetwork returns one network; errors.Is(err, ErrNotFound) if none.
func GetNetwork(name string, o Options) (*Network, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return o.loadNetwork(name)
}

// RemoveNetwork removes a network: its rules (and the nftables table with
// the last network), its bridge and its files. While containers hold
// addresses on it, it refuses with ErrInUse unless force, which first
// detaches them (their veths, published ports and addresses).
func RemoveNetwork(name string, force bool, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	unlock, err := o.lockNetworks(true)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := o.loadNetwork(name)
	if errors.Is(err, ErrNotFound) && validName(name) {
		// A directory without its record: what a removal killed after
		// removing the record left (the kernel's part went before it).
		dir := o.networkDir(name)
		if _, serr := os.Lstat(dir); serr == nil {
			host, herr := openNS(o.HostNS, o.Recorder)
			if herr != nil {
				return herr
			}
			host.step("forget network "+name+" (left half removed)", nil)
			host.Close()
			return os.RemoveAll(dir)
		}
	}
	if err != nil {
		return err
	}
	alloc := o.allocator(n)
	held, err := alloc.All()
	if err != nil {
		return err
	}
	ids := idsOf(held)
	if len(ids) > 0 && !force {
		return fmt.Errorf("%w: %s has %d attachment(s): %s", ErrInUse, name, len(ids), strings.Join(ids, ", "))
	}
	host, err := openNS(o.HostNS, o.Recorder)
	if err != nil {
		return err
	}
	defer host.Close()
	if n.isCNI() {
		var errs []error
		for _, id := range ids {
			errs = append(errs, o.detachCNI(&Attachment{Network: n.Name, ContainerID: id}, n, host))
			errs = append(errs, alloc.Release(id))
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		return o.removeCNI(n, host)
	}
	nft, err := openNft(host)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		errs = append(errs, cleanupContainer(host, nft, o, n.Name, id, hostVethName(n.Name, id)))
		errs = append(errs, alloc.Release(id))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := nft.removeNetwork(n); err != nil {
		return err
	}
	if err := deleteLink(host, n.Bridge, "remove the bridge of network "+n.Name); err != nil {
		return err
	}
	host.step("forget network "+n.Name, nil)
	return o.removeNetworkDir(n.Name)
}

// removeNetworkDir removes a network's files with network.json last, so
// that a removal killed half way leaves the record (and can begin again)
// or a directory without one (which RemoveNetwork then removes).
func (o Options) removeNetworkDir(name string) error {
	dir := o.networkDir(name)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if e.Name() != "network.json" {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(filepath.Join(dir, "network.json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// DefaultNetwork returns the network "default", creating it on first use:
// bridge mr0 and the first /24 of 10.88.0.0/16 that overlaps no other
// network and no route or address of the host.
func DefaultNetwork(o Options) (*Network, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if n, err := o.loadNetwork(DefaultNetworkName); err == nil || !errors.Is(err, ErrNotFound) {
		return n, err
	}
	unlock, err := o.lockNetworks(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if n, err := o.loadNetwork(DefaultNetworkName); err == nil || !errors.Is(err, ErrNotFound) {
		return n, err // created meanwhile by someone else
	}
	host, err := openNS(o.HostNS, o.Recorder)
	if err != nil {
		return nil, err
	}
	defer host.Close()
	others, err := o.listNetworks()
	if err != nil {
		return nil, err
	}
	routes, err := hostPrefixes(host)
	if err != nil {
		return nil, err
	}
	subnet, err := freeSubnet(defaultPool, 24, others, routes)
	if err != nil {
		return nil, err
	}
	n, err := normalize(Network{Name: DefaultNetworkName, Bridge: DefaultBridge, Subnet: subnet})
	if err != nil {
		return nil, err
	}
	return createLocked(&n, host, o)
}

// The default network.
const (
	DefaultNetworkName = "default"
	DefaultBridge      = "mr0"
)

var defaultPool = netip.MustParsePrefix("10.88.0.0/16")

// freeSubnet returns the first /bits of pool that overlaps nothing.
func freeSubnet(pool netip.Prefix, bits int, others []Network, routes []netip.Prefix) (netip.Prefix, error) {
	step := uint32(1) << (32 - bits)
	count := uint32(1) << (bits - pool.Bits())
	base := pool.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	for i := uint32(0); i < count; i++ {
		v := start + i*step
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), bits)
		if checkOverlap(Network{Subnet: p}, others, routes) == nil {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w: no free /%d left in %s", ErrOverlap, bits, pool)
}

func idsOf(held map[netip.Addr]string) []string {
	seen := map[string]bool{}
	var ids []string
	for _, id := range held {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
