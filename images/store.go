package images

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where images live unless --image-root or
// MINIRUNTIME_IMAGE_ROOT says otherwise.
const DefaultRoot = "/var/lib/miniruntime"

// RootFromEnv is the store root: the environment's MINIRUNTIME_IMAGE_ROOT,
// else DefaultRoot.
func RootFromEnv() string {
	if r := os.Getenv("MINIRUNTIME_IMAGE_ROOT"); r != "" {
		return r
	}
	return DefaultRoot
}

// ErrNotFound is returned when no image in the store matches a reference.
var ErrNotFound = errors.New("no such image")

// Store is the image store, a directory laid out as
//
//	blobs/sha256/<hex>     manifests, configs and layer blobs, by digest, verified
//	layers/<chain>/fs      each layer unpacked once, keyed by its ChainID
//	layers/<chain>/link    the layer's short name under l/
//	l/<short>              -> ../layers/<chain>/fs: short lowerdir names
//	images/<id>.json       one record per image, id = config digest hex
//	names.json             image names (docker.io/library/busybox:latest) -> id
//	c/<id>/                a mounted rootfs: mount.json, upper/, work/, volumes/
//	bundles/<name>/        bundles that run --image makes, removed with their rootfs
//	tmp/                   downloads and unpacks in flight
//
// Nothing reaches blobs/ or layers/ before it is whole and verified: it is
// written under tmp/ and renamed in.
type Store struct {
	Root string
}

// OpenStore makes the store's directories when they are missing.
func OpenStore(root string) (*Store, error) {
	if root == "" {
		root = RootFromEnv()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &Store{Root: abs}
	for _, d := range []string{"blobs/sha256", "layers", "l", "images", "c", "bundles", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return s, nil
}

// Lock takes the store's lock: shared for pulls and mounts, which only
// add; exclusive for removals (rmi, prune), which must not take away what
// a pull has fetched but not yet recorded. The returned func releases it.
func (s *Store) Lock(exclusive bool) (func(), error) {
	return s.flock("lock", exclusive)
}

func (s *Store) flock(name string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Root, name), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image store: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// Layer is one layer of an image as the store keeps it.
type Layer struct {
	Digest       string `json:"digest"`    // the blob as fetched (compressed)
	DiffID       string `json:"diffID"`    // sha256 of the uncompressed tar
	ChainID      string `json:"chainID"`   // the key of its unpacked dir
	MediaType    string `json:"mediaType"` // of the blob
	Size         int64  `json:"size"`      // of the blob
	UnpackedSize int64  `json:"unpackedSize"`
}

// Image is the store's record of a pulled image.
type Image struct {
	ID             string    `json:"id"`             // config digest
	ManifestDigest string    `json:"manifestDigest"` // the manifest pulled
	Source         string    `json:"source"`         // the canonical reference it was pulled by
	OS             string    `json:"os"`
	Architecture   string    `json:"architecture"`
	Variant        string    `json:"variant,omitempty"`
	Created        time.Time `json:"created"`
	Pulled         time.Time `json:"pulled"`
	Layers         []Layer   `json:"layers"`
	// What earlier pulls of the same image stored under other digests
	// stays the image's: the same config (so the same id) comes as an OCI
	// and as a docker manifest, from a registry and from a docker archive
	// (whose layer blobs are the uncompressed tars), and a later pull must
	// not orphan what the earlier one fetched.
	OtherManifests []string `json:"otherManifests,omitempty"`
	OtherBlobs     []string `json:"otherBlobs,omitempty"` // layer blobs

	Names []string `json:"names,omitempty"` // filled in by the store when read
}

// blobs are the digests of every blob the image keeps: config, manifests,
// layer blobs.
func (im *Image) blobs() []string {
	out := append([]string{im.ID, im.ManifestDigest}, im.OtherManifests...)
	for _, l := range im.Layers {
		out = append(out, l.Digest)
	}
	return append(out, im.OtherBlobs...)
}

// mergeEarlier carries into rec what old, an earlier record of the same
// image, kept under other digests.
func mergeEarlier(rec, old *Image) {
	if old.ID != rec.ID {
		return
	}
	have := map[string]bool{"": true, rec.ManifestDigest: true}
	for _, l := range rec.Layers {
		have[l.Digest] = true
	}
	add := func(list *[]string, ds ...string) {
		for _, d := range ds {
			if !have[d] {
				have[d] = true
				*list = append(*list, d)
			}
		}
	}
	add(&rec.OtherManifests, append([]string{old.ManifestDigest}, old.OtherManifests...)...)
	for _, l := range old.Layers {
		add(&rec.OtherBlobs, l.Digest)
	}
	add(&rec.OtherBlobs, old.OtherBlobs...)
	sort.Strings(rec.OtherManifests)
	sort.Strings(rec.OtherBlobs)
}

// Size is the unpacked size of all its layers.
func (im *Image) Size() int64 {
	var n int64
	for _, l := range im.Layers {
		n += l.UnpackedSize
	}
	return n
}

// Platform is os/arch[/variant].
func (im *Image) Platform() string {
	p := im.OS + "/" + im.Architecture
	if im.Variant != "" {
		p += "/" + im.Variant
	}
	return p
}

// Hex is the hex part of a "sha256:..." digest.
func Hex(digest string) string {
	_, h, _ := strings.Cut(digest, ":")
	return h
}

// ChainIDs computes the ChainIDs of a stack of DiffIDs (image spec):
// ChainID(L0) = DiffID(L0), ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(n)).
func ChainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// BlobPath is where a verified blob lives.
func (s *Store) BlobPath(digest string) string {
	return filepath.Join(s.Root, "blobs", "sha256", Hex(digest))
}

// HasBlob reports whether the blob is stored.
func (s *Store) HasBlob(digest string) bool {
	_, err := os.Stat(s.BlobPath(digest))
	return err == nil
}

// ReadBlob returns a stored blob's content.
func (s *Store) ReadBlob(digest string) ([]byte, error) {
	if !validDigest(digest) {
		return nil, fmt.Errorf("invalid digest %q", digest)
	}
	return os.ReadFile(s.BlobPath(digest))
}

// DigestMismatchError is returned when content does not hash to the digest
// that named it.
type DigestMismatchError struct {
	Want, Got string
	Bytes     int64
}

func (e *DigestMismatchError) Error() string {
	return fmt.Sprintf("digest mismatch after %d bytes: got %s, want %s", e.Bytes, e.Got, e.Want)
}

// PutBlob stores r's content under digest: it is written to a temporary
// file, hashed on the way, checked against digest (and size, when >= 0),
// synced, and only then renamed into blobs/. A blob already present is not
// fetched again (r is not read).
func (s *Store) PutBlob(digest string, size int64, r io.Reader) error {
	if !validDigest(digest) {
		return fmt.Errorf("invalid digest %q", digest)
	}
	dst := s.BlobPath(digest)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Join(s.Root, "tmp"), "blob-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), r)
	if err != nil {
		tmp.Close()
		return err
	}
	got := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if got != digest {
		tmp.Close()
		return &DigestMismatchError{Want: digest, Got: got, Bytes: n}
	}
	if size >= 0 && n != size {
		tmp.Close()
		return fmt.Errorf("size mismatch: got %d bytes, want %d", n, size)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// TempDir makes a directory under tmp/ for work in flight.
func (s *Store) TempDir(prefix string) (string, error) {
	return os.MkdirTemp(filepath.Join(s.Root, "tmp"), prefix)
}

// LayerDir is the directory of an unpacked layer (its fs/ is the tree).
func (s *Store) LayerDir(chainID string) string {
	return filepath.Join(s.Root, "layers", Hex(chainID))
}

// HasLayer reports whether the layer is unpacked and linked.
func (s *Store) HasLayer(chainID string) bool {
	_, err := s.layerLink(chainID)
	return err == nil
}

func (s *Store) layerLink(chainID string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.LayerDir(chainID), "link"))
	if err != nil {
		return "", err
	}
	short := strings.TrimSpace(string(b))
	if _, err := os.Lstat(filepath.Join(s.Root, "l", short)); err != nil {
		return "", err
	}
	return short, nil
}

// AddLayer moves an unpacked tree (a directory under tmp/) into place as
// the layer chainID, with a short name under l/. When another pull got
// there first, the tree is removed and theirs kept.
func (s *Store) AddLayer(chainID, tree string, size int64) error {
	if s.HasLayer(chainID) {
		return os.RemoveAll(tree)
	}
	stage, err := s.TempDir("layer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage) // whatever did not make it
	if err := os.Rename(tree, filepath.Join(stage, "fs")); err != nil {
		return err
	}
	short, err := s.newShortLink(Hex(chainID))
	if err != nil {
		return err
	}
	meta := fmt.Sprintf("%d\n", size)
	if err := os.WriteFile(filepath.Join(stage, "size"), []byte(meta), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stage, "link"), []byte(short+"\n"), 0o600); err != nil {
		return err
	}
	dst := s.LayerDir(chainID)
	os.RemoveAll(dst) // a dir without its link is an unfinished one
	if err := os.Rename(stage, dst); err != nil {
		os.Remove(filepath.Join(s.Root, "l", short))
		if s.HasLayer(chainID) {
			return nil
		}
		return err
	}
	return nil
}

// newShortLink makes l/<short> -> ../layers/<hex>/fs with a fresh random
// short name: lowerdir lists of many layers must fit in one page of mount
// data, and a name of its own cannot collide with another image's layer.
func (s *Store) newShortLink(chainHex string) (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for range 10 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		for i := range b {
			b[i] = alphabet[int(b[i])%len(alphabet)]
		}
		short := string(b[:])
		err := os.Symlink(filepath.Join("..", "layers", chainHex, "fs"), filepath.Join(s.Root, "l", short))
		if err == nil {
			return short, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", errors.New("no free short layer name")
}

// SaveImage records an image whose blobs and layers are all in place, and
// points names at it (taking them from any image that had them).
func (s *Store) SaveImage(im *Image, names []string) error {
	unlock, err := s.flock("names.lock", true)
	if err != nil {
		return err
	}
	defer unlock()
	rec := *im
	rec.Names = nil
	rec.OtherManifests, rec.OtherBlobs = nil, nil
	if old, err := s.readImage(im.ID); err == nil {
		mergeEarlier(&rec, old)
	}
	b, err := json.MarshalIndent(&rec, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(s.Root, "images", Hex(im.ID)+".json"), append(b, '\n'), 0o600); err != nil {
		return err
	}
	nm, err := s.readNames()
	if err != nil {
		return err
	}
	for _, n := range names {
		nm[n] = im.ID
	}
	return s.writeNames(nm)
}

func (s *Store) readNames() (map[string]string, error) {
	nm := map[string]string{}
	b, err := os.ReadFile(filepath.Join(s.Root, "names.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nm, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &nm); err != nil {
		return nil, fmt.Errorf("image store: names.json: %w", err)
	}
	return nm, nil
}

func (s *Store) writeNames(nm map[string]string) error {
	b, err := json.MarshalIndent(nm, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.Root, "names.json"), append(b, '\n'), 0o600)
}

// Images lists every recorded image with its names, newest pull first.
func (s *Store) Images() ([]*Image, error) {
	nm, err := s.readNames()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(filepath.Join(s.Root, "images"))
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, e := range ents {
		hexID, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validHex(hexID) {
			continue
		}
		im, err := s.readImage("sha256:" + hexID)
		if err != nil {
			continue
		}
		for n, id := range nm {
			if id == im.ID {
				im.Names = append(im.Names, n)
			}
		}
		sort.Strings(im.Names)
		out = append(out, im)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pulled.After(out[j].Pulled) })
	return out, nil
}

func (s *Store) readImage(id string) (*Image, error) {
	b, err := os.ReadFile(filepath.Join(s.Root, "images", Hex(id)+".json"))
	if err != nil {
		return nil, err
	}
	var im Image
	if err := json.Unmarshal(b, &im); err != nil {
		return nil, fmt.Errorf("image store: image %s: %w", Hex(id)[:12], err)
	}
	return &im, nil
}

// Lookup finds an image by what a user types: a name as pulled (busybox,
// oci:dir:tag), a full or abbreviated id (at least 4 hex digits, with or
// without "sha256:"), or a manifest digest.
func (s *Store) Lookup(ref string) (*Image, error) {
	all, err := s.Images()
	if err != nil {
		return nil, err
	}
	if r, err := ParseRef(ref); err == nil {
		name := r.String()
		for _, im := range all {
			for _, n := range im.Names {
				if n == name {
					return im, nil
				}
			}
		}
	}
	id := strings.TrimPrefix(ref, "sha256:")
	if len(id) >= 4 && strings.Trim(id, "0123456789abcdef") == "" {
		var found []*Image
		for _, im := range all {
			if strings.HasPrefix(Hex(im.ID), id) || Hex(im.ManifestDigest) == id || slices.ContainsFunc(im.OtherManifests, func(d string) bool { return Hex(d) == id }) {
				found = append(found, im)
			}
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			return nil, fmt.Errorf("image id %s is ambiguous: %d images start with it", id, len(found))
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
}

// Config reads an image's config blob.
func (s *Store) Config(im *Image) (*ImageConfig, error) {
	b, err := s.ReadBlob(im.ID)
	if err != nil {
		return nil, err
	}
	var c ImageConfig
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("image %s: config: %w", Hex(im.ID)[:12], err)
	}
	return &c, nil
}
