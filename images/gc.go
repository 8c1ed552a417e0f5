package images

import (
	"errors"
	"fmt"
	"io/fs"
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

// Discard removes, of the blobs and layers (by ChainID) a failed pull
// added, those no image record needs, and what pulls left in flight. It
// takes the lock exclusively, so no other pull is running: whatever it
// fetched is recorded by now or was discarded by it. Nothing else is
// touched: a failed pull leaves the store as it found it.
func (s *Store) Discard(blobs, chains []string) error {
	unlock, err := s.Lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	needBlobs, needChains, err := s.needed()
	if err != nil {
		return err
	}
	for _, d := range blobs {
		if validDigest(d) && !needBlobs[Hex(d)] {
			if err := os.Remove(s.BlobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	for _, c := range chains {
		if validDigest(c) && !needChains[Hex(c)] {
			if err := os.RemoveAll(s.LayerDir(c)); err != nil {
				return err
			}
		}
	}
	s.removeDanglingLinks()
	s.removeInFlight()
	return nil
}

// needed are the blobs and unpacked layers (hex digests) the image
// records use.
func (s *Store) needed() (blobs, chains map[string]bool, err error) {
	imgs, err := s.Images()
	if err != nil {
		return nil, nil, err
	}
	blobs, chains = map[string]bool{}, map[string]bool{}
	for _, im := range imgs {
		for _, d := range im.blobs() {
			blobs[Hex(d)] = true
		}
		for _, l := range im.Layers {
			chains[Hex(l.ChainID)] = true
		}
	}
	return blobs, chains, nil
}

// removeDanglingLinks removes short links whose layer is gone.
func (s *Store) removeDanglingLinks() {
	links, _ := os.ReadDir(filepath.Join(s.Root, "l"))
	for _, e := range links {
		p := filepath.Join(s.Root, "l", e.Name())
		if _, err := os.Stat(p); err != nil {
			os.Remove(p)
		}
	}
}

// removeInFlight empties tmp/; only under the exclusive lock, when no
// pull is in flight.
func (s *Store) removeInFlight() {
	tmps, _ := os.ReadDir(filepath.Join(s.Root, "tmp"))
	for _, e := range tmps {
		os.RemoveAll(filepath.Join(s.Root, "tmp", e.Name()))
	}
}

func (s *Store) collect(rep *PruneReport, rec *trace.Recorder) error {
	blobs, chains, err := s.needed()
	if err != nil {
		return err
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
	s.removeDanglingLinks()
	s.removeInFlight()
	return nil
}
