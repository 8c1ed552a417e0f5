package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// netEnv runs the runtime inside a network namespace of the test's own, which
// plays the host: bridges, veths and nftables rules are made there, so the
// real host's network is never touched.
type netEnv struct {
	*env
	ns string // name under /run/netns
}

func newNetEnv(t *testing.T) *netEnv {
	t.Helper()
	e := newEnv(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2 (scripts/setup.sh installs it)")
	}
	ns := fmt.Sprintf("mrtest-%d", time.Now().UnixNano()%1e9)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	n := &netEnv{env: e, ns: ns}
	t.Cleanup(func() {
		// Leaks inside the test namespace are checked before it goes.
		links, _ := exec.Command("ip", "netns", "exec", ns, "ip", "-o", "link", "show").Output()
		for _, l := range strings.Split(strings.TrimSpace(string(links)), "\n") {
			if f := strings.Fields(l); len(f) > 1 && !strings.HasPrefix(f[1], "lo") && !strings.HasPrefix(f[1], "up") {
				t.Errorf("leak: link %s in the test's host namespace", f[1])
			}
		}
		if out, _ := exec.Command("ip", "netns", "exec", ns, "nft", "list", "tables").Output(); strings.Contains(string(out), "miniruntime") {
			t.Errorf("leak: nftables tables %s", out)
		}
		exec.Command("ip", "netns", "del", ns).Run()
	})
	// lo up, and an address of the "host" to reach published ports on.
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "up0", "type", "veth", "peer", "name", "up1"},
		{"addr", "add", "198.51.100.1/24", "dev", "up0"},
		{"link", "set", "up0", "up"},
		{"link", "set", "up1", "up"},
	} {
		if out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	return n
}

// okNS runs the runtime in the test's host namespace, fails the test unless
// it succeeds, and returns its stdout.
func (n *netEnv) okNS(args ...string) string {
	n.t.Helper()
	r := n.mrNS(args...)
	if r.code != 0 {
		n.t.Fatalf("miniruntime %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// mrNS runs the runtime in the test's host namespace.
func (n *netEnv) mrNS(args ...string) result {
	n.t.Helper()
	n.prefix = []string{"nsenter", "--net=/run/netns/" + n.ns}
	defer func() { n.prefix = nil }()
	return n.mr(args...)
}

func TestNetworksAttachPublishAndClean(t *testing.T) {
	n := newNetEnv(t)
	ok := n.okNS
	ok("network", "create", "--subnet", "10.123.1.0/24", "front")
	ok("network", "create", "--subnet", "10.123.2.0/24", "back")
	defer n.mrNS("network", "rm", "--force", "front")
	defer n.mrNS("network", "rm", "--force", "back")

	// A server on front, publishing its port 7000 on the host's 8080.
	n.spec.Process.Args = []string{"nc", "-ll", "-p", "7000", "-e", "echo", "hello-from-a"}
	n.spec.Linux.CgroupsPath = n.cgroup + "/a" // each container its own cgroup
	n.writeSpec()
	ok("create", "-b", n.bundle, "--net", "front", "-p", "8080:7000", "a")
	defer n.mrNS("delete", "--force", "a")
	ok("start", "a")
	var st struct {
		Networks []struct {
			IP string `json:"ip"`
		} `json:"networks"`
	}
	raw, err := os.ReadFile(filepath.Join(n.root, "a", "state.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil || len(st.Networks) != 1 {
		t.Fatalf("state.json networks: %s %v", raw, err)
	}
	ipA := st.Networks[0].IP
	if !strings.HasPrefix(ipA, "10.123.1.") {
		t.Fatalf("container a got %s, not an address of front", ipA)
	}
	// /etc/hosts names the container.
	if out := ok("exec", "a", "cat", "/etc/hosts"); !strings.Contains(out, ipA+"\tmrtest") {
		t.Fatalf("/etc/hosts in a:\n%s", out)
	}

	client := func(id, netName, target string) result {
		n.spec.Process.Args = []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 " + target + " && exit 0; sleep 0.2; done; exit 1"}
		n.spec.Linux.CgroupsPath = n.cgroup + "/" + id
		n.writeSpec()
		return n.mrNS("run", "-b", n.bundle, "--net", netName, id)
	}
	// Same network: reaches a directly.
	if r := client("b", "front", ipA+" 7000"); r.code != 0 || !strings.Contains(r.stdout, "hello-from-a") {
		t.Fatalf("from front to a: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// The published port, from the host namespace's own address.
	// busybox nc gives up when its stdin ends: keep it open a moment. The
	// server restarts its listener after each client: retry briefly.
	nc := exec.Command("ip", "netns", "exec", n.ns, "sh", "-c",
		"for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.5 | busybox nc -w 2 198.51.100.1 8080 && exit 0; sleep 0.2; done; exit 1")
	if out, err := nc.Output(); err != nil || !strings.Contains(string(out), "hello-from-a") {
		t.Fatalf("published port from the host: %q %v", out, err)
	}
	// Another network: isolated.
	if r := client("c", "back", ipA+" 7000"); r.code == 0 {
		t.Fatalf("a container on back reached a on front: %q", r.stdout)
	}
	// Hairpin: a container on front reaches a through the host's address.
	if r := client("d", "front", "198.51.100.1 8080"); r.code != 0 || !strings.Contains(r.stdout, "hello-from-a") {
		t.Fatalf("hairpin through the published port: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	ok("delete", "--force", "a")
	// Every address is free again: ipam holds nothing.
	for _, name := range []string{"front", "back"} {
		ents, _ := os.ReadDir(filepath.Join(n.root, "networks", name, "ipam"))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Name() != "lock" {
				t.Errorf("leak: allocation %s on %s after delete", e.Name(), name)
			}
		}
	}
	if r := n.mrNS("network", "rm", "front"); r.code != 0 {
		t.Fatalf("network rm front: %s", r.stderr)
	}
	ok("network", "rm", "back")
}

func TestNetworkNeedsItsOwnNetNS(t *testing.T) {
	n := newNetEnv(t)
	n.spec.Linux.Namespaces = without(n.spec.Linux.Namespaces, "network")
	n.writeSpec()
	r := n.mrNS("create", "-b", n.bundle, "--net", "default", "x")
	if r.code != 1 || !strings.Contains(r.stderr, `annotations["miniruntime.network"]`) {
		t.Fatalf("exit %d, %q", r.code, r.stderr)
	}
}
