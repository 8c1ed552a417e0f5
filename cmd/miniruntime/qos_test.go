package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
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
	r := qosRun(t, "", "qos", "-f", filepath.Join(qosExamples, "burstable.yaml"), "--node-memory", "384Mi", "--node-cpu", "2")
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
		"--memory-limit", "128Mi", "--node-memory", "8Gi", "--node-cpu", "4", "--format", "json")
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
	r = qosRun(t, pod, "qos", "-f", "-", "--node-memory", "8Gi", "--format", "json")
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
		"--node-memory", "8Gi", "--write-bundle", e.bundle)
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

// labLeftovers lists what a lab could leave: its cgroups, temp dirs and
// processes.
func labLeftovers() string {
	var out []string
	for _, h := range cgroupHierarchies() {
		m, _ := filepath.Glob(filepath.Join(h, "miniruntime-qoslab-*"))
		out = append(out, m...)
	}
	m, _ := filepath.Glob(filepath.Join(os.TempDir(), "miniruntime-qoslab-*"))
	out = append(out, m...)
	if p, _ := exec.Command("pgrep", "-f", "miniruntime-qoslab-").Output(); len(p) > 0 {
		out = append(out, "processes: "+strings.TrimSpace(string(p)))
	}
	return strings.Join(out, " ")
}
