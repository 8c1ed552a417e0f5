package sysfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAndRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "knob")
	if err := os.WriteFile(p, []byte("old value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, "42"); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil || string(got) != "42" {
		t.Fatalf("Read after Write = %q, %v; want \"42\"", got, err)
	}
	// Larger than the first read buffer.
	big := strings.Repeat("0123456789", 300)
	if err := Write(p, big); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(p); err != nil || string(got) != big {
		t.Fatalf("Read of %d bytes = %d bytes, %v", len(big), len(got), err)
	}
}

func TestMissingFileIsNotCreated(t *testing.T) {
	p := filepath.Join(t.TempDir(), "absent")
	err := Write(p, "1")
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), p) {
		t.Fatalf("Write to a missing file: %v; want a not-exist error naming it", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Write created %s", p)
	}
	if _, err := Read(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read of a missing file: %v", err)
	}
}

func TestReadProc(t *testing.T) {
	got, err := Read("/proc/self/stat")
	if err != nil || !strings.Contains(string(got), ")") {
		t.Fatalf("Read(/proc/self/stat) = %q, %v", got, err)
	}
}
