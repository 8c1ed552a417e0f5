package netns

import (
	"net/netip"
	"strings"
	"testing"
)

func ruleTexts(rs []*rule) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.chain + ": " + r.String() + "\n")
	}
	return b.String()
}

func TestNetRules(t *testing.T) {
	base := Network{Name: "web", Bridge: "mr-web", Subnet: netip.MustParsePrefix("10.90.0.0/24"), Gateway: netip.MustParseAddr("10.90.0.1")}

	got := ruleTexts(netRules(&base, true))
	want := `postrouting: ip saddr 10.90.0.0/24 oifname != "mr-web" masquerade comment "net web"
postrouting: ip saddr 10.90.0.0/24 ip daddr 10.90.0.0/24 ct status dnat masquerade comment "net web"
from-bridge: iifname "mr-web" oifname "mr-web" accept comment "net web"
from-bridge: iifname "mr-web" ct status dnat accept comment "net web"
`
	if got != want {
		t.Errorf("plain network:\n%s\nwant:\n%s", got, want)
	}

	noMasq := base
	noMasq.NoMasquerade = true
	got = ruleTexts(netRules(&noMasq, true))
	if strings.Contains(got, "oifname != \"mr-web\" masquerade") || !strings.Contains(got, "ct status dnat masquerade") {
		t.Errorf("NoMasquerade keeps hairpin only:\n%s", got)
	}

	internal := base
	internal.Internal = true
	got = ruleTexts(netRules(&internal, true))
	want = `from-bridge: iifname "mr-web" oifname "mr-web" accept comment "net web"
from-bridge: iifname "mr-web" counter drop comment "net web"
to-bridge: oifname "mr-web" counter drop comment "net web"
input: iifname "mr-web" ip daddr != 10.90.0.0/24 counter drop comment "net web"
`
	if got != want {
		t.Errorf("internal network:\n%s\nwant:\n%s", got, want)
	}

	// without tracing no text is built, the expressions are the same
	quiet := netRules(&base, false)
	loud := netRules(&base, true)
	for i := range quiet {
		if quiet[i].String() != "" || len(quiet[i].exprs) != len(loud[i].exprs) {
			t.Fatalf("rule %d differs without text", i)
		}
	}
}

func TestPortRulesAndStatic(t *testing.T) {
	ms, _ := ParsePortMappings("8080:80,192.0.2.1:5353:53/udp")
	att := &Attachment{Network: "web", ContainerID: "c1", IP: netip.MustParseAddr("10.90.0.2"), Ports: ms}
	got := ruleTexts(portRules(att, true))
	want := `ports: tcp dport 8080 counter dnat to 10.90.0.2:80 comment "ctr web/c1"
ports: ip daddr 192.0.2.1 udp dport 5353 counter dnat to 10.90.0.2:53 comment "ctr web/c1"
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	got = ruleTexts(staticRules(bridgesSet(), true))
	want = `prerouting: fib daddr type local jump ports
output: ip daddr != 127.0.0.0/8 fib daddr type local jump ports
forward: iifname @bridges jump from-bridge
forward: iifname @bridges oifname @bridges counter drop
forward: oifname @bridges jump to-bridge
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	long := ctrTag("web", strings.Repeat("x", 200))
	if len(long) > 128 || long != ctrTag("web", strings.Repeat("x", 200)) {
		t.Fatal(long)
	}
}
