package cgroups

import (
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCheckedValues checks that what Begin writes from resources Check
// accepted (Checked.Values, which checks nothing again) is what V1Values
// and V2Values render, and that Check refuses what Validate refuses.
func TestCheckedValues(t *testing.T) {
	limit, pids := int64(64<<20), int64(100)
	res := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}, {Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rw"}},
		Memory:  &specs.LinuxMemory{Limit: &limit},
		Pids:    &specs.LinuxPids{Limit: &pids},
	}
	c, err := Check(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{Unified, Hybrid, Legacy} {
		got, err := c.Values(mode)
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		render := V1Values
		if mode == Unified {
			render = V2Values
		}
		want, err := render(res)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Checked.Values gives\n%v\nthe renderer\n%v", mode, got, want)
		}
	}
	if len(c.rules) != 2+len(DefaultDeviceRules) {
		t.Errorf("Check kept %d device rules, want the config's 2 and runc's %d", len(c.rules), len(DefaultDeviceRules))
	}
	res.Devices[1].Type = "x"
	if _, err := Check(res); err == nil || !strings.Contains(err.Error(), "devices[1].type") {
		t.Errorf("Check of a bad device rule: %v", err)
	}
}
