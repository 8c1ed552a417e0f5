package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bundle is a loaded OCI bundle: the directory, the parsed config and the raw
// bytes it was parsed from (frozen into the state dir at create, so that later
// edits of config.json cannot change a running container).
type Bundle struct {
	Dir    string // absolute
	Rootfs string // absolute, resolved against Dir when root.path is relative
	Spec   *specs.Spec
	Raw    []byte
}

// LoadBundle reads and parses <dir>/config.json. It does not validate the
// spec beyond what parsing needs; call Validate for that.
func LoadBundle(dir string) (*Bundle, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", dir, err)
	}
	cfg := filepath.Join(abs, "config.json")
	raw, err := os.ReadFile(cfg)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("bundle %s: config.json not found", abs)
		}
		return nil, fmt.Errorf("bundle %s: %w", abs, err)
	}
	return ParseBundle(abs, raw)
}

// ParseBundle parses raw config bytes for the bundle at the absolute dir.
// Unknown fields are accepted, as the spec requires of runtimes.
func ParseBundle(dir string, raw []byte) (*Bundle, error) {
	var spec specs.Spec
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("config.json: %s", jsonErr(raw, err))
	}
	b := &Bundle{Dir: dir, Spec: &spec, Raw: raw}
	if spec.Root != nil && spec.Root.Path != "" {
		b.Rootfs = spec.Root.Path
		if !filepath.IsAbs(b.Rootfs) {
			b.Rootfs = filepath.Join(dir, b.Rootfs)
		}
	}
	return b, nil
}

// jsonErr turns a decoding error into a message with a line number, which is
// what a person editing config.json by hand needs.
func jsonErr(raw []byte, err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line := 1 + bytes.Count(raw[:min(int(se.Offset), len(raw))], []byte("\n"))
		return fmt.Sprintf("invalid JSON at line %d: %v", line, se)
	case errors.As(err, &te):
		return fmt.Sprintf("%s: cannot use a JSON %s as %s", te.Field, te.Value, te.Type)
	}
	return "invalid JSON: " + err.Error()
}

// ValidateID accepts the same ids as runc: letters, digits and _+-. only, so
// that an id can never name a path outside the state root.
func ValidateID(id string) error {
	switch {
	case id == "":
		return errors.New("container id is empty")
	case id == "." || id == ".." || strings.IndexFunc(id, notIDRune) >= 0:
		return fmt.Errorf("invalid container id %q: only letters, digits and _+-. are allowed", id)
	case len(id) > 1024:
		return fmt.Errorf("invalid container id: longer than 1024 characters")
	}
	return nil
}

// notIDRune is the complement of [A-Za-z0-9_+\-.]. A loop, not a regexp:
// compiling one at package initialisation would cost every start of the
// binary, the container init's included.
func notIDRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_+-.", r))
}
