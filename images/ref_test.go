package images

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestParseRef(t *testing.T) {
	good := map[string]string{
		"busybox":                                     "docker.io/library/busybox:latest",
		"busybox:1.36":                                "docker.io/library/busybox:1.36",
		"library/busybox":                             "docker.io/library/busybox:latest",
		"docker.io/busybox":                           "docker.io/library/busybox:latest",
		"index.docker.io/library/busybox:1":           "docker.io/library/busybox:1",
		"user/app":                                    "docker.io/user/app:latest",
		"127.0.0.1:5000/team/app:v1.2-rc_3":           "127.0.0.1:5000/team/app:v1.2-rc_3",
		"localhost/app":                               "localhost/app:latest",
		"ghcr.io/a/b/c__d.e-f--g":                     "ghcr.io/a/b/c__d.e-f--g:latest",
		"busybox@sha256:" + strings.Repeat("a", 64):   "docker.io/library/busybox@sha256:" + strings.Repeat("a", 64),
		"busybox:1@sha256:" + strings.Repeat("b", 64): "docker.io/library/busybox@sha256:" + strings.Repeat("b", 64),
		"oci:/tmp/lay:v1":                             "oci:/tmp/lay:v1",
		"oci:/tmp/lay":                                "oci:/tmp/lay",
		"docker-archive:/tmp/a.tar:app:v1":            "docker-archive:/tmp/a.tar:app:v1",
	}
	for in, want := range good {
		r, err := ParseRef(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseRef(%q) = %q, %v; want %q", in, r.String(), err, want)
		}
	}
	for _, bad := range []string{"", "Busybox", "a//b", "a/", "-a", "a:", "a:-x", "a@sha256:abc", "a@md5:" + strings.Repeat("a", 32),
		"a b", "host:99999999/x", "a..b", "a/.b", "oci:", strings.Repeat("a", 300)} {
		if r, err := ParseRef(bad); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseRef(%q) = %q, %v; want a one-line error", bad, r.String(), err)
		}
	}
}

func TestChainIDs(t *testing.T) {
	a, b := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	sum := sha256.Sum256([]byte(a + " " + b))
	got := ChainIDs([]string{a, b})
	if got[0] != a || got[1] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Fatalf("%v", got)
	}
	if ChainIDs([]string{b, a})[1] == got[1] {
		t.Fatal("the order of layers does not matter")
	}
}

func writeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if strings.HasPrefix(body, "->") {
			os.Symlink(strings.TrimPrefix(body, "->"), p)
			continue
		}
		os.WriteFile(p, []byte(body), 0o644)
	}
	return root
}

func TestResolveUser(t *testing.T) {
	root := writeRoot(t, map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\napp:x:1001:\nwheel:x:10:app,root\naudio:x:29:app\n",
	})
	cases := map[string]specs.User{
		"":          {UID: 0, GID: 0, AdditionalGids: []uint32{10}},
		"app":       {UID: 1000, GID: 1001, AdditionalGids: []uint32{10, 29}},
		"1000":      {UID: 1000, GID: 1001},
		"4242":      {UID: 4242, GID: 0},
		"app:audio": {UID: 1000, GID: 29},
		"app:7":     {UID: 1000, GID: 7},
		"5:6":       {UID: 5, GID: 6},
	}
	for in, want := range cases {
		got, err := ResolveUser(root, in)
		if in == "" {
			// "" is root given as a number: no additional gids.
			want = specs.User{}
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ResolveUser(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"nobody", "app:nogroup"} {
		if _, err := ResolveUser(root, bad); err == nil {
			t.Errorf("ResolveUser(%q): no error", bad)
		}
	}
	// /etc/passwd a symlink out of the rootfs is read inside it.
	escape := writeRoot(t, map[string]string{"etc/passwd": "->/../../../../etc/shadow"})
	if _, err := ResolveUser(escape, "root"); err == nil {
		t.Error("read a file outside the rootfs")
	}
}

func TestConvert(t *testing.T) {
	root := writeRoot(t, map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
	c := &ImageConfig{Architecture: "amd64", OS: "linux"}
	c.Config.Entrypoint = []string{"/ep"}
	c.Config.Cmd = []string{"a", "b"}
	c.Config.Env = []string{"X=1"}
	c.Config.Labels = map[string]string{"org.opencontainers.image.os": "label-wins", "k": "v"}
	c.Config.ExposedPorts = map[string]struct{}{"80/tcp": {}, "443/tcp": {}}
	c.Config.Volumes = map[string]struct{}{"/b": {}, "/a": {}}
	spec := &specs.Spec{Process: &specs.Process{}}
	conv, err := Convert(spec, c, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := spec.Process
	if strings.Join(p.Args, " ") != "/ep a b" || p.Cwd != "/" || p.Env[0] != DefaultPath || p.Env[1] != "X=1" {
		t.Errorf("process %+v", p)
	}
	a := spec.Annotations
	if a["org.opencontainers.image.os"] != "label-wins" || a["org.opencontainers.image.architecture"] != "amd64" ||
		a["org.opencontainers.image.exposedPorts"] != "443/tcp,80/tcp" || a["k"] != "v" {
		t.Errorf("annotations %v", a)
	}
	if strings.Join(conv.Volumes, ",") != "/a,/b" {
		t.Errorf("volumes %v", conv.Volumes)
	}
	// Arguments replace Cmd, not Entrypoint; an image PATH is kept.
	c.Config.Env = []string{"PATH=/x"}
	spec = &specs.Spec{Process: &specs.Process{}}
	if _, err := Convert(spec, c, root, []string{"c"}); err != nil || strings.Join(spec.Process.Args, " ") != "/ep c" ||
		len(spec.Process.Env) != 1 {
		t.Errorf("%v %+v", err, spec.Process)
	}
	c.Config.Entrypoint, c.Config.Cmd = nil, nil
	if _, err := Convert(&specs.Spec{Process: &specs.Process{}}, c, root, nil); err != ErrNoCommand {
		t.Errorf("no command: %v", err)
	}
}
