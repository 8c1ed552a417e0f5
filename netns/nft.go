package netns

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// The table this package owns in the host namespace, in full (what
// `nft list table ip miniruntime` shows with networks "default" and an
// internal "back", and one published port):
//
//	table ip miniruntime {
//	  set bridges { type ifname; elements = { "mr0", "mr-back" } }
//	  chain prerouting { type nat hook prerouting priority dstnat; policy accept;
//	    fib daddr type local jump ports }
//	  chain output { type nat hook output priority -100; policy accept;
//	    ip daddr != 127.0.0.0/8 fib daddr type local jump ports }
//	  chain ports {
//	    tcp dport 8080 counter dnat to 10.88.0.2:80 comment "ctr default/web" }
//	  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//	    ip saddr 10.88.0.0/24 oifname != "mr0" masquerade comment "net default"
//	    ip saddr 10.88.0.0/24 ip daddr 10.88.0.0/24 ct status dnat masquerade comment "net default" }
//	  chain forward { type filter hook forward priority filter; policy accept;
//	    iifname @bridges jump from-bridge
//	    iifname @bridges oifname @bridges counter drop
//	    oifname @bridges jump to-bridge }
//	  chain from-bridge {
//	    iifname "mr0" oifname "mr0" accept comment "net default"
//	    iifname "mr0" ct status dnat accept comment "net default"
//	    iifname "mr-back" oifname "mr-back" accept comment "net back"
//	    iifname "mr-back" counter drop comment "net back" }
//	  chain to-bridge {
//	    oifname "mr-back" counter drop comment "net back" }
//	  chain input { type filter hook input priority filter; policy accept;
//	    iifname "mr-back" ip daddr != 10.89.0.0/24 counter drop comment "net back" }
//	}
//
// Base chains hold static plumbing; rules that belong to a network carry the
// comment "net <name>", rules of a container's published ports
// "ctr <network>/<id>", and are found by it to be removed. Every rule of one
// owner matches only that owner's bridge, subnet or ports, so their order
// relative to other owners' rules never matters. All chains accept by
// default: this table only ever drops what it must, and another table's drop
// (a host firewall) still applies.
const tableName = "miniruntime"

var nftTable = &nftables.Table{Name: tableName, Family: nftables.TableFamilyIPv4}

const (
	chainPrerouting  = "prerouting"
	chainOutput      = "output"
	chainPorts       = "ports"
	chainPostrouting = "postrouting"
	chainForward     = "forward"
	chainFromBridge  = "from-bridge"
	chainToBridge    = "to-bridge"
	chainInput       = "input"
	setBridges       = "bridges"
)

type chainDef struct {
	name  string
	typ   nftables.ChainType
	hook  *nftables.ChainHook
	prio  *nftables.ChainPriority
	shell string // the { type ... } part of `nft add chain`
}

var chainDefs = []chainDef{
	{chainPorts, "", nil, nil, ""},
	{chainFromBridge, "", nil, nil, ""},
	{chainToBridge, "", nil, nil, ""},
	{chainPrerouting, nftables.ChainTypeNAT, nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, "{ type nat hook prerouting priority dstnat; policy accept; }"},
	{chainOutput, nftables.ChainTypeNAT, nftables.ChainHookOutput, nftables.ChainPriorityNATDest, "{ type nat hook output priority -100; policy accept; }"},
	{chainPostrouting, nftables.ChainTypeNAT, nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, "{ type nat hook postrouting priority srcnat; policy accept; }"},
	{chainForward, nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter, "{ type filter hook forward priority filter; policy accept; }"},
	{chainInput, nftables.ChainTypeFilter, nftables.ChainHookInput, nftables.ChainPriorityFilter, "{ type filter hook input priority filter; policy accept; }"},
}

func chainRef(name string) *nftables.Chain { return &nftables.Chain{Name: name, Table: nftTable} }

func bridgesSet() *nftables.Set {
	// interface names are host-order strings; the byte order only tells
	// nft(8) how to print the elements
	return &nftables.Set{Table: nftTable, Name: setBridges, KeyType: nftables.TypeIFName, KeyByteOrder: binaryutil.NativeEndian}
}

// nftStmt renders an nft statement as one shell word: nft 'add rule ...'.
func nftStmt(stmt string) string { return trace.Quote("nft", stmt) }

// A rule is built once as nftables expressions and, when tracing, as the
// nft(8) syntax that produces the same expressions.
type rule struct {
	chain   string
	exprs   []expr.Any
	words   []string
	text    bool
	comment string
}

func newRule(chain string, text bool) *rule { return &rule{chain: chain, text: text} }

func (r *rule) say(words ...string) {
	if r.text {
		r.words = append(r.words, words...)
	}
}

func (r *rule) add(e ...expr.Any) { r.exprs = append(r.exprs, e...) }

func cmpOp(neq bool) (expr.CmpOp, string) {
	if neq {
		return expr.CmpOpNeq, "!= "
	}
	return expr.CmpOpEq, ""
}

// ifname pads an interface name to IFNAMSIZ, as the kernel compares it.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

func (r *rule) ifMatch(key expr.MetaKey, word, name string, neq bool) *rule {
	op, not := cmpOp(neq)
	r.add(&expr.Meta{Key: key, Register: 1}, &expr.Cmp{Op: op, Register: 1, Data: ifname(name)})
	r.say(word, not+strconv.Quote(name))
	return r
}

// iifname "mr0" / iifname != "mr0"
func (r *rule) iifname(name string, neq bool) *rule {
	return r.ifMatch(expr.MetaKeyIIFNAME, "iifname", name, neq)
}

// oifname "mr0" / oifname != "mr0"
func (r *rule) oifname(name string, neq bool) *rule {
	return r.ifMatch(expr.MetaKeyOIFNAME, "oifname", name, neq)
}

// iifname @bridges / oifname @bridges
func (r *rule) ifInSet(key expr.MetaKey, word string, set *nftables.Set) *rule {
	r.add(&expr.Meta{Key: key, Register: 1}, &expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID})
	r.say(word, "@"+set.Name)
	return r
}

// ip saddr 10.88.0.0/24 (offset 12) / ip daddr (offset 16), or != .
func (r *rule) ipMatch(word string, offset uint32, p netip.Prefix, neq bool) *rule {
	op, not := cmpOp(neq)
	r.add(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4})
	if p.Bits() < 32 {
		mask := binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-p.Bits()))
		r.add(&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	a := p.Masked().Addr().As4()
	r.add(&expr.Cmp{Op: op, Register: 1, Data: a[:]})
	if p.Bits() == 32 {
		r.say(word, not+p.Addr().String())
	} else {
		r.say(word, not+p.Masked().String())
	}
	return r
}

func (r *rule) saddr(p netip.Prefix, neq bool) *rule { return r.ipMatch("ip saddr", 12, p, neq) }
func (r *rule) daddr(p netip.Prefix, neq bool) *rule { return r.ipMatch("ip daddr", 16, p, neq) }

// tcp dport 8080 (meta l4proto tcp, then the transport header's bytes 2-3).
func (r *rule) dport(proto string, port uint16) *rule {
	num := byte(unix.IPPROTO_TCP)
	if proto == "udp" {
		num = unix.IPPROTO_UDP
	}
	r.add(
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{num}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(port)},
	)
	r.say(proto, "dport", strconv.Itoa(int(port)))
	return r
}

// fib daddr type local: the destination is one of this host's addresses.
func (r *rule) daddrLocal() *rule {
	r.add(
		&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
	)
	r.say("fib daddr type local")
	return r
}

// ct status dnat: the connection's destination was rewritten (a published port).
func (r *rule) ctDNAT() *rule {
	const ipsDstNAT = 1 << 5 // IPS_DST_NAT in linux/netfilter/nf_conntrack_common.h
	r.add(
		&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	)
	r.say("ct status dnat")
	return r
}

func (r *rule) counter() *rule {
	r.add(&expr.Counter{})
	r.say("counter")
	return r
}

func (r *rule) verdict(kind expr.VerdictKind, word string) *rule {
	r.add(&expr.Verdict{Kind: kind})
	r.say(word)
	return r
}

func (r *rule) accept() *rule { return r.verdict(expr.VerdictAccept, "accept") }
func (r *rule) drop() *rule   { return r.counter().verdict(expr.VerdictDrop, "drop") }

func (r *rule) jump(chain string) *rule {
	r.add(&expr.Verdict{Kind: expr.VerdictJump, Chain: chain})
	r.say("jump", chain)
	return r
}

func (r *rule) masquerade() *rule {
	r.add(&expr.Masq{})
	r.say("masquerade")
	return r
}

// dnat to 10.88.0.2:80
func (r *rule) dnat(ip netip.Addr, port uint16) *rule {
	a := ip.As4()
	r.add(
		&expr.Immediate{Register: 1, Data: a[:]},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(port)},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	)
	r.say("dnat to", ip.String()+":"+strconv.Itoa(int(port)))
	return r
}

func (r *rule) tag(comment string) *rule {
	r.comment = comment
	r.say("comment", strconv.Quote(comment))
	return r
}

// String is the rule in nft syntax (empty unless built with text on).
func (r *rule) String() string { return strings.Join(r.words, " ") }

func (r *rule) nftRule() *nftables.Rule {
	nr := &nftables.Rule{Table: nftTable, Chain: chainRef(r.chain), Exprs: r.exprs}
	if r.comment != "" {
		nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.comment)
	}
	return nr
}

// staticRules are the jumps of the base chains, created with the table.
func staticRules(set *nftables.Set, text bool) []*rule {
	return []*rule{
		newRule(chainPrerouting, text).daddrLocal().jump(chainPorts),
		newRule(chainOutput, text).daddr(netip.MustParsePrefix("127.0.0.0/8"), true).daddrLocal().jump(chainPorts),
		newRule(chainForward, text).ifInSet(expr.MetaKeyIIFNAME, "iifname", set).jump(chainFromBridge),
		newRule(chainForward, text).ifInSet(expr.MetaKeyIIFNAME, "iifname", set).ifInSet(expr.MetaKeyOIFNAME, "oifname", set).drop(),
		newRule(chainForward, text).ifInSet(expr.MetaKeyOIFNAME, "oifname", set).jump(chainToBridge),
	}
}

func netTag(name string) string { return "net " + name }

// netRules are the rules of one network, in order.
func netRules(n *Network, text bool) []*rule {
	tag := netTag(n.Name)
	var rs []*rule
	if n.masquerades() {
		// outbound: leave with the host's address
		rs = append(rs, newRule(chainPostrouting, text).saddr(n.Subnet, false).oifname(n.Bridge, true).masquerade().tag(tag))
	}
	if !n.Internal {
		// hairpin: a container reaching a published port of its own
		// network through a host address must see the answer come back
		// from the host, so the host takes the place of the sender.
		rs = append(rs, newRule(chainPostrouting, text).saddr(n.Subnet, false).daddr(n.Subnet, false).ctDNAT().masquerade().tag(tag))
	}
	// on the bridge itself everything goes (seen here when br_netfilter
	// passes bridged frames through the ip hooks)
	rs = append(rs, newRule(chainFromBridge, text).iifname(n.Bridge, false).oifname(n.Bridge, false).accept().tag(tag))
	if n.Internal {
		rs = append(rs,
			newRule(chainFromBridge, text).iifname(n.Bridge, false).drop().tag(tag),
			newRule(chainToBridge, text).oifname(n.Bridge, false).drop().tag(tag),
			newRule(chainInput, text).iifname(n.Bridge, false).daddr(n.Subnet, true).drop().tag(tag),
		)
	} else {
		// published ports of other networks are public: let them through
		// before the forward chain drops bridge-to-bridge traffic
		rs = append(rs, newRule(chainFromBridge, text).iifname(n.Bridge, false).ctDNAT().accept().tag(tag))
	}
	return rs
}

// ctrTag names the rules of one container's published ports; nft keeps at
// most 128 bytes of comment, so long ids are hashed.
func ctrTag(network, id string) string {
	t := "ctr " + network + "/" + id
	if len(t) <= 100 {
		return t
	}
	sum := sha256.Sum256([]byte(id))
	return "ctr " + network + "/sha256:" + hex.EncodeToString(sum[:16])
}

// portRules are the DNAT rules of a container's published ports.
func portRules(att *Attachment, text bool) []*rule {
	tag := ctrTag(att.Network, att.ContainerID)
	var rs []*rule
	for _, m := range att.Ports {
		r := newRule(chainPorts, text)
		if !m.allAddrs() {
			r.daddr(netip.PrefixFrom(m.HostIP, 32), false)
		}
		rs = append(rs, r.dport(m.proto(), m.HostPort).counter().dnat(att.IP, m.ContainerPort).tag(tag))
	}
	return rs
}

// nftConn is a connection to the table in one namespace.
type nftConn struct {
	h *nsHandle
	c *nftables.Conn
}

func openNft(h *nsHandle) (*nftConn, error) {
	c, err := h.nft()
	if err != nil {
		return nil, fmt.Errorf("nftables in network namespace %q: %w", h.path, err)
	}
	return &nftConn{h: h, c: c}, nil
}

func (n *nftConn) tableExists() (bool, error) {
	ts, err := n.c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return false, fmt.Errorf("list nftables tables: %w", err)
	}
	for _, t := range ts {
		if t.Name == tableName {
			return true, nil
		}
	}
	return false, nil
}

func (n *nftConn) flush(what string) error {
	if err := n.c.Flush(); err != nil {
		return fmt.Errorf("nftables: %s: %w", what, err)
	}
	return nil
}

// ensureTable creates the table, its set, chains and static rules in one
// transaction, unless the table is there. Callers hold the global lock.
//
//	nft add table ip miniruntime
//	nft add set ip miniruntime bridges '{ type ifname; }'
//	nft add chain ip miniruntime prerouting '{ type nat hook prerouting priority dstnat; policy accept; }'
//	nft add rule ip miniruntime prerouting fib daddr type local jump ports
//	...
func (n *nftConn) ensureTable() error {
	ok, err := n.tableExists()
	if err != nil || ok {
		return err
	}
	text := n.h.rec.Enabled()
	n.h.step("create the nftables table", func() string { return nftStmt("add table ip " + tableName) })
	n.c.AddTable(nftTable)
	set := bridgesSet()
	n.h.step("a set to hold the bridges of all networks", func() string {
		return nftStmt("add set ip " + tableName + " " + setBridges + " { type ifname; }")
	})
	if err := n.c.AddSet(set, nil); err != nil {
		return fmt.Errorf("nftables set: %w", err)
	}
	for _, d := range chainDefs {
		c := &nftables.Chain{Name: d.name, Table: nftTable}
		if d.hook != nil {
			c.Type, c.Hooknum, c.Priority = d.typ, d.hook, d.prio
			accept := nftables.ChainPolicyAccept
			c.Policy = &accept
		}
		n.h.step("chain "+d.name, func() string {
			return nftStmt(strings.TrimSpace("add chain ip " + tableName + " " + d.name + " " + d.shell))
		})
		n.c.AddChain(c)
	}
	for _, r := range staticRules(set, text) {
		n.addRule(r, "static rule")
	}
	return n.flush("create table " + tableName)
}

func (n *nftConn) addRule(r *rule, what string) {
	n.h.step(what, func() string { return nftStmt("add rule ip " + tableName + " " + r.chain + " " + r.String()) })
	n.c.AddRule(r.nftRule())
}

// queueDeleteTagged queues the deletion of every rule of the given chains
// whose comment is tag, and returns how many.
//
//	nft -a list chain ip miniruntime ports     # to find the handles
//	nft delete rule ip miniruntime ports handle 7
func (n *nftConn) queueDeleteTagged(tag string, chains ...string) (int, error) {
	count := 0
	for _, ch := range chains {
		rules, err := n.c.GetRules(nftTable, chainRef(ch))
		if err != nil {
			return count, fmt.Errorf("nftables: list chain %s: %w", ch, err)
		}
		for _, r := range rules {
			if c, ok := userdata.GetString(r.UserData, userdata.TypeComment); !ok || c != tag {
				continue
			}
			n.h.step("remove rule ("+tag+")", func() string {
				return nftStmt("delete rule ip " + tableName + " " + ch + " handle " + strconv.FormatUint(r.Handle, 10))
			})
			if err := n.c.DelRule(r); err != nil {
				return count, fmt.Errorf("nftables: delete rule: %w", err)
			}
			count++
		}
	}
	return count, nil
}

var netChains = []string{chainPostrouting, chainFromBridge, chainToBridge, chainInput}

func (n *nftConn) hasBridge(bridge string) (bool, int, error) {
	elems, err := n.c.GetSetElements(bridgesSet())
	if err != nil {
		return false, 0, fmt.Errorf("nftables: list set %s: %w", setBridges, err)
	}
	found := false
	for _, e := range elems {
		if strings.TrimRight(string(e.Key), "\x00") == bridge {
			found = true
		}
	}
	return found, len(elems), nil
}

// addNetwork (re)writes the rules of network nw and adds its bridge to the
// set, in one transaction. Callers hold the global lock.
//
//	nft add element ip miniruntime bridges '{ "mr0" }'
//	nft add rule ip miniruntime postrouting ip saddr 10.88.0.0/24 oifname != "mr0" masquerade comment '"net default"'
//	...
func (n *nftConn) addNetwork(nw *Network) error {
	if err := n.ensureTable(); err != nil {
		return err
	}
	if _, err := n.queueDeleteTagged(netTag(nw.Name), netChains...); err != nil {
		return err
	}
	member, _, err := n.hasBridge(nw.Bridge)
	if err != nil {
		return err
	}
	if !member {
		n.h.step("add the bridge to the set of bridges", func() string {
			return nftStmt("add element ip " + tableName + " " + setBridges + " { " + strconv.Quote(nw.Bridge) + " }")
		})
		if err := n.c.SetAddElements(bridgesSet(), []nftables.SetElement{{Key: ifname(nw.Bridge)}}); err != nil {
			return fmt.Errorf("nftables: add %s to set %s: %w", nw.Bridge, setBridges, err)
		}
	}
	for _, r := range netRules(nw, n.h.rec.Enabled()) {
		n.addRule(r, "rule of network "+nw.Name)
	}
	return n.flush("rules of network " + nw.Name)
}

// removeNetwork deletes the rules of network nw and its set element, and the
// whole table when no bridge is left in the set. A missing table is fine.
//
//	nft delete element ip miniruntime bridges '{ "mr0" }'
//	nft delete table ip miniruntime
func (n *nftConn) removeNetwork(nw *Network) error {
	ok, err := n.tableExists()
	if err != nil || !ok {
		return err
	}
	if _, err := n.queueDeleteTagged(netTag(nw.Name), netChains...); err != nil {
		return err
	}
	member, count, err := n.hasBridge(nw.Bridge)
	if err != nil {
		return err
	}
	if member {
		n.h.step("remove the bridge from the set of bridges", func() string {
			return nftStmt("delete element ip " + tableName + " " + setBridges + " { " + strconv.Quote(nw.Bridge) + " }")
		})
		if err := n.c.SetDeleteElements(bridgesSet(), []nftables.SetElement{{Key: ifname(nw.Bridge)}}); err != nil {
			return fmt.Errorf("nftables: remove %s from set %s: %w", nw.Bridge, setBridges, err)
		}
		count--
	}
	if err := n.flush("remove rules of network " + nw.Name); err != nil {
		return err
	}
	if count > 0 {
		return nil
	}
	n.h.step("no network left: remove the table", func() string { return nftStmt("delete table ip " + tableName) })
	n.c.DelTable(nftTable)
	return n.flush("delete table " + tableName)
}

// addPorts (re)writes the DNAT rules of a container's published ports.
//
//	nft add rule ip miniruntime ports tcp dport 8080 counter dnat to 10.88.0.2:80 comment '"ctr default/web"'
func (n *nftConn) addPorts(att *Attachment) error {
	if err := n.ensureTable(); err != nil {
		return err
	}
	if _, err := n.queueDeleteTagged(ctrTag(att.Network, att.ContainerID), chainPorts); err != nil {
		return err
	}
	for _, r := range portRules(att, n.h.rec.Enabled()) {
		n.addRule(r, "publish a port")
	}
	return n.flush("published ports of " + att.ContainerID)
}

// removePorts deletes the DNAT rules of a container; a missing table is fine.
func (n *nftConn) removePorts(network, id string) error {
	ok, err := n.tableExists()
	if err != nil || !ok {
		return err
	}
	count, err := n.queueDeleteTagged(ctrTag(network, id), chainPorts)
	if err != nil || count == 0 {
		return err
	}
	return n.flush("remove published ports of " + id)
}
