package runtime

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miniruntime/miniruntime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fuzzRootfs is an empty rootfs directory for the fuzz targets: Validate
// only stats it.
func fuzzRootfs(f *testing.F) string {
	dir := filepath.Join(f.TempDir(), "rootfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	return dir
}

// refusal checks the shape of every refusal: a field error (this
// package's, or the cgroup package's for linux.resources) with a field
// and a cause, on one line. It returns the refusal as this package's type.
func refusal(t *testing.T, err error) *FieldError {
	t.Helper()
	var fe *FieldError
	var cfe *cgroups.FieldError
	switch {
	case errors.As(err, &fe):
	case errors.As(err, &cfe) && cfe.Err != nil:
		fe = &FieldError{Field: cfe.Field, Cause: cfe.Err.Error()}
	default:
		t.Fatalf("refusal %q (%T) is not a FieldError naming a field", err, err)
	}
	if fe.Field == "" || fe.Cause == "" {
		t.Fatalf("refusal %q names no field or no cause", err)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Fatalf("refusal %q is more than one line", err)
	}
	return fe
}

// FuzzParseBundle feeds config.json bytes through parsing and validation,
// as create does. A parse error names config.json; a refusal names its
// field on one line; an accepted config, written out again, is accepted
// again.
func FuzzParseBundle(f *testing.F) {
	rootfs := fuzzRootfs(f)
	def, _ := json.Marshal(DefaultSpec())
	f.Add(def)
	f.Add([]byte(`{"ociVersion":"1.0.2","process":{"args":"sh"}}`))
	f.Add([]byte("{\n\"ociVersion\": "))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"user":{"uid":4294967295}},"linux":{}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"cwd":"/","args":["sh"],"env":["A=b\u0000"]},"linux":{}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"hostname":"h\nx","linux":{"namespaces":[{"type":"uts"},{"type":"user"}],"uidMappings":[{"containerID":1,"hostID":100001,"size":5},{"containerID":0,"hostID":100000,"size":1}],"gidMappings":[{"containerID":0,"hostID":100000,"size":1}]}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"time"}],"timeOffsets":{"monotonic":{"secs":-99999999999,"nanosecs":1000000000}}}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"network"}],"sysctl":{"net/ipv4/ip_forward":"1","kernel.hostname":"x"},"devices":[{"path":"/dev/x","type":"c","major":4096,"minor":-1}]}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"linux":{"seccomp":{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"op":"SCMP_CMP_EQ"}]}]}}}`))
	f.Add([]byte(`{"ociVersion":"1.2.0","root":{"path":"rootfs"},"annotations":{"miniruntime.network":"default","miniruntime.ports":"8080:80,8080:81"},"linux":{"namespaces":[{"type":"network"}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 1<<16 {
			return
		}
		b, err := ParseBundle(filepath.Dir(rootfs), raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config.json: ") {
				t.Fatalf("parse error %q does not name config.json", err)
			}
			return
		}
		confine(b)
		err = Validate(b)
		if err != nil {
			refusal(t, err)
			return
		}
		_ = specWarnings(b.Spec)
		again, err := json.Marshal(b.Spec)
		if err != nil {
			t.Fatalf("an accepted config does not marshal: %v", err)
		}
		b2, err := ParseBundle(b.Dir, again)
		if err != nil {
			t.Fatalf("an accepted config, written out, does not parse: %v\n%s", err, again)
		}
		confine(b2)
		if err := Validate(b2); err != nil {
			t.Fatalf("an accepted config, written out, is refused: %v\n%s", err, again)
		}
	})
}

// confine keeps a fuzzed config from naming files outside what the test
// owns: the rootfs is the test's, and only this process's own namespaces
// may be joined.
func confine(b *Bundle) {
	if b.Spec.Root != nil && b.Spec.Root.Path != "" {
		b.Spec.Root.Path = "rootfs"
		b.Rootfs = filepath.Join(b.Dir, "rootfs")
	}
	if b.Spec.Linux != nil {
		for i, ns := range b.Spec.Linux.Namespaces {
			if ns.Path != "" && !strings.HasPrefix(ns.Path, "/proc/self/ns/") {
				b.Spec.Linux.Namespaces[i].Path = "/proc/self/ns/" + string(ns.Type)
			}
		}
	}
}

// FuzzValidateLimits builds configs around the values with limits (ids,
// id maps, device numbers, time offsets, host names, sysctls, seccomp
// argument indexes, rlimits) and checks Validate against the limits
// computed here independently: anything past one is refused by the
// field's name, anything accepted is within all of them.
func FuzzValidateLimits(f *testing.F) {
	rootfs := fuzzRootfs(f)
	f.Add(uint32(0), uint32(0), []byte{}, int64(1), int64(3), int64(0), uint32(0), "mrtest", "net.ipv4.ip_forward", uint(0), uint64(1024))
	f.Add(uint32(1<<31), uint32(1<<31-1), []byte{0, 0, 0, 0, 0, 1, 0x86, 0xa0, 0, 0, 0, 10}, int64(4096), int64(-1), int64(-1<<40), uint32(1e9), "h\x00", "kernel.hostname", uint(6), uint64(1<<64-1))
	f.Add(uint32(1<<32-1), uint32(5), []byte{0, 0, 0, 1, 0, 1, 0x86, 0xa1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 1, 0x86, 0xa0, 0, 0, 0, 1}, int64(4095), int64(1<<20-1), int64(1<<62), uint32(999999999), strings.Repeat("x", 65), "net/ipv4/ip_forward", uint(5), uint64(1<<20))
	f.Add(uint32(7), uint32(7), []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x20}, int64(0), int64(1<<20), int64(0), uint32(0), "a\nb", "user.max_user_namespaces", uint(0), uint64(1<<40))
	f.Fuzz(func(t *testing.T, uid, gid uint32, maps []byte, major, minor, secs int64, nanos uint32, hostname, sysctl string, argIndex uint, nofile uint64) {
		s := DefaultSpec()
		s.Root.Path = "rootfs"
		s.Process.Terminal = false
		s.Process.User = specs.User{UID: uid, GID: gid}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: min(nofile, 1024)}}
		s.Hostname = hostname
		var idm []specs.LinuxIDMapping
		for i := 0; i+12 <= len(maps) && len(idm) < 400; i += 12 {
			idm = append(idm, specs.LinuxIDMapping{
				ContainerID: binary.BigEndian.Uint32(maps[i:]),
				HostID:      binary.BigEndian.Uint32(maps[i+4:]),
				Size:        binary.BigEndian.Uint32(maps[i+8:]),
			})
		}
		l := s.Linux
		l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		if len(idm) > 0 {
			l.Namespaces = append(l.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			l.UIDMappings, l.GIDMappings = idm, idm
		}
		l.Devices = []specs.LinuxDevice{{Path: "/dev/fuzz", Type: "c", Major: major, Minor: minor}}
		l.TimeOffsets = map[string]specs.LinuxTimeOffset{"monotonic": {Secs: secs, Nanosecs: nanos}}
		l.Sysctl = map[string]string{sysctl: "1"}
		l.Seccomp = nil
		if argIndex < 64 {
			l.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"mount"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: argIndex, Op: specs.OpEqualTo}},
			}}}
		}
		if _, err := os.Stat("/proc/self/ns/time"); err != nil {
			l.Namespaces = without(l.Namespaces, specs.TimeNamespace)
			l.TimeOffsets = nil
		}
		b := &Bundle{Dir: filepath.Dir(rootfs), Rootfs: rootfs, Spec: s}
		err := Validate(b)
		if err != nil {
			fe := refusal(t, err)
			// A seccomp refusal other than the index can only be this
			// binary's lack of seccomp support.
			if strings.HasPrefix(fe.Field, "linux.seccomp") && !strings.HasSuffix(fe.Field, ".index") && argIndex <= 5 &&
				!strings.Contains(fe.Cause, "without seccomp support") {
				t.Fatalf("a valid seccomp rule refused: %v", err)
			}
		}
		// Each limit past which the value must be refused, by its field.
		past := map[string]bool{
			"process.user.uid":                        uid > maxID,
			"process.user.gid":                        gid > maxID,
			"linux.devices[0].major":                  major < 0 || major > 0xfff,
			"linux.devices[0].minor":                  minor < 0 || minor > 0xfffff,
			"hostname":                                len(hostname) > 64 || strings.IndexByte(hostname, 0) >= 0,
			`linux.timeOffsets["monotonic"].nanosecs`: l.TimeOffsets != nil && nanos >= 1e9,
			"linux.seccomp.syscalls[0].args[0].index": l.Seccomp != nil && argIndex > 5,
			"linux.uidMappings":                       len(idm) > maxIDMapLines || !mapsFit(idm),
			"linux.sysctl":                            !plausibleSysctl(sysctl),
			"process.rlimits[0].hard":                 nofile > nrOpenOr(1<<63),
			`linux.timeOffsets["monotonic"].secs`:     l.TimeOffsets != nil && (secs > ktimeSecMax/2 || secs < -ktimeSecMax),
		}
		if err == nil {
			for field, bad := range past {
				if bad {
					t.Fatalf("accepted although %s is past its limit", field)
				}
			}
		}
	})
}

// mapsFit reports whether id maps are what the kernel takes: non-empty
// ranges inside the 32-bit id space, no two overlapping inside or
// outside, in any order.
func mapsFit(m []specs.LinuxIDMapping) bool {
	for i, a := range m {
		if a.Size == 0 || uint64(a.ContainerID)+uint64(a.Size) > 1<<32 || uint64(a.HostID)+uint64(a.Size) > 1<<32 {
			return false
		}
		for _, b := range m[:i] {
			if max(a.ContainerID, b.ContainerID) <= min(a.ContainerID+a.Size-1, b.ContainerID+b.Size-1) ||
				max(a.HostID, b.HostID) <= min(a.HostID+a.Size-1, b.HostID+b.Size-1) {
				return false
			}
		}
	}
	return true
}

// plausibleSysctl is what a namespaced sysctl name can look like here:
// dotted (or slashed) words of a namespaced prefix, never the host's.
func plausibleSysctl(k string) bool {
	name := k
	if i := strings.IndexAny(k, "./"); i >= 0 && k[i] == '/' {
		name = strings.NewReplacer(".", "/", "/", ".").Replace(k)
	}
	if name == "" || strings.ContainsAny(name, "\x00\n/ ") || strings.Contains(name, "..") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return false
	}
	return strings.HasPrefix(name, "net.") || strings.HasPrefix(name, "fs.mqueue.") || strings.HasPrefix(name, "kernel.") ||
		strings.HasPrefix(name, "user.")
}

func nrOpenOr(def uint64) uint64 {
	if n, ok := nrOpen(); ok {
		return n
	}
	return def
}

func without(nss []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	var out []specs.LinuxNamespace
	for _, ns := range nss {
		if ns.Type != t {
			out = append(out, ns)
		}
	}
	return out
}

// FuzzValidateID checks that an accepted container id names exactly one
// directory entry under the state root: never a path, never "." or "..",
// and of bounded length.
func FuzzValidateID(f *testing.F) {
	for _, id := range []string{"web", "a/b", "..", ".", "", "a\nb", "a b", "x_y+z-1.2", strings.Repeat("i", 1025), "é", "a\x00"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateID(id)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("refusal %q is more than one line", err)
			}
			return
		}
		if id == "" || id == "." || id == ".." || len(id) > 1024 || filepath.Base(id) != id ||
			filepath.Join("/run/miniruntime", id) != "/run/miniruntime/"+id {
			t.Fatalf("id %q accepted but does not name one entry of the state root", id)
		}
	})
}
