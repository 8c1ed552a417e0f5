package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/miniruntime/miniruntime/netns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A container joins networks named in its annotations (see
// docs/networking.md): miniruntime.network lists them, miniruntime.ports
// publishes ports on the first. The flags --net and -p of create and run
// only write these annotations.

// addNetworkAnnotations merges --net and -p into the spec's annotations.
func addNetworkAnnotations(s *specs.Spec, nets, ports []string) {
	if len(nets) == 0 && len(ports) == 0 {
		return
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	join := func(key string, vals []string) {
		if len(vals) == 0 {
			return
		}
		if old := s.Annotations[key]; old != "" {
			vals = append(strings.Split(old, ","), vals...)
		}
		s.Annotations[key] = strings.Join(vals, ",")
	}
	join(netns.AnnotationNetwork, nets)
	if len(ports) > 0 && s.Annotations[netns.AnnotationNetwork] == "" {
		s.Annotations[netns.AnnotationNetwork] = netns.DefaultNetworkName
	}
	join(netns.AnnotationPorts, ports)
}

// networkRequest is what the annotations ask for, parsed and checked.
type networkRequest struct {
	names []string
	ports []netns.PortMapping
}

func parseNetworkRequest(s *specs.Spec) (*networkRequest, error) {
	nets, ports := s.Annotations[netns.AnnotationNetwork], s.Annotations[netns.AnnotationPorts]
	if nets == "" && ports == "" {
		return nil, nil
	}
	field := fmt.Sprintf("annotations[%q]", netns.AnnotationNetwork)
	names, err := netns.ParseNetworkList(nets)
	if err != nil {
		return nil, fieldErr(field, "%v", err)
	}
	if len(names) == 0 {
		return nil, fieldErr(field, "empty, but %s publishes ports", netns.AnnotationPorts)
	}
	pm, err := netns.ParsePortMappings(ports)
	if err != nil {
		return nil, fieldErr(fmt.Sprintf("annotations[%q]", netns.AnnotationPorts), "%v", err)
	}
	if !hasNewNamespace(s, specs.NetworkNamespace) {
		return nil, fieldErr(field, "a container joins networks only with a network namespace of its own (linux.namespaces: network, without a path)")
	}
	return &networkRequest{names: names, ports: pm}, nil
}

// allocateNetworks reserves an address on each requested network before the
// container exists, so that /etc/hosts can name it; the state dir already
// exists, so a concurrent garbage collection sees the id as alive, and
// c.Networks already names each network (create records them first). The
// files a container needs for networking are bind-mounted unless the spec
// mounts its own.
func (c *Container) allocateNetworks(req *networkRequest, s *specs.Spec, rec *trace.Recorder) error {
	root := filepath.Dir(c.dir)
	o := netns.Options{Root: root, Recorder: rec}
	exists := func(id string) bool {
		_, err := os.Stat(filepath.Join(root, id))
		return err == nil
	}
	for i, name := range req.names {
		if name == netns.DefaultNetworkName {
			if _, err := netns.DefaultNetwork(o); err != nil {
				return err
			}
		}
		if err := netns.GC(name, exists, o); err != nil && !errors.Is(err, netns.ErrNotFound) {
			return err
		}
		att, err := netns.Allocate(name, c.ID, o)
		if err != nil {
			return err
		}
		if i == 0 {
			att.Ports = req.ports
		}
		// create put the network on record by name before this
		// allocation; Detach needs no more than that to release it.
		c.Networks[i] = att
	}
	return c.provideNetworkFiles(s)
}

// provideNetworkFiles writes /etc/hosts, /etc/resolv.conf and /etc/hostname
// into the state dir and adds read-only bind mounts of them to the spec,
// for each of them the spec does not mount itself.
func (c *Container) provideNetworkFiles(s *specs.Spec) error {
	mounted := map[string]bool{}
	for _, m := range s.Mounts {
		mounted[filepath.Clean(m.Destination)] = true
	}
	for dest, content := range netns.ContainerFiles(c.Networks[0], s.Hostname) {
		if mounted[dest] {
			continue
		}
		src := filepath.Join(c.dir, "etc-"+filepath.Base(dest))
		if err := os.WriteFile(src, content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", src, err)
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
	}
	return nil
}

// attachNetworks plugs the init's network namespace into each network.
func (c *Container) attachNetworks(rec *trace.Recorder) error {
	o := netns.Options{Root: filepath.Dir(c.dir), Recorder: rec}
	ns := "/proc/" + strconv.Itoa(c.Pid) + "/ns/net"
	for _, att := range c.Networks {
		if err := netns.Attach(att, ns, o); err != nil {
			return err
		}
	}
	return nil
}

// detachNetworks unplugs and releases every attachment; it is idempotent.
func (c *Container) detachNetworks(rec *trace.Recorder) error {
	o := netns.Options{Root: filepath.Dir(c.dir), Recorder: rec}
	var errs []error
	for _, att := range c.Networks {
		if err := netns.Detach(att, o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// joinPod points network, ipc and uts at the pod's pinned namespaces (adding
// any the spec lacks), drops the spec's hostname (the pod's UTS namespace has
// the pod's; setting it would rename the whole pod), and bind-mounts the
// pod's /etc files where the spec mounts none.
func joinPod(s *specs.Spec, root, pod string) error {
	if s.Annotations[netns.AnnotationNetwork] != "" || s.Annotations[netns.AnnotationPorts] != "" {
		return fieldErr(fmt.Sprintf("annotations[%q]", netns.AnnotationNetwork), "a container in a pod uses the pod's network: give --net and -p to `pod create`")
	}
	if s.Linux == nil {
		return fieldErr("linux", "missing: this runtime runs Linux containers")
	}
	paths, err := netns.PodNamespaces(root, pod)
	if err != nil {
		return fmt.Errorf("--pod %s: %w", pod, err)
	}
	for _, typ := range []specs.LinuxNamespaceType{specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace} {
		found := false
		for i := range s.Linux.Namespaces {
			if s.Linux.Namespaces[i].Type == typ {
				s.Linux.Namespaces[i].Path, found = paths[string(typ)], true
			}
		}
		if !found {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: paths[string(typ)]})
		}
	}
	s.Hostname = ""
	files, err := netns.PodFiles(root, pod)
	if err != nil {
		return fmt.Errorf("--pod %s: %w", pod, err)
	}
	mounted := map[string]bool{}
	for _, m := range s.Mounts {
		mounted[filepath.Clean(m.Destination)] = true
	}
	for _, dest := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"} {
		if src := files[dest]; src != "" && !mounted[dest] {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: dest, Type: "bind", Source: src, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
		}
	}
	return nil
}
