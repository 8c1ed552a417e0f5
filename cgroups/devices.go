package cgroups

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const fDevices = "linux.resources.devices"

// Access bits, as the kernel's eBPF device context encodes them.
const (
	accMknod = unix.BPF_DEVCG_ACC_MKNOD
	accRead  = unix.BPF_DEVCG_ACC_READ
	accWrite = unix.BPF_DEVCG_ACC_WRITE
	accAll   = accMknod | accRead | accWrite
)

// DeviceRule is one device cgroup rule in the kernel's terms: what a line in
// v1's devices.allow or devices.deny says.
type DeviceRule struct {
	Allow bool
	Type  byte  // 'a' (all), 'b' (block) or 'c' (char)
	Major int64 // -1 for any
	Minor int64 // -1 for any
	// Access is a subset of "rwm": read, write, mknod.
	Access string
	// Field says where the rule came from, for errors.
	Field string
}

// String renders the rule as v1 writes it: "c 1:3 rwm", "a *:* rwm".
func (r DeviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return strconv.FormatInt(n, 10)
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

func (r DeviceRule) access() uint32 {
	var a uint32
	for _, c := range r.Access {
		switch c {
		case 'r':
			a |= accRead
		case 'w':
			a |= accWrite
		case 'm':
			a |= accMknod
		}
	}
	return a
}

func accessString(a uint32) string {
	var b strings.Builder
	if a&accRead != 0 {
		b.WriteByte('r')
	}
	if a&accWrite != 0 {
		b.WriteByte('w')
	}
	if a&accMknod != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// DefaultDeviceRules are the rules runc appends after the config's own, so
// that every container can use the basic character devices and mknod. runc
// appends them always, not only when linux.resources.devices is empty:
// configs usually start with a deny-all rule, and without these the
// container could not open /dev/null. Its own comment calls the list
// "questionable"; it is kept for compatibility.
var DefaultDeviceRules = []DeviceRule{
	{Allow: true, Type: 'c', Major: -1, Minor: -1, Access: "m"},    // mknod any char device
	{Allow: true, Type: 'b', Major: -1, Minor: -1, Access: "m"},    // mknod any block device
	{Allow: true, Type: 'c', Major: 1, Minor: 3, Access: "rwm"},    // /dev/null
	{Allow: true, Type: 'c', Major: 1, Minor: 8, Access: "rwm"},    // /dev/random
	{Allow: true, Type: 'c', Major: 1, Minor: 7, Access: "rwm"},    // /dev/full
	{Allow: true, Type: 'c', Major: 5, Minor: 0, Access: "rwm"},    // /dev/tty
	{Allow: true, Type: 'c', Major: 1, Minor: 5, Access: "rwm"},    // /dev/zero
	{Allow: true, Type: 'c', Major: 1, Minor: 9, Access: "rwm"},    // /dev/urandom
	{Allow: true, Type: 'c', Major: 136, Minor: -1, Access: "rwm"}, // /dev/pts/*
	{Allow: true, Type: 'c', Major: 5, Minor: 2, Access: "rwm"},    // /dev/ptmx
	{Allow: true, Type: 'c', Major: 10, Minor: 200, Access: "rwm"}, // /dev/net/tun
}

// denyAll is where runc starts: a fresh cgroup allows everything, and runc
// first switches it to an allow-list.
var denyAll = DeviceRule{Allow: false, Type: 'a', Major: -1, Minor: -1, Access: "rwm", Field: fDevices + " (start from deny-all, as runc does)"}

// DeviceRules returns the rules the container gets, in order: deny-all
// (unless the config starts with its own "a" rule), the config's rules, then
// DefaultDeviceRules. It validates each config rule
// and refuses rule lists with a rule that cannot take effect (see
// deviceState.apply).
func DeviceRules(devs []specs.LinuxDeviceCgroup) ([]DeviceRule, error) {
	var rules []DeviceRule
	if len(devs) == 0 || devs[0].Type != "" && devs[0].Type != "a" {
		rules = append(rules, denyAll) // a leading "a" rule resets anyway
	}
	for i, d := range devs {
		r, err := convertDeviceRule(fmt.Sprintf("%s[%d]", fDevices, i), d)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	for _, r := range DefaultDeviceRules {
		r.Field = fmt.Sprintf("%s (runc default %s)", fDevices, r)
		rules = append(rules, r)
	}
	if _, err := emulate(rules); err != nil {
		return nil, err
	}
	return rules, nil
}

func convertDeviceRule(field string, d specs.LinuxDeviceCgroup) (DeviceRule, error) {
	r := DeviceRule{Allow: d.Allow, Major: -1, Minor: -1, Field: field}
	switch d.Type {
	case "", "a":
		r.Type = 'a'
	case "b", "c":
		r.Type = d.Type[0]
	default:
		return r, invalidf(field+".type", "%q is not a, b or c", d.Type)
	}
	if d.Access == "" {
		return r, invalidf(field+".access", "is empty (use a subset of rwm)")
	}
	var a uint32
	for _, c := range d.Access {
		if !strings.ContainsRune("rwm", c) {
			return r, invalidf(field+".access", "%q: %q is not one of r, w, m", d.Access, c)
		}
		a |= DeviceRule{Access: string(c)}.access()
	}
	r.Access = accessString(a)
	for _, n := range []struct {
		name string
		v    *int64
		dst  *int64
	}{{"major", d.Major, &r.Major}, {"minor", d.Minor, &r.Minor}} {
		if n.v == nil {
			continue
		}
		if *n.v < -1 || *n.v > 1<<32-1 {
			return r, invalidf(field+"."+n.name, "%d is not a device number (-1 means any)", *n.v)
		}
		*n.dst = *n.v
	}
	if r.Type == 'a' {
		if r.Major != -1 || r.Minor != -1 {
			return r, invalidf(field, "type a matches every device; major and minor must be omitted")
		}
		if a != accAll {
			return r, invalidf(field+".access", "%q: a type-a rule resets the whole list and the kernel ignores its access; use rwm", d.Access)
		}
	}
	return r, nil
}

// devKey identifies an exception the way the kernel's list does: exact
// type, major and minor, with -1 as a wildcard that is a key of its own.
type devKey struct {
	typ          byte
	major, minor int64
}

// overlaps reports whether some device matches both keys.
func (k devKey) overlaps(o devKey) bool {
	return k.typ == o.typ &&
		(k.major == -1 || o.major == -1 || k.major == o.major) &&
		(k.minor == -1 || o.minor == -1 || k.minor == o.minor)
}

// deviceState is a model of a v1 device cgroup, the same model as runc's
// devices emulator and the kernel's security/device_cgroup.c: a default
// (allow or deny everything) and a list of exceptions with access bits.
type deviceState struct {
	defaultAllow bool
	ex           map[devKey]uint32
	origin       map[devKey]string // rule that last added to an exception
}

// emulate applies rules to a fresh cgroup (which allows everything).
func emulate(rules []DeviceRule) (*deviceState, error) {
	st := &deviceState{defaultAllow: true, ex: map[devKey]uint32{}, origin: map[devKey]string{}}
	for _, r := range rules {
		if err := st.apply(r); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// apply does what the kernel does with one write. An "a" rule resets the
// default and clears the list. A rule in the default's direction (deny on a
// deny-by-default cgroup) removes access from the exception with exactly the
// same key; the kernel does no wildcard matching there, so such a rule has
// no effect on a device that a different, overlapping exception covers. That
// case is refused rather than silently ignored.
func (st *deviceState) apply(r DeviceRule) error {
	if r.Type == 'a' {
		st.defaultAllow = r.Allow
		clear(st.ex)
		clear(st.origin)
		return nil
	}
	k, a := devKey{r.Type, r.Major, r.Minor}, r.access()
	if r.Allow != st.defaultAllow {
		st.ex[k] |= a
		st.origin[k] = r.Field
		return nil
	}
	for o, oa := range st.ex {
		if o != k && o.overlaps(k) && oa&a != 0 {
			verb := "allows"
			if st.defaultAllow {
				verb = "denies"
			}
			other := DeviceRule{Type: o.typ, Major: o.major, Minor: o.minor, Access: accessString(oa)}
			return invalidf(r.Field, "%q cannot take effect: the kernel only removes an exception with exactly the same type, major and minor, and %q from %s still %s it",
				r.String(), other.String(), st.origin[o], verb)
		}
	}
	if st.ex[k] &^= a; st.ex[k] == 0 {
		delete(st.ex, k)
		delete(st.origin, k)
	}
	return nil
}

// exceptions lists the state's exceptions in a stable order.
func (st *deviceState) exceptions() []DeviceRule {
	var out []DeviceRule
	for k, a := range st.ex {
		out = append(out, DeviceRule{Allow: !st.defaultAllow, Type: k.typ, Major: k.major, Minor: k.minor, Access: accessString(a)})
	}
	slices.SortFunc(out, func(x, y DeviceRule) int {
		if x.Type != y.Type {
			return int(x.Type) - int(y.Type)
		}
		if x.Major != y.Major {
			return compareInt(x.Major, y.Major)
		}
		return compareInt(x.Minor, y.Minor)
	})
	return out
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (st *deviceState) equal(o *deviceState) bool {
	if st.defaultAllow != o.defaultAllow || len(st.ex) != len(o.ex) {
		return false
	}
	for k, a := range st.ex {
		if o.ex[k] != a {
			return false
		}
	}
	return true
}

// parseDevicesList reads v1's devices.list. An allow-by-default cgroup
// shows "a *:* rwm" and hides its deny exceptions, so only its mode is
// known; an allow-list shows every exception.
func parseDevicesList(data string) (*deviceState, error) {
	st := &deviceState{ex: map[devKey]uint32{}, origin: map[devKey]string{}}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var typ, nums, acc string
		if n, _ := fmt.Sscan(line, &typ, &nums, &acc); n != 3 || len(typ) != 1 {
			return nil, fmt.Errorf("devices.list: bad line %q", line)
		}
		if typ == "a" {
			st.defaultAllow = true
			continue
		}
		maj, min, _ := strings.Cut(nums, ":")
		k := devKey{typ: typ[0], major: -1, minor: -1}
		var err error
		if maj != "*" {
			if k.major, err = strconv.ParseInt(maj, 10, 64); err != nil {
				return nil, fmt.Errorf("devices.list: bad line %q", line)
			}
		}
		if min != "*" {
			if k.minor, err = strconv.ParseInt(min, 10, 64); err != nil {
				return nil, fmt.Errorf("devices.list: bad line %q", line)
			}
		}
		st.ex[k] |= DeviceRule{Access: acc}.access()
	}
	return st, sc.Err()
}

// devicesV1 renders rules as v1 writes, in the configured order.
func devicesV1(rules []DeviceRule) []Setting {
	out := make([]Setting, 0, len(rules))
	for _, r := range rules {
		file := "devices.deny"
		if r.Allow {
			file = "devices.allow"
		}
		out = append(out, Setting{Field: r.Field, Controller: "devices", File: file, Value: r.String()})
	}
	return out
}

// devicesTransition is what Update writes to move a running container's v1
// device cgroup from cur to target without a moment of deny-all: when both
// are allow-lists, only the differences; otherwise (an allow-all cgroup
// hides its exceptions) a reset followed by the target's exceptions.
func devicesTransition(cur, target *deviceState) []Setting {
	field := fDevices + " (update)"
	var rules []DeviceRule
	if cur.defaultAllow || target.defaultAllow {
		rules = append(rules, DeviceRule{Allow: target.defaultAllow, Type: 'a', Major: -1, Minor: -1, Access: "rwm"})
		rules = append(rules, target.exceptions()...)
	} else {
		for _, r := range target.exceptions() {
			k := devKey{r.Type, r.Major, r.Minor}
			if add := r.access() &^ cur.ex[k]; add != 0 {
				r.Access = accessString(add)
				rules = append(rules, r)
			}
		}
		for _, r := range cur.exceptions() {
			k := devKey{r.Type, r.Major, r.Minor}
			if drop := r.access() &^ target.ex[k]; drop != 0 {
				r.Allow, r.Access = false, accessString(drop)
				rules = append(rules, r)
			}
		}
	}
	for i := range rules {
		rules[i].Field = field
	}
	return devicesV1(rules)
}
