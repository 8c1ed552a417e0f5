package runtime

import (
	"errors"
	"fmt"
	"os"
)

// Sentinel errors, checked with errors.Is. Their texts are part of the
// contract with containerd's shim and podman, which match on substrings such
// as "does not exist" and "container not running".
var (
	ErrNotExist   = errors.New("container does not exist")
	ErrExist      = errors.New("container already exists")
	ErrNotRunning = errors.New("container not running")
)

// FieldError is a problem with one field of config.json, named by its JSON
// path ("linux.namespaces[2].type") so that the user can find it.
type FieldError struct {
	Field string
	Cause string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Cause }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Cause: fmt.Sprintf(format, args...)}
}

// unwrapPath drops the *PathError wrapper, whose text repeats the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
