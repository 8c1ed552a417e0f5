package layer

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzUnpack unpacks fuzzed tar streams into a directory that has a
// sibling file and directory as bait, and checks that nothing outside the
// layer's directory changed: the bait is intact, nothing new sits beside
// the layer, nothing in the layer is a hard link to the bait, and the
// limits held. A refusal is a RefusedError or names what failed.
func FuzzUnpack(f *testing.F) {
	seeds := [][]ent{
		{file("../escape", "x")},
		{file("a/../../escape", "x")},
		{dir("../../d")},
		{file("/etc/x", "abs")},
		{symlink("evil", "../bait-dir"), file("evil/x", "in")},
		{dir("tmp/out"), symlink("evil", "/tmp/out"), file("evil/x", "in")},
		{symlink("up", "../../../../.."), file("up/escape", "in")},
		{symlink("s", "../bait-dir"), dir("s/d")},
		{hardlink("h", "../bait")},
		{hardlink("h", "../../../etc/passwd")},
		{symlink("l", ".."), hardlink("h", "l/bait")},
		{dir("d"), hardlink("h", "d")},
		{{name: "d", typ: tar.TypeDir, mode: 0o755, xattrs: map[string]string{"trusted.overlay.opaque": "y"}}},
		{{name: "w", typ: tar.TypeChar, mode: 0o600}},
		{dir("d"), file("d/x", ""), file("d", "")},
		{dir("a"), file("a/.wh.b", ""), file("a/.wh..wh..opq", ""), file(".wh.c", ""), dir("c")},
		{file("f", "one"), file("f", "two"), hardlink("g", "f"), hardlink("g", "f")},
		{{name: "p", typ: tar.TypeFifo, mode: 0o644}, {name: "c", typ: tar.TypeChar, mode: 0o600, major: 1}},
		{{name: "s", typ: tar.TypeReg, mode: 0o6755, body: "x"}},
		{symlink("loop", "loop"), file("loop/x", "")},
	}
	for _, s := range seeds {
		f.Add(layerTar(f, s...))
	}
	f.Add([]byte("not a tar"))
	lim := Limits{MaxBytes: 1 << 20, MaxEntries: 256}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		base := t.TempDir()
		layer := filepath.Join(base, "layer")
		bait := filepath.Join(base, "bait")
		baitDir := filepath.Join(base, "bait-dir")
		for _, err := range []error{os.Mkdir(layer, 0o755), os.WriteFile(bait, []byte("bait"), 0o644), os.Mkdir(baitDir, 0o755)} {
			if err != nil {
				t.Fatal(err)
			}
		}
		var before unix.Stat_t
		if err := unix.Lstat(bait, &before); err != nil {
			t.Fatal(err)
		}
		st, err := Unpack(bytes.NewReader(data), layer, lim)
		if err != nil {
			var re *RefusedError
			if !errors.As(err, &re) && !strings.HasPrefix(err.Error(), "reading the layer") {
				t.Fatalf("error %q (%T) is neither a refusal nor a read error", err, err)
			}
		}
		if st.Bytes > lim.MaxBytes && err == nil || st.Entries > lim.MaxEntries+64 {
			t.Fatalf("limits %+v passed: %+v", lim, st)
		}
		ents, _ := os.ReadDir(base)
		for _, e := range ents {
			if n := e.Name(); n != "layer" && n != "bait" && n != "bait-dir" {
				t.Fatalf("%s was made beside the layer", n)
			}
		}
		var after unix.Stat_t
		if err := unix.Lstat(bait, &after); err != nil || after.Nlink != 1 || after.Size != 4 || after.Mode != before.Mode ||
			after.Uid != before.Uid || after.Mtim != before.Mtim {
			t.Fatalf("the file beside the layer changed: %+v, %v", after, err)
		}
		if b, _ := os.ReadFile(bait); string(b) != "bait" {
			t.Fatalf("the file beside the layer now holds %q", b)
		}
		if inside, _ := os.ReadDir(baitDir); len(inside) != 0 {
			t.Fatalf("the directory beside the layer gained %d entries", len(inside))
		}
		if fi, err := os.Lstat(baitDir); err != nil || fi.Mode() != fs.ModeDir|0o755 {
			t.Fatalf("the directory beside the layer changed: %v, %v", fi.Mode(), err)
		}
	})
}
