package images

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FuzzParseRef checks image references: a refusal is one line; an
// accepted reference has a transport, names a valid repository (or an
// absolute file), and its canonical String parses back to the same Ref.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"busybox", "busybox:1.36", "library/busybox", "docker.io/busybox", "index.docker.io/library/busybox:1",
		"user/app", "127.0.0.1:5000/team/app:v1.2-rc_3", "localhost/app", "ghcr.io/a/b/c__d.e-f--g",
		"busybox@sha256:" + strings.Repeat("a", 64), "busybox:1@sha256:" + strings.Repeat("b", 64), "oci:/tmp/lay:v1", "oci:/tmp/lay",
		"docker-archive:/tmp/a.tar:app:v1", "", "Busybox", "a//b", "a/", "-a", "a:", "a:-x", "a@sha256:abc", "a b", "host:99999999/x",
		"a..b", "a/.b", "oci:", strings.Repeat("a", 300), "oci:rel/dir", "[::1]:5000/a", "a\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("ParseRef(%q): refusal %q is more than one line", s, err)
			}
			return
		}
		switch r.Transport {
		case Registry:
			if !validRepoPath(r.Path) || r.Domain == "" || (r.Tag == "" && r.Digest == "") {
				t.Fatalf("ParseRef(%q) = %+v", s, r)
			}
		case OCILayout, DockerArchive:
			if !filepath.IsAbs(r.File) {
				t.Fatalf("ParseRef(%q) = %+v: the file is not absolute", s, r)
			}
		default:
			t.Fatalf("ParseRef(%q): transport %q", s, r.Transport)
		}
		c := r.String()
		r2, err := ParseRef(c)
		if err != nil {
			t.Fatalf("ParseRef(%q) = %q, which does not parse: %v", s, c, err)
		}
		// A registry reference with a digest keeps only the digest, and a
		// file reference is canonical once its path is clean.
		if r2.String() != c || (r.Transport == Registry && r2 != r && !(r.Digest != "" && r2.Digest == r.Digest)) {
			t.Fatalf("ParseRef(%q) = %+v as %q, which reads back as %+v", s, r, c, r2)
		}
	})
}

// FuzzConvert applies fuzzed image configs to the default spec against a
// rootfs with its own /etc/passwd and /etc/group. An accepted config gives
// a process with a command, an absolute working directory, a PATH, the
// uid and gid the numbers say, and absolute, sorted volumes.
func FuzzConvert(f *testing.F) {
	root := filepath.Join(f.TempDir(), "rootfs")
	for name, body := range map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbig:x:4294967295:4294967295::/:/bin/sh\nbad:x:-1:x::/:\n",
		"etc/group":  "root:x:0:\napp:x:1001:\nwheel:x:10:app,root\naudio:x:29:app\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for _, c := range []string{
		`{"architecture":"amd64","os":"linux","config":{"User":"app","Env":["A=1"],"Entrypoint":["/bin/sh"],"Cmd":["-c","id"],"WorkingDir":"/home/app","Volumes":{"/data":{}},"ExposedPorts":{"80/tcp":{}},"Labels":{"a":"b"}}}`,
		`{"config":{"Cmd":["true"],"User":"1000:29"}}`,
		`{"config":{"Cmd":["true"],"User":"4294967295"}}`,
		`{"config":{"Cmd":["true"],"User":"nobody"}}`,
		`{"config":{"Cmd":["true"],"User":"app:nogroup"}}`,
		`{"config":{"Cmd":["true"],"WorkingDir":"rel"}}`,
		`{"config":{"Cmd":["true"],"Volumes":{"rel":{}}}}`,
		`{"config":{}}`,
		`{"config":{"Cmd":["true"],"User":"big"}}`,
		`{"config":{"Cmd":["true"],"User":"bad"}}`,
		`{"config":{"Cmd":["true"],"User":":"}}`,
	} {
		f.Add([]byte(c), "")
	}
	f.Add([]byte(`{"config":{"Entrypoint":["/bin/app"]}}`), "arg")
	f.Fuzz(func(t *testing.T, raw []byte, arg string) {
		var ic ImageConfig
		if json.Unmarshal(raw, &ic) != nil {
			return
		}
		var args []string
		if arg != "" {
			args = []string{arg}
		}
		s := &specs.Spec{Process: &specs.Process{}}
		conv, err := Convert(s, &ic, root, args)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") && !strings.ContainsAny(string(raw), "\n\r") {
				t.Fatalf("refusal %q is more than one line", err)
			}
			return
		}
		p := s.Process
		cmd := ic.Config.Cmd
		if args != nil {
			cmd = args
		}
		if len(p.Args) == 0 || !slices.Equal(p.Args, append(append([]string{}, ic.Config.Entrypoint...), cmd...)) {
			t.Fatalf("args %q from entrypoint %q and cmd %q", p.Args, ic.Config.Entrypoint, cmd)
		}
		if !strings.HasPrefix(p.Cwd, "/") || !hasEnv(p.Env, "PATH") {
			t.Fatalf("cwd %q, env %q", p.Cwd, p.Env)
		}
		if u, g, _ := strings.Cut(ic.Config.User, ":"); u != "" {
			if n, err := strconv.ParseUint(u, 10, 32); err == nil && uint64(p.User.UID) != n {
				t.Fatalf("user %q gave uid %d", ic.Config.User, p.User.UID)
			}
			if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint64(p.User.GID) != n {
				t.Fatalf("user %q gave gid %d", ic.Config.User, p.User.GID)
			}
		}
		if !slices.IsSorted(conv.Volumes) {
			t.Fatalf("volumes %q are not sorted", conv.Volumes)
		}
		for _, v := range conv.Volumes {
			if !strings.HasPrefix(v, "/") {
				t.Fatalf("volume %q accepted", v)
			}
		}
	})
}
