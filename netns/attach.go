package netns

import (
	"errors"
	"fmt"
	"net/netip"
)

// An Attachment is one container on one network. Allocate fills it in; the
// runtime adds the published Ports, keeps it in its state (it is plain
// JSON) and hands it back to Attach and Detach.
type Attachment struct {
	Network     string `json:"network"`
	ContainerID string `json:"containerID"`
	// HostVeth is the host end of the veth pair ("mr" + 10 hex digits).
	HostVeth string `json:"hostVeth"`
	// Interface is the container end's name, eth0 for the first network,
	// eth1 for the second...; set by Attach.
	Interface string `json:"interface,omitempty"`
	// IP is the container's address; Prefix is the same address with the
	// subnet's length, as `ip addr` shows it (10.88.0.2/24).
	IP      netip.Addr   `json:"ip"`
	Prefix  netip.Prefix `json:"prefix"`
	Gateway netip.Addr   `json:"gateway"`
	// MAC of the container end, derived from IP.
	MAC   string        `json:"mac"`
	Ports []PortMapping `json:"ports,omitempty"`
}

// Allocate reserves an address on network for containerID before the
// container exists, so that the runtime can write /etc/hosts. Allocating
// again for the same id returns the same address. Nothing in the kernel is
// touched.
func Allocate(network, containerID string, o Options) (*Attachment, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	unlock, err := o.lockNetworks(false) // shared: the network cannot vanish meanwhile
	if err != nil {
		return nil, err
	}
	defer unlock()
	n, err := o.loadNetwork(network)
	if err != nil {
		return nil, err
	}
	ip, err := o.allocator(n).Allocate(containerID)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", network, err)
	}
	return &Attachment{
		Network:     n.Name,
		ContainerID: containerID,
		HostVeth:    hostVethName(n.Name, containerID),
		IP:          ip,
		Prefix:      netip.PrefixFrom(ip, n.Subnet.Bits()),
		Gateway:     n.Gateway,
		MAC:         macFor(ip).String(),
	}, nil
}

// Attach connects the container whose network namespace is containerNetNS
// (a path such as /proc/<pid>/ns/net) to att's network: the veth pair with
// the host end on the bridge, up; the peer inside the container renamed to
// the first free ethN with the address, MAC and MTU, up, and lo up; a
// default route via the gateway unless the network is Internal or the
// container already has one; and DNAT rules for att.Ports, reachable from
// outside (prerouting) and from the host's own addresses (output), loopback
// excepted. On error it removes what it created; the address stays
// allocated until Detach.
func Attach(att *Attachment, containerNetNS string, o Options) (err error) {
	if err := o.check(); err != nil {
		return err
	}
	if att == nil || containerNetNS == "" {
		return fmt.Errorf("%w: Attach needs an attachment and a network namespace path", ErrInvalid)
	}
	n, err := o.loadNetwork(att.Network)
	if err != nil {
		return err
	}
	if err := checkAttachment(att, n); err != nil {
		return err
	}
	host, err := openNS(o.HostNS, o.Recorder)
	if err != nil {
		return err
	}
	defer host.Close()
	ctr, err := openNS(containerNetNS, o.Recorder)
	if err != nil {
		return err
	}
	defer ctr.Close()

	if n.isCNI() {
		if att.Interface, err = freeIfName(ctr); err != nil {
			return err
		}
		return o.attachCNI(att, n, host, ctr)
	}
	if ok, err := linkExists(host, att.HostVeth); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: link %s: container %s is already attached to %s", ErrExists, att.HostVeth, att.ContainerID, att.Network)
	}
	if att.Interface, err = freeIfName(ctr); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			deleteLink(host, att.HostVeth, "undo: remove the veth pair")
		}
	}()
	if err := createVeth(host, ctr, n, att); err != nil {
		return err
	}
	if len(att.Ports) == 0 {
		return nil
	}
	return publish(host, att, o)
}

// checkAttachment checks att against its network and fills in what Allocate
// derives, for attachments built by hand.
func checkAttachment(att *Attachment, n *Network) error {
	if err := validID(att.ContainerID); err != nil {
		return err
	}
	if !n.Subnet.Contains(att.IP) || att.IP == n.Gateway || att.IP == n.Subnet.Addr() || att.IP == broadcast(n.Subnet) {
		return fmt.Errorf("%w: address %s is not a host address of network %s (%s)", ErrInvalid, att.IP, n.Name, n.Subnet)
	}
	if att.HostVeth == "" {
		att.HostVeth = hostVethName(n.Name, att.ContainerID)
	}
	if err := validIfName(att.HostVeth); err != nil {
		return fmt.Errorf("%w: host veth: %v", ErrInvalid, err)
	}
	att.Prefix = netip.PrefixFrom(att.IP, n.Subnet.Bits())
	att.Gateway = n.Gateway
	if att.MAC == "" {
		att.MAC = macFor(att.IP).String()
	}
	if len(att.Ports) > 0 && n.Internal {
		return fmt.Errorf("%w: network %s is internal: it cannot publish ports", ErrInvalid, n.Name)
	}
	return validatePorts(att.Ports)
}

// publish claims the host ports and writes their DNAT rules.
func publish(host *nsHandle, att *Attachment, o Options) error {
	unlock, err := o.lockNetworks(true)
	if err != nil {
		return err
	}
	defer unlock()
	owner := portOwner(att.Network, att.ContainerID)
	if err := o.claimPorts(owner, att.Ports); err != nil {
		return err
	}
	nft, err := openNft(host)
	if err == nil {
		err = nft.addPorts(att)
	}
	if err != nil {
		o.releasePorts(owner)
		if nft != nil {
			nft.removePorts(att.Network, att.ContainerID)
		}
		return err
	}
	return nil
}

// Detach undoes Attach and Allocate: it removes the veth pair if it is still
// there (it vanishes by itself with the container's namespace), the port
// rules, and releases the address. It is idempotent, works on a network
// that is gone, and serves both delete and create's undo.
func Detach(att *Attachment, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	if att == nil {
		return nil
	}
	var errs []error
	func() {
		host, err := openNS(o.HostNS, o.Recorder)
		if err != nil {
			errs = append(errs, err) // still release the address below
			return
		}
		defer host.Close()
		unlock, err := o.lockNetworks(true)
		if err != nil {
			errs = append(errs, err)
			return
		}
		defer unlock()
		if n, err := o.loadNetwork(att.Network); err == nil && n.isCNI() {
			errs = append(errs, o.detachCNI(att, n, host))
			return
		}
		nft, err := openNft(host)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if att.HostVeth == "" {
			att.HostVeth = hostVethName(att.Network, att.ContainerID)
		}
		errs = append(errs, cleanupContainer(host, nft, o, att.Network, att.ContainerID, att.HostVeth))
	}()
	errs = append(errs, release(att.Network, att.ContainerID, o))
	return errors.Join(errs...)
}

// cleanupContainer removes a container's kernel traces on one network: its
// veth pair, its DNAT rules and its port claims. Callers hold the exclusive
// lock.
func cleanupContainer(host *nsHandle, nft *nftConn, o Options, network, id, veth string) error {
	return errors.Join(
		deleteLink(host, veth, "remove the veth pair of "+id),
		nft.removePorts(network, id),
		o.releasePorts(portOwner(network, id)),
	)
}

// release gives id's address on network back to the pool.
func release(network, id string, o Options) error {
	unlock, err := o.lockNetworks(false)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := o.loadNetwork(network)
	if errors.Is(err, ErrNotFound) {
		return nil // removed with force: its allocations went with it
	}
	if err != nil {
		return err
	}
	return o.allocator(n).Release(id)
}

// GC releases the allocations on network whose container no longer exists
// (exists returns false), after removing their veths, port rules and port
// claims: what a runtime that crashed between create and delete leaves.
// exists must say true for a container being created, or GC would take the
// address Allocate just gave it.
func GC(network string, exists func(id string) bool, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	n, err := o.loadNetwork(network)
	if err != nil {
		return err
	}
	// A pod holds its addresses under "pod-NAME", which is no container.
	alive := func(id string) bool { return o.podExists(id) || exists(id) }
	stale, err := o.allocator(n).Stale(alive)
	if err != nil || len(stale) == 0 {
		return err
	}
	var errs []error
	for _, id := range stale {
		o.Recorder.Step("collect the allocation of vanished container "+id, "")
		errs = append(errs, Detach(&Attachment{Network: network, ContainerID: id}, o))
	}
	return errors.Join(errs...)
}
