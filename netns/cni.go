package netns

// The cni driver: a network whose containers are plugged in by the real
// CNI plugins (Debian's containernetworking-plugins in /usr/lib/cni) through
// libcni, the library containerd's CRI plugin and podman use. The network
// is a conflist of three plugins:
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
// libcni is only used inside these functions: nothing is set up at package
// init, and a process that never touches a cni network pays nothing.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
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
	if _, err := libcni.ConfListFromBytes(b); err != nil {
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

// cni is one network's libcni handle: the conflist, the plugin search path,
// a cache under the network's dir (not /var/lib/cni/results), and an Exec
// that runs the plugins in the host namespace and traces them.
type cni struct {
	conf *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

func (o Options) openCNI(n *Network, host *nsHandle) (*cni, error) {
	list, err := libcni.ConfListFromFile(o.conflistPath(n.Name))
	if err != nil {
		return nil, fmt.Errorf("network %s: %w", n.Name, err)
	}
	ex := &cniExec{raw: &invoke.RawExec{Stderr: os.Stderr}, host: host}
	conf := libcni.NewCNIConfigWithCacheDir(o.cniPath(), filepath.Join(o.cniDir(n.Name), "cache"), ex)
	return &cni{conf: conf, list: list}, nil
}

// cniExec runs a plugin. When Options.HostNS names a namespace, the plugin
// is started from a thread inside it, so that it inherits it as its own
// "host" namespace (fork copies the calling thread's namespaces). With
// tracing on, each run is printed as the shell command that repeats it.
type cniExec struct {
	raw  *invoke.RawExec
	host *nsHandle
	version.PluginDecoder
}

func (e *cniExec) ExecPlugin(ctx context.Context, pluginPath string, stdin []byte, environ []string) ([]byte, error) {
	if e.host.rec.Enabled() {
		words := []string{"env"}
		var cmd string
		for _, kv := range environ {
			if strings.HasPrefix(kv, "CNI_") {
				words = append(words, kv)
				if c, ok := strings.CutPrefix(kv, "CNI_COMMAND="); ok {
					cmd = c
				}
			}
		}
		words = append(words, pluginPath)
		e.host.step("CNI "+cmd+": "+filepath.Base(pluginPath)+" plugin", func() string {
			return "echo " + trace.Quote(compactJSON(stdin)) + " | " + trace.Quote(words...)
		})
	}
	if e.host.path == "" {
		return e.raw.ExecPlugin(ctx, pluginPath, stdin, environ)
	}
	var out []byte
	err := e.host.do(func() (err error) {
		out, err = e.raw.ExecPlugin(ctx, pluginPath, stdin, environ)
		return err
	})
	return out, err
}

func (e *cniExec) FindInPath(plugin string, paths []string) (string, error) {
	return e.raw.FindInPath(plugin, paths)
}

func compactJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	c, err := json.Marshal(v)
	if err != nil {
		return string(b)
	}
	return string(c)
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

func (c *cni) runtimeConf(att *Attachment, netnsPath string) *libcni.RuntimeConf {
	caps := map[string]any{}
	if att.IP.IsValid() {
		caps["ips"] = []string{att.Prefix.String()}
	}
	if len(att.Ports) > 0 {
		caps["portMappings"] = cniPortMappings(att.Ports)
	}
	return &libcni.RuntimeConf{ContainerID: att.ContainerID, NetNS: netnsPath, IfName: att.Interface, CapabilityArgs: caps}
}

// attachCNI runs ADD for att: pin the container's namespace, claim the host
// ports, then bridge (with host-local) and portmap. The result's address,
// gateway, interfaces and MAC go into att.
//
//	mount --bind /proc/<pid>/ns/net <root>/networks/NAME/cni/netns/ID
//	echo '{...bridge config, runtimeConfig.ips...}' | env CNI_COMMAND=ADD CNI_CONTAINERID=ID CNI_NETNS=<pin> CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni /usr/lib/cni/bridge
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
	rt := c.runtimeConf(att, pin)
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout)
	defer cancel()
	res, err := c.conf.AddNetworkList(ctx, c.list, rt)
	if err != nil {
		c.conf.DelNetworkList(ctx, c.list, rt) // CNI: DEL after a failed ADD cleans up
		return fmt.Errorf("network %s: CNI ADD: %w", n.Name, err)
	}
	defer func() {
		if err != nil {
			c.conf.DelNetworkList(ctx, c.list, rt)
		}
	}()
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("network %s: CNI result: %w", n.Name, err)
	}
	return fillFromResult(att, r, n)
}

// fillFromResult copies the CNI result into the attachment: the address the
// plugins configured (which must be the one asked for), its gateway, the
// host end of the veth and the container end's MAC.
func fillFromResult(att *Attachment, r *types100.Result, n *Network) error {
	if len(r.IPs) == 0 {
		return fmt.Errorf("network %s: the CNI result has no address", n.Name)
	}
	ipc := r.IPs[0]
	ip, ok := netip.AddrFromSlice(ipc.Address.IP)
	if !ok {
		return fmt.Errorf("network %s: CNI address %v", n.Name, ipc.Address)
	}
	ip = ip.Unmap()
	if att.IP.IsValid() && ip != att.IP {
		return fmt.Errorf("network %s: asked host-local for %s, got %s", n.Name, att.IP, ip)
	}
	ones, _ := ipc.Address.Mask.Size()
	att.IP, att.Prefix = ip, netip.PrefixFrom(ip, ones)
	if gw, ok := netip.AddrFromSlice(ipc.Gateway); ok {
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
	if att.Interface == "" { // GC: the runtime's state is gone, the cache knows
		ifnames = nil
		cached, err := c.conf.GetCachedAttachments(att.ContainerID)
		errs = append(errs, err)
		for _, a := range cached {
			if a.Network == n.Name {
				ifnames = append(ifnames, a.IfName)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cniTimeout)
	defer cancel()
	for _, ifname := range ifnames {
		a := *att
		a.Interface = ifname
		if err := c.conf.DelNetworkList(ctx, c.list, c.runtimeConf(&a, netnsPath)); err != nil {
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
