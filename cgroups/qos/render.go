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
	fmt.Fprintf(&b, "Node: %s CPU, %s memory (%d bytes: the capacity in oom_score_adj, the allocatable in memory.high)\n\n", r.Node.CPU, human(r.Node.MemoryBytes), r.Node.MemoryBytes)

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

Cgroups (kubelet cgroupfs driver; under /sys/fs/cgroup on v2, /sys/fs/cgroup/<controller> on v1):
`)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  pod\t%s\n", r.Cgroup.Path)
	for _, c := range r.Containers {
		fmt.Fprintf(tw, "  %s\t%s\n", label(c), c.Cgroup.Path)
	}
	if err := tw.Flush(); err != nil {
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
