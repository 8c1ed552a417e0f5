package cgroups

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// show renders settings as "controller:file=value", with the alternative and
// flags, so that a table row reads like what gets written.
func show(settings []Setting, keepDevices bool) []string {
	var out []string
	for _, s := range settings {
		if s.Controller == "devices" && !keepDevices {
			continue
		}
		if s.Ignore != "" {
			out = append(out, fmt.Sprintf("ignore %s=%s: %s", s.Field, s.Value, s.Ignore))
			continue
		}
		line := fmt.Sprintf("%s:%s=%s", s.Controller, s.File, s.Value)
		if s.Alt != nil {
			line += fmt.Sprintf(" else %s=%s", s.Alt.File, s.Alt.Value)
		}
		if s.Optional {
			line += " [optional]"
		}
		if s.Retry {
			line += " [retry]"
		}
		if s.Verify {
			line += " [verify]"
		}
		if s.Deprecated {
			line += " [deprecated]"
		}
		out = append(out, line)
	}
	return out
}

func u16(v uint16) *uint16 { return &v }
func u32(v uint32) *uint32 { return &v }
func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }

func dev(major, minor int64) specs.LinuxBlockIODevice {
	return specs.LinuxBlockIODevice{Major: major, Minor: minor}
}

// Each row sets one field (or a small group) and lists what v1 and v2 write.
// A want of nil with a wantErr means the field is refused on that version.
var renderCases = []struct {
	name       string
	res        specs.LinuxResources
	v1, v2     []string
	v1Err      string
	v2Err      string
	v1Kind     error
	v2Kind     error
	keepDevice bool
}{
	{
		name: "memory.limit",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}},
		v1:   []string{"memory:memory.limit_in_bytes=67108864 [retry]"},
		v2:   []string{"memory:memory.max=67108864"},
	},
	{
		name: "memory.limit -1 also lifts swap",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}},
		v1:   []string{"memory:memory.limit_in_bytes=-1 [retry]", "memory:memory.memsw.limit_in_bytes=-1 [optional] [retry]"},
		v2:   []string{"memory:memory.swap.max=max [optional]", "memory:memory.max=max"},
	},
	{
		name: "memory.swap is a total on v1, swap alone on v2",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(300)}},
		v1:   []string{"memory:memory.limit_in_bytes=100 [retry]", "memory:memory.memsw.limit_in_bytes=300 [retry]"},
		v2:   []string{"memory:memory.swap.max=200", "memory:memory.max=100"},
	},
	{
		name: "memory.swap equal to limit means no swap",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(100)}},
		v1:   []string{"memory:memory.limit_in_bytes=100 [retry]", "memory:memory.memsw.limit_in_bytes=100 [retry]"},
		v2:   []string{"memory:memory.swap.max=0 [optional]", "memory:memory.max=100"},
	},
	{
		name: "memory.swap -1",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Swap: i64(-1)}},
		v1:   []string{"memory:memory.limit_in_bytes=100 [retry]", "memory:memory.memsw.limit_in_bytes=-1 [retry]"},
		v2:   []string{"memory:memory.swap.max=max [optional]", "memory:memory.max=100"},
	},
	{
		name:  "memory.swap finite with unlimited memory",
		res:   specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(300)}},
		v1Err: "linux.resources.memory.swap: a finite memory+swap total", v1Kind: ErrNotSupported,
		v2: []string{"memory:memory.swap.max=300", "memory:memory.max=max"},
	},
	{
		name: "memory.reservation",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(1 << 20)}},
		v1:   []string{"memory:memory.soft_limit_in_bytes=1048576"},
		v2:   []string{"memory:memory.low=1048576"},
	},
	{
		name: "memory.kernel",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(1 << 20)}}, //nolint:staticcheck
		v1:   []string{"memory:memory.kmem.limit_in_bytes=1048576 [verify] [deprecated]"},
		v2:   []string{"ignore linux.resources.memory.kernel=1048576: cgroup v2 has no kernel memory limit; kernel memory is charged to memory.max (a deprecated field, which runc and crun ignore too)"},
	},
	{
		name: "memory.kernelTCP",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(1 << 20)}},
		v1:   []string{"memory:memory.kmem.tcp.limit_in_bytes=1048576 [verify] [deprecated]"},
		v2:   []string{"ignore linux.resources.memory.kernelTCP=1048576: cgroup v2 has no separate TCP buffer limit; socket memory is charged to memory.max (a deprecated field, which runc and crun ignore too)"},
	},
	{
		name: "memory.kernel with a limit: the limit is written, kernel ignored on v2",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100), Kernel: i64(50)}}, //nolint:staticcheck
		v1:   []string{"memory:memory.limit_in_bytes=100 [retry]", "memory:memory.kmem.limit_in_bytes=50 [verify] [deprecated]"},
		v2:   []string{"ignore linux.resources.memory.kernel=50: cgroup v2 has no kernel memory limit; kernel memory is charged to memory.max (a deprecated field, which runc and crun ignore too)", "memory:memory.max=100"},
	},
	{
		name:  "memory.swappiness",
		res:   specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(30)}},
		v1:    []string{"memory:memory.swappiness=30"},
		v2Err: "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness", v2Kind: ErrNotSupported,
	},
	{
		name:  "memory.disableOOMKiller true",
		res:   specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: ptr(true)}},
		v1:    []string{"memory:memory.oom_control=1"},
		v2Err: "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer", v2Kind: ErrNotSupported,
	},
	{
		name: "memory.disableOOMKiller false is v2's only behaviour",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: ptr(false)}},
		v1:   []string{"memory:memory.oom_control=0"},
		v2:   nil,
	},
	{
		name:  "memory.useHierarchy false",
		res:   specs.LinuxResources{Memory: &specs.LinuxMemory{UseHierarchy: ptr(false)}},
		v1:    []string{"memory:memory.use_hierarchy=0"},
		v2Err: "linux.resources.memory.useHierarchy: cgroup v2 is always hierarchical", v2Kind: ErrNotSupported,
	},
	{
		name: "memory.checkBeforeUpdate writes nothing",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{CheckBeforeUpdate: ptr(true)}},
	},
	{
		name: "cpu.shares",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1024)}},
		v1:   []string{"cpu:cpu.shares=1024"},
		v2:   []string{"cpu:cpu.weight=100"},
	},
	{
		name: "cpu.quota and period",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000)}},
		v1:   []string{"cpu:cpu.cfs_period_us=100000 [retry]", "cpu:cpu.cfs_quota_us=50000 [retry]"},
		v2:   []string{"cpu:cpu.max=50000 100000 [retry]"},
	},
	{
		name: "cpu.quota alone keeps the period",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1)}},
		v1:   []string{"cpu:cpu.cfs_quota_us=-1 [retry]"},
		v2:   []string{"cpu:cpu.max=max [retry]"},
	},
	{
		name: "cpu.period alone",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(20000)}},
		v1:   []string{"cpu:cpu.cfs_period_us=20000 [retry]"},
		v2:   []string{"cpu:cpu.max=max 20000 [retry]"},
	},
	{
		name: "cpu.burst",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Burst: u64(10000)}},
		v1:   []string{"cpu:cpu.cfs_quota_us=50000 [retry]", "cpu:cpu.cfs_burst_us=10000 [retry]"},
		v2:   []string{"cpu:cpu.max.burst=10000 [retry]", "cpu:cpu.max=50000 [retry]"},
	},
	{
		name: "cpu.idle",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(1)}},
		v1:   []string{"cpu:cpu.idle=1"},
		v2:   []string{"cpu:cpu.idle=1"},
	},
	{
		name:  "cpu.realtime",
		res:   specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(950000), RealtimePeriod: u64(1000000)}},
		v1:    []string{"cpu:cpu.rt_period_us=1000000 [retry]", "cpu:cpu.rt_runtime_us=950000 [retry]"},
		v2Err: "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime", v2Kind: ErrNotSupported,
	},
	{
		name: "cpu.cpus and mems",
		res:  specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1", Mems: "0"}},
		v1:   []string{"cpuset:cpuset.cpus=0-1", "cpuset:cpuset.mems=0"},
		v2:   []string{"cpuset:cpuset.cpus=0-1", "cpuset:cpuset.mems=0"},
	},
	{
		name: "pids.limit",
		res:  specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}},
		v1:   []string{"pids:pids.max=100"},
		v2:   []string{"pids:pids.max=100"},
	},
	{
		name: "pids.limit -1",
		res:  specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}},
		v1:   []string{"pids:pids.max=max"},
		v2:   []string{"pids:pids.max=max"},
	},
	{
		name: "pids.limit 0",
		res:  specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
		v1:   []string{"pids:pids.max=0"},
		v2:   []string{"pids:pids.max=0"},
	},
	{
		name: "blockIO.weight",
		res:  specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(500)}},
		v1:   []string{"blkio:blkio.weight=500 else blkio.bfq.weight=500"},
		v2:   []string{"io:io.bfq.weight=500 else io.weight=4950"},
	},
	{
		name:  "blockIO.leafWeight",
		res:   specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(300)}},
		v1:    []string{"blkio:blkio.leaf_weight=300"},
		v2Err: "linux.resources.blockIO.leafWeight: cgroup v2 has no leaf weights", v2Kind: ErrNotSupported,
	},
	{
		name: "blockIO.weightDevice",
		res:  specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), Weight: u16(10)}}}},
		v1:   []string{"blkio:blkio.weight_device=8:0 10 else blkio.bfq.weight_device=8:0 10"},
		v2:   []string{"io:io.bfq.weight=8:0 10 else io.weight=8:0 1"},
	},
	{
		name:  "blockIO.weightDevice leafWeight",
		res:   specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), LeafWeight: u16(20)}}}},
		v1:    []string{"blkio:blkio.leaf_weight_device=8:0 20"},
		v2Err: "linux.resources.blockIO.weightDevice[0].leafWeight: cgroup v2 has no leaf weights", v2Kind: ErrNotSupported,
	},
	{
		name: "blockIO throttles",
		res: specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
			ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 1 << 20}},
			ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 2 << 20}},
			ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 16), Rate: 100}},
			ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 16), Rate: 0}},
		}},
		v1: []string{
			"blkio:blkio.throttle.read_bps_device=8:0 1048576",
			"blkio:blkio.throttle.write_bps_device=8:0 2097152",
			"blkio:blkio.throttle.read_iops_device=8:16 100",
			"blkio:blkio.throttle.write_iops_device=8:16 0",
		},
		v2: []string{
			"io:io.max=8:0 rbps=1048576",
			"io:io.max=8:0 wbps=2097152",
			"io:io.max=8:16 riops=100",
			"io:io.max=8:16 wiops=max",
		},
	},
	{
		name: "hugepageLimits",
		res:  specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 20}}},
		v1:   []string{"hugetlb:hugetlb.2MB.limit_in_bytes=4194304", "hugetlb:hugetlb.2MB.rsvd.limit_in_bytes=4194304 [optional]"},
		v2:   []string{"hugetlb:hugetlb.2MB.max=4194304", "hugetlb:hugetlb.2MB.rsvd.max=4194304 [optional]"},
	},
	{
		name:  "network.classID",
		res:   specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001)}},
		v1:    []string{"net_cls:net_cls.classid=1048577"},
		v2Err: "linux.resources.network.classID: cgroup v2 has no net_cls", v2Kind: ErrNotSupported,
	},
	{
		name:  "network.priorities",
		res:   specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}, {Name: "lo", Priority: 2}}}},
		v1:    []string{"net_prio:net_prio.ifpriomap=eth0 5", "net_prio:net_prio.ifpriomap=lo 2"},
		v2Err: "linux.resources.network.priorities: cgroup v2 has no net_prio", v2Kind: ErrNotSupported,
	},
	{
		name: "rdma",
		res: specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{
			"mlx5_1": {HcaHandles: u32(3)},
			"mlx5_0": {HcaHandles: u32(2), HcaObjects: u32(2000)},
		}},
		v1: []string{"rdma:rdma.max=mlx5_0 hca_handle=2 hca_object=2000", "rdma:rdma.max=mlx5_1 hca_handle=3"},
		v2: []string{"rdma:rdma.max=mlx5_0 hca_handle=2 hca_object=2000", "rdma:rdma.max=mlx5_1 hca_handle=3"},
	},
	{
		name:  "unified",
		res:   specs.LinuxResources{Unified: map[string]string{"memory.high": "50000000", "io.max": "8:0 rbps=10\n8:16 wbps=20\n", "hugetlb.1GB.rsvd.max": "0"}},
		v1Err: "linux.resources.unified: cgroup v2 files cannot be set on a cgroup v1 host", v1Kind: ErrNotSupported,
		v2: []string{"hugetlb:hugetlb.1GB.rsvd.max=0", "io:io.max=8:0 rbps=10", "io:io.max=8:16 wbps=20", "memory:memory.high=50000000"},
	},
	{
		name: "unified agreeing with a field",
		res:  specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100)}, Unified: map[string]string{"memory.max": "100"}},
		v2:   []string{"memory:memory.max=100", "memory:memory.max=100"},
		v1:   nil, v1Err: "cgroup v2 files cannot be set", v1Kind: ErrNotSupported,
	},
	{
		name:  "unified contradicting a field",
		res:   specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(100)}, Unified: map[string]string{"memory.max": "200"}},
		v1Err: "cgroup v2 files cannot be set", v1Kind: ErrNotSupported,
		v2Err: `linux.resources.unified["memory.max"]: sets memory.max to "200" but linux.resources.memory.limit sets it to "100"`, v2Kind: ErrInvalid,
	},
	{
		name:       "devices: config rules then runc's defaults",
		res:        specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "b", Major: i64(8), Access: "r"}}},
		keepDevice: true,
		v1: []string{
			"devices:devices.deny=a *:* rwm",
			"devices:devices.allow=b 8:* r",
			"devices:devices.allow=c *:* m", "devices:devices.allow=b *:* m",
			"devices:devices.allow=c 1:3 rwm", "devices:devices.allow=c 1:8 rwm", "devices:devices.allow=c 1:7 rwm",
			"devices:devices.allow=c 5:0 rwm", "devices:devices.allow=c 1:5 rwm", "devices:devices.allow=c 1:9 rwm",
			"devices:devices.allow=c 136:* rwm", "devices:devices.allow=c 5:2 rwm", "devices:devices.allow=c 10:200 rwm",
		},
	},
}

func TestRenderV1(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := V1Values(&c.res)
			checkRender(t, show(got, c.keepDevice), err, c.v1, c.v1Err, c.v1Kind)
		})
	}
}

func TestRenderV2(t *testing.T) {
	for _, c := range renderCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := V2Values(&c.res)
			checkRender(t, show(got, true), err, c.v2, c.v2Err, c.v2Kind)
		})
	}
}

func checkRender(t *testing.T, got []string, err error, want []string, wantErr string, kind error) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want it to contain %q", err, wantErr)
		}
		if kind != nil && !errors.Is(err, kind) {
			t.Errorf("err = %v, want errors.Is %v", err, kind)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// With no resources, v1 still gets the device rules (as with runc) and v2
// gets nothing to write (the device filter is attached separately).
func TestRenderNil(t *testing.T) {
	v1, err := V1Values(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(v1) != 1+len(DefaultDeviceRules) || v1[0].Value != "a *:* rwm" || v1[0].File != "devices.deny" {
		t.Errorf("V1Values(nil) = %v", show(v1, true))
	}
	if v2, err := V2Values(nil); err != nil || len(v2) != 0 {
		t.Errorf("V2Values(nil) = %v, %v", v2, err)
	}
}

// Every setting names the config field it comes from.
func TestRenderFieldNames(t *testing.T) {
	for _, c := range renderCases {
		for _, render := range []func(*specs.LinuxResources) ([]Setting, error){V1Values, V2Values} {
			got, _ := render(&c.res)
			for _, s := range got {
				if !strings.HasPrefix(s.Field, "linux.resources.") {
					t.Errorf("%s: setting %s has field %q", c.name, s.File, s.Field)
				}
			}
		}
	}
}
