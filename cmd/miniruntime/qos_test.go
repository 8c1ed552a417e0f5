package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miniruntime/miniruntime/cgroups"
)

const qosExamples = "../../examples/qos"

// qosRun runs the binary (no --root needed: qos touches no state) with a
// bounded time.
func qosRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	cmd.Wait()
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

func TestQosTable(t *testing.T) {
	r := qosRun(t, "", "qos", "-f", filepath.Join(qosExamples, "burstable.yaml"), "--node-memory", "384Mi", "--node-cpu", "2", "--cgroup-driver", "cgroupfs")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// requests 500m/64Mi, limits 2/256Mi: 512 shares (cpu.weight 59, or
	// linear 20 on the pod cgroup), quota 200000; memory.high =
	// floor((64Mi + 0.9·192Mi)/4096)·4096 = 248299520; oom_score_adj on a
	// 384Mi node = 1000 − 1000·64/384 (166.7) = 834.
	for _, want := range []string{
		"QoS class: Burstable",
		"Node: 2 CPU, 384Mi memory",
		"/kubepods/burstable/pod6f1c2a3e-0000-4000-8000-00000000000b\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	rows := map[string]string{}
	for line := range strings.SplitSeq(r.stdout, "\n") {
		if f := strings.Fields(line); len(f) == 12 { // cpu.max is two words

			rows[f[0]] = strings.Join(f[1:], " ")
		}
	}
	if got, want := rows["pod"], "500m/64Mi 2/256Mi 512 20 59/20 200000 100000 268435456 67108864 max -"; got != want {
		t.Errorf("pod row %q, want %q", got, want)
	}
	if got, want := rows["app"], "500m/64Mi 2/256Mi 512 59 59/20 200000 100000 268435456 67108864 248299520 834"; got != want {
		t.Errorf("app row %q, want %q", got, want)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
}

type qosJSON struct {
	Class      string         `json:"qosClass"`
	UID        string         `json:"uid"`
	Cgroup     map[string]any `json:"cgroup"`
	Containers []struct {
		Name   string         `json:"name"`
		Adj    int            `json:"oomScoreAdj"`
		Cgroup map[string]any `json:"cgroup"`
	} `json:"containers"`
}

func TestQosJSON(t *testing.T) {
	r := qosRun(t, "", "qos", "--cpu-request", "250m", "--cpu-limit", "500m", "--memory-request", "64Mi",
		"--memory-limit", "128Mi", "--node-memory", "8Gi", "--node-cpu", "4", "--cgroup-driver", "cgroupfs", "--format", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var q qosJSON
	if err := json.Unmarshal([]byte(r.stdout), &q); err != nil {
		t.Fatalf("%v in %q", err, r.stdout)
	}
	c := q.Containers[0].Cgroup
	// 250m → 256 shares: weight 35 (quadratic), 10 (linear, the pod's);
	// 1000 − 1000·64Mi/8Gi (7.8) = 993; memory.high 127504384.
	if q.Class != "Burstable" || q.Cgroup["cpu.weight"] != 10.0 || c["cpu.weight"] != 35.0 || c["cpu.weight.linear"] != 10.0 ||
		c["cpu.max"] != "50000 100000" || c["memory.max"] != "134217728" || c["memory.min"] != "67108864" ||
		c["memory.high"] != "127504384" || q.Containers[0].Adj != 993 ||
		!strings.HasPrefix(c["path"].(string), "/kubepods/burstable/pod"+q.UID+"/") {
		t.Errorf("json %s", r.stdout)
	}

	// The same pod from standard input, as JSON.
	pod := `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"name": "main",
	  "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}}}]}}`
	r = qosRun(t, pod, "qos", "-f", "-", "--node-memory", "8Gi", "--cgroup-driver", "cgroupfs", "--format", "json")
	var q2 qosJSON
	if err := json.Unmarshal([]byte(r.stdout), &q2); err != nil || r.code != 0 {
		t.Fatalf("stdin: exit %d %v: %s", r.code, err, r.stderr)
	}
	if q2.Containers[0].Cgroup["memory.high"] != "127504384" || q2.Containers[0].Adj != 993 {
		t.Errorf("stdin: %s", r.stdout)
	}
}

// Bad input: exit status 1 and one line, "miniruntime qos: ..." naming the
// field or flag.
func TestQosBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	deploy := write("deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 2}\n")
	badType := write("badtype.yaml", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: app\n    resources:\n      limits:\n        cpu: {much: true}\n")
	badQty := write("badqty.yaml", "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: app\n    resources:\n      requests: {memory: 64MB}\n")
	above := write("above.json", `{"kind": "Pod", "spec": {"containers": [{"name": "app", "resources": {"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}}}]}}`)
	typo := write("typo.yaml", "kind: Pod\nspec:\n  containers:\n  - name: app\n    resources:\n      limit: {cpu: 1}\n")
	good := filepath.Join(qosExamples, "guaranteed.yaml")
	noBundle := filepath.Join(dir, "nobundle")
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"invalid quantity flag", []string{"qos", "--cpu-request", "1.5 cores"}, "", `miniruntime qos: --cpu-request: "1.5 cores" is not a quantity`},
		{"request above limit flag", []string{"qos", "--memory-request", "256Mi", "--memory-limit", "128Mi"}, "", "miniruntime qos: --memory-request: 256Mi is above --memory-limit 128Mi"},
		{"negative flag", []string{"qos", "--cpu-limit", "-1"}, "", "miniruntime qos: --cpu-limit: -1 is negative"},
		{"not a pod", []string{"qos", "-f", deploy}, "", "miniruntime qos: " + deploy + ": kind: Deployment is not a Pod"},
		{"wrong field type", []string{"qos", "-f", badType}, "", "miniruntime qos: " + badType + ": spec.containers[0].resources.limits.cpu: expected a quantity such as 250m or 64Mi, got a mapping"},
		{"invalid quantity in file", []string{"qos", "-f", badQty}, "", `spec.containers[0].resources.requests.memory: "64MB" is not a quantity`},
		{"request above limit in file", []string{"qos", "-f", above}, "", "spec.containers[0].resources.requests.memory: 1Gi is above the limit 512Mi"},
		{"unknown resources field", []string{"qos", "-f", typo}, "", "spec.containers[0].resources.limit: unknown field"},
		{"stdin is not YAML", []string{"qos", "-f", "-"}, "kind: Pod\n  x: [", "miniruntime qos: stdin: not YAML or JSON"},
		{"stdin is a list", []string{"qos", "-f", "-"}, "[1, 2]", "miniruntime qos: stdin: not a Pod"},
		{"missing file", []string{"qos", "-f", filepath.Join(dir, "nope.yaml")}, "", "miniruntime qos: -f: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		{"file and flags", []string{"qos", "-f", good, "--cpu-limit", "1"}, "", "miniruntime qos: give either -f or the --cpu-/--memory- flags, not both"},
		{"bad format", []string{"qos", "--format", "yaml"}, "", `miniruntime qos: --format: "yaml" is not table or json`},
		{"bad node memory", []string{"qos", "--node-memory", "lots"}, "", `miniruntime qos: --node-memory: "lots" is not a quantity`},
		{"zero node cpu", []string{"qos", "--node-cpu", "0"}, "", "miniruntime qos: --node-cpu: must be above zero"},
		{"container without bundle", []string{"qos", "--container", "app"}, "", "miniruntime qos: --container: only with --write-bundle"},
		{"bundle without config", []string{"qos", "-f", good, "--write-bundle", noBundle}, "", "miniruntime qos: --write-bundle: open " + noBundle + "/config.json: no such file or directory"},
		{"unknown container", []string{"qos", "-f", good, "--write-bundle", noBundle, "--container", "db"}, "", `miniruntime qos: --container: no such container "db" in pod guaranteed`},
		{"stray argument", []string{"qos", "pod.yaml"}, "", "miniruntime qos: unknown command"},
		{"lab without pods", []string{"qos", "lab", "--dir", dir + "/none"}, "", "--dir: open " + dir + "/none: no such file or directory"},
		{"lab bad interval", []string{"qos", "lab", "--interval", "1ms"}, "", "--interval: 1ms is not between 10ms and 10s"},
		{"unknown driver", []string{"qos", "--cgroup-driver", "systemdd"}, "", `miniruntime qos: --cgroup-driver: "systemdd" is not systemd or cgroupfs`},
		{"lab unknown driver", []string{"qos", "lab", "--cgroup-driver", "Systemd"}, "", `miniruntime qos lab: --cgroup-driver: "Systemd" is not systemd or cgroupfs`},
		{"lab chart format", []string{"qos", "lab", "--chart", dir + "/lab.pdf"}, "", "miniruntime qos lab: --chart " + dir + "/lab.pdf: .pdf is not a chart format; the name must end in .png or .svg"},
		{"lab chart without extension", []string{"qos", "lab", "--chart", dir + "/lab"}, "", "miniruntime qos lab: --chart " + dir + "/lab: no file extension; the name must end in .png or .svg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := qosRun(t, tc.stdin, tc.args...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if r.code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 1 and one line with %q", r.code, r.stderr, tc.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q", r.stdout)
			}
		})
	}
}

// The systemd driver's names beside the cgroupfs ones, in the table and
// the JSON; the default says which driver it took and why.
func TestQosCgroupDriver(t *testing.T) {
	const uid, uidSD = "6f1c2a3e-0000-4000-8000-00000000000b", "6f1c2a3e_0000_4000_8000_00000000000b"
	const slice = "kubepods-burstable-pod" + uidSD + ".slice"
	const podDir = "/kubepods.slice/kubepods-burstable.slice/" + slice
	burstable := filepath.Join(qosExamples, "burstable.yaml")
	r := qosRun(t, "", "qos", "-f", burstable, "--node-memory", "384Mi", "--cgroup-driver", "systemd")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Cgroup driver: systemd (--cgroup-driver systemd)\n",
		"Cgroups with the systemd driver",
		"  pod  " + podDir + "\n",
		"  app  " + podDir + "/cri-containerd-",
		"  pod  " + slice + " ",
		"CPUWeight=20 CPUQuota=200% MemoryMax=268435456\n",
		"  app  systemd   " + slice + ":cri-containerd:",
		"       cgroupfs  /kubepods/burstable/pod" + uid + "/",
		"(the runtime runs with --systemd-cgroup)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("systemd table lacks %q:\n%s", want, r.stdout)
		}
	}

	r = qosRun(t, "", "qos", "-f", burstable, "--node-memory", "384Mi", "--cgroup-driver", "systemd", "--format", "json")
	var q struct {
		Driver     string `json:"cgroupDriver"`
		Cgroup     struct{ Path string }
		Containers []struct {
			ID          string `json:"id"`
			CgroupsPath string `json:"cgroupsPath"`
			Drivers     struct {
				Cgroupfs, Systemd struct {
					Path, CgroupsPath, Unit string
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &q); err != nil || r.code != 0 {
		t.Fatalf("json: exit %d %v: %s %s", r.code, err, r.stderr, r.stdout)
	}
	c := q.Containers[0]
	if q.Driver != "systemd" || q.Cgroup.Path != podDir || c.CgroupsPath != slice+":cri-containerd:"+c.ID ||
		c.Drivers.Systemd.Path != podDir+"/cri-containerd-"+c.ID+".scope" || c.Drivers.Systemd.Unit != "cri-containerd-"+c.ID+".scope" ||
		c.Drivers.Cgroupfs.CgroupsPath != "/kubepods/burstable/pod"+uid+"/"+c.ID {
		t.Errorf("json %s", r.stdout)
	}

	// The default: the kubelet's configuration, else whether systemd is
	// PID 1.
	r = qosRun(t, "", "qos", "-f", burstable, "--node-memory", "384Mi")
	_, kubelet := os.Stat("/var/lib/kubelet/config.yaml")
	_, systemd := os.Stat("/run/systemd/system")
	if r.code != 0 || !strings.Contains(r.stdout, "Cgroup driver: ") {
		t.Errorf("default: exit %d %s\n%s", r.code, r.stderr, r.stdout)
	}
	if kubelet != nil && systemd != nil && !strings.Contains(r.stdout, "Cgroup driver: cgroupfs (no kubelet configuration at /var/lib/kubelet/config.yaml, and systemd is not PID 1") {
		t.Errorf("default on a host without kubelet and systemd:\n%s", r.stdout)
	}
}

// With systemd the bundle gets "slice:prefix:name" and the output says how
// to run it.
func TestQosWriteBundleSystemd(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := qosRun(t, "", "qos", "-f", filepath.Join(qosExamples, "guaranteed.yaml"), "--cgroup-driver", "systemd", "--write-bundle", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Linux struct {
			CgroupsPath string `json:"cgroupsPath"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	const slice = "kubepods-pod6f1c2a3e_0000_4000_8000_00000000000a.slice"
	if !strings.HasPrefix(spec.Linux.CgroupsPath, slice+":cri-containerd:") {
		t.Errorf("cgroupsPath %q", spec.Linux.CgroupsPath)
	}
	for _, want := range []string{
		"cgroup driver: systemd):\n",
		"linux.cgroupsPath                        " + slice + ":cri-containerd:",
		"miniruntime --systemd-cgroup run -b " + dir + " <id>",
		"in the slice\n" + slice + " ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil && !strings.Contains(r.stdout, "systemd is not running on this host") {
		t.Errorf("no word that --systemd-cgroup fails here:\n%s", r.stdout)
	}
}

// Without systemd the lab's systemd driver fails with one line, before it
// makes anything.
func TestQosLabSystemdNeedsSystemd(t *testing.T) {
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		t.Skip("systemd runs here")
	}
	before := labLeftovers()
	r := qosRun(t, "", "qos", "lab", "--dir", qosExamples, "--cgroup-driver", "systemd")
	want := "miniruntime qos lab: --cgroup-driver systemd: systemd is not running on this host (no /run/systemd/system), and the lab's cgroups would be systemd slice units; use --cgroup-driver cgroupfs\n"
	if r.code != 1 || r.stderr != want || r.stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", r.code, r.stdout, r.stderr, want)
	}
	if after := labLeftovers(); after != before {
		t.Errorf("left behind: %q (before: %q)", after, before)
	}
}

// qos --write-bundle, then run: the kernel shows the values from inside.
func TestQosWriteBundleRun(t *testing.T) {
	e := newEnv(t)
	mode, err := cgroups.DetectMode("")
	if err != nil {
		t.Fatal(err)
	}
	e.spec.Process.Args = []string{"sh", "-c", `cat /proc/self/oom_score_adj
if [ -f /sys/fs/cgroup/memory.max ]; then
  cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.min /sys/fs/cgroup/memory.high
else
  cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares
fi`}
	e.writeSpec()
	out := e.ok("qos", "--cpu-request", "250m", "--cpu-limit", "500m", "--memory-request", "64Mi", "--memory-limit", "128Mi",
		"--node-memory", "8Gi", "--cgroup-driver", "cgroupfs", "--write-bundle", e.bundle)
	if !strings.Contains(out, "process.oomScoreAdj                      993") {
		t.Errorf("qos output:\n%s", out)
	}
	raw, err := os.ReadFile(filepath.Join(e.bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Process struct {
			OOMScoreAdj int `json:"oomScoreAdj"`
		} `json:"process"`
		Linux struct {
			CgroupsPath string `json:"cgroupsPath"`
			Resources   struct {
				Unified map[string]string `json:"unified"`
			} `json:"resources"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	if spec.Process.OOMScoreAdj != 993 || !strings.HasPrefix(spec.Linux.CgroupsPath, "/kubepods/burstable/pod") {
		t.Errorf("config.json: %s", raw)
	}
	if (mode == cgroups.Unified) != (spec.Linux.Resources.Unified["memory.min"] == "67108864") {
		t.Errorf("mode %s, unified %v", mode, spec.Linux.Resources.Unified)
	}
	// Run it under the test's own cgroup parent (the kubepods layout below
	// it), so that the test leaves no /kubepods behind; the cleanup removes
	// the parents the container's cgroup needed.
	kube := e.cgroup + spec.Linux.CgroupsPath
	raw = bytes.Replace(raw, []byte(`"cgroupsPath": "`+spec.Linux.CgroupsPath), []byte(`"cgroupsPath": "`+kube), 1)
	if err := os.WriteFile(filepath.Join(e.bundle, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeParents(t, e.cgroup) })
	r := e.mr("run", "-b", e.bundle, "qos1")
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	got := strings.Fields(r.stdout)
	// oom_score_adj 1000 − 1000·64Mi/8Gi = 993; 128Mi; 500m → 50000 µs.
	want := []string{"993", "134217728", "50000", "256"}
	if mode == cgroups.Unified {
		want = []string{"993", "134217728", "50000", "100000", "67108864", "127504384"}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("inside the container: %q, want %q", got, want)
	}
}

// removeParents removes parent and the empty cgroups under it, deepest
// first. A cgroup with a process in it cannot be removed, so a real leak
// still shows.
func removeParents(t *testing.T, parent string) {
	for _, h := range cgroupHierarchies() {
		var dirs []string
		filepath.WalkDir(filepath.Join(h, parent), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil {
				t.Errorf("remove %s: %v", dirs[i], err)
			}
		}
	}
}

// The lab with short phases: three rows, BestEffort OOM-killed and
// Guaranteed not, and nothing left behind.
func TestQosLab(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("runs containers for several seconds")
	}
	csvPath := filepath.Join(t.TempDir(), "lab.csv")
	before := labLeftovers()
	start := time.Now()
	r := qosRun(t, "", "qos", "lab", "--dir", qosExamples, "--cpu-seconds", "1.5", "--memory-seconds", "10", "--interval", "100ms", "--csv", csvPath)
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	t.Logf("%s\n%s", time.Since(start), r.stdout)
	if !strings.Contains(r.stderr, "cgroup mode: ") {
		t.Errorf("the lab did not say which cgroup mode it uses: %s", r.stderr)
	}
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 4 {
		t.Fatalf("csv: %v, %d records", err, len(recs))
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	byClass := map[string][]string{}
	for _, rec := range recs[1:] {
		byClass[rec[col["qos_class"]]] = rec
	}
	if len(byClass) != 3 {
		t.Fatalf("classes %v", byClass)
	}
	if byClass["BestEffort"][col["oom_kills"]] == "0" {
		t.Errorf("BestEffort was not OOM-killed:\n%s", r.stdout)
	}
	if byClass["Guaranteed"][col["oom_kills"]] != "0" {
		t.Errorf("Guaranteed was OOM-killed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "BestEffort (besteffort/app) was OOM-killed first") {
		t.Errorf("verdict:\n%s", r.stdout)
	}
	if after := labLeftovers(); after != before {
		t.Errorf("left behind: %q (before: %q)", after, before)
	}
}

// chartHelper points the binary at a miniruntime-chart: the one beside a
// binary built elsewhere (MINIRUNTIME_TEST_BINARY, as in the guests, which
// compile nothing), else one built for the test.
func chartHelper(t *testing.T) {
	t.Helper()
	if b := os.Getenv("MINIRUNTIME_TEST_BINARY"); b != "" {
		p := filepath.Join(filepath.Dir(b), "miniruntime-chart")
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no miniruntime-chart beside %s (scripts/setup.sh builds it)", b)
		}
		t.Setenv("MINIRUNTIME_CHART_HELPER", p)
		return
	}
	p := filepath.Join(t.TempDir(), "miniruntime-chart")
	if out, err := exec.Command("go", "build", "-tags", "minimal", "-o", p, "../miniruntime-chart").CombinedOutput(); err != nil {
		t.Fatalf("build miniruntime-chart: %v\n%s", err, out)
	}
	t.Setenv("MINIRUNTIME_CHART_HELPER", p)
}

// A short lab with --chart: the PNG decodes, the samples cover both
// phases, the table has a sparkline per container, and nothing is left
// behind. A helper that is not there fails before the lab runs.
func TestQosLabChart(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("runs containers for a few seconds")
	}
	dir := t.TempDir()
	t.Setenv("MINIRUNTIME_CHART_HELPER", filepath.Join(dir, "missing"))
	r := qosRun(t, "", "qos", "lab", "--dir", qosExamples, "--chart", filepath.Join(dir, "no.png"))
	if r.code != 1 || !strings.HasPrefix(r.stderr, "miniruntime qos lab: --chart: $MINIRUNTIME_CHART_HELPER: stat "+dir+"/missing: no such file or directory\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("missing helper: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "no.png")); err == nil {
		t.Error("a chart file was made without a helper")
	}

	chartHelper(t)
	chart, samples := filepath.Join(dir, "lab.png"), filepath.Join(dir, "samples.csv")
	before := labLeftovers()
	start := time.Now()
	r = qosRun(t, "", "qos", "lab", "--dir", qosExamples, "--cpu-seconds", "0.5", "--memory-seconds", "4", "--interval", "50ms",
		"--chart", chart, "--samples-csv", samples)
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	t.Logf("%s\n%s", time.Since(start), r.stdout)
	f, err := os.Open(chart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the chart is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
		t.Errorf("chart size %v", b)
	}
	if !strings.Contains(r.stderr, "qos lab: drew "+chart) {
		t.Errorf("stderr: %s", r.stderr)
	}
	data, err := os.ReadFile(samples)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	phases := map[string]int{}
	for _, rec := range recs[1:] {
		phases[rec[2]+" "+rec[3]]++
	}
	for _, class := range []string{"Guaranteed", "Burstable", "BestEffort"} {
		for _, phase := range []string{"cpu", "memory"} {
			if phases[class+" "+phase] < 2 {
				t.Errorf("%s has %d samples in the %s phase", class, phases[class+" "+phase], phase)
			}
		}
	}
	// A sparkline in each row: block characters after the OOM KILLS column.
	if n := len(regexp.MustCompile(`(?m)/app .*[▁▂▃▄▅▆▇█]+ *$`).FindAllString(r.stdout, -1)); n != 3 {
		t.Errorf("%d rows with a sparkline:\n%s", n, r.stdout)
	}
	if after := labLeftovers(); after != before {
		t.Errorf("left behind: %q (before: %q)", after, before)
	}
}

// The lab with the systemd driver, where systemd is PID 1 (the QEMU guest
// of scripts/vm-test.sh --systemd): its tree is slice units with the
// kubelet's properties, its containers are scopes in them, nothing stays
// listed afterwards, and a lab killed halfway is stopped by the next one.
func TestQosLabSystemd(t *testing.T) {
	needRoot(t)
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() {
		t.Skip("needs systemd as PID 1: run in scripts/vm-test.sh --systemd")
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		t.Skip("checks cgroup v2 properties; this host is not pure cgroup v2")
	}
	if testing.Short() {
		t.Skip("runs containers for several seconds")
	}
	before := labLeftovers()
	// TestQosLab checks the lesson (which class is OOM-killed); this one
	// the systemd units, so its memory phase is short.
	r := qosRun(t, "", "--trace", "qos", "lab", "--cgroup-driver", "systemd", "--dir", qosExamples, "--cpu-seconds", "1", "--memory-seconds", "3", "--interval", "100ms")
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	t.Logf("%s", r.stdout)
	lab := regexp.MustCompile(`lab cgroup /(miniruntime_qoslab_[0-9]+_[0-9a-f]+)\.slice;`).FindStringSubmatch(r.stderr)
	if lab == nil {
		t.Fatalf("no lab slice named:\n%s", r.stderr)
	}
	// 2 CPUs: 2048 shares, linear weight 79; the node's 384Mi. The
	// Guaranteed pod: 1024 shares (39), 1 CPU (100%), 128Mi.
	for _, want := range []string{
		"start slice unit " + lab[1] + ".slice ",
		"start slice unit " + lab[1] + "-kubepods.slice $ systemctl set-property --runtime " + lab[1] + "-kubepods.slice",
		"MemoryMax=402653184 CPUWeight=79 ",
		"start slice unit " + lab[1] + "-kubepods-burstable.slice ",
		"start slice unit " + lab[1] + "-kubepods-besteffort.slice ",
		"start slice unit " + lab[1] + "-kubepods-pod6f1c2a3e_0000_4000_8000_00000000000a.slice ",
		"MemoryMax=134217728 CPUQuotaPeriodSec=100000us CPUQuota=100% CPUWeight=39 ",
		"start scope unit cri-containerd-qoslab-",
		"--slice=" + lab[1] + "-kubepods-besteffort-pod6f1c2a3e_0000_4000_8000_00000000000c.slice",
		"stop unit " + lab[1] + ".slice",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("trace lacks %q", want)
		}
	}
	if !strings.Contains(r.stdout, "systemd driver, under /"+lab[1]+".slice") || strings.Count(r.stdout, "/app ") != 3 {
		t.Errorf("lab:\n%s", r.stdout)
	}
	units := func() string {
		out, _ := exec.Command("systemctl", "list-units", "--all", "--plain", "--no-legend", "miniruntime_qoslab_*", "cri-containerd-qoslab-*").Output()
		return strings.TrimSpace(string(out))
	}
	if u := units(); u != "" {
		t.Errorf("units left:\n%s", u)
	}
	if after := labLeftovers(); after != before {
		t.Errorf("left behind: %q (before: %q)", after, before)
	}

	// A lab killed in its CPU phase leaves its slice and scopes running;
	// the next lab stops them.
	killed := exec.Command(binary, "qos", "lab", "--cgroup-driver", "systemd", "--dir", qosExamples, "--cpu-seconds", "60")
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	scopes := fmt.Sprintf("cri-containerd-qoslab-%d-*", killed.Process.Pid)
	for i := 0; ; i++ {
		out, _ := exec.Command("systemctl", "list-units", "--plain", "--no-legend", "--state=running", scopes).Output()
		if strings.Count(string(out), ".scope") == 3 {
			break
		}
		if i == 600 {
			killed.Process.Kill()
			killed.Wait()
			t.Fatalf("the lab to kill did not start its 3 containers: %s", units())
		}
		time.Sleep(100 * time.Millisecond)
	}
	killed.Process.Kill()
	killed.Wait()
	r = qosRun(t, "", "qos", "lab", "--cgroup-driver", "systemd", "--dir", qosExamples, "--cpu-seconds", "0.5", "--memory-seconds", "1", "--interval", "100ms")
	want := fmt.Sprintf("qos lab: removed /miniruntime_qoslab_%d_", killed.Process.Pid)
	if r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d; stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
	if u := units(); u != "" {
		t.Errorf("units left after the sweep:\n%s", u)
	}
	if after := labLeftovers(); after != before {
		t.Errorf("left behind after the sweep: %q (before: %q)", after, before)
	}
}

// labLeftovers lists what a lab could leave: its cgroups, temp dirs and
// processes.
func labLeftovers() string {
	var out []string
	for _, h := range cgroupHierarchies() {
		m, _ := filepath.Glob(filepath.Join(h, "miniruntime-qoslab-*"))
		out = append(out, m...)
		m, _ = filepath.Glob(filepath.Join(h, "miniruntime_qoslab_*")) // the systemd driver's slice
		out = append(out, m...)
	}
	m, _ := filepath.Glob(filepath.Join(os.TempDir(), "miniruntime-qoslab-*"))
	out = append(out, m...)
	if p, _ := exec.Command("pgrep", "-f", "miniruntime-qoslab-").Output(); len(p) > 0 {
		out = append(out, "processes: "+strings.TrimSpace(string(p)))
	}
	return strings.Join(out, " ")
}

// The sparklines fall back to ASCII only where the locale says it is not
// UTF-8; LC_ALL overrides LC_CTYPE, which overrides LANG.
func TestUTF8Locale(t *testing.T) {
	for _, tc := range []struct {
		all, ctype, lang string
		want             bool
	}{
		{"", "", "", true},
		{"", "", "C.UTF-8", true},
		{"", "", "en_US.utf8", true},
		{"", "", "C", false},
		{"", "POSIX", "en_US.UTF-8", false},
		{"de_DE.UTF-8", "C", "C", true},
		{"C", "", "en_US.UTF-8", false},
	} {
		t.Setenv("LC_ALL", tc.all)
		t.Setenv("LC_CTYPE", tc.ctype)
		t.Setenv("LANG", tc.lang)
		if got := utf8Locale(); got != tc.want {
			t.Errorf("LC_ALL=%q LC_CTYPE=%q LANG=%q: %t, want %t", tc.all, tc.ctype, tc.lang, got, tc.want)
		}
	}
}

// gonum/plot stays out of the runtime binary: its package init (fonts
// parsed) would cost every start of it (docs/qos.md); the charts are drawn
// by miniruntime-chart.
func TestChartNotLinked(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain here (the guests compile nothing)")
	}
	out, err := exec.Command("go", "list", "-tags", "seccomp", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "gonum.org/") || strings.HasSuffix(dep, "/cgroups/qos/chart") {
			t.Errorf("miniruntime links %s", dep)
		}
	}
	if !strings.Contains(string(out), "github.com/miniruntime/miniruntime/cgroups/qos\n") {
		t.Errorf("go list -deps does not list the qos package:\n%s", out)
	}
}
