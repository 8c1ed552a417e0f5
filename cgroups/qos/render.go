package qos

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

func marshalJSON(v any) ([]byte, error) { return json.Marshal(v) }

// WriteTable prints the report for a person: the class, one row per cgroup
// (the pod's, then each container's) with the values the kubelet writes,
// the cgroup paths and the notes that explain them.
func WriteTable(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Pod %s/%s  uid %s", r.Namespace, r.Pod, r.UID)
	if r.UIDGenerated {
		b.WriteString(" (made up: the manifest has no metadata.uid)")
	}
	fmt.Fprintf(&b, "\nQoS class: %s\n", r.Class)
	fmt.Fprintf(&b, "Node: %s CPU, %s memory (%d bytes: the capacity in oom_score_adj, the allocatable in memory.high)\n", r.Node.CPU, human(r.Node.MemoryBytes), r.Node.MemoryBytes)
	fmt.Fprintf(&b, "Cgroup driver: %s", r.Driver)
	if r.DriverReason != "" {
		fmt.Fprintf(&b, " (%s)", r.DriverReason)
	}
	b.WriteString("\n\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CGROUP\tREQUESTS\tLIMITS\tCPU.SHARES\tCPU.WEIGHT\tQUADRATIC/LINEAR\tCPU.MAX\tMEMORY.MAX\tMEMORY.MIN†\tMEMORY.HIGH†\tOOM_SCORE_ADJ")
	row := func(name string, req, lim map[string]string, v CgroupValues, adj string) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d/%d\t%s\t%s\t%s\t%s\t%s\n",
			name, pair(req), pair(lim), v.CPUShares, v.Weight(), v.WeightQuadratic(), v.WeightLinear(),
			v.CPUMax(), v.MemoryMax(), v.MemoryMinFile(), v.MemoryHighFile(), adj)
	}
	row("pod", r.Requests, r.Limits, r.Cgroup, "-")
	for _, c := range r.Containers {
		row(label(c), c.Requests, c.Limits, c.Cgroup, strconv.Itoa(c.OOMScoreAdj))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString(`
REQUESTS and LIMITS are cpu/memory after defaulting (a request left out is the limit).
CPU.WEIGHT is what cgroup v2 gets: the pod's is the kubelet's own linear conversion of cpu.shares,
  1 + (shares−2)·9999/262142; a container's is converted by the OCI runtime: quadratic since
  runc 1.3.2 and crun 1.23 (and in miniruntime), linear before. Both are shown as QUADRATIC/LINEAR.
CPU.MAX is "quota period" in µs: limit·100000/1000 per 100 ms period (at least 1000), "max" with no limit.
† written only with the MemoryQoS feature gate (alpha) on cgroup v2: memory.min = the request;
  memory.high = floor((request + 0.9·(limit, or node allocatable, − request)) / 4096)·4096,
  not written when the request equals the limit.
OOM_SCORE_ADJ: Guaranteed −997, BestEffort 1000, Burstable 1000 − 1000·memory request/node memory
  kept within [3, 999].
`)
	if err := writePaths(&b, r); err != nil {
		return err
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writePaths prints where the cgroups are with the report's driver, the
// systemd units and their properties (systemd), and the cgroupsPath the
// runtime receives with each driver.
func writePaths(b *strings.Builder, r *Report) error {
	d := r.Driver
	fmt.Fprintf(b, "\nCgroups with the %s driver (under /sys/fs/cgroup on v2, /sys/fs/cgroup/<controller> on v1):\n", d)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  pod\t%s\n", r.Drivers.Of(d).Path)
	for _, c := range r.Containers {
		fmt.Fprintf(tw, "  %s\t%s\n", label(c), c.Drivers.Of(d).Path)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d == Systemd {
		b.WriteString(`
systemd units: the kubelet starts the pod's slice, the runtime each container's scope, with these
  properties (cgroup v2 names; v1 takes CPUShares= and MemoryLimit=), and systemd writes the files.
  A dash in a slice's name is a level (kubepods-burstable.slice is in kubepods.slice), so the
  kubelet writes the dashes of the pod uid as underscores:
`)
		tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  pod\t%s\t%s\n", r.Drivers.Systemd.Unit, strings.Join(r.Drivers.Systemd.Properties, " "))
		for _, c := range r.Containers {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", label(c), c.Drivers.Systemd.Unit, strings.Join(c.Drivers.Systemd.Properties, " "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	b.WriteString("\nlinux.cgroupsPath the runtime receives from containerd's CRI plugin, with each driver:\n")
	other := Cgroupfs
	if d == Cgroupfs {
		other = Systemd
	}
	tw = tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	for _, c := range r.Containers {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", label(c), d, c.Drivers.Of(d).CgroupsPath, driverRun(d))
		fmt.Fprintf(tw, "  \t%s\t%s\t%s\n", other, c.Drivers.Of(other).CgroupsPath, driverRun(other))
	}
	return tw.Flush()
}

// driverRun says how a runtime is run for the driver's cgroupsPath.
func driverRun(d Driver) string {
	if d == Systemd {
		return "(the runtime runs with --systemd-cgroup)"
	}
	return "(the runtime runs without --systemd-cgroup)"
}

func label(c ContainerReport) string {
	if c.Type == "container" {
		return c.Name
	}
	return c.Name + " (" + c.Type + ")"
}

func pair(m map[string]string) string {
	cpu, mem := m["cpu"], m["memory"]
	if cpu == "" {
		cpu = "-"
	}
	if mem == "" {
		mem = "-"
	}
	return cpu + "/" + mem
}
