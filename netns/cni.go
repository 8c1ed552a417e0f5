package netns

// The cni driver: a network whose containers are plugged in by the real
// CNI plugins (Debian's containernetworking-plugins in /usr/lib/cni), run
// as containerd's CRI plugin and podman run them (the protocol is in
// cniproto.go). The network is a conflist of three plugins:
//
//	bridge     creates the bridge (cni-NAME) on first use, the veth pair, the
//	           container's address and routes, and masquerade (iptables)
//	host-local the IPAM plugin bridge delegates to: allocations are files in
//	           <root>/networks/NAME/cni/ipam/NAME/, not /var/lib/cni
//	portmap    published ports (iptables DNAT), from runtimeConfig
//
// What stays miniruntime's: the address is picked by the same Allocator as
// the built-in driver at create (so /etc/hosts can name it before the
// container exists) and requested from host-local through the "ips"
// capability; the host ports are claimed in the same registry; and the
// container's network namespace is pinned (bind-mounted under
// <root>/networks/NAME/cni/netns/ID) for as long as it is attached, as CRI
// runtimes do, so that DEL can enter it and remove the interface and the
// masquerade rule even after the container's processes are gone.
//
// Nothing is set up at package init: a process that never touches a cni
// network pays nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// Network drivers.
const (
	// DriverBridge is the built-in driver: netlink and nftables from this
	// process (the default, also written "").
	DriverBridge = "bridge"
	// DriverCNI delegates to the CNI plugins bridge, host-local and portmap.
	DriverCNI = "cni"
)

// DefaultCNIPath is where the plugins are looked for when neither
// Options.CNIPath nor $CNI_PATH says otherwise: Debian's package, then the
// upstream tarball's place.
var DefaultCNIPath = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniTimeout bounds one ADD or DEL of the whole plugin list.
const cniTimeout = 30 * time.Second

func (n *Network) isCNI() bool { return n.Driver == DriverCNI }

// cniBridgeName is "cni-" + name, shortened like defaultBridgeName, so it
// never collides with a built-in network's "mr-" bridges.
func cniBridgeName(name string) string {
	if b := "cni-" + name; len(b) <= 15 {
		return b
	}
	return "cni-" + defaultBridgeName(name)[3:][:11]
}

func (o Options) cniDir(network string) string { return filepath.Join(o.networkDir(network), "cni") }
func (o Options) conflistPath(net string) string {
	return filepath.Join(o.cniDir(net), "conflist.json")
}
func (o Options) cniPin(network, id string) string {
	return filepath.Join(o.cniDir(network), "netns", id)
}

func (o Options) cniPath() []string {
	if len(o.CNIPath) > 0 {
		return o.CNIPath
	}
	if p := os.Getenv("CNI_PATH"); p != "" {
		return filepath.SplitList(p)
	}
	return DefaultCNIPath
}

// conflist renders the network's plugin list (CNI spec 1.0.0).
func (o Options) conflist(n *Network) ([]byte, error) {
	type rng struct {
		Subnet  string `json:"subnet"`
		Gateway string `json:"gateway"`
	}
	bridge := map[string]any{
		"type":         "bridge",
		"bridge":       n.Bridge,
		"isGateway":    true,
		"ipMasq":       !n.NoMasquerade,
		"hairpinMode":  true,
		"mtu":          n.MTU,
		"capabilities": map[string]bool{"ips": true},
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]rng{{{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": filepath.Join(o.cniDir(n.Name), "ipam"),
		},
	}
	portmap := map[string]any{
		"type":         "portmap",
		"snat":         true,
		"capabilities": map[string]bool{"portMappings": true},
	}
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.Name,
		"plugins":    []any{bridge, portmap},
	}, "", "  ")
}

// createCNI saves a cni network: its conflist and network.json. No kernel
// object exists until the first container is attached (the bridge plugin
// creates the bridge then).
func (o Options) createCNI(n *Network, host *nsHandle) error {
	if n.Internal {
		return fmt.Errorf("%w: network %s: the cni driver has no internal networks", ErrInvalid, n.Name)
	}
	b, err := o.conflist(n)
	if err != nil {
		return err
	}
	if _, err := parseCNIList(b); err != nil {
		return fmt.Errorf("network %s: conflist: %w", n.Name, err)
	}
	if err := os.MkdirAll(o.cniDir(n.Name), 0o700); err != nil {
		return err
	}
	host.step("write the CNI conflist (bridge, host-local, portmap) of network "+n.Name, nil)
	if err := atomicfile.WriteFile(o.conflistPath(n.Name), append(b, '\n'), 0o600); err != nil {
		return err
	}
	host.step("save network "+n.Name, nil)
	return o.saveNetwork(n)
}

// openCNI reads the network's conflist. The plugins' results are kept
// under the network's dir, not in /var/lib/cni, like everything else of it.
func (o Options) openCNI(n *Network, host *nsHandle) (*cni, error) {
	b, err := os.ReadFile(o.conflistPath(n.Name))
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	list, err := parseCNIList(b)
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	return &cni{list: list, path: o.cniPath(), cacheDir: filepath.Join(o.cniDir(n.Name), "cache"), host: host}, nil
}

// cniPortMappings is portmap's runtimeConfig.portMappings.
func cniPortMappings(ports []PortMapping) []map[string]any {
	var out []map[string]any
	for _, p := range ports {
		m := map[string]any{"hostPort": int(p.HostPort), "containerPort": int(p.ContainerPort), "protocol": p.proto()}
		if !p.allAddrs() {
			m["hostIP"] = p.HostIP.String()
		}
		out = append(out, m)
	}
	return out
}

// cniAttachmentOf gives att's parameters: the address for host-local's
// "ips" capability and the ports for portmap's "portMappings".
func cniAttachmentOf(att *Attachment, netnsPath string) *cniAttachment {
	caps := map[string]any{}
	if att.IP.IsValid() {
		caps["ips"] = []string{att.Prefix.String()}
	}
	if len(att.Ports) > 0 {
		caps["portMappings"] = cniPortMappings(att.Ports)
	}
	return &cniAttachment{ContainerID: att.ContainerID, NetNS: netnsPath, IfName: att.Interface, Caps: caps}
}

// attachCNI runs ADD for att: pin the container's namespace, claim the host
// ports, then bridge (with host-local) and portmap. The result's address,
// gateway, interfaces and MAC go into att.
//
//	mount --bind /proc/<pid>/ns/net <root>/networks/NAME/cni/netns/ID
//	echo '{...bridge config, runtimeConfig.ips...}' | env CNI_COMMAND=ADD CNI_CONTAINERID=ID CNI_NETNS=<pin> CNI_IFNAME=eth0 CNI_ARGS= CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge
//	echo '{...portmap config, prevResult...}' | env CNI_COMMAND=ADD ... /usr/lib/cni/portmap
func (o Options) attachCNI(att *Attachment, n *Network, host, ctr *nsHandle) (err error) {
	unlock, err := o.lockNetworks(true)
	if err != nil {
		return err
	}
	defer unlock()
	pin := o.cniPin(n.Name, att.ContainerID)
	if err := pinNetNS(ctr.path, pin, o.Recorder); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			unpinNetNS(pin, o.Recorder)
		}
	}()
	owner := portOwner(att.Network, att.ContainerID)
	if err := o.claimPorts(owner, att.Ports); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			o.releasePorts(owner)
		}
	}()
	c, err := o.openCNI(n, host)
	if err != nil {
		return err
	}
	a := cniAttachmentOf(att, pin)
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout)
	defer cancel()
	res, err := c.add(ctx, a)
	if err != nil {
		c.undo(a) // the spec asks for a DEL after a failed ADD too
		return fmt.Errorf("network %s: CNI ADD: %w", n.Name, err)
	}
	if err := fillFromResult(att, res, n); err != nil {
		c.undo(a)
		return err
	}
	return nil
}

// undo runs DEL after a failed attach, with a timeout of its own: the ADD
// may have failed by using up the one it had. The ADD's error is the one
// worth reporting, so this one is dropped.
func (c *cni) undo(a *cniAttachment) {
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout)
	defer cancel()
	c.del(ctx, a)
}

// fillFromResult copies the CNI result into the attachment: the address the
// plugins configured (which must be the one asked for), its gateway, the
// host end of the veth and the container end's MAC.
func fillFromResult(att *Attachment, r *cniResult, n *Network) error {
	if len(r.IPs) == 0 {
		return fmt.Errorf("network %s: the CNI result has no address", n.Name)
	}
	ipc := r.IPs[0]
	addr, err := netip.ParsePrefix(ipc.Address)
	if err != nil {
		return fmt.Errorf("network %s: CNI result: %w", n.Name, err)
	}
	ip := addr.Addr().Unmap()
	if att.IP.IsValid() && ip != att.IP {
		return fmt.Errorf("network %s: asked host-local for %s, got %s", n.Name, att.IP, ip)
	}
	att.IP, att.Prefix = ip, netip.PrefixFrom(ip, addr.Bits())
	if gw, err := netip.ParseAddr(ipc.Gateway); err == nil {
		att.Gateway = gw.Unmap()
	}
	for _, i := range r.Interfaces {
		switch {
		case i.Sandbox != "" && i.Name == att.Interface:
			att.MAC = i.Mac
		case i.Sandbox == "" && i.Name != n.Bridge:
			att.HostVeth = i.Name
		}
	}
	return nil
}

// detachCNI runs DEL (portmap, then bridge and host-local) with the pinned
// namespace when it is still there, so the bridge plugin removes the
// interface and its masquerade rule, then unpins it and releases the port
// claims. DEL of something already gone succeeds (the CNI spec asks it of
// plugins), so this is idempotent.
func (o Options) detachCNI(att *Attachment, n *Network, host *nsHandle) error {
	pin := o.cniPin(n.Name, att.ContainerID)
	netnsPath := ""
	if isNsfs(pin) {
		netnsPath = pin
	}
	c, err := o.openCNI(n, host)
	if err != nil {
		return errors.Join(err, unpinNetNS(pin, o.Recorder), o.releasePorts(portOwner(n.Name, att.ContainerID)))
	}
	var errs []error
	ifnames := []string{att.Interface}
	if att.Interface == "" { // GC: the runtime's state is gone, the kept results know
		ifnames, err = c.keptIfNames(att.ContainerID)
		errs = append(errs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout)
	defer cancel()
	for _, ifname := range ifnames {
		a := cniAttachmentOf(att, netnsPath)
		a.IfName = ifname
		if err := c.del(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("network %s: CNI DEL %s: %w", n.Name, att.ContainerID, err))
		}
	}
	errs = append(errs, unpinNetNS(pin, o.Recorder), o.releasePorts(portOwner(n.Name, att.ContainerID)))
	return errors.Join(errs...)
}

// removeCNI removes what the plugins leave once every container is gone:
// the bridge (the bridge plugin never deletes it) and the network's files.
// The portmap plugin's top-level iptables chains (CNI-HOSTPORT-*) stay, as
// they do with every CNI runtime.
func (o Options) removeCNI(n *Network, host *nsHandle) error {
	if err := deleteLink(host, n.Bridge, "remove the bridge the CNI bridge plugin made for "+n.Name); err != nil {
		return err
	}
	host.step("forget network "+n.Name, nil)
	return os.RemoveAll(o.networkDir(n.Name))
}

// pinNetNS bind-mounts a network namespace onto pin (created empty first).
//
//	touch <pin>; mount --bind /proc/<pid>/ns/net <pin>
func pinNetNS(nsPath, pin string, rec *trace.Recorder) error {
	if err := os.MkdirAll(filepath.Dir(pin), 0o700); err != nil {
		return err
	}
	if isNsfs(pin) {
		return fmt.Errorf("%w: %s is already pinned", ErrExists, pin)
	}
	f, err := os.OpenFile(pin, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	rec.Step("pin the container's network namespace for CNI", trace.Quote("mount", "--bind", nsPath, pin))
	if err := unix.Mount(nsPath, pin, "", unix.MS_BIND, ""); err != nil {
		os.Remove(pin)
		return fmt.Errorf("pin %s on %s: %w", nsPath, pin, err)
	}
	return nil
}

// unpinNetNS unmounts and removes a pin; a missing one is not an error.
//
//	umount <pin>; rm <pin>
func unpinNetNS(pin string, rec *trace.Recorder) error {
	if isNsfs(pin) {
		rec.Step("unpin the container's network namespace", trace.Quote("umount", pin))
		if err := unix.Unmount(pin, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", pin, err)
		}
	}
	if err := os.Remove(pin); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
