package images

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func putBlob(t *testing.T, st *Store, content string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	d := "sha256:" + hex.EncodeToString(sum[:])
	if err := st.PutBlob(d, int64(len(content)), strings.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSameImageTwoWays: one image (one config, so one id) pulled by two
// manifests with different layer blobs (a registry's gzip layers, a docker
// archive's plain tars) keeps what both pulls stored: the later record
// does not orphan the earlier manifest and blobs, the earlier manifest
// digest still finds the image, and a failed pull's Discard takes away
// only what it added and nothing needs.
func TestSameImageTwoWays(t *testing.T) {
	st, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := putBlob(t, st, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:`+strings.Repeat("d", 64)+`"]}}`)
	man1, gz := putBlob(t, st, "manifest of the registry"), putBlob(t, st, "gzip layer")
	man2, plain := putBlob(t, st, "manifest of the archive"), putBlob(t, st, "plain layer")
	chain := "sha256:" + strings.Repeat("d", 64)
	if err := st.SaveImage(&Image{ID: id, ManifestDigest: man1, Layers: []Layer{{Digest: gz, ChainID: chain}}}, []string{"127.0.0.1:5000/x:v1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveImage(&Image{ID: id, ManifestDigest: man2, Layers: []Layer{{Digest: plain, ChainID: chain}}}, []string{"docker-archive:/x.tar"}); err != nil {
		t.Fatal(err)
	}
	// The same image pulled the first way again adds nothing twice.
	if err := st.SaveImage(&Image{ID: id, ManifestDigest: man1, Layers: []Layer{{Digest: gz, ChainID: chain}}}, []string{"127.0.0.1:5000/x:v1"}); err != nil {
		t.Fatal(err)
	}
	im, err := st.readImage(id)
	if err != nil {
		t.Fatal(err)
	}
	if im.ManifestDigest != man1 || strings.Join(im.OtherManifests, ",") != man2 || strings.Join(im.OtherBlobs, ",") != plain {
		t.Fatalf("record: manifest %s, other manifests %v, other blobs %v", im.ManifestDigest, im.OtherManifests, im.OtherBlobs)
	}
	if got, err := st.Lookup(man2); err != nil || got.ID != id {
		t.Fatalf("lookup by the earlier manifest digest: %v", err)
	}
	// A failed pull that had stored a blob nothing needs, and claims
	// (wrongly) to have added the image's own blobs: only the stray goes.
	stray := putBlob(t, st, "a layer of a pull that failed")
	other := putBlob(t, st, "garbage of another time")
	if err := st.Discard([]string{stray, man1, man2, gz, plain, id}, []string{chain}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{id, man1, man2, gz, plain, other} {
		if !st.HasBlob(d) {
			t.Errorf("Discard removed %s, which it was not to", d)
		}
	}
	if st.HasBlob(stray) {
		t.Error("Discard kept the failed pull's blob")
	}
	// Removing both names removes the image and everything it kept.
	for _, n := range []string{"127.0.0.1:5000/x:v1", "docker-archive:/x.tar"} {
		if _, err := st.Remove(n, nil); err != nil {
			t.Fatal(err)
		}
	}
	left, _ := os.ReadDir(st.Root + "/blobs/sha256")
	if len(left) != 0 {
		t.Errorf("%d blobs left after the image was removed", len(left))
	}
}
