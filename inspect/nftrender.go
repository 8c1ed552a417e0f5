package inspect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// renderRule writes a rule's expressions back in nft(8) syntax, for the
// expressions the netns package builds (meta, payload, bitwise, cmp,
// lookup, fib, ct, counter, immediate, nat, masq, verdict). Anything else
// is shown by its Go type, so nothing is silently left out.
func renderRule(exprs []expr.Any) string {
	var words []string
	// what each register holds: the name of the loaded field, and for an
	// address a prefix length from a bitwise mask
	type load struct {
		what string
		bits int
	}
	regs := map[uint32]load{}
	imm := map[uint32][]byte{}
	say := func(w ...string) { words = append(words, w...) }
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			if e.SourceRegister {
				say("meta", "set")
				continue
			}
			regs[e.Register] = load{what: metaName(e.Key)}
		case *expr.Payload:
			regs[e.DestRegister] = load{what: payloadName(e), bits: int(e.Len) * 8}
		case *expr.Bitwise:
			l := regs[e.SourceRegister]
			if l.what == "ct status" {
				l.what = "ct status " + ctStatus(e.Mask)
			} else if len(e.Mask) == 4 {
				l.bits = bits.OnesCount32(binary.BigEndian.Uint32(e.Mask))
			}
			regs[e.DestRegister] = l
		case *expr.Ct:
			regs[e.Register] = load{what: "ct " + ctKey(e.Key)}
		case *expr.Fib:
			w := "fib"
			if e.FlagSADDR {
				w += " saddr"
			}
			if e.FlagDADDR {
				w += " daddr"
			}
			if e.ResultADDRTYPE {
				w += " type"
			}
			regs[e.Register] = load{what: w}
		case *expr.Cmp:
			l := regs[e.Register]
			op := ""
			if e.Op == expr.CmpOpNeq {
				op = "!= "
			}
			if strings.HasPrefix(l.what, "ct status ") {
				// ct status & dnat != 0 reads "ct status dnat"
				say(l.what)
				continue
			}
			val := cmpValue(l.what, l.bits, e.Data)
			// meta l4proto tcp + th dport 80 read "tcp dport 80"
			if strings.HasPrefix(l.what, "th ") && len(words) >= 2 && words[len(words)-2] == "meta l4proto" {
				proto := words[len(words)-1]
				words = words[:len(words)-2]
				say(proto+" "+strings.TrimPrefix(l.what, "th "), op+val)
				continue
			}
			say(l.what, op+val)
		case *expr.Lookup:
			l := regs[e.SourceRegister]
			not := ""
			if e.Invert {
				not = "!= "
			}
			say(l.what, not+"@"+e.SetName)
		case *expr.Counter:
			say("counter", "packets", strconv.FormatUint(e.Packets, 10), "bytes", strconv.FormatUint(e.Bytes, 10))
		case *expr.Immediate:
			imm[e.Register] = e.Data
		case *expr.NAT:
			w := "snat to"
			if e.Type == expr.NATTypeDestNAT {
				w = "dnat to"
			}
			to := ""
			if a := imm[e.RegAddrMin]; len(a) == 4 {
				to = netip.AddrFrom4([4]byte(a)).String()
			}
			if p := imm[e.RegProtoMin]; len(p) == 2 {
				to += ":" + strconv.Itoa(int(binary.BigEndian.Uint16(p)))
			}
			say(w, to)
		case *expr.Masq:
			say("masquerade")
		case *expr.Verdict:
			say(verdict(e))
		default:
			say(strings.TrimPrefix(fmt.Sprintf("%T", e), "*expr."))
		}
	}
	return strings.Join(words, " ")
}

func metaName(k expr.MetaKey) string {
	switch k {
	case expr.MetaKeyL4PROTO:
		return "meta l4proto"
	case expr.MetaKeyIIFNAME:
		return "iifname"
	case expr.MetaKeyOIFNAME:
		return "oifname"
	case expr.MetaKeyIIF:
		return "iif"
	case expr.MetaKeyOIF:
		return "oif"
	case expr.MetaKeyMARK:
		return "meta mark"
	case expr.MetaKeyNFPROTO:
		return "meta nfproto"
	}
	return "meta key " + strconv.Itoa(int(k))
}

func payloadName(p *expr.Payload) string {
	switch p.Base {
	case expr.PayloadBaseNetworkHeader:
		switch {
		case p.Offset == 12 && p.Len == 4:
			return "ip saddr"
		case p.Offset == 16 && p.Len == 4:
			return "ip daddr"
		case p.Offset == 9 && p.Len == 1:
			return "ip protocol"
		}
	case expr.PayloadBaseTransportHeader:
		switch {
		case p.Offset == 0 && p.Len == 2:
			return "th sport"
		case p.Offset == 2 && p.Len == 2:
			return "th dport"
		}
	}
	return "@payload," + strconv.Itoa(int(p.Base)) + "," + strconv.Itoa(int(p.Offset)*8) + "," + strconv.Itoa(int(p.Len)*8)
}

func ctKey(k expr.CtKey) string {
	switch k {
	case expr.CtKeySTATE:
		return "state"
	case expr.CtKeySTATUS:
		return "status"
	case expr.CtKeyMARK:
		return "mark"
	}
	return "key " + strconv.Itoa(int(k))
}

// ctStatus names the conntrack status bits of a mask (the ones nft names
// most often).
func ctStatus(mask []byte) string {
	if len(mask) != 4 {
		return "?"
	}
	v := binary.NativeEndian.Uint32(mask)
	names := []string{"expected", "seen-reply", "assured", "confirmed", "snat", "dnat"}
	var out []string
	for i, n := range names {
		if v&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, ",")
}

func cmpValue(what string, bitsLen int, data []byte) string {
	switch {
	case what == "meta l4proto" && len(data) == 1:
		switch data[0] {
		case unix.IPPROTO_TCP:
			return "tcp"
		case unix.IPPROTO_UDP:
			return "udp"
		}
		return strconv.Itoa(int(data[0]))
	case what == "iifname" || what == "oifname":
		return strconv.Quote(string(bytes.TrimRight(data, "\x00")))
	case strings.HasPrefix(what, "ip ") && len(data) == 4:
		a := netip.AddrFrom4([4]byte(data))
		if bitsLen > 0 && bitsLen < 32 {
			return netip.PrefixFrom(a, bitsLen).String()
		}
		return a.String()
	case strings.HasPrefix(what, "th ") && len(data) == 2:
		return strconv.Itoa(int(binary.BigEndian.Uint16(data)))
	case strings.HasPrefix(what, "fib") && len(data) == 4:
		if binary.NativeEndian.Uint32(data) == unix.RTN_LOCAL {
			return "local"
		}
		return strconv.Itoa(int(binary.NativeEndian.Uint32(data)))
	}
	return "0x" + strconv.FormatUint(uint64(len(data)), 16) + ":" + hexString(data)
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func verdict(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictContinue:
		return "continue"
	}
	return "verdict " + strconv.Itoa(int(v.Kind))
}
