package runtime

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	o, err := parseMountOptions([]string{"nosuid", "noexec", "rw", "ro", "mode=755", "size=65536k", "rbind", "rslave", "rnodev", "rsuid"})
	if err != nil {
		t.Fatal(err)
	}
	if o.flags != unix.MS_NOSUID|unix.MS_NOEXEC|unix.MS_RDONLY {
		t.Errorf("flags %#x", o.flags)
	}
	if !o.bind || !o.recursive {
		t.Errorf("rbind not seen: %+v", o)
	}
	if o.propagation != unix.MS_SLAVE|unix.MS_REC {
		t.Errorf("propagation %#x", o.propagation)
	}
	if o.attrSet != unix.MOUNT_ATTR_NODEV || o.attrClr != unix.MOUNT_ATTR_NOSUID {
		t.Errorf("attrs set %#x clr %#x", o.attrSet, o.attrClr)
	}
	if strings.Join(o.data, ",") != "mode=755,size=65536k" {
		t.Errorf("data %q", o.data)
	}
	// A later "rw" clears an earlier "ro".
	o, _ = parseMountOptions([]string{"ro", "rw"})
	if o.flags&unix.MS_RDONLY != 0 {
		t.Errorf("rw after ro left MS_RDONLY set")
	}
	if _, err := parseMountOptions([]string{"idmap"}); err == nil {
		t.Errorf("idmap accepted")
	}
}

func TestMountCommand(t *testing.T) {
	cases := []struct {
		src, dst, typ string
		flags         uintptr
		data, want    string
	}{
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV, "", "mount -t proc -o nodev,nosuid proc /proc"},
		{"/etc", "/mnt/etc", "", unix.MS_BIND | unix.MS_REC, "", "mount -o bind,rec /etc /mnt/etc"},
		{"", "/", "", unix.MS_SLAVE | unix.MS_REC, "", "mount --make-rslave /"},
		{"tmpfs", "/dev", "tmpfs", unix.MS_NOSUID, "mode=755", "mount -t tmpfs -o nosuid,mode=755 tmpfs /dev"},
		{"/r", "/", "", unix.MS_MOVE, "", "mount --move /r /"},
	}
	for _, c := range cases {
		if got := mountCommand(c.src, c.dst, c.typ, c.flags, c.data); got != c.want {
			t.Errorf("mountCommand(%q, %q) = %q, want %q", c.src, c.dst, got, c.want)
		}
	}
}

func TestValidateID(t *testing.T) {
	for _, ok := range []string{"web", "a.b-c_d+1", strings.Repeat("x", 1024)} {
		if err := ValidateID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", "é", strings.Repeat("x", 1025)} {
		if err := ValidateID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// A new container may not take the name of a directory the state root
// keeps for other records: its state dir would be theirs.
func TestValidateNewIDRefusesReservedNames(t *testing.T) {
	for id := range notContainers {
		if err := validateNewID(id); err == nil || !strings.Contains(err.Error(), "runtime's own records") {
			t.Errorf("%q: %v", id, err)
		}
	}
	if err := validateNewID("web"); err != nil {
		t.Errorf("web: %v", err)
	}
}

// minimalBundle is a valid bundle in a temp dir for validation tests.
func minimalBundle(t *testing.T) *Bundle {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	raw := []byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"args":["sh"],"cwd":"/"},
		"linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"uts"}]},"hostname":"h","unknownField":1}`)
	b, err := ParseBundle(dir, raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestValidateAcceptsMinimalAndUnknownFields(t *testing.T) {
	b := minimalBundle(t)
	if err := Validate(b); err != nil {
		t.Fatal(err)
	}
	if b.Rootfs != filepath.Join(b.Dir, "rootfs") {
		t.Errorf("relative root.path resolved to %s, not against the bundle", b.Rootfs)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	cases := []struct {
		mutate func(s *specs.Spec)
		field  string
	}{
		{func(s *specs.Spec) { s.Process.Cwd = "rel" }, "process.cwd"},
		{func(s *specs.Spec) { s.Process.Capabilities = &specs.LinuxCapabilities{Ambient: []string{"CAP_NOPE"}} }, "process.capabilities.ambient[0]"},
		{func(s *specs.Spec) { s.Linux.Namespaces[1].Type = "mnt" }, "linux.namespaces[1].type"},
		{func(s *specs.Spec) { s.Linux.Namespaces[0].Path = "/proc/self/ns/net" }, "linux.namespaces[0].path"},
		{func(s *specs.Spec) {
			s.Mounts = []specs.Mount{{Destination: "/x", Type: "tmpfs", Options: []string{""}}}
		}, "mounts[0].options[0]"},
		{func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "dev/x", Type: "c"}} }, "linux.devices[0].path"},
		{func(s *specs.Spec) { s.Linux.Sysctl = map[string]string{"kernel.shmmax": "1"} }, `linux.sysctl["kernel.shmmax"]`},
		{func(s *specs.Spec) { s.Process.IOPriority = &specs.LinuxIOPriority{Class: "IOPRIO_CLASS_BOGUS"} }, "process.ioPriority.class"},
		{func(s *specs.Spec) { s.Process.User.UID = 4294967295 }, "process.user.uid"},
		{func(s *specs.Spec) { s.Process.User.GID = 1 << 31 }, "process.user.gid"},
		{func(s *specs.Spec) { s.Process.User.AdditionalGids = []uint32{1, 4294967295} }, "process.user.additionalGids[1]"},
		{func(s *specs.Spec) { s.Process.Env = []string{"A=1", "B=x\x00y"} }, "process.env[1]"},
		{func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c\x00"} }, "process.args[1]"},
		{func(s *specs.Spec) { s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "c", Major: -1}} }, "linux.devices[0].major"},
		{func(s *specs.Spec) {
			s.Linux.Devices = []specs.LinuxDevice{{Path: "/dev/x", Type: "b", Major: 8, Minor: 1 << 20}}
		}, "linux.devices[0].minor"},
		{func(s *specs.Spec) { withUserNS(s, nil, idMap(0, 0, 1)) }, "linux.uidMappings"},
		{func(s *specs.Spec) { withUserNS(s, idMap(0, 0, 1), nil) }, "linux.gidMappings"},
		{func(s *specs.Spec) { withUserNS(s, idMap(0, 1000, 10, 5, 2000, 10), idMap(0, 0, 1)) }, "linux.uidMappings[1].containerID"},
		{func(s *specs.Spec) { withUserNS(s, idMap(0, 1000, 10, 100, 1005, 10), idMap(0, 0, 1)) }, "linux.uidMappings[1].hostID"},
		{func(s *specs.Spec) { withUserNS(s, idMap(4294967290, 0, 10), idMap(0, 0, 1)) }, "linux.uidMappings[0].size"},
		{func(s *specs.Spec) {
			var m []specs.LinuxIDMapping
			for i := uint32(0); i < 341; i++ {
				m = append(m, specs.LinuxIDMapping{ContainerID: i, HostID: 1000 + i, Size: 1})
			}
			withUserNS(s, m, idMap(0, 0, 1))
		}, "linux.uidMappings"},
	}
	for _, c := range cases {
		b := minimalBundle(t)
		c.mutate(b.Spec)
		err := Validate(b)
		if err == nil || !strings.HasPrefix(err.Error(), c.field+": ") {
			t.Errorf("want an error on %s, got %v", c.field, err)
		}
	}
}

func withUserNS(s *specs.Spec, uids, gids []specs.LinuxIDMapping) {
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	s.Linux.UIDMappings, s.Linux.GIDMappings = uids, gids
}

// idMap builds mappings from triples of container id, host id and size.
func idMap(v ...uint32) []specs.LinuxIDMapping {
	var out []specs.LinuxIDMapping
	for i := 0; i+2 < len(v); i += 3 {
		out = append(out, specs.LinuxIDMapping{ContainerID: v[i], HostID: v[i+1], Size: v[i+2]})
	}
	return out
}

func TestStatusFromTheKernel(t *testing.T) {
	dir := t.TempDir()
	_, start, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	c := &Container{ID: "x", Pid: os.Getpid(), StartTime: start, dir: dir}
	if st := c.Status(); st != Running {
		t.Errorf("live pid, no fifo: %s", st)
	}
	os.WriteFile(filepath.Join(dir, fifoFile), nil, 0o600)
	if st := c.Status(); st != Created {
		t.Errorf("live pid with exec.fifo: %s", st)
	}
	c.StartTime++ // the pid now names some other process
	if st := c.Status(); st != Stopped {
		t.Errorf("reused pid: %s", st)
	}
	c.Pid = 0
	if st := c.Status(); st != Stopped || c.State().Pid != 0 {
		t.Errorf("no pid: %s", st)
	}
}

func TestProcStatCommWithSpacesAndParens(t *testing.T) {
	// The command name of the test binary is short; check the parser on
	// our own entry and on pid 1, whose stat always exists.
	for _, pid := range []int{1, os.Getpid()} {
		st, start, err := procStat(pid)
		if err != nil || st == 0 || start == 0 {
			t.Errorf("pid %d: state %q start %d err %v", pid, st, start, err)
		}
	}
}

func TestStatusOperations(t *testing.T) {
	if !Created.CanStart() || Running.CanStart() || !Stopped.CanDelete() || Created.CanDelete() || Stopped.CanKill() || !Paused.CanKill() {
		t.Error("status permissions wrong")
	}
}
