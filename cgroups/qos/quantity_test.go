package qos

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	for _, tc := range []struct {
		in, str      string
		value, milli int64
	}{
		// Decimal SI: String keeps the largest suffix that leaves the
		// number whole.
		{"250m", "250m", 1, 250},
		{"1", "1", 1, 1000},
		{"0.5", "500m", 1, 500},
		{"1.5", "1500m", 2, 1500},
		{"0.1", "100m", 1, 100},
		{"100m", "100m", 1, 100},
		{"2000m", "2", 2, 2000},
		{"1000", "1k", 1000, 1000000},
		{"1500", "1500", 1500, 1500000},
		{"1500000", "1500k", 1500000, 1500000000},
		{"100k", "100k", 100000, 100000000},
		{"1M", "1M", 1000000, 1000000000},
		{"128M", "128M", 128000000, 128000000000},
		{"1G", "1G", 1e9, 1e12},
		{"1T", "1T", 1e12, 1e15},
		{"1P", "1P", 1e15, 1e18},
		{"0.001E", "1P", 1e15, 1e18},
		{"1u", "1u", 1, 1},
		{"1500u", "1500u", 1, 2},
		{"1.5u", "1500n", 1, 1},
		{"1n", "1n", 1, 1},
		{"0.1n", "1n", 1, 1}, // finer than 1n rounds up
		{"0.0001", "100u", 1, 1},
		// Binary SI; a binary quantity under 1024 or not whole is written
		// in decimal.
		{"128Mi", "128Mi", 134217728, 134217728000},
		{"1Mi", "1Mi", 1 << 20, 1 << 20 * 1000},
		{"1.5Gi", "1536Mi", 1610612736, 1610612736000},
		{"1024Mi", "1Gi", 1 << 30, 1 << 30 * 1000},
		{"1023Ki", "1023Ki", 1047552, 1047552000},
		{"10Gi", "10Gi", 10 << 30, 10 << 30 * 1000},
		{"8Pi", "8Pi", 8 << 50, 8 << 50 * 1000},
		{"1.5Pi", "1536Ti", 1688849860263936, 1688849860263936000},
		{"0.5Ki", "512", 512, 512000},
		{"1.5Ki", "1536", 1536, 1536000},
		{"1.0000001Ki", "1024000102400n", 1025, 1024001},
		{"0.001Ei", "1152921504606846976m", 1152921504606847, 1152921504606846976},
		// Decimal exponents keep the exponent notation.
		{"1e3", "1e3", 1000, 1000000},
		{"1E3", "1e3", 1000, 1000000},
		{"1e+3", "1e3", 1000, 1000000},
		{"1E-3", "1e-3", 1, 1},
		{"5e-3", "5e-3", 1, 5},
		{"1e9", "1e9", 1e9, 1e12},
		{"1.5e3", "1500", 1500, 1500000},
		{"12e2", "1200", 1200, 1200000},
		{"9.2e15", "9200e12", 9200000000000000, 9200000000000000000},
		{"1e0", "1", 1, 1000},
		{"1e-12", "1e-9", 1, 1},
		{"1e-100000", "1e-9", 1, 1},
		{"0e99", "0", 0, 0},
		// The number's forms.
		{"1.", "1", 1, 1000},
		{".5", "500m", 1, 500},
		{"1.G", "1G", 1e9, 1e12},
		{"+1", "1", 1, 1000},
		{"01", "1", 1, 1000},
		{"0001.5", "1500m", 2, 1500},
		{"1.000", "1", 1, 1000},
		{"0", "0", 0, 0},
		{"-0", "0", 0, 0},
		{"0Mi", "0", 0, 0},
		{"0.0", "0", 0, 0},
		// Negative quantities parse (ParseQuantity refuses them); the
		// magnitude rounds up.
		{"-1", "-1", -1, -1000},
		{"-5", "-5", -5, -5000},
		{"-1.5", "-1500m", -2, -1500},
		{"-1Mi", "-1Mi", -1 << 20, -1 << 20 * 1000},
		{"-0.5Ki", "-512", -512, -512000},
		{"-1.5n", "-2n", -1, -1},
		// The largest quantity: its milli value is math.MaxInt64.
		{"9223372036854775807m", "9223372036854775807m", 9223372036854776, math.MaxInt64},
		{"9223372036854775.807", "9223372036854775807m", 9223372036854776, math.MaxInt64},
		{"-9223372036854775807m", "-9223372036854775807m", -9223372036854776, -math.MaxInt64},
		{"9223372036854775.8069999", "9223372036854775806999900n", 9223372036854776, math.MaxInt64},
	} {
		q, err := parseQuantity(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := q.String(); got != tc.str {
			t.Errorf("%q: String() = %q, want %q", tc.in, got, tc.str)
		}
		if got := q.Value(); got != tc.value {
			t.Errorf("%q: Value() = %d, want %d", tc.in, got, tc.value)
		}
		if got := q.MilliValue(); got != tc.milli {
			t.Errorf("%q: MilliValue() = %d, want %d", tc.in, got, tc.milli)
		}
		// The canonical form reads back as the same quantity, and prints
		// the same (a binary quantity written in decimal reads as decimal).
		if back, err := parseQuantity(q.String()); err != nil || back.Cmp(q) != 0 || back.String() != q.String() {
			t.Errorf("%q: %q reads back as %s (%v)", tc.in, q.String(), back, err)
		}
	}
}

func TestParseQuantityErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", errQuantitySyntax},
		{"Mi", errQuantitySyntax},
		{"m", errQuantitySyntax},
		{"e3", errQuantitySyntax},
		{"-", errQuantitySyntax},
		{"+", errQuantitySyntax},
		{".", errQuantitySyntax},
		{".Mi", errQuantitySyntax},
		{"-Mi", errQuantitySyntax},
		{"1Xi", errQuantitySyntax},
		{"1K", errQuantitySyntax},
		{"1ki", errQuantitySyntax},
		{"1mi", errQuantitySyntax},
		{"1MiB", errQuantitySyntax},
		{"1.2.3", errQuantitySyntax},
		{"1..2", errQuantitySyntax},
		{"1e", errQuantitySyntax},
		{"1e-", errQuantitySyntax},
		{"1ee3", errQuantitySyntax},
		{"1EE", errQuantitySyntax},
		{"1e3.5", errQuantitySyntax},
		{"1e-3m", errQuantitySyntax},
		{"1Ki3", errQuantitySyntax},
		{"1e99999999999", errQuantitySyntax}, // the exponent is not an int32
		{"1 Mi", errQuantitySyntax},
		{" 1", errQuantitySyntax},
		{"1 ", errQuantitySyntax},
		{"--1", errQuantitySyntax},
		{"0x10", errQuantitySyntax},
		{"1_000", errQuantitySyntax},
		{"12 apples", errQuantitySyntax},
		{"9223372036854775.8071", errQuantityRange},
		{"9223372036854776", errQuantityRange},
		{"-9223372036854776", errQuantityRange},
		{"9223372036854775808m", errQuantityRange},
		{"8Ei", errQuantityRange},
		{"9Pi", errQuantityRange},
		{"1e16", errQuantityRange},
		{"9.3e15", errQuantityRange},
		{"1E", errQuantityRange},
		{"1e2147483647", errQuantityRange},
		{"100000000000000000000000000000000000000", errQuantityRange},
		{strings.Repeat("9", 100000), errQuantityRange},
	} {
		q, err := parseQuantity(tc.in)
		if !errors.Is(err, tc.want) {
			name := tc.in
			if len(name) > 40 {
				name = name[:40] + "..."
			}
			t.Errorf("%q: %v (%s), want %v", name, err, q, tc.want)
		}
	}
}

func TestParseQuantityMessages(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"lots", `--node-memory: "lots" is not a quantity (`},
		{"", `--node-memory: "" is not a quantity (`},
		{"8Ei", `--node-memory: "8Ei" is too large: quantities go up to 9223372036854775807m (about 8Pi)`},
		{"-1Mi", "--node-memory: -1Mi is negative"},
		{"-0.5", "--node-memory: -500m is negative"},
	} {
		_, err := ParseQuantity(tc.in, "--node-memory")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	q, err := ParseQuantity(" 64Mi\n", "--node-memory")
	if err != nil || q.Value() != 64<<20 {
		t.Errorf("surrounding space: %v, %v", q, err)
	}
}

func TestQuantityCmp(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1Gi", "1024Mi", 0},
		{"1", "1000m", 0},
		{"1e3", "1k", 0},
		{"0", "-0", 0},
		{"0", "0Mi", 0},
		{"500m", "600m", -1},
		{"1Gi", "1G", 1},
		{"1500u", "1001u", 1}, // the same milli value, not the same quantity
		{"1n", "0", 1},
		{"-1", "0", -1},
		{"-2", "-1", -1},
		{"-1n", "-2n", 1},
		{"-1Mi", "1n", -1},
	} {
		a, err1 := parseQuantity(tc.a)
		b, err2 := parseQuantity(tc.b)
		if err1 != nil || err2 != nil {
			t.Fatalf("%q, %q: %v, %v", tc.a, tc.b, err1, err2)
		}
		if got := a.Cmp(b); got != tc.want {
			t.Errorf("%s.Cmp(%s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := b.Cmp(a); got != -tc.want {
			t.Errorf("%s.Cmp(%s) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
	if q, _ := parseQuantity("0"); q.Cmp(Quantity{}) != 0 || q.Sign() != 0 || (Quantity{}).String() != "0" {
		t.Error("the zero Quantity is not 0")
	}
}

func TestCanonicalForms(t *testing.T) {
	for m, want := range map[int64]string{
		0: "0", 1: "1m", 250: "250m", 1000: "1", 2000: "2", 1500: "1500m", 1500000: "1500",
		4000000: "4k", -250: "-250m", math.MaxInt64: "9223372036854775807m",
	} {
		if got := milli(m); got != want {
			t.Errorf("milli(%d) = %q, want %q", m, got, want)
		}
	}
	for b, want := range map[int64]string{
		0: "0", 1: "1", 1000: "1k", 1023: "1023", 1024: "1Ki", 1536: "1536", 1000000: "1000000",
		134217728: "128Mi", 8 << 30: "8Gi", 1 << 62: "4Ei", 3 << 60: "3Ei", -1 << 20: "-1Mi",
		math.MaxInt64: "9223372036854775807",
	} {
		if got := bytesQ(b); got != want {
			t.Errorf("bytesQ(%d) = %q, want %q", b, got, want)
		}
	}
}

func TestQuantityJSON(t *testing.T) {
	var l ResourceList
	if err := json.Unmarshal([]byte(`{"cpu": 0.5, "memory": "1.5Gi", "example.com/gpu": null}`), &l); err != nil {
		t.Fatal(err)
	}
	if l["cpu"].MilliValue() != 500 || l["memory"].Value() != 1536<<20 {
		t.Errorf("decoded %v", l)
	}
	delete(l, "example.com/gpu")
	data, err := json.Marshal(l)
	if err != nil || string(data) != `{"cpu":"500m","memory":"1536Mi"}` {
		t.Errorf("encoded %s, %v", data, err)
	}
	for _, bad := range []string{`{"cpu": "lots"}`, `{"cpu": true}`, `{"cpu": "1e99"}`} {
		if err := json.Unmarshal([]byte(bad), &l); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}
