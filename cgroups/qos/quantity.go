package qos

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Quantity is a Kubernetes resource quantity: 250m, 0.5, 64Mi, 1e9.
//
// It is exact to a billionth (1n), the finest unit Kubernetes keeps; finer
// digits round up to it. Its size is bounded by what the kubelet does with
// it: the milli value (CPU is counted in millicores) must fit an int64, so
// a quantity is at most 9223372036854775807m, about 8Pi.
//
// The zero Quantity is 0.
type Quantity struct {
	// neg, milli and nano are sign and magnitude: milli/1e3 + nano/1e9,
	// with 0 <= nano < 1e6. Zero is never negative.
	neg    bool
	milli  uint64
	nano   uint32
	format quantityFormat
}

// quantityFormat is the notation a quantity was written in, which its
// canonical form (String) keeps, as Kubernetes does.
type quantityFormat uint8

const (
	decimalSI       quantityFormat = iota // 250m, 2, 1k, 128M
	binarySI                              // 64Mi, 1Gi
	decimalExponent                       // 1e9, 5e-3
)

var (
	errQuantitySyntax = errors.New("not a quantity")
	errQuantityRange  = errors.New("out of range")
)

// decimalSuffixes are the decimal SI suffixes by power of ten, from n
// (1e-9) to E (1e18).
var decimalSuffixes = []string{"n", "u", "m", "", "k", "M", "G", "T", "P", "E"}

// binarySuffixes are the binary SI suffixes by power of 1024.
var binarySuffixes = []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}

// parseQuantity reads sign, number and suffix:
//
//	[+-] (digits | digits. | .digits | digits.digits) [suffix]
//
// where the suffix is a decimal SI one (n u m k M G T P E, or none), a
// binary SI one (Ki Mi Gi Ti Pi Ei) or a decimal exponent (e3, E-3). The
// errors are errQuantitySyntax and errQuantityRange.
func parseQuantity(s string) (Quantity, error) {
	var q Quantity
	rest := s
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		q.neg = rest[0] == '-'
		rest = rest[1:]
	}
	whole, rest := leadingDigits(rest)
	var frac string
	if rest != "" && rest[0] == '.' {
		frac, rest = leadingDigits(rest[1:])
	}
	if whole == "" && frac == "" {
		return Quantity{}, errQuantitySyntax // also "", "Mi", "-", "."
	}
	exp10, pow1024, format, ok := quantitySuffix(rest)
	if !ok {
		return Quantity{}, errQuantitySyntax
	}
	q.format = format

	// The amount in billionths is digits × 1024^pow1024 × 10^exp.
	digits := strings.TrimLeft(whole+frac, "0")
	if digits == "" {
		return Quantity{format: format}, nil
	}
	exp := int64(exp10) - int64(len(frac)) + 9
	// At 10^25 billionths or more the milli value cannot fit, and these
	// bounds keep a long exponent from costing a long multiplication.
	if int64(len(digits))+exp > 25 {
		return Quantity{}, errQuantityRange
	}
	// A lower exponent leaves the amount under one billionth even after the
	// largest binary factor (2^60 < 10^19): it rounds up to 1n all the same.
	exp = max(exp, -int64(len(digits))-19)

	n, _ := new(big.Int).SetString(digits, 10)
	n.Lsh(n, 10*pow1024)
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(exp)), nil)
	if exp >= 0 {
		n.Mul(n, p)
	} else if _, r := n.QuoRem(n, p, new(big.Int)); r.Sign() != 0 {
		n.Add(n, big.NewInt(1)) // finer than 1n: the magnitude rounds up
	}
	m, r := n.QuoRem(n, big.NewInt(1e6), new(big.Int))
	if !m.IsUint64() || m.Uint64() > math.MaxInt64 || m.Uint64() == math.MaxInt64 && r.Sign() != 0 {
		return Quantity{}, errQuantityRange // MilliValue would not fit
	}
	q.milli, q.nano = m.Uint64(), uint32(r.Uint64())
	return q, nil
}

func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return s[:i], s[i:]
}

// quantitySuffix is the power of ten or of 1024 a suffix stands for. A
// lone E is exa; E followed by an integer is an exponent.
func quantitySuffix(s string) (exp10 int32, pow1024 uint, format quantityFormat, ok bool) {
	for i, suf := range decimalSuffixes {
		if s == suf {
			return int32(3*i - 9), 0, decimalSI, true
		}
	}
	for i, suf := range binarySuffixes[1:] {
		if s == suf {
			return 0, uint(i + 1), binarySI, true
		}
	}
	if len(s) > 1 && (s[0] == 'e' || s[0] == 'E') {
		e := s[1:]
		if e[0] == '+' || e[0] == '-' {
			e = e[1:]
		}
		if d, rest := leadingDigits(e); d == "" || rest != "" {
			return 0, 0, 0, false
		}
		n, err := strconv.ParseInt(s[1:], 10, 32)
		if err != nil {
			return 0, 0, 0, false
		}
		return int32(n), 0, decimalExponent, true
	}
	return 0, 0, 0, false
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// Sign is -1, 0 or 1.
func (q Quantity) Sign() int {
	switch {
	case q.neg:
		return -1
	case q.milli == 0 && q.nano == 0:
		return 0
	}
	return 1
}

// Cmp is -1, 0 or 1 as q is less than, equal to or greater than r.
func (q Quantity) Cmp(r Quantity) int {
	if q.neg != r.neg {
		if q.neg {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case q.milli != r.milli:
		c = cmpUint(q.milli, r.milli)
	case q.nano != r.nano:
		c = cmpUint(uint64(q.nano), uint64(r.nano))
	}
	if q.neg {
		return -c
	}
	return c
}

func cmpUint(a, b uint64) int {
	if a < b {
		return -1
	}
	return 1
}

// Value is the quantity in whole units, its magnitude rounded up as
// Kubernetes rounds it: 1.5 is 2, 100m is 1.
func (q Quantity) Value() int64 {
	v := int64(q.milli / 1000)
	if q.milli%1000 != 0 || q.nano != 0 {
		v++
	}
	if q.neg {
		return -v
	}
	return v
}

// MilliValue is the quantity in thousandths, its magnitude rounded up: 0.1
// is 100, 1u is 1.
func (q Quantity) MilliValue() int64 {
	v := int64(q.milli)
	if q.nano != 0 {
		v++
	}
	if q.neg {
		return -v
	}
	return v
}

// String is the canonical form Kubernetes prints: the notation the
// quantity was written in, with the largest suffix that keeps the number
// whole (1.5Gi is 1536Mi, 0.5 is 500m, 2000m is 2). A binary quantity that
// is not a whole number of at least 1024 is written decimal (0.5Ki is 512).
func (q Quantity) String() string {
	if q.format == binarySI && q.nano == 0 && q.milli%1000 == 0 && q.milli >= 1024*1000 {
		return binaryString(q.neg, q.milli/1000)
	}
	digits := strconv.FormatUint(uint64(q.nano), 10)
	if q.milli != 0 {
		digits = strconv.FormatUint(q.milli, 10) + strings.Repeat("0", 6-len(digits)) + digits
	}
	return decimalString(q.neg, digits, -9, q.format == decimalExponent)
}

// MarshalJSON writes the canonical form as a JSON string.
func (q Quantity) MarshalJSON() ([]byte, error) {
	return json.Marshal(q.String())
}

// UnmarshalJSON reads a quantity written as a JSON string or number; null
// leaves it as it is.
func (q *Quantity) UnmarshalJSON(data []byte) error {
	s := string(data)
	switch {
	case s == "null":
		return nil
	case strings.HasPrefix(s, `"`):
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
	}
	p, err := parseQuantity(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("quantity %q: %w", s, err)
	}
	*q = p
	return nil
}

// decimalString writes ±digits×10^exp (exp a multiple of 3 from -9, digits
// without leading zeros) moving trailing groups of three zeros into the
// suffix or exponent, up to E (10^18).
func decimalString(neg bool, digits string, exp int, exponent bool) string {
	if digits == "0" {
		return "0"
	}
	for exp < 18 && len(digits) > 3 && strings.HasSuffix(digits, "000") {
		digits, exp = digits[:len(digits)-3], exp+3
	}
	var suffix string
	switch {
	case !exponent:
		suffix = decimalSuffixes[(exp+9)/3]
	case exp != 0:
		suffix = "e" + strconv.Itoa(exp)
	}
	if neg {
		return "-" + digits + suffix
	}
	return digits + suffix
}

// binaryString writes a whole number with the largest binary suffix that
// keeps it whole (134217728 is 128Mi, 1536 stays 1536).
func binaryString(neg bool, n uint64) string {
	i := 0
	for i < len(binarySuffixes)-1 && n%1024 == 0 {
		n, i = n/1024, i+1
	}
	s := strconv.FormatUint(n, 10) + binarySuffixes[i]
	if neg {
		return "-" + s
	}
	return s
}

// milli is the canonical decimal form of m thousandths: 250m, 2.
func milli(m int64) string {
	mag := uint64(m)
	if m < 0 {
		mag = -mag
	}
	return decimalString(m < 0, strconv.FormatUint(mag, 10), -3, false)
}

// bytesQ is the canonical binary form of n bytes: 128Mi, 1536; below 1024
// the decimal one (1000 is 1k).
func bytesQ(n int64) string {
	mag := uint64(n)
	if n < 0 {
		mag = -mag
	}
	if mag < 1024 {
		return decimalString(n < 0, strconv.FormatUint(mag, 10), 0, false)
	}
	return binaryString(n < 0, mag)
}
