package images

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miniruntime/miniruntime/internal/trace"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// BundleOptions say how to make a bundle from a stored image.
type BundleOptions struct {
	Image *Image
	Dir   string      // the bundle: Dir/config.json and Dir/rootfs
	Spec  *specs.Spec // the base (runtime.DefaultSpec()); changed in place
	Args  []string    // replace the image's Cmd
	// Copy makes Dir/rootfs a copy of the image's files instead of an
	// overlay mount of its layers.
	Copy bool
	// Owned: Dir is the store's own, removed with the rootfs at unmount.
	Owned bool
	// UnmountHook, when set, is a poststop hook (runtime binary path and
	// arguments) added to the config so that whoever deletes the
	// container also unmounts its rootfs.
	UnmountHook []string
	Trace       *trace.Recorder
}

// Bundle is a bundle made from an image.
type Bundle struct {
	Dir   string
	Spec  *specs.Spec
	Mount *MountRecord // nil for a copy
}

// MakeBundle writes o.Dir/config.json from the image's config and makes
// o.Dir/rootfs: an overlay mount of the image's layers (recorded in the
// store, undone by Unmount) or, with Copy, a copy. On failure nothing is
// left mounted.
func (s *Store) MakeBundle(o BundleOptions) (b *Bundle, err error) {
	cfg, err := s.Config(o.Image)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	rootfs := filepath.Join(dir, "rootfs")
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil && !o.Owned {
		return nil, fmt.Errorf("%s already exists; remove it first", filepath.Join(dir, "config.json"))
	}
	b = &Bundle{Dir: dir, Spec: o.Spec}
	if o.Copy {
		if err := s.copyRootfs(o.Image, rootfs, o.Trace); err != nil {
			os.RemoveAll(rootfs)
			return nil, err
		}
	} else {
		if ents, _ := os.ReadDir(rootfs); len(ents) > 0 {
			return nil, fmt.Errorf("%s is not empty", rootfs)
		}
		if b.Mount, err = s.MountImage(o.Image, rootfs, dir, o.Owned, o.Trace); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				s.Unmount(rootfs, o.Trace)
			}
		}()
	}
	spec := o.Spec
	conv, err := Convert(spec, cfg, rootfs, o.Args)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", displayName(o.Image), err)
	}
	spec.Root = &specs.Root{Path: "rootfs"} // writable: the upper dir is the container's own
	for i, v := range conv.Volumes {
		src := filepath.Join(dir, "volumes", strconv.Itoa(i))
		if b.Mount != nil {
			src = s.VolumeDir(b.Mount, i)
		}
		if err := makeVolume(rootfs, v, src, o.Trace); err != nil {
			return nil, fmt.Errorf("volume %s: %w", v, err)
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: v, Type: "bind", Source: src, Options: []string{"rbind", "rw"}})
	}
	if len(o.UnmountHook) > 0 && b.Mount != nil {
		if spec.Hooks == nil {
			spec.Hooks = &specs.Hooks{}
		}
		spec.Hooks.Poststop = append(spec.Hooks.Poststop, specs.Hook{Path: o.UnmountHook[0], Args: o.UnmountHook})
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), append(data, '\n'), 0o644); err != nil {
		return nil, err
	}
	return b, nil
}

func displayName(im *Image) string {
	if len(im.Names) > 0 {
		return im.Names[0]
	}
	return "image " + shortID(im.ID)
}

// copyRootfs copies the image's merged tree into rootfs: straight from the
// layer for a single layer, otherwise through a read-only overlay of the
// layers mounted for the copy.
func (s *Store) copyRootfs(im *Image, rootfs string, rec *trace.Recorder) error {
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if ents, _ := os.ReadDir(rootfs); len(ents) > 0 {
		return fmt.Errorf("%s is not empty", rootfs)
	}
	unlock, err := s.Lock(false)
	if err != nil {
		return err
	}
	defer unlock()
	var lowers []string
	for i := len(im.Layers) - 1; i >= 0; i-- {
		short, err := s.layerLink(im.Layers[i].ChainID)
		if err != nil {
			return fmt.Errorf("image %s: layer %d is not in the store: pull it again", shortID(im.ID), i+1)
		}
		lowers = append(lowers, "l/"+short)
	}
	src := filepath.Join(s.LayerDir(im.Layers[0].ChainID), "fs")
	if len(lowers) > 1 {
		mnt, err := s.TempDir("copy-")
		if err != nil {
			return err
		}
		defer os.Remove(mnt)
		data := "lowerdir=" + strings.Join(lowers, ":")
		rec.Step("mount the image's layers read-only to copy them",
			"cd "+trace.Quote(s.Root)+" && "+trace.Quote("mount", "-t", "overlay", "overlay", "-o", "ro,"+data, mnt))
		if err := mountIn(s.Root, "overlay", mnt, "overlay", unix.MS_RDONLY, data); err != nil {
			return fmt.Errorf("mount overlay: %w", err)
		}
		defer func() {
			rec.Step("unmount it", trace.Quote("umount", mnt))
			unix.Unmount(mnt, unix.MNT_DETACH)
		}()
		src = mnt
	}
	args := []string{"cp", "-a", "--", src + "/.", rootfs + "/"}
	rec.Step("copy the image's files into the bundle", trace.Quote(args...))
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("copy the rootfs: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// makeVolume makes a volume's source dir, filled with what the image has
// at that path (as Docker does), resolved inside the rootfs.
func makeVolume(rootfs, dest, src string, rec *trace.Recorder) error {
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	f, err := OpenInRoot(rootfs, strings.TrimPrefix(dest, "/"))
	if err != nil {
		return nil // nothing there in the image: an empty volume
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		return nil
	}
	rec.Step("fill the volume "+dest+" with the image's files", trace.Quote("cp", "-a", rootfs+dest+"/.", src+"/"))
	// cp reads the directory as resolved in the rootfs, through the
	// descriptor it inherits: symlinks in the image cannot lead out.
	cmd := exec.Command("cp", "-a", "--", "/dev/fd/3/.", src+"/")
	cmd.ExtraFiles = []*os.File{f}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("copy: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
