// Package pull fetches images into the store with go-containerregistry:
// from a registry, an OCI layout directory or a `docker save` archive. It
// is linked only into the miniruntime-image helper, never into the binary
// that runs containers: the registry client brings net/http, TLS and x509,
// whose package initialisation every container start would pay for
// (docs/images.md has the numbers).
package pull

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/miniruntime/miniruntime/images"
	"github.com/miniruntime/miniruntime/images/layer"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sync/errgroup"
)

// Options for Pull.
type Options struct {
	Platform string // os/arch[/variant]; "" is this machine's
	Insecure bool   // plain HTTP (and unverified TLS) for a registry not on this machine
	Progress Progress
	Trace    *trace.Recorder
	Limits   layer.Limits // zero: layer.DefaultLimits
	Jobs     int          // layers fetched and unpacked at once; 0: 3
}

// Progress reports the transfer of each blob.
type Progress interface {
	// Layer starts the report of one blob; what is a short label.
	Layer(what string, size int64) Bar
	Wait()
}

// Bar is one blob's report.
type Bar interface {
	io.Writer // counts bytes
	Done(note string, err error)
}

// HostPlatform is this machine's platform, as images name it.
func HostPlatform() string {
	p := "linux/" + goruntime.GOARCH
	if goruntime.GOARCH == "arm" {
		p += "/v7"
	}
	if goruntime.GOARCH == "arm64" {
		p += "/v8"
	}
	return p
}

// parsePlatform accepts os/arch[/variant].
func parsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("--platform %q: want os/arch[/variant], as linux/amd64", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

func platformString(p *v1.Platform) string {
	if p == nil {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// matches is containerd's rule, simplified: os and architecture equal, and
// the variant when both name one (arm64's v8 is its only variant).
func matches(want v1.Platform, os, arch, variant string) bool {
	if os != want.OS || arch != want.Architecture {
		return false
	}
	if want.Variant == "" || variant == "" {
		return true
	}
	return variant == want.Variant
}

// source is an image to fetch, whatever the transport.
type source struct {
	img      v1.Image
	manifest []byte // raw manifest, nil for a docker archive
	digest   string // manifest digest, "" for a docker archive
	archive  bool   // layers come uncompressed, keyed by DiffID
	blobURL  func(digest string) string
}

// Pull fetches ref into the store and unpacks its layers, and returns the
// image's record. Every blob is verified against its digest and every
// layer against its DiffID before it is kept. On failure the store is as
// it was before: what this pull added and no image needs is removed.
func Pull(ctx context.Context, st *images.Store, ref string, o Options) (im *images.Image, err error) {
	r, err := images.ParseRef(ref)
	if err != nil {
		return nil, err
	}
	if o.Platform == "" {
		o.Platform = HostPlatform()
	}
	plat, err := parsePlatform(o.Platform)
	if err != nil {
		return nil, err
	}
	if o.Limits == (layer.Limits{}) {
		o.Limits = layer.DefaultLimits
	}
	if o.Jobs <= 0 {
		o.Jobs = 3
	}
	unlock, err := st.Lock(false)
	if err != nil {
		return nil, err
	}
	add := &added{}
	defer func() {
		unlock()
		if err != nil {
			// What this pull added and no image needs; nothing else.
			st.Discard(add.blobs, add.chains)
		}
	}()

	src, err := resolve(ctx, r, plat, o)
	if err != nil {
		return nil, err
	}
	rawCfg, err := src.img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("%s: read the image config: %s", r, oneLine(err))
	}
	sum := sha256.Sum256(rawCfg)
	id := "sha256:" + hex.EncodeToString(sum[:])
	var cfg images.ImageConfig
	if err := json.Unmarshal(rawCfg, &cfg); err != nil {
		return nil, fmt.Errorf("%s: the image config is not valid JSON: %v", r, err)
	}
	if !matches(plat, cfg.OS, cfg.Architecture, cfg.Variant) {
		return nil, fmt.Errorf("%s is an image for %s, not %s (choose another with --platform)", r, platformString(&v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}), o.Platform)
	}
	if src.manifest != nil {
		add.blob(st, src.digest)
		if err := st.PutBlob(src.digest, int64(len(src.manifest)), strings.NewReader(string(src.manifest))); err != nil {
			return nil, fmt.Errorf("%s: manifest: %w", r, err)
		}
	}
	o.Trace.Step("store the image config "+shortHex(id), "")
	add.blob(st, id)
	if err := st.PutBlob(id, int64(len(rawCfg)), strings.NewReader(string(rawCfg))); err != nil {
		return nil, fmt.Errorf("%s: config: %w", r, err)
	}

	layers, err := src.img.Layers()
	if err != nil {
		return nil, fmt.Errorf("%s: %s", r, oneLine(err))
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("%s: the manifest has %d layers and the config %d diff_ids", r, len(layers), len(cfg.RootFS.DiffIDs))
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("%s: the image has no layers", r)
	}
	chains := images.ChainIDs(cfg.RootFS.DiffIDs)
	rec := &images.Image{
		ID: id, ManifestDigest: src.digest, Source: r.String(),
		OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant,
		Pulled: time.Now().UTC(), Layers: make([]images.Layer, len(layers)),
	}
	if cfg.Created != nil {
		rec.Created = cfg.Created.UTC()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Jobs)
	for i, l := range layers {
		i, l := i, l
		g.Go(func() error {
			lr, err := fetchLayer(gctx, st, add, src, l, i, len(layers), cfg.RootFS.DiffIDs[i], chains[i], o)
			if err != nil {
				return fmt.Errorf("%s: layer %d of %d: %w", r, i+1, len(layers), err)
			}
			rec.Layers[i] = lr
			return nil
		})
	}
	err = g.Wait()
	if o.Progress != nil {
		o.Progress.Wait()
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.Trace.Step("record the image "+shortHex(id)+" as "+r.String(), "")
	if err := st.SaveImage(rec, []string{r.String()}); err != nil {
		return nil, err
	}
	rec.Names = []string{r.String()}
	return rec, nil
}

// resolve finds the image ref names for the platform.
func resolve(ctx context.Context, r images.Ref, plat v1.Platform, o Options) (*source, error) {
	switch r.Transport {
	case images.OCILayout:
		o.Trace.Step("resolve "+r.String()+" in the layout's index.json", trace.Quote("cat", r.File+"/index.json"))
		return resolveLayout(r, plat)
	case images.DockerArchive:
		o.Trace.Step("resolve "+r.String()+" in the archive's manifest.json", trace.Quote("tar", "-xOf", r.File, "manifest.json"))
		return resolveArchive(r)
	}
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.ParseReference(r.String(), nopts...)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %v", r.String(), err)
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(plat),
		remote.WithUserAgent("miniruntime"),
	}
	if o.Insecure {
		ropts = append(ropts, remote.WithTransport(insecureTransport()))
	} else {
		ropts = append(ropts, remote.WithTransport(localPlainHTTP()))
	}
	shell := []string{"skopeo", "inspect", "--raw"}
	if o.Insecure || ref.Context().Scheme() == "http" {
		shell = append(shell, "--tls-verify=false")
	}
	o.Trace.Step("resolve "+r.String()+" at "+ref.Context().RegistryStr(), trace.Quote(append(shell, "docker://"+r.String())...))
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, registryError(r, err)
	}
	var img v1.Image
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, registryError(r, err)
		}
		d, err := pickPlatform(r, idx, plat)
		if err != nil {
			return nil, err
		}
		o.Trace.Step(fmt.Sprintf("the index names %s for %s", shortHex(d.Digest.String()), platformString(d.Platform)), "")
		if img, err = idx.Image(d.Digest); err != nil {
			return nil, registryError(r, err)
		}
	} else if img, err = desc.Image(); err != nil {
		return nil, registryError(r, err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, registryError(r, err)
	}
	dg, err := img.Digest()
	if err != nil {
		return nil, registryError(r, err)
	}
	scheme := ref.Context().Scheme()
	reg := ref.Context().RegistryStr()
	repo := ref.Context().RepositoryStr()
	return &source{img: img, manifest: raw, digest: dg.String(), blobURL: func(d string) string {
		return scheme + "://" + reg + "/v2/" + repo + "/blobs/" + d
	}}, nil
}

func registryError(r images.Ref, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return fmt.Errorf("%s: no such image in the registry (%s)", r, strings.ToLower(string(d.Code)))
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%s: the registry refused access (%s): log in with docker login or podman login", r, strings.ToLower(string(d.Code)))
			}
		}
		if te.StatusCode == 404 {
			return fmt.Errorf("%s: no such image in the registry", r)
		}
	}
	return fmt.Errorf("%s: %s", r, oneLine(err))
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

type index interface {
	IndexManifest() (*v1.IndexManifest, error)
}

func pickPlatform(r images.Ref, idx index, plat v1.Platform) (*v1.Descriptor, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: %s", r, oneLine(err))
	}
	var have []string
	for i := range im.Manifests {
		d := &im.Manifests[i]
		if !d.MediaType.IsImage() {
			continue
		}
		p := d.Platform
		if p == nil {
			have = append(have, "unknown")
			continue
		}
		if matches(plat, p.OS, p.Architecture, p.Variant) {
			return d, nil
		}
		have = append(have, platformString(p))
	}
	sort.Strings(have)
	return nil, fmt.Errorf("%s has no image for %s (it has %s; choose with --platform)", r, platformString(&plat), strings.Join(have, ", "))
}

func resolveLayout(r images.Ref, plat v1.Platform) (*source, error) {
	if _, err := os.Stat(r.File + "/index.json"); err != nil {
		return nil, fmt.Errorf("%s: not an OCI layout (no index.json)", r)
	}
	lp, err := layout.FromPath(r.File)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", r, oneLine(err))
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("%s: %s", r, oneLine(err))
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: index.json: %s", r, oneLine(err))
	}
	var chosen *v1.Descriptor
	var tags []string
	for i := range im.Manifests {
		d := &im.Manifests[i]
		tag := d.Annotations["org.opencontainers.image.ref.name"]
		if tag != "" {
			tags = append(tags, tag)
		}
		if r.Select != "" && tag == r.Select {
			chosen = d
		}
	}
	switch {
	case r.Select == "" && len(im.Manifests) == 1:
		chosen = &im.Manifests[0]
	case r.Select == "" && len(im.Manifests) == 0:
		return nil, fmt.Errorf("%s: the layout holds no image", r)
	case r.Select == "":
		return nil, fmt.Errorf("%s holds %d images: name one as oci:DIR:TAG (tags: %s)", r, len(im.Manifests), strings.Join(tags, ", "))
	case chosen == nil:
		return nil, fmt.Errorf("%s: no image tagged %q in the layout (tags: %s)", r, r.Select, strings.Join(tags, ", "))
	}
	if chosen.MediaType.IsIndex() {
		child, err := idx.ImageIndex(chosen.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", r, oneLine(err))
		}
		if chosen, err = pickPlatform(r, child, plat); err != nil {
			return nil, err
		}
		img, err := child.Image(chosen.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", r, oneLine(err))
		}
		return layoutSource(r, img, chosen)
	}
	img, err := idx.Image(chosen.Digest)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", r, oneLine(err))
	}
	return layoutSource(r, img, chosen)
}

func layoutSource(r images.Ref, img v1.Image, d *v1.Descriptor) (*source, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: manifest: %s", r, oneLine(err))
	}
	return &source{img: img, manifest: raw, digest: d.Digest.String(), blobURL: func(dg string) string {
		return r.File + "/blobs/sha256/" + images.Hex(dg)
	}}, nil
}

func resolveArchive(r images.Ref) (*source, error) {
	var tag *name.Tag
	if r.Select != "" {
		t, err := name.NewTag(r.Select)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not an image name: %v", r, r.Select, err)
		}
		tag = &t
	}
	if _, err := os.Stat(r.File); err != nil {
		return nil, fmt.Errorf("%s: %v", r, err)
	}
	img, err := tarball.ImageFromPath(r.File, tag)
	if err != nil {
		return nil, fmt.Errorf("%s: not a docker save archive, or not the image named: %s", r, oneLine(err))
	}
	return &source{img: img, archive: true}, nil
}

// fetchLayer stores the layer's blob (unless present) and unpacks it
// (unless its ChainID is already unpacked).
func fetchLayer(ctx context.Context, st *images.Store, add *added, src *source, l v1.Layer, i, n int, diffID, chain string, o Options) (images.Layer, error) {
	lr := images.Layer{DiffID: diffID, ChainID: chain}
	var rc func() (io.ReadCloser, error)
	if src.archive {
		lr.Digest, lr.MediaType, lr.Size = diffID, "application/vnd.oci.image.layer.v1.tar", -1
		rc = l.Uncompressed
	} else {
		d, err := l.Digest()
		if err != nil {
			return lr, errors.New(oneLine(err))
		}
		mt, _ := l.MediaType()
		size, err := l.Size()
		if err != nil {
			return lr, errors.New(oneLine(err))
		}
		lr.Digest, lr.MediaType, lr.Size = d.String(), string(mt), size
		rc = l.Compressed
	}
	label := fmt.Sprintf("layer %d/%d %s", i+1, n, shortHex(lr.Digest))
	if st.HasLayer(chain) {
		if b, err := os.ReadFile(st.LayerDir(chain) + "/size"); err == nil {
			fmt.Sscan(strings.TrimSpace(string(b)), &lr.UnpackedSize)
		}
		o.Trace.Step(label+": already unpacked as "+shortHex(chain), "")
		if o.Progress != nil {
			o.Progress.Layer(label, 0).Done("already unpacked", nil)
		}
		return lr, nil
	}
	var bar Bar
	if o.Progress != nil {
		bar = o.Progress.Layer(label, lr.Size)
	}
	done := func(note string, err error) {
		if bar != nil {
			bar.Done(note, err)
		}
	}
	if !st.HasBlob(lr.Digest) {
		shell := ""
		if src.blobURL != nil {
			if strings.HasPrefix(src.blobURL(lr.Digest), "http") {
				shell = trace.Quote("curl", "-fsSL", "-o", st.BlobPath(lr.Digest), src.blobURL(lr.Digest)) + " && sha256sum " + trace.Quote(st.BlobPath(lr.Digest))
			} else {
				shell = trace.Quote("cp", src.blobURL(lr.Digest), st.BlobPath(lr.Digest)) + " && sha256sum " + trace.Quote(st.BlobPath(lr.Digest))
			}
		}
		o.Trace.Step(fmt.Sprintf("fetch %s (%s), verify its digest", label, humanSize(lr.Size)), shell)
		add.blob(st, lr.Digest)
		body, err := rc()
		if err != nil {
			done("", err)
			return lr, errors.New(oneLine(err))
		}
		var w io.Reader = body
		if bar != nil {
			w = io.TeeReader(body, bar)
		}
		err = st.PutBlob(lr.Digest, lr.Size, ctxReader{ctx, w})
		body.Close()
		if err != nil {
			done("", err)
			return lr, errors.New(oneLine(err))
		}
	}
	tmp, err := st.TempDir("unpack-")
	if err != nil {
		done("", err)
		return lr, err
	}
	defer os.RemoveAll(tmp) // a no-op once moved into place
	tree := tmp + "/fs"
	if err := os.Mkdir(tree, 0o755); err != nil {
		done("", err)
		return lr, err
	}
	o.Trace.Step(fmt.Sprintf("unpack %s, whiteouts to overlayfs's, check its DiffID", label),
		decompressShell(lr.MediaType)+trace.Quote(st.BlobPath(lr.Digest))+" | tee >(sha256sum >&2) | "+trace.Quote("tar", "-xp", "-C", st.LayerDir(chain)+"/fs"))
	stats, err := unpackBlob(ctx, st.BlobPath(lr.Digest), tree, diffID, o.Limits)
	if err != nil {
		done("", err)
		var re *layer.RefusedError
		if errors.As(err, &re) {
			return lr, fmt.Errorf("refused: %w", err)
		}
		return lr, err
	}
	lr.UnpackedSize = stats.Bytes
	add.chain(chain)
	if err := st.AddLayer(chain, tree, stats.Bytes); err != nil {
		done("", err)
		return lr, err
	}
	note := fmt.Sprintf("%d entries, %s", stats.Entries, humanSize(stats.Bytes))
	if stats.Whiteouts+stats.Opaques > 0 {
		note += fmt.Sprintf(", %d whiteouts, %d opaque dirs", stats.Whiteouts, stats.Opaques)
	}
	done(note, nil)
	return lr, nil
}

func decompressShell(mt string) string {
	switch {
	case strings.HasSuffix(mt, "zstd"):
		return "zstdcat "
	case strings.HasSuffix(mt, "gzip"):
		return "zcat "
	}
	return "cat "
}

// added is what one pull put into the store, for it to take back when it
// fails. A blob is counted when it was missing before the pull stored it.
type added struct {
	mu            sync.Mutex
	blobs, chains []string
}

func (a *added) blob(st *images.Store, digest string) {
	if st.HasBlob(digest) {
		return
	}
	a.mu.Lock()
	a.blobs = append(a.blobs, digest)
	a.mu.Unlock()
}

func (a *added) chain(chain string) {
	a.mu.Lock()
	a.chains = append(a.chains, chain)
	a.mu.Unlock()
}

// ctxReader stops a copy when the pull is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// unpackBlob decompresses (by the stream's magic number: gzip, zstd or a
// plain tar), hashes and unpacks one stored layer blob.
func unpackBlob(ctx context.Context, blob, dir, diffID string, lim layer.Limits) (layer.UnpackStats, error) {
	f, err := os.Open(blob)
	if err != nil {
		return layer.UnpackStats{}, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return layer.UnpackStats{}, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	case len(magic) == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return layer.UnpackStats{}, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	h := sha256.New()
	hr := &hashReader{r: ctxReader{ctx, r}, h: h}
	stats, err := layer.Unpack(hr, dir, lim)
	if err != nil {
		return stats, err
	}
	if _, err := io.Copy(io.Discard, hr); err != nil { // the tar's padding counts too
		return stats, fmt.Errorf("reading the layer: %w", err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != diffID {
		return stats, fmt.Errorf("its content hashes to %s, the image config says %s", got, diffID)
	}
	return stats, nil
}

type hashReader struct {
	r io.Reader
	h hash.Hash
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

func shortHex(d string) string {
	h := images.Hex(d)
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

func humanSize(n int64) string {
	switch {
	case n < 0:
		return "size unknown"
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}
