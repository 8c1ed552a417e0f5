package inspect

import (
	"slices"
	"strings"

	"github.com/miniruntime/miniruntime/cgroups/qos"
)

// QoS is the Kubernetes QoS class of a container that came from a pod
// manifest, recognised by where its cgroup is (the kubelet's layout, which
// `qos --write-bundle` writes into linux.cgroupsPath) or by an annotation
// that names it.
type QoS struct {
	Class  string `json:"class"`
	Source string `json:"source"`
}

var classes = []qos.Class{qos.Guaranteed, qos.Burstable, qos.BestEffort}

// classOfPath reads the class from a kubelet cgroup path: cgroupfs driver
// /kubepods/burstable/pod<uid>/..., /kubepods/besteffort/..., Guaranteed
// pods directly under /kubepods/pod<uid>; systemd driver
// kubepods-burstable-pod<uid>.slice, kubepods-pod<uid>.slice.
func classOfPath(p string) qos.Class {
	for part := range strings.FieldsFuncSeq(p, func(r rune) bool { return r == '/' || r == ':' }) {
		switch {
		case part == "burstable" || strings.HasPrefix(part, "kubepods-burstable"):
			return qos.Burstable
		case part == "besteffort" || strings.HasPrefix(part, "kubepods-besteffort"):
			return qos.BestEffort
		case strings.HasPrefix(part, "kubepods-pod"):
			return qos.Guaranteed
		}
	}
	if strings.Contains(p, qos.KubepodsRoot+"/pod") {
		return qos.Guaranteed
	}
	return ""
}

func (p *prober) qos() {
	s := p.t.Spec
	if s != nil {
		keys := make([]string, 0, len(s.Annotations))
		for k := range s.Annotations {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v := s.Annotations[k]
			if strings.Contains(strings.ToLower(k), "qos") && slices.Contains(classes, qos.Class(v)) {
				p.a.QoS = &QoS{Class: v, Source: "annotation " + k + " in " + p.a.ConfigFile}
				return
			}
		}
		if s.Linux != nil && s.Linux.CgroupsPath != "" {
			if c := classOfPath(s.Linux.CgroupsPath); c != "" {
				p.a.QoS = &QoS{Class: string(c), Source: "linux.cgroupsPath " + s.Linux.CgroupsPath + " in " + p.a.ConfigFile + " (the kubelet's cgroup layout)"}
				return
			}
		}
	}
	if c := classOfPath(p.t.CgroupPath); c != "" {
		p.a.QoS = &QoS{Class: string(c), Source: "cgroup path " + p.t.CgroupPath + " (the kubelet's cgroup layout)"}
	}
}
