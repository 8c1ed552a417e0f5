package qos

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miniruntime/miniruntime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The kubelet's names for a pod's cgroup and containerd's cgroupsPath for
// its containers, with both drivers, for every class. The systemd names are
// those of pkg/kubelet/cm (CgroupName.ToSystemd: the levels joined by "-",
// each level's own "-" written as "_", expanded as systemd nests slices)
// and of containerd's CRI plugin (getCgroupsPath: "<pod slice>:cri-containerd:<id>").
func TestDriverNaming(t *testing.T) {
	const id = "33bfcfef4560744fa8ddb4120079eda850bd0d0e87a8aae977ce9e17d4ecdf3d"
	for _, tc := range []struct {
		name  string
		class Class
		uid   string
		// cgroupfs
		fsPod, fsCgroupsPath string
		// systemd
		slice, sdPod, sdCgroupsPath, sdContainer string
	}{
		{
			name: "burstable, a UUID", class: Burstable, uid: "6f1c2a3e-0000-4000-8000-00000000000b",
			fsPod:         "/kubepods/burstable/pod6f1c2a3e-0000-4000-8000-00000000000b",
			fsCgroupsPath: "/kubepods/burstable/pod6f1c2a3e-0000-4000-8000-00000000000b/" + id,
			slice:         "kubepods-burstable-pod6f1c2a3e_0000_4000_8000_00000000000b.slice",
			sdPod:         "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1c2a3e_0000_4000_8000_00000000000b.slice",
			sdCgroupsPath: "kubepods-burstable-pod6f1c2a3e_0000_4000_8000_00000000000b.slice:cri-containerd:" + id,
			sdContainer:   "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1c2a3e_0000_4000_8000_00000000000b.slice/cri-containerd-" + id + ".scope",
		},
		{
			name: "guaranteed: directly under kubepods", class: Guaranteed, uid: "11111111-2222-3333-4444-555555555555",
			fsPod:         "/kubepods/pod11111111-2222-3333-4444-555555555555",
			fsCgroupsPath: "/kubepods/pod11111111-2222-3333-4444-555555555555/" + id,
			slice:         "kubepods-pod11111111_2222_3333_4444_555555555555.slice",
			sdPod:         "/kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice",
			sdCgroupsPath: "kubepods-pod11111111_2222_3333_4444_555555555555.slice:cri-containerd:" + id,
			sdContainer:   "/kubepods.slice/kubepods-pod11111111_2222_3333_4444_555555555555.slice/cri-containerd-" + id + ".scope",
		},
		{
			name: "besteffort", class: BestEffort, uid: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
			fsPod:         "/kubepods/besteffort/podaaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
			fsCgroupsPath: "/kubepods/besteffort/podaaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee/" + id,
			slice:         "kubepods-besteffort-podaaaaaaaa_bbbb_4ccc_8ddd_eeeeeeeeeeee.slice",
			sdPod:         "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podaaaaaaaa_bbbb_4ccc_8ddd_eeeeeeeeeeee.slice",
			sdCgroupsPath: "kubepods-besteffort-podaaaaaaaa_bbbb_4ccc_8ddd_eeeeeeeeeeee.slice:cri-containerd:" + id,
			sdContainer:   "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podaaaaaaaa_bbbb_4ccc_8ddd_eeeeeeeeeeee.slice/cri-containerd-" + id + ".scope",
		},
		{
			// Not a UUID, but what the kubelet would do with one: every
			// dash escaped, none left to split a level.
			name: "many dashes", class: Burstable, uid: "a-b--c-",
			fsPod:         "/kubepods/burstable/poda-b--c-",
			fsCgroupsPath: "/kubepods/burstable/poda-b--c-/" + id,
			slice:         "kubepods-burstable-poda_b__c_.slice",
			sdPod:         "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda_b__c_.slice",
			sdCgroupsPath: "kubepods-burstable-poda_b__c_.slice:cri-containerd:" + id,
			sdContainer:   "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda_b__c_.slice/cri-containerd-" + id + ".scope",
		},
		{
			name: "no dashes", class: BestEffort, uid: "abc",
			fsPod:         "/kubepods/besteffort/podabc",
			fsCgroupsPath: "/kubepods/besteffort/podabc/" + id,
			slice:         "kubepods-besteffort-podabc.slice",
			sdPod:         "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice",
			sdCgroupsPath: "kubepods-besteffort-podabc.slice:cri-containerd:" + id,
			sdContainer:   "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podabc.slice/cri-containerd-" + id + ".scope",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := PodCgroupName(tc.class, tc.uid)
			for _, c := range []struct{ what, got, want string }{
				{"cgroupfs pod", pod.Path(Cgroupfs), tc.fsPod},
				{"cgroupfs PodCgroupPath", PodCgroupPath(tc.class, tc.uid), tc.fsPod},
				{"cgroupfs container", ContainerCgroupPath(Cgroupfs, pod, id), tc.fsCgroupsPath},
				{"cgroupfs cgroupsPath", CgroupsPath(Cgroupfs, pod, id), tc.fsCgroupsPath},
				{"systemd slice", pod.Slice(), tc.slice},
				{"systemd pod", pod.Path(Systemd), tc.sdPod},
				{"systemd container", ContainerCgroupPath(Systemd, pod, id), tc.sdContainer},
				{"systemd cgroupsPath", CgroupsPath(Systemd, pod, id), tc.sdCgroupsPath},
				{"systemd scope", ScopeUnit(id), "cri-containerd-" + id + ".scope"},
			} {
				if c.got != c.want {
					t.Errorf("%s:\n got %s\nwant %s", c.what, c.got, c.want)
				}
			}
			// The runtime's systemd driver expands the slice to the
			// same directory the kubelet names.
			if dir, err := cgroups.ExpandSlice(pod.Slice()); err != nil || dir != tc.sdPod {
				t.Errorf("cgroups.ExpandSlice(%s) = %s, %v; want %s", pod.Slice(), dir, err, tc.sdPod)
			}
		})
	}
}

func TestCgroupNameLevels(t *testing.T) {
	for _, tc := range []struct {
		name               CgroupName
		fs, slice, systemd string
	}{
		{CgroupName{}, "/", "-.slice", "/"},
		{KubepodsName, "/kubepods", "kubepods.slice", "/kubepods.slice"},
		{KubepodsName.Child("burstable"), "/kubepods/burstable", "kubepods-burstable.slice", "/kubepods.slice/kubepods-burstable.slice"},
		// A cgroup root above kubepods (the kubelet's --cgroup-root, the lab's own).
		{CgroupName{"miniruntime-qoslab-12-ab"}.Child("kubepods", "besteffort"), "/miniruntime-qoslab-12-ab/kubepods/besteffort",
			"miniruntime_qoslab_12_ab-kubepods-besteffort.slice",
			"/miniruntime_qoslab_12_ab.slice/miniruntime_qoslab_12_ab-kubepods.slice/miniruntime_qoslab_12_ab-kubepods-besteffort.slice"},
	} {
		if got := tc.name.Cgroupfs(); got != tc.fs {
			t.Errorf("%q cgroupfs %s, want %s", tc.name, got, tc.fs)
		}
		if got := tc.name.Slice(); got != tc.slice {
			t.Errorf("%q slice %s, want %s", tc.name, got, tc.slice)
		}
		if got := tc.name.Systemd(); got != tc.systemd {
			t.Errorf("%q systemd %s, want %s", tc.name, got, tc.systemd)
		}
	}
	// Child copies: siblings do not share a backing array.
	base := make(CgroupName, 1, 4)
	base[0] = "kubepods"
	a, b := base.Child("burstable"), base.Child("besteffort")
	if a[1] != "burstable" || b[1] != "besteffort" {
		t.Errorf("children share storage: %q %q", a, b)
	}
}

// Compute fills in both drivers; UseDriver picks one for the paths and the
// cgroupsPath, and the table and JSON show it.
func TestReportDrivers(t *testing.T) {
	p, err := Parse([]byte(`
kind: Pod
metadata: {name: web, uid: 0a0b0c0d-0000-4000-8000-000000000001}
spec:
  containers:
  - name: app
    resources:
      requests: {cpu: 500m, memory: 64Mi}
      limits: {cpu: "2", memory: 256Mi}
  - name: log
    resources:
      requests: {cpu: 250m, memory: 32Mi}
`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Compute(p, testNode)
	if err != nil {
		t.Fatal(err)
	}
	const uid, uidSD = "0a0b0c0d-0000-4000-8000-000000000001", "0a0b0c0d_0000_4000_8000_000000000001"
	app := r.Containers[0]
	if r.Driver != Cgroupfs || r.Cgroup.Path != "/kubepods/burstable/pod"+uid || app.CgroupsPath != "/kubepods/burstable/pod"+uid+"/"+app.ID ||
		app.Cgroup.Path != app.CgroupsPath {
		t.Errorf("default: driver %s pod %s app %s %s", r.Driver, r.Cgroup.Path, app.Cgroup.Path, app.CgroupsPath)
	}
	// The pod has CPU limits on one container only: no pod quota, no pod
	// memory limit. Shares 512+256 = 768: linear weight 1+766·9999/262142 = 30.
	if got := strings.Join(r.Drivers.Systemd.Properties, " "); got != "CPUWeight=30" {
		t.Errorf("pod properties %q", got)
	}
	// app: 512 shares, quadratic weight 59; quota 200000/100000 = 200%.
	if got := strings.Join(app.Drivers.Systemd.Properties, " "); got != "CPUWeight=59 CPUQuota=200% MemoryMax=268435456" {
		t.Errorf("app properties %q", got)
	}

	r.UseDriver(Systemd, "--cgroup-driver systemd")
	app = r.Containers[0]
	slice := "kubepods-burstable-pod" + uidSD + ".slice"
	podDir := "/kubepods.slice/kubepods-burstable.slice/" + slice
	if r.Cgroup.Path != podDir || app.Cgroup.Path != podDir+"/cri-containerd-"+app.ID+".scope" ||
		app.CgroupsPath != slice+":cri-containerd:"+app.ID || r.Drivers.Systemd.Unit != slice {
		t.Errorf("systemd: pod %s app %s %s unit %s", r.Cgroup.Path, app.Cgroup.Path, app.CgroupsPath, r.Drivers.Systemd.Unit)
	}

	var tb strings.Builder
	if err := WriteTable(&tb, r); err != nil {
		t.Fatal(err)
	}
	out := tb.String()
	for _, want := range []string{
		"Cgroup driver: systemd (--cgroup-driver systemd)\n",
		"Cgroups with the systemd driver",
		"  pod  " + podDir + "\n",
		"  app  " + podDir + "/cri-containerd-" + app.ID + ".scope\n",
		"  pod  " + slice + "                ",
		"CPUWeight=59 CPUQuota=200% MemoryMax=268435456\n",
		"  app  systemd   " + slice + ":cri-containerd:" + app.ID + "  (the runtime runs with --systemd-cgroup)\n",
		"       cgroupfs  /kubepods/burstable/pod" + uid + "/" + app.ID + " ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Driver  string `json:"cgroupDriver"`
		Reason  string `json:"cgroupDriverReason"`
		Drivers struct {
			Systemd struct{ Path, Unit string }
		}
		Containers []struct {
			CgroupsPath string `json:"cgroupsPath"`
			Cgroup      struct{ Path string }
			Drivers     struct {
				Cgroupfs, Systemd struct {
					Path, CgroupsPath, Unit string
					Properties              []string
				}
			}
		}
	}
	if err := json.Unmarshal(data, &j); err != nil {
		t.Fatal(err)
	}
	c := j.Containers[0]
	if j.Driver != "systemd" || j.Reason != "--cgroup-driver systemd" || j.Drivers.Systemd.Unit != slice ||
		c.CgroupsPath != slice+":cri-containerd:"+app.ID || c.Cgroup.Path != app.Cgroup.Path ||
		c.Drivers.Cgroupfs.CgroupsPath != "/kubepods/burstable/pod"+uid+"/"+app.ID || c.Drivers.Cgroupfs.Unit != "" ||
		c.Drivers.Systemd.Unit != "cri-containerd-"+app.ID+".scope" || len(c.Drivers.Systemd.Properties) != 3 {
		t.Errorf("json %s", data)
	}

	// And the bundle gets the driver's cgroupsPath.
	lines, spec := applyTo(t, &r.Containers[0])
	if spec.Linux.CgroupsPath != slice+":cri-containerd:"+app.ID || !strings.Contains(strings.Join(lines, "\n"), slice+":cri-containerd:") {
		t.Errorf("bundle: %s %q", spec.Linux.CgroupsPath, lines)
	}
}

func TestUnitProperties(t *testing.T) {
	for _, tc := range []struct {
		v    CgroupValues
		want string
	}{
		{CgroupValues{CPUShares: 2, CPUPeriod: QuotaPeriod}, "CPUWeight=1"},
		{CgroupValues{CPUShares: 1024, Linear: true, CPUQuota: 100000, CPUPeriod: QuotaPeriod, MemoryLimit: 128 << 20}, "CPUWeight=39 CPUQuota=100% MemoryMax=134217728"},
		{CgroupValues{CPUShares: 256, CPUQuota: 25000, CPUPeriod: QuotaPeriod}, "CPUWeight=35 CPUQuota=25%"},
		// 255m: 25500 µs per 100 ms is 255 ms per second, rounded up to 26%.
		{CgroupValues{CPUShares: 261, CPUQuota: 25500, CPUPeriod: QuotaPeriod}, "CPUWeight=35 CPUQuota=26%"},
		// The smallest quota, 1 ms per 100 ms: 1%.
		{CgroupValues{CPUShares: 2, CPUQuota: MinQuota, CPUPeriod: QuotaPeriod}, "CPUWeight=1 CPUQuota=1%"},
	} {
		if got := strings.Join(UnitProperties(tc.v), " "); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.v, got, tc.want)
		}
	}
}

func TestDetectDriver(t *testing.T) {
	dir := t.TempDir()
	sd := filepath.Join(dir, "systemd")
	if err := os.Mkdir(sd, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kubeadm := write("kubeadm.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: systemd\nclusterDNS: [10.96.0.10]\n")
	fs := write("fs.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\ncgroupDriver: cgroupfs\n")
	unset := write("unset.yaml", "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n")
	odd := write("odd.yaml", "kind: KubeletConfiguration\ncgroupDriver: Systemd\n")
	broken := write("broken.yaml", "kind: [\n")
	none := filepath.Join(dir, "none.yaml")
	noSD := filepath.Join(dir, "nosystemd")
	for _, tc := range []struct {
		name        string
		config, sd  string
		want        Driver
		reason, err string
	}{
		{"kubeadm's config wins over PID 1", kubeadm, noSD, Systemd, "cgroupDriver: systemd in " + kubeadm, ""},
		{"a cgroupfs kubelet on a systemd host", fs, sd, Cgroupfs, "cgroupDriver: cgroupfs in " + fs, ""},
		{"unset is the kubelet's default", unset, sd, Cgroupfs, "sets no cgroupDriver: the kubelet's default", ""},
		{"no kubelet, systemd", none, sd, Systemd, "no kubelet configuration at " + none + ", and systemd is PID 1 (" + sd + " exists): kubeadm's default since Kubernetes 1.22", ""},
		{"no kubelet, no systemd", none, noSD, Cgroupfs, "systemd is not PID 1 (no " + noSD + "): the only driver without systemd", ""},
		{"a value the kubelet refuses", odd, sd, "", "", `cgroupDriver "Systemd" is neither systemd nor cgroupfs; give --cgroup-driver`},
		{"not YAML", broken, sd, "", "", broken + ": not YAML"},
		{"unreadable", dir, sd, "", "", "is a directory; give --cgroup-driver"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := DetectDriver(DriverHost{KubeletConfig: tc.config, SystemdDir: tc.sd})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
					t.Errorf("err %v, want one line with %q", err, tc.err)
				}
				return
			}
			if err != nil || d != tc.want || !strings.Contains(reason, tc.reason) {
				t.Errorf("%s (%s), %v; want %s with %q", d, reason, err, tc.want, tc.reason)
			}
		})
	}
}

func TestParseDriver(t *testing.T) {
	for in, want := range map[string]Driver{"systemd": Systemd, "cgroupfs": Cgroupfs} {
		if d, err := ParseDriver(in); err != nil || d != want {
			t.Errorf("%s: %s %v", in, d, err)
		}
	}
	for _, in := range []string{"", "Systemd", "cgroupv2"} {
		if _, err := ParseDriver(in); err == nil || !strings.Contains(err.Error(), "is not systemd or cgroupfs") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// A uid must be able to name a cgroup and a unit.
func TestUIDChecked(t *testing.T) {
	for uid, want := range map[string]string{
		"a_b":                       `"_" cannot be in a pod's cgroup name`,
		"../x":                      `"." cannot be in`,
		"a b":                       `" " cannot be in`,
		strings.Repeat("a", 129):    "129 characters is too long",
		"6F1C2A3E-0000-4000-8000-0": "",
	} {
		p, err := Parse([]byte("kind: Pod\nmetadata: {name: p, uid: '" + uid + "'}\nspec: {containers: [{name: app}]}\n"))
		if err == nil {
			_, err = Compute(p, testNode)
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", uid, err)
		case want != "" && (err == nil || !strings.HasPrefix(err.Error(), "metadata.uid: ") || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: %v, want %q", uid, err, want)
		}
	}
}

func applyTo(t *testing.T, c *ContainerReport) ([]string, *specs.Spec) {
	t.Helper()
	s := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
	lines, err := ApplyToSpec(s, c, true)
	if err != nil {
		t.Fatal(err)
	}
	return lines, s
}
