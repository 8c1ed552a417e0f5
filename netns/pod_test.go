package netns

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPodLifecycle(t *testing.T) {
	w := newWorld(t)
	w.network(Network{Name: "pn", Subnet: pfx("10.213.0.0/24")})
	pod, err := CreatePod(PodSpec{Name: "web", Networks: []string{"pn"}}, w.o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { RemovePod("web", true, w.o) })
	if len(pod.Attachments) != 1 || pod.Attachments[0].ContainerID != "pod-web" || pod.Attachments[0].IP != addr("10.213.0.2") {
		t.Fatalf("pod: %+v", pod)
	}
	paths, err := PodNamespaces(w.o.Root, "web")
	if err != nil || len(paths) != 3 || paths["network"] != filepath.Join(w.o.Root, "pods/web/net") {
		t.Fatalf("PodNamespaces: %v %v", paths, err)
	}
	// GC must not take a pod's address: "pod-web" is no container.
	if err := GC("pn", func(string) bool { return false }, w.o); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(w.o.Root, "networks/pn/ipam/10.213.0.2")); err != nil {
		t.Fatalf("GC collected the pod's address: %v", err)
	}
	// the pod's namespace is the one attached: it serves, the host reaches it
	ns := &testNS{name: "web", path: paths["network"]}
	h, err := openNS(paths["network"], nil)
	if err != nil {
		t.Fatal(err)
	}
	ns.fd, ns.nl = h.fd, h.nl
	defer h.Close()
	serve(t, ns, "tcp", 80)
	mustReach(t, w.host, "tcp", hostPort(addr("10.213.0.2"), 80), "web", "10.213.0.1")
	if _, err := CreatePod(PodSpec{Name: "web"}, w.o); !errors.Is(err, ErrExists) {
		t.Fatalf("second pod web: %v", err)
	}
	if _, err := CreatePod(PodSpec{Name: "bad/name"}, w.o); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if err := RemovePod("web", false, w.o); err != nil {
		t.Fatal(err)
	}
	if _, err := PodNamespaces(w.o.Root, "web"); !errors.Is(err, ErrPodNotFound) {
		t.Fatalf("after rm: %v", err)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), w.o.Root) {
		t.Fatal("a pin is still mounted")
	}
	w.remove("pn")
}

// A pod whose creation fails half way leaves nothing.
func TestPodCreateUndo(t *testing.T) {
	w := newWorld(t)
	if _, err := CreatePod(PodSpec{Name: "p", Networks: []string{"nosuch"}}, w.o); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pod on a missing network: %v", err)
	}
	if _, err := os.Stat(filepath.Join(w.o.Root, "pods/p")); !os.IsNotExist(err) {
		t.Fatalf("pod dir left: %v", err)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), w.o.Root) {
		t.Fatal("a pin is still mounted")
	}
}
