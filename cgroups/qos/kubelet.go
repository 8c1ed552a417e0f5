package qos

import (
	"math"
)

// The kubelet's constants (pkg/kubelet/cm/helpers_linux.go,
// pkg/kubelet/qos/policy.go, pkg/kubelet/kuberuntime).
const (
	MinShares     = 2      // cpu.shares of a BestEffort pod and of a zero request
	MaxShares     = 262144 // the kernel's maximum cpu.shares
	SharesPerCPU  = 1024   // cpu.shares of one CPU
	MilliCPUToCPU = 1000
	// QuotaPeriod is cpu.cfs_period_us, the second number of cpu.max.
	QuotaPeriod = 100000
	// MinQuota is the smallest quota the kubelet writes (1 ms per period).
	MinQuota = 1000

	GuaranteedOOMScoreAdj = -997
	BestEffortOOMScoreAdj = 1000

	// MemoryThrottlingFactor is the kubelet's default
	// memoryThrottlingFactor for MemoryQoS's memory.high.
	MemoryThrottlingFactor = 0.9
	// PageSize is what memory.high is rounded down to (os.Getpagesize on
	// x86-64 and arm64 with 4k pages).
	PageSize = 4096
)

// Class is a pod's Quality of Service class.
type Class string

// The three QoS classes.
const (
	Guaranteed Class = "Guaranteed"
	Burstable  Class = "Burstable"
	BestEffort Class = "BestEffort"
)

// MilliCPUToShares is the kubelet's cpu.shares for a CPU request in
// millicores: milli·1024/1000 in integer arithmetic, at least 2 (also for
// no request: the kernel's default of 1024 would be too much), at most
// 262144.
func MilliCPUToShares(milli int64) uint64 {
	if milli == 0 {
		return MinShares
	}
	shares := milli * SharesPerCPU / MilliCPUToCPU
	switch {
	case shares < MinShares:
		return MinShares
	case shares > MaxShares:
		return MaxShares
	}
	return uint64(shares)
}

// MilliCPUToQuota is the kubelet's CFS quota for a CPU limit in millicores:
// milli·period/1000 microseconds per period, at least MinQuota. No limit is
// 0, which means no quota ("max" in cpu.max).
func MilliCPUToQuota(milli, period int64) int64 {
	if milli == 0 {
		return 0
	}
	q := milli * period / MilliCPUToCPU
	if q < MinQuota {
		return MinQuota
	}
	return q
}

// OOMScoreAdj is the kubelet's oom_score_adj for a container
// (GetContainerOOMScoreAdjust without the alpha PodLevelResources and
// KubeletOOMScoreAdjTieBreak gates): −997 for Guaranteed, 1000 for
// BestEffort, and for Burstable
//
//	1000 − 1000·memoryRequest/memoryCapacity   (integer division)
//
// kept above Guaranteed's (at least 1000−997 = 3) and below BestEffort's
// (1000 becomes 999). A sidecar gets no more than the regular container
// with the smallest memory request, so that it is not killed before the
// containers it serves: minRegularRequest is that request, and is only read
// when sidecar is true.
func OOMScoreAdj(class Class, memoryRequest, memoryCapacity int64, sidecar bool, minRegularRequest int64) int {
	switch class {
	case Guaranteed:
		return GuaranteedOOMScoreAdj
	case BestEffort:
		return BestEffortOOMScoreAdj
	}
	adj := burstableAdj(memoryRequest, memoryCapacity)
	if sidecar {
		adj = min(adj, burstableAdj(minRegularRequest, memoryCapacity))
	}
	if adj < 1000+GuaranteedOOMScoreAdj {
		return 1000 + GuaranteedOOMScoreAdj
	}
	if adj == BestEffortOOMScoreAdj {
		return BestEffortOOMScoreAdj - 1
	}
	return int(adj)
}

func burstableAdj(request, capacity int64) int64 {
	if capacity <= 0 || request >= capacity {
		return 0 // clamped to 3 by the caller
	}
	if request > math.MaxInt64/1000 {
		return 0
	}
	return 1000 - 1000*request/capacity
}

// MemoryHigh is MemoryQoS's memory.high for a container (kubelet 1.27 and
// later):
//
//	floor((request + factor·(limit − request)) / pageSize) · pageSize
//
// where limit is the node's allocatable memory when the container has no
// memory limit. It returns 0 (not written, the kernel's "max") when the
// request equals the limit (Guaranteed memory, and no request and no limit)
// and when the result would not be above the request.
func MemoryHigh(request, limit, allocatable int64, factor float64) int64 {
	if request == limit {
		return 0
	}
	top := limit
	if top == 0 {
		top = allocatable
	}
	if top <= 0 {
		return 0
	}
	high := int64(math.Floor((float64(request)+(float64(top)-float64(request))*factor)/PageSize)) * PageSize
	if high <= request {
		return 0
	}
	return high
}
