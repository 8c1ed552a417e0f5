// Package qos is the Kubernetes QoS model of the cgroup sandbox explorer:
// from a Pod's requests and limits to its QoS class and to exactly what the
// kubelet (and the OCI runtime under it) writes into the pod's and each
// container's cgroup: cpu.weight, cpu.max, memory.max, memory.min and
// memory.high, oom_score_adj, and the cgroup paths under kubepods with the
// kubelet's cgroupfs and systemd drivers (driver.go), with the
// linux.cgroupsPath containerd's CRI plugin gives the runtime.
//
// The formulas are the kubelet's, cited in docs/qos.md:
//
//   - QoS class: pkg/apis/core/v1/helper/qos (ComputePodQOS), over init and
//     regular containers, after the API server's defaulting of requests to
//     limits.
//   - Pod cgroup: pkg/kubelet/cm/helpers_linux.go (ResourceConfigForPod,
//     MilliCPUToShares, MilliCPUToQuota) with the effective pod requests of
//     k8s.io/component-helpers/resource (the max over init containers,
//     sidecars added), and cpu.weight by the kubelet's own linear
//     conversion (pkg/kubelet/cm/cgroup_manager_linux.go, getCPUWeight).
//   - Container cgroup: pkg/kubelet/kuberuntime/kuberuntime_container_linux.go
//     (calculateLinuxResources, MemoryQoS's memory.min and memory.high); the
//     runtime converts cpu.shares to cpu.weight (runc 1.3.2 and later: the
//     quadratic formula of cgroups.CPUSharesToWeight).
//   - oom_score_adj: pkg/kubelet/qos/policy.go (GetContainerOOMScoreAdjust).
//
// The package keeps k8s.io/api out on purpose: the binary is re-executed for
// every container start and k8s.io/api/core/v1 costs about 1 ms of package
// initialisation each time. The few Pod fields used here are declared
// locally with the same JSON names, and Quantity is the package's own for
// the same reason: k8s.io/apimachinery's resource package brings a CBOR
// codec and a decimal library with it.
package qos
