package cgroups

import (
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		res  specs.LinuxResources
		err  string // "" means valid
	}{
		{"empty", specs.LinuxResources{}, ""},
		{"memory limit negative", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-5)}}, "linux.resources.memory.limit: -5 is negative"},
		{"memory limit zero", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(0)}}, "linux.resources.memory.limit: 0 leaves no memory"},
		{"memory limit unlimited", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1)}}, ""},
		{"memory reservation zero", specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(0)}}, ""},
		{"memory reservation negative", specs.LinuxResources{Memory: &specs.LinuxMemory{Reservation: i64(-2)}}, "linux.resources.memory.reservation: -2 is negative"},
		{"swap below limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(200), Swap: i64(100)}}, "linux.resources.memory.swap: 100 is below memory.limit 200"},
		{"swap without limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(100)}}, "linux.resources.memory.swap: 100 needs linux.resources.memory.limit"},
		{"swap -1 without limit", specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(-1)}}, ""},
		{"kernel negative", specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: i64(-3)}}, "linux.resources.memory.kernel: -3 is negative"}, //nolint:staticcheck
		{"kernelTCP zero", specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(0)}}, "linux.resources.memory.kernelTCP: 0 leaves"},
		{"swappiness", specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(101)}}, "linux.resources.memory.swappiness: 101 is above the maximum of 100"},
		{"shares low", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(1)}}, "linux.resources.cpu.shares: 1 is below the minimum of 2"},
		{"shares high", specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(300000)}}, "linux.resources.cpu.shares: 300000 is above the maximum of 262144"},
		{"quota low", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(500)}}, "linux.resources.cpu.quota: 500 is below the minimum of 1000"},
		{"quota negative", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-7)}}, "linux.resources.cpu.quota: -7 is negative"},
		{"quota unlimited", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1)}}, ""},
		{"period low", specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(999)}}, "linux.resources.cpu.period: 999 is below the minimum of 1000"},
		{"period high", specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(2000000)}}, "linux.resources.cpu.period: 2000000 is above the maximum of 1000000"},
		{"burst above quota", specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(10000), Burst: u64(20000)}}, "linux.resources.cpu.burst: 20000 is above the quota 10000"},
		{"idle", specs.LinuxResources{CPU: &specs.LinuxCPU{Idle: i64(2)}}, "linux.resources.cpu.idle: 2 is neither 0 nor 1"},
		{"rt runtime above period", specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(2000), RealtimePeriod: u64(1000)}}, "linux.resources.cpu.realtimeRuntime: 2000 is above realtimePeriod 1000"},
		{"rt period zero", specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimePeriod: u64(0)}}, "linux.resources.cpu.realtimePeriod: 0 is below the minimum of 1"},
		{"cpus syntax", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-"}}, "linux.resources.cpu.cpus: \"0-\" is not a list"},
		{"cpus reversed", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "3-1"}}, "bad range"},
		{"cpus offline", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0,4095"}}, "linux.resources.cpu.cpus: CPU 4095 is not online on this host"},
		{"mems offline", specs.LinuxResources{CPU: &specs.LinuxCPU{Mems: "63"}}, "linux.resources.cpu.mems: memory node 63 is not online"},
		{"cpus online", specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0", Mems: "0"}}, ""},
		{"pids negative", specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-2)}}, "linux.resources.pids.limit: -2 is negative"},
		{"blkio weight", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}}, "linux.resources.blockIO.weight: 5 is outside 10..1000"},
		{"blkio leaf weight", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(1001)}}, "linux.resources.blockIO.leafWeight: 1001 is outside 10..1000"},
		{"blkio weight device empty", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0)}}}}, "linux.resources.blockIO.weightDevice[0]: sets neither weight nor leafWeight"},
		{"blkio weight device range", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: dev(8, 0), Weight: u16(1)}}}}, "linux.resources.blockIO.weightDevice[0].weight: 1 is outside"},
		{"blkio throttle device", specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleReadBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(-1, 0)}}}}, "linux.resources.blockIO.throttleReadBpsDevice[0]: device -1:0"},
		{"hugepage size", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2M"}}}, "linux.resources.hugepageLimits[0].pageSize: \"2M\" is not a size"},
		{"hugepage twice", specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB"}, {Pagesize: "2MB"}}}, "linux.resources.hugepageLimits[1].pageSize: \"2MB\" is listed twice"},
		{"network priority name", specs.LinuxResources{Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "a b"}}}}, "linux.resources.network.priorities[0].name"},
		{"rdma empty", specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_0": {}}}, `linux.resources.rdma["mlx5_0"]: sets neither hcaHandles nor hcaObjects`},
		{"unified unknown", specs.LinuxResources{Unified: map[string]string{"foo.bar": "1"}}, `linux.resources.unified: key "foo.bar" is not a cgroup v2 file`},
		{"unified path", specs.LinuxResources{Unified: map[string]string{"../memory.max": "1"}}, `linux.resources.unified: key "../memory.max" is not a file name`},
		{"unified read-only", specs.LinuxResources{Unified: map[string]string{"memory.current": "1"}}, `key "memory.current" is not a cgroup v2 file`},
		{"unified managed", specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}}, `linux.resources.unified["cgroup.procs"]: "cgroup.procs" is managed by the runtime`},
		{"unified hugetlb", specs.LinuxResources{Unified: map[string]string{"hugetlb.2MB.max": "0", "misc.max": "x 1"}}, ""},
		{"device type", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x", Access: "r"}}}, "linux.resources.devices[0].type: \"x\" is not a, b or c"},
		{"device access empty", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c"}}}, "linux.resources.devices[0].access: is empty"},
		{"device access letters", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Access: "rx"}}}, "linux.resources.devices[0].access: \"rx\": 'x' is not one of r, w, m"},
		{"device major", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "c", Major: i64(-2), Access: "r"}}}, "linux.resources.devices[0].major: -2 is not a device number"},
		{"device a with numbers", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "a", Major: i64(1), Access: "rwm"}}}, "type a matches every device"},
		{"device a partial access", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "w"}}}, "a type-a rule resets the whole list"},
		{"device hole in wildcard", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Access: "rwm"},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(9), Access: "w"},
		}}, `linux.resources.devices[2]: "c 1:9 w" cannot take effect`},
		{"device privileged", specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(&c.res)
			if c.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("Validate = %v, want %q", err, c.err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate = %v, want errors.Is ErrInvalid", err)
			}
		})
	}
}

func TestValidateNil(t *testing.T) {
	if err := Validate(nil); err != nil {
		t.Fatal(err)
	}
}
