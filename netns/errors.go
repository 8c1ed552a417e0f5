package netns

import "errors"

// Sentinel errors, checked with errors.Is. The returned errors wrap them with
// the details (which network, which address, which port).
var (
	// ErrInvalid: a network, port mapping or attachment fails validation.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound: no network of that name.
	ErrNotFound = errors.New("network not found")
	// ErrExists: a network, bridge or link of that name already exists.
	ErrExists = errors.New("already exists")
	// ErrOverlap: a subnet overlaps another network or a route of the host.
	ErrOverlap = errors.New("subnet overlaps")
	// ErrInUse: the network still has allocations (RemoveNetwork without force).
	ErrInUse = errors.New("network in use")
	// ErrExhausted: the network has no free address left.
	ErrExhausted = errors.New("no free address")
	// ErrPortInUse: the host port is already published by another container.
	ErrPortInUse = errors.New("host port already published")
	// ErrPodNotFound: no pod of that name.
	ErrPodNotFound = errors.New("pod not found")
	// ErrPodInUse: processes still use the pod's namespaces (RemovePod
	// without force).
	ErrPodInUse = errors.New("pod in use")
)
