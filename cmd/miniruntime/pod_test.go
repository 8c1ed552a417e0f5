package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miniruntime/miniruntime/netns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// podSpec points the env's spec at the pod's namespaces, which is what
// `create --pod NAME` writes: linux.namespaces[].path of network, ipc and
// uts from netns.PodNamespaces, no hostname of its own (the pod's UTS
// namespace has it).
func (n *netEnv) podSpec(pod string) {
	n.t.Helper()
	paths, err := netns.PodNamespaces(n.root, pod)
	if err != nil {
		n.t.Fatal(err)
	}
	var nss []specs.LinuxNamespace
	for _, ns := range n.spec.Linux.Namespaces {
		if p, ok := paths[string(ns.Type)]; ok {
			ns.Path = p
		}
		nss = append(nss, ns)
	}
	n.spec.Linux.Namespaces = nss
	n.spec.Hostname = ""
}

// cleanPods removes what a failed test left of its pods and then the pods
// directory itself (only its lock may remain), before the env's leak check
// looks at the state root.
func (n *netEnv) cleanPods() {
	n.t.Cleanup(func() {
		dir := filepath.Join(n.root, "pods")
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() {
				n.t.Errorf("leak: pod %s", e.Name())
				n.mrNS("pod", "rm", "--force", e.Name())
			}
		}
		os.Remove(filepath.Join(dir, ".lock"))
		if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
			n.t.Errorf("pods dir: %v", err)
		}
		if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), dir) {
			n.t.Errorf("leak: a pin is still mounted under %s", dir)
		}
	})
}

func TestPodSharesLocalhostAndHostname(t *testing.T) {
	n := newNetEnv(t)
	n.cleanPods()
	ok := n.okNS
	ok("network", "create", "--subnet", "10.123.20.0/24", "podnet")
	defer n.mrNS("network", "rm", "--force", "podnet")
	if out := ok("pod", "create", "--net", "podnet", "web"); !strings.Contains(out, "web podnet=10.123.20.2") {
		t.Fatalf("pod create: %q", out)
	}
	defer n.mrNS("pod", "rm", "--force", "web")
	if r := n.mrNS("pod", "create", "web"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second pod create web: exit %d %q", r.code, r.stderr)
	}
	var pod netns.Pod
	if err := json.Unmarshal([]byte(ok("pod", "inspect", "web")), &pod); err != nil {
		t.Fatal(err)
	}
	if len(pod.Attachments) != 1 || pod.Attachments[0].IP.String() != "10.123.20.2" || pod.Namespaces["network"] != filepath.Join(n.root, "pods/web/net") {
		t.Fatalf("pod inspect: %+v", pod)
	}
	if out := ok("pod", "ls"); !strings.Contains(out, "web") || !strings.Contains(out, "podnet=10.123.20.2") {
		t.Fatalf("pod ls:\n%s", out)
	}

	// a: a server in the pod.
	n.podSpec("web")
	n.spec.Process.Args = []string{"nc", "-ll", "-p", "7000", "-e", "echo", "hello-from-a"}
	n.spec.Linux.CgroupsPath = n.cgroup + "/a"
	n.writeSpec()
	ok("create", "-b", n.bundle, "a")
	defer n.mrNS("delete", "--force", "a")
	ok("start", "a")

	// b: same pod, reaches a over 127.0.0.1, has the pod's hostname and
	// its address.
	n.spec.Process.Args = []string{"sh", "-c", "hostname; ip -4 -o addr show eth0; " +
		"for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 127.0.0.1 7000 && exit 0; sleep 0.2; done; exit 1"}
	n.spec.Linux.CgroupsPath = n.cgroup + "/b"
	n.writeSpec()
	r := n.mrNS("run", "-b", n.bundle, "b")
	if r.code != 0 || !strings.Contains(r.stdout, "hello-from-a") {
		t.Fatalf("b -> a over localhost: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(r.stdout, "\n")
	if lines[0] != "web" || !strings.Contains(lines[1], "10.123.20.2/24") {
		t.Fatalf("b: hostname and address: %q", r.stdout)
	}

	// The pod refuses to go while a uses it.
	if r := n.mrNS("pod", "rm", "web"); r.code == 0 || !strings.Contains(r.stderr, "pod in use") {
		t.Fatalf("pod rm while a runs: exit %d %q", r.code, r.stderr)
	}
	var users netns.Pod
	if err := json.Unmarshal([]byte(ok("pod", "inspect", "web")), &users); err != nil || len(users.Users) == 0 {
		t.Fatalf("pod inspect users: %+v %v", users.Users, err)
	}
	ok("delete", "--force", "a")
	ok("pod", "rm", "web")
	if _, err := os.Stat(filepath.Join(n.root, "pods", "web")); !os.IsNotExist(err) {
		t.Fatalf("pod dir after rm: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Join(n.root, "networks", "podnet", "ipam"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leak: allocation %s after pod rm", e.Name())
		}
	}
	ok("network", "rm", "podnet")
}

func TestPodWithoutNetworkAndForce(t *testing.T) {
	n := newNetEnv(t)
	n.cleanPods()
	if r := n.mrNS("pod", "create", "lonely"); r.code != 0 {
		t.Fatalf("pod create: %s", r.stderr)
	}
	n.podSpec("lonely")
	n.spec.Process.Args = []string{"sleep", "30"}
	n.writeSpec()
	if r := n.mrNS("create", "-b", n.bundle, "s"); r.code != 0 {
		t.Fatalf("create: %s", r.stderr)
	}
	defer n.mrNS("delete", "--force", "s")
	if r := n.mrNS("pod", "rm", "--force", "lonely"); r.code != 0 {
		t.Fatalf("pod rm --force: %s", r.stderr)
	}
	if r := n.mrNS("pod", "inspect", "lonely"); r.code == 0 || !strings.Contains(r.stderr, "pod not found") {
		t.Fatalf("inspect after rm: exit %d %q", r.code, r.stderr)
	}
	if r := n.mrNS("delete", "--force", "s"); r.code != 0 {
		t.Fatalf("delete: %s", r.stderr)
	}
}

// cniNetwork creates a network of the cni driver in the test's host
// namespace: with `network create --driver cni` when the binary has the
// flag, else through the library with the same arguments.
func (n *netEnv) cniNetwork(name, subnet string) {
	n.t.Helper()
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		if _, err := os.Stat("/usr/lib/cni/" + p); err != nil {
			n.t.Skipf("needs the CNI plugin %s (apt-get install containernetworking-plugins)", p)
		}
	}
	r := n.mrNS("network", "create", "--driver", "cni", "--subnet", subnet, name)
	if r.code == 0 {
		return
	}
	if !strings.Contains(r.stderr, "unknown flag") {
		n.t.Fatalf("network create --driver cni: %s", r.stderr)
	}
	p, err := netip.ParsePrefix(subnet)
	if err != nil {
		n.t.Fatal(err)
	}
	_, err = netns.CreateNetwork(netns.Network{Name: name, Subnet: p, Driver: netns.DriverCNI},
		netns.Options{Root: n.root, HostNS: "/run/netns/" + n.ns})
	if err != nil {
		n.t.Fatal(err)
	}
}

func TestCNINetworkContainersAndPod(t *testing.T) {
	n := newNetEnv(t)
	n.cleanPods()
	ok := n.okNS
	n.cniNetwork("cnet", "10.123.30.0/24")
	defer n.mrNS("network", "rm", "--force", "cnet")

	n.spec.Process.Args = []string{"nc", "-ll", "-p", "7000", "-e", "echo", "hello-from-a"}
	n.spec.Linux.CgroupsPath = n.cgroup + "/a"
	n.writeSpec()
	ok("create", "-b", n.bundle, "--net", "cnet", "a")
	defer n.mrNS("delete", "--force", "a")
	ok("start", "a")
	var st struct {
		Networks []netns.Attachment `json:"networks"`
	}
	raw, err := os.ReadFile(filepath.Join(n.root, "a", "state.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil || len(st.Networks) != 1 {
		t.Fatalf("state.json networks: %s %v", raw, err)
	}
	att := st.Networks[0]
	if att.IP.String() != "10.123.30.2" || att.Gateway.String() != "10.123.30.1" || !strings.HasPrefix(att.HostVeth, "veth") {
		t.Fatalf("attachment from the CNI result: %+v", att)
	}
	if out := ok("exec", "a", "ip", "-4", "route"); !strings.Contains(out, "default via 10.123.30.1 dev eth0") {
		t.Fatalf("routes in a:\n%s", out)
	}
	if out := ok("exec", "a", "cat", "/etc/hosts"); !strings.Contains(out, "10.123.30.2\tmrtest") {
		t.Fatalf("/etc/hosts in a:\n%s", out)
	}
	// b on the same network reaches a.
	n.spec.Process.Args = []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 2 10.123.30.2 7000 && exit 0; sleep 0.2; done; exit 1"}
	n.spec.Linux.CgroupsPath = n.cgroup + "/b"
	n.writeSpec()
	if r := n.mrNS("run", "-b", n.bundle, "--net", "cnet", "b"); r.code != 0 || !strings.Contains(r.stdout, "hello-from-a") {
		t.Fatalf("b -> a: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	// A pod on the cni network.
	if out := ok("pod", "create", "--net", "cnet", "cp"); !strings.Contains(out, "cnet=10.123.30.") {
		t.Fatalf("pod create on cnet: %q", out)
	}
	ok("pod", "rm", "cp")
	ok("delete", "--force", "a")

	// Nothing left: no veth in the host namespace (the bridge stays until
	// network rm), no allocation in miniruntime's or host-local's store,
	// no pinned namespace, no cached result.
	links, _ := exec.Command("ip", "-n", n.ns, "-o", "link", "show", "type", "veth").Output()
	for _, l := range strings.Split(strings.TrimSpace(string(links)), "\n") {
		if f := strings.Fields(l); len(f) > 1 && !strings.HasPrefix(f[1], "up") {
			t.Errorf("leak: link %s after delete", f[1])
		}
	}
	for _, dir := range []string{"ipam", "cni/ipam/cnet", "cni/netns", "cni/cache/results"} {
		ents, _ := os.ReadDir(filepath.Join(n.root, "networks", "cnet", dir))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Name() != "lock" && !strings.HasPrefix(e.Name(), "last_reserved_ip") {
				t.Errorf("leak: %s/%s after delete", dir, e.Name())
			}
		}
	}
	ok("network", "rm", "cnet")
}
