package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOverlayLab runs scripts/net-overlay-lab.sh with the binary under
// test: two node namespaces joined by an underlay veth and a VXLAN device,
// a container on each, ping and TCP across, counters rising, everything
// torn down. The script checks the traffic itself; this test bounds it in
// time and checks that nothing it made is left.
func TestOverlayLab(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"ip", "bridge", "nsenter", "timeout"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	script, err := filepath.Abs("../../scripts/net-overlay-lab.sh")
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("mrtestlab%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Env = append(os.Environ(), "MINIRUNTIME="+binary, "LAB_PREFIX="+prefix)
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Cleanup(func() { // a script killed by the timeout could not clean up
		for _, n := range []string{prefix + "-node1", prefix + "-node2"} {
			if _, err := os.Stat("/run/netns/" + n); err == nil {
				t.Errorf("leak: network namespace %s", n)
				exec.Command("ip", "netns", "del", n).Run()
			}
		}
	})
	if err != nil {
		t.Fatalf("overlay lab: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"type vxlan id 42 local 198.18.0.1 dev ul0 dstport 4789 nolearning",
		"bridge -n " + prefix + "-node1 fdb append 02:76:78:00:00:02 dev vxlan0 dst 198.18.0.2",
		"3 packets transmitted, 3 packets received, 0% packet loss",
		"hello from pod a on node1",
		"overlay lab: ok",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("overlay lab output lacks %q:\n%s", want, out.String())
		}
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), prefix) {
		t.Error("leak: a mount of the lab is left")
	}
}
