package cgroups

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func rule(s string) DeviceRule {
	// "+c 1:3 rwm" allows, "-c 1:3 rwm" denies.
	var r DeviceRule
	r.Allow = s[0] == '+'
	var maj, min string
	fmt.Sscanf(s[1:], "%c %s %s", &r.Type, &maj, &r.Access)
	a, b, _ := strings.Cut(maj, ":")
	min = b
	r.Major, r.Minor = -1, -1
	if a != "*" {
		fmt.Sscan(a, &r.Major)
	}
	if min != "*" {
		fmt.Sscan(min, &r.Minor)
	}
	return r
}

func rules(ss ...string) []DeviceRule {
	var out []DeviceRule
	for _, s := range ss {
		out = append(out, rule(s))
	}
	return out
}

func stateString(st *deviceState) string {
	var b strings.Builder
	if st.defaultAllow {
		b.WriteString("allow-all")
	} else {
		b.WriteString("deny-all")
	}
	for _, r := range st.exceptions() {
		b.WriteString(", " + r.String())
	}
	return b.String()
}

func TestEmulate(t *testing.T) {
	for _, c := range []struct {
		rules []string
		want  string
		err   string
	}{
		{nil, "allow-all", ""},
		{[]string{"-a *:* rwm"}, "deny-all", ""},
		{[]string{"-a *:* rwm", "+c 1:3 r", "+c 1:3 w"}, "deny-all, c 1:3 rw", ""},
		{[]string{"-a *:* rwm", "+c 1:3 rwm", "-c 1:3 w"}, "deny-all, c 1:3 rm", ""},
		{[]string{"-a *:* rwm", "+c 1:3 rwm", "-c 1:3 rwm"}, "deny-all", ""},
		{[]string{"-a *:* rwm", "+c 1:3 rwm", "+a *:* rwm"}, "allow-all", ""},
		{[]string{"+a *:* rwm", "-b 8:* w"}, "allow-all, b 8:* w", ""},
		{[]string{"+a *:* rwm", "-b 8:* w", "+b 8:* w"}, "allow-all", ""},
		{[]string{"-a *:* rwm", "-c 1:3 rwm"}, "deny-all", ""}, // removing nothing is fine
		{[]string{"-a *:* rwm", "+c *:* rwm", "-c 1:9 w"}, "", `"c 1:9 w" cannot take effect`},
		{[]string{"-a *:* rwm", "+c 1:9 rw", "-c *:* w"}, "", `"c *:* w" cannot take effect`},
		{[]string{"-a *:* rwm", "+c *:* m", "-c 1:9 r"}, "deny-all, c *:* m", ""}, // no overlap in access
		{[]string{"+a *:* rwm", "-c 1:* rwm", "+c 1:3 r"}, "", `"c 1:3 r" cannot take effect`},
	} {
		t.Run(strings.Join(c.rules, " "), func(t *testing.T) {
			st, err := emulate(rules(c.rules...))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := stateString(st); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestDeviceRulesDefaults(t *testing.T) {
	got, err := DeviceRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].String() != "a *:* rwm" || got[0].Allow || len(got) != 1+len(DefaultDeviceRules) {
		t.Fatalf("DeviceRules(nil) = %v", got)
	}
	// A config that starts with its own "a" rule does not get a second one.
	got, _ = DeviceRules([]specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}})
	if len(got) != 1+len(DefaultDeviceRules) || !got[0].Allow || got[0].Field != "linux.resources.devices[0]" {
		t.Fatalf("DeviceRules(allow all) = %v", got)
	}
}

func TestParseDevicesList(t *testing.T) {
	st, err := parseDevicesList("c 1:3 rwm\nc *:* m\nb 8:0 r\nc 136:* rwm\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := stateString(st); got != "deny-all, b 8:0 r, c *:* m, c 1:3 rwm, c 136:* rwm" {
		t.Errorf("got %s", got)
	}
	st, _ = parseDevicesList("a *:* rwm\n")
	if !st.defaultAllow {
		t.Error("a *:* rwm should read as allow-all")
	}
}

func TestDevicesTransition(t *testing.T) {
	cur, _ := emulate(rules("-a *:* rwm", "+c 1:3 rwm", "+c 1:5 r"))
	target, _ := emulate(rules("-a *:* rwm", "+c 1:3 rwm", "+c 1:5 rw", "+b 8:0 r"))
	got := show(devicesTransition(cur, target), true)
	want := []string{"devices:devices.allow=b 8:0 r", "devices:devices.allow=c 1:5 w"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("grow: got %v, want %v", got, want)
	}
	got = show(devicesTransition(target, cur), true)
	want = []string{"devices:devices.deny=b 8:0 r", "devices:devices.deny=c 1:5 w"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("shrink: got %v, want %v", got, want)
	}
	allowAll, _ := emulate(rules("+a *:* rwm"))
	got = show(devicesTransition(allowAll, cur), true)
	want = []string{"devices:devices.deny=a *:* rwm", "devices:devices.allow=c 1:3 rwm", "devices:devices.allow=c 1:5 r"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("from allow-all: got %v, want %v", got, want)
	}
	if got := devicesTransition(cur, cur); len(got) != 0 {
		t.Errorf("no change: got %v", show(got, true))
	}
}

// run interprets the instruction subset the assembler emits, with the
// kernel's semantics, on one device access.
func run(t *testing.T, p *DeviceProgram, typ, major, minor, access uint32) bool {
	t.Helper()
	var ctx [3]uint32
	ctx[0] = typ | access<<16
	ctx[1], ctx[2] = major, minor
	var reg [11]uint64
	const ctxPtr = 1 << 40
	reg[1] = ctxPtr
	code := p.Bytes()
	for pc, steps := 0, 0; steps < 10000; steps++ {
		in := code[pc*8 : pc*8+8]
		op, dst, src := in[0], in[1]&0xf, in[1]>>4
		off := int16(binary.NativeEndian.Uint16(in[2:]))
		imm := int32(binary.NativeEndian.Uint32(in[4:]))
		pc++
		switch op {
		case opLdxMemW:
			idx := (reg[src] - ctxPtr + uint64(off)) / 4
			reg[dst] = uint64(ctx[idx])
		case opAnd32K:
			reg[dst] = uint64(uint32(reg[dst]) & uint32(imm))
		case opRsh32K:
			reg[dst] = uint64(uint32(reg[dst]) >> uint32(imm))
		case opMov32X:
			reg[dst] = uint64(uint32(reg[src]))
		case opMov32K:
			reg[dst] = uint64(uint32(imm))
		case opJneK:
			if reg[dst] != uint64(int64(imm)) {
				pc += int(off)
			}
		case opJneX:
			if reg[dst] != reg[src] {
				pc += int(off)
			}
		case opJeqK:
			if reg[dst] == uint64(int64(imm)) {
				pc += int(off)
			}
		case opExit:
			return reg[0] == 1
		default:
			t.Fatalf("unknown opcode %#x at %d", op, pc-1)
		}
	}
	t.Fatal("program did not exit")
	return false
}

// kernelV1Allows is security/device_cgroup.c's verdict for a v1 cgroup in
// state st: an allow-list needs one exception covering every requested
// access; a deny-list refuses if any exception shares any requested access.
func kernelV1Allows(st *deviceState, typ byte, major, minor int64, acc uint32) bool {
	for k, a := range st.ex {
		if k.typ != typ || (k.major != -1 && k.major != major) || (k.minor != -1 && k.minor != minor) {
			continue
		}
		if st.defaultAllow && a&acc != 0 {
			return false
		}
		if !st.defaultAllow && acc&^a == 0 {
			return true
		}
	}
	return st.defaultAllow
}

// The eBPF program must decide every access the way a v1 cgroup with the
// same rules would.
func TestDeviceFilterMatchesV1(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sets := [][]DeviceRule{
		append(rules("-a *:* rwm"), DefaultDeviceRules...),
		rules("+a *:* rwm"),
		rules("+a *:* rwm", "-c 1:3 w", "-b *:* m"),
		rules("-a *:* rwm", "+c 1:* r", "+c *:5 w", "+b 8:0 rwm"),
	}
	perms := []string{"r", "w", "m", "rw", "rm", "wm", "rwm"}
	for range 200 {
		var rs []DeviceRule
		if rng.IntN(2) == 0 {
			rs = append(rs, rule("+a *:* rwm"))
		} else {
			rs = append(rs, rule("-a *:* rwm"))
		}
		for range rng.IntN(6) {
			r := DeviceRule{Allow: rng.IntN(2) == 0, Type: "bc"[rng.IntN(2)], Major: int64(rng.IntN(3)) - 1, Minor: int64(rng.IntN(3)) - 1, Access: perms[rng.IntN(len(perms))]}
			rs = append(rs, r)
		}
		if _, err := emulate(rs); err == nil {
			sets = append(sets, rs)
		}
	}
	checked := 0
	for _, rs := range sets {
		st, err := emulate(rs)
		if err != nil {
			t.Fatal(err)
		}
		p := assemble(st)
		for _, typ := range []byte{'b', 'c'} {
			bt := uint32(unix.BPF_DEVCG_DEV_CHAR)
			if typ == 'b' {
				bt = unix.BPF_DEVCG_DEV_BLOCK
			}
			for major := int64(0); major < 3; major++ {
				for minor := int64(0); minor < 10; minor++ {
					for acc := uint32(1); acc <= accAll; acc++ {
						want := kernelV1Allows(st, typ, major, minor, acc)
						if got := run(t, p, bt, uint32(major), uint32(minor), acc); got != want {
							t.Fatalf("rules %v: %c %d:%d %s: program says %v, v1 says %v\n%s", rs, typ, major, minor, accessString(acc), got, want, p)
						}
						checked++
					}
				}
			}
		}
	}
	t.Logf("%d rule sets, %d accesses checked", len(sets), checked)
}

func TestDeviceFilterEncoding(t *testing.T) {
	st, _ := emulate(rules("-a *:* rwm", "+c 1:3 rw"))
	p := assemble(st)
	b := p.Bytes()
	// r2 = *(u32 *)(r1 + 0): code 0x61, dst 2, src 1
	if got := fmt.Sprintf("% x", b[:8]); got != "61 12 00 00 00 00 00 00" {
		t.Errorf("first instruction = %s", got)
	}
	// last: exit
	if got := fmt.Sprintf("% x", b[len(b)-8:]); got != "95 00 00 00 00 00 00 00" {
		t.Errorf("last instruction = %s", got)
	}
	text := p.String()
	for _, want := range []string{"block0:", "if r4 != 1 goto block1", "block1 (default): w0 = 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("program text lacks %q:\n%s", want, text)
		}
	}
}
