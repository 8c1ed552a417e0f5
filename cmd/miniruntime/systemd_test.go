package main

// The systemd cgroup driver (--systemd-cgroup) against a real systemd. Only
// a machine whose PID 1 is systemd can run these; this project's host is
// not one, its QEMU guest with systemd is:
//
//	go test -c -o /tmp/cmd.test ./cmd/miniruntime
//	MINIRUNTIME_TEST_BINARY=$PWD/bin/miniruntime \
//	  scripts/vm-test.sh --systemd -- /tmp/cmd.test -test.run Systemd -test.v

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// needSystemd skips unless systemd is PID 1 on a cgroup v2 host.
func needSystemd(t *testing.T) {
	t.Helper()
	needRoot(t)
	comm, _ := os.ReadFile("/proc/1/comm")
	if fi, err := os.Stat("/run/systemd/system"); err != nil || !fi.IsDir() || strings.TrimSpace(string(comm)) != "systemd" {
		t.Skipf("needs systemd as PID 1 (PID 1 here is %q): run in scripts/vm-test.sh --systemd", strings.TrimSpace(string(comm)))
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		t.Skip("these checks read cgroup v2 files; this host is not pure cgroup v2")
	}
}

// newSystemdEnv is newEnv with the spec's cgroupsPath for the systemd
// driver, and a cleanup that proves no unit was left.
func newSystemdEnv(t *testing.T, cgroupsPath string, units ...string) *env {
	t.Helper()
	needSystemd(t)
	e := newEnv(t)
	e.spec.Linux.CgroupsPath = cgroupsPath
	t.Cleanup(func() {
		for _, u := range units {
			if unitListed(t, u) {
				t.Errorf("leak: unit %s is still listed:\n%s", u, systemctl(t, "list-units", "--all", "--plain", "--no-legend", u))
				exec.Command("systemctl", "stop", u).Run()
				exec.Command("systemctl", "reset-failed", u).Run()
			}
		}
	})
	return e
}

// sd runs the binary with --systemd-cgroup, as containerd and podman do
// with the systemd cgroup driver (go-runc puts it among the global flags).
func (e *env) sd(args ...string) result {
	e.t.Helper()
	return e.mr(append([]string{"--systemd-cgroup"}, args...)...)
}

func (e *env) sdOK(args ...string) string {
	e.t.Helper()
	r := e.sd(args...)
	if r.code != 0 {
		e.t.Fatalf("miniruntime --systemd-cgroup %s: exit %d, stderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

func systemctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("systemctl", args...).CombinedOutput()
	if err != nil && args[0] != "list-units" && args[0] != "is-failed" {
		t.Fatalf("systemctl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// unitListed reports whether systemctl lists the unit in any state.
func unitListed(t *testing.T, unit string) bool {
	t.Helper()
	return strings.TrimSpace(systemctl(t, "list-units", "--all", "--plain", "--no-legend", unit)) != ""
}

// unitProps reads properties of a unit with systemctl show.
func unitProps(t *testing.T, unit string, names ...string) map[string]string {
	t.Helper()
	out := systemctl(t, "show", "-p", strings.Join(names, ","), unit)
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func wantProps(t *testing.T, unit string, want map[string]string) {
	t.Helper()
	var names []string
	for k := range want {
		names = append(names, k)
	}
	got := unitProps(t, unit, names...)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("unit %s: %s=%q, want %q", unit, k, got[k], v)
		}
	}
}

func wantFiles(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for f, v := range want {
		if got := readTrim(t, filepath.Join(dir, f)); got != v {
			t.Errorf("%s/%s = %q, want %q", dir, f, got, v)
		}
	}
}

// waitGone waits, bounded, until the unit is no longer listed and its
// cgroup directory is gone.
func waitGone(t *testing.T, unit, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for unitListed(t, unit) || exists(dir) {
		if time.Now().After(deadline) {
			t.Fatalf("unit %s (listed: %v) or its cgroup %s (exists: %v) is still there", unit, unitListed(t, unit), dir, exists(dir))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func TestSystemdLifecycle(t *testing.T) {
	const id = "mrsd-life"
	const unit = "miniruntime-" + id + ".scope"
	const dir = "/sys/fs/cgroup/system.slice/" + unit
	e := newSystemdEnv(t, "", unit)
	i64 := func(v int64) *int64 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	e.spec.Process.Args = []string{"sleep", "1000"}
	e.spec.Linux.Resources = &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(64 << 20)},
		CPU:    &specs.LinuxCPU{Shares: u64(512), Quota: i64(50000), Period: u64(100000), Cpus: "0-1"},
		Pids:   &specs.LinuxPids{Limit: i64(64)},
	}
	e.writeSpec()
	r := e.mr("--systemd-cgroup", "--trace", "create", "-b", e.bundle, id)
	if r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	defer e.mr("delete", "--force", id)
	for _, want := range []string{"systemd-run --scope --unit=" + unit, "--slice=system.slice", "-p Delegate=yes", "-p MemoryMax=67108864", "-p TasksMax=64", "-p CPUQuota=50%"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("create --trace does not show %q:\n%s", want, r.stderr)
		}
	}
	pid := e.state(id).Pid

	// The unit: a delegated scope in system.slice holding the init, with
	// the limits as properties.
	wantProps(t, unit, map[string]string{
		"ActiveState": "active", "Delegate": "yes", "Slice": "system.slice",
		"ControlGroup": "/system.slice/" + unit, "MemoryMax": "67108864", "TasksMax": "64",
		"CPUQuotaPerSecUSec": "500ms", "CPUWeight": "59", "AllowedCPUs": "0-1",
	})
	// The cgroup files, as the cgroupfs driver writes them.
	wantFiles(t, dir, map[string]string{
		"memory.max": "67108864", "pids.max": "64", "cpu.max": "50000 100000", "cpu.weight": "59",
		"cpuset.cpus": "0-1", "cgroup.procs": strconv.Itoa(pid),
	})
	// The state records the driver's unit, for update, exec and delete.
	var st struct {
		CgroupPath  string `json:"cgroupPath"`
		SystemdUnit string `json:"systemdUnit"`
	}
	raw, err := os.ReadFile(filepath.Join(e.root, id, "state.json"))
	if err != nil || json.Unmarshal(raw, &st) != nil || st.SystemdUnit != unit || st.CgroupPath != "/system.slice/"+unit {
		t.Fatalf("state.json %s: %+v (%v)", raw, st, err)
	}

	e.ok("start", id)
	e.waitStatus(id, "running")

	// systemd rewrites the attributes it owns from the unit: the limits
	// survive a daemon-reload because they are properties too.
	systemctl(t, "daemon-reload")
	wantFiles(t, dir, map[string]string{"memory.max": "67108864", "pids.max": "64", "cpu.max": "50000 100000"})

	// update sets both ways; a quota that is not a whole percent is
	// rounded up for systemd, in the file too.
	r = e.mr("--trace", "update", "--memory", "128m", "--pids-limit", "100", "--cpu-quota", "25500", id)
	if r.code != 0 {
		t.Fatalf("update: %s", r.stderr)
	}
	if !strings.Contains(r.stderr, "systemctl set-property --runtime "+unit+" ") {
		t.Errorf("update --trace does not show systemctl set-property:\n%s", r.stderr)
	}
	wantProps(t, unit, map[string]string{"MemoryMax": "134217728", "TasksMax": "100", "CPUQuotaPerSecUSec": "260ms"})
	wantFiles(t, dir, map[string]string{"memory.max": "134217728", "pids.max": "100", "cpu.max": "26000 100000"})
	systemctl(t, "daemon-reload")
	wantFiles(t, dir, map[string]string{"memory.max": "134217728", "pids.max": "100", "cpu.max": "26000 100000"})

	e.ok("pause", id)
	if s := e.state(id); s.Status != "paused" {
		t.Fatalf("after pause: %s", s.Status)
	}
	wantFiles(t, dir, map[string]string{"cgroup.freeze": "1"})
	e.ok("resume", id)
	e.waitStatus(id, "running")

	// exec's process is in the scope: at the root of the container's
	// cgroup namespace inside, under the unit outside.
	if out := e.ok("exec", id, "cat", "/proc/self/cgroup"); strings.TrimSpace(out) != "0::/" {
		t.Errorf("exec: /proc/self/cgroup = %q, want 0::/", out)
	}
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	e.ok("exec", "-d", "--pid-file", pidFile, id, "sleep", "1000")
	epid := readTrim(t, pidFile)
	if cg := readTrim(t, "/proc/"+epid+"/cgroup"); cg != "0::/system.slice/"+unit {
		t.Errorf("exec'd process %s: cgroup %q, want the scope's", epid, cg)
	}
	if procs := readTrim(t, filepath.Join(dir, "cgroup.procs")); !strings.Contains(procs, epid) {
		t.Errorf("scope's cgroup.procs %q lacks the exec'd %s", procs, epid)
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			Pids struct {
				Current uint64 `json:"current"`
			} `json:"pids"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(e.ok("events", "--stats", id)), &ev); err != nil || ev.Type != "stats" || ev.Data.Pids.Current != 2 {
		t.Errorf("events --stats: %+v (%v), want 2 pids", ev, err)
	}

	e.ok("kill", id, "KILL")
	e.waitStatus(id, "stopped")
	r = e.mr("--trace", "delete", id)
	if r.code != 0 {
		t.Fatalf("delete: %s", r.stderr)
	}
	waitGone(t, unit, dir)
}

// Kubernetes' layout, as containerd's CRI plugin passes it with
// SystemdCgroup = true: the pod's slice, nested by its dashes, and a
// cri-containerd-<id>.scope in it. delete --force of a running container
// takes the scope away; the slices are the kubelet's and stay.
func TestSystemdKubepodsSlice(t *testing.T) {
	const id = "0123abcd"
	const pod = "kubepods-burstable-pod4f6c1d2e_77aa_4bb1_9b1c_5e6f7a8b9c0d.slice"
	const unit = "cri-containerd-" + id + ".scope"
	const dir = "/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/" + pod + "/" + unit
	e := newSystemdEnv(t, pod+":cri-containerd:"+id, unit)
	t.Cleanup(func() { exec.Command("systemctl", "stop", "kubepods.slice").Run() })
	e.spec.Process.Args = []string{"sleep", "1000"}
	e.writeSpec()
	e.sdOK("create", "-b", e.bundle, id)
	e.ok("start", id)
	e.waitStatus(id, "running")
	wantProps(t, unit, map[string]string{
		"ActiveState": "active", "Slice": pod, "Delegate": "yes",
		"ControlGroup": "/kubepods.slice/kubepods-burstable.slice/" + pod + "/" + unit,
	})
	if !exists(dir) {
		t.Fatalf("no cgroup %s", dir)
	}
	if got := readTrim(t, filepath.Join(dir, "cgroup.procs")); got != strconv.Itoa(e.state(id).Pid) {
		t.Errorf("cgroup.procs = %q, want the init", got)
	}
	e.sdOK("delete", "--force", id)
	waitGone(t, unit, dir)
}

// podman's layout with its default systemd cgroup manager, run to the end:
// the scope goes when the container does.
func TestSystemdPodmanRun(t *testing.T) {
	const id = "4567cdef"
	const unit = "libpod-" + id + ".scope"
	e := newSystemdEnv(t, "machine.slice:libpod:"+id, unit)
	e.spec.Process.Args = []string{"sh", "-c", "cat /proc/self/cgroup; exit 3"}
	e.writeSpec()
	r := e.sd("run", "-b", e.bundle, id)
	if r.code != 3 || strings.TrimSpace(r.stdout) != "0::/" {
		t.Fatalf("run: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	waitGone(t, unit, "/sys/fs/cgroup/machine.slice/"+unit)
}

// A malformed cgroupsPath is refused with one line that names the command,
// the container and linux.cgroupsPath, and nothing is left: no state (the
// harness's leak check), no unit, no cgroup.
func TestSystemdBadPath(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"a:b", `expected "slice:prefix:name"`},
		{"/kubepods/burstable/x", "a path is for the cgroupfs driver"},
		{"kubepods/burstable.slice:x:y", `contains "/"`},
		{"machine:libpod:x", "not a slice unit name"},
		{"system.slice:docker:", "name (third part) is empty"},
		{"system.slice:doc ker:x", `" " is not allowed in a systemd unit name`},
		{"system.slice:docker:" + strings.Repeat("x", 250), "longer than systemd's 255 characters"},
	} {
		t.Run(sanitize(tc.path[:min(len(tc.path), 40)]), func(t *testing.T) {
			e := newSystemdEnv(t, tc.path)
			e.writeSpec()
			before := unitsAndCgroups(t)
			for _, cmd := range []string{"create", "run"} {
				r := e.sd(cmd, "-b", e.bundle, "bad")
				want := `miniruntime ` + cmd + ` bad: linux.cgroupsPath "` + tc.path + `": `
				if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
					t.Fatalf("%s: exit %d, stderr %q; want exit 1 and one line starting %q with %q", cmd, r.code, r.stderr, want, tc.want)
				}
			}
			wantNothingNew(t, before)
		})
	}
}

// A unit systemd itself refuses (here a property it does not know, from an
// org.systemd.property annotation) fails create and run in one line that
// names the command, the container, the unit and systemd's reason, and
// leaves nothing: no state, no unit (not even a failed one), no cgroup.
func TestSystemdRefusedUnit(t *testing.T) {
	const id = "mrsd-refused"
	const unit = "miniruntime-" + id + ".scope"
	e := newSystemdEnv(t, "", unit)
	e.spec.Annotations = map[string]string{"org.systemd.property.NoSuchPropertyHere": "uint64 1"}
	e.writeSpec()
	before := unitsAndCgroups(t)
	for _, cmd := range []string{"create", "run"} {
		r := e.sd(cmd, "-b", e.bundle, id)
		want := "miniruntime " + cmd + " " + id + ": "
		if r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.Contains(r.stderr, unit) ||
			!strings.Contains(r.stderr, "NoSuchPropertyHere") || strings.Count(r.stderr, "\n") != 1 {
			t.Fatalf("%s: exit %d, stderr %q; want exit 1 and one line starting %q naming %s and the property", cmd, r.code, r.stderr, want, unit)
		}
		if unitListed(t, unit) {
			t.Fatalf("%s: the refused unit is listed:\n%s", cmd, systemctl(t, "list-units", "--all", "--plain", "--no-legend", unit))
		}
	}
	wantNothingNew(t, before)
}

// unitsAndCgroups lists every unit systemd knows (in any state) and every
// cgroup directory, for wantNothingNew.
func unitsAndCgroups(t *testing.T) map[string]bool {
	t.Helper()
	m := map[string]bool{}
	for _, l := range strings.Split(systemctl(t, "list-units", "--all", "--plain", "--no-legend"), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			m["unit "+f[0]] = true
		}
	}
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			m["cgroup "+p] = true
		}
		return nil
	})
	return m
}

// wantNothingNew fails if a unit or a cgroup appeared since before.
// Units of systemd's own that come and go on their own (a user's session
// or a timer's service in a test guest) would show here too; the guest
// runs none.
func wantNothingNew(t *testing.T, before map[string]bool) {
	t.Helper()
	for k := range unitsAndCgroups(t) {
		if !before[k] {
			t.Errorf("leak: %s appeared", k)
		}
	}
}

// A failed unit of the same name, left over from an earlier container, is
// reset and the start retried.
func TestSystemdFailedUnitLeftOver(t *testing.T) {
	const id = "mrsd-failed"
	const unit = "miniruntime-" + id + ".scope"
	e := newSystemdEnv(t, "", unit)
	// A scope that systemd stops when its runtime is over ends failed
	// (result "timeout") and stays listed until reset.
	exec.Command("systemd-run", "--scope", "--unit="+unit, "-p", "RuntimeMaxSec=1", "sleep", "30").Run()
	if state := strings.TrimSpace(systemctl(t, "is-failed", unit)); state != "failed" {
		exec.Command("systemctl", "reset-failed", unit).Run()
		t.Skipf("could not leave a failed %s behind (is-failed: %q)", unit, state)
	}
	e.spec.Process.Args = []string{"true"}
	e.writeSpec()
	e.sdOK("create", "-b", e.bundle, id)
	wantProps(t, unit, map[string]string{"ActiveState": "active"})
	e.sdOK("delete", "--force", id)
	waitGone(t, unit, "/sys/fs/cgroup/system.slice/"+unit)
}

// Two containers cannot share a unit: the second create fails and leaves
// the first one's scope alone.
func TestSystemdUnitInUse(t *testing.T) {
	const unit = "miniruntime-mrsd-same.scope"
	e := newSystemdEnv(t, "system.slice:miniruntime:mrsd-same", unit)
	e.spec.Process.Args = []string{"sleep", "1000"}
	e.writeSpec()
	e.sdOK("create", "-b", e.bundle, "first")
	defer e.sdOK("delete", "--force", "first")
	r := e.sd("create", "-b", e.bundle, "second")
	if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("second create: exit %d, %s", r.code, r.stderr)
	}
	wantProps(t, unit, map[string]string{"ActiveState": "active"})
	if s := e.state("first"); s.Status != "created" {
		t.Fatalf("first container: %s after the second create failed", s.Status)
	}
}

// Without systemd (this project's host), --systemd-cgroup makes create and
// run fail with one line and leave nothing; the commands that only read a
// container's state accept the flag, as containerd passes it to all of them.
func TestSystemdCgroupWithoutSystemd(t *testing.T) {
	if fi, err := os.Stat("/run/systemd/system"); err == nil && fi.IsDir() {
		t.Skip("systemd runs here")
	}
	e := newEnv(t)
	e.writeSpec()
	for _, cmd := range []string{"create", "run"} {
		r := e.sd(cmd, "-b", e.bundle, "web")
		want := "miniruntime " + cmd + " web: systemd cgroup driver: systemd is not running on this host"
		if r.code != 1 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and one line starting %q", cmd, r.code, r.stderr, want)
		}
	}
	if ents, _ := os.ReadDir(e.root); len(ents) > 0 {
		t.Errorf("state root holds %v after a refused create", ents)
	}
	e.sdOK("delete", "--force", "web")
	e.sdOK("list")
	// A container made with the cgroupfs driver is still managed with the
	// flag given: the driver is the state's.
	e.spec.Process.Args = []string{"sleep", "100"}
	e.writeSpec()
	e.ok("create", "-b", e.bundle, "fs")
	e.sdOK("start", "fs")
	e.sdOK("update", "--pids-limit", "20", "fs")
	e.sdOK("delete", "--force", "fs")
}

// The QoS lab with the systemd driver, as a kubelet with cgroupDriver
// systemd lays pods out, teaches the same lesson as with cgroupfs: under
// memory pressure the kernel kills BestEffort first and spares Guaranteed,
// and under CPU contention BestEffort (cpu.weight 1) gets the least. Its
// slices and scopes are gone afterwards. TestQosLabSystemd checks the
// units it makes on the way; this one checks what it found.
func TestSystemdQosLabLesson(t *testing.T) {
	needSystemd(t)
	if testing.Short() {
		t.Skip("runs containers for several seconds")
	}
	csvPath := filepath.Join(t.TempDir(), "lab.csv")
	before := unitsAndCgroups(t)
	r := qosRun(t, "", "qos", "lab", "--cgroup-driver", "systemd", "--dir", qosExamples,
		"--cpu-seconds", "2", "--memory-seconds", "10", "--interval", "100ms", "--csv", csvPath)
	if r.code != 0 {
		t.Fatalf("exit %d: %s\n%s", r.code, r.stderr, r.stdout)
	}
	t.Logf("%s", r.stdout)
	if !strings.Contains(r.stdout, "systemd driver, under /miniruntime_qoslab_") {
		t.Errorf("the lab does not say it ran with the systemd driver:\n%s", r.stdout)
	}
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 4 {
		t.Fatalf("csv: want a header and 3 rows:\n%s", raw)
	}
	col := map[string]int{}
	for i, h := range strings.Split(lines[0], ",") {
		col[h] = i
	}
	for _, h := range []string{"qos_class", "oom_kills", "cpu_share_percent"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("csv has no %s column: %s", h, lines[0])
		}
	}
	row := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, ",") // no field of these rows has a comma
		row[f[col["qos_class"]]] = f
	}
	field := func(class, name string) string {
		if f, ok := row[class]; ok && col[name] < len(f) {
			return f[col[name]]
		}
		t.Fatalf("csv: no %s row with %s:\n%s", class, name, raw)
		return ""
	}
	share := func(class string) float64 {
		v, err := strconv.ParseFloat(field(class, "cpu_share_percent"), 64)
		if err != nil {
			t.Fatalf("%s cpu_share_percent: %v", class, err)
		}
		return v
	}
	if field("BestEffort", "oom_kills") == "0" {
		t.Errorf("BestEffort was not OOM-killed:\n%s", r.stdout)
	}
	if field("Guaranteed", "oom_kills") != "0" {
		t.Errorf("Guaranteed was OOM-killed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "BestEffort (besteffort/app) was OOM-killed first") {
		t.Errorf("verdict:\n%s", r.stdout)
	}
	// Guaranteed is capped at one CPU, so against Burstable the order
	// depends on the machine; BestEffort's weight of 1 against 20 and 39
	// puts it last anywhere.
	if be := share("BestEffort"); be >= share("Burstable") || be >= share("Guaranteed") {
		t.Errorf("BestEffort's CPU share %.1f%% is not the smallest:\n%s", be, r.stdout)
	}
	wantNothingNew(t, before)
}
