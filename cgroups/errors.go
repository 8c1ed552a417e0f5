package cgroups

import (
	"errors"
	"fmt"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrInvalid marks a value that no host could apply: a negative limit,
	// a quota below the kernel's minimum, a malformed device rule.
	ErrInvalid = errors.New("invalid value")
	// ErrNotSupported marks a valid value that this host, or this cgroup
	// version, has no way to apply: a v1-only knob on cgroup v2, a
	// controller that is not mounted, a file the kernel no longer has.
	ErrNotSupported = errors.New("not supported")
)

// FieldError is a refusal or failure tied to one field of linux.resources.
// Its message starts with the field's path in config.json, e.g.
// "linux.resources.memory.limit: -5 is negative", because that is what the
// person who wrote the config can act on.
type FieldError struct {
	Field string // "linux.resources.memory.limit"
	Err   error  // what went wrong
	Kind  error  // ErrInvalid, ErrNotSupported, or nil for a failed write
}

// Error reads "field: what went wrong".
func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap lets errors.Is see both the kind and the cause.
func (e *FieldError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

func invalid(field string, err error) error {
	return &FieldError{Field: field, Err: err, Kind: ErrInvalid}
}

func unsupported(field string, err error) error {
	return &FieldError{Field: field, Err: err, Kind: ErrNotSupported}
}

func invalidf(field, format string, a ...any) error {
	return invalid(field, fmt.Errorf(format, a...))
}

func unsupportedf(field, format string, a ...any) error {
	return unsupported(field, fmt.Errorf(format, a...))
}
