// Package images turns image references into bundles. Its built-in image is
// "busybox": a rootfs made from the host's statically linked busybox
// (Debian's busybox-static), so a first container needs no download.
package images

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// Busybox fills dir with a minimal root filesystem: busybox, a link for each
// of its applets under /bin, /etc/passwd and /etc/group with root and
// nobody, and the usual empty directories.
func Busybox(dir string) error {
	bb, err := findBusybox()
	if err != nil {
		return err
	}
	for _, d := range []string{"bin", "dev", "etc", "proc", "sys", "tmp", "root", "run", "var/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("busybox rootfs: %w", err)
		}
	}
	os.Chmod(filepath.Join(dir, "tmp"), 0o1777)
	dst := filepath.Join(dir, "bin", "busybox")
	if err := copyFile(bb, dst, 0o755); err != nil {
		return fmt.Errorf("busybox rootfs: %w", err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox rootfs: %s --list: %w", bb, err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		link := filepath.Join(dir, "bin", applet)
		if err := os.Symlink("busybox", link); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("busybox rootfs: %w", err)
		}
	}
	files := map[string]string{
		"etc/passwd":   "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":    "root:x:0:\nnogroup:x:65534:\n",
		"etc/hostname": "busybox\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("busybox rootfs: %w", err)
		}
	}
	return nil
}

func findBusybox() (string, error) {
	for _, p := range []string{BusyboxPath, "/usr/bin/busybox"} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("busybox not found: install Debian's busybox-static (apt-get install busybox-static)")
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
