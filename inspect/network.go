package inspect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/miniruntime/miniruntime/netns"
	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// Network is the container's network as both ends see it.
type Network struct {
	// Namespace is the network namespace's relation to the host's (new,
	// joined, host); Pod names the pod it belongs to.
	Namespace string `json:"namespace"`
	Pod       string `json:"pod,omitempty"`
	// Interfaces and Routes are inside the container.
	Interfaces []Interface `json:"interfaces"`
	Routes     []string    `json:"routes"`
	Source     string      `json:"source"`
	// Attachments are the runtime's networks: the veth pair, the bridge,
	// the published ports and the nftables rules that carry them.
	Attachments []NetAttachment `json:"attachments"`
}

// An Interface is one link with its IPv4 addresses.
type Interface struct {
	Name  string   `json:"name"`
	Index int      `json:"index"`
	Kind  string   `json:"kind"`
	MAC   string   `json:"mac,omitempty"`
	MTU   int      `json:"mtu"`
	State string   `json:"state"`
	Addrs []string `json:"addrs"`
	// PeerIndex is, for a veth, the index of its other end (in another
	// namespace).
	PeerIndex int `json:"peerIndex,omitempty"`
	// Master is the bridge a host-side link is enslaved to.
	Master string `json:"master,omitempty"`
}

// A NetAttachment is one network the container is on.
type NetAttachment struct {
	Network string `json:"network"`
	Driver  string `json:"driver"`
	Bridge  string `json:"bridge"`
	// BridgeAddrs are the bridge's addresses on the host (the gateway).
	BridgeAddrs []string `json:"bridgeAddrs"`
	// HostVeth is the host end of the pair, read from the host's
	// namespace; its PeerIndex is the container end's index.
	HostVeth *Interface `json:"hostVeth,omitempty"`
	// ContainerEnd is the interface inside the container.
	ContainerEnd string   `json:"containerEnd"`
	IP           string   `json:"ip"`
	Gateway      string   `json:"gateway"`
	MAC          string   `json:"mac"`
	Ports        []string `json:"ports"`
	// PairOK: the host end's peer is the container end and the other way
	// round (IFLA_LINK of each names the other).
	PairOK bool `json:"pairOK"`
	// Rules are the nftables rules of the published ports and of the
	// network, with their counters.
	Rules       []NftRule `json:"rules"`
	HostSource  string    `json:"hostSource"`
	StateSource string    `json:"stateSource"` // where the runtime keeps the attachment
	RulesSource string    `json:"rulesSource"`
}

// An NftRule is one rule of the runtime's table.
type NftRule struct {
	Chain   string `json:"chain"`
	Handle  uint64 `json:"handle"`
	Text    string `json:"text"`
	Comment string `json:"comment"`
}

// The runtime's table and the chains that hold a network's rules
// (netns/nft.go).
const nftTableName = "miniruntime"

var nftNetChains = []string{"ports", "postrouting", "from-bridge", "to-bridge", "input"}

// ctrTag is the comment on a container's port rules (netns.ctrTag).
func ctrTag(network, id string) string {
	t := "ctr " + network + "/" + id
	if len(t) <= 100 {
		return t
	}
	sum := sha256.Sum256([]byte(id))
	return "ctr " + network + "/sha256:" + hex.EncodeToString(sum[:16])
}

func (p *prober) network() {
	var rel Namespace
	for _, n := range p.a.Namespaces {
		if n.Type == "network" {
			rel = n
		}
	}
	nw := &Network{Namespace: rel.Relation, Pod: rel.Pod, Routes: []string{}, Attachments: []NetAttachment{}}
	p.a.Network = nw
	if rel.Relation == "host" || rel.Relation == "" {
		return // the host's own links are not the container's to explain
	}
	nsPath := p.proc + "/ns/net"
	nw.Source = "nsenter --net=" + nsPath + " ip -d addr; ip route (netlink)"
	handle, err := vnetns.GetFromPath(nsPath)
	if err != nil {
		p.problem("%s: %v", nsPath, err)
		return
	}
	defer handle.Close()
	ctr, err := netlink.NewHandleAt(handle)
	if err != nil {
		p.problem("netlink in %s: %v", nsPath, err)
		return
	}
	defer ctr.Close()
	var byIndex map[int]Interface
	nw.Interfaces, byIndex = links(ctr)
	if rs, err := ctr.RouteList(nil, netlink.FAMILY_V4); err == nil {
		for _, r := range rs {
			nw.Routes = append(nw.Routes, routeText(r, byIndex))
		}
	}

	atts := p.t.Networks
	id, kept := p.t.ID, "state.json networks"
	if nw.Pod != "" {
		if pod, err := p.pod(nw.Pod); err == nil {
			atts, id, kept = pod.Attachments, netns.PodIDPrefix+nw.Pod, "the pod's attachments (pod inspect "+nw.Pod+")"
		} else {
			p.problem("pod %s: %v", nw.Pod, err)
		}
	}
	if len(atts) == 0 {
		return
	}
	goruntime.LockOSThread() // the host's namespace is this thread's
	hostNS, err := vnetns.Get()
	goruntime.UnlockOSThread()
	if err != nil {
		p.problem("host network namespace: %v", err)
		return
	}
	defer hostNS.Close()
	host, err := netlink.NewHandleAt(hostNS)
	if err != nil {
		p.problem("netlink in the host namespace: %v", err)
		return
	}
	defer host.Close()
	rules := p.nftRules(hostNS)
	for _, att := range atts {
		na := p.attachment(att, id, host, byIndex, rules)
		na.StateSource = kept
		nw.Attachments = append(nw.Attachments, na)
	}
}

// pod reads the pod's record (<root>/pods/<name>/pod.json, as netns keeps
// it). Not netns.GetPod: that also finds the pod's users by looking at the
// namespaces of every process on the host, milliseconds per hundred
// processes, which explain does not need.
func (p *prober) pod(name string) (*netns.Pod, error) {
	b, err := os.ReadFile(filepath.Join(p.t.Root(), "pods", name, "pod.json"))
	if err != nil {
		return nil, err
	}
	var pod netns.Pod
	if err := json.Unmarshal(b, &pod); err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	return &pod, nil
}

// links lists the links of a namespace with their addresses.
func links(h *netlink.Handle) ([]Interface, map[int]Interface) {
	ls, err := h.LinkList()
	if err != nil {
		return nil, nil
	}
	names := map[int]string{}
	for _, l := range ls {
		names[l.Attrs().Index] = l.Attrs().Name
	}
	var out []Interface
	by := map[int]Interface{}
	for _, l := range ls {
		in := ifaceOf(h, l)
		if m := l.Attrs().MasterIndex; m != 0 {
			in.Master = names[m]
		}
		out = append(out, in)
		by[in.Index] = in
	}
	return out, by
}

func ifaceOf(h *netlink.Handle, l netlink.Link) Interface {
	a := l.Attrs()
	in := Interface{Name: a.Name, Index: a.Index, Kind: l.Type(), MTU: a.MTU, State: a.OperState.String(), Addrs: []string{}}
	if len(a.HardwareAddr) > 0 {
		in.MAC = a.HardwareAddr.String()
	}
	if l.Type() == "veth" {
		in.PeerIndex = a.ParentIndex
	}
	if addrs, err := h.AddrList(l, netlink.FAMILY_V4); err == nil {
		for _, ad := range addrs {
			in.Addrs = append(in.Addrs, ad.IPNet.String())
		}
	}
	return in
}

// routeText is a route as `ip route` prints it.
func routeText(r netlink.Route, by map[int]Interface) string {
	var b strings.Builder
	if r.Dst == nil || (r.Dst.IP.IsUnspecified() && r.Dst.Mask != nil && isZeroMask(r.Dst.Mask)) {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gw != nil {
		b.WriteString(" via " + r.Gw.String())
	}
	if in, ok := by[r.LinkIndex]; ok {
		b.WriteString(" dev " + in.Name)
	}
	if r.Src != nil {
		b.WriteString(" src " + r.Src.String())
	}
	return b.String()
}

func isZeroMask(m []byte) bool {
	for _, b := range m {
		if b != 0 {
			return false
		}
	}
	return true
}

type ruleSet map[string][]NftRule // by comment

// nftRules reads the runtime's table in the host namespace, keyed by the
// comments that tie rules to a network or a container.
func (p *prober) nftRules(hostNS vnetns.NsHandle) ruleSet {
	c, err := nftables.New(nftables.WithNetNSFd(int(hostNS)))
	if err != nil {
		p.problem("nftables: %v", err)
		return nil
	}
	defer c.CloseLasting()
	table := &nftables.Table{Name: nftTableName, Family: nftables.TableFamilyIPv4}
	out := ruleSet{}
	for _, chain := range nftNetChains {
		rs, err := c.GetRules(table, &nftables.Chain{Name: chain, Table: table})
		if err != nil {
			if !strings.Contains(err.Error(), "no such file") {
				p.problem("nft list chain ip %s %s: %v", nftTableName, chain, err)
			}
			return out
		}
		for _, r := range rs {
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			out[comment] = append(out[comment], NftRule{Chain: chain, Handle: r.Handle, Text: renderRule(r.Exprs), Comment: comment})
		}
	}
	return out
}

func (p *prober) attachment(att *netns.Attachment, id string, host *netlink.Handle, inside map[int]Interface, rules ruleSet) NetAttachment {
	na := NetAttachment{
		Network: att.Network, ContainerEnd: att.Interface, IP: att.IP.String(), Gateway: att.Gateway.String(), MAC: att.MAC,
		Ports: []string{}, BridgeAddrs: []string{}, Rules: []NftRule{},
		RulesSource: "nft -a list table ip " + nftTableName + " (rules commented \"" + ctrTag(att.Network, id) + "\" and \"net " + att.Network + "\")",
	}
	for _, m := range att.Ports {
		na.Ports = append(na.Ports, m.String())
	}
	n, err := netns.GetNetwork(att.Network, netns.Options{Root: p.t.Root()})
	if err != nil {
		p.problem("network %s: %v", att.Network, err)
	} else {
		na.Bridge, na.Driver = n.Bridge, n.Driver
		if na.Driver == "" {
			na.Driver = "bridge"
		}
	}
	na.HostSource = fmt.Sprintf("ip -d link show %s; ip addr show %s (netlink)", att.HostVeth, na.Bridge)
	if l, err := host.LinkByName(att.HostVeth); err == nil {
		in := ifaceOf(host, l)
		if m := l.Attrs().MasterIndex; m != 0 {
			if br, err := host.LinkByIndex(m); err == nil {
				in.Master = br.Attrs().Name
			}
		}
		na.HostVeth = &in
		for _, c := range inside {
			if c.Name == att.Interface && c.PeerIndex == in.Index && in.PeerIndex == c.Index {
				na.PairOK = true
			}
		}
	} else {
		p.problem("host end %s of the veth pair: %v", att.HostVeth, err)
	}
	if na.Bridge != "" {
		if br, err := host.LinkByName(na.Bridge); err == nil {
			na.BridgeAddrs = ifaceOf(host, br).Addrs
		}
	}
	for _, tag := range []string{ctrTag(att.Network, id), "net " + att.Network} {
		na.Rules = append(na.Rules, rules[tag]...)
	}
	slices.SortStableFunc(na.Rules, func(a, b NftRule) int { return chainOrder(a.Chain) - chainOrder(b.Chain) })
	return na
}

func chainOrder(c string) int { return slices.Index(nftNetChains, c) }
