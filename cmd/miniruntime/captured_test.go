package main

// The client corpus: config.json files exactly as containerd's ctr,
// containerd's CRI plugin (a pod's sandbox and its container) and podman
// handed them to the runtime, copied by `scripts/clients-test.sh
// --capture-configs DIR`. Each is replayed under runc (1.4 when
// scripts/peers.sh built it, else Debian's) and under miniruntime on a
// fresh busybox rootfs, and must end the same way under both, with the same
// probe output: identity, capability sets, seccomp, rlimits, umask, env,
// oom_score_adj, sysctls, mounts (masked and read-only paths among them),
// /dev, and the cgroup limits where the config mounts /sys/fs/cgroup.
//
// What cannot be replayed as captured is changed, and only that: the rootfs
// (the clients' overlay mounts are gone), the process (the probe instead of
// the workload, no terminal), namespaces joined by path (the sandboxes are
// gone: new ones instead), bind mounts whose source no longer exists,
// an AppArmor profile this host has not loaded, hooks, and cgroupsPath (a cgroup of the test's, one for each runtime,
// checked for leaks).
//
// A few captured configs are committed in tests/clients/configs/ and are
// replayed by every `go test`; a fresh capture is replayed with
// MINIRUNTIME_CAPTURED_CONFIGS=DIR.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/miniruntime/miniruntime/images"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// committedClientConfigs is the corpus kept in the repository.
const committedClientConfigs = "../../tests/clients/configs"

// probeExtra goes after probeScript: what the clients' configs set that the
// generator probe does not look at. Mount ids and device numbers of the
// host's filesystems vary between runs, so mountinfo is printed as mount
// point, per-mount options, filesystem type and propagation (shared,
// master or private, without the peer group numbers) only.
const probeExtra = `
echo "umask $(umask) cwd $(pwd) groups $(id -G)"
grep -E '^Seccomp_filters:' /proc/self/status
echo "apparmor: $(cat /proc/self/attr/current 2>/dev/null)"
env | grep -v '^PROBE_FILES=' | sort
awk '{o = ""; for (i = 7; $i != "-"; i++) { t = $i; sub(/:.*/, "", t); o = o (o == "" ? "" : ",") t }
  print "mount", $5, $6, $(i + 1), (o == "" ? "private" : o)}' /proc/self/mountinfo
for f in /dev/* /dev/pts/ptmx; do stat -c 'dev %n %F %a %u:%g %t:%T' "$f"; done
for f in memory/memory.limit_in_bytes memory/memory.memsw.limit_in_bytes cpu/cpu.shares cpu/cpu.cfs_quota_us pids/pids.max \
    memory.max memory.swap.max cpu.weight cpu.max pids.max; do
  [ -r /sys/fs/cgroup/$f ] && echo "cgroup $f: $(cat /sys/fs/cgroup/$f)"
done
true`

// clientConfigs lists the config files of a corpus directory.
func clientConfigs(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no *.json config in %s", dir)
	}
	sort.Strings(files)
	return files
}

// readClientConfig decodes a captured config strictly: a field this
// module's runtime-spec does not know would be lost in the replay.
func readClientConfig(t *testing.T, file string) *specs.Spec {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var s specs.Spec
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v (a field unknown to runtime-spec would be dropped in the replay)", file, err)
	}
	if s.Process == nil || s.Root == nil || s.Linux == nil {
		t.Fatalf("%s: not a client's container config (no process, root or linux)", file)
	}
	return &s
}

// replayable turns a captured config into one that runs here: see the top
// of this file. It returns what it changed, for the test log.
func replayable(s *specs.Spec) []string {
	var changed []string
	s.Root.Path = "rootfs"
	if s.Process.Terminal {
		changed = append(changed, "terminal off")
	}
	s.Process.ConsoleSize = nil
	var files []string
	files = append(files, "/proc/self/oom_score_adj", "/proc/self/limits")
	keys := make([]string, 0, len(s.Linux.Sysctl))
	for k := range s.Linux.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		files = append(files, "/proc/sys/"+strings.ReplaceAll(k, ".", "/"))
	}
	probe(s, files...)
	s.Process.Args = []string{"/bin/sh", "-c", probeScript + probeExtra}

	for i, ns := range s.Linux.Namespaces {
		if ns.Path != "" {
			changed = append(changed, "new "+string(ns.Type)+" namespace instead of "+ns.Path)
			s.Linux.Namespaces[i].Path = ""
		}
	}
	mounts := s.Mounts[:0]
	for _, m := range s.Mounts {
		bind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
		if bind && filepath.IsAbs(m.Source) {
			if _, err := os.Stat(m.Source); err != nil {
				changed = append(changed, "no bind of "+m.Destination+" (source gone)")
				continue
			}
		}
		mounts = append(mounts, m)
	}
	s.Mounts = mounts
	if p := s.Process.ApparmorProfile; p != "" && !apparmorLoaded(p) {
		// runc fails at init when it cannot apply the profile; miniruntime
		// warns and goes on where AppArmor is off (README): a config from a
		// host with AppArmor replayed here runs with neither.
		changed = append(changed, "no AppArmor profile ("+p+" is not loaded here)")
		s.Process.ApparmorProfile = ""
	}
	if s.Hooks != nil {
		changed = append(changed, "no hooks")
		s.Hooks = nil
	}
	if s.Linux.CgroupsPath != "" {
		changed = append(changed, "a cgroup of the test's instead of "+s.Linux.CgroupsPath)
		s.Linux.CgroupsPath = ""
	}
	return changed
}

// apparmorLoaded tells whether AppArmor is on and has the profile loaded.
func apparmorLoaded(profile string) bool {
	on, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	if err != nil || strings.TrimSpace(string(on)) != "Y" {
		return false
	}
	loaded, err := os.ReadFile("/sys/kernel/security/apparmor/profiles")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(loaded), "\n") {
		if name, _, _ := strings.Cut(l, " ("); name == profile {
			return true
		}
	}
	return false
}

// replayClientConfigs replays every config of files as its own subtest.
func replayClientConfigs(t *testing.T, files []string) {
	runc, runcNew, _ := findPeers()
	if runcNew != nil {
		runc = runcNew
	}
	if runc == nil {
		t.Skip("needs runc as the reference (scripts/setup.sh installs it; scripts/peers.sh builds runc 1.4)")
	}
	parent := fmt.Sprintf("/miniruntime-captured-%d", os.Getpid())
	t.Cleanup(func() {
		for _, h := range cgroupHierarchies() {
			os.Remove(filepath.Join(h, parent))
		}
	})
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			s := readClientConfig(t, file)
			bundle := t.TempDir()
			if err := images.Busybox(filepath.Join(bundle, "rootfs")); err != nil {
				t.Fatal(err)
			}
			changed := replayable(s)
			// Each runtime gets a cgroup of its own under the test's
			// parent, as a pod's containers are under the pod's: a CRI
			// sandbox's cpu.shares of 2 next to the host's busy top-level
			// groups would starve it.
			leaf := parent + "/" + sanitize(t.Name())
			runIn := func(path, cgroup string) result {
				s.Linux.CgroupsPath = cgroup
				writeBundleSpec(t, bundle, s)
				r := runUnder(t, path, bundle)
				for _, h := range cgroupHierarchies() {
					if _, err := os.Stat(filepath.Join(h, cgroup)); err == nil {
						t.Errorf("leak: cgroup %s%s after %s", h, cgroup, path)
						os.Remove(filepath.Join(h, cgroup))
					}
				}
				return r
			}
			want := runIn(runc.path, leaf+"-runc")
			r := runIn(binary, leaf+"-miniruntime")
			if r.code != want.code {
				t.Fatalf("exit status %d, %s's %d\nminiruntime stderr: %s\n%s stderr: %s", r.code, runc.name, want.code, r.stderr, runc.name, want.stderr)
			}
			if r.code != 0 || !strings.Contains(r.stdout, "CapBnd:") {
				t.Fatalf("the probe did not run under either runtime: exit %d, stderr %q", r.code, r.stderr)
			}
			if r.stdout != want.stdout {
				diff := lineDiff(want.stdout, r.stdout)
				got, exp, known := withoutKnownDifferences(s, r.stdout, want.stdout)
				if got != exp {
					t.Fatalf("the probe's output differs from %s's (- %s, + miniruntime):\n%s", runc.name, runc.name, diff)
				}
				t.Logf("known differences from %s: %s (- %s, + miniruntime):\n%s", runc.name, strings.Join(known, "; "), runc.name, diff)
			}
			t.Logf("same as %s; replayed with %s", runc.name, strings.Join(changed, ", "))
			if e := strings.TrimSpace(r.stderr); e != "" {
				t.Logf("miniruntime stderr: %s", e)
			}
		})
	}
}

// TestClientConfigs replays the committed corpus (tests/clients/configs).
func TestClientConfigs(t *testing.T) {
	needRoot(t)
	replayClientConfigs(t, clientConfigs(t, committedClientConfigs))
}

// TestCapturedConfigs replays a fresh capture of scripts/clients-test.sh.
func TestCapturedConfigs(t *testing.T) {
	dir := os.Getenv("MINIRUNTIME_CAPTURED_CONFIGS")
	if dir == "" {
		t.Skip("MINIRUNTIME_CAPTURED_CONFIGS is not set: capture with `scripts/clients-test.sh --capture-configs DIR`, then set it to DIR")
	}
	needRoot(t)
	replayClientConfigs(t, clientConfigs(t, dir))
}

// TestClientConfigCorpus checks the committed corpus itself, without root:
// one config of each client and kind, each as the client wrote it (the
// client's own marks still there), with no path of the capturing run's
// temp dir or its process id left in it.
func TestClientConfigCorpus(t *testing.T) {
	files := clientConfigs(t, committedClientConfigs)
	kinds := map[string]func(*specs.Spec) bool{
		"ctr": func(s *specs.Spec) bool { return s.Root.Path == "rootfs" && s.Process.NoNewPrivileges },
		"cri-sandbox": func(s *specs.Spec) bool {
			return s.Annotations["io.kubernetes.cri.container-type"] == "sandbox"
		},
		"cri-container": func(s *specs.Spec) bool {
			return s.Annotations["io.kubernetes.cri.container-type"] == "container"
		},
		"podman": func(s *specs.Spec) bool {
			return s.Annotations["io.container.manager"] == "libpod" && s.Linux.Seccomp != nil
		},
	}
	tempDir := regexp.MustCompile(`/tmp/mrclients\.[A-Za-z0-9]{6}/`)
	runPid := regexp.MustCompile(`mrclients[-_][0-9]+`)
	seen := map[string]int{}
	for _, file := range files {
		base := filepath.Base(file)
		s := readClientConfig(t, file)
		kind := ""
		for k := range kinds {
			named := strings.HasPrefix(base, k+"-") || strings.HasPrefix(base, k+".")
			if named && (kind == "" || len(k) > len(kind)) {
				kind = k
			}
		}
		if kind == "" {
			t.Errorf("%s: the name does not say the client (ctr-, cri-sandbox-, cri-container-, podman-)", base)
			continue
		}
		if !kinds[kind](s) {
			t.Errorf("%s: does not look like a %s config", base, kind)
		}
		seen[kind]++
		raw, _ := os.ReadFile(file)
		if loc := runPid.Find(raw); loc != nil {
			t.Errorf("%s: still names the capturing run's prefix %s (mrclients-PID)", base, loc)
		}
		for _, loc := range tempDir.FindAll(raw, -1) {
			if string(loc) != "/tmp/mrclients.XXXXXX/" {
				t.Errorf("%s: still names the capturing run's temp dir %s", base, loc)
				break
			}
		}
	}
	for k := range kinds {
		if seen[k] == 0 {
			t.Errorf("the corpus has no %s config", k)
		}
	}
}

// knownDifferences are the ways miniruntime's containers are known to
// differ from runc's for these configs, as the probe sees them. Each is
// taken out of both outputs before they are compared, and logged; drop an
// entry once the runtime matches runc.
var knownDifferences = []struct {
	what      string
	applies   func(s *specs.Spec) bool // nil: to every config
	normalize func(lines []string) []string
}{
	{
		// runc's read-only remount of / is MS_BIND|MS_REMOUNT|MS_RDONLY
		// alone, which clears the nosuid and nodev the bind inherited from
		// the bundle's filesystem (a tmpfs /tmp in the guests).
		"a read-only root keeps the nosuid and nodev of the filesystem the bundle is on (runc: its read-only remount clears them)",
		func(s *specs.Spec) bool { return s.Root != nil && s.Root.Readonly },
		func(lines []string) []string {
			for i, l := range lines {
				if rest, ok := strings.CutPrefix(l, "mount / "); ok {
					opts, tail, _ := strings.Cut(rest, " ")
					opts = strings.Join(slices.DeleteFunc(strings.Split(opts, ","), func(o string) bool { return o == "nosuid" || o == "nodev" }), ",")
					lines[i] = "mount / " + opts + " " + tail
				}
			}
			return lines
		},
	},
}

// withoutKnownDifferences takes the known differences out of both outputs
// and names those that changed either.
func withoutKnownDifferences(s *specs.Spec, got, want string) (string, string, []string) {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	var applied []string
	for _, k := range knownDifferences {
		if k.applies != nil && !k.applies(s) {
			continue
		}
		g2, w2 := k.normalize(slices.Clone(g)), k.normalize(slices.Clone(w))
		if diffLines(g2, w2) < diffLines(g, w) {
			applied = append(applied, k.what)
		}
		g, w = g2, w2
	}
	return strings.Join(g, "\n"), strings.Join(w, "\n"), applied
}

// lineDiff shows the lines of b that are not in a (+) and those of a that
// are not in b (-), in order, around their longest common subsequence.
func lineDiff(a, b string) string {
	out, _ := diff(strings.Split(a, "\n"), strings.Split(b, "\n"))
	return out
}

// diffLines is the number of lines lineDiff shows.
func diffLines(a, b []string) int {
	_, n := diff(a, b)
	return n
}

func diff(x, y []string) (string, int) {
	// lcs[i][j]: the longest common subsequence of x[i:] and y[j:].
	lcs := make([][]int, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out strings.Builder
	n := 0
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		switch {
		case i < len(x) && j < len(y) && x[i] == y[j]:
			i, j = i+1, j+1
		case j < len(y) && (i == len(x) || lcs[i][j+1] >= lcs[i+1][j]):
			out.WriteString("+ " + y[j] + "\n")
			j, n = j+1, n+1
		default:
			out.WriteString("- " + x[i] + "\n")
			i, n = i+1, n+1
		}
	}
	return out.String(), n
}
