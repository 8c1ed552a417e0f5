package netns

// Pods: the pause container idea made visible. Kubernetes starts a tiny
// "pause" process per pod only to hold the pod's network, IPC and UTS
// namespaces; every container of the pod then joins them. Here no process
// holds them: each namespace is pinned by a bind mount of its nsfs file
// (what `ip netns add` and `unshare --net=FILE` do), so a pod costs no
// process at all and its namespaces live until `pod rm` unmounts them.
//
//	<root>/pods/.lock                flock: pods are created and removed one at a time
//	<root>/pods/NAME/pod.json        the Pod
//	<root>/pods/NAME/net             bind mount of the pod's network namespace
//	<root>/pods/NAME/ipc             ... its IPC namespace
//	<root>/pods/NAME/uts             ... its UTS namespace (hostname NAME)
//	<root>/pods/NAME/hosts, hostname, resolv.conf   files for its containers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// The namespaces of a pod, in the names of the OCI runtime spec's
// linux.namespaces[].type, and the pin file of each under the pod's dir.
var podNamespaces = []struct {
	Type string // OCI type
	File string // pin file, also the name under /proc/<pid>/ns/
	Flag int    // clone flag
	Opt  string // unshare(1) option
}{
	{"network", "net", unix.CLONE_NEWNET, "--net"},
	{"ipc", "ipc", unix.CLONE_NEWIPC, "--ipc"},
	{"uts", "uts", unix.CLONE_NEWUTS, "--uts"},
}

// PodIDPrefix + the pod's name is the container id under which a pod holds
// its network attachments ("pod-web").
const PodIDPrefix = "pod-"

// A PodSpec is what `pod create` asks for.
type PodSpec struct {
	Name string
	// Networks the pod joins, in order; the first one that is not
	// internal gives the default route. Empty: only lo.
	Networks []string
	// Ports published on the first network.
	Ports []PortMapping
}

// A Pod is a set of pinned namespaces that containers join.
type Pod struct {
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Namespaces maps an OCI namespace type (network, ipc, uts) to the
	// path of its pin: what a container's linux.namespaces[].path names.
	Namespaces  map[string]string `json:"namespaces"`
	Attachments []*Attachment     `json:"attachments,omitempty"`
	// Files maps a path in a container (/etc/hosts, /etc/hostname,
	// /etc/resolv.conf) to the pod's file to bind-mount there.
	Files map[string]string `json:"files"`
	// Users are the processes in any of the pod's namespaces, filled in by
	// GetPod (not stored).
	Users []int `json:"users,omitempty"`
}

func (o Options) podsDir() string        { return filepath.Join(o.Root, "pods") }
func (o Options) podDir(n string) string { return filepath.Join(o.podsDir(), n) }

func (o Options) lockPods() (func(), error) {
	return flock(filepath.Join(o.podsDir(), ".lock"), unix.LOCK_EX)
}

// CreatePod makes a pod: new network, IPC and UTS namespaces pinned under
// Root/pods/NAME/{net,ipc,uts}, hostname NAME, lo up, attached to each of
// spec.Networks (container id "pod-NAME", the network "default" created on
// first use), with spec.Ports published on the first. The namespaces are
// made on a locked OS thread that returns to its own namespaces afterwards
// (or is thrown away when it cannot); nothing is re-executed. On error
// everything done so far is undone.
//
//	touch <dir>/net <dir>/ipc <dir>/uts
//	unshare --net=<dir>/net --ipc=<dir>/ipc --uts=<dir>/uts hostname NAME
//	nsenter --net=<dir>/net ip link set lo up
func CreatePod(spec PodSpec, o Options) (_ *Pod, err error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if !validName(spec.Name) || len(PodIDPrefix+spec.Name) > 64 {
		return nil, fmt.Errorf("%w: pod name %q: want 1-60 of [a-zA-Z0-9_.-], starting with a letter or digit", ErrInvalid, spec.Name)
	}
	if len(spec.Ports) > 0 && len(spec.Networks) == 0 {
		return nil, fmt.Errorf("%w: pod %s publishes ports but joins no network", ErrInvalid, spec.Name)
	}
	if err := validatePorts(spec.Ports); err != nil {
		return nil, err
	}
	id := PodIDPrefix + spec.Name
	if _, err := os.Stat(filepath.Join(o.Root, id)); err == nil {
		return nil, fmt.Errorf("%w: a container named %s would share the pod's addresses", ErrExists, id)
	}
	unlock, err := o.lockPods()
	if err != nil {
		return nil, err
	}
	defer unlock()
	dir := o.podDir(spec.Name)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: pod %s", ErrExists, spec.Name)
		}
		return nil, err
	}
	pod := &Pod{Name: spec.Name, Created: time.Now().UTC(), Namespaces: map[string]string{}, Files: map[string]string{}}
	defer func() {
		if err != nil {
			o.Recorder.Step("undo: remove pod "+spec.Name, "")
			for i := len(pod.Attachments) - 1; i >= 0; i-- {
				Detach(pod.Attachments[i], o)
			}
			unpinAll(dir, o.Recorder)
			os.RemoveAll(dir)
		}
	}()
	if err := pinNamespaces(dir, spec.Name, o.Recorder); err != nil {
		return nil, err
	}
	for _, ns := range podNamespaces {
		pod.Namespaces[ns.Type] = filepath.Join(dir, ns.File)
	}
	netPath := pod.Namespaces["network"]
	if err := loUp(netPath, o.Recorder); err != nil {
		return nil, err
	}
	for i, name := range spec.Networks {
		if name == DefaultNetworkName {
			if _, err := DefaultNetwork(o); err != nil {
				return nil, err
			}
		}
		att, err := Allocate(name, id, o)
		if err != nil {
			return nil, err
		}
		pod.Attachments = append(pod.Attachments, att) // Detach undoes the allocation too
		if i == 0 {
			att.Ports = spec.Ports
		}
		if err := Attach(att, netPath, o); err != nil {
			return nil, err
		}
	}
	var first *Attachment
	if len(pod.Attachments) > 0 {
		first = pod.Attachments[0]
	}
	for dest, content := range ContainerFiles(first, spec.Name) {
		p := filepath.Join(dir, filepath.Base(dest))
		if err := os.WriteFile(p, content, 0o644); err != nil {
			return nil, err
		}
		pod.Files[dest] = p
	}
	if err := o.savePod(pod); err != nil {
		return nil, err
	}
	return pod, nil
}

// pinNamespaces creates the pod's namespaces on a locked thread and
// bind-mounts each onto its pin file in dir, then returns the thread to its
// original namespaces. The net, IPC and UTS namespaces are per thread, so
// the rest of the process never sees them.
func pinNamespaces(dir, hostname string, rec *trace.Recorder) error {
	var opts []string
	for _, ns := range podNamespaces {
		f, err := os.OpenFile(filepath.Join(dir, ns.File), os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if err != nil {
			return fmt.Errorf("pin file: %w", err)
		}
		f.Close()
		opts = append(opts, ns.Opt+"="+filepath.Join(dir, ns.File))
	}
	if rec.Enabled() {
		rec.Step("pin files for the pod's namespaces", trace.Quote("touch", filepath.Join(dir, "net"), filepath.Join(dir, "ipc"), filepath.Join(dir, "uts")))
		rec.Step("new network, IPC and UTS namespaces, pinned, hostname "+hostname,
			trace.Quote(append(append([]string{"unshare"}, opts...), "hostname", hostname)...))
	}
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// The thread's own namespaces, to come back to.
		var orig []*os.File
		defer func() {
			for _, f := range orig {
				f.Close()
			}
		}()
		for _, ns := range podNamespaces {
			f, err := os.Open("/proc/thread-self/ns/" + ns.File)
			if err != nil {
				goruntime.UnlockOSThread()
				errc <- err
				return
			}
			orig = append(orig, f)
		}
		flags := 0
		for _, ns := range podNamespaces {
			flags |= ns.Flag
		}
		if err := unix.Unshare(flags); err != nil {
			goruntime.UnlockOSThread()
			errc <- fmt.Errorf("unshare net, ipc, uts: %w", err)
			return
		}
		ferr := func() error {
			if err := unix.Sethostname([]byte(hostname)); err != nil {
				return fmt.Errorf("sethostname %s: %w", hostname, err)
			}
			for _, ns := range podNamespaces {
				pin := filepath.Join(dir, ns.File)
				if err := unix.Mount("/proc/thread-self/ns/"+ns.File, pin, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("pin the %s namespace on %s: %w", ns.Type, pin, err)
				}
			}
			return nil
		}()
		for i, ns := range podNamespaces {
			if err := unix.Setns(int(orig[i].Fd()), ns.Flag); err != nil {
				// Stay locked: the thread dies with this goroutine
				// instead of going back to the pool in the pod's
				// namespaces.
				errc <- errors.Join(ferr, fmt.Errorf("return to the %s namespace: %w", ns.Type, err))
				return
			}
		}
		goruntime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// loUp brings the loopback interface of the pod's network namespace up.
//
//	nsenter --net=<dir>/net ip link set lo up
func loUp(netPath string, rec *trace.Recorder) error {
	h, err := openNS(netPath, rec)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo in %s: %w", netPath, err)
	}
	h.step("bring the pod's loopback up", func() string { return trace.Quote("ip", "link", "set", "lo", "up") })
	if err := h.nl.LinkSetUp(lo); err != nil {
		return fmt.Errorf("bring up lo in %s: %w", netPath, err)
	}
	return nil
}

// unpinAll unmounts every pin in dir that is mounted (MNT_DETACH, so a
// process that has the file open does not block it); the namespace itself
// goes when its last user does.
//
//	umount <dir>/net <dir>/ipc <dir>/uts
func unpinAll(dir string, rec *trace.Recorder) error {
	var errs []error
	for _, ns := range podNamespaces {
		pin := filepath.Join(dir, ns.File)
		if !isNsfs(pin) {
			continue
		}
		rec.Step("unpin the pod's "+ns.Type+" namespace", trace.Quote("umount", pin))
		if err := unix.Unmount(pin, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", pin, err))
		}
	}
	return errors.Join(errs...)
}

// isNsfs reports whether path is a namespace file (a mounted pin or a
// /proc/<pid>/ns link), not the empty file under it.
func isNsfs(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

func (o Options) savePod(p *Pod) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(o.podDir(p.Name), "pod.json"), append(b, '\n'), 0o600)
}

func (o Options) loadPod(name string) (*Pod, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q", ErrPodNotFound, name)
	}
	b, err := os.ReadFile(filepath.Join(o.podDir(name), "pod.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrPodNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	var p Pod
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("pod %s: %w", name, err)
	}
	return &p, nil
}

// podExists reports whether id is the attachment id of an existing pod,
// which GC must not collect.
func (o Options) podExists(id string) bool {
	name, ok := strings.CutPrefix(id, PodIDPrefix)
	if !ok || !validName(name) {
		return false
	}
	_, err := os.Stat(filepath.Join(o.podDir(name), "pod.json"))
	return err == nil
}

// GetPod returns a pod with the processes that use it.
func GetPod(name string, o Options) (*Pod, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	p, err := o.loadPod(name)
	if err != nil {
		return nil, err
	}
	p.Users, err = podUsers(p)
	return p, err
}

// ListPods returns the pods under o.Root, sorted by name.
func ListPods(o Options) ([]Pod, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(o.podsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Pod
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		p, err := GetPod(e.Name(), o)
		if errors.Is(err, ErrPodNotFound) {
			continue // being created, or half removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// PodNamespaces returns the pinned namespaces of pod name under the state
// root: {"network": path, "ipc": path, "uts": path}, keyed like an OCI
// linux.namespaces[].type. A container joins the pod by naming these paths
// (what create --pod writes). It checks that each pin is still mounted.
func PodNamespaces(root, name string) (map[string]string, error) {
	o := Options{Root: root}
	if err := o.check(); err != nil {
		return nil, err
	}
	p, err := o.loadPod(name)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, ns := range podNamespaces {
		path := p.Namespaces[ns.Type]
		if path == "" || !isNsfs(path) {
			return nil, fmt.Errorf("pod %s: its %s namespace is not pinned at %q (remove the pod and create it again)", name, ns.Type, path)
		}
		out[ns.Type] = path
	}
	return out, nil
}

// PodFiles returns the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf,
// keyed by their path in a container, for the runtime to bind-mount
// read-only into the pod's containers that do not mount their own.
func PodFiles(root, name string) (map[string]string, error) {
	o := Options{Root: root}
	if err := o.check(); err != nil {
		return nil, err
	}
	p, err := o.loadPod(name)
	if err != nil {
		return nil, err
	}
	return p.Files, nil
}

// podUsers returns the pids of the processes whose network, IPC or UTS
// namespace is one of the pod's: what /proc/<pid>/ns/* links point to is
// compared with the pinned inodes.
func podUsers(p *Pod) ([]int, error) {
	type key struct{ dev, ino uint64 }
	pinned := map[key]bool{}
	for _, ns := range podNamespaces {
		var st unix.Stat_t
		if path := p.Namespaces[ns.Type]; path != "" && isNsfs(path) && unix.Stat(path, &st) == nil {
			pinned[key{st.Dev, st.Ino}] = true
		}
	}
	if len(pinned) == 0 {
		return nil, nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		for _, ns := range podNamespaces {
			var st unix.Stat_t
			if unix.Stat("/proc/"+e.Name()+"/ns/"+ns.File, &st) == nil && pinned[key{st.Dev, st.Ino}] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}

// RemovePod detaches the pod from its networks, unpins its namespaces and
// removes its directory. While processes still use one of its namespaces
// it refuses with ErrPodInUse, unless force: then they keep the namespaces
// they are in (which live as long as they do) but lose the network. A pod
// left half made by a crash is removed too.
func RemovePod(name string, force bool, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	if !validName(name) {
		return fmt.Errorf("%w: %q", ErrPodNotFound, name)
	}
	unlock, err := o.lockPods()
	if err != nil {
		return err
	}
	defer unlock()
	dir := o.podDir(name)
	p, err := o.loadPod(name)
	if errors.Is(err, ErrPodNotFound) {
		if _, serr := os.Stat(dir); serr != nil {
			return err
		}
		p = &Pod{Name: name} // no pod.json: a crash during create
	} else if err != nil {
		return err
	}
	if p.Namespaces == nil {
		p.Namespaces = map[string]string{}
		for _, ns := range podNamespaces {
			p.Namespaces[ns.Type] = filepath.Join(dir, ns.File)
		}
	}
	users, err := podUsers(p)
	if err != nil {
		return err
	}
	if len(users) > 0 && !force {
		return fmt.Errorf("%w: %s is used by %d process(es): %s", ErrPodInUse, name, len(users), pidList(users))
	}
	var errs []error
	for i := len(p.Attachments) - 1; i >= 0; i-- {
		errs = append(errs, Detach(p.Attachments[i], o))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := unpinAll(dir, o.Recorder); err != nil {
		return err
	}
	o.Recorder.Step("forget pod "+name, trace.Quote("rm", "-r", dir))
	return os.RemoveAll(dir)
}

func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
		if comm, err := os.ReadFile("/proc/" + s[i] + "/comm"); err == nil {
			s[i] += " (" + strings.TrimSpace(string(comm)) + ")"
		}
	}
	return strings.Join(s, ", ")
}
