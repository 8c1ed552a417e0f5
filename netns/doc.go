// Package netns gives containers a network: a Linux bridge with a subnet (like
// docker0 or the CNI bridge plugin), one veth pair per container, an address
// allocator (IPAM) kept in files, and nftables rules for outbound NAT,
// isolation between networks and published ports.
//
// The picture, for one network "default" (bridge mr0, 10.88.0.0/24):
//
//	host netns (Options.HostNS)                 container netns (/proc/<pid>/ns/net)
//
//	uplink ◄── routing + nft table "ip miniruntime"
//	             │  masquerade 10.88.0.0/24 going out
//	             │  dnat <host address>:8080 -> 10.88.0.2:80
//	mr0 (bridge, 10.88.0.1/24)
//	  └── mr1a2b3c4d5e (veth) ═══════════════════ eth0 10.88.0.2/24
//	                                              default via 10.88.0.1
//
// Every step that touches the kernel is reported to the optional
// trace.Recorder together with the ip(8), nft(8) or sysctl(8) command that
// does the same by hand; docs/networking.md lists them in order.
//
// Namespaces. Options.HostNS names the namespace that plays "the host" (the
// caller's own when empty); Attach also takes the path of the container's
// network namespace (/proc/<pid>/ns/net). The package never moves the calling
// goroutine's thread: it opens netlink and nftables sockets inside the target
// namespace (netlink.NewHandleAt, nftables.WithNetNSFd) and, for the few
// steps that need it (sysctls), runs them on a separate locked OS thread.
//
// State. Networks live under Options.Root/networks/<name>/network.json, the
// allocations under .../<name>/ipam/<address> (file content: container id),
// published ports under Options.Root/networks/.ports/. A flock on
// Options.Root/networks/.lock serialises changes to networks and rules; each
// network's ipam/.lock serialises its allocator.
//
// Drivers. A Network with Driver DriverCNI is driven by the reference CNI
// plugins (bridge, host-local, portmap), which this package runs itself
// (cniproto.go), instead of its own netlink and nftables code; the API is
// the same (cni.go).
//
// Pods. CreatePod pins new network, IPC and UTS namespaces under
// Options.Root/pods/<name>/ and attaches them like a container;
// PodNamespaces gives the paths a container names to join them (pod.go).
package netns
