package runtime

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// planCases are the specs the order rules are checked on: the default
// config and its variants, and the configs containerd, the CRI plugin and
// podman hand to the runtime (tests/clients/configs).
func planCases(t *testing.T) map[string]*specs.Spec {
	t.Helper()
	cases := map[string]*specs.Spec{}
	variant := func(name string, edit func(s *specs.Spec)) {
		s := DefaultSpec()
		s.Process.Args = []string{"sh"}
		edit(s)
		cases[name] = s
	}
	variant("default", func(*specs.Spec) {})
	variant("no new privileges off, with seccomp", func(s *specs.Spec) {
		s.Process.NoNewPrivileges = false
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
	})
	variant("no new privileges on, with seccomp, AppArmor, rlimits, ambient", func(s *specs.Spec) {
		s.Process.NoNewPrivileges = true
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
		s.Process.ApparmorProfile = "test-profile"
		s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_AS", Soft: 1 << 30, Hard: 1 << 30})
		s.Process.Capabilities.Ambient = []string{"CAP_KILL"}
		s.Process.Capabilities.Inheritable = []string{"CAP_KILL"}
	})
	variant("user namespace, read-only root, sysctls, terminal", func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = s.Linux.UIDMappings
		s.Root.Readonly = true
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"}
		s.Process.Terminal = true
		s.Linux.RootfsPropagation = "rshared"
	})
	variant("no mount namespace", func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.MountNamespace })
	})
	variant("hooks", func(s *specs.Spec) {
		h := []specs.Hook{{Path: "/bin/true", Args: []string{"true"}}}
		s.Hooks = &specs.Hooks{CreateRuntime: h, CreateContainer: h, StartContainer: h, Prestart: h, Poststart: h}
	})
	files, _ := filepath.Glob("../tests/clients/configs/*.json")
	if len(files) == 0 {
		t.Fatal("no client configs in tests/clients/configs")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s specs.Spec
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if s.Process == nil {
			continue
		}
		cases[filepath.Base(f)] = &s
	}
	return cases
}

// TestPlanOrder checks, without root, the order rules a container's safety
// rests on, on every plan the cases compile to.
func TestPlanOrder(t *testing.T) {
	for name, s := range planCases(t) {
		for _, o := range []planOptions{
			{Rootfs: "/bundle/rootfs", Kcore: true},
			{Rootfs: "/bundle/rootfs", NoPivot: true, NoNewKeyring: true, StartAtOnce: true, CgroupNS: "new", Console: true},
		} {
			steps, err := compileInit(s, o)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := checkPlanOrder(s, steps); err != nil {
				t.Errorf("%s (%+v): %v\n%s", name, o, err, (&Plan{Init: steps}).String())
			}
		}
	}
}

// checkPlanOrder is the rule book.
func checkPlanOrder(s *specs.Spec, steps []Step) error {
	first := func(op Op) int { return slices.IndexFunc(steps, func(st Step) bool { return st.Op == op }) }
	last := func(op Op) int {
		for i := len(steps) - 1; i >= 0; i-- {
			if steps[i].Op == op {
				return i
			}
		}
		return -1
	}
	count := func(op Op) int {
		n := 0
		for _, st := range steps {
			if st.Op == op {
				n++
			}
		}
		return n
	}
	before := func(a, b int, why string) error {
		if a < 0 || b < 0 || a < b {
			return nil
		}
		return fmt.Errorf("%s: step %d (%s) comes after step %d (%s)", why, a+1, steps[a].What, b+1, steps[b].What)
	}
	root := max(first(OpPivotRoot), first(OpMoveRoot), first(OpChroot))
	p := s.Process
	checks := []error{
		func() error {
			if steps[0].Op != OpNotDumpable {
				return fmt.Errorf("the first step is %s, not making the init undumpable", steps[0].Op)
			}
			if steps[len(steps)-1].Op != OpExec || count(OpExec) != 1 {
				return fmt.Errorf("the last step is %s, not the one execve", steps[len(steps)-1].Op)
			}
			if root < 0 || count(OpPivotRoot)+count(OpMoveRoot)+count(OpChroot) != 1 {
				return fmt.Errorf("no single root switch")
			}
			if count(OpWaitParent) != 1 {
				return fmt.Errorf("the init waits for its cgroup %d times", count(OpWaitParent))
			}
			if want := len(s.Mounts); count(OpMount)+count(OpCgroupView) != want {
				return fmt.Errorf("%d mount steps for %d mounts", count(OpMount)+count(OpCgroupView), want)
			}
			return nil
		}(),
		before(last(OpMount), root, "every mount is made before the root switch"),
		before(last(OpCgroupView), root, "the cgroup view is mounted before the root switch"),
		before(last(OpDevice), root, "devices are made before the root switch"),
		before(first(OpOpenFIFO), root, "the exec FIFO is opened while the host's tree is reachable"),
		before(first(OpWaitParent), first(OpCgroupView), "the init is in its cgroup before the cgroup view is mounted"),
		before(root, first(OpMaskPath), "paths are masked in the container's tree"),
		before(root, first(OpReadonlyPath), "paths are made read-only in the container's tree"),
		before(last(OpSysctl), first(OpReadonlyPath), "sysctls are written before /proc/sys is read-only"),
		before(last(OpReadonlyPath), first(OpMaskPath), "read-only paths come before masked ones, as runc"),
		before(last(OpMaskPath), first(OpReadonlyRoot), "the root is made read-only last of the mounts"),
		before(first(OpReady), first(OpWaitStart), "created is reported before the init waits for start"),
		before(first(OpWaitStart), first(OpBoundingSet), "the process's attributes are set after start"),
		before(first(OpCheckCwd), first(OpSeccomp), "the cwd is checked before seccomp can block getcwd"),
		before(first(OpCloseFDs), first(OpSeccomp), "leaked fds are closed before seccomp can block readdir"),
		before(first(OpBoundingSet), first(OpSetIDs), "the bounding set is trimmed while CAP_SETPCAP is held"),
		before(first(OpSetIDs), first(OpCapabilities), "the capability sets are set after the uid change"),
		before(first(OpCapabilities), first(OpAmbient), "ambient capabilities are raised after the sets"),
		before(last(OpRlimits), first(OpExec), "rlimits come just before execve"),
		before(first(OpSeccomp), first(OpRlimits), "rlimits come after seccomp: the runtime's code never runs under them"),
		before(first(OpCapabilities), first(OpRlimits), "rlimits come after the capability change"),
	}
	if p.NoNewPrivileges {
		checks = append(checks,
			before(first(OpCapabilities), first(OpSeccomp), "capabilities are dropped before the seccomp filter is loaded"),
			before(first(OpNoNewPrivileges), first(OpSeccomp), "no_new_privs is set before the seccomp filter is loaded"),
		)
	} else {
		checks = append(checks, before(first(OpSeccomp), first(OpSetIDs), "without no_new_privs the filter is loaded while still privileged"))
	}
	if p.ApparmorProfile != "" {
		if i := first(OpAppArmor); i != len(steps)-2 {
			checks = append(checks, fmt.Errorf("the AppArmor profile is step %d, not the last before execve", i+1))
		}
	}
	if proc := slices.IndexFunc(steps, func(st Step) bool { return st.Op == OpMount && st.Mount.Destination == "/proc" }); proc >= 0 {
		checks = append(checks, before(proc, first(OpMaskPath), "masked paths come after /proc is mounted"))
	}
	return errors.Join(checks...)
}

// TestPlanRuleBookCatches makes sure the rule book fails a plan that breaks
// a rule: a plan with the seccomp filter loaded before no_new_privs.
func TestPlanRuleBookCatches(t *testing.T) {
	s := DefaultSpec()
	s.Process.NoNewPrivileges = true
	s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}}
	steps, err := compileInit(s, planOptions{Rootfs: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPlanOrder(s, steps); err != nil {
		t.Fatalf("the compiled plan breaks a rule: %v", err)
	}
	nnp, sc := -1, -1
	for i, st := range steps {
		switch st.Op {
		case OpNoNewPrivileges:
			nnp = i
		case OpSeccomp:
			sc = i
		}
	}
	steps[nnp], steps[sc] = steps[sc], steps[nnp]
	if err := checkPlanOrder(s, steps); err == nil || !strings.Contains(err.Error(), "no_new_privs is set before the seccomp filter") {
		t.Errorf("a plan loading seccomp before no_new_privs passed the rule book: %v", err)
	}
	// And mounts after the root switch.
	steps, _ = compileInit(s, planOptions{Rootfs: "/r"})
	var m Step
	for i, st := range steps {
		if st.Op == OpMount {
			m = st
			steps = slices.Delete(steps, i, i+1)
			break
		}
	}
	steps = slices.Insert(steps, len(steps)-1, m)
	if err := checkPlanOrder(s, steps); err == nil || !strings.Contains(err.Error(), "before the root switch") {
		t.Errorf("a mount after pivot_root passed the rule book: %v", err)
	}
}

// TestCompilePlanWithoutRoot prepares and compiles a bundle the way
// `miniruntime plan` does, and checks the plan names what the config asks.
func TestCompilePlanWithoutRoot(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := DefaultSpec()
	s.Process.Args = []string{"/bin/echo", "hi"}
	s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
	raw, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := CompilePlan(PlanRequest{Bundle: dir, ID: "web"})
	if err != nil {
		t.Fatal(err)
	}
	text := p.String()
	for _, want := range []string{"pivot_root " + filepath.Join(dir, "rootfs"), "sysctl -w net.ipv4.ip_forward=1", "mount -t proc proc /proc", "exec /bin/echo hi", "mkdir /run/miniruntime/web"} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan lacks %q:\n%s", want, text)
		}
	}
	if err := checkPlanOrder(s, p.Init); err != nil {
		t.Error(err)
	}
	// A bad bundle gets create's own refusal.
	s.Linux.Sysctl = nil
	s.Process.Cwd = "relative"
	raw, _ = json.Marshal(s)
	os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644)
	if _, err := CompilePlan(PlanRequest{Bundle: dir}); err == nil || !strings.Contains(err.Error(), "process.cwd") {
		t.Errorf("a relative cwd: %v", err)
	}
}

// suiteConfig is one config of testdata/suite-configs.jsonl.gz and the
// suite's program that wrote it.
type suiteConfig struct {
	Program string          `json:"program"`
	Config  json.RawMessage `json:"config"`
}

// suiteConfigs are the configs the OCI validation suite created containers
// from in one run of scripts/conformance.sh on this host, gathered by giving
// the script a wrapper as the runtime that copied each bundle's config.json
// on create before running this one. The run's sandbox paths are replaced
// by /suite and another process's namespaces by /proc/self/ns/, one config
// a line, duplicates left out.
func suiteConfigs(t *testing.T) []suiteConfig {
	t.Helper()
	f, err := os.Open("testdata/suite-configs.jsonl.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []suiteConfig
	dec := json.NewDecoder(z)
	for dec.More() {
		var c suiteConfig
		if err := dec.Decode(&c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// TestPlanOfSuiteConfigs prints, without root, the plan of every config the
// validation suite hands a runtime, as `miniruntime plan` would: each one
// compiles and keeps the order rules, or is refused in one line naming its
// field, as create refuses it.
func TestPlanOfSuiteConfigs(t *testing.T) {
	if major, _, _ := seccomp.Version(); major == 0 {
		t.Skip("most suite configs carry a seccomp filter, which this test binary cannot compile: go test -tags seccomp")
	}
	configs := suiteConfigs(t)
	if len(configs) < 50 {
		t.Fatalf("only %d suite configs in testdata", len(configs))
	}
	// The programs whose configs are bad input on purpose: namespace paths
	// of the wrong type, an unknown capability or rlimit, a non-1.x version.
	badInput := map[string]bool{"linux_ns_path_type": true, "process_capabilities_fail": true, "process_rlimits_fail": true, "misc_props": true}
	compiled := 0
	for i, c := range configs {
		name := fmt.Sprintf("%s#%d", c.Program, i)
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), c.Config, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := CompilePlan(PlanRequest{Bundle: dir, ID: "suite"})
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%s: refused without naming a field on one line: %v", name, err)
			}
			if !badInput[c.Program] {
				t.Errorf("%s: a config the suite expects to run is refused: %v", name, err)
			}
			t.Logf("%s: refused: %v", name, err)
			continue
		}
		compiled++
		var s specs.Spec
		if err := json.Unmarshal(c.Config, &s); err != nil {
			t.Fatal(err)
		}
		if s.Process == nil {
			// create accepts a config without a process (start refuses
			// it): the init's plan ends waiting for a start that fails.
			continue
		}
		// The rule book is checked on the spec the plan was compiled from:
		// where AppArmor is off, a profile is dropped with a warning.
		if err := checkPlanOrder(appArmorForInit(&s, nil), p.Init); err != nil {
			t.Errorf("%s: %v\n%s", name, err, p.String())
		}
	}
	t.Logf("%d of %d suite configs compiled", compiled, len(configs))
}

// TestPlanNamesItsInit: the plan says which init create would start, the
// native one only where it can execute every step.
func TestPlanNamesItsInit(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	plain := DefaultSpec()
	var mounts []specs.Mount
	for _, m := range plain.Mounts {
		if m.Type != "cgroup" && m.Type != "cgroup2" {
			mounts = append(mounts, m)
		}
	}
	plain.Mounts = mounts
	prio := DefaultSpec()
	prio.Mounts = mounts
	prio.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_BE, Priority: 4}
	hooked := DefaultSpec()
	hooked.Mounts = mounts
	hooked.Hooks = &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}}}
	for _, c := range []struct {
		name   string
		spec   *specs.Spec
		native bool
	}{{"no cgroup view", plain, true}, {"I/O priority", prio, false}, {"startContainer hook", hooked, false}} {
		c.spec.Process.Terminal = false // a console is the Go init's
		raw, _ := json.Marshal(c.spec)
		if err := os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := CompilePlan(PlanRequest{Bundle: dir, ID: "which"})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		text := p.String()
		if got := strings.Contains(text, "fork the native init"); got != c.native || strings.Contains(text, "fork the Go init") == c.native {
			t.Errorf("%s: native init %v, want %v:\n%s", c.name, got, c.native, text)
		}
	}
}
