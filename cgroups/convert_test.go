package cgroups

import "testing"

func TestCPUSharesToWeight(t *testing.T) {
	for _, c := range []struct{ shares, weight, linear uint64 }{
		{0, 0, 0},
		{1, 1, 1},
		{2, 1, 1},
		{512, 59, 20},
		{1024, 100, 39},
		{2048, 174, 79},
		{262144, 10000, 10000},
		{300000, 10000, 10000},
	} {
		if got := CPUSharesToWeight(c.shares); got != c.weight {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", c.shares, got, c.weight)
		}
		if got := CPUSharesToWeightLinear(c.shares); got != c.linear {
			t.Errorf("CPUSharesToWeightLinear(%d) = %d, want %d", c.shares, got, c.linear)
		}
	}
	// Monotonic over the whole range.
	prev := uint64(0)
	for s := uint64(2); s <= 262144; s++ {
		w := CPUSharesToWeight(s)
		if w < prev || w < 1 || w > 10000 {
			t.Fatalf("CPUSharesToWeight(%d) = %d after %d", s, w, prev)
		}
		prev = w
	}
}

func TestBlkioWeightToIOWeight(t *testing.T) {
	for _, c := range []struct {
		in   uint16
		want uint64
	}{{0, 0}, {10, 1}, {100, 910}, {500, 4950}, {1000, 10000}} {
		if got := BlkioWeightToIOWeight(c.in); got != c.want {
			t.Errorf("BlkioWeightToIOWeight(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestMemorySwapToV2(t *testing.T) {
	for _, c := range []struct {
		swap, limit, want int64
		err               bool
	}{
		{-1, 100, -1, false},
		{-1, -1, -1, false},
		{300, -1, 300, false},
		{300, 100, 200, false},
		{100, 100, 0, false},
		{50, 100, 0, true},
		{100, 0, 0, true},
	} {
		got, err := MemorySwapToV2(c.swap, c.limit)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("MemorySwapToV2(%d, %d) = %d, %v; want %d, err %v", c.swap, c.limit, got, err, c.want, c.err)
		}
	}
}
