package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

// Commands that act on a live container through its cgroup.

func loadContainer(id string) (*runtime.Container, error) { return g.runtime().Load(id) }

func pauseCmd() *cobra.Command {
	return idCmd(&cobra.Command{
		Use:   "pause ID",
		Short: "Freeze every process of a container (cgroup freezer)",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			return c.Pause(g.recorder("pause"))
		},
	})
}

func resumeCmd() *cobra.Command {
	return idCmd(&cobra.Command{
		Use:   "resume ID",
		Short: "Thaw a paused container",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			return c.Resume(g.recorder("resume"))
		},
	})
}

func psCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "ps [--format table|json] ID [-- PS-ARGS...]",
		Short: "List the processes of a container (ps -ef lines, or a JSON array of host pids)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			pids, err := c.Processes()
			if err != nil {
				return err
			}
			switch format {
			case "json":
				return json.NewEncoder(os.Stdout).Encode(pids)
			case "table":
				return psTable(pids, args[1:])
			}
			return fmt.Errorf("--format: %q is not table or json", format)
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return idCmd(c)
}

// psTable runs the host's ps and keeps the header and the container's lines,
// as runc does.
func psTable(pids []int, psArgs []string) error {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	out, err := exec.Command("ps", psArgs...).Output()
	if err != nil {
		return fmt.Errorf("ps %s: %w", strings.Join(psArgs, " "), err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	col := -1
	for i, f := range strings.Fields(lines[0]) {
		if f == "PID" {
			col = i
		}
	}
	if col < 0 {
		return fmt.Errorf("ps %s: output has no PID column", strings.Join(psArgs, " "))
	}
	in := map[string]bool{}
	for _, p := range pids {
		in[strconv.Itoa(p)] = true
	}
	fmt.Println(lines[0])
	for _, l := range lines[1:] {
		if f := strings.Fields(l); len(f) > col && in[f[col]] {
			fmt.Println(l)
		}
	}
	return nil
}

func updateCmd() *cobra.Command {
	var u updateFlags
	c := &cobra.Command{
		Use:   "update [flags] ID",
		Short: "Change the resource limits of a running container",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := u.resources(cmd)
			if err != nil {
				return err
			}
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			return c.Update(res, g.recorder("update"))
		},
	}
	u.register(c)
	return idCmd(c)
}

type updateFlags struct {
	resourcesFile                                    string
	memory, memoryReservation, memorySwap, kernelMem string
	kernelTCP                                        string
	cpuShares, cpuPeriod, cpuRtPeriod                uint64
	cpuQuota, cpuRtRuntime, cpuBurst, pidsLimit      int64
	cpusetCpus, cpusetMems                           string
	blkioWeight                                      uint16
}

func (u *updateFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringVarP(&u.resourcesFile, "resources", "r", "", "LinuxResources JSON from this file, or - for stdin")
	f.StringVar(&u.memory, "memory", "", "memory limit (bytes, or with k/m/g suffix; -1 for none)")
	f.StringVar(&u.memoryReservation, "memory-reservation", "", "memory soft limit")
	f.StringVar(&u.memorySwap, "memory-swap", "", "memory plus swap limit")
	f.StringVar(&u.kernelMem, "kernel-memory", "", "kernel memory limit (cgroup v1 only)")
	f.StringVar(&u.kernelTCP, "kernel-memory-tcp", "", "kernel TCP buffer limit (cgroup v1 only)")
	f.Uint64Var(&u.cpuShares, "cpu-share", 0, "CPU shares (relative weight)")
	f.Uint64Var(&u.cpuPeriod, "cpu-period", 0, "CPU CFS period in microseconds")
	f.Int64Var(&u.cpuQuota, "cpu-quota", 0, "CPU CFS quota in microseconds per period")
	f.Int64Var(&u.cpuBurst, "cpu-burst", 0, "CPU CFS burst in microseconds")
	f.Uint64Var(&u.cpuRtPeriod, "cpu-rt-period", 0, "realtime period in microseconds")
	f.Int64Var(&u.cpuRtRuntime, "cpu-rt-runtime", 0, "realtime runtime in microseconds")
	f.StringVar(&u.cpusetCpus, "cpuset-cpus", "", "CPUs the container may run on (0-3, 0,1)")
	f.StringVar(&u.cpusetMems, "cpuset-mems", "", "memory nodes the container may use")
	f.Int64Var(&u.pidsLimit, "pids-limit", 0, "maximum number of processes (-1 for none)")
	f.Uint16Var(&u.blkioWeight, "blkio-weight", 0, "block IO weight (10-1000)")
}

// resources builds the LinuxResources to apply: the --resources document,
// or the individual flags that were given (flags not given stay unset, so
// the matching limits are left as they are).
func (u *updateFlags) resources(cmd *cobra.Command) (*specs.LinuxResources, error) {
	if u.resourcesFile != "" {
		return runtime.ReadResources(u.resourcesFile)
	}
	f := cmd.Flags()
	res := &specs.LinuxResources{}
	mem := &specs.LinuxMemory{}
	for _, m := range []struct {
		flag string
		val  string
		dst  **int64
	}{
		{"memory", u.memory, &mem.Limit}, {"memory-reservation", u.memoryReservation, &mem.Reservation},
		{"memory-swap", u.memorySwap, &mem.Swap}, {"kernel-memory", u.kernelMem, &mem.Kernel},
		{"kernel-memory-tcp", u.kernelTCP, &mem.KernelTCP},
	} {
		if !f.Changed(m.flag) {
			continue
		}
		n, err := parseBytes(m.val)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", m.flag, err)
		}
		*m.dst = &n
		res.Memory = mem
	}
	cpu := &specs.LinuxCPU{}
	setCPU := func(flag string, apply func()) {
		if f.Changed(flag) {
			apply()
			res.CPU = cpu
		}
	}
	setCPU("cpu-share", func() { cpu.Shares = &u.cpuShares })
	setCPU("cpu-period", func() { cpu.Period = &u.cpuPeriod })
	setCPU("cpu-quota", func() { cpu.Quota = &u.cpuQuota })
	setCPU("cpu-burst", func() { b := uint64(u.cpuBurst); cpu.Burst = &b })
	setCPU("cpu-rt-period", func() { cpu.RealtimePeriod = &u.cpuRtPeriod })
	setCPU("cpu-rt-runtime", func() { cpu.RealtimeRuntime = &u.cpuRtRuntime })
	setCPU("cpuset-cpus", func() { cpu.Cpus = u.cpusetCpus })
	setCPU("cpuset-mems", func() { cpu.Mems = u.cpusetMems })
	if f.Changed("pids-limit") {
		res.Pids = &specs.LinuxPids{Limit: &u.pidsLimit}
	}
	if f.Changed("blkio-weight") {
		res.BlockIO = &specs.LinuxBlockIO{Weight: &u.blkioWeight}
	}
	return res, nil
}

// parseBytes reads 67108864, 64m, 64MiB, 1g or -1.
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "-1" {
		return -1, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size in bytes", s)
	}
	return n * mult, nil
}

func eventsCmd() *cobra.Command {
	var stats bool
	var interval time.Duration
	c := &cobra.Command{
		Use:   "events [--stats] [--interval 5s] ID",
		Short: "Print container statistics once, or stream them and OOM events as JSON lines",
		Args:  exactID,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadContainer(args[0])
			if err != nil {
				return err
			}
			if interval <= 0 {
				return fmt.Errorf("--interval: %s is not positive", interval)
			}
			return streamEvents(c, stats, interval)
		},
	}
	c.Flags().BoolVar(&stats, "stats", false, "print the statistics once and exit")
	c.Flags().DurationVar(&interval, "interval", 5*time.Second, "time between statistics")
	return idCmd(c)
}

// event is one line of `events`, in runc's shape.
type event struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

// streamEvents prints stats every interval and an "oom" event whenever the
// kernel's OOM-kill count rises (checked every 100 ms), until the container
// stops.
func streamEvents(c *runtime.Container, once bool, interval time.Duration) error {
	enc := json.NewEncoder(os.Stdout)
	st, err := c.Stats()
	if err != nil {
		return err
	}
	if once {
		return enc.Encode(event{Type: "stats", ID: c.ID, Data: st})
	}
	ooms := st.OOMKills
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	next := time.Now()
	for {
		// The status is read first: an OOM kill that ends the container
		// (its pid 1 chosen) is still counted by the read after it.
		stopped := c.Status() == runtime.Stopped
		st, err := c.Stats()
		if err != nil {
			if stopped {
				return nil
			}
			return err
		}
		for ; ooms < st.OOMKills; ooms++ {
			enc.Encode(event{Type: "oom", ID: c.ID})
		}
		if stopped {
			return nil
		}
		if !time.Now().Before(next) {
			enc.Encode(event{Type: "stats", ID: c.ID, Data: st})
			next = time.Now().Add(interval)
		}
		<-tick.C
	}
}

func featuresCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "features",
		Short: "Print what this build supports (runtime-spec features JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return printJSON(runtime.Features())
		},
	}
}
