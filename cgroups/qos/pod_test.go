package qos

import (
	"encoding/json"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Every bad manifest is refused with one line that names the field.
func TestParseErrors(t *testing.T) {
	const head = "kind: Pod\nmetadata: {name: p}\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"not YAML", "kind: Pod\n  spec: [", "not YAML or JSON"},
		{"not a mapping", "- a\n- b\n", "not a Pod: the document is a list"},
		{"no kind", "metadata: {name: p}\nspec: {containers: [{name: a}]}\n", "kind: missing"},
		{"a Deployment", "kind: Deployment\nspec: {}\n", "kind: Deployment is not a Pod"},
		{"a List", "kind: List\nitems: []\n", "kind: List is not a Pod"},
		{"wrong apiVersion", "apiVersion: apps/v1\n" + head + "spec: {containers: [{name: a}]}\n", `apiVersion: "apps/v1"`},
		{"two documents", head + "spec: {containers: [{name: a}]}\n---\n" + head + "spec: {containers: [{name: b}]}\n", "2 YAML documents"},
		{"no spec", head, "spec: missing"},
		{"spec is a string", head + "spec: hello\n", `spec: expected a mapping, got the string "hello"`},
		{"no containers", head + "spec: {}\n", "spec.containers: a Pod needs at least one container"},
		{"containers is a mapping", head + "spec: {containers: {name: a}}\n", "spec.containers: expected a list, got a mapping"},
		{"name is a number", head + "spec: {containers: [{name: 5}]}\n", "spec.containers[0].name: expected a string, got the number 5"},
		{"no name", head + "spec: {containers: [{image: busybox}]}\n", "spec.containers[0].name: missing"},
		{"same name twice", head + "spec: {initContainers: [{name: a}], containers: [{name: a}]}\n", `spec.containers[0].name: "a" is already the name of spec.initContainers[0]`},
		{"typo in resources", head + "spec: {containers: [{name: a, resources: {request: {cpu: 1}}}]}\n", "spec.containers[0].resources.request: unknown field"},
		{"resources is a list", head + "spec: {containers: [{name: a, resources: [1]}]}\n", "spec.containers[0].resources: expected a mapping, got a list"},
		{"requests is a string", head + "spec: {containers: [{name: a, resources: {requests: cpu}}]}\n", "spec.containers[0].resources.requests: expected a mapping"},
		{"unknown resource", head + "spec: {containers: [{name: a, resources: {requests: {cpus: 1}}}]}\n", `spec.containers[0].resources.requests.cpus: unknown resource "cpus"`},
		{"bad hugepages", head + "spec: {containers: [{name: a, resources: {limits: {hugepages-big: 1}}}]}\n", "hugepages-big"},
		{"invalid quantity", head + "spec: {containers: [{name: a, resources: {limits: {memory: 12 apples}}}]}\n", `spec.containers[0].resources.limits.memory: "12 apples" is not a quantity`},
		{"quantity is a list", head + "spec: {containers: [{name: a, resources: {limits: {cpu: [1]}}}]}\n", "spec.containers[0].resources.limits.cpu: expected a quantity such as 250m or 64Mi, got a list"},
		{"quantity is a bool", head + "spec: {containers: [{name: a, resources: {limits: {cpu: true}}}]}\n", "got true"},
		{"negative", head + "spec: {containers: [{name: a, resources: {requests: {memory: -1Mi}}}]}\n", "spec.containers[0].resources.requests.memory: -1Mi is negative"},
		{"request above limit", head + "spec: {containers: [{name: a, resources: {requests: {cpu: 600m}, limits: {cpu: 500m}}}]}\n", "spec.containers[0].resources.requests.cpu: 600m is above the limit 500m"},
		{"init request above limit", head + "spec: {initContainers: [{name: i, resources: {requests: {memory: 2Gi}, limits: {memory: 1Gi}}}], containers: [{name: a}]}\n", "spec.initContainers[0].resources.requests.memory: 2Gi is above the limit 1Gi"},
		{"pod-level resources", head + "spec: {resources: {limits: {cpu: 1}}, containers: [{name: a}]}\n", "spec.resources: pod-level resources"},
		{"overhead", head + "spec: {overhead: {cpu: 1}, containers: [{name: a}]}\n", "spec.overhead"},
		{"init restartPolicy", head + "spec: {initContainers: [{name: i, restartPolicy: OnFailure}], containers: [{name: a}]}\n", "spec.initContainers[0].restartPolicy"},
		{"container restartPolicy", head + "spec: {containers: [{name: a, restartPolicy: Always}]}\n", "spec.containers[0].restartPolicy: only init containers"},
		{"metadata is a list", "kind: Pod\nmetadata: []\nspec: {containers: [{name: a}]}\n", "metadata: expected a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line with %q", err, tc.want)
			}
		})
	}
}

func TestParseAcceptsWhatItIgnores(t *testing.T) {
	doc := `# a full manifest: everything but resources is ignored
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  restartPolicy: Always
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 80}]
    resources:
      requests: {cpu: 100m, memory: 64Mi, example.com/gpu: 1, hugepages-2Mi: 2Mi}
      limits: {cpu: 100m, memory: 64Mi, example.com/gpu: 1, hugepages-2Mi: 2Mi}
      claims: [{name: gpu}]
status: {phase: Running}
`
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(p, testNode)
	if err != nil {
		t.Fatal(err)
	}
	if r.Class != Guaranteed || r.Namespace != "shop" || r.Pod != "web" || !r.UIDGenerated {
		t.Errorf("%+v", r)
	}
}

func TestFromFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		f    FlagValues
		want string
	}{
		{FlagValues{CPURequest: "lots"}, `--cpu-request: "lots" is not a quantity`},
		{FlagValues{MemoryLimit: "-5"}, "--memory-limit: -5 is negative"},
		{FlagValues{CPURequest: "600m", CPULimit: "500m"}, "--cpu-request: 600m is above --cpu-limit 500m"},
		{FlagValues{MemoryRequest: "2Gi", MemoryLimit: "1Gi"}, "--memory-request: 2Gi is above --memory-limit 1Gi"},
	} {
		_, err := FromFlags(tc.f)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.f, err, tc.want)
		}
	}
}

func TestApplyToSpec(t *testing.T) {
	p, err := FromFlags(FlagValues{CPURequest: "250m", CPULimit: "500m", MemoryRequest: "64Mi", MemoryLimit: "128Mi"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(p, testNode)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Container("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Container("nope"); err == nil || !strings.Contains(err.Error(), `--container: no such container "nope"`) {
		t.Errorf("unknown container: %v", err)
	}
	for _, v2 := range []bool{false, true} {
		old := int64(1)
		s := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{Resources: &specs.LinuxResources{
			Pids:    &specs.LinuxPids{Limit: &old},
			Unified: map[string]string{"memory.high": "1", "pids.max": "5"},
		}}}
		lines, err := ApplyToSpec(s, c, v2)
		if err != nil {
			t.Fatal(err)
		}
		res := s.Linux.Resources
		// 250m → 256 shares, 500m → quota 50000, 128Mi, 1000 − 7 (7.8) = 993
		if *res.CPU.Shares != 256 || *res.CPU.Quota != 50000 || *res.CPU.Period != 100000 ||
			*res.Memory.Limit != 134217728 || *s.Process.OOMScoreAdj != 993 || s.Linux.CgroupsPath != c.Cgroup.Path ||
			!strings.HasPrefix(s.Linux.CgroupsPath, "/kubepods/burstable/pod") || *res.Pids.Limit != 1 || res.Unified["pids.max"] != "5" {
			t.Errorf("v2=%t: %s", v2, js(s))
		}
		// memory.high = floor((64Mi + 0.9·64Mi)/4096)·4096 = 127504384
		wantMin, wantHigh := "67108864", "127504384"
		if !v2 {
			wantMin, wantHigh = "", ""
		}
		if res.Unified["memory.min"] != wantMin || res.Unified["memory.high"] != wantHigh {
			t.Errorf("v2=%t: unified %v", v2, res.Unified)
		}
		if len(lines) != 8 {
			t.Errorf("lines %q", lines)
		}
	}

	// A BestEffort container clears what was there.
	be, _ := FromFlags(FlagValues{})
	rb, _ := Compute(be, testNode)
	cb, _ := rb.Container("main")
	q, l := int64(5000), int64(1<<20)
	s := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{Resources: &specs.LinuxResources{
		CPU: &specs.LinuxCPU{Quota: &q}, Memory: &specs.LinuxMemory{Limit: &l}, Unified: map[string]string{"memory.min": "1"},
	}}}
	if _, err := ApplyToSpec(s, cb, true); err != nil {
		t.Fatal(err)
	}
	res := s.Linux.Resources
	if res.CPU.Quota != nil || res.Memory.Limit != nil || res.Unified != nil || *res.CPU.Shares != 2 || *s.Process.OOMScoreAdj != 1000 ||
		!strings.HasPrefix(s.Linux.CgroupsPath, "/kubepods/besteffort/pod") {
		t.Errorf("besteffort: %s", js(s))
	}
	if _, err := ApplyToSpec(&specs.Spec{}, cb, true); err == nil {
		t.Error("a spec without process was accepted")
	}
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestOutput(t *testing.T) {
	p, err := Parse([]byte(`
kind: Pod
metadata: {name: web, uid: 0a0b0c0d-0000-4000-8000-000000000001}
spec:
  initContainers: [{name: setup, resources: {limits: {cpu: 1, memory: 1Gi}}}]
  containers: [{name: app, resources: {requests: {cpu: 250m, memory: 64Mi}, limits: {cpu: 500m, memory: 128Mi}}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(p, testNode)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Pod default/web  uid 0a0b0c0d-0000-4000-8000-000000000001\n",
		"QoS class: Burstable",
		"Node: 4 CPU, 8Gi memory",
		"setup (init)",
		"/kubepods/burstable/pod0a0b0c0d-0000-4000-8000-000000000001\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The pod: max(250m, 1) = 1 CPU → 1024 shares, written linear 39;
	// limits max(500m/128Mi, 1/1Gi) = 1/1Gi → quota 100000.
	for line := range strings.SplitSeq(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "pod" {
			if got := strings.Join(f, " "); got != "pod 1/1Gi 1/1Gi 1024 39 100/39 100000 100000 1073741824 1073741824 max -" {
				t.Errorf("pod row %q", got)
			}
		}
	}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Class  string         `json:"qosClass"`
		Cgroup map[string]any `json:"cgroup"`
		Ctrs   []struct {
			Name   string         `json:"name"`
			Type   string         `json:"type"`
			Adj    int            `json:"oomScoreAdj"`
			Cgroup map[string]any `json:"cgroup"`
		} `json:"containers"`
	}
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	pod := back.Cgroup
	if back.Class != "Burstable" || pod["cpu.shares"] != 1024.0 || pod["cpu.weight"] != 39.0 || pod["cpu.weight.quadratic"] != 100.0 ||
		pod["cpu.weight.formula"] != "linear" || pod["cpu.max"] != "100000 100000" || pod["memory.max"] != "1073741824" {
		t.Errorf("pod cgroup %s", data)
	}
	app := back.Ctrs[1].Cgroup
	if back.Ctrs[1].Name != "app" || back.Ctrs[0].Type != "init" || app["cpu.weight"] != 35.0 || app["cpu.weight.formula"] != "quadratic" ||
		app["memory.high"] != "127504384" || app["memory.min"] != "67108864" || back.Ctrs[1].Adj != 993 {
		t.Errorf("containers %s", data)
	}
}

func TestCountDocuments(t *testing.T) {
	for doc, want := range map[string]int{
		"":                        0,
		"a: 1":                    1,
		"---\na: 1\n":             1,
		"# c\n---\na: 1\n---\n":   1,
		"a: 1\n---\nb: 2":         2,
		"a: 1\n--- # x\nb: 2\n":   2,
		"a: |\n  ---x\nb: 1\n":    1,
		"{\"kind\": \"Pod\"}\n\n": 1,
	} {
		if got := countDocuments([]byte(doc)); got != want {
			t.Errorf("%q: %d, want %d", doc, got, want)
		}
	}
}
