package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ent is one tar entry of a test layer.
type ent struct {
	name, link string
	typ        byte
	body       string
	mode       int64
	major      int64
	xattrs     map[string]string
}

func file(name, body string) ent { return ent{name: name, typ: tar.TypeReg, body: body, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) ent {
	return ent{name: name, typ: tar.TypeSymlink, link: to, mode: 0o777}
}
func hardlink(name, to string) ent { return ent{name: name, typ: tar.TypeLink, link: to} }

// layerTar builds a tar stream of ents (a test's layer, a fuzz seed).
func layerTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)),
			ModTime: time.Unix(1700000000, 0), Devmajor: e.major, Format: tar.FormatPAX}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("%s: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func opaqueXattr() string {
	if os.Geteuid() == 0 {
		return "trusted.overlay.opaque"
	}
	return "user.overlay.opaque"
}

func isOpaque(t *testing.T, p string) bool {
	t.Helper()
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(p, opaqueXattr(), buf)
	return err == nil && string(buf[:n]) == "y"
}

func isWhiteout(p string) bool {
	var st unix.Stat_t
	return unix.Lstat(p, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUnpackHostileLayers feeds layers that try to write outside their
// directory, or to forge overlayfs metadata, or to exhaust the disk: each
// either lands wholly inside the layer's directory or is refused, and
// nothing ever appears outside it.
func TestUnpackHostileLayers(t *testing.T) {
	type tc struct {
		name   string
		ents   []ent
		lim    Limits
		refuse string                                    // a substring of the refusal; "" = accepted
		check  func(t *testing.T, layer, outside string) // for accepted layers
	}
	outsideName := "outside-" + strings.ReplaceAll(t.Name(), "/", "-")
	cases := []tc{
		{name: "dotdot", ents: []ent{file("../escape", "x")}, refuse: "leaves the layer"},
		{name: "dotdot inside a path", ents: []ent{file("a/../../escape", "x")}, refuse: "leaves the layer"},
		{name: "dotdot directory", ents: []ent{dir("../../d")}, refuse: "leaves the layer"},
		{name: "absolute name lands inside", ents: []ent{file("/etc/x", "abs")},
			check: func(t *testing.T, layer, _ string) {
				if readFile(t, filepath.Join(layer, "etc/x")) != "abs" {
					t.Fatal("absolute entry not inside the layer")
				}
			}},
		{name: "write through a dangling absolute symlink", ents: []ent{symlink("evil", "/tmp/"+outsideName), file("evil/x", "in")},
			refuse: "symlink to nothing"},
		{name: "write through an absolute symlink", ents: []ent{dir("tmp/" + outsideName), symlink("evil", "/tmp/"+outsideName), file("evil/x", "in")},
			check: func(t *testing.T, layer, _ string) {
				if _, err := os.Stat("/tmp/" + outsideName); err == nil {
					os.RemoveAll("/tmp/" + outsideName)
					t.Fatal("wrote through the symlink to the host")
				}
				if readFile(t, filepath.Join(layer, "tmp", outsideName, "x")) != "in" {
					t.Fatal("the entry is not where the symlink leads inside the layer")
				}
			}},
		{name: "write through a symlink to a host dir", ents: []ent{symlink("etc", "/etc"), file("etc/miniruntime-test-escape", "in")},
			refuse: "too many levels of symbolic links"}, // /etc inside the layer is the link itself
		{name: "write through a climbing symlink", ents: []ent{symlink("up", "../../../../.."), file("up/escape", "in")},
			check: func(t *testing.T, layer, _ string) {
				if readFile(t, filepath.Join(layer, "escape")) != "in" {
					t.Fatal("the climbing symlink was not clamped at the layer root")
				}
			}},
		{name: "write through a symlink to the sibling dir", ents: []ent{dir("outside"), symlink("s", "../outside"), file("s/x", "in")},
			check: func(t *testing.T, layer, _ string) {
				if readFile(t, filepath.Join(layer, "outside", "x")) != "in" {
					t.Fatal("not clamped")
				}
			}},
		{name: "hardlink climbing out", ents: []ent{hardlink("h", "../../../etc/passwd")}, refuse: "outside the layer"},
		{name: "hardlink to an absolute host path", ents: []ent{hardlink("h", "/etc/passwd")}, refuse: "does not hold"},
		{name: "hardlink through a symlinked parent", ents: []ent{symlink("l", "/etc"), hardlink("h", "l/passwd")}, refuse: "does not hold"},
		{name: "hardlink to a directory", ents: []ent{dir("d"), hardlink("h", "d")}, refuse: "directory"},
		{name: "too many entries", ents: []ent{file("a", ""), file("b", ""), file("c", ""), file("d", "")},
			lim: Limits{MaxEntries: 3}, refuse: "more than 3 entries"},
		{name: "too many bytes", ents: []ent{file("a", strings.Repeat("x", 60)), file("b", strings.Repeat("y", 60))},
			lim: Limits{MaxBytes: 100}, refuse: "more than 100 bytes"},
		{name: "forged opaque xattr", ents: []ent{{name: "d", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"trusted.overlay.opaque": "y"}}},
			refuse: "overlayfs attribute"},
		{name: "forged redirect xattr", ents: []ent{{name: "d", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"trusted.overlay.redirect": "/etc"}}},
			refuse: "overlayfs attribute"},
		{name: "raw overlay whiteout device", ents: []ent{{name: "w", typ: tar.TypeChar, mode: 0o600}}, refuse: "0/0"},
		{name: "file replacing a directory of the layer", ents: []ent{dir("d"), file("d/x", ""), file("d", "")}, refuse: "replaces a directory"},
		{name: "unsupported entry type", ents: []ent{{name: "v", typ: 'V', mode: 0o644}}, refuse: "unsupported entry type"},
		// What replaces a symlink replaces the link itself, never what it
		// leads to: no mode, owner or content goes through it.
		{name: "directory over a symlink that leads out", ents: []ent{symlink("d", "../outside"), {name: "d", typ: tar.TypeDir, mode: 0o777}},
			check: func(t *testing.T, layer, outside string) {
				if fi, err := os.Lstat(filepath.Join(layer, "d")); err != nil || !fi.IsDir() {
					t.Fatalf("d is not a directory of the layer: %v", err)
				}
				if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o755 {
					t.Fatalf("the directory's mode went through the link: %v", fi.Mode())
				}
			}},
		{name: "file over a symlink that leads out", ents: []ent{symlink("f", "../outside/f"), file("f", "in")},
			check: func(t *testing.T, layer, _ string) {
				if fi, err := os.Lstat(filepath.Join(layer, "f")); err != nil || !fi.Mode().IsRegular() || readFile(t, filepath.Join(layer, "f")) != "in" {
					t.Fatalf("f is not the layer's own file: %v", err)
				}
			}},
		{name: "opaque marker through a symlink that leads out", ents: []ent{symlink("s", "../outside"), file("s/.wh..wh..opq", "")},
			refuse: "symlink to nothing"},
		{name: "whiteout through a symlink that leads out", ents: []ent{symlink("s", "../outside"), file("s/.wh.x", "")},
			refuse: "symlink to nothing"},
		{name: "hard link to a symlink that leads out", ents: []ent{symlink("s", "/etc/passwd"), hardlink("h", "s")},
			check: func(t *testing.T, layer, _ string) {
				if l, err := os.Readlink(filepath.Join(layer, "h")); err != nil || l != "/etc/passwd" {
					t.Fatalf("h is not the symlink itself: %q %v", l, err)
				}
			}},
		{name: "symlink loop as a parent", ents: []ent{symlink("a", "b"), symlink("b", "a"), file("a/x", "")},
			refuse: "too many levels of symbolic links"},
		{name: "forged user.overlay xattr", ents: []ent{{name: "d", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"user.overlay.opaque": "y"}}},
			refuse: "overlayfs attribute"},
		{name: "whiteout of dot-dot", ents: []ent{file("d/.wh...", "")}, refuse: "whiteout of nothing"},
		{name: "root entry that is not a directory", ents: []ent{file(".", "")}, refuse: "root is not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			base := t.TempDir()
			layer := filepath.Join(base, "layer")
			outside := filepath.Join(base, "outside")
			for _, d := range []string{layer, outside} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			lim := c.lim
			if lim == (Limits{}) {
				lim = DefaultLimits
			}
			_, err := Unpack(bytes.NewReader(layerTar(t, c.ents...)), layer, lim)
			if c.refuse != "" {
				var re *RefusedError
				if err == nil || !errors.As(err, &re) || !strings.Contains(err.Error(), c.refuse) {
					t.Fatalf("err = %v, want a refusal with %q", err, c.refuse)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("the refusal is not one line: %q", err)
				}
			} else if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if ents, _ := os.ReadDir(outside); len(ents) > 0 {
				t.Fatalf("an entry landed outside the layer: %v", ents)
			}
			if _, err := os.Lstat(filepath.Join(base, "escape")); err == nil {
				t.Fatal("an entry landed beside the layer")
			}
			if c.check != nil {
				c.check(t, layer, outside)
			}
		})
	}
}

// TestUnpackWhiteouts: deletions become character devices 0/0, opaque
// markers an xattr on their directory whatever their place in the tar,
// and a whiteout never hides the layer's own entry.
func TestUnpackWhiteouts(t *testing.T) {
	layer := t.TempDir()
	st, err := Unpack(bytes.NewReader(layerTar(t,
		file(".wh.gone", ""),
		dir("after/"), file("after/mine", "1"), file("after/.wh..wh..opq", ""), // marker after its siblings
		file("before/.wh..wh..opq", ""), dir("before/"), file("before/mine", "2"), // before its dir entry
		file("deep/er/.wh.x", ""),               // parents made on the way
		file("kept", "k"), file(".wh.kept", ""), // the layer's own entry stays
		file(".wh.redone", ""), dir("redone/"), file("redone/new", "n"), // delete and make again: opaque
		file(".wh..wh.plnk", ""), // AUFS metadata: ignored
	)), layer, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if !isWhiteout(filepath.Join(layer, "gone")) || !isWhiteout(filepath.Join(layer, "deep/er/x")) {
		t.Fatal("a .wh. entry did not become a 0/0 character device")
	}
	for _, d := range []string{"after", "before", "redone"} {
		if !isOpaque(t, filepath.Join(layer, d)) {
			t.Errorf("%s is not opaque", d)
		}
	}
	if isOpaque(t, filepath.Join(layer, "deep")) {
		t.Error("deep is opaque")
	}
	if readFile(t, filepath.Join(layer, "after/mine")) != "1" || readFile(t, filepath.Join(layer, "before/mine")) != "2" ||
		readFile(t, filepath.Join(layer, "kept")) != "k" || readFile(t, filepath.Join(layer, "redone/new")) != "n" {
		t.Fatal("the layer's own files are not all there")
	}
	for _, n := range []string{".wh.gone", ".wh..wh.plnk", "after/.wh..wh..opq", ".wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(layer, n)); err == nil {
			t.Errorf("%s was unpacked as a file", n)
		}
	}
	if st.Whiteouts != 4 || st.Opaques != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestUnpackKinds: every kind of entry, with modes, links and times; setuid
// bits, owners and device nodes only as root.
func TestUnpackKinds(t *testing.T) {
	layer := t.TempDir()
	suid := file("bin/su", "su")
	suid.mode = 0o4755
	owned := file("home/u/f", "u")
	fifo := ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600}
	null := ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1}
	hdrs := []ent{dir("bin/"), suid, symlink("bin/sh", "busybox"), file("bin/busybox", "bb"), hardlink("bin/ls", "bin/busybox"),
		dir("home/u/"), owned, fifo, null}
	raw := layerTar(t, hdrs...)
	// Give home/u/f an owner: rewrite via a header with Uid/Gid.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "home/u/f" {
			h.Uid, h.Gid = 1000, 1001
		}
		tw.WriteHeader(h)
		body := make([]byte, h.Size)
		tr.Read(body)
		tw.Write(body)
	}
	tw.Close()
	st, err := Unpack(&b, layer, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	fi, err := os.Stat(filepath.Join(layer, "bin/su"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode()&os.ModeSetuid != 0; got != root {
		t.Errorf("setuid bit %v as root=%v", got, root)
	}
	if l, _ := os.Readlink(filepath.Join(layer, "bin/sh")); l != "busybox" {
		t.Errorf("symlink %q", l)
	}
	var a, c unix.Stat_t
	unix.Lstat(filepath.Join(layer, "bin/busybox"), &a)
	unix.Lstat(filepath.Join(layer, "bin/ls"), &c)
	if a.Ino != c.Ino || a.Nlink != 2 {
		t.Error("the hard link is not one inode")
	}
	if a.Mtim.Sec != 1700000000 {
		t.Errorf("mtime %d", a.Mtim.Sec)
	}
	var f unix.Stat_t
	unix.Lstat(filepath.Join(layer, "run/fifo"), &f)
	if f.Mode&unix.S_IFMT != unix.S_IFIFO {
		t.Error("no fifo")
	}
	var u unix.Stat_t
	unix.Lstat(filepath.Join(layer, "home/u/f"), &u)
	var n unix.Stat_t
	nerr := unix.Lstat(filepath.Join(layer, "dev/null"), &n)
	if root {
		if u.Uid != 1000 || u.Gid != 1001 {
			t.Errorf("owner %d:%d", u.Uid, u.Gid)
		}
		if nerr != nil || n.Rdev != unix.Mkdev(1, 0) {
			t.Errorf("device node: %v rdev %x", nerr, n.Rdev)
		}
	} else {
		if nerr == nil || st.SkippedDevices != 1 || st.DroppedSetid != 1 {
			t.Errorf("not root: device %v, stats %+v", nerr, st)
		}
	}
}
