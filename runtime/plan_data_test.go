package runtime

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/miniruntime/miniruntime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// compileThroughTheWire compiles s and returns the steps as the init gets
// them: through JSON.
func compileThroughTheWire(t *testing.T, s *specs.Spec, o planOptions) []Step {
	t.Helper()
	steps, err := compileInit(s, o)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	var got []Step
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestMountStepsCarryResolvedOptions: the compiler parses each mount's
// options once, and the init gets the mount(2) flags, the data string, the
// propagation and the recursive attributes, ready to pass to the kernel.
func TestMountStepsCarryResolvedOptions(t *testing.T) {
	s := DefaultSpec()
	s.Mounts = append(s.Mounts,
		specs.Mount{Destination: "/data", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "rw", "size=1m", "mode=755", "rslave", "rro"}},
		specs.Mount{Destination: "/host", Type: "bind", Source: "/usr", Options: []string{"rbind", "ro", "nodev"}},
	)
	want := map[string]MountOp{
		"/data": {Source: "tmpfs", Destination: "/data", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "size=1m,mode=755",
			Propagation: unix.MS_SLAVE | unix.MS_REC, AttrSet: unix.MOUNT_ATTR_RDONLY},
		"/host": {Source: "/usr", Destination: "/host", Type: "bind", Flags: unix.MS_RDONLY | unix.MS_NODEV, Bind: true, Recursive: true},
		"/dev":  {Source: "tmpfs", Destination: "/dev", Type: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
	}
	for _, mode := range []cgroups.Mode{cgroups.Unified, cgroups.Hybrid} {
		views := 0
		for _, st := range compileThroughTheWire(t, s, planOptions{Rootfs: "/r", CgroupMode: mode}) {
			switch st.Op {
			case OpMount:
				if w, ok := want[st.Mount.Destination]; ok && *st.Mount != w {
					t.Errorf("mount of %s: the init gets\n%+v\nwant\n%+v", st.Mount.Destination, *st.Mount, w)
				}
				delete(want, st.Mount.Destination)
			case OpCgroupView:
				views++
				if st.Value != string(mode) {
					t.Errorf("the cgroup view on a %s host is made for a %q one", mode, st.Value)
				}
				if st.Mount.Flags&unix.MS_RDONLY == 0 {
					t.Errorf("the default config's read-only cgroup mount lost its ro flag: %+v", *st.Mount)
				}
			}
		}
		if views != 1 {
			t.Errorf("%d cgroup view steps", views)
		}
	}
	if len(want) != 0 {
		t.Errorf("no mount step for %v", want)
	}
}

// TestRlimitStepsCarryValues: each rlimit step carries the resource number
// and the soft and hard values, and the ceilings step all of them.
func TestRlimitStepsCarryValues(t *testing.T) {
	s := DefaultSpec()
	s.Process.Rlimits = []specs.POSIXRlimit{
		{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: 4096},
		{Type: "RLIMIT_CORE", Soft: 0, Hard: 1 << 20},
		{Type: "RLIMIT_STACK", Soft: 8 << 20, Hard: 16 << 20},
	}
	want := []RlimitOp{
		{Type: "RLIMIT_NOFILE", Resource: unix.RLIMIT_NOFILE, Soft: 1024, Hard: 4096},
		{Type: "RLIMIT_CORE", Resource: unix.RLIMIT_CORE, Soft: 0, Hard: 1 << 20},
		{Type: "RLIMIT_STACK", Resource: unix.RLIMIT_STACK, Soft: 8 << 20, Hard: 16 << 20},
	}
	var set []RlimitOp
	ceilings := 0
	for _, st := range compileThroughTheWire(t, s, planOptions{Rootfs: "/r"}) {
		switch st.Op {
		case OpRlimitCeilings:
			ceilings++
			if !slices.Equal(st.Rlimits, want) {
				t.Errorf("the ceilings step carries %+v, want %+v", st.Rlimits, want)
			}
		case OpRlimits:
			if len(st.Rlimits) != 1 {
				t.Fatalf("an rlimit step carries %d rlimits", len(st.Rlimits))
			}
			set = append(set, st.Rlimits[0])
		}
	}
	if ceilings != 1 || !slices.Equal(set, want) {
		t.Errorf("%d ceilings steps; the rlimit steps set %+v, want %+v", ceilings, set, want)
	}
}
