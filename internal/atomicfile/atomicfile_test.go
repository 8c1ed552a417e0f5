package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesWholeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "pid")
	for _, content := range []string{"1234", "56"} {
		if err := WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Fatalf("content %q, want %q", b, content)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestIsTempNamesWriteFilesTemporaries(t *testing.T) {
	dir := t.TempDir()
	tmp, err := os.CreateTemp(dir, ".tcp-8080-any.")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	for name, want := range map[string]bool{filepath.Base(tmp.Name()): true, "tcp-8080-any": false, ".ports": false, "state.json": false} {
		if IsTemp(name) != want {
			t.Errorf("IsTemp(%q) = %v", name, !want)
		}
	}
}
