package netns

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

func needCNI(t *testing.T) {
	t.Helper()
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		found := false
		for _, dir := range DefaultCNIPath {
			if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
				found = true
			}
		}
		if !found {
			t.Skipf("needs the CNI plugin %s (apt-get install containernetworking-plugins)", p)
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("the CNI bridge and portmap plugins need iptables")
	}
}

func TestConflist(t *testing.T) {
	o := Options{Root: "/state"}
	n, err := normalize(Network{Name: "cn", Subnet: pfx("10.210.0.0/24"), Driver: DriverCNI})
	if err != nil {
		t.Fatal(err)
	}
	if n.Bridge != "cni-cn" {
		t.Fatalf("bridge %q", n.Bridge)
	}
	if long := cniBridgeName("a-rather-long-network-name"); len(long) != 15 || !strings.HasPrefix(long, "cni-a-rath") {
		t.Fatalf("long bridge name %q", long)
	}
	b, err := o.conflist(&n)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Name    string `json:"name"`
		Plugins []struct {
			Type string `json:"type"`
			IPAM struct {
				DataDir string `json:"dataDir"`
			} `json:"ipam"`
			Caps map[string]bool `json:"capabilities"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "cn" || len(c.Plugins) != 2 || c.Plugins[0].Type != "bridge" || c.Plugins[1].Type != "portmap" ||
		c.Plugins[0].IPAM.DataDir != "/state/networks/cn/cni/ipam" || !c.Plugins[0].Caps["ips"] || !c.Plugins[1].Caps["portMappings"] {
		t.Fatalf("conflist:\n%s", b)
	}
	if _, err := normalize(Network{Name: "x", Subnet: pfx("10.210.1.0/24"), Driver: "weave"}); err == nil {
		t.Fatal("unknown driver accepted")
	}
}

func TestCNINetwork(t *testing.T) {
	w := newWorld(t)
	needCNI(t)
	n := w.network(Network{Name: "cn", Subnet: pfx("10.211.0.0/24"), Driver: DriverCNI})
	if n.Bridge != "cni-cn" || n.Driver != DriverCNI {
		t.Fatalf("network: %+v", n)
	}
	c1, a1 := w.container("c1", "cn")
	c2, a2 := w.container("c2", "cn", "8080:80")
	if a1.IP != addr("10.211.0.2") || a2.IP != addr("10.211.0.3") || a1.Interface != "eth0" || a1.Gateway != addr("10.211.0.1") {
		t.Fatalf("attachments: %+v %+v", a1, a2)
	}
	if !strings.HasPrefix(a1.HostVeth, "veth") || a1.MAC == "" {
		t.Fatalf("attachment from the CNI result: %+v", a1)
	}
	// the address and a default route, from the plugins
	l, err := c1.nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	addrs, _ := c1.nl.AddrList(l, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != "10.211.0.2/24" {
		t.Fatalf("eth0 in c1: %v", addrs)
	}
	routes, _ := c1.nl.RouteList(nil, netlink.FAMILY_V4)
	var def bool
	for _, r := range routes {
		if r.Dst == nil || r.Dst.String() == "0.0.0.0/0" {
			def = r.Gw.String() == "10.211.0.1"
		}
	}
	if !def {
		t.Fatalf("no default route via 10.211.0.1 in c1: %v", routes)
	}
	// host-local keeps its allocations under the state root
	held := filepath.Join(w.o.Root, "networks/cn/cni/ipam/cn/10.211.0.2")
	if b, err := os.ReadFile(held); err != nil || !strings.Contains(string(b), "c1") {
		t.Fatalf("host-local allocation %s: %q %v", held, b, err)
	}
	// the containers talk, the host reaches them, the port is published
	serve(t, c1, "tcp", 80)
	serve(t, c2, "tcp", 80)
	mustReach(t, c2, "tcp", hostPort(a1.IP, 80), "c1", a2.IP.String())
	mustReach(t, w.host, "tcp", hostPort(a1.IP, 80), "c1", "10.211.0.1")
	mustReach(t, w.outside, "tcp", hostAddr+":8080", "c2", outsideAddr)
	if !strings.Contains(w.log.String(), "CNI_COMMAND=ADD") || !strings.Contains(w.log.String(), "/bridge") {
		t.Errorf("trace lacks the plugin runs:\n%s", w.log.String())
	}

	w.detach(a1, a2)
	w.detach(a1) // idempotent
	if l := c1.links(); len(l) != 1 {
		t.Fatalf("links left in c1 after Detach: %v", l)
	}
	for _, dir := range []string{"cni/ipam/cn", "cni/cache/results", "cni/netns", "ipam"} {
		ents, _ := os.ReadDir(filepath.Join(w.o.Root, "networks/cn", dir))
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), ".") && e.Name() != "lock" && e.Name() != "last_reserved_ip.0" {
				t.Errorf("left after Detach: %s/%s", dir, e.Name())
			}
		}
	}
	if _, err := dial(w.outside, "tcp", hostAddr+":8080", blocked); err == nil {
		t.Fatal("the port still answers after Detach")
	}
	w.remove("cn")
}

// A crashed runtime's container: GC finds its interface name among the kept
// ADD results and removes everything; RemoveNetwork --force does the same.
func TestCNIGCAndForce(t *testing.T) {
	w := newWorld(t)
	needCNI(t)
	w.network(Network{Name: "cg", Subnet: pfx("10.212.0.0/24"), Driver: DriverCNI})
	_, a1 := w.container("g1", "cg")
	w.container("g2", "cg")
	if err := GC("cg", func(id string) bool { return id == "g2" }, w.o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.o.Root, "networks/cg/cni/ipam/cg", a1.IP.String())); !os.IsNotExist(err) {
		t.Fatalf("GC left g1's host-local allocation: %v", err)
	}
	if err := RemoveNetwork("cg", true, w.o); err != nil {
		t.Fatal(err)
	}
}

func TestParseCNIList(t *testing.T) {
	for _, tc := range []struct{ conf, err string }{
		{`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"}]}`, ""},
		{`{"cniVersion":"0.4.0","name":"n","plugins":[{"type":"bridge"}]}`, "cniVersion"},
		{`{"name":"n","plugins":[{"type":"bridge"}]}`, "cniVersion"},
		{`{"cniVersion":"1.0.0","name":"-n","plugins":[{"type":"bridge"}]}`, "name"},
		{`{"cniVersion":"1.0.0","name":"n","plugins":[]}`, "no plugins"},
		{`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../bin/sh"}]}`, "type"},
		{`{"cniVersion":"1.0.0","name":"n","plugins":[{"bridge":"x"}]}`, "type"},
		{`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a","capabilities":{"ips":"yes"}}]}`, "plugin 0"},
		{`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a"}]`, "conflist"},
	} {
		_, err := parseCNIList([]byte(tc.conf))
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: error %v, want one about %q", tc.conf, err, tc.err)
		}
	}
	// the highest version offered that is spoken here
	l, err := parseCNIList([]byte(`{"cniVersion":"1.0.0","cniVersions":["0.4.0","1.0.0","1.1.0","2.0.0"],"name":"n","plugins":[{"type":"a"}]}`))
	if err != nil || l.Version != "1.1.0" {
		t.Fatalf("version %+v %v", l, err)
	}
}

func TestCNIRequest(t *testing.T) {
	l, err := parseCNIList([]byte(`{"cniVersion":"1.0.0","name":"n","plugins":[
		{"type":"portmap","snat":true,"big":12345678901234567890,"capabilities":{"portMappings":true,"ips":false},
		 "runtimeConfig":{"stale":1},"cni.dev/valid-attachments":[]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]any{"portMappings": []int{80}, "ips": []string{"10.0.0.2/24"}, "mac": "x"}
	b, err := l.request(&l.Plugins[0], caps, json.RawMessage(`{"cniVersion":"1.0.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"big":12345678901234567890,"cniVersion":"1.0.0","name":"n","prevResult":{"cniVersion":"1.0.0"},` +
		`"runtimeConfig":{"portMappings":[80]},"snat":true,"type":"portmap"}`
	if string(b) != want {
		t.Fatalf("request\n%s\nwant\n%s", b, want)
	}
	if b, _ := l.request(&l.Plugins[0], nil, nil); strings.Contains(string(b), "runtimeConfig") || strings.Contains(string(b), "prevResult") {
		t.Fatalf("request without capability arguments or previous result: %s", b)
	}
}

// fakePlugins writes shell scripts that stand in for plugins: each appends
// its command, name and CNI_ environment to a log, keeps its stdin, and
// prints what out says for it.
func fakePlugins(t *testing.T, out map[string]string) (dir string, log func() string) {
	t.Helper()
	dir = t.TempDir()
	for name, script := range out {
		sh := "#!/bin/sh\n" +
			`echo "$CNI_COMMAND ` + name + ` $(env | grep ^CNI_ | sort | tr '\n' ' ')" >>` + dir + "/log\n" +
			"cat >" + dir + "/stdin.$CNI_COMMAND." + name + "\n" + script + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(sh), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, func() string { b, _ := os.ReadFile(dir + "/log"); return string(b) }
}

func TestCNIAddDelProtocol(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	resA := `{"cniVersion":"1.0.0","ips":[{"address":"10.9.0.2/24"}]}`
	resB := `{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"/ns","mac":"02:00:00:00:00:01"}],"ips":[{"address":"10.9.0.2/24","gateway":"10.9.0.1"}]}`
	dir, log := fakePlugins(t, map[string]string{
		"a": `[ "$CNI_COMMAND" = ADD ] && echo '` + resA + `'; true`,
		"b": `[ "$CNI_COMMAND" = ADD ] && echo '` + resB + `'; true`,
	})
	l, err := parseCNIList([]byte(`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a","capabilities":{"ips":true}},{"type":"b","capabilities":{"portMappings":true}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CNI_NETNS", "/stale") // the runtime's own CNI_ variables never reach a plugin
	c := &cni{list: l, path: []string{"/nonexistent", dir}, cacheDir: filepath.Join(dir, "cache"), host: &nsHandle{}}
	caps := map[string]any{"ips": []string{"10.9.0.2/24"}, "portMappings": []map[string]any{{"hostPort": 8080}}}
	res, err := c.add(context.Background(), &cniAttachment{ContainerID: "ctr-1", NetNS: "/ns", IfName: "eth0", Caps: caps})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPs) != 1 || res.IPs[0].Gateway != "10.9.0.1" || res.Interfaces[0].Mac != "02:00:00:00:00:01" {
		t.Fatalf("result %+v", res)
	}
	wantEnv := "CNI_ARGS= CNI_COMMAND=ADD CNI_CONTAINERID=ctr-1 CNI_IFNAME=eth0 CNI_NETNS=/ns CNI_PATH=/nonexistent:" + dir + " "
	if got := log(); got != "ADD a "+wantEnv+"\nADD b "+wantEnv+"\n" {
		t.Fatalf("plugin runs:\n%s", got)
	}
	stdin := func(name string) map[string]any {
		var m map[string]any
		b, _ := os.ReadFile(filepath.Join(dir, "stdin."+name))
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("stdin of %s: %q %v", name, b, err)
		}
		return m
	}
	var prevA, prevB map[string]any
	json.Unmarshal([]byte(resA), &prevA)
	json.Unmarshal([]byte(resB), &prevB)
	if a := stdin("ADD.a"); a["prevResult"] != nil || a["name"] != "n" || a["cniVersion"] != "1.0.0" ||
		!reflect.DeepEqual(a["runtimeConfig"], map[string]any{"ips": []any{"10.9.0.2/24"}}) || a["capabilities"] != nil {
		t.Errorf("ADD a got %v", a)
	}
	if b := stdin("ADD.b"); !reflect.DeepEqual(b["prevResult"], prevA) || b["runtimeConfig"] == nil {
		t.Errorf("ADD b got %v, want a's result as prevResult", b)
	}
	if names, err := c.keptIfNames("ctr-1"); err != nil || !reflect.DeepEqual(names, []string{"eth0"}) {
		t.Fatalf("kept results %v %v", names, err)
	}

	// DEL in reverse order, with the kept result and the capability
	// arguments of ADD, even when the caller no longer has them.
	os.Remove(filepath.Join(dir, "log"))
	if err := c.del(context.Background(), &cniAttachment{ContainerID: "ctr-1", IfName: "eth0"}); err != nil {
		t.Fatal(err)
	}
	wantEnv = strings.Replace(strings.Replace(wantEnv, "ADD", "DEL", 1), "/ns", "", 1)
	if got := log(); got != "DEL b "+wantEnv+"\nDEL a "+wantEnv+"\n" {
		t.Fatalf("plugin runs:\n%s", got)
	}
	for _, name := range []string{"a", "b"} {
		if m := stdin("DEL." + name); !reflect.DeepEqual(m["prevResult"], prevB) || m["runtimeConfig"] == nil {
			t.Errorf("DEL %s got %v, want the ADD result and the capability arguments", name, m)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "cache/results")); len(ents) != 0 {
		t.Fatalf("kept results left after DEL: %v", ents)
	}
	// DEL again: nothing kept, no prevResult, still success
	if err := c.del(context.Background(), &cniAttachment{ContainerID: "ctr-1", IfName: "eth0"}); err != nil {
		t.Fatal(err)
	}
	if m := stdin("DEL.a"); m["prevResult"] != nil {
		t.Errorf("second DEL got a prevResult: %v", m)
	}
	if _, err := c.add(context.Background(), &cniAttachment{ContainerID: "../x", IfName: "eth0"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("container id ../x: %v", err)
	}
}

func TestCNIPluginErrors(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	dir, _ := fakePlugins(t, map[string]string{
		"refuses": `echo '{"cniVersion":"1.0.0","code":7,"msg":"invalid config","details":"no bridge"}'; exit 1`,
		"crashes": `echo 'panic: oops' >&2; exit 2`,
		"hangs":   `sleep 30`,
		"old":     `echo '{"cniVersion":"0.4.0"}'`,
	})
	run := func(typ string, timeout time.Duration) error {
		l, err := parseCNIList([]byte(`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"` + typ + `"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		c := &cni{list: l, path: []string{dir}, cacheDir: filepath.Join(dir, "cache"), host: &nsHandle{}}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err = c.add(ctx, &cniAttachment{ContainerID: "c", NetNS: "/ns", IfName: "eth0"})
		return err
	}
	err := run("refuses", time.Minute)
	var ce *cniError
	if !errors.As(err, &ce) || ce.Code != 7 || err.Error() != "refuses plugin: invalid config: no bridge (CNI error code 7)" {
		t.Errorf("refuses: %v", err)
	}
	if err := run("crashes", time.Minute); err == nil || !strings.Contains(err.Error(), "crashes plugin: exit status 2: panic: oops") {
		t.Errorf("crashes: %v", err)
	}
	if err := run("old", time.Minute); err == nil || !strings.Contains(err.Error(), `old plugin: result of version "0.4.0"`) {
		t.Errorf("old: %v", err)
	}
	if err := run("missing", time.Minute); err == nil || !strings.Contains(err.Error(), "missing plugin: no executable") {
		t.Errorf("missing: %v", err)
	}
	start := time.Now()
	if err := run("hangs", 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hangs: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a hanging plugin held the run for %v", d)
	}
}
