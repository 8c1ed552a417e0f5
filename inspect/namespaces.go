package inspect

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A Namespace is one of the init's namespaces beside the host's (this
// process's: the runtime makes a container's namespaces relative to the
// namespaces it runs in).
type Namespace struct {
	// Type is the OCI name: pid, network, mount, ipc, uts, user, cgroup, time.
	Type string `json:"type"`
	// Inode identifies the namespace (`readlink /proc/<pid>/ns/net` shows
	// net:[Inode]); HostInode is the host's namespace of the same type.
	Inode     uint64 `json:"inode"`
	HostInode uint64 `json:"hostInode"`
	// Relation is "new" (the runtime made it for this container), "host"
	// (shared with the host: the config asked for none of this type) or
	// "joined" (the config named an existing one by path).
	Relation string `json:"relation"`
	// JoinedPath is linux.namespaces[].path for a joined namespace; Pod
	// names the pod whose pinned namespace it is.
	JoinedPath string `json:"joinedPath,omitempty"`
	Pod        string `json:"pod,omitempty"`
	File       string `json:"file"`
}

// TimeOffsets are the clock offsets of a time namespace of its own.
type TimeOffsets struct {
	MonotonicSecs  int64  `json:"monotonicSecs"`
	MonotonicNanos int64  `json:"monotonicNanos"`
	BoottimeSecs   int64  `json:"boottimeSecs"`
	BoottimeNanos  int64  `json:"boottimeNanos"`
	File           string `json:"file"`
}

// nsKinds maps the OCI namespace types to their names under /proc/<pid>/ns.
var nsKinds = []struct{ oci, proc string }{
	{"user", "user"}, {"mount", "mnt"}, {"pid", "pid"}, {"network", "net"},
	{"ipc", "ipc"}, {"uts", "uts"}, {"cgroup", "cgroup"}, {"time", "time"},
}

func nsInode(path string) (uint64, uint64, bool) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, false
	}
	return st.Dev, st.Ino, true
}

func (p *prober) namespaces() {
	joined := map[string]string{}
	if s := p.t.Spec; s != nil && s.Linux != nil {
		for _, ns := range s.Linux.Namespaces {
			if ns.Path != "" {
				joined[string(ns.Type)] = ns.Path
			}
		}
	}
	pods := filepath.Join(p.t.Root(), "pods") + "/"
	for _, k := range nsKinds {
		file := p.proc + "/ns/" + k.proc
		dev, ino, ok := nsInode(file)
		if !ok {
			if k.proc == "time" || k.proc == "cgroup" {
				continue // a kernel without them
			}
			p.problem("%s: cannot stat", file)
			continue
		}
		_, host, _ := nsInode("/proc/self/ns/" + k.proc)
		n := Namespace{Type: k.oci, Inode: ino, HostInode: host, File: file}
		switch path := joined[k.oci]; {
		case ino == host:
			n.Relation = "host"
		case path != "":
			n.Relation, n.JoinedPath = "joined", path
			if pdev, pino, ok := nsInode(path); !ok || pdev != dev || pino != ino {
				p.problem("%s: the config joined %s, which is no longer the same namespace", file, path)
			}
			if rest, ok := strings.CutPrefix(path, pods); ok {
				n.Pod, _, _ = strings.Cut(rest, "/")
			}
		default:
			n.Relation = "new"
		}
		p.a.Namespaces = append(p.a.Namespaces, n)
		if k.proc == "time" && n.Relation != "host" {
			p.timeOffsets()
		}
	}
}

func (p *prober) timeOffsets() {
	file := p.proc + "/timens_offsets"
	data, err := readTrim(file)
	if err != nil {
		p.problem("%s: %v", file, err)
		return
	}
	p.a.TimeOffsets = parseTimeOffsets(data)
	p.a.TimeOffsets.File = file
}

// parseTimeOffsets reads "monotonic 86400 0\nboottime 0 0" (the clock may
// also be given by number: 1 monotonic, 7 boottime).
func parseTimeOffsets(data string) *TimeOffsets {
	t := &TimeOffsets{}
	for line := range strings.SplitSeq(data, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		secs, _ := strconv.ParseInt(f[1], 10, 64)
		nanos, _ := strconv.ParseInt(f[2], 10, 64)
		switch f[0] {
		case "monotonic", "1":
			t.MonotonicSecs, t.MonotonicNanos = secs, nanos
		case "boottime", "7":
			t.BoottimeSecs, t.BoottimeNanos = secs, nanos
		}
	}
	return t
}

// fileExists is for facts whose absence is itself the answer.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
