package qos

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// The kubelet and the runtime under it must use the same cgroup driver.
// Both name a pod's cgroup from one abstract name, a list of levels
// (pkg/kubelet/cm CgroupName: {"kubepods", "burstable", "pod<uid>"}):
//
//	driver    pod cgroup                                        container cgroup      linux.cgroupsPath (containerd's CRI)
//	cgroupfs  /kubepods/burstable/pod<uid>                      <pod>/<id>            /kubepods/burstable/pod<uid>/<id>
//	systemd   /kubepods.slice/kubepods-burstable.slice/         <pod>/cri-containerd- kubepods-burstable-pod<uid_>.slice:
//	            kubepods-burstable-pod<uid_>.slice              <id>.scope            cri-containerd:<id>
//
// With systemd, every level is a slice unit whose name is the levels joined
// by dashes, and systemd reads a dash as one level down: the kubelet
// writes the dashes inside a level (those of the pod uid) as underscores
// (CgroupName.ToSystemd, escapeSystemdCgroupName). containerd's CRI plugin
// passes the runtime "<pod slice>:cri-containerd:<id>" when the pod's
// cgroup parent is a slice (getCgroupsPath), and runs it with
// --systemd-cgroup when its runtime options say SystemdCgroup = true; the
// runtime then starts the transient scope cri-containerd-<id>.scope in the
// pod slice.

// Driver is a cgroup driver: how the kubelet and the runtime name and make
// cgroups.
type Driver string

// The kubelet's two cgroup drivers (cgroupDriver in its configuration).
const (
	// Cgroupfs makes cgroup directories itself.
	Cgroupfs Driver = "cgroupfs"
	// Systemd asks systemd for slice and scope units over D-Bus.
	Systemd Driver = "systemd"
)

// ParseDriver reads a --cgroup-driver value.
func ParseDriver(s string) (Driver, error) {
	switch d := Driver(s); d {
	case Cgroupfs, Systemd:
		return d, nil
	}
	return "", fmt.Errorf("--cgroup-driver: %q is not systemd or cgroupfs", s)
}

// CRIPrefix is the prefix containerd's CRI plugin gives a container's scope
// unit with the systemd driver (cri-o's is "crio").
const CRIPrefix = "cri-containerd"

// CgroupName is the kubelet's abstract cgroup name, one element per level
// ({"kubepods", "burstable", "pod<uid>"}); the drivers turn it into a path.
type CgroupName []string

// KubepodsName is the kubelet's top cgroup for pods, under the node's
// cgroup root (--cgroup-root, "/" by default).
var KubepodsName = CgroupName{"kubepods"}

// Child is n with more levels below it.
func (n CgroupName) Child(levels ...string) CgroupName {
	return append(append(CgroupName{}, n...), levels...)
}

// Cgroupfs is the cgroupfs driver's path: "/kubepods/burstable/pod<uid>".
func (n CgroupName) Cgroupfs() string { return "/" + path.Join(n...) }

// Slice is the systemd driver's slice unit: the levels joined by dashes,
// each level's own dashes written as underscores,
// "kubepods-burstable-pod<uid with _>.slice"; the root is "-.slice".
func (n CgroupName) Slice() string {
	if len(n) == 0 {
		return "-.slice"
	}
	parts := make([]string, len(n))
	for i, p := range n {
		parts[i] = strings.ReplaceAll(p, "-", "_")
	}
	return strings.Join(parts, "-") + ".slice"
}

// Systemd is the systemd driver's path, the slice expanded as systemd nests
// it: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice".
func (n CgroupName) Systemd() string {
	if len(n) == 0 {
		return "/"
	}
	var b strings.Builder
	for i := range n {
		b.WriteString("/" + n[:i+1].Slice())
	}
	return b.String()
}

// Path is the cgroup's path with driver d, from the root of the hierarchy.
func (n CgroupName) Path(d Driver) string {
	if d == Systemd {
		return n.Systemd()
	}
	return n.Cgroupfs()
}

// PodCgroupName is the kubelet's name of a pod's cgroup: Guaranteed pods
// directly under kubepods, the others under their class
// (pod_container_manager_linux.go, GetPodContainerName).
func PodCgroupName(c Class, uid string) CgroupName {
	switch c {
	case Burstable:
		return KubepodsName.Child("burstable", "pod"+uid)
	case BestEffort:
		return KubepodsName.Child("besteffort", "pod"+uid)
	}
	return KubepodsName.Child("pod" + uid)
}

// CgroupsPath is the linux.cgroupsPath containerd's CRI plugin gives the
// runtime for container id of the pod whose cgroup is pod: the pod's path
// and the id with cgroupfs, "<pod slice>:cri-containerd:<id>" with systemd.
func CgroupsPath(d Driver, pod CgroupName, id string) string {
	if d == Systemd {
		return pod.Slice() + ":" + CRIPrefix + ":" + id
	}
	return pod.Cgroupfs() + "/" + id
}

// ScopeUnit is the systemd scope unit of container id: the runtime makes
// "<prefix>-<name>.scope" from cgroupsPath's last two parts.
func ScopeUnit(id string) string { return CRIPrefix + "-" + id + ".scope" }

// ContainerCgroupPath is the container's cgroup with driver d.
func ContainerCgroupPath(d Driver, pod CgroupName, id string) string {
	if d == Systemd {
		return pod.Systemd() + "/" + ScopeUnit(id)
	}
	return pod.Cgroupfs() + "/" + id
}

// DriverHost is where DetectDriver looks; the zero value is this host's
// real paths.
type DriverHost struct {
	// KubeletConfig is the kubelet's configuration file
	// (/var/lib/kubelet/config.yaml, where kubeadm writes it).
	KubeletConfig string
	// SystemdDir exists when systemd is PID 1 (/run/systemd/system, as
	// sd_booted(3) checks).
	SystemdDir string
}

// The paths DetectDriver reads by default.
const (
	DefaultKubeletConfig = "/var/lib/kubelet/config.yaml"
	DefaultSystemdDir    = "/run/systemd/system"
)

// DetectDriver picks the driver this host's kubelet would use, and says
// why: the cgroupDriver of the kubelet's configuration file when there is
// one (the kubelet's own default, cgroupfs, when it names none); without a
// kubelet, systemd where systemd is PID 1 (what kubeadm configures, since
// Kubernetes 1.22) and cgroupfs elsewhere.
func DetectDriver(h DriverHost) (Driver, string, error) {
	if h.KubeletConfig == "" {
		h.KubeletConfig = DefaultKubeletConfig
	}
	if h.SystemdDir == "" {
		h.SystemdDir = DefaultSystemdDir
	}
	data, err := os.ReadFile(h.KubeletConfig)
	switch {
	case err == nil:
		return kubeletDriver(h.KubeletConfig, data)
	case !errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("cgroup driver: %w; give --cgroup-driver", err)
	}
	if fi, err := os.Stat(h.SystemdDir); err == nil && fi.IsDir() {
		return Systemd, fmt.Sprintf("no kubelet configuration at %s, and systemd is PID 1 (%s exists): kubeadm's default since Kubernetes 1.22", h.KubeletConfig, h.SystemdDir), nil
	}
	return Cgroupfs, fmt.Sprintf("no kubelet configuration at %s, and systemd is not PID 1 (no %s): the only driver without systemd", h.KubeletConfig, h.SystemdDir), nil
}

// kubeletDriver reads cgroupDriver from a KubeletConfiguration.
func kubeletDriver(file string, data []byte) (Driver, string, error) {
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return "", "", fmt.Errorf("cgroup driver: %s: not YAML (%v); give --cgroup-driver", file, firstLine(err))
	}
	v, ok := cfg["cgroupDriver"]
	if !ok || v == nil || v == "" {
		return Cgroupfs, fmt.Sprintf("%s, the kubelet's configuration, sets no cgroupDriver: the kubelet's default", file), nil
	}
	s, _ := v.(string)
	d := Driver(s)
	if d != Cgroupfs && d != Systemd {
		return "", "", fmt.Errorf("cgroup driver: %s: cgroupDriver %s is neither systemd nor cgroupfs; give --cgroup-driver", file, strconv.Quote(fmt.Sprint(v)))
	}
	return d, fmt.Sprintf("cgroupDriver: %s in %s, the kubelet's configuration", d, file), nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// DriverNames is where one cgroup is with one driver.
type DriverNames struct {
	// Path is the cgroup's directory from the root of the hierarchy.
	Path string `json:"path"`
	// CgroupsPath is what the runtime receives as linux.cgroupsPath
	// (containers only).
	CgroupsPath string `json:"cgroupsPath,omitempty"`
	// Unit is the systemd unit that owns the cgroup: the pod's slice, a
	// container's scope (systemd only).
	Unit string `json:"unit,omitempty"`
	// Properties are the unit's resource properties as `systemctl
	// set-property` spells them, for cgroup v2 (systemd only).
	Properties []string `json:"properties,omitempty"`
}

// Drivers is a cgroup with each driver.
type Drivers struct {
	Cgroupfs DriverNames `json:"cgroupfs"`
	Systemd  DriverNames `json:"systemd"`
}

// Of is the names with driver d.
func (n Drivers) Of(d Driver) DriverNames {
	if d == Systemd {
		return n.Systemd
	}
	return n.Cgroupfs
}

// UnitProperties are the resource properties of the unit that owns a
// cgroup with these values, as `systemctl set-property` spells them, on
// cgroup v2: what the kubelet sets on a pod's slice and the runtime on a
// container's scope through the systemd driver (runc's
// libcontainer/cgroups/systemd, which both use), and systemd then writes
// into the files. CPUQuota is the quota per second rounded up to whole
// percents of a CPU (10 ms per second), as runc rounds it.
func UnitProperties(v CgroupValues) []string {
	out := []string{"CPUWeight=" + strconv.FormatUint(v.Weight(), 10)}
	if v.CPUQuota > 0 && v.CPUPeriod > 0 {
		perSec := uint64(v.CPUQuota) * 1000000 / v.CPUPeriod
		out = append(out, "CPUQuota="+strconv.FormatUint((perSec+9999)/10000, 10)+"%")
	}
	if v.MemoryLimit > 0 {
		out = append(out, "MemoryMax="+strconv.FormatInt(v.MemoryLimit, 10))
	}
	return out
}

// UseDriver makes d the report's driver: the Path of the pod's and every
// container's cgroup values, and each container's CgroupsPath, become d's.
// Compute starts with cgroupfs and no reason.
func (r *Report) UseDriver(d Driver, reason string) {
	r.Driver, r.DriverReason = d, reason
	r.Cgroup.Path = r.Drivers.Of(d).Path
	for i := range r.Containers {
		c := &r.Containers[i]
		c.Cgroup.Path = c.Drivers.Of(d).Path
		c.CgroupsPath = c.Drivers.Of(d).CgroupsPath
	}
}

// validUID refuses a metadata.uid that cannot name a cgroup or a systemd
// unit. The API server's uids are UUIDs; the kubelet forbids "_" in any
// level of a cgroup name (its systemd driver writes "-" as "_").
func validUID(uid string) error {
	if len(uid) > 128 {
		return fmt.Errorf("%d characters is too long for a cgroup name (a pod uid is a UUID such as 6f1c2a3e-0000-4000-8000-00000000000b)", len(uid))
	}
	for _, c := range uid {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return fmt.Errorf("%q: %q cannot be in a pod's cgroup name; a pod uid is a UUID such as 6f1c2a3e-0000-4000-8000-00000000000b (letters, digits and dashes)", uid, string(c))
		}
	}
	return nil
}
