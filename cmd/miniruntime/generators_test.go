package main

// The generator corpus: config.json files written by the tools learners
// really use (runc spec, crun spec, their --rootless forms), run under
// miniruntime and under runc on the same rootfs. Each must end the same
// way under both: the same exit status and, when it runs, the same output
// from a probe that prints what the config set up (identity, capability
// sets, hostname, sysctls, clocks).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miniruntime/miniruntime/images"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// peerRuntime is a reference runtime found on this host.
type peerRuntime struct {
	name, path string
}

// runc14 is runc 1.4 as scripts/peers.sh builds it from the Go module
// proxy (Debian ships 1.1.5, which predates time namespaces).
func runc14() string {
	if p := os.Getenv("MINIRUNTIME_RUNC14"); p != "" {
		return p
	}
	return "/var/tmp/miniruntime-peers/runc"
}

func findPeers() (runc, runcNew, crun *peerRuntime) {
	if p, err := exec.LookPath("runc"); err == nil {
		runc = &peerRuntime{"runc " + peerVersion(p), p}
	}
	if p := runc14(); isExecutable(p) {
		runcNew = &peerRuntime{"runc " + peerVersion(p), p}
	}
	if p, err := exec.LookPath("crun"); err == nil {
		crun = &peerRuntime{"crun " + peerVersion(p), p}
	}
	return runc, runcNew, crun
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&0o111 != 0
}

// peerVersion is the version a runtime reports ("1.1.5", "1.8.1").
func peerVersion(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "?"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(first)
	return f[len(f)-1]
}

// generated writes gen's `spec` (with extra flags) into a fresh bundle with
// the busybox rootfs and returns the bundle dir and the parsed config.
func generated(t *testing.T, gen *peerRuntime, flags ...string) (string, *specs.Spec) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(gen.path, append([]string{"spec"}, flags...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s spec %v: %v: %s", gen.name, flags, err, out)
	}
	if err := images.Busybox(filepath.Join(dir, "rootfs")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s spec: %v", gen.name, err)
	}
	return dir, &s
}

func writeBundleSpec(t *testing.T, dir string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// probeScript prints what a config set up for its process, one fact a line.
const probeScript = `id -u; id -g; hostname
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
awk '$5 == "/proc/sys" { print "/proc/sys mounted " substr($6, 1, 2) }' /proc/self/mountinfo
for f in $PROBE_FILES; do echo "$f: $(cat $f)"; done`

// runUnder runs the bundle under a runtime (the test's miniruntime binary
// or a peer) with its own state root and a unique id, and returns how it
// ended. The container is always deleted afterwards.
func runUnder(t *testing.T, runtimePath, bundle string) result {
	t.Helper()
	root := t.TempDir()
	id := fmt.Sprintf("gen-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	cmd := exec.Command(runtimePath, "--root", root, "run", "--bundle", bundle, id)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	cmd.Wait()
	timer.Stop()
	exec.Command(runtimePath, "--root", root, "delete", "--force", id).Run()
	// runc's default cgroup for an empty cgroupsPath is /<id>, ours
	// /miniruntime-<id>: both must be gone.
	for _, h := range cgroupHierarchies() {
		for _, name := range []string{id, "miniruntime-" + id} {
			if _, err := os.Stat(filepath.Join(h, name)); err == nil {
				t.Errorf("leak: cgroup %s/%s after %s", h, name, runtimePath)
				os.Remove(filepath.Join(h, name))
			}
		}
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

// probe turns a generated config into one that prints the probe instead of
// starting an interactive shell.
func probe(s *specs.Spec, files ...string) {
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", probeScript}
	s.Process.Env = append(s.Process.Env, "PROBE_FILES="+strings.Join(files, " "))
}

// sameEnd runs bundle under miniruntime and ref and requires the same exit
// status and, when the container ran, the same output.
func sameEnd(t *testing.T, bundle string, ref *peerRuntime) result {
	t.Helper()
	want := runUnder(t, ref.path, bundle)
	got := runUnder(t, binary, bundle)
	if got.code != want.code {
		t.Fatalf("exit status %d, %s's %d\nminiruntime stderr: %s\n%s stderr: %s", got.code, ref.name, want.code, got.stderr, ref.name, want.stderr)
	}
	if got.stdout != want.stdout {
		t.Fatalf("output differs from %s's:\nminiruntime:\n%s\n%s:\n%s", ref.name, got.stdout, ref.name, want.stdout)
	}
	return got
}

func TestGeneratedConfigs(t *testing.T) {
	needRoot(t)
	runc, runcNew, crun := findPeers()
	if runc == nil {
		t.Skip("needs runc as the reference (scripts/setup.sh installs it)")
	}
	// Each generator's config runs against the newest runc here, and
	// Debian's runc also against its own.
	ref := runc
	if runcNew != nil {
		ref = runcNew
	}
	type gen struct {
		by    *peerRuntime
		flags []string
		ref   *peerRuntime
	}
	gens := []gen{{runc, nil, runc}, {runc, []string{"--rootless"}, runc}}
	if runcNew != nil {
		gens = append(gens, gen{runcNew, nil, runcNew}, gen{runcNew, []string{"--rootless"}, runcNew})
	} else {
		t.Logf("runc 1.4 not found at %s (scripts/peers.sh builds it); its configs are not covered", runc14())
	}
	if crun != nil {
		gens = append(gens, gen{crun, nil, ref}, gen{crun, []string{"--rootless"}, ref})
	} else {
		t.Log("crun not installed (scripts/peers.sh installs it); its configs are not covered")
	}
	for _, g := range gens {
		name := strings.ReplaceAll(g.by.name+" spec "+strings.Join(g.flags, " "), " ", "_")
		t.Run(strings.TrimRight(name, "_"), func(t *testing.T) {
			dir, s := generated(t, g.by, g.flags...)
			if s.Process == nil || !s.Process.Terminal || len(s.Process.Args) == 0 {
				t.Fatalf("%s spec no longer writes an interactive shell config: %+v", g.by.name, s.Process)
			}
			probe(s)
			writeBundleSpec(t, dir, s)
			r := sameEnd(t, dir, g.ref)
			if r.code == 0 && !strings.Contains(r.stdout, "CapBnd:") {
				t.Fatalf("the probe did not run: %q", r.stdout)
			}
			t.Logf("exit %d; stderr: %s", r.code, strings.TrimSpace(r.stderr))
			if r.code == 0 && s.Process.Capabilities != nil && len(unraisable(s.Process.Capabilities)) > 0 &&
				!strings.Contains(r.stderr, "cannot be raised") {
				t.Errorf("ambient capabilities %v cannot be raised, but there was no warning: %q", unraisable(s.Process.Capabilities), r.stderr)
			}
		})
	}
}

// unraisable lists the config's ambient capabilities that are not both
// permitted and inheritable (the kernel refuses to raise those).
func unraisable(c *specs.LinuxCapabilities) []string {
	in := func(list []string, x string) bool {
		for _, v := range list {
			if v == x {
				return true
			}
		}
		return false
	}
	var out []string
	for _, a := range c.Ambient {
		if !in(c.Permitted, a) || !in(c.Inheritable, a) {
			out = append(out, a)
		}
	}
	return out
}

// TestGeneratedSysctls sets, on runc's own default config, the sysctls
// podman (net.ipv4.ping_group_range) and Docker
// (net.ipv4.ip_unprivileged_port_start) set on every container with a
// network namespace, and one a learner sets by hand; /proc/sys stays
// read-only as the config asks.
func TestGeneratedSysctls(t *testing.T) {
	needRoot(t)
	runc, runcNew, _ := findPeers()
	if runc == nil {
		t.Skip("needs runc as the reference (scripts/setup.sh installs it)")
	}
	if runcNew != nil {
		runc = runcNew
	}
	dir, s := generated(t, runc)
	s.Linux.Sysctl = map[string]string{
		"net.ipv4.ip_forward":                 "1",
		"net.ipv4.ping_group_range":           "0 2147483647",
		"net.ipv4.ip_unprivileged_port_start": "0",
	}
	probe(s, "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv4/ping_group_range", "/proc/sys/net/ipv4/ip_unprivileged_port_start")
	writeBundleSpec(t, dir, s)
	r := sameEnd(t, dir, runc)
	for _, want := range []string{"ip_forward: 1", "ping_group_range: 0\t2147483647", "ip_unprivileged_port_start: 0", "/proc/sys mounted ro"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}

	// A value the kernel refuses: both fail, and ours names the key, the
	// value and the kernel's reason.
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "yes"}
	writeBundleSpec(t, dir, s)
	r = sameEnd(t, dir, runc)
	if r.code == 0 || !strings.Contains(r.stderr, `linux.sysctl["net.ipv4.ip_forward"]`) || !strings.Contains(r.stderr, `"yes"`) ||
		!strings.Contains(r.stderr, "invalid argument") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("a refused sysctl: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestGeneratedTimeOffsets gives runc's default config a time namespace
// whose clocks run two days (boottime) and one day (monotonic) ahead.
func TestGeneratedTimeOffsets(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("this kernel has no time namespaces")
	}
	runc, runcNew, _ := findPeers()
	if runc == nil {
		t.Skip("needs runc to write the config (scripts/setup.sh installs it)")
	}
	dir, s := generated(t, runc)
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
	s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{
		"boottime":  {Secs: 2 * 86400},
		"monotonic": {Secs: 86400},
	}
	// /proc/uptime reads the boottime clock; the probe prints whole days.
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "awk '{print int($1/86400)}' /proc/uptime"}
	writeBundleSpec(t, dir, s)
	hostDays := func() int {
		b, err := os.ReadFile("/proc/uptime")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
		return int(f / 86400)
	}
	before := hostDays()
	var r result
	if runcNew != nil {
		r = sameEnd(t, dir, runcNew) // Debian's runc 1.1.5 has no time namespaces
	} else {
		t.Logf("runc 1.4 not found at %s: checked against the host's clock only", runc14())
		r = runUnder(t, binary, dir)
	}
	got, err := strconv.Atoi(strings.TrimSpace(r.stdout))
	if r.code != 0 || err != nil {
		t.Fatalf("exit %d, output %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if after := hostDays(); got != before+2 && got != after+2 {
		t.Errorf("boottime inside is %d days, host %d: the offset of 2 days was not applied", got, before)
	}
}

// TestGeneratedKernelMemory: a config that still carries the deprecated
// memory.kernel and memory.kernelTCP runs, as under runc, with a warning.
func TestGeneratedKernelMemory(t *testing.T) {
	needRoot(t)
	runc, runcNew, _ := findPeers()
	if runc == nil {
		t.Skip("needs runc as the reference (scripts/setup.sh installs it)")
	}
	if runcNew != nil {
		runc = runcNew
	}
	dir, s := generated(t, runc)
	k, tcp := int64(64<<20), int64(16<<20)
	s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: &k, KernelTCP: &tcp}} //nolint:staticcheck // the deprecated field is the point
	probe(s)
	writeBundleSpec(t, dir, s)
	r := sameEnd(t, dir, runc)
	if r.code != 0 || !strings.Contains(r.stderr, "memory.kernel") {
		t.Errorf("exit %d; want a run with a warning naming memory.kernel, stderr %q", r.code, r.stderr)
	}
}
