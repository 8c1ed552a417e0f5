package netns

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// The trace is meant to be followed by hand, so it must be true: this test
// runs the commands a traced CreateNetwork and Attach printed, in fresh
// namespaces, with the real ip, nft and sysctl tools, and checks that they
// build the same ruleset and the same container link as the package did.
// To read the trace: NETNS_SHOW_TRACE=1 go test -tags seccomp -run TestTraceReplays -v ./netns
func TestTraceReplays(t *testing.T) {
	for _, tool := range []string{"ip", "nft", "nsenter", "sysctl", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s to replay the trace", tool)
		}
	}
	w := newWorld(t)
	w.network(Network{Name: "front", Subnet: pfx("10.212.0.0/24")})
	w.network(Network{Name: "back", Subnet: pfx("10.212.1.0/24"), Internal: true})
	c, a := w.container("c", "front", "8080:80", hostAddr+":5353:53/udp")

	if os.Getenv("NETNS_SHOW_TRACE") != "" {
		t.Logf("trace of CreateNetwork x2 and Attach:\n%s", w.log.String())
	}
	host2 := newTestNS(t, "host2")
	ctr2 := newTestNS(t, "ctr2")
	var cmds []string
	for _, line := range strings.Split(w.log.String(), "\n") {
		_, cmd, ok := strings.Cut(line, " $ ")
		if !ok {
			continue
		}
		cmd = strings.ReplaceAll(cmd, w.host.path, host2.path)
		cmd = strings.ReplaceAll(cmd, c.path, ctr2.path)
		cmds = append(cmds, cmd)
	}
	if len(cmds) < 20 {
		t.Fatalf("only %d commands traced", len(cmds))
	}
	for _, cmd := range cmds {
		if out, err := exec.Command("sh", "-c", cmd).CombinedOutput(); err != nil {
			t.Fatalf("%s\n%s%v", cmd, out, err)
		}
	}

	ruleset := func(ns *testNS) string {
		out, err := exec.Command("nsenter", "--net="+ns.path, "nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset: %s %v", out, err)
		}
		return regexp.MustCompile(`counter packets \d+ bytes \d+`).ReplaceAllString(string(out), "counter")
	}
	if got, want := ruleset(host2), ruleset(w.host); got != want {
		t.Errorf("replayed ruleset:\n%s\nwant:\n%s", got, want)
	}
	show := func(ns *testNS) string {
		out, _ := exec.Command("nsenter", "--net="+ns.path, "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
		route, _ := exec.Command("nsenter", "--net="+ns.path, "ip", "-4", "route").CombinedOutput()
		link, _ := exec.Command("nsenter", "--net="+ns.path, "ip", "-o", "link", "show", "dev", "eth0").CombinedOutput()
		return regexp.MustCompile(`@if\d+|link-netnsid \d+|valid_lft.*`).ReplaceAllString(string(out)+string(route)+string(link), "")
	}
	if got, want := show(ctr2), show(c); got != want {
		t.Errorf("replayed container link:\n%s\nwant:\n%s", got, want)
	}
	// the replayed host holds the same links as the real one (uplink aside)
	if got, want := strings.Join(host2.links(), " "), strings.Join(w.host.links(), " "); got+" "+uplink != want {
		t.Errorf("replayed host links %q, want %q", got, want)
	}
	w.detach(a)
	w.remove("front", "back")
}
