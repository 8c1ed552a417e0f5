// Package atomicfile writes files that readers see either whole or not at
// all: the state files, pid files and network records that other
// processes (containerd's shim, a concurrent miniruntime) read at any time.
package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
)

// WriteFile writes data to a temporary file beside path and renames it
// over path.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// IsTemp reports whether a directory entry's name is that of a temporary
// file WriteFile makes: one that a process killed before its rename
// leaves behind, and that is never a file of its own.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Count(name, ".") >= 2
}
