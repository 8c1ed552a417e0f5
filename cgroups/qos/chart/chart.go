// Package chart draws the QoS lab's samples with gonum/plot: each
// container's memory over the memory phase against its limit and the lab's
// kubepods limit, with its OOM kills marked, and its CPU over the CPU
// phase against its cpu.max. It is linked only into the miniruntime-chart
// program, never into miniruntime: gonum/plot's packages parse their fonts
// at initialisation, which every start of the runtime would pay
// (docs/qos.md has the numbers).
package chart

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups/qos"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Size of the chart: two panels and the legend beside them. At the PNG's
// 96 dpi that is 907×680 pixels.
const (
	Width  = 24 * vg.Centimeter
	Height = 18 * vg.Centimeter
)

// OOMLabel marks an OOM kill, in the legend and beside each mark.
const OOMLabel = "OOM kill"

// palette is the Okabe–Ito set: told apart with any colour vision.
var palette = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0xD5, 0x5E, 0x00, 0xff}, // vermilion
	{0x00, 0x9E, 0x73, 0xff}, // green
	{0xCC, 0x79, 0xA7, 0xff}, // purple
	{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	{0x00, 0x00, 0x00, 0xff}, // black
}

var (
	grey   = color.RGBA{0x60, 0x60, 0x60, 0xff}
	red    = color.RGBA{0xCC, 0x00, 0x00, 0xff}
	dashed = []vg.Length{vg.Points(6), vg.Points(3)}
	dotted = []vg.Length{vg.Points(1.5), vg.Points(2.5)}
)

// SeriesName is a container's name in the legend: pod/container (class).
func SeriesName(r qos.LabRow) string {
	return fmt.Sprintf("%s/%s (%s)", r.Pod, r.Container, r.Class)
}

// Write draws the report as format ("png" or "svg") to w.
func Write(w io.Writer, res *qos.LabResult, format string) error {
	if len(res.Rows) == 0 {
		return errors.New("the report has no containers")
	}
	var c vg.CanvasWriterTo
	switch format {
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.New(Width, Height)}
	case "svg":
		c = vgsvg.New(Width, Height)
	default:
		return fmt.Errorf("%q is not a chart format: png or svg", format)
	}
	mem, cpu, legend, err := build(res)
	if err != nil {
		return err
	}
	dc := draw.New(c)
	pad := vg.Centimeter / 2
	lw := legend.Rectangle(dc).Size().X
	plots := draw.Crop(dc, 0, -(lw + 2*pad), 0, 0)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: pad, PadBottom: pad / 2, PadLeft: pad / 2, PadRight: pad / 2, PadY: pad}
	cs := plot.Align([][]*plot.Plot{{mem}, {cpu}}, tiles, plots)
	mem.Draw(cs[0][0])
	cpu.Draw(cs[1][0])
	legend.Draw(draw.Crop(dc, dc.Size().X-lw-pad, -pad, 0, -pad))
	_, err = c.WriteTo(w)
	return err
}

// build makes the two panels and their shared legend: each container is
// one legend entry, in one colour in both panels.
func build(res *qos.LabResult) (mem, cpu *plot.Plot, legend plot.Legend, err error) {
	mem, cpu = plot.New(), plot.New()
	mem.Title.Text = fmt.Sprintf("Memory in the memory phase: the kubepods limit is %s", mib(uint64(res.NodeMemory)))
	mem.X.Label.Text = "seconds since the first container of the phase started"
	mem.Y.Label.Text = "memory (MiB)"
	cpu.Title.Text = fmt.Sprintf("CPU in the CPU phase (2 busy loops per container, %d CPUs): the slope is CPUs busy", res.NodeCPUs)
	cpu.X.Label.Text = "seconds since all containers of the phase run"
	cpu.Y.Label.Text = "CPU time used (s)"
	for _, p := range []*plot.Plot{mem, cpu} {
		p.Add(plotter.NewGrid())
		p.Y.Min = 0
	}
	legend = plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.Padding = vg.Points(3)
	legend.TextStyle.Font.Size = vg.Points(10)

	memEnd, cpuEnd := phaseEnd(res, qos.PhaseMemory), phaseEnd(res, qos.PhaseCPU)
	var topMem uint64
	var marks plotter.XYs
	for i, r := range res.Rows {
		col := palette[i%len(palette)]
		solid := draw.LineStyle{Color: col, Width: vg.Points(1.8)}
		memXY, cpuXY := series(r, qos.PhaseMemory, func(x qos.LabSample) float64 { return float64(x.MemoryBytes) / (1 << 20) }), series(r, qos.PhaseCPU, cpuTime)
		for _, x := range r.Samples {
			topMem = max(topMem, x.MemoryBytes)
		}
		var thumb plot.Thumbnailer
		if len(memXY) > 0 {
			l, err := line(memXY, solid)
			if err != nil {
				return nil, nil, legend, err
			}
			mem.Add(l)
			thumb = l
		}
		if len(cpuXY) > 0 {
			l, err := line(cpuXY, solid)
			if err != nil {
				return nil, nil, legend, err
			}
			cpu.Add(l)
			thumb = l
		}
		if thumb == nil {
			thumb = &plotter.Line{LineStyle: solid}
		}
		legend.Add(SeriesName(r), thumb)
		limit := draw.LineStyle{Color: col, Width: vg.Points(1), Dashes: dashed}
		if b, err := strconv.ParseUint(r.MemoryMax, 10, 64); err == nil && memEnd > 0 {
			if err := hline(mem, 0, memEnd, float64(b)/(1<<20), limit); err != nil {
				return nil, nil, legend, err
			}
			topMem = max(topMem, b)
		}
		if n, ok := cpuLimit(r.CPUMax); ok && cpuEnd > 0 {
			if err := slope(cpu, cpuEnd, n, limit); err != nil {
				return nil, nil, legend, err
			}
		}
		marks = append(marks, kills(res, r)...)
	}
	if len(res.Kubepods) > 0 {
		all := draw.LineStyle{Color: grey, Width: vg.Points(1.2)}
		memXY, cpuXY := kubeSeries(res, qos.PhaseMemory, func(x qos.LabSample) float64 { return float64(x.MemoryBytes) / (1 << 20) }), kubeSeries(res, qos.PhaseCPU, cpuTime)
		var thumb plot.Thumbnailer = &plotter.Line{LineStyle: all}
		for _, s := range []struct {
			p  *plot.Plot
			xy plotter.XYs
		}{{mem, memXY}, {cpu, cpuXY}} {
			if len(s.xy) == 0 {
				continue
			}
			l, err := line(s.xy, all)
			if err != nil {
				return nil, nil, legend, err
			}
			s.p.Add(l)
		}
		for _, x := range res.Kubepods {
			topMem = max(topMem, x.MemoryBytes)
		}
		legend.Add(KubepodsName, thumb)
	}
	legend.Add("its limit (memory.max, cpu.max)", &plotter.Line{LineStyle: draw.LineStyle{Color: grey, Width: vg.Points(1), Dashes: dashed}})

	kube := draw.LineStyle{Color: grey, Width: vg.Points(2), Dashes: dotted}
	if memEnd > 0 {
		if err := hline(mem, 0, memEnd, float64(res.NodeMemory)/(1<<20), kube); err != nil {
			return nil, nil, legend, err
		}
		legend.Add("kubepods limit (--node-memory)", &plotter.Line{LineStyle: kube})
	}
	topMem = max(topMem, uint64(res.NodeMemory))
	mem.Y.Max = float64(topMem) / (1 << 20) * 1.08
	if res.PressureSeconds > 0 && memEnd > 0 {
		v, err := plotter.NewLine(plotter.XYs{{X: res.PressureSeconds, Y: 0}, {X: res.PressureSeconds, Y: mem.Y.Max}})
		if err != nil {
			return nil, nil, legend, err
		}
		v.LineStyle = draw.LineStyle{Color: color.RGBA{0xa0, 0xa0, 0xa0, 0xff}, Width: vg.Points(1), Dashes: dotted}
		mem.Add(v)
		legend.Add("unlimited containers start", v)
	}
	if cpuEnd > 0 {
		node := draw.LineStyle{Color: grey, Width: vg.Points(2), Dashes: dotted}
		if err := slope(cpu, cpuEnd, float64(res.NodeCPUs), node); err != nil {
			return nil, nil, legend, err
		}
		legend.Add("all the node's CPUs", &plotter.Line{LineStyle: node})
	}
	if len(marks) > 0 {
		sc, err := plotter.NewScatter(marks)
		if err != nil {
			return nil, nil, legend, err
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: red, Radius: vg.Points(6), Shape: draw.CrossGlyph{}}
		mem.Add(sc)
		labels := make([]string, len(marks))
		for i := range labels {
			labels[i] = OOMLabel
		}
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: marks, Labels: labels})
		if err != nil {
			return nil, nil, legend, err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Color = red
			lb.TextStyle[i].Font.Size = vg.Points(9)
		}
		lb.Offset = vg.Point{X: vg.Points(8), Y: vg.Points(4)}
		mem.Add(lb)
		legend.Add(OOMLabel+" seen", sc)
	}
	return mem, cpu, legend, nil
}

// KubepodsName is the legend's name of the kubepods cgroup's series.
const KubepodsName = "kubepods: all pods together"

// kubeSeries is the kubepods cgroup's samples of one phase as points.
func kubeSeries(res *qos.LabResult, phase string, y func(qos.LabSample) float64) plotter.XYs {
	return series(qos.LabRow{Samples: res.Kubepods}, phase, y)
}

// series is a container's samples of one phase as points.
func series(r qos.LabRow, phase string, y func(qos.LabSample) float64) plotter.XYs {
	var xy plotter.XYs
	for _, x := range r.Samples {
		if x.Phase == phase {
			xy = append(xy, plotter.XY{X: x.Seconds, Y: y(x)})
		}
	}
	return xy
}

// kills are where the container's OOM kills show: at each sample whose
// kill count went up, as high as its memory had got just before. A report
// that counts a kill its samples do not show (a reading missed) gets a
// mark at the time of the first kill.
func kills(res *qos.LabResult, r qos.LabRow) plotter.XYs {
	var xy plotter.XYs
	var n, prev uint64
	for _, x := range r.Samples {
		if x.Phase != qos.PhaseMemory {
			continue
		}
		if x.OOMKills > n {
			xy = append(xy, plotter.XY{X: x.Seconds, Y: float64(max(prev, x.MemoryBytes)) / (1 << 20)})
		}
		n, prev = x.OOMKills, x.MemoryBytes
	}
	if len(xy) == 0 && r.OOMKills > 0 {
		xy = append(xy, plotter.XY{X: res.PressureSeconds + r.FirstOOM.Seconds(), Y: float64(r.PeakMemory) / (1 << 20)})
	}
	return xy
}

func phaseEnd(res *qos.LabResult, phase string) float64 {
	var end float64
	for _, r := range append(slices.Clone(res.Rows), qos.LabRow{Samples: res.Kubepods}) {
		for _, x := range r.Samples {
			if x.Phase == phase {
				end = max(end, x.Seconds)
			}
		}
	}
	return end
}

func line(xy plotter.XYs, sty draw.LineStyle) (*plotter.Line, error) {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return nil, err
	}
	l.LineStyle = sty
	return l, nil
}

// cpuTime is a sample's CPU time: the CPU panel draws it rather than the
// CPUs of each interval, whose jitter (a late reading, then an early one)
// hides the shares.
func cpuTime(x qos.LabSample) float64 { return x.CPUSeconds }

// slope draws n CPUs' worth of CPU time: a line from 0 rising n seconds
// a second.
func slope(p *plot.Plot, end, n float64, sty draw.LineStyle) error {
	l, err := line(plotter.XYs{{X: 0, Y: 0}, {X: end, Y: n * end}}, sty)
	if err != nil {
		return err
	}
	p.Add(l)
	return nil
}

func hline(p *plot.Plot, x0, x1, y float64, sty draw.LineStyle) error {
	l, err := line(plotter.XYs{{X: x0, Y: y}, {X: x1, Y: y}}, sty)
	if err != nil {
		return err
	}
	p.Add(l)
	return nil
}

// cpuLimit is cpu.max ("quota period", µs) in CPUs; false for "max".
func cpuLimit(s string) (float64, bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, false
	}
	q, err1 := strconv.ParseFloat(f[0], 64)
	p, err2 := strconv.ParseFloat(f[1], 64)
	if err1 != nil || err2 != nil || p <= 0 {
		return 0, false
	}
	return q / p, true
}

func mib(b uint64) string {
	if b%(1<<20) == 0 {
		return fmt.Sprintf("%dMi", b>>20)
	}
	return fmt.Sprintf("%.1fMi", float64(b)/(1<<20))
}
