// Command cri drives containerd's CRI plugin the way a kubelet does, through
// one runtime handler (a RuntimeClass), and checks what it gets back. It is
// the Kubernetes scenario of scripts/clients-test.sh: crictl itself cannot be
// fetched here, so this is the few CRI calls a kubelet makes for one pod:
//
//	RunPodSandbox -> CreateContainer -> StartContainer -> ExecSync ->
//	UpdateContainerResources -> StopContainer -> RemoveContainer ->
//	StopPodSandbox -> RemovePodSandbox
//
// It prints "PASS cri-<check>" or "FAIL cri-<check>: reason" per check and
// exits 1 if any failed. It is a module of its own (tests/clients/cri/go.mod)
// so the runtime's module does not depend on gRPC or the CRI API.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type checker struct {
	failed int
}

func (c *checker) check(name string, err error) bool {
	if err != nil {
		c.failed++
		fmt.Printf("FAIL cri-%s: %v\n", name, err)
		return false
	}
	fmt.Printf("PASS cri-%s\n", name)
	return true
}

func main() {
	endpoint := flag.String("endpoint", "", "containerd's socket (unix path)")
	handler := flag.String("handler", "", "runtime handler, as a RuntimeClass's handler field names it")
	image := flag.String("image", "localhost/miniruntime/busybox:test", "container image (already in the k8s.io namespace)")
	cgroupParent := flag.String("cgroup-parent", "", "pod cgroup parent, e.g. /mrclients-k8s/pod1")
	logDir := flag.String("log-dir", "", "pod log directory")
	hostNetwork := flag.Bool("host-network", false, "run the pod in the host's network namespace (no CNI)")
	apparmor := flag.String("apparmor", "", "the AppArmor profile containerd gives containers by default (cri-containerd.apparmor.d where AppArmor is on); checked on the container and on an exec in it")
	timeout := flag.Duration("timeout", 20*time.Second, "timeout of each CRI call")
	flag.Parse()
	if *endpoint == "" || *logDir == "" {
		fmt.Fprintln(os.Stderr, "usage: cri -endpoint SOCKET -log-dir DIR [-handler NAME] [-cgroup-parent P] [-host-network]")
		os.Exit(2)
	}
	conn, err := grpc.NewClient("unix://"+*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri:", err)
		os.Exit(1)
	}
	defer conn.Close()
	s := &scenario{
		rt:           cri.NewRuntimeServiceClient(conn),
		handler:      *handler,
		image:        *image,
		cgroupParent: *cgroupParent,
		logDir:       *logDir,
		hostNetwork:  *hostNetwork,
		apparmor:     *apparmor,
		timeout:      *timeout,
	}
	c := &checker{}
	s.run(c)
	if c.failed > 0 {
		os.Exit(1)
	}
}

type scenario struct {
	rt           cri.RuntimeServiceClient
	handler      string
	image        string
	cgroupParent string
	logDir       string
	hostNetwork  bool
	apparmor     string
	timeout      time.Duration
}

func (s *scenario) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout)
}

// verbosePid reads the "pid" containerd reports in a verbose status.
func verbosePid(info map[string]string) (int, error) {
	var v struct {
		Pid int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(info["info"]), &v); err != nil {
		return 0, fmt.Errorf("verbose info: %w", err)
	}
	if v.Pid <= 0 {
		return 0, fmt.Errorf("verbose info has no pid")
	}
	return v.Pid, nil
}

func (s *scenario) run(c *checker) {
	ctx, cancel := s.ctx()
	v, err := s.rt.Version(ctx, &cri.VersionRequest{})
	cancel()
	if !c.check("version", err) {
		return
	}
	fmt.Printf("     %s %s, CRI %s\n", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)

	nsMode := cri.NamespaceMode_POD
	if s.hostNetwork {
		nsMode = cri.NamespaceMode_NODE
	}
	podConfig := &cri.PodSandboxConfig{
		Metadata:     &cri.PodSandboxMetadata{Name: "mrpod", Uid: "mrpod-uid-1", Namespace: "default"},
		Hostname:     "mrpod",
		LogDirectory: s.logDir,
		Labels:       map[string]string{"app": "miniruntime-clients"},
		Linux: &cri.LinuxPodSandboxConfig{
			CgroupParent: s.cgroupParent,
			SecurityContext: &cri.LinuxSandboxSecurityContext{
				NamespaceOptions: &cri.NamespaceOption{Network: nsMode, Pid: cri.NamespaceMode_CONTAINER, Ipc: cri.NamespaceMode_POD},
			},
		},
	}
	ctx, cancel = s.ctx()
	pod, err := s.rt.RunPodSandbox(ctx, &cri.RunPodSandboxRequest{Config: podConfig, RuntimeHandler: s.handler})
	cancel()
	if !c.check("run-pod-sandbox", err) {
		return
	}
	podID := pod.PodSandboxId
	defer s.removePod(c, podID)

	ctx, cancel = s.ctx()
	ps, err := s.rt.PodSandboxStatus(ctx, &cri.PodSandboxStatusRequest{PodSandboxId: podID, Verbose: true})
	cancel()
	var podPid int
	if err == nil && ps.Status.State != cri.PodSandboxState_SANDBOX_READY {
		err = fmt.Errorf("state %v, want SANDBOX_READY", ps.Status.State)
	}
	if err == nil {
		podPid, err = verbosePid(ps.Info)
	}
	if err == nil && !s.hostNetwork && ps.Status.GetNetwork().GetIp() == "" {
		err = fmt.Errorf("the pod has no IP")
	}
	if !c.check("pod-sandbox-ready", err) {
		return
	}
	if !s.hostNetwork {
		fmt.Printf("     pod IP %s, sandbox pid %d\n", ps.Status.GetNetwork().GetIp(), podPid)
	}

	ctrConfig := &cri.ContainerConfig{
		Metadata: &cri.ContainerMetadata{Name: "app"},
		Image:    &cri.ImageSpec{Image: s.image},
		Command:  []string{"sh", "-c", `echo cri-hi; trap "exit 0" TERM; while :; do sleep 1; done`},
		LogPath:  "app.log",
		Linux: &cri.LinuxContainerConfig{
			Resources: &cri.LinuxContainerResources{MemoryLimitInBytes: 64 << 20, CpuShares: 256},
		},
	}
	ctx, cancel = s.ctx()
	cc, err := s.rt.CreateContainer(ctx, &cri.CreateContainerRequest{PodSandboxId: podID, Config: ctrConfig, SandboxConfig: podConfig})
	cancel()
	if !c.check("create-container", err) {
		return
	}
	id := cc.ContainerId
	ctx, cancel = s.ctx()
	_, err = s.rt.StartContainer(ctx, &cri.StartContainerRequest{ContainerId: id})
	cancel()
	if !c.check("start-container", err) {
		s.removeContainer(c, id)
		return
	}
	ctx, cancel = s.ctx()
	cs, err := s.rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: id, Verbose: true})
	cancel()
	var pid int
	if err == nil && cs.Status.State != cri.ContainerState_CONTAINER_RUNNING {
		err = fmt.Errorf("state %v, want CONTAINER_RUNNING", cs.Status.State)
	}
	if err == nil {
		pid, err = verbosePid(cs.Info)
	}
	c.check("container-running", err)

	c.check("exec-sync", s.execExpect(id, []string{"sh", "-c", "echo exec-hi; exit 3"}, "exec-hi\n", 3))

	// The container joined the sandbox's namespaces by path, as a pod's
	// containers do: compare them from the host.
	var nsErr error
	if pid > 0 && podPid > 0 {
		kinds := []string{"ipc", "uts", "net"}
		for _, kind := range kinds {
			a, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
			b, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", podPid, kind))
			if err1 != nil || err2 != nil || a != b {
				nsErr = fmt.Errorf("%s namespace: container %s, sandbox %s (%v %v)", kind, a, b, err1, err2)
				break
			}
		}
		if nsErr == nil && !s.hostNetwork {
			host, _ := os.Readlink("/proc/self/ns/net")
			if own, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); own == host {
				nsErr = fmt.Errorf("the pod shares the host's network namespace %s", host)
			}
		}
		if nsErr == nil {
			// And from inside: the container's own view of its network namespace.
			want, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", podPid))
			nsErr = s.execExpect(id, []string{"readlink", "/proc/self/ns/net"}, want+"\n", 0)
		}
	} else {
		nsErr = fmt.Errorf("no pid for the container or the sandbox")
	}
	c.check("shares-pod-namespaces", nsErr)

	if s.apparmor != "" {
		// The runtime applied the profile containerd chose to the
		// container's process and to an exec in it, in enforce mode.
		want := s.apparmor + " (enforce)"
		var err error
		if pid <= 0 {
			err = fmt.Errorf("no container pid")
		} else if got, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/attr/current", pid)); rerr != nil {
			err = rerr
		} else if strings.TrimSpace(string(got)) != want {
			err = fmt.Errorf("the container's process runs under %q, want %q", strings.TrimSpace(string(got)), want)
		}
		if err == nil {
			err = s.execExpect(id, []string{"cat", "/proc/self/attr/current"}, want+"\n", 0)
		}
		c.check("apparmor", err)
	}

	c.check("memory-limit", s.cgroupValue(pid, "memory.limit_in_bytes", 64<<20))

	ctx, cancel = s.ctx()
	_, err = s.rt.UpdateContainerResources(ctx, &cri.UpdateContainerResourcesRequest{
		ContainerId: id,
		Linux:       &cri.LinuxContainerResources{MemoryLimitInBytes: 96 << 20, CpuShares: 256},
	})
	cancel()
	if err == nil {
		err = s.cgroupValue(pid, "memory.limit_in_bytes", 96<<20)
	}
	c.check("update-resources", err)

	ctx, cancel = s.ctx()
	_, err = s.rt.StopContainer(ctx, &cri.StopContainerRequest{ContainerId: id, Timeout: 10})
	cancel()
	if err == nil {
		ctx, cancel = s.ctx()
		cs, err = s.rt.ContainerStatus(ctx, &cri.ContainerStatusRequest{ContainerId: id})
		cancel()
		if err == nil && (cs.Status.State != cri.ContainerState_CONTAINER_EXITED || cs.Status.ExitCode != 0) {
			err = fmt.Errorf("state %v exit code %d, want CONTAINER_EXITED 0 (the TERM trap)", cs.Status.State, cs.Status.ExitCode)
		}
	}
	c.check("stop-container", err)

	logData, err := os.ReadFile(filepath.Join(s.logDir, "app.log"))
	if err == nil && !strings.Contains(string(logData), " stdout F cri-hi") {
		err = fmt.Errorf("log %q lacks the container's output", logData)
	}
	c.check("container-log", err)

	s.removeContainer(c, id)
}

// execExpect runs ExecSync and compares stdout and the exit code.
func (s *scenario) execExpect(id string, cmd []string, stdout string, code int32) error {
	ctx, cancel := s.ctx()
	defer cancel()
	r, err := s.rt.ExecSync(ctx, &cri.ExecSyncRequest{ContainerId: id, Cmd: cmd, Timeout: 10})
	if err != nil {
		return err
	}
	if string(r.Stdout) != stdout || r.ExitCode != code {
		return fmt.Errorf("%q: stdout %q exit %d (stderr %q), want %q exit %d", cmd, r.Stdout, r.ExitCode, r.Stderr, stdout, code)
	}
	return nil
}

// cgroupValue reads a cgroup v1 memory file of pid from the host.
func (s *scenario) cgroupValue(pid int, file string, want int64) error {
	if pid <= 0 {
		return fmt.Errorf("no container pid")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return err
	}
	var path string
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] == "memory" {
			path = filepath.Join("/sys/fs/cgroup/memory", parts[2], file)
		}
		if len(parts) == 3 && parts[0] == "0" && parts[1] == "" && path == "" {
			path = filepath.Join("/sys/fs/cgroup", parts[2], "memory.max")
		}
	}
	if path == "" {
		return fmt.Errorf("no memory cgroup in /proc/%d/cgroup", pid)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(string(got)), 10, 64); err != nil || n != want {
		return fmt.Errorf("%s = %q, want %d", path, strings.TrimSpace(string(got)), want)
	}
	return nil
}

func (s *scenario) removeContainer(c *checker, id string) {
	ctx, cancel := s.ctx()
	_, err := s.rt.RemoveContainer(ctx, &cri.RemoveContainerRequest{ContainerId: id})
	cancel()
	c.check("remove-container", err)
}

func (s *scenario) removePod(c *checker, id string) {
	ctx, cancel := s.ctx()
	_, err := s.rt.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: id})
	cancel()
	if err == nil {
		ctx, cancel = s.ctx()
		_, err = s.rt.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: id})
		cancel()
	}
	c.check("remove-pod-sandbox", err)
}
