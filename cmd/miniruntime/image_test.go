package main

// Images, end to end: images built here in Go (or by skopeo and umoci from
// local files), served by go-containerregistry's in-process registry on
// 127.0.0.1, pulled by the real binary and its helper, run, and removed;
// and every kind of bad input failing with one line and leaving nothing.

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/miniruntime/miniruntime/images"
)

var helperOnce sync.Once

// useHelper builds miniruntime-image once and points the binary at it;
// with a binary built elsewhere (MINIRUNTIME_TEST_BINARY, the cgroup v2
// guest, which compiles nothing) it uses the helper beside that binary.
func useHelper(t *testing.T) {
	t.Helper()
	if b := os.Getenv("MINIRUNTIME_TEST_BINARY"); b != "" {
		p := filepath.Join(filepath.Dir(b), "miniruntime-image")
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no miniruntime-image beside %s (scripts/setup.sh builds it)", b)
		}
		os.Setenv("MINIRUNTIME_IMAGE_HELPER", p)
		return
	}
	helperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "miniruntime-image-bin")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "miniruntime-image")
		if out, err := exec.Command("go", "build", "-o", p, "../miniruntime-image").CombinedOutput(); err != nil {
			t.Fatalf("build miniruntime-image: %v\n%s", err, out)
		}
		os.Setenv("MINIRUNTIME_IMAGE_HELPER", p)
	})
}

// tarEntry is one file of a test layer.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
}

func tf(name, body string) tarEntry {
	return tarEntry{name: name, body: body, typ: tar.TypeReg, mode: 0o644}
}
func td(name string) tarEntry { return tarEntry{name: name, typ: tar.TypeDir, mode: 0o755} }
func tl(name, to string) tarEntry {
	return tarEntry{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func th(name, to string) tarEntry { return tarEntry{name: name, link: to, typ: tar.TypeLink} }

func tarOf(t *testing.T, ents []tarEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body)),
			Uid: e.uid, Gid: e.gid, ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	return b.Bytes()
}

func testLayer(t *testing.T, ents ...tarEntry) v1.Layer {
	t.Helper()
	raw := tarOf(t, ents)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// busyboxLayer is a base layer: the host's static busybox and the applets
// the tests use, /etc/passwd and /etc/group with a non-root user in two
// groups, and directories for the upper layers to change.
func busyboxLayer(t *testing.T) v1.Layer {
	t.Helper()
	bb, err := os.ReadFile(images.BusyboxPath)
	if err != nil {
		t.Skip("needs busybox-static")
	}
	ents := []tarEntry{td("bin"), {name: "bin/busybox", body: string(bb), typ: tar.TypeReg, mode: 0o755}}
	for _, a := range []string{"sh", "cat", "ls", "id", "pwd", "echo", "readlink", "stat", "touch", "test", "true", "sleep", "env"} {
		ents = append(ents, tl("bin/"+a, "busybox"))
	}
	ents = append(ents, td("etc"),
		tf("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"),
		tf("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\nother:x:3000:root\n"),
		td("data"), tf("data/a", "a\n"), tf("data/b", "b\n"),
		td("opq"), tf("opq/old1", ""), tf("opq/old2", ""),
		td("gone"), tf("gone/x", ""),
		td("tmp"), td("proc"), td("dev"), td("sys"))
	return testLayer(t, ents...)
}

func configured(t *testing.T, img v1.Image, edit func(*v1.ConfigFile)) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	edit(cf)
	out, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// multiLayer is the image the tests run: three layers with deletions,
// an opaque directory, hard links and symlinks, a volume with content, a
// non-root user and a working dir.
func multiLayer(t *testing.T) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image,
		busyboxLayer(t),
		testLayer(t,
			tf("data/.wh.a", ""),                     // delete a file
			tf(".wh.gone", ""),                       // delete a directory
			tf("opq/new", "new\n"),                   // written before its marker...
			tf("opq/.wh..wh..opq", ""),               // ...which still hides old1 and old2
			tf("f2", "linked\n"), th("f2link", "f2"), // a hard link
			tl("link", "/data/b"),                 // an absolute symlink
			td("vol"), tf("vol/seed", "seeded\n"), // a volume's content
		),
		testLayer(t,
			tarEntry{name: "work", typ: tar.TypeDir, mode: 0o755, uid: 1000, gid: 1000},
			tarEntry{name: "work/hello", body: "hello\n", typ: tar.TypeReg, mode: 0o644, uid: 1000, gid: 1000},
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	return configured(t, img, func(c *v1.ConfigFile) {
		c.Config.User = "app"
		c.Config.WorkingDir = "/work"
		c.Config.Env = []string{"FOO=bar"}
		c.Config.Entrypoint = []string{"/bin/sh", "-c"}
		c.Config.Cmd = []string{"echo default command"}
		c.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}, "53/udp": {}}
		c.Config.Volumes = map[string]struct{}{"/vol": {}}
		c.Config.Labels = map[string]string{"org.example.test": "yes"}
	})
}

// testRegistry serves images on 127.0.0.1; corrupt, when it names a blob
// digest, makes that blob's download come out damaged.
type testRegistry struct {
	host    string
	mu      sync.Mutex
	corrupt map[string]string // digest -> "flip" or "truncate"
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{corrupt: map[string]string{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		var how string
		for d, h := range r.corrupt {
			if strings.HasSuffix(req.URL.Path, "/blobs/"+d) && req.Method == http.MethodGet {
				how = h
			}
		}
		r.mu.Unlock()
		if how == "" {
			h.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if how == "flip" {
			body[len(body)/2] ^= 0xff
		} else {
			body = body[:len(body)/2]
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) push(t *testing.T, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(r.host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return ref.String()
}

// imageEnv is a test env with an image store of its own.
type imageEnv struct {
	*env
	store string
}

func newImageEnv(t *testing.T) *imageEnv {
	t.Helper()
	e := newEnv(t)
	useHelper(t)
	ie := &imageEnv{env: e, store: filepath.Join(t.TempDir(), "images")}
	t.Cleanup(ie.checkStoreClean)
	return ie
}

// img runs an image command with the test's store.
func (e *imageEnv) img(args ...string) result {
	e.t.Helper()
	n := 1
	if args[0] == "image" {
		n = 2
	}
	with := append(append(append([]string{}, args[:n]...), "--image-root", e.store), args[n:]...)
	return e.mr(with...)
}

// runImage is run --image REF ID -- CMD.
func (e *imageEnv) runImage(ref, id string, cmd ...string) result {
	e.t.Helper()
	args := []string{"run", "--image-root", e.store, "--image", ref, id}
	if len(cmd) > 0 {
		args = append(append(args, "--"), cmd...)
	}
	return e.mr(args...)
}

// checkStoreClean: no rootfs left mounted, no mount records, no bundles,
// nothing in flight.
func (e *imageEnv) checkStoreClean() {
	t := e.t
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(mi), e.store) {
		t.Errorf("leak: a mount under %s", e.store)
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], e.store) {
				exec.Command("umount", "-l", f[4]).Run()
			}
		}
	}
	for _, d := range []string{"c", "bundles", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(e.store, d)); len(ents) > 0 {
			t.Errorf("leak: %s/%s holds %d entries", e.store, d, len(ents))
		}
	}
}

// listing is every path of the store with its type and, for a file,
// its size.
func (e *imageEnv) listing() string {
	var b strings.Builder
	filepath.WalkDir(e.store, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v", strings.TrimPrefix(p, e.store), fi.Mode().Type())
		if fi.Mode().IsRegular() {
			fmt.Fprintf(&b, " %d", fi.Size())
		}
		b.WriteByte('\n')
		return nil
	})
	return b.String()
}

func (e *imageEnv) count(dir string) int {
	ents, _ := os.ReadDir(filepath.Join(e.store, dir))
	return len(ents)
}

// oneLine checks a failure: exit 1 and one error line with want (the
// pull's progress lines for layers that were fine may come before it).
func oneLine(t *testing.T, r result, want string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !strings.HasPrefix(l, "pull: ") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("stderr %q: want one line with %q", r.stderr, want)
	}
}

// TestImageRunMultiLayer: a three-layer image from a registry runs with
// the filesystem its layers make (deletions, an opaque dir, links, a
// volume with the image's content) and the process its config makes (a
// non-root user with its groups, the working dir, Env plus a default
// PATH, Entrypoint with Cmd replaced); a second container shares the
// unpacked layers; each rootfs is its own; nothing is left.
func TestImageRunMultiLayer(t *testing.T) {
	e := newImageEnv(t)
	reg := newRegistry(t)
	ref := reg.push(t, "test/multi:v1", multiLayer(t))

	r := e.img("pull", "--progress", "lines", ref)
	if r.code != 0 {
		t.Fatalf("pull: %d %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "layer 3/3") || !strings.Contains(r.stderr, "whiteouts") {
		t.Errorf("pull's progress lines: %s", r.stderr)
	}
	script := `id -u; id -g; id -G; pwd; echo "$FOO|$PATH"; ls /data; ls /opq; test -e /gone && echo gone-present;
cat /f2link; stat -c %h /f2; readlink /link; cat /link; cat /vol/seed; stat -c %u:%g /work/hello; touch /work/mine && echo wrote`
	r = e.runImage(ref, "multi1", script)
	if r.code != 0 {
		t.Fatalf("run: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	want := "1000\n1000\n1000 2000\n/work\nbar|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nb\nnew\nlinked\n2\n/data/b\nb\nseeded\n1000:1000\nwrote\n"
	if r.stdout != want {
		t.Fatalf("container saw:\n%s\nwant:\n%s\nstderr: %s", r.stdout, want, r.stderr)
	}
	// The default command: Entrypoint + Cmd.
	r = e.runImage(ref, "multi2")
	if r.code != 0 || r.stdout != "default command\n" {
		t.Fatalf("default command: %d %q %s", r.code, r.stdout, r.stderr)
	}
	// A cached image: nothing fetched or unpacked again; a second
	// container does not see the first one's files.
	layers, blobs := e.count("layers"), e.count("blobs/sha256")
	r = e.runImage("test/multi:v1", "multi3", "ls /work")
	if r.code == 0 {
		t.Fatal("a bare name resolved to the local registry's image")
	}
	r = e.runImage(ref, "multi3", "ls /work")
	if r.code != 0 || r.stdout != "hello\n" {
		t.Fatalf("second container: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if e.count("layers") != layers || e.count("blobs/sha256") != blobs || layers != 3 {
		t.Fatalf("layers %d->%d, blobs %d->%d", layers, e.count("layers"), blobs, e.count("blobs/sha256"))
	}
	// Listing and inspecting.
	var list []struct {
		Id    string
		Names []string
		Size  int64
	}
	out := e.img("images", "--format", "json")
	if err := json.Unmarshal([]byte(out.stdout), &list); err != nil || len(list) != 1 || list[0].Names[0] != ref || list[0].Size == 0 {
		t.Fatalf("images: %v %s", err, out.stdout)
	}
	if tab := e.img("images").stdout; !strings.Contains(tab, reg.host+"/test/multi") || !strings.Contains(tab, "v1") {
		t.Fatalf("images table:\n%s", tab)
	}
	var insp []struct {
		Layers []images.Layer
		Config struct{ Config v1.Config }
	}
	out = e.img("image", "inspect", ref)
	if err := json.Unmarshal([]byte(out.stdout), &insp); err != nil || len(insp) != 1 || len(insp[0].Layers) != 3 || insp[0].Config.Config.User != "app" {
		t.Fatalf("inspect: %v %s", err, out.stdout)
	}
	// rmi removes the image and everything only it needed.
	if r := e.img("rmi", ref); r.code != 0 {
		t.Fatalf("rmi: %s", r.stderr)
	}
	if e.count("layers") != 0 || e.count("blobs/sha256") != 0 || e.count("images") != 0 || e.count("l") != 0 {
		t.Fatalf("after rmi: layers %d blobs %d images %d links %d", e.count("layers"), e.count("blobs/sha256"), e.count("images"), e.count("l"))
	}
}

// TestImageBundleAndConfig: bundle --image writes the converted config
// (annotations, exposed ports, volume mount, user, cwd) and mounts the
// rootfs until image umount; --copy makes a plain copy; rmi refuses an
// image whose rootfs is mounted.
func TestImageBundleAndConfig(t *testing.T) {
	e := newImageEnv(t)
	reg := newRegistry(t)
	ref := reg.push(t, "test/multi:v1", multiLayer(t))
	dir := filepath.Join(t.TempDir(), "b")
	r := e.mr("--trace", "bundle", "--image-root", e.store, "--image", ref, "-b", dir)
	if r.code != 0 {
		t.Fatalf("bundle: %s", r.stderr)
	}
	for _, want := range []string{"resolve " + ref, "fetch layer 1/3", "unpack layer 3/3", "mount -t overlay overlay -o lowerdir=l/", ",upperdir=c/", dir + "/rootfs"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("trace lacks %q:\n%s", want, r.stderr)
		}
	}
	var spec struct {
		Process struct {
			Args []string
			Env  []string
			Cwd  string
			User struct {
				UID, GID       uint32
				AdditionalGids []uint32
			}
		}
		Root        struct{ Readonly bool }
		Annotations map[string]string
		Mounts      []struct{ Destination, Source, Type string }
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	if strings.Join(p.Args, " ") != "/bin/sh -c echo default command" || p.Cwd != "/work" || p.User.UID != 1000 || p.User.GID != 1000 ||
		len(p.User.AdditionalGids) != 1 || p.User.AdditionalGids[0] != 2000 || spec.Root.Readonly {
		t.Errorf("process: %+v", p)
	}
	a := spec.Annotations
	if a["org.opencontainers.image.exposedPorts"] != "53/udp,8080/tcp" || a["org.opencontainers.image.architecture"] != "amd64" ||
		a["org.opencontainers.image.os"] != "linux" || a["org.example.test"] != "yes" {
		t.Errorf("annotations: %v", a)
	}
	vol := false
	for _, m := range spec.Mounts {
		if m.Destination == "/vol" && m.Type == "bind" && strings.HasPrefix(m.Source, e.store) {
			vol = true
		}
	}
	if !vol {
		t.Errorf("no /vol mount: %+v", spec.Mounts)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs/work/hello")); err != nil {
		t.Fatal("the rootfs is not mounted")
	}
	if r := e.img("rmi", ref); r.code != 1 || !strings.Contains(r.stderr, "image in use") {
		t.Fatalf("rmi of a mounted image: %d %s", r.code, r.stderr)
	}
	// runc's way: run the bundle by id.
	r = e.mr("run", "-b", dir, "fromBundle")
	if r.code != 0 || r.stdout != "default command\n" {
		t.Fatalf("run -b: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := e.img("image", "umount", dir); r.code != 0 {
		t.Fatalf("image umount: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs/work")); err == nil {
		t.Fatal("still mounted")
	}
	// --copy: a plain directory, no mount.
	cdir := filepath.Join(t.TempDir(), "c")
	if r := e.mr("bundle", "--image-root", e.store, "--image", ref, "--copy", "-b", cdir, "--", "cat", "/opq/new"); r.code != 0 {
		t.Fatalf("bundle --copy: %s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(cdir, "rootfs/data/a")); err == nil {
		t.Fatal("the copy holds a deleted file")
	}
	if ents, _ := os.ReadDir(filepath.Join(cdir, "rootfs/opq")); len(ents) != 1 {
		t.Fatalf("the copy's opaque dir holds %v", ents)
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), cdir) {
		t.Fatal("--copy left a mount")
	}
	if r := e.img("image", "prune", "-a"); r.code != 0 || e.count("layers") != 0 {
		t.Fatalf("prune -a: %s, %d layers left", r.stderr, e.count("layers"))
	}
}

// TestImageBadInput: each fails with one line and exit 1, and leaves the
// store as it was.
func TestImageBadInput(t *testing.T) {
	e := newImageEnv(t)
	reg := newRegistry(t)
	good := multiLayer(t)
	ref := reg.push(t, "test/multi:v1", good)
	arm := configured(t, good, func(c *v1.ConfigFile) { c.Architecture = "arm64" })
	armRef := reg.push(t, "test/arm:v1", arm)
	nocmd := configured(t, good, func(c *v1.ConfigFile) { c.Config.Entrypoint, c.Config.Cmd = nil, nil })
	nocmdRef := reg.push(t, "test/nocmd:v1", nocmd)
	hostile, _ := mutate.AppendLayers(empty.Image, busyboxLayer(t), testLayer(t, tf("../../escape", "x")))
	hostileRef := reg.push(t, "test/hostile:v1", configured(t, hostile, func(c *v1.ConfigFile) { c.Config.Cmd = []string{"true"} }))
	nouser := configured(t, good, func(c *v1.ConfigFile) { c.Config.User = "nobody-here" })
	nouserRef := reg.push(t, "test/nouser:v1", nouser)
	// An image two of whose blobs the registry damages: one flipped, one
	// cut short.
	flipped, truncated := testLayer(t, tf("flipped", strings.Repeat("f", 4096))), testLayer(t, tf("truncated", strings.Repeat("t", 4096)))
	damaged, _ := mutate.AppendLayers(empty.Image, busyboxLayer(t), flipped, truncated)
	flipRef := reg.push(t, "test/flip:v1", configured(t, damaged, func(c *v1.ConfigFile) { c.Config.Cmd = []string{"true"} }))
	fd, _ := flipped.Digest()
	td, _ := truncated.Digest()
	reg.mu.Lock()
	reg.corrupt[fd.String()] = "flip"
	reg.corrupt[td.String()] = "truncate"
	reg.mu.Unlock()
	// The store is not empty: the good image, pulled from the registry
	// and again from a docker archive (the same id, other layer blobs).
	// A failed pull must leave every file of it as it was.
	tag, _ := name.NewTag("local/multi:v1")
	archive := filepath.Join(t.TempDir(), "multi.tar")
	if err := tarball.WriteToFile(archive, tag, good); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{ref, "docker-archive:" + archive} {
		if r := e.img("pull", "--progress", "none", src); r.code != 0 {
			t.Fatalf("pull %s: %s", src, r.stderr)
		}
	}
	before := e.listing()
	// An image with layers not yet in the store, damaged on disk: in an
	// OCI layout with a byte of a layer blob flipped, and as a docker
	// archive cut short.
	dmg := configured(t, damaged, func(c *v1.ConfigFile) { c.Config.Cmd = []string{"true"} })
	lay := filepath.Join(t.TempDir(), "layout")
	lp, err := layout.Write(lay, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(dmg, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "v1"})); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(lay, "blobs", fd.Algorithm, fd.Hex)
	bb, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	bb[len(bb)/2] ^= 0xff
	if err := os.WriteFile(blob, bb, 0o644); err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.tar")
	if err := tarball.WriteToFile(cut, tag, dmg); err != nil {
		t.Fatal(err)
	}
	ab, _ := os.ReadFile(cut)
	if err := os.WriteFile(cut, ab[:len(ab)/2], 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"malformed reference", []string{"pull", "Foo//Bar"}, "invalid image reference"},
		{"malformed digest", []string{"pull", "busybox@sha256:abc"}, "invalid image reference"},
		{"unknown tag", []string{"pull", reg.host + "/test/multi:nope"}, "no such image"},
		{"unknown repository", []string{"pull", reg.host + "/test/none:v1"}, "no such image"},
		{"wrong digest", []string{"pull", reg.host + "/test/multi@sha256:" + strings.Repeat("0", 64)}, "no such image"},
		{"corrupt and truncated layers", []string{"pull", flipRef}, "test/flip:v1: layer "},
		{"another architecture", []string{"pull", armRef}, "linux/arm64, not linux/amd64"},
		{"hostile layer", []string{"pull", hostileRef}, "layer 2 of 2: refused: entry \"../../escape\": leaves the layer"},
		{"oci layout with a corrupt layer", []string{"pull", "oci:" + lay + ":v1"}, ":v1: layer 2 of 3: digest mismatch"},
		{"docker archive cut short", []string{"pull", "docker-archive:" + cut}, "cut.tar: "},
		{"oci layout missing", []string{"pull", "oci:/nonexistent/layout:v1"}, "not an OCI layout"},
		{"docker archive missing", []string{"pull", "docker-archive:/nonexistent.tar"}, "no such file"},
		{"no command", []string{"run", "--image", nocmdRef, "nocmd"}, "the image has no command"},
		{"unknown user", []string{"run", "--image", nouserRef, "nouser"}, `no user "nobody-here"`},
		{"pull never", []string{"run", "--pull", "never", "--image", armRef, "never"}, "no such image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{c.args[0], "--image-root", e.store}, c.args[1:]...)
			r := e.mr(args...)
			oneLine(t, r, c.want)
			if c.args[0] == "pull" {
				if after := e.listing(); after != before {
					t.Errorf("the failed pull changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			}
		})
	}
	if r := e.img("image", "prune", "-a"); r.code != 0 {
		t.Fatal(r.stderr)
	}
}

// TestImageLocalTransports: images made by umoci from local files (with a
// deletion in a second layer) run from an OCI layout and, converted by
// skopeo, from a docker save archive.
func TestImageLocalTransports(t *testing.T) {
	for _, tool := range []string{"umoci", "skopeo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install skopeo umoci)", tool)
		}
	}
	e := newImageEnv(t)
	work := t.TempDir()
	lay, ub := filepath.Join(work, "layout"), filepath.Join(work, "unpacked")
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("umoci", "init", "--layout", lay)
	sh("umoci", "new", "--image", lay+":v1")
	sh("umoci", "unpack", "--image", lay+":v1", ub)
	rootfs := filepath.Join(ub, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755)
	sh("cp", images.BusyboxPath, filepath.Join(rootfs, "bin/busybox"))
	for _, a := range []string{"sh", "ls", "cat"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/old"), []byte("old\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc/keep"), []byte("keep\n"), 0o644)
	sh("umoci", "repack", "--image", lay+":v1", ub)
	// umoci repacks on top of what was unpacked: unpack the new image again
	// for a second layer, which deletes a file of the first.
	ub2 := filepath.Join(work, "unpacked2")
	sh("umoci", "unpack", "--image", lay+":v1", ub2)
	os.Remove(filepath.Join(ub2, "rootfs/etc/old"))
	sh("umoci", "repack", "--image", lay+":v1", ub2)
	sh("umoci", "config", "--image", lay+":v1", "--config.cmd", "ls", "--config.cmd", "/etc")
	arch := filepath.Join(work, "image.tar")
	sh("skopeo", "copy", "oci:"+lay+":v1", "docker-archive:"+arch+":local/test:v1")

	for _, ref := range []string{"oci:" + lay + ":v1", "docker-archive:" + arch} {
		r := e.runImage(ref, "local")
		if r.code != 0 || r.stdout != "keep\n" {
			t.Fatalf("%s: %d %q %s", ref, r.code, r.stdout, r.stderr)
		}
	}
	// Both name the same layers: unpacked once.
	if n := e.count("layers"); n != 2 {
		t.Errorf("%d layers unpacked, want 2 shared by both images", n)
	}
	if r := e.img("image", "prune", "-a"); r.code != 0 {
		t.Fatal(r.stderr)
	}
}

// TestImageRunDetached: a detached container's rootfs stays mounted while
// it runs and is unmounted by its poststop hook when it is deleted.
func TestImageRunDetached(t *testing.T) {
	e := newImageEnv(t)
	reg := newRegistry(t)
	ref := reg.push(t, "test/multi:v1", multiLayer(t))
	r := e.mr("run", "-d", "--image-root", e.store, "--image", ref, "det", "--", "sleep 30")
	if r.code != 0 {
		t.Fatalf("run -d: %s", r.stderr)
	}
	if e.count("c") != 1 {
		t.Fatalf("%d rootfs records while running", e.count("c"))
	}
	if r := e.img("rmi", ref); r.code != 1 || !strings.Contains(r.stderr, "image in use") {
		t.Fatalf("rmi while running: %d %s", r.code, r.stderr)
	}
	e.ok("delete", "-f", "det")
	if e.count("c") != 0 || e.count("bundles") != 0 {
		t.Fatal("delete left the rootfs")
	}
	if r := e.img("rmi", ref); r.code != 0 {
		t.Fatal(r.stderr)
	}
}

// TestImageRunKilledBeforeCreate: run --image records its bundle under the
// state root before it mounts the rootfs; a run killed before the
// container exists leaves that record and the mount, and delete --force ID
// removes both, as it removes a container.
func TestImageRunKilledBeforeCreate(t *testing.T) {
	e := newImageEnv(t)
	reg := newRegistry(t)
	ref := reg.push(t, "test/multi:v1", multiLayer(t))
	dir := filepath.Join(t.TempDir(), "b")
	if r := e.img("bundle", "--image", ref, "-b", dir); r.code != 0 {
		t.Fatalf("bundle --image: %s", r.stderr)
	}
	// What run --image had written when it was killed.
	rec := filepath.Join(e.root, ".image-bundles", "killed.json")
	if err := os.MkdirAll(filepath.Dir(rec), 0o700); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(map[string]string{"imageRoot": e.store, "bundle": dir})
	if err := os.WriteFile(rec, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if e.count("c") != 1 {
		t.Fatalf("%d rootfs records before delete", e.count("c"))
	}
	if r := e.mr("list", "-q"); r.code != 0 || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("list shows the image bundles' records as containers: %q %s", r.stdout, r.stderr)
	}
	e.ok("delete", "--force", "killed")
	if e.count("c") != 0 {
		t.Errorf("delete --force left the rootfs mounted")
	}
	if _, err := os.Stat(rec); !os.IsNotExist(err) {
		t.Errorf("delete --force left the record: %v", err)
	}
	// A second delete --force has nothing left to do.
	e.ok("delete", "--force", "killed")
}
