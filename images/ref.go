package images

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Transports an image reference can name.
const (
	Registry      = "docker"         // a registry: busybox, docker.io/library/busybox:1.36, 127.0.0.1:5000/x@sha256:...
	OCILayout     = "oci"            // oci:DIR[:TAG], an OCI image layout directory
	DockerArchive = "docker-archive" // docker-archive:FILE[:NAME:TAG], a `docker save` tarball
)

// Ref is a parsed image reference. It is this package's own small parser
// (Docker's normalisation rules, written out without regular expressions)
// so that the runtime binary can look images up without linking a
// registry client.
type Ref struct {
	Transport string
	// Registry: Domain ("docker.io", "127.0.0.1:5000"), Path
	// ("library/busybox"), Tag and Digest ("sha256:...").
	Domain, Path, Tag, Digest string
	// OCILayout and DockerArchive: the absolute path of the directory or
	// file, and the tag (layout) or image name (archive) chosen in it.
	File, Select string
}

// ParseRef parses what a user types: "busybox" is
// docker.io/library/busybox:latest; "oci:DIR[:TAG]" and
// "docker-archive:FILE[:NAME:TAG]" read local files.
func ParseRef(s string) (Ref, error) {
	if s == "" {
		return Ref{}, errors.New("empty image reference")
	}
	if strings.ContainsAny(s, " \t\n\r\x00") {
		return Ref{}, fmt.Errorf("invalid image reference %q: it holds white space", s)
	}
	for _, t := range []string{OCILayout, DockerArchive} {
		if rest, ok := strings.CutPrefix(s, t+":"); ok {
			return parseFileRef(t, rest, s)
		}
	}
	return parseRegistryRef(s)
}

func parseFileRef(transport, rest, orig string) (Ref, error) {
	file, sel, _ := strings.Cut(rest, ":")
	if file == "" {
		return Ref{}, fmt.Errorf("invalid image reference %q: no path after %s:", orig, transport)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return Ref{}, fmt.Errorf("invalid image reference %q: %w", orig, err)
	}
	return Ref{Transport: transport, File: abs, Select: sel}, nil
}

func parseRegistryRef(s string) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fmt.Errorf("invalid image reference %q: %s", s, why)
	}
	r := Ref{Transport: Registry}
	name := s
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, r.Digest = name[:i], name[i+1:]
		if !validDigest(r.Digest) {
			return bad("the digest is not sha256: and 64 lower-case hex digits")
		}
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name, r.Tag = name[:i], name[i+1:]
		if !validTag(r.Tag) {
			return bad("the tag is not 1-128 letters, digits, '_', '.' or '-' (not starting with '.' or '-')")
		}
	}
	first, rest, hasSlash := strings.Cut(name, "/")
	if hasSlash && (strings.ContainsAny(first, ".:") || first == "localhost") {
		r.Domain, r.Path = first, rest
		if !validDomain(first) {
			return bad("the registry " + first + " is not a host name with an optional port")
		}
	} else {
		r.Domain, r.Path = "docker.io", name
	}
	if r.Domain == "index.docker.io" || r.Domain == "registry-1.docker.io" {
		r.Domain = "docker.io"
	}
	if r.Domain == "docker.io" && !strings.Contains(r.Path, "/") {
		r.Path = "library/" + r.Path
	}
	if !validRepoPath(r.Path) {
		return bad("the repository name must be lower-case letters and digits, separated by '/', '.', '_', '__' or '-'")
	}
	if len(r.Domain)+1+len(r.Path) > 255 {
		return bad("the name is longer than 255 characters")
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, nil
}

// String is the canonical name under which the store records the image:
// docker.io/library/busybox:latest, oci:/abs/dir:tag,
// docker-archive:/abs/file.
func (r Ref) String() string {
	switch r.Transport {
	case OCILayout, DockerArchive:
		if r.Select != "" {
			return r.Transport + ":" + r.File + ":" + r.Select
		}
		return r.Transport + ":" + r.File
	}
	s := r.Domain + "/" + r.Path
	if r.Digest != "" {
		return s + "@" + r.Digest
	}
	return s + ":" + r.Tag
}

// Repository is the name without tag or digest (docker.io/library/busybox),
// or for local transports the transport and path.
func (r Ref) Repository() string {
	if r.Transport != Registry {
		return r.Transport + ":" + r.File
	}
	return r.Domain + "/" + r.Path
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	return ok && validHex(hex)
}

func validHex(hex string) bool {
	if len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, c := range t {
		if !(isAlnum(c) || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func isAlnum(c rune) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func validDomain(d string) bool {
	host, port, hasPort := strings.Cut(d, ":")
	if hasPort {
		if port == "" || len(port) > 5 {
			return false
		}
		for _, c := range port {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	if host == "" {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(isAlnum(c) || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validRepoPath checks the distribution spec's path grammar: components of
// [a-z0-9]+ joined by ".", "_", "__" or runs of "-", separated by "/".
func validRepoPath(p string) bool {
	if p == "" {
		return false
	}
	for _, comp := range strings.Split(p, "/") {
		if comp == "" || !isAlnum(rune(comp[0])) || !isAlnum(rune(comp[len(comp)-1])) {
			return false
		}
		for i := 0; i < len(comp); i++ {
			c := rune(comp[i])
			if isAlnum(c) {
				continue
			}
			switch {
			case c == '.' || c == '_':
				if comp[i+1] == '_' && c == '_' { // "__"
					i++
				}
				if !isAlnum(rune(comp[i+1])) {
					return false
				}
			case c == '-':
				for comp[i+1] == '-' {
					i++
				}
				if !isAlnum(rune(comp[i+1])) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}
