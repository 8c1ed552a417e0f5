package clients

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readTar returns the regular files and the headers of a tar stream.
func readTar(t *testing.T, r io.Reader) (map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	files := map[string][]byte{}
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[hdr.Name] = hdr
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = data
		}
	}
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// blobOf returns a blob of the layout after checking that its content
// matches its descriptor's digest and size.
func blobOf(t *testing.T, files map[string][]byte, d descriptor) []byte {
	t.Helper()
	data, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s is missing", d.Digest)
	}
	if got := digestOf(data); got != d.Digest || int64(len(data)) != d.Size {
		t.Fatalf("blob %s: digest %s size %d, descriptor says size %d", d.Digest, got, len(data), d.Size)
	}
	return data
}

func TestWriteArchive(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), []byte("#!fake\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(rootfs, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "image.tar")
	im := Image{Name: "localhost/test/busybox:1", Entrypoint: []string{"sleep", "5"}, Cmd: nil}
	if err := WriteArchive(rootfs, out, im); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := readTar(t, bytes.NewReader(data))

	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout = %q", got)
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(idx.Manifests))
	}
	md := idx.Manifests[0]
	for _, key := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
		if md.Annotations[key] != im.Name {
			t.Errorf("annotation %s = %q, want %q", key, md.Annotations[key], im.Name)
		}
	}
	var man manifest
	if err := json.Unmarshal(blobOf(t, files, md), &man); err != nil {
		t.Fatal(err)
	}
	var cfg image
	if err := json.Unmarshal(blobOf(t, files, man.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Config.Entrypoint, " ") != "sleep 5" || len(cfg.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if len(man.Layers) != 1 || len(cfg.RootFS.DiffIDs) != 1 {
		t.Fatalf("%d layers, %d diff_ids, want 1 and 1", len(man.Layers), len(cfg.RootFS.DiffIDs))
	}
	zr, err := gzip.NewReader(bytes.NewReader(blobOf(t, files, man.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := digestOf(layer); got != cfg.RootFS.DiffIDs[0] {
		t.Errorf("diff_id %s, uncompressed layer is %s", cfg.RootFS.DiffIDs[0], got)
	}
	lfiles, lheaders := readTar(t, bytes.NewReader(layer))
	if string(lfiles["bin/busybox"]) != "#!fake\n" {
		t.Errorf("bin/busybox = %q", lfiles["bin/busybox"])
	}
	if h := lheaders["bin/sh"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
		t.Errorf("bin/sh: %+v, want a symlink to busybox", h)
	}
	for name, h := range lheaders {
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 || strings.HasPrefix(name, "/") {
			t.Errorf("%s: uid %d gid %d mtime %v, want root-owned, at the epoch, relative", name, h.Uid, h.Gid, h.ModTime)
		}
	}
	if h := lheaders["tmp/"]; h == nil || h.Mode&0o1000 == 0 {
		t.Errorf("tmp/: %+v, want the sticky bit kept", h)
	}

	// The same rootfs gives the same bytes.
	again := filepath.Join(t.TempDir(), "again.tar")
	if err := WriteArchive(rootfs, again, im); err != nil {
		t.Fatal(err)
	}
	if data2, _ := os.ReadFile(again); !bytes.Equal(data, data2) {
		t.Error("two archives of the same rootfs differ")
	}
}
