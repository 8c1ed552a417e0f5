package qos

import (
	"strings"
	"testing"
)

// The node of every case below: 4 CPUs and 8Gi = 8589934592 bytes of
// memory. With it, the Burstable oom_score_adj of a memory request R is
// 1000 − floor(1000·R/8589934592), and memory.high of a container without
// a memory limit is taken against 8589934592.
var testNode = Node{MilliCPU: 4000, Memory: 8 << 30}

// cg is one cgroup's expected values. quad and lin are cpu.weight by the
// quadratic formula ceil(10^((L²+125L)/612 − 7/34)), L = log2(shares), and
// by the linear one 1 + (shares−2)·9999/262142; 0 in quota, mem, min and
// high means "not written".
type cg struct {
	shares    uint64
	quad, lin uint64
	quota     int64
	mem       int64
	min, high int64
	adj       int // containers only
}

// The weights used below, worked out once:
//
//	shares    L=log2   (L²+125L)/612−7/34   10^x      quad   linear
//	2         1        0                    1         1      1
//	102       6.6724   1.22970              16.97     17     1+100·9999/262142=4
//	153       7.2574   1.36249              23.04     24     1+151·9999/262142=6
//	204       7.6724   1.45738              28.67     29     1+202·9999/262142=8
//	256       8        1.53268              34.09     35     1+254·9999/262142=10
//	307       8.2621   1.59318              39.19     40     1+305·9999/262142=12
//	358       8.4838   1.64453              44.11     45     1+356·9999/262142=14
//	512       9        1.76471              58.17     59     1+510·9999/262142=20
//	614       9.2621   1.82606              67.00     67     1+612·9999/262142=24
//	1024      10       2                    100       100    1+1022·9999/262142=39
//	1536      10.5850  2.13915              137.77    138    1+1534·9999/262142=59
//	2048      11       2.23856              173.21    174    1+2046·9999/262142=79
//	262144    18       4                    10000     10000  10000
func TestCompute(t *testing.T) {
	cases := []struct {
		name  string
		pod   string
		class Class
		pod_  cg
		ctrs  map[string]cg
		note  string // a substring of one of the notes
	}{
		{
			// cpu 500m → shares 500·1024/1000 = 512, quota 500·100000/1000
			// = 50000; memory 256Mi = 268435456. Requests equal limits:
			// Guaranteed, −997, no memory.high.
			name: "guaranteed single container", class: Guaranteed,
			pod: `
kind: Pod
metadata: {name: g1, uid: 11111111-1111-1111-1111-111111111111}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: 500m, memory: 256Mi}
      limits: {cpu: 500m, memory: 256Mi}`,
			pod_: cg{shares: 512, quad: 59, lin: 20, quota: 50000, mem: 268435456, min: 268435456},
			ctrs: map[string]cg{"app": {shares: 512, quad: 59, lin: 20, quota: 50000, mem: 268435456, min: 268435456, adj: -997}},
		},
		{
			// Limits only: the requests default to them, so Guaranteed.
			// cpu 1 → 1024 shares, quota 100000; memory 1Gi = 1073741824.
			name: "guaranteed with only limits", class: Guaranteed,
			pod: `
kind: Pod
metadata: {name: g2}
spec:
  containers:
  - name: app
    resources:
      limits: {cpu: 1, memory: 1Gi}`,
			pod_: cg{shares: 1024, quad: 100, lin: 39, quota: 100000, mem: 1073741824, min: 1073741824},
			ctrs: map[string]cg{"app": {shares: 1024, quad: 100, lin: 39, quota: 100000, mem: 1073741824, min: 1073741824, adj: -997}},
		},
		{
			// Two Guaranteed containers: the pod sums them. cpu 250m+100m
			// = 350m → shares floor(358.4) = 358, quota 35000; memory
			// 64Mi+32Mi = 96Mi = 100663296. Containers: 250m → 256 shares
			// (256.0), quota 25000; 100m → floor(102.4) = 102, quota 10000.
			name: "guaranteed two containers", class: Guaranteed,
			pod: `
kind: Pod
metadata: {name: g3}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: 250m, memory: 64Mi}
      limits: {cpu: 250m, memory: 64Mi}
  - name: side
    resources:
      limits: {cpu: 100m, memory: 32Mi}`,
			pod_: cg{shares: 358, quad: 45, lin: 14, quota: 35000, mem: 100663296, min: 100663296},
			ctrs: map[string]cg{
				"app":  {shares: 256, quad: 35, lin: 10, quota: 25000, mem: 67108864, min: 67108864, adj: -997},
				"side": {shares: 102, quad: 17, lin: 4, quota: 10000, mem: 33554432, min: 33554432, adj: -997},
			},
		},
		{
			// Requests only: Burstable, no quota and no memory limit on the
			// pod (nothing declared one). cpu 100m → 102 shares; memory
			// 128Mi = 134217728.
			// memory.high against the node: 134217728 + 0.9·(8589934592 −
			// 134217728) = 7744362905.6; /4096 = 1890713.6 → 1890713·4096 =
			// 7744360448.
			// oom: 1000·134217728/8589934592 = 15.625 → 1000 − 15 = 985.
			name: "burstable requests only", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b1}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: 100m, memory: 128Mi}`,
			pod_: cg{shares: 102, quad: 17, lin: 4, min: 134217728},
			ctrs: map[string]cg{"app": {shares: 102, quad: 17, lin: 4, min: 134217728, high: 7744360448, adj: 985}},
			note: "no CPU quota",
		},
		{
			// Only a CPU limit: the CPU request defaults to it (500m →
			// 512 shares, quota 50000) but memory has neither: Burstable.
			// No memory anywhere, so oom 1000 − 0 = 1000, which Burstable
			// turns into 999; memory.high is not written (0 = 0).
			name: "burstable only a cpu limit", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b2}
spec:
  containers:
  - name: app
    resources:
      limits: {cpu: 500m}`,
			pod_: cg{shares: 512, quad: 59, lin: 20, quota: 50000},
			ctrs: map[string]cg{"app": {shares: 512, quad: 59, lin: 20, quota: 50000, adj: 999}},
			note: "no memory limit",
		},
		{
			// A Guaranteed-shaped container next to an empty one: the pod
			// is Burstable. Pod: cpu 200m → floor(204.8) = 204 shares, no
			// quota and no memory limit (the second declares none),
			// memory.min 100Mi = 104857600.
			// app oom: 1000·104857600/8589934592 = 12.2 → 988. empty: 999.
			name: "burstable from mixed containers", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b3}
spec:
  containers:
  - name: app
    resources:
      limits: {cpu: 200m, memory: 100Mi}
  - name: empty`,
			pod_: cg{shares: 204, quad: 29, lin: 8, min: 104857600},
			ctrs: map[string]cg{
				"app":   {shares: 204, quad: 29, lin: 8, quota: 20000, mem: 104857600, min: 104857600, adj: 988},
				"empty": {shares: 2, quad: 1, lin: 1, adj: 999},
			},
		},
		{
			// Nothing at all: BestEffort, cpu.shares 2 everywhere, 1000.
			name: "besteffort", class: BestEffort,
			pod: `
kind: Pod
metadata: {name: be1}
spec:
  containers:
  - name: app
    image: busybox`,
			pod_: cg{shares: 2, quad: 1, lin: 1},
			ctrs: map[string]cg{"app": {shares: 2, quad: 1, lin: 1, adj: 1000}},
		},
		{
			// An ephemeral-storage request does not count for QoS: still
			// BestEffort, as is its empty neighbour.
			name: "besteffort with ephemeral storage", class: BestEffort,
			pod: `
kind: Pod
metadata: {name: be2}
spec:
  containers:
  - name: a
    resources:
      requests: {ephemeral-storage: 1Gi}
  - name: b`,
			pod_: cg{shares: 2, quad: 1, lin: 1},
			ctrs: map[string]cg{"a": {shares: 2, quad: 1, lin: 1, adj: 1000}, "b": {shares: 2, quad: 1, lin: 1, adj: 1000}},
		},
		{
			// Tiny values hit the floors: cpu 1m → 1·1024/1000 = 1 → 2
			// shares; limit 5m → quota 500 → 1000. Memory in decimal
			// units: 1M request, 10M limit.
			// memory.high = floor((1000000 + 0.9·9000000)/4096)·4096 =
			// floor(9100000/4096 = 2221.68)·4096 = 9097216.
			// oom: 1000·1000000/8589934592 = 0.116 → 1000 − 0 = 1000 → 999.
			name: "millicore floors and decimal megabytes", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b4}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: 1m, memory: 1M}
      limits: {cpu: 5m, memory: 10M}`,
			pod_: cg{shares: 2, quad: 1, lin: 1, quota: 1000, mem: 10000000, min: 1000000},
			ctrs: map[string]cg{"app": {shares: 2, quad: 1, lin: 1, quota: 1000, mem: 10000000, min: 1000000, high: 9097216, adj: 999}},
		},
		{
			// cpu written as numbers: request 1.5 → 1500m → 1536 shares,
			// limit 2 → quota 200000. Memory 1Gi request, 2G = 2000000000
			// limit.
			// memory.high = 1073741824 + 0.9·926258176 = 1907374182.4;
			// /4096 = 465667.5 → 465667·4096 = 1907372032.
			// oom: 1000·1073741824/8589934592 = 125 → 875.
			name: "numbers, Gi and G", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b5}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: 1.5, memory: 1Gi}
      limits: {cpu: 2, memory: 2G}`,
			pod_: cg{shares: 1536, quad: 138, lin: 59, quota: 200000, mem: 2000000000, min: 1073741824},
			ctrs: map[string]cg{"app": {shares: 1536, quad: 138, lin: 59, quota: 200000, mem: 2000000000, min: 1073741824, high: 1907372032, adj: 875}},
		},
		{
			// A Guaranteed init container bigger than the app: the pod is
			// sized by max(containers, init) = max(250m/128Mi, 1/512Mi) =
			// 1 CPU/512Mi → 1024 shares, quota 100000, 536870912 bytes.
			name: "init container sets the floor", class: Guaranteed,
			pod: `
kind: Pod
metadata: {name: g4}
spec:
  initContainers:
  - name: setup
    resources:
      limits: {cpu: 1, memory: 512Mi}
  containers:
  - name: app
    resources:
      limits: {cpu: 250m, memory: 128Mi}`,
			pod_: cg{shares: 1024, quad: 100, lin: 39, quota: 100000, mem: 536870912, min: 536870912},
			ctrs: map[string]cg{
				"setup": {shares: 1024, quad: 100, lin: 39, quota: 100000, mem: 536870912, min: 536870912, adj: -997},
				"app":   {shares: 256, quad: 35, lin: 10, quota: 25000, mem: 134217728, min: 134217728, adj: -997},
			},
			note: "max(250m, 1)",
		},
		{
			// A Burstable init container with requests only: pod requests
			// max(500m/256Mi, 2/1Gi) = 2 CPU/1Gi → 2048 shares, memory.min
			// 1073741824; the init container declares no limits, so the
			// pod gets neither quota nor memory limit.
			// app: 500m → 512 shares, limit 1 → quota 100000, memory
			// 256Mi/512Mi: high = 268435456 + 0.9·268435456 = 510027366.4;
			// /4096 = 124518.4 → 510025728; oom 1000 − 31 (31.25) = 969.
			// migrate: 2 → 2048 shares; high against the node: 1073741824
			// + 0.9·7516192768 = 7838315315.2; /4096 = 1913651.2 →
			// 7838314496; oom 1000 − 125 = 875.
			name: "burstable init container", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b6}
spec:
  initContainers:
  - name: migrate
    resources:
      requests: {cpu: 2, memory: 1Gi}
  containers:
  - name: app
    resources:
      requests: {cpu: 500m, memory: 256Mi}
      limits: {cpu: 1, memory: 512Mi}`,
			pod_: cg{shares: 2048, quad: 174, lin: 79, min: 1073741824},
			ctrs: map[string]cg{
				"migrate": {shares: 2048, quad: 174, lin: 79, min: 1073741824, high: 7838314496, adj: 875},
				"app":     {shares: 512, quad: 59, lin: 20, quota: 100000, mem: 536870912, min: 268435456, high: 510025728, adj: 969},
			},
		},
		{
			// A sidecar (restartPolicy Always) and an init step.
			// Requests: app 300m/300Mi + log 100m/50Mi = 400m/350Mi; setup
			// runs with log beside it: 500m/200Mi + 100m/50Mi = 600m/250Mi.
			// Pod = max → 600m/350Mi: shares floor(614.4) = 614, memory.min
			// 367001600.
			// Limits: app 1/1Gi + log 200m/100Mi = 1200m/1124Mi; setup has
			// none but log's count for it (200m/100Mi), so both are
			// declared: quota 120000, memory 1178599424.
			// log: 100m → 102 shares, quota 20000, 100Mi; high =
			// 52428800·1.9 = 99614720 (exactly 24320 pages); its own oom
			// 1000 − 6 (6.1) = 994 is capped by the smallest regular
			// request, app's 300Mi: 1000 − 36 (36.6) = 964.
			// setup: 500m → 512 shares, no limits; high against the node:
			// 209715200 + 0.9·8380219392 = 7751912652.8 → 1892556 pages =
			// 7751909376; oom 1000 − 24 (24.4) = 976.
			// app: 300m → floor(307.2) = 307 shares, quota 100000, 1Gi;
			// high = 314572800 + 0.9·759169024 = 997824921.6 → 243609
			// pages = 997822464; oom 964.
			name: "sidecar and init step", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b7}
spec:
  initContainers:
  - name: log
    restartPolicy: Always
    resources:
      requests: {cpu: 100m, memory: 50Mi}
      limits: {cpu: 200m, memory: 100Mi}
  - name: setup
    resources:
      requests: {cpu: 500m, memory: 200Mi}
  containers:
  - name: app
    resources:
      requests: {cpu: 300m, memory: 300Mi}
      limits: {cpu: 1, memory: 1Gi}`,
			pod_: cg{shares: 614, quad: 67, lin: 24, quota: 120000, mem: 1178599424, min: 367001600},
			ctrs: map[string]cg{
				"log":   {shares: 102, quad: 17, lin: 4, quota: 20000, mem: 104857600, min: 52428800, high: 99614720, adj: 964},
				"setup": {shares: 512, quad: 59, lin: 20, min: 209715200, high: 7751909376, adj: 976},
				"app":   {shares: 307, quad: 40, lin: 12, quota: 100000, mem: 1073741824, min: 314572800, high: 997822464, adj: 964},
			},
		},
		{
			// An explicit CPU request of 0 is not defaulted: the container
			// is Burstable, the kubelet gives the container cgroup shares
			// from the limit (500m → 512) but the pod cgroup 2 (the sum of
			// requests is 0). Memory 64Mi both: no memory.high; oom 1000 −
			// 7 (7.8) = 993.
			name: "explicit zero cpu request", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b8}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: "0", memory: 64Mi}
      limits: {cpu: 500m, memory: 64Mi}`,
			pod_: cg{shares: 2, quad: 1, lin: 1, quota: 50000, mem: 67108864, min: 67108864},
			ctrs: map[string]cg{"app": {shares: 512, quad: 59, lin: 20, quota: 50000, mem: 67108864, min: 67108864, adj: 993}},
		},
		{
			// A request larger than the node: 1000 − 1000·10Gi/8Gi < 3, so
			// oom is clamped to 3. memory.high = 10737418240 +
			// 0.9·6442450944 = 16535624089.6 → 4037017 pages =
			// 16535621632. The scheduler would not place it.
			name: "burstable clamped to 3", class: Burstable,
			pod: `
kind: Pod
metadata: {name: b9}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: 100m, memory: 10Gi}
      limits: {memory: 16Gi}`,
			pod_: cg{shares: 102, quad: 17, lin: 4, mem: 17179869184, min: 10737418240},
			ctrs: map[string]cg{"app": {shares: 102, quad: 17, lin: 4, mem: 17179869184, min: 10737418240, high: 16535621632, adj: 3}},
			note: "would not place",
		},
		{
			// 300 CPUs: 300000·1024/1000 = 307200 shares, capped at
			// 262144 (weight 10000 either way); quota 30000000.
			name: "shares capped at the maximum", class: Guaranteed,
			pod: `
kind: Pod
metadata: {name: g5}
spec:
  containers:
  - name: app
    resources:
      limits: {cpu: 300, memory: 1Gi}`,
			pod_: cg{shares: 262144, quad: 10000, lin: 10000, quota: 30000000, mem: 1073741824, min: 1073741824},
			ctrs: map[string]cg{"app": {shares: 262144, quad: 10000, lin: 10000, quota: 30000000, mem: 1073741824, min: 1073741824, adj: -997}},
			note: "the node has 4",
		},
		{
			// M and Mi side by side. Pod: cpu 100m+50m = 150m → floor(153.6)
			// = 153 shares; limits 200m+50m → quota 25000; memory limit
			// 200000000 + 52428800 = 252428800, requests 100000000 +
			// 52428800 = 152428800.
			// web: high = floor((1e8 + 0.9·1e8)/4096) = floor(46386.7) →
			// 189997056; oom 1000 − 11 (11.6) = 989.
			// cache: 50m → floor(51.2) = 51 shares (L = 5.6724, x = 1.00528,
			// 10^x = 10.12 → weight 11; linear 1 + 49·9999/262142 = 2),
			// quota 5000; 50Mi both: no high; oom 1000 − 6 (6.1) = 994.
			name: "M and Mi in two containers", class: Burstable,
			pod: `
{"kind": "Pod", "metadata": {"name": "b10"}, "spec": {"containers": [
  {"name": "web", "resources": {"requests": {"cpu": "100m", "memory": "100M"}, "limits": {"cpu": "200m", "memory": "200M"}}},
  {"name": "cache", "resources": {"limits": {"cpu": "50m", "memory": "50Mi"}}}]}}`,
			pod_: cg{shares: 153, quad: 24, lin: 6, quota: 25000, mem: 252428800, min: 152428800},
			ctrs: map[string]cg{
				"web":   {shares: 102, quad: 17, lin: 4, quota: 20000, mem: 200000000, min: 100000000, high: 189997056, adj: 989},
				"cache": {shares: 51, quad: 11, lin: 2, quota: 5000, mem: 52428800, min: 52428800, adj: 994},
			},
		},
	}
	if len(cases) < 15 {
		t.Fatalf("only %d pods", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(tc.pod))
			if err != nil {
				t.Fatal(err)
			}
			r, err := Compute(p, testNode)
			if err != nil {
				t.Fatal(err)
			}
			if r.Class != tc.class {
				t.Errorf("class %s, want %s", r.Class, tc.class)
			}
			checkCG(t, "pod", r.Cgroup, tc.pod_, nil)
			if len(r.Containers) != len(tc.ctrs) {
				t.Fatalf("%d containers, want %d", len(r.Containers), len(tc.ctrs))
			}
			for _, c := range r.Containers {
				want, ok := tc.ctrs[c.Name]
				if !ok {
					t.Fatalf("unexpected container %s", c.Name)
				}
				adj := c.OOMScoreAdj
				checkCG(t, c.Name, c.Cgroup, want, &adj)
				if !strings.HasPrefix(c.Cgroup.Path, r.Cgroup.Path+"/") || len(c.ID) != 64 {
					t.Errorf("%s: path %s under %s, id %q", c.Name, c.Cgroup.Path, r.Cgroup.Path, c.ID)
				}
			}
			if want := PodCgroupPath(tc.class, r.UID); r.Cgroup.Path != want {
				t.Errorf("pod path %s, want %s", r.Cgroup.Path, want)
			}
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Errorf("notes %q lack %q", r.Notes, tc.note)
			}
		})
	}
}

func checkCG(t *testing.T, who string, got CgroupValues, want cg, adj *int) {
	t.Helper()
	g := cg{shares: got.CPUShares, quad: got.WeightQuadratic(), lin: got.WeightLinear(), quota: got.CPUQuota,
		mem: got.MemoryLimit, min: got.MemoryMin, high: got.MemoryHigh}
	if adj != nil {
		g.adj = *adj
	}
	if g != want {
		t.Errorf("%s:\n got %+v\nwant %+v", who, g, want)
	}
	if got.CPUPeriod != QuotaPeriod {
		t.Errorf("%s: period %d", who, got.CPUPeriod)
	}
}

func TestClassesFromFlags(t *testing.T) {
	for _, tc := range []struct {
		f    FlagValues
		want Class
	}{
		{FlagValues{}, BestEffort},
		{FlagValues{CPULimit: "1", MemoryLimit: "1Gi"}, Guaranteed},
		{FlagValues{CPURequest: "1", CPULimit: "1", MemoryRequest: "1Gi", MemoryLimit: "1Gi"}, Guaranteed},
		{FlagValues{CPURequest: "1", CPULimit: "1", MemoryRequest: "1Gi", MemoryLimit: "1024Mi"}, Guaranteed}, // same quantity
		{FlagValues{CPURequest: "250m"}, Burstable},
		{FlagValues{MemoryLimit: "1Gi"}, Burstable},
		{FlagValues{CPURequest: "500m", CPULimit: "1", MemoryLimit: "1Gi"}, Burstable},
	} {
		p, err := FromFlags(tc.f)
		if err != nil {
			t.Fatalf("%+v: %v", tc.f, err)
		}
		if got := PodClass(p); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestOOMScoreAdj(t *testing.T) {
	const gi = 1 << 30
	for _, tc := range []struct {
		class         Class
		req, capacity int64
		sidecar       bool
		minRegular    int64
		want          int
		why           string
	}{
		{Guaranteed, gi, 8 * gi, false, 0, -997, "Guaranteed"},
		{BestEffort, 0, 8 * gi, false, 0, 1000, "BestEffort"},
		{Burstable, gi, 8 * gi, false, 0, 875, "1000 − 1000/8 = 875"},
		{Burstable, 0, 8 * gi, false, 0, 999, "1000 is kept below BestEffort"},
		{Burstable, 8 * gi, 8 * gi, false, 0, 3, "0 is raised to 3"},
		{Burstable, 7990 * gi / 1000, 8 * gi, false, 0, 3, "1000 − 998 = 2 is raised to 3"},
		{Burstable, 7970 * gi / 1000, 8 * gi, false, 0, 4, "1000·7.97/8 = 996.25 → 1000 − 996 = 4"},
		{Burstable, gi / 8, 8 * gi, true, 2 * gi, 750, "a sidecar gets no more than the smallest regular request's 750"},
		{Burstable, 4 * gi, 8 * gi, true, 2 * gi, 500, "a sidecar with a bigger request keeps its own 500"},
	} {
		if got := OOMScoreAdj(tc.class, tc.req, tc.capacity, tc.sidecar, tc.minRegular); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.why, got, tc.want)
		}
	}
}

func TestMemoryHigh(t *testing.T) {
	const mi = 1 << 20
	for _, tc := range []struct {
		req, lim, alloc, want int64
		why                   string
	}{
		{64 * mi, 64 * mi, 8 << 30, 0, "request = limit: not written"},
		{0, 0, 8 << 30, 0, "BestEffort: not written"},
		// 64Mi + 0.9·64Mi = 121.6Mi = 127506841.6 → 31129 pages of 4096
		{64 * mi, 128 * mi, 8 << 30, 127504384, "0.9 of the way to the limit"},
		// 0 + 0.9·1Gi = 966367641.6 → 235929 pages = 966365184
		{0, 0 + 1<<30, 8 << 30, 966365184, "no request"},
		{64 * mi, 0, 0, 0, "no limit and no allocatable"},
		{10 * mi, 10*mi + 4096, 8 << 30, 0, "not above the request after rounding"},
	} {
		if got := MemoryHigh(tc.req, tc.lim, tc.alloc, MemoryThrottlingFactor); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.why, got, tc.want)
		}
	}
}

func TestKubeletConversions(t *testing.T) {
	for milli, want := range map[int64]uint64{0: 2, 1: 2, 2: 2, 3: 3, 100: 102, 1000: 1024, 256000: 262144, 300000: 262144} {
		if got := MilliCPUToShares(milli); got != want {
			t.Errorf("MilliCPUToShares(%d) = %d, want %d", milli, got, want)
		}
	}
	for milli, want := range map[int64]int64{0: 0, 1: 1000, 10: 1000, 11: 1100, 500: 50000, 2500: 250000} {
		if got := MilliCPUToQuota(milli, QuotaPeriod); got != want {
			t.Errorf("MilliCPUToQuota(%d) = %d, want %d", milli, got, want)
		}
	}
}

func TestGeneratedUIDIsStable(t *testing.T) {
	a, b := nameUID("default", "web"), nameUID("default", "web")
	if a != b || len(a) != 36 || a[14] != '5' || nameUID("default", "db") == a {
		t.Errorf("uid %q %q", a, b)
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1023: "1023", 1024: "1Ki", 97 << 20: "97Mi", 101912576: "97.2Mi", 25276510208: "23.5Gi"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}
