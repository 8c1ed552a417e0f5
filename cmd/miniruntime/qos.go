package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/miniruntime/miniruntime/cgroups/qos"
	"github.com/miniruntime/miniruntime/images"
	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/miniruntime/miniruntime/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type qosFlags struct {
	file                 string
	res                  qos.FlagValues
	nodeMemory, nodeCPU  string
	format               string
	writeBundle, contain string
	driver               string
}

func qosCmd() *cobra.Command {
	var o qosFlags
	c := &cobra.Command{
		Use:   "qos [-f POD.yaml | --cpu-request Q --cpu-limit Q --memory-request Q --memory-limit Q] [--cgroup-driver systemd|cgroupfs] [--format table|json] [--write-bundle DIR [--container NAME]]",
		Short: "Show a pod's Kubernetes QoS class and the cgroup values the kubelet writes for it",
		Long: `qos reads a Pod manifest (YAML or JSON; -f - for stdin), or the requests and
limits of one container given as flags, and prints its QoS class and, for the
pod's cgroup and each container's, what the kubelet writes on cgroup v2:
cpu.weight (by the current quadratic and the older linear conversion),
cpu.max, memory.max, MemoryQoS's memory.min and memory.high, oom_score_adj,
the cgroup paths under kubepods and the linux.cgroupsPath the runtime gets,
for the kubelet's cgroup driver (--cgroup-driver; by default the one this
host's kubelet would use). With --write-bundle it writes a container's values
into a bundle's config.json, to run it and read the kernel's files.

"qos lab" runs a Guaranteed, a Burstable and a BestEffort pod side by side
under CPU contention and memory pressure. See docs/qos.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run() },
	}
	f := c.Flags()
	f.StringVarP(&o.file, "file", "f", "", "Pod manifest, YAML or JSON (- for standard input)")
	f.StringVar(&o.res.CPURequest, "cpu-request", "", "CPU request of a single container (250m, 0.5, 2)")
	f.StringVar(&o.res.CPULimit, "cpu-limit", "", "CPU limit of a single container")
	f.StringVar(&o.res.MemoryRequest, "memory-request", "", "memory request of a single container (64Mi, 1Gi, 128M)")
	f.StringVar(&o.res.MemoryLimit, "memory-limit", "", "memory limit of a single container")
	f.StringVar(&o.nodeMemory, "node-memory", "", "node memory for oom_score_adj and memory.high (default: this host's MemTotal)")
	f.StringVar(&o.nodeCPU, "node-cpu", "", "node CPUs, to tell whether the pod fits (default: this host's)")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.StringVar(&o.writeBundle, "write-bundle", "", "write the container's values into DIR/config.json")
	f.StringVar(&o.contain, "container", "", "with --write-bundle: the container to take (default: the first regular one)")
	f.StringVar(&o.driver, "cgroup-driver", "", driverUsage)
	c.AddCommand(qosLabCmd())
	return c
}

const driverUsage = "the kubelet's cgroup driver, systemd or cgroupfs (default: the cgroupDriver of " + qos.DefaultKubeletConfig +
	"; without it systemd where systemd is PID 1, else cgroupfs)"

// cgroupDriver is the --cgroup-driver flag's driver, or the one this
// host's kubelet would use, and why.
func cgroupDriver(flag string) (qos.Driver, string, error) {
	if flag != "" {
		d, err := qos.ParseDriver(flag)
		return d, "--cgroup-driver " + flag, err
	}
	return qos.DetectDriver(qos.DriverHost{})
}

func (o *qosFlags) run() error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("--format: %q is not table or json", o.format)
	}
	driver, reason, err := cgroupDriver(o.driver)
	if err != nil {
		return err
	}
	if o.contain != "" && o.writeBundle == "" {
		return errors.New("--container: only with --write-bundle")
	}
	node, err := o.node()
	if err != nil {
		return err
	}
	pod, err := o.pod()
	if err != nil {
		return err
	}
	rep, err := qos.Compute(pod, node)
	if err != nil {
		return err
	}
	rep.UseDriver(driver, reason)
	// Check the bundle before printing anything, so that a failure is one
	// line.
	var b *bundleEdit
	if o.writeBundle != "" {
		if b, err = openBundle(o.writeBundle, rep, o.contain); err != nil {
			return err
		}
	}
	out := io.Writer(os.Stdout)
	if o.format == "json" {
		if err := printJSON(rep); err != nil {
			return err
		}
		out = os.Stderr // keep stdout one JSON document
	} else if err := qos.WriteTable(os.Stdout, rep); err != nil {
		return err
	}
	if b == nil {
		return nil
	}
	return b.write(out)
}

func (o *qosFlags) pod() (*qos.Pod, error) {
	flagsGiven := o.res != (qos.FlagValues{})
	if o.file == "" {
		return qos.FromFlags(o.res)
	}
	if flagsGiven {
		return nil, errors.New("give either -f or the --cpu-/--memory- flags, not both")
	}
	var data []byte
	var err error
	name := o.file
	if o.file == "-" {
		name = "stdin"
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(o.file)
	}
	if err != nil {
		return nil, fmt.Errorf("-f: %w", err)
	}
	p, err := qos.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

func (o *qosFlags) node() (qos.Node, error) {
	n, herr := qos.HostNode()
	if o.nodeMemory != "" {
		q, err := qos.ParseQuantity(o.nodeMemory, "--node-memory")
		if err != nil {
			return n, err
		}
		if q.Value() <= 0 {
			return n, errors.New("--node-memory: must be above zero")
		}
		n.Memory, herr = q.Value(), nil
	}
	if herr != nil {
		return n, herr
	}
	if o.nodeCPU != "" {
		q, err := qos.ParseQuantity(o.nodeCPU, "--node-cpu")
		if err != nil {
			return n, err
		}
		if q.MilliValue() <= 0 {
			return n, errors.New("--node-cpu: must be above zero")
		}
		n.MilliCPU = q.MilliValue()
	}
	return n, nil
}

// bundleEdit is a bundle's config.json with a container's values applied.
type bundleEdit struct {
	path   string
	spec   specs.Spec
	c      *qos.ContainerReport
	mode   cgroups.Mode
	driver qos.Driver
	lines  []string
}

// openBundle reads DIR/config.json and applies the container's values in
// memory.
func openBundle(dir string, rep *qos.Report, name string) (*bundleEdit, error) {
	c, err := rep.Container(name)
	if err != nil {
		return nil, err
	}
	b := &bundleEdit{path: filepath.Join(dir, "config.json"), c: c, driver: rep.Driver}
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("--write-bundle: %w", err)
	}
	if err := json.Unmarshal(raw, &b.spec); err != nil {
		return nil, fmt.Errorf("--write-bundle: %s: %w", b.path, err)
	}
	if b.mode, err = cgroups.DetectMode(""); err != nil {
		return nil, err
	}
	if b.lines, err = qos.ApplyToSpec(&b.spec, c, b.mode == cgroups.Unified); err != nil {
		return nil, fmt.Errorf("--write-bundle: %s: %w", b.path, err)
	}
	return b, nil
}

// write saves config.json and tells what changed.
func (b *bundleEdit) write(out io.Writer) error {
	data, err := json.MarshalIndent(&b.spec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("--write-bundle: %w", err)
	}
	fmt.Fprintf(out, "\nWrote container %s's values into %s (host cgroups: %s; cgroup driver: %s):\n", b.c.Name, b.path, b.mode, b.driver)
	for _, l := range b.lines {
		fmt.Fprintln(out, "  "+l)
	}
	if b.driver == qos.Systemd {
		fmt.Fprintf(out, `
The cgroupsPath is the systemd driver's "slice:prefix:name": run the bundle with
  miniruntime --systemd-cgroup run -b %s <id>     (runc: runc --systemd-cgroup run)
The runtime then asks systemd for the scope unit %s in the slice
%s (systemd makes the slices it lies in).
Without --systemd-cgroup the runtime takes it for a relative cgroupfs path: a cgroup by that
odd name under the runtime's own, outside the pod's slice and its limits.
`, filepath.Dir(b.path), b.c.Drivers.Systemd.Unit, strings.SplitN(b.c.CgroupsPath, ":", 2)[0])
		if !cgroups.SystemdRunning() {
			fmt.Fprintf(out, "systemd is not running on this host (no %s): --systemd-cgroup fails here; take --cgroup-driver cgroupfs to run it on this host.\n", qos.DefaultSystemdDir)
		}
	}
	return nil
}

type labFlags struct {
	dir, driver         string
	cpuSeconds, memSecs float64
	interval            time.Duration
	csv, nodeMemory     string
	samplesCSV, chart   string
}

func qosLabCmd() *cobra.Command {
	var o labFlags
	c := &cobra.Command{
		Use:   "lab [--dir examples/qos] [--cgroup-driver systemd|cgroupfs] [--cpu-seconds 4] [--memory-seconds 6] [--interval 250ms] [--csv FILE] [--samples-csv FILE] [--chart FILE.png|FILE.svg]",
		Short: "Run a Guaranteed, a Burstable and a BestEffort pod under CPU contention, then memory pressure",
		Long: `lab runs one busybox container for each container of the pods in --dir, in a
kubepods cgroup tree of its own built as the kubelet builds it. First every
container runs two busy loops (CPU contention); then the containers with a
memory limit hold some memory while the others allocate until the kernel's OOM
killer has to choose a victim under the lab's memory limit (--node-memory).
It reports each container's CPU share, throttling, peak memory and OOM kills,
its memory over time as a sparkline, and which class died first and why.
--chart draws every container's memory and CPU over time, against its limits
and with its OOM kills marked, as PNG or SVG by the file's extension; the
miniruntime-chart program beside miniruntime (or on PATH) draws it. With the
systemd cgroup driver the tree is made of transient systemd slice units (under
a slice of the lab's own) and the containers run with --systemd-cgroup, as
scopes in them; that needs systemd as PID 1. It needs root and removes everything it made (containers, cgroups
or units, temporary files) on every exit path.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run() },
	}
	f := c.Flags()
	f.StringVar(&o.dir, "dir", "examples/qos", "directory of Pod manifests")
	f.Float64Var(&o.cpuSeconds, "cpu-seconds", 4, "length of the CPU contention phase")
	f.Float64Var(&o.memSecs, "memory-seconds", 6, "longest length of the memory pressure phase")
	f.DurationVar(&o.interval, "interval", 250*time.Millisecond, "how often the cgroups are sampled")
	f.StringVar(&o.csv, "csv", "", "also write the results as CSV to this file")
	f.StringVar(&o.samplesCSV, "samples-csv", "", "also write every sample (time, memory, CPUs, OOM kills of each container) as CSV to this file")
	f.StringVar(&o.chart, "chart", "", "also draw the samples into this file: FILE.png or FILE.svg")
	f.StringVar(&o.nodeMemory, "node-memory", "384Mi", "the lab node's memory: the memory limit of the lab's kubepods cgroup")
	f.StringVar(&o.driver, "cgroup-driver", "", driverUsage)
	return c
}

func (o *labFlags) run() (err error) {
	driver, reason, err := cgroupDriver(o.driver)
	if err != nil {
		return err
	}
	if driver == qos.Systemd && !cgroups.SystemdRunning() {
		return qos.ErrNoSystemd
	}
	for _, d := range []struct {
		name string
		v    float64
	}{{"--cpu-seconds", o.cpuSeconds}, {"--memory-seconds", o.memSecs}} {
		if d.v <= 0 || d.v > 600 {
			return fmt.Errorf("%s: %g is not between 0 and 600", d.name, d.v)
		}
	}
	if o.interval < 10*time.Millisecond || o.interval > 10*time.Second {
		return fmt.Errorf("--interval: %s is not between 10ms and 10s", o.interval)
	}
	var chartFormat, chartHelper string
	if o.chart != "" {
		if chartFormat, err = qos.ChartFormat(o.chart); err != nil {
			return err
		}
		if chartHelper, err = chartHelperPath(); err != nil {
			return err
		}
	}
	mem, err := qos.ParseQuantity(o.nodeMemory, "--node-memory")
	if err != nil {
		return err
	}
	// The lab really allocates up to this much: keep it well inside the
	// machine.
	if host, err := qos.HostNode(); err == nil && mem.Value() > host.Memory/2 {
		return fmt.Errorf("--node-memory: %s is more than half of this machine's memory", mem.String())
	}
	pods, err := qos.LoadDir(o.dir)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates cgroups and containers")
	}
	var csvFile, samplesFile, chartFile *os.File
	if o.csv != "" {
		if csvFile, err = os.Create(o.csv); err != nil {
			return fmt.Errorf("--csv: %w", err)
		}
		defer csvFile.Close()
	}
	if o.samplesCSV != "" {
		if samplesFile, err = os.Create(o.samplesCSV); err != nil {
			return fmt.Errorf("--samples-csv: %w", err)
		}
		defer samplesFile.Close()
	}
	if o.chart != "" {
		// Opened now, so that a path that cannot be written fails before
		// the lab runs; removed again if no chart gets into it.
		if chartFile, err = os.Create(o.chart); err != nil {
			return fmt.Errorf("--chart: %w", err)
		}
		defer func() {
			chartFile.Close()
			if err != nil {
				os.Remove(o.chart)
			}
		}()
	}

	// A lab that was killed (SIGKILL) could not remove its directory; the
	// next one does. Its cgroups are swept by RunLab.
	if stale, _ := filepath.Glob(filepath.Join(os.TempDir(), qos.LabPrefix+"*")); len(stale) > 0 {
		for _, d := range stale {
			if qos.LabOwnerGone(filepath.Base(d)) {
				os.RemoveAll(d)
			}
		}
	}
	tmp, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", qos.LabPrefix, os.Getpid()))
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := images.Busybox(rootfs); err != nil {
		return err
	}
	st := &labStarter{dir: tmp, rootfs: rootfs, state: filepath.Join(tmp, "state")}

	cpu := time.Duration(o.cpuSeconds * float64(time.Second))
	memTime := time.Duration(o.memSecs * float64(time.Second))
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cpu+memTime+2*time.Minute)
	defer cancel()
	fmt.Fprintf(os.Stderr, "qos lab: cgroup driver %s: %s\n", driver, reason)
	res, err := qos.RunLab(ctx, qos.LabOptions{
		Pods: pods, CPUTime: cpu, MemoryTime: memTime, Interval: o.interval, Driver: driver,
		NodeMemory: mem.Value(), Recorder: g.recorder("qos"), Progress: os.Stderr, Create: st.create,
	})
	if err != nil {
		return err
	}
	if err := qos.WriteLabTableWith(os.Stdout, res, qos.LabTableOptions{ASCII: !utf8Locale()}); err != nil {
		return err
	}
	if csvFile != nil {
		if err := qos.WriteLabCSV(csvFile, res); err != nil {
			return fmt.Errorf("--csv: %w", err)
		}
		if err := csvFile.Close(); err != nil {
			return fmt.Errorf("--csv: %w", err)
		}
	}
	if samplesFile != nil {
		if err := qos.WriteLabSamplesCSV(samplesFile, res); err != nil {
			return fmt.Errorf("--samples-csv: %w", err)
		}
		if err := samplesFile.Close(); err != nil {
			return fmt.Errorf("--samples-csv: %w", err)
		}
	}
	if chartFile != nil {
		if err := drawChart(chartHelper, chartFormat, res, chartFile, g.recorder("qos")); err != nil {
			return fmt.Errorf("--chart %s: %w", o.chart, err)
		}
		fmt.Fprintf(os.Stderr, "qos lab: drew %s\n", o.chart)
	}
	return nil
}

// chartBinary draws the lab's charts: gonum/plot would add its package
// initialisation to every start of miniruntime, so it is a program of its
// own (docs/qos.md has the numbers).
const chartBinary = "miniruntime-chart"

// chartHelperPath finds miniruntime-chart: $MINIRUNTIME_CHART_HELPER,
// beside this binary, or on $PATH.
func chartHelperPath() (string, error) {
	if p := os.Getenv("MINIRUNTIME_CHART_HELPER"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("--chart: $MINIRUNTIME_CHART_HELPER: %w", err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), chartBinary)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(chartBinary); err == nil {
		return p, nil
	}
	return "", errors.New("--chart: " + chartBinary + " is neither beside miniruntime nor on PATH (scripts/setup.sh installs it; or go build -o bin/" + chartBinary + " ./cmd/" + chartBinary + ")")
}

// drawChart has the helper draw the report into out.
func drawChart(helper, format string, res *qos.LabResult, out *os.File, rec *trace.Recorder) error {
	report, err := json.Marshal(res)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"qos-lab", "--format", format}
	rec.Step("draw the chart with the helper", trace.Quote(append([]string{chartBinary}, args...)...)+" < report.json > "+out.Name())
	cmd := exec.CommandContext(ctx, helper, args...)
	var stderr strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(string(report)), out, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			// The helper's own one line, without its name.
			return errors.New(strings.TrimPrefix(msg, chartBinary+": "))
		}
		return err
	}
	return out.Close()
}

// utf8Locale reports whether the terminal's locale, as LC_ALL, LC_CTYPE
// or LANG name it, takes UTF-8; with none of them set it is taken to, as
// the rest of the table's text needs it anyway.
func utf8Locale() bool {
	for _, v := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if l := os.Getenv(v); l != "" {
			l = strings.ToLower(l)
			return strings.Contains(l, "utf-8") || strings.Contains(l, "utf8")
		}
	}
	return true
}

// labStarter makes the lab's containers with the runtime's library API,
// in a state root and bundles of its own, sharing one read-only busybox
// rootfs.
type labStarter struct {
	dir, rootfs, state string
}

func (s *labStarter) create(lc qos.LabContainer) (*qos.LabHandle, error) {
	bundle := filepath.Join(s.dir, "bundles", lc.ID)
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, err
	}
	spec := runtime.DefaultSpec()
	spec.Root = &specs.Root{Path: s.rootfs, Readonly: true}
	spec.Hostname = "qoslab"
	spec.Process.Terminal = false
	spec.Process.Args = lc.Args
	adj := lc.OOMScoreAdj
	spec.Process.OOMScoreAdj = &adj
	spec.Linux.CgroupsPath = lc.CgroupsPath
	lc.Resources.Devices = spec.Linux.Resources.Devices
	spec.Linux.Resources = lc.Resources
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		return nil, err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer null.Close()
	rec := g.recorder("qos")
	o := runtime.CreateOptions{ID: lc.ID, Bundle: bundle}
	o.Stdin, o.Stdout, o.Stderr, o.Trace = null, null, null, rec
	rt := &runtime.Runtime{Root: s.state, SystemdCgroup: lc.SystemdCgroup, Warn: g.warn}
	c, proc, err := rt.Create(o)
	if err != nil {
		os.RemoveAll(bundle)
		return nil, err
	}
	done := make(chan struct{})
	go func() { proc.Wait(); close(done) }()
	return &qos.LabHandle{
		Pid:   proc.Pid,
		Start: func() error { return c.Start(rec) },
		Stop: func() error {
			err := c.Delete(true, rec)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				err = errors.Join(err, fmt.Errorf("container %s: init %d not reaped after delete", lc.ID, proc.Pid))
			}
			os.RemoveAll(bundle)
			return err
		},
	}, nil
}
