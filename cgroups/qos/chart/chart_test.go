package chart

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miniruntime/miniruntime/cgroups/qos"
)

// report is a lab report as RunLab makes it: three containers sampled
// every 250ms through a 2s CPU phase and a 4s memory phase, in which the
// BestEffort one grows from 1.5s and, with kill, is OOM-killed at 3s.
func report(kill bool) *qos.LabResult {
	res := &qos.LabResult{Mode: "unified", Driver: qos.Cgroupfs, NodeCPUs: 2, NodeMemory: 384 << 20, CPUSeconds: 2, MemorySeconds: 4, PressureSeconds: 1.5}
	rows := []qos.LabRow{
		{Pod: "guaranteed", Container: "app", Class: qos.Guaranteed, CPUMax: "100000 100000", MemoryMax: "134217728"},
		{Pod: "burstable", Container: "app", Class: qos.Burstable, CPUMax: "200000 100000", MemoryMax: "268435456"},
		{Pod: "besteffort", Container: "app", Class: qos.BestEffort, CPUMax: "max 100000", MemoryMax: "max"},
	}
	cpus := []float64{0.98, 0.9, 0.1}
	hold := []uint64{96 << 20, 112 << 20, 0}
	for i := range rows {
		r := &rows[i]
		for t := 0.0; t <= 2; t += 0.25 {
			r.Samples = append(r.Samples, qos.LabSample{Phase: "cpu", Seconds: t, MemoryBytes: 1 << 20, CPUs: cpus[i], CPUSeconds: cpus[i] * t})
		}
		for t := 0.0; t <= 4; t += 0.25 {
			x := qos.LabSample{Phase: "memory", Seconds: t, MemoryBytes: hold[i] * uint64(min(t, 1)*100) / 100}
			if hold[i] == 0 {
				if t < 1.5 {
					continue // not started yet
				}
				x.MemoryBytes = uint64((t - 1.5) * 120 * (1 << 20))
				if kill && t >= 3 {
					x.MemoryBytes, x.OOMKills = 1<<20, 1
				}
			}
			r.Samples = append(r.Samples, x)
		}
		if kill && hold[i] == 0 {
			r.OOMKills, r.FirstOOM, r.PeakMemory = 1, 1500*time.Millisecond, 175<<20
		}
	}
	res.Rows = rows
	// kubepods: the three together.
	for _, x := range rows[0].Samples {
		k := x
		for _, r := range rows[1:] {
			for _, y := range r.Samples {
				if y.Phase == x.Phase && y.Seconds == x.Seconds {
					k.MemoryBytes += y.MemoryBytes
					k.CPUs += y.CPUs
					k.CPUSeconds += y.CPUSeconds
				}
			}
		}
		k.OOMKills = 0
		res.Kubepods = append(res.Kubepods, k)
	}
	return res
}

func render(t *testing.T, res *qos.LabResult, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, res, format); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("QOS_CHART_KEEP"); dir != "" { // to look at them
		os.WriteFile(dir+"/"+t.Name()+"."+format, b.Bytes(), 0o644)
	}
	return b.Bytes()
}

func TestPNG(t *testing.T) {
	data := render(t, report(true), "png")
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// 24×18 cm at 96 dpi.
	if b := img.Bounds(); b.Dx() != 907 || b.Dy() != 680 {
		t.Errorf("size %v", b)
	}
	if len(data) > 200<<10 {
		t.Errorf("%d bytes", len(data))
	}
	// Not blank: the series' colours are there.
	seen := map[[3]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			seen[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	for i, c := range palette[:3] {
		if !seen[[3]uint32{uint32(c.R), uint32(c.G), uint32(c.B)}] {
			t.Errorf("series %d's colour %v is not in the image", i, c)
		}
	}
}

// svgTexts parses an SVG and returns its text elements.
func svgTexts(t *testing.T, data []byte) []string {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	var texts []string
	var in bool
	var root string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = e.Name.Local
			}
			in = e.Name.Local == "text"
		case xml.CharData:
			if in {
				texts = append(texts, strings.TrimSpace(string(e)))
			}
		case xml.EndElement:
			in = false
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	return texts
}

func count(texts []string, s string) int {
	n := 0
	for _, x := range texts {
		if x == s {
			n++
		}
	}
	return n
}

func TestSVGSeriesAndKill(t *testing.T) {
	for _, kill := range []bool{true, false} {
		res := report(kill)
		texts := svgTexts(t, render(t, res, "svg"))
		// One legend entry per container, named with its pod and class.
		for _, r := range res.Rows {
			if n := count(texts, SeriesName(r)); n != 1 {
				t.Errorf("kill %t: %q %d times in %q", kill, SeriesName(r), n, texts)
			}
		}
		if n := count(texts, KubepodsName); n != 1 {
			t.Errorf("kubepods is named %d times", n)
		}
		if n := count(texts, "besteffort/app (BestEffort)"); n != 1 {
			t.Errorf("the BestEffort series is named %d times", n)
		}
		// The kill: a label at the mark, and the legend entry.
		marks := count(texts, OOMLabel)
		var legend int
		for _, x := range texts {
			if strings.HasPrefix(x, OOMLabel+" ") {
				legend++
			}
		}
		if kill && (marks != 1 || legend != 1) || !kill && (marks != 0 || legend != 0) {
			t.Errorf("kill %t: %d OOM marks, %d legend entries", kill, marks, legend)
		}
	}
}

// A kill the samples missed is still marked, at the report's time of it.
func TestKillWithoutSample(t *testing.T) {
	res := report(false)
	be := &res.Rows[2]
	be.OOMKills, be.FirstOOM, be.PeakMemory = 1, time.Second, 170<<20
	xy := kills(res, *be)
	if len(xy) != 1 || xy[0].X != 2.5 || xy[0].Y != 170 {
		t.Errorf("marks %v", xy)
	}
	if n := count(svgTexts(t, render(t, res, "svg")), OOMLabel); n != 1 {
		t.Errorf("%d marks", n)
	}
}

func TestBadInput(t *testing.T) {
	if err := Write(io.Discard, report(true), "pdf"); err == nil || !strings.Contains(err.Error(), `"pdf" is not a chart format`) {
		t.Errorf("pdf: %v", err)
	}
	if err := Write(io.Discard, &qos.LabResult{}, "png"); err == nil {
		t.Error("an empty report drew")
	}
	for in, want := range map[string]float64{"100000 100000": 1, "200000 100000": 2, "50000 100000": 0.5} {
		if got, ok := cpuLimit(in); !ok || got != want {
			t.Errorf("cpuLimit(%q) = %g %t", in, got, ok)
		}
	}
	if _, ok := cpuLimit("max 100000"); ok {
		t.Error("max is a limit")
	}
}
