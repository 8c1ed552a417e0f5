package qos

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

func examplePods(t *testing.T) []*Pod {
	t.Helper()
	pods, err := LoadDir("../../examples/qos")
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

// The examples are what the lab and docs/qos.md promise.
func TestExamples(t *testing.T) {
	pods := examplePods(t)
	classes := map[string]Class{}
	for _, p := range pods {
		classes[p.Metadata.Name] = PodClass(p)
	}
	want := map[string]Class{"guaranteed": Guaranteed, "burstable": Burstable, "besteffort": BestEffort}
	if len(classes) != 3 {
		t.Fatalf("classes %v", classes)
	}
	for name, c := range want {
		if classes[name] != c {
			t.Errorf("%s is %s, want %s", name, classes[name], c)
		}
	}
}

func TestLabPlan(t *testing.T) {
	for _, d := range []Driver{Cgroupfs, Systemd} {
		l := &lab{o: LabOptions{Pods: examplePods(t), NodeMemory: 384 << 20, Driver: d}, res: &LabResult{NodeCPUs: 2}}
		if err := l.plan(); err != nil {
			t.Fatal(err)
		}
		lab := l.name[0]
		if !strings.HasPrefix(lab, LabPrefix) || strings.Contains(lab[len(LabPrefix):], "_") {
			t.Errorf("%s: lab name %s", d, lab)
		}
		// The lab is the kubelet's cgroup root: the pods' cgroups are
		// kubepods' below it, named as the driver names them.
		escaped := strings.ReplaceAll(lab, "-", "_")
		root, kube := "/"+lab, "/"+lab+"/kubepods"
		if d == Systemd {
			root = "/" + escaped + ".slice"
			kube = root + "/" + escaped + "-kubepods.slice"
		}
		if l.res.CgroupRoot != root || l.kubepods() != kube {
			t.Errorf("%s: root %s kubepods %s, want %s and %s", d, l.res.CgroupRoot, l.kubepods(), root, kube)
		}
		// Guaranteed 128Mi/128Mi holds 3/4: 96Mi. Burstable 64Mi/256Mi
		// holds 64Mi + 192Mi/4 = 112Mi. BestEffort grows. Burstable's
		// oom_score_adj on the 384Mi lab node: 1000 − 1000·64/384 (166.7)
		// = 834.
		want := []struct {
			class      Class
			hold       int64
			adj        int
			uid, under string // the pod's uid and cgroup name under kubepods
		}{
			{Guaranteed, 96 << 20, -997, "6f1c2a3e-0000-4000-8000-00000000000a", ""},
			{Burstable, 112 << 20, 834, "6f1c2a3e-0000-4000-8000-00000000000b", "burstable"},
			{BestEffort, 0, 1000, "6f1c2a3e-0000-4000-8000-00000000000c", "besteffort"},
		}
		if len(l.rows) != 3 {
			t.Fatalf("%d rows", len(l.rows))
		}
		for i, w := range want {
			r := l.rows[i]
			if r.Class != w.class || r.hold != w.hold || r.OOMScoreAdj != w.adj {
				t.Errorf("%s row %d: %s hold %d adj %d, want %+v", d, i, r.Class, r.hold, r.OOMScoreAdj, w)
			}
			id := l.containerID(r, "cpu")
			if want := "qoslab-" + lab[len(LabPrefix):] + "-" + r.Pod + "-app-cpu"; id != want {
				t.Errorf("%s row %d: container id %s, want %s", d, i, id, want)
			}
			cgroup, cgroupsPath := kube+"/"+w.under+"/pod"+w.uid+"/"+id, kube+"/"+w.under+"/pod"+w.uid+"/"+id
			if w.under == "" {
				cgroup, cgroupsPath = kube+"/pod"+w.uid+"/"+id, kube+"/pod"+w.uid+"/"+id
			}
			if d == Systemd {
				slice := escaped + "-kubepods-" + w.under + "-pod" + strings.ReplaceAll(w.uid, "-", "_") + ".slice"
				class := kube + "/" + escaped + "-kubepods-" + w.under + ".slice"
				if w.under == "" {
					slice = escaped + "-kubepods-pod" + strings.ReplaceAll(w.uid, "-", "_") + ".slice"
					class = kube
				}
				cgroup, cgroupsPath = class+"/"+slice+"/cri-containerd-"+id+".scope", slice+":cri-containerd:"+id
			}
			if got, gotPath := ContainerCgroupPath(d, r.pod, id), CgroupsPath(d, r.pod, id); got != cgroup || gotPath != cgroupsPath {
				t.Errorf("%s row %d:\ncgroup      %s\ncgroupsPath %s\nwant\ncgroup      %s\ncgroupsPath %s", d, i, got, gotPath, cgroup, cgroupsPath)
			}
		}
	}
	small := &lab{o: LabOptions{Pods: examplePods(t), NodeMemory: 200 << 20}, res: &LabResult{NodeCPUs: 2}}
	if err := small.plan(); err == nil || !strings.Contains(err.Error(), "--node-memory 200Mi is too small") {
		t.Errorf("small node: %v", err)
	}
}

func TestLabOptionsChecked(t *testing.T) {
	_, err := RunLab(context.Background(), LabOptions{Pods: examplePods(t), NodeMemory: 384 << 20, Create: func(LabContainer) (*LabHandle, error) { return nil, nil }})
	if err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Errorf("zero durations: %v", err)
	}
}

func TestLabVerdictAndOutput(t *testing.T) {
	l := &lab{o: LabOptions{Pods: examplePods(t), NodeMemory: 384 << 20, MemoryTime: 6 * time.Second},
		res: &LabResult{Mode: "unified", NodeCPUs: 2, NodeMemory: 384 << 20, CPUSeconds: 4, MemorySeconds: 6}}
	if err := l.plan(); err != nil {
		t.Fatal(err)
	}
	for _, r := range l.pods {
		if r.Class == Burstable {
			l.burstableShares = r.Cgroup.CPUShares
		}
	}
	g, b, be := l.rows[0], l.rows[1], l.rows[2]
	g.CPUShare, g.Periods, g.ThrottledPeriods, g.OOMScoreAdjRead = 50, 40, 39, -997
	b.CPUShare, b.Periods = 49.5, 40
	be.CPUShare, be.OOMKills, be.FirstOOM = 0.5, 1, 1500*time.Millisecond
	l.verdict()
	v := strings.Join(l.res.Verdict, "\n")
	for _, want := range []string{
		"Guaranteed 50.0% (throttled in 39 of 40 periods",
		"BestEffort 0.5%",
		"cpu.shares 2 (cpu.weight 1)",
		"pod guaranteed cpu.shares 1024 (cpu.weight 39)",
		"the burstable cgroup cpu.shares 512",
		"BestEffort (besteffort/app) was OOM-killed first, 1.50s in",
		"oom_score_adj 1000 adds 384Mi",
		"Guaranteed (guaranteed/app) survived: oom_score_adj -997 takes 382.8Mi off",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks %q:\n%s", want, v)
		}
	}
	for _, r := range l.rows {
		l.res.Rows = append(l.res.Rows, r.LabRow)
	}
	var tb, cb strings.Builder
	if err := WriteLabTable(&tb, l.res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "QoS lab: unified (cgroup v2") || strings.Count(tb.String(), "/app ") != 3 {
		t.Errorf("table:\n%s", tb.String())
	}
	if err := WriteLabCSV(&cb, l.res); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(cb.String())).ReadAll()
	if err != nil || len(recs) != 4 || len(recs[0]) != len(LabCSVHeader) || recs[3][2] != "BestEffort" || recs[3][16] != "1" || recs[3][17] != "1500" {
		t.Errorf("csv %v %q", err, cb.String())
	}

	// No kill: the verdict says so instead of inventing one.
	be.OOMKills, be.FirstOOM = 0, 0
	l.res.Verdict = nil
	l.verdict()
	if v := strings.Join(l.res.Verdict, "\n"); !strings.Contains(v, "nothing was OOM-killed within 6s") {
		t.Errorf("no kill: %s", v)
	}
}

func TestLabOwnerGone(t *testing.T) {
	self := fmt.Sprintf("%s%d-abcd", LabPrefix, os.Getpid())
	for name, want := range map[string]bool{
		self:                            false, // alive
		LabPrefix + "999999999-ab12":    true,  // above pid_max: never alive
		LabPrefix + "x-ab12":            false, // not a lab name
		"miniruntime-test":              false,
		LabPrefix + "999999999":         true,
		LabPrefix + "0-ab12":            false,
		"other-" + LabPrefix + "1-ab12": false,
		// The systemd driver's lab slice, and the slices in it.
		fmt.Sprintf("miniruntime_qoslab_%d_abcd.slice", os.Getpid()): false,
		"miniruntime_qoslab_999999999_ab12.slice":                    true,
		"miniruntime_qoslab_999999999_ab12-kubepods.slice":           true,
		"miniruntime_qoslab_999999999_ab12":                          false, // not a slice
		"miniruntime_qoslab_x_ab12.slice":                            false,
	} {
		if got := LabOwnerGone(name); got != want {
			t.Errorf("%s: %t, want %t", name, got, want)
		}
	}
}

// A long phase keeps at most MaxSamples readings, evenly thinned, and
// never drops the one that saw a kill.
func TestSamplerBounded(t *testing.T) {
	var s sampler
	s.phase = PhaseMemory
	const n = 20 * MaxSamples
	for i := range n {
		x := LabSample{Phase: PhaseMemory, Seconds: float64(i)}
		kill := i == n-3 // the reading that saw the kill
		if i >= n-3 {
			x.OOMKills = 1
		}
		s.add(x, kill)
	}
	if len(s.out) >= MaxSamples || len(s.out) < MaxSamples/4 {
		t.Fatalf("%d samples kept of %d", len(s.out), n)
	}
	sawKill := false
	for i, x := range s.out {
		if i > 0 && x.Seconds <= s.out[i-1].Seconds {
			t.Fatalf("out of order at %d: %v", i, s.out[i-1:i+1])
		}
		sawKill = sawKill || x.Seconds == n-3
	}
	if !sawKill {
		t.Error("the reading that saw the kill was dropped")
	}
	// Evenly: the gaps between kept readings are the stride.
	if gap := s.out[2].Seconds - s.out[1].Seconds; gap != float64(s.stride) {
		t.Errorf("gap %g, stride %d", gap, s.stride)
	}
	if first, last := s.out[0].Seconds, s.out[len(s.out)-1].Seconds; first > float64(s.stride) || last < n-float64(2*s.stride) {
		t.Errorf("kept %g..%g of 0..%d", first, last, n-1)
	}
}

// sampledRows are the three example containers with memory phase samples
// every 0.5s for 3s: Guaranteed holds 96Mi, Burstable 112Mi, BestEffort
// starts at 1s and grows by 64Mi every 0.5s to 192Mi, then is killed.
func sampledRows() []LabRow {
	rows := []LabRow{{Pod: "guaranteed", Container: "app", Class: Guaranteed}, {Pod: "burstable", Container: "app", Class: Burstable}, {Pod: "besteffort", Container: "app", Class: BestEffort}}
	for i := 0; i <= 6; i++ {
		t := float64(i) / 2
		rows[0].Samples = append(rows[0].Samples, LabSample{Phase: PhaseCPU, Seconds: t, CPUs: 1}, LabSample{Phase: PhaseMemory, Seconds: t, MemoryBytes: 96 << 20})
		rows[1].Samples = append(rows[1].Samples, LabSample{Phase: PhaseMemory, Seconds: t, MemoryBytes: 112 << 20})
		if t >= 1 {
			x := LabSample{Phase: PhaseMemory, Seconds: t, MemoryBytes: uint64((t-1)*128) << 20}
			if t == 3 {
				x.MemoryBytes, x.OOMKills = 0, 1
			}
			rows[2].Samples = append(rows[2].Samples, x)
		}
	}
	return rows
}

func TestSparklines(t *testing.T) {
	res := &LabResult{Rows: sampledRows()}
	sp := newSparklines(res, false)
	if sp.width != 7 || sp.top != 192<<20 || sp.t1 != 3 {
		t.Fatalf("width %d top %d t1 %g", sp.width, sp.top, sp.t1)
	}
	// 96Mi of 192Mi is level 3 of 0..7 (▄), 112Mi level 4 (▅); BestEffort
	// is blank for its first second, then ▁ (0), ▃ (64Mi), ▆ (128Mi) and
	// █ (192Mi), then killed (▁).
	for i, want := range []string{"▄▄▄▄▄▄▄", "▅▅▅▅▅▅▅", "  ▁▃▆█▁"} {
		if got := sp.line(res.Rows[i]); got != want {
			t.Errorf("row %d: %q, want %q", i, got, want)
		}
	}
	if got := newSparklines(res, true).line(res.Rows[2]); got != "  _-+#_" {
		t.Errorf("ASCII: %q", got)
	}
	// A slice with a peak and then the kill's drop shows the drop: the
	// table's PEAK has the peak.
	killed := &LabResult{Rows: []LabRow{{Samples: []LabSample{
		{Phase: PhaseMemory, Seconds: 0, MemoryBytes: 96 << 20},
		{Phase: PhaseMemory, Seconds: 1, MemoryBytes: 192 << 20},
		{Phase: PhaseMemory, Seconds: 1.1, MemoryBytes: 1 << 20, OOMKills: 1},
	}}}}
	if got := newSparklines(killed, false).line(killed.Rows[0]); got != "▄▄▁" {
		t.Errorf("killed: %q", got)
	}
	// No memory samples: a dash, and the legend says so.
	empty := &LabResult{Rows: []LabRow{{Pod: "p"}}}
	if sp := newSparklines(empty, false); sp.line(empty.Rows[0]) != "-" || !strings.Contains(sp.legend(), "no samples") {
		t.Errorf("empty: %q %q", sp.line(empty.Rows[0]), sp.legend())
	}
	var b strings.Builder
	res.NodeMemory = 384 << 20
	if err := WriteLabTableWith(&b, res, LabTableOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "MEMORY OVER TIME\n") || !strings.Contains(b.String(), "  ▁▃▆█▁\n") || !strings.Contains(b.String(), "█ is 192Mi") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestSamplesCSV(t *testing.T) {
	res := &LabResult{Rows: sampledRows(), Kubepods: []LabSample{{Phase: PhaseMemory, Seconds: 2.5, MemoryBytes: 400 << 20}}}
	var b strings.Builder
	if err := WriteLabSamplesCSV(&b, res); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(b.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1+14+7+5+1 || strings.Join(recs[0], ",") != strings.Join(LabSamplesCSVHeader, ",") {
		t.Fatalf("%d records: %q", len(recs), b.String())
	}
	if kill := recs[len(recs)-2]; strings.Join(kill, ",") != "besteffort,app,BestEffort,memory,3.000,0,0.000,0.000,1" {
		t.Errorf("the kill: %v", kill)
	}
	if kube := recs[len(recs)-1]; strings.Join(kube, ",") != "kubepods,,,memory,2.500,419430400,0.000,0.000,0" {
		t.Errorf("kubepods: %v", kube)
	}
}

func TestChartFormat(t *testing.T) {
	for in, want := range map[string]string{"a.png": "png", "/x/b.SVG": "svg", "c.svg": "svg"} {
		if got, err := ChartFormat(in); got != want || err != nil {
			t.Errorf("%s: %q %v", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"a.pdf": "--chart a.pdf: .pdf is not a chart format; the name must end in .png or .svg",
		"chart": "--chart chart: no file extension; the name must end in .png or .svg",
	} {
		if _, err := ChartFormat(in); err == nil || err.Error() != want {
			t.Errorf("%s: %v", in, err)
		}
	}
}
