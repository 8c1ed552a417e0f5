package images

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// ErrNotMounted is returned by Unmount for a path with no mount record.
var ErrNotMounted = errors.New("no image rootfs of this store is mounted there")

// MountRecord is a rootfs mounted from the store, kept in c/<id>/mount.json
// from before the mount until after the unmount: whatever happens in
// between, prune finds it.
type MountRecord struct {
	ID      string    `json:"id"`
	Target  string    `json:"target"` // the rootfs mount point
	Image   string    `json:"image"`  // image id
	Bundle  string    `json:"bundle,omitempty"`
	Owned   bool      `json:"owned,omitempty"` // the bundle dir is the store's: removed at unmount
	Created time.Time `json:"created"`
}

// mountDir is c/<id>, relative to the store root.
func (m *MountRecord) dir() string { return filepath.Join("c", m.ID) }

// MountImage mounts im's layers at target (made if missing) as an overlay
// with an upper and a work dir of its own under c/<id>/: the layers are
// shared by every container of the image and never copied.
//
// The mount data (lowerdir=...) must fit in one page. Lower layers are
// named by their short links (l/<8 chars>) relative to the store root, and
// the mount is made from a thread whose working directory is the store
// root (unshare(CLONE_FS), chdir, mount), as containerd does: about 370
// layers fit.
func (s *Store) MountImage(im *Image, target, bundle string, owned bool, rec *trace.Recorder) (*MountRecord, error) {
	unlock, err := s.Lock(false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	lowers := make([]string, len(im.Layers))
	for i, l := range im.Layers {
		short, err := s.layerLink(l.ChainID)
		if err != nil {
			return nil, fmt.Errorf("image %s: layer %d (%s) is not in the store: pull it again", shortID(im.ID), i+1, shortID(l.ChainID))
		}
		lowers[len(lowers)-1-i] = "l/" + short // top layer first
	}
	var b [8]byte
	rand.Read(b[:])
	m := &MountRecord{ID: hex.EncodeToString(b[:]), Target: target, Image: im.ID, Bundle: bundle, Owned: owned, Created: time.Now().UTC()}
	abs := filepath.Join(s.Root, m.dir())
	for _, d := range []string{"", "upper", "work"} {
		if err := os.Mkdir(filepath.Join(abs, d), 0o700); err != nil {
			os.RemoveAll(abs)
			return nil, err
		}
	}
	os.Chmod(filepath.Join(abs, "upper"), 0o755)
	if err := s.writeMount(m); err != nil {
		os.RemoveAll(abs)
		return nil, err
	}
	fail := func(err error) (*MountRecord, error) {
		os.RemoveAll(abs)
		return nil, err
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fail(err)
	}
	data := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + m.dir() + "/upper,workdir=" + m.dir() + "/work"
	// volatile: no sync of the whole upper file system at unmount. The
	// upper dir is thrown away at unmount and never mounted again (after a
	// crash, prune removes it), so there is nothing to keep durable.
	data += ",volatile"
	if indexOn() {
		// Layers are shared by many mounts: the inode index would tie
		// each lower layer to the first upper that used it.
		data += ",index=off"
	}
	if len(data) >= os.Getpagesize() {
		return fail(fmt.Errorf("image %s: %d layers do not fit in one overlay mount (%d bytes of options, the limit is %d)", shortID(im.ID), len(lowers), len(data), os.Getpagesize()-1))
	}
	err = mountIn(s.Root, "overlay", target, "overlay", 0, data)
	if err == unix.EINVAL && strings.Contains(data, ",volatile") { // before Linux 5.10
		data = strings.Replace(data, ",volatile", "", 1)
		err = mountIn(s.Root, "overlay", target, "overlay", 0, data)
	}
	if err != nil {
		return fail(fmt.Errorf("mount overlay at %s: %w", target, err))
	}
	rec.Step(fmt.Sprintf("mount the image's %d layers as the rootfs", len(lowers)),
		"cd "+trace.Quote(s.Root)+" && "+trace.Quote("mount", "-t", "overlay", "overlay", "-o", data, target))
	return m, nil
}

// mountIn calls mount(2) with dir as the working directory, on a thread
// of its own (so that no other goroutine sees the chdir), which then ends.
func mountIn(dir, source, target, fstype string, flags uintptr, data string) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_FS): %w", err)
			return
		}
		if err := unix.Chdir(dir); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(source, target, fstype, flags, data)
	}()
	return <-errc
}

func indexOn() bool {
	b, err := os.ReadFile("/sys/module/overlay/parameters/index")
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

func (s *Store) writeMount(m *MountRecord) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(s.Root, m.dir(), "mount.json"), append(b, '\n'), 0o600)
}

// Mounts lists the mount records.
func (s *Store) Mounts() ([]*MountRecord, error) {
	ents, err := os.ReadDir(filepath.Join(s.Root, "c"))
	if err != nil {
		return nil, err
	}
	var out []*MountRecord
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.Root, "c", e.Name(), "mount.json"))
		if err != nil {
			continue
		}
		var m MountRecord
		if json.Unmarshal(b, &m) == nil && m.ID == e.Name() {
			out = append(out, &m)
		}
	}
	return out, nil
}

// VolumeDir is where a mounted rootfs's i-th volume lives.
func (s *Store) VolumeDir(m *MountRecord, i int) string {
	return filepath.Join(s.Root, m.dir(), "volumes", strconv.Itoa(i))
}

// Unmount undoes MountImage for the mount at target, or at target/rootfs
// when target is a bundle: unmount, remove the upper, work and volume
// dirs, and a bundle the store made. A target with no record is an error.
func (s *Store) Unmount(target string, rec *trace.Recorder) error {
	abs, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	ms, err := s.Mounts()
	if err != nil {
		return err
	}
	var found []*MountRecord
	for _, m := range ms {
		if m.Target == abs || m.Target == filepath.Join(abs, "rootfs") || (m.Bundle != "" && m.Bundle == abs) {
			found = append(found, m)
		}
	}
	if len(found) == 0 {
		return fmt.Errorf("%s: %w", target, ErrNotMounted)
	}
	var errs []error
	for _, m := range found {
		errs = append(errs, s.unmount(m, rec))
	}
	return errors.Join(errs...)
}

func (s *Store) unmount(m *MountRecord, rec *trace.Recorder) error {
	rec.Step("unmount the image rootfs", trace.Quote("umount", m.Target))
	err := unix.Unmount(m.Target, 0)
	if err == unix.EBUSY {
		rec.Step("the rootfs is busy: detach it", trace.Quote("umount", "-l", m.Target))
		err = unix.Unmount(m.Target, unix.MNT_DETACH)
	}
	if err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("unmount %s: %w", m.Target, err)
	}
	if mounted(m.Target) {
		return fmt.Errorf("unmount %s: still mounted", m.Target)
	}
	rec.Step("remove the container's upper and work dirs", trace.Quote("rm", "-rf", filepath.Join(s.Root, m.dir())))
	if err := os.RemoveAll(filepath.Join(s.Root, m.dir())); err != nil {
		return err
	}
	if m.Owned && m.Bundle != "" {
		return os.RemoveAll(m.Bundle)
	}
	os.Remove(m.Target) // the empty mount point
	return nil
}

// mounted reports whether path is a mount point (in this mount namespace).
func mounted(path string) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMount(fields[4]) == path {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func shortID(d string) string {
	h := Hex(d)
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
