package images

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/miniruntime/miniruntime/internal/trace"
)

// ErrInUse is returned when an image to remove backs a mounted rootfs.
var ErrInUse = errors.New("image in use")

// PruneReport says what a removal freed.
type PruneReport struct {
	Images []string `json:"images"` // ids removed
	Names  []string `json:"names"`  // names removed
	Blobs  int      `json:"blobs"`
	Layers int      `json:"layers"`
	Mounts int      `json:"staleMounts"` // records of rootfs no longer mounted
	Bytes  int64    `json:"bytes"`
}

// Remove removes an image name; when it was given by id, or when it was
// the image's last name, the image goes too, unless a mounted rootfs uses
// it, and with it the blobs and layers no other image needs.
func (s *Store) Remove(ref string, rec *trace.Recorder) (*PruneReport, error) {
	unlock, err := s.Lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	im, err := s.Lookup(ref)
	if err != nil {
		return nil, err
	}
	unlockNames, err := s.flock("names.lock", true)
	if err != nil {
		return nil, err
	}
	defer unlockNames()
	nm, err := s.readNames()
	if err != nil {
		return nil, err
	}
	rep := &PruneReport{}
	byName := false
	if r, err := ParseRef(ref); err == nil && nm[r.String()] == im.ID {
		byName = true
		if len(im.Names) > 1 {
			delete(nm, r.String())
			rep.Names = append(rep.Names, r.String())
			return rep, s.writeNames(nm)
		}
	}
	if users := s.users(im.ID); len(users) > 0 {
		what := "image " + shortID(im.ID)
		if byName {
			what = ref
		}
		return nil, fmt.Errorf("%w: %s backs the rootfs mounted at %s (miniruntime image umount it first)", ErrInUse, what, users[0])
	}
	for n, id := range nm {
		if id == im.ID {
			delete(nm, n)
			rep.Names = append(rep.Names, n)
		}
	}
	if err := s.writeNames(nm); err != nil {
		return nil, err
	}
	rec.Step("remove the image record "+shortID(im.ID), trace.Quote("rm", filepath.Join(s.Root, "images", Hex(im.ID)+".json")))
	if err := os.Remove(filepath.Join(s.Root, "images", Hex(im.ID)+".json")); err != nil {
		return nil, err
	}
	rep.Images = append(rep.Images, im.ID)
	return rep, s.collect(rep, rec)
}

// users are the mount points of live rootfs made from image id.
func (s *Store) users(id string) []string {
	ms, _ := s.Mounts()
	var out []string
	for _, m := range ms {
		if m.Image == id && mounted(m.Target) {
			out = append(out, m.Target)
		}
	}
	return out
}

// Prune removes the records of rootfs no longer mounted (a reboot, a
// bundle removed by hand), images without a name (or with all, every
// image no mounted rootfs uses), and then every blob, layer and temporary
// file that no remaining image needs.
func (s *Store) Prune(all bool, rec *trace.Recorder) (*PruneReport, error) {
	unlock, err := s.Lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &PruneReport{}
	ms, err := s.Mounts()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if !mounted(m.Target) {
			rec.Step("forget the rootfs at "+m.Target+": no longer mounted", trace.Quote("rm", "-rf", filepath.Join(s.Root, m.dir())))
			if err := os.RemoveAll(filepath.Join(s.Root, m.dir())); err != nil {
				return nil, err
			}
			if m.Owned && m.Bundle != "" {
				os.RemoveAll(m.Bundle)
			}
			rep.Mounts++
		}
	}
	unlockNames, err := s.flock("names.lock", true)
	if err != nil {
		return nil, err
	}
	imgs, err := s.Images()
	if err != nil {
		unlockNames()
		return nil, err
	}
	nm, _ := s.readNames()
	for _, im := range imgs {
		if (len(im.Names) > 0 && !all) || len(s.users(im.ID)) > 0 {
			continue
		}
		for _, n := range im.Names {
			delete(nm, n)
			rep.Names = append(rep.Names, n)
		}
		rec.Step("remove the image record "+shortID(im.ID), trace.Quote("rm", filepath.Join(s.Root, "images", Hex(im.ID)+".json")))
		if err := os.Remove(filepath.Join(s.Root, "images", Hex(im.ID)+".json")); err != nil {
			unlockNames()
			return nil, err
		}
		rep.Images = append(rep.Images, im.ID)
	}
	err = s.writeNames(nm)
	unlockNames()
	if err != nil {
		return nil, err
	}
	return rep, s.collect(rep, rec)
}

// Collect removes what no image record needs; the caller holds the lock
// exclusively. A failed pull calls it so as to leave nothing behind.
func (s *Store) Collect(rec *trace.Recorder) (*PruneReport, error) {
	unlock, err := s.Lock(true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	rep := &PruneReport{}
	return rep, s.collect(rep, rec)
}

func (s *Store) collect(rep *PruneReport, rec *trace.Recorder) error {
	imgs, err := s.Images()
	if err != nil {
		return err
	}
	blobs, chains := map[string]bool{}, map[string]bool{}
	for _, im := range imgs {
		blobs[Hex(im.ID)], blobs[Hex(im.ManifestDigest)] = true, true
		for _, l := range im.Layers {
			blobs[Hex(l.Digest)], chains[Hex(l.ChainID)] = true, true
		}
	}
	bdir := filepath.Join(s.Root, "blobs", "sha256")
	ents, _ := os.ReadDir(bdir)
	for _, e := range ents {
		if blobs[e.Name()] {
			continue
		}
		if fi, err := e.Info(); err == nil {
			rep.Bytes += fi.Size()
		}
		rec.Step("remove the blob sha256:"+shortID(e.Name()), trace.Quote("rm", filepath.Join(bdir, e.Name())))
		if err := os.Remove(filepath.Join(bdir, e.Name())); err != nil {
			return err
		}
		rep.Blobs++
	}
	ldir := filepath.Join(s.Root, "layers")
	ents, _ = os.ReadDir(ldir)
	for _, e := range ents {
		if chains[e.Name()] {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(ldir, e.Name(), "size")); err == nil {
			var n int64
			fmt.Sscan(strings.TrimSpace(string(b)), &n)
			rep.Bytes += n
		}
		rec.Step("remove the unpacked layer "+shortID(e.Name()), trace.Quote("rm", "-rf", filepath.Join(ldir, e.Name())))
		if err := os.RemoveAll(filepath.Join(ldir, e.Name())); err != nil {
			return err
		}
		rep.Layers++
	}
	// Short links whose layer is gone.
	links, _ := os.ReadDir(filepath.Join(s.Root, "l"))
	for _, e := range links {
		p := filepath.Join(s.Root, "l", e.Name())
		if _, err := os.Stat(p); err != nil {
			os.Remove(p)
		}
	}
	tmps, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	for _, e := range tmps {
		os.RemoveAll(filepath.Join(s.Root, "tmp", e.Name()))
	}
	return nil
}
