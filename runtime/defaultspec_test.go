package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/miniruntime/miniruntime/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestDefaultSpecValidates(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	raw, err := json.Marshal(DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseBundle(dir, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(b); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultSpecShape(t *testing.T) {
	s := DefaultSpec()
	if s.Version != specs.Version || s.Hostname != "runc" || s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("version %q hostname %q root %+v", s.Version, s.Hostname, s.Root)
	}
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	if want := []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"}; !slices.Equal(dests, want) {
		t.Errorf("mounts %q, want %q", dests, want)
	}
	var nss []specs.LinuxNamespaceType
	for _, ns := range s.Linux.Namespaces {
		nss = append(nss, ns.Type)
	}
	want := []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace, specs.MountNamespace}
	if mode, _ := cgroups.DetectMode(""); mode == cgroups.Unified {
		want = append(want, specs.CgroupNamespace)
	}
	if !slices.Equal(nss, want) {
		t.Errorf("namespaces %q, want %q", nss, want)
	}
	// Callers change the result: the capability sets must not share
	// storage, and each call must return a new spec.
	s.Process.Capabilities.Bounding[0] = "CAP_SYS_ADMIN"
	if s.Process.Capabilities.Effective[0] != "CAP_AUDIT_WRITE" || DefaultSpec().Process.Capabilities.Bounding[0] != "CAP_AUDIT_WRITE" {
		t.Error("capability sets share storage")
	}
}

func TestSeccompConfig(t *testing.T) {
	errno, one := uint(38), uint(1)
	c, err := seccompConfig(&specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &errno,
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchAARCH64},
		Flags:           []specs.LinuxSeccompFlag{},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write"}, Action: specs.ActAllow},
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: &one, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: 0xffffffff, Op: specs.OpNotEqual},
				{Index: 1, Value: 0xff, ValueTwo: 0x08, Op: specs.OpMaskedEqual},
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	args := []*configs.Arg{
		{Index: 0, Value: 0xffffffff, Op: configs.NotEqualTo},
		{Index: 1, Value: 0xff, ValueTwo: 0x08, Op: configs.MaskEqualTo},
	}
	want := &configs.Seccomp{
		DefaultAction:   configs.Errno,
		DefaultErrnoRet: &errno,
		Architectures:   []string{"amd64", "x86", "arm64"},
		Syscalls: []*configs.Syscall{
			{Name: "read", Action: configs.Allow, Args: []*configs.Arg{}},
			{Name: "write", Action: configs.Allow, Args: []*configs.Arg{}},
			{Name: "personality", Action: configs.Errno, ErrnoRet: &one, Args: args},
		},
	}
	if !reflect.DeepEqual(c, want) {
		got, _ := json.Marshal(c)
		exp, _ := json.Marshal(want)
		t.Errorf("got  %s\nwant %s", got, exp)
	}
	if c, err := seccompConfig(&specs.LinuxSeccomp{}); c != nil || err != nil {
		t.Errorf("empty section: %+v, %v", c, err)
	}
}

func TestSeccompConfigNamesTheField(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.ActAllow}
	cases := []struct {
		s    specs.LinuxSeccomp
		want string
	}{
		{specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_BOGUS"},
			`linux.seccomp.defaultAction: unknown action "SCMP_ACT_BOGUS"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActNotify},
			`linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"},
			`linux.seccomp.listenerPath: seccomp notify agents are not supported`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64, "SCMP_ARCH_VAX"}},
			`linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_VAX"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{ok, ok, ok,
			{Names: []string{"mkdir"}, Action: "SCMP_ACT_FOO"}}},
			`linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{ok,
			{Names: []string{"mkdir"}, Action: specs.ActNotify}}},
			`linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY is not supported`},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"kill"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: specs.OpEqualTo}, {Op: "SCMP_CMP_ABOUT"}}}}},
			`linux.seccomp.syscalls[0].args[1].op: unknown operator "SCMP_CMP_ABOUT"`},
	}
	for _, c := range cases {
		_, err := seccompConfig(&c.s)
		if err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
	// The cause comes from runc's seccomp package; the field is ours.
	_, err := seccompConfig(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}})
	if err == nil || !strings.HasPrefix(err.Error(), "linux.seccomp.flags[0]: ") {
		t.Errorf("unknown flag: %v", err)
	}
}
