package inspect

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

func TestDecodeCaps(t *testing.T) {
	for _, c := range []struct {
		hex  string
		want []string
	}{
		{"0000000000000000", []string{}},
		{"0000000020000420", []string{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"}},
		{"0000000000000021", []string{"CAP_CHOWN", "CAP_KILL"}},
		{"000001ffffffffff", capNames},
		{"0000020000000001", []string{"CAP_CHOWN", "CAP_41"}},
	} {
		if got := DecodeCaps(c.hex); !slices.Equal(got, c.want) {
			t.Errorf("DecodeCaps(%s) = %v, want %v", c.hex, got, c.want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	status := "Name:\tsleep\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t101\t100\t100\nGroups:\t27 100 \n" +
		"CapInh:\t0000000000000020\nCapPrm:\t0000000000000021\nCapEff:\t0000000000000001\nCapBnd:\t0000000000000021\nCapAmb:\t0000000000000000\n" +
		"NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\n"
	var p Process
	parseStatus(status, &p)
	if p.User.UID != 1000 || p.User.EGID != 101 || !slices.Equal(p.User.Groups, []int{27, 100}) || !p.NoNewPrivs ||
		p.Seccomp != (Seccomp{Mode: "filter", Filters: 3}) || p.State != "S (sleeping)" {
		t.Errorf("%+v", p)
	}
	if got := p.Capabilities["permitted"].Names; !slices.Equal(got, []string{"CAP_CHOWN", "CAP_KILL"}) {
		t.Errorf("permitted %v", got)
	}
	if got := p.Capabilities["ambient"]; got.Mask != "0000000000000000" || len(got.Names) != 0 {
		t.Errorf("ambient %+v", got)
	}
}

func TestParseLimits(t *testing.T) {
	limits := `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            256                  512                  files     
Max nice priority         0                    0                    
`
	got := parseLimits(limits)
	want := []Rlimit{{"Max cpu time", "unlimited", "unlimited", "seconds"}, {"Max open files", "256", "512", "files"}, {"Max nice priority", "0", "0", ""}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v", got)
	}
}

func TestParseTimeOffsets(t *testing.T) {
	o := parseTimeOffsets("monotonic  86400 0\nboottime   -5 7")
	if o.MonotonicSecs != 86400 || o.BoottimeSecs != -5 || o.BoottimeNanos != 7 {
		t.Errorf("%+v", o)
	}
}

func TestMountsMaskedAndReadOnly(t *testing.T) {
	mi := `500 400 0:50 / / ro,relatime - ext4 /dev/vda rw
501 500 0:51 / /proc rw,nosuid - proc proc rw
502 501 0:52 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw
503 501 0:53 / /proc/acpi ro,relatime - tmpfs tmpfs ro
504 501 0:51 /sys /proc/sys ro,relatime - proc proc rw
505 500 0:54 / /with\040space rw - tmpfs tmpfs rw
506 501 0:55 / /proc/scsi rw - tmpfs tmpfs rw`
	ms := parseMountinfo(mi)
	if len(ms) != 7 || !ms[0].ReadOnly || ms[5].Target != "/with space" || ms[2].Root != "/null" {
		t.Fatalf("%+v", ms)
	}
	for path, ok := range map[string]bool{"/proc/kcore": true, "/proc/acpi": true, "/proc/asound": false, "/proc/scsi": false} {
		if got := maskedState(ms, path, "mi"); got.OK != ok {
			t.Errorf("masked %s: %+v", path, got)
		}
	}
	if got := readonlyState(ms, "/proc/sys", "mi"); !got.OK {
		t.Errorf("read-only /proc/sys: %+v", got)
	}
	if got := readonlyState(ms, "/proc", "mi"); got.OK {
		t.Errorf("read-only /proc: %+v", got)
	}
}

func TestParseReading(t *testing.T) {
	for _, c := range []struct {
		raw       string
		u         unit
		value     uint64
		unlimited bool
	}{
		{"max", limit, 0, true},
		{"67108864", limit, 67108864, false},
		{"9223372036854771712", v1Bytes, 0, true},
		{"50331648", v1Bytes, 50331648, false},
		{"-1", v1Quota, 0, true},
		{"20000", v1Quota, 20000, false},
		{"0-1", list, 0, false},
	} {
		r := parseReading(c.raw, "f", c.u)
		if r.Value != c.value || r.Unlimited != c.unlimited || r.Raw != c.raw {
			t.Errorf("%q: %+v", c.raw, r)
		}
	}
}

func TestClassOfPath(t *testing.T) {
	for p, want := range map[string]string{
		"/kubepods/burstable/pod1234/abc":                               "Burstable",
		"/kubepods/besteffort/pod1234/abc":                              "BestEffort",
		"/kubepods/pod1234/abc":                                         "Guaranteed",
		"kubepods-burstable-pod12.slice:cri-containerd:abc":             "Burstable",
		"kubepods-pod12.slice:cri-containerd:abc":                       "Guaranteed",
		"/system.slice/kubepods-besteffort.slice/kubepods-besteffort-p": "BestEffort",
		"/miniruntime-web":                                              "",
		"/test/kubepods/burstable/podx/c":                               "Burstable",
	} {
		if got := string(classOfPath(p)); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
}

// The rules netns builds, read back as nft(8) prints them.
func TestRenderRule(t *testing.T) {
	ifname := func(s string) []byte { b := make([]byte, 16); copy(b, s); return b }
	ip := func(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
	for _, c := range []struct {
		exprs []expr.Any
		want  string
	}{
		{[]expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(8080)},
			&expr.Counter{Packets: 3, Bytes: 180},
			&expr.Immediate{Register: 1, Data: ip("10.88.0.2")},
			&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(80)},
			&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
		}, "tcp dport 8080 counter packets 3 bytes 180 dnat to 10.88.0.2:80"},
		{[]expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binary.BigEndian.AppendUint32(nil, 0xffffff00), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip("10.88.0.0")},
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname("mr0")},
			&expr.Masq{},
		}, `ip saddr 10.88.0.0/24 oifname != "mr0" masquerade`},
		{[]expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATUS},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(1 << 5), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
			&expr.Verdict{Kind: expr.VerdictAccept},
		}, "ct status dnat accept"},
		{[]expr.Any{
			&expr.Fib{Register: 1, FlagDADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: "ports"},
		}, "fib daddr type local jump ports"},
		{[]expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Lookup{SourceRegister: 1, SetName: "bridges"},
			&expr.Counter{},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}, "iifname @bridges counter packets 0 bytes 0 drop"},
	} {
		if got := renderRule(c.exprs); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
}

func TestRateSortAndTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a0 := Usage{ID: "a", At: t0, CPUNanos: 1e9, Periods: 10, Throttled: 1}
	a1 := Usage{ID: "a", Status: "running", At: t0.Add(2 * time.Second), CPUNanos: 2e9, Periods: 30, Throttled: 11, MemCurrent: 16 << 20, MemLimit: 64 << 20, Pids: 2, PidsMax: 10}
	r := Rate(a0, a1)
	if r.CPUPercent != 50 || r.ThrottledPercent != 50 || r.MemFraction() != 0.25 {
		t.Errorf("%+v", r)
	}
	if first := Rate(Usage{}, a1); first.CPUPercent != -1 {
		t.Errorf("first sample: %+v", first)
	}
	b := Row{Usage: Usage{ID: "b", Status: "running", MemCurrent: 32 << 20}, CPUPercent: 10}
	rows := []Row{b, r}
	SortRows(rows, "cpu", false)
	if rows[0].ID != "a" {
		t.Errorf("by cpu: %v", rows)
	}
	SortRows(rows, "memory", false)
	if rows[0].ID != "b" {
		t.Errorf("by memory: %v", rows)
	}
	SortRows(rows, "id", true)
	if rows[0].ID != "b" {
		t.Errorf("by id reversed: %v", rows)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rows); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "16Mi / 64Mi") || !strings.Contains(out, "[#####...............]") || !strings.Contains(out, "2 / 10") || !strings.Contains(out, "no limit") {
		t.Errorf("table:\n%s", out)
	}
	if Bar(-1, 4) != "    " || Bar(1.5, 4) != "####" {
		t.Errorf("bars %q %q", Bar(-1, 4), Bar(1.5, 4))
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 512: "512B", 1536: "1.5Ki", 64 << 20: "64Mi", 3 << 30: "3Gi"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestCtrTagMatchesNetns(t *testing.T) {
	if got := ctrTag("default", "web"); got != "ctr default/web" {
		t.Errorf("%s", got)
	}
	long := strings.Repeat("x", 120)
	if got := ctrTag("n", long); !strings.HasPrefix(got, "ctr n/sha256:") || len(got) > 128 {
		t.Errorf("%s", got)
	}
}
