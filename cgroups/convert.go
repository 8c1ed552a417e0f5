package cgroups

import (
	"fmt"
	"math"
)

// The OCI spec was written for cgroup v1; on v2 some values must be
// converted. These are runc's conversions, exported so the runtime (and a
// learner) can show what a v1 number becomes.

// CPUSharesToWeight converts v1 cpu.shares [2, 262144] (default 1024) to v2
// cpu.weight [1, 10000] (default 100) with the quadratic fit on a log scale
// that runc, crun and systemd use today:
//
//	weight = ceil(10^((L² + 125·L) / 612 − 7/34)),  L = log2(shares)
//
// It maps the minimum, the default and the maximum exactly (2→1, 1024→100,
// 262144→10000), which the old linear formula did not: that one turned the
// default 1024 into 39, so a container with default shares got less CPU
// than a process outside any container. 0 means unset and stays 0.
func CPUSharesToWeight(shares uint64) uint64 {
	switch {
	case shares == 0:
		return 0
	case shares <= 2:
		return 1
	case shares >= 262144:
		return 10000
	}
	l := math.Log2(float64(shares))
	return uint64(math.Ceil(math.Pow(10, (l*l+125*l)/612.0-7.0/34.0)))
}

// CPUSharesToWeightLinear is the older linear conversion
// 1 + (shares−2)·9999/262142 (runc before 1.3, crun before 1.23, the
// Kubernetes documentation of the time). Kept so that values written by
// older runtimes can be explained.
func CPUSharesToWeightLinear(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + (shares-2)*9999/262142
}

// BlkioWeightToIOWeight converts a v1 blkio weight [10, 1000] to a v2
// io.weight [1, 10000] linearly: 1 + (w−10)·9999/990. io.bfq.weight uses the
// v1 range, so it takes the value unconverted.
func BlkioWeightToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	if w < 10 {
		w = 10
	}
	return 1 + (uint64(w)-10)*9999/990
}

// MemorySwapToV2 converts the OCI swap value, which is a memory+swap total
// (v1's memory.memsw.limit_in_bytes), to v2's memory.swap.max, which counts
// swap alone. -1 means unlimited on both sides. As in runc, an unlimited
// memory limit with no swap value means unlimited swap too, and a finite
// swap with an unlimited memory limit is taken as the swap amount.
func MemorySwapToV2(swap, limit int64) (int64, error) {
	switch {
	case swap == -1:
		return -1, nil
	case limit == -1:
		return swap, nil
	case limit <= 0:
		return 0, fmt.Errorf("swap %d needs a memory limit", swap)
	case swap < limit:
		return 0, fmt.Errorf("memory+swap %d is below the memory limit %d", swap, limit)
	}
	return swap - limit, nil
}
