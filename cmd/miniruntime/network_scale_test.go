package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Fifty containers created at once on one network get fifty distinct
// addresses, all reachable, and deleting them frees every one.
func TestFiftyContainersInParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts 50 containers")
	}
	n := newNetEnv(t)
	ok := n.okNS
	ok("network", "create", "--subnet", "10.127.0.0/24", "many")
	defer n.mrNS("network", "rm", "--force", "many")
	n.spec.Process.Args = []string{"sleep", "300"}
	n.spec.Linux.CgroupsPath = "" // each container its default cgroup, /miniruntime/<id>
	n.writeSpec()

	const count = 50
	ids := make([]string, count)
	errs := make([]string, count)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = fmt.Sprintf("p%02d", i)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Output to a file, not a pipe: the detached container keeps
			// its stdio, and a pipe would not reach EOF while it runs.
			out := filepath.Join(t.TempDir(), ids[i]+".out")
			f, err := os.Create(out)
			if err != nil {
				errs[i] = err.Error()
				return
			}
			defer f.Close()
			cmd := exec.Command("nsenter", "--net=/run/netns/"+n.ns, binary, "--root", n.root,
				"run", "-d", "-b", n.bundle, "--net", "many", ids[i])
			cmd.Stdout, cmd.Stderr = f, f
			if err := cmd.Run(); err != nil {
				msg, _ := os.ReadFile(out)
				errs[i] = fmt.Sprintf("%s: %v %s", ids[i], err, msg)
			}
		}(i)
	}
	wg.Wait()
	defer func() {
		for _, id := range ids {
			n.mrNS("delete", "--force", id)
		}
	}()
	for _, e := range errs {
		if e != "" {
			t.Fatal(e)
		}
	}
	seen := map[string]string{}
	for _, id := range ids {
		raw, err := os.ReadFile(filepath.Join(n.root, id, "state.json"))
		var st struct {
			Networks []struct {
				IP string `json:"ip"`
			} `json:"networks"`
		}
		if err != nil || json.Unmarshal(raw, &st) != nil || len(st.Networks) != 1 {
			t.Fatalf("%s: state %s %v", id, raw, err)
		}
		ip := st.Networks[0].IP
		if other, dup := seen[ip]; dup {
			t.Fatalf("%s and %s both got %s", other, id, ip)
		}
		seen[ip] = id
	}
	// Every one answers a ping from the host namespace.
	var ips []string
	for ip := range seen {
		ips = append(ips, ip)
	}
	script := "for ip in " + strings.Join(ips, " ") + "; do busybox ping -c 1 -W 1 $ip >/dev/null || busybox ping -c 1 -W 2 $ip >/dev/null || echo unreachable $ip; done"
	out, err := exec.Command("ip", "netns", "exec", n.ns, "sh", "-c", script).CombinedOutput()
	if err != nil || strings.Contains(string(out), "unreachable") {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	for _, id := range ids {
		ok("delete", "--force", id)
	}
	ents, _ := os.ReadDir(filepath.Join(n.root, "networks", "many", "ipam"))
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && e.Name() != "lock" {
			t.Errorf("leak: allocation %s after deleting every container", e.Name())
		}
	}
}
