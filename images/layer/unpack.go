// Package layer unpacks image layers, each into a directory of its own, with
// OCI whiteouts turned into overlayfs's. It is used by the pull helper only.
package layer

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Limits bound what one layer may unpack to.
type Limits struct {
	MaxBytes   int64 // sum of the regular files' sizes
	MaxEntries int   // tar entries, whiteouts included
}

// DefaultLimits are generous for real images and still stop a layer that
// would fill the disk or the inode table.
var DefaultLimits = Limits{MaxBytes: 64 << 30, MaxEntries: 2 << 20}

// UnpackStats says what a layer held.
type UnpackStats struct {
	Entries, Whiteouts, Opaques int
	Bytes                       int64
	// Skipped because the unpacker is not root: device nodes, setuid and
	// setgid bits, ownership.
	SkippedDevices, DroppedSetid int
}

// RefusedError is a layer refused for one of its entries.
type RefusedError struct {
	Entry, Reason string
}

func (e *RefusedError) Error() string {
	if e.Entry == "" {
		return e.Reason
	}
	return fmt.Sprintf("entry %q: %s", e.Entry, e.Reason)
}

const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// Unpack extracts one layer's tar stream into dir (an empty directory of
// its own), converting OCI whiteouts to overlayfs's: ".wh.NAME" becomes a
// character device 0/0 named NAME, ".wh..wh..opq" the xattr
// trusted.overlay.opaque=y on its directory (user.overlay.opaque when not
// root). As each layer has a directory of its own, a whiteout only ever
// hides lower layers, and an opaque marker takes effect whatever its place
// in the tar.
//
// Every path is resolved inside dir (openat2 RESOLVE_IN_ROOT), the last
// component is never followed, and a hard link must point at a file of
// the same layer: no entry can land outside dir. Device nodes, ownership
// and setuid bits are applied as the tar says, and only when root. An
// entry that climbs out with "..", forges overlayfs metadata, or goes past
// lim refuses the whole layer; the caller removes dir.
func Unpack(r io.Reader, dir string, lim Limits) (UnpackStats, error) {
	u := &unpacker{lim: lim, root: os.Geteuid() == 0}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return u.st, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	u.rootfd = fd
	defer unix.Close(fd)
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return u.st, fmt.Errorf("reading the layer: %w", err)
		}
		if err := u.entry(hdr, tr); err != nil {
			var re *RefusedError
			if !errors.As(err, &re) {
				err = &RefusedError{Entry: hdr.Name, Reason: err.Error()}
			} else if re.Entry == "" && !strings.HasPrefix(re.Reason, "more than") {
				re.Entry = hdr.Name
			}
			return u.st, err
		}
	}
	// Directory times last: adding their children changed them.
	for i := len(u.dirTimes) - 1; i >= 0; i-- {
		d := u.dirTimes[i]
		fd, err := u.open(d.rel, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			continue
		}
		unix.Futimes(fd, []unix.Timeval{unix.NsecToTimeval(d.atime.UnixNano()), unix.NsecToTimeval(d.mtime.UnixNano())})
		unix.Close(fd)
	}
	return u.st, nil
}

type dirTime struct {
	rel          string
	atime, mtime time.Time
}

type unpacker struct {
	lim      Limits
	root     bool
	rootfd   int
	st       UnpackStats
	dirTimes []dirTime
}

func refuse(entry, format string, args ...any) error {
	return &RefusedError{Entry: entry, Reason: fmt.Sprintf(format, args...)}
}

// clean makes a tar name relative to the layer's root; "" is the root
// itself. A leading "/" is dropped (the name is then inside the layer);
// a name that climbs out with ".." is refused.
func clean(name string) (string, bool) {
	c := path.Clean("./" + strings.TrimLeft(name, "/"))
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	if c == "." {
		return "", true
	}
	return c, true
}

// open resolves rel inside the layer, every symlink as in a chroot.
func (u *unpacker) open(rel string, flags int) (int, error) {
	if rel == "" {
		rel = "."
	}
	return unix.Openat2(u.rootfd, rel, &unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
}

// parent opens (making what is missing) the directory rel, resolved
// inside the layer.
func (u *unpacker) parent(rel string) (int, error) {
	fd, err := u.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != unix.ENOENT {
		return fd, err
	}
	cur, err := u.open("", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return -1, err
	}
	so := ""
	for _, comp := range strings.Split(rel, "/") {
		so = path.Join(so, comp)
		next, err := u.open(so, unix.O_RDONLY|unix.O_DIRECTORY)
		if err == unix.ENOENT {
			if err = unix.Mkdirat(cur, comp, 0o755); err != nil {
				unix.Close(cur)
				if err == unix.EEXIST { // a symlink leading nowhere in the layer
					return -1, refuse("", "its parent %s is a symlink to nothing the layer holds", so)
				}
				return -1, fmt.Errorf("make parent %s: %w", so, err)
			}
			u.st.Entries++
			next, err = u.open(so, unix.O_RDONLY|unix.O_DIRECTORY)
		}
		unix.Close(cur)
		if err != nil {
			return -1, fmt.Errorf("parent %s: %w", so, err)
		}
		cur = next
	}
	return cur, nil
}

func (u *unpacker) entry(hdr *tar.Header, tr io.Reader) error {
	u.st.Entries++
	if u.lim.MaxEntries > 0 && u.st.Entries > u.lim.MaxEntries {
		return refuse("", "more than %d entries", u.lim.MaxEntries)
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return refuse(hdr.Name, "unsupported entry type %q", hdr.Typeflag)
	}
	rel, ok := clean(hdr.Name)
	if !ok {
		return refuse(hdr.Name, "leaves the layer")
	}
	for k := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok && (strings.HasPrefix(x, "trusted.overlay.") || strings.HasPrefix(x, "user.overlay.")) {
			return refuse(hdr.Name, "carries the overlayfs attribute %s", x)
		}
	}
	dirRel, base := path.Split(rel)
	dirRel = strings.TrimSuffix(dirRel, "/")
	if rel == "" {
		if hdr.Typeflag != tar.TypeDir {
			return refuse(hdr.Name, "the layer's root is not a directory")
		}
		fd, err := u.open("", unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		u.dirTimes = append(u.dirTimes, dirTime{"", hdr.AccessTime, hdr.ModTime})
		return u.attrs(fd, hdr)
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(hdr, dirRel, base)
	}
	pfd, err := u.parent(dirRel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	var old unix.Stat_t
	exists := unix.Fstatat(pfd, base, &old, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := exists && old.Mode&unix.S_IFMT == unix.S_IFDIR
	// A directory replacing this layer's own whiteout of the same name
	// (".wh.X" and "X/"): the lower X is gone, so its children must not
	// show through the new one.
	wasWhiteout := exists && old.Mode&unix.S_IFMT == unix.S_IFCHR && old.Rdev == 0
	if hdr.Typeflag == tar.TypeDir && isDir {
		return u.setDir(pfd, base, rel, hdr) // attributes only
	}
	if isDir {
		return refuse(hdr.Name, "replaces a directory of the same layer")
	}
	if exists && hdr.Typeflag != tar.TypeLink {
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return err
		}
	}
	mode := uint32(hdr.Mode) & 0o7777
	if !u.root && mode&0o6000 != 0 {
		mode &^= 0o6000
		u.st.DroppedSetid++
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
			return err
		}
		if wasWhiteout {
			if err := u.opaqueAt(pfd, base); err != nil {
				return err
			}
		}
		return u.setDir(pfd, base, rel, hdr)
	case tar.TypeReg, tar.TypeRegA:
		if hdr.Size < 0 {
			return refuse(hdr.Name, "negative size")
		}
		u.st.Bytes += hdr.Size
		if u.lim.MaxBytes > 0 && u.st.Bytes > u.lim.MaxBytes {
			return refuse(hdr.Name, "the layer's files add up to more than %d bytes", u.lim.MaxBytes)
		}
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f := os.NewFile(uintptr(fd), base)
		defer f.Close()
		if n, err := io.CopyN(f, tr, hdr.Size); err != nil {
			return fmt.Errorf("after %d of %d bytes: %w", n, hdr.Size, err)
		}
		if err := u.owner(fd, hdr); err != nil {
			return err
		}
		if err := unix.Fchmod(fd, mode); err != nil {
			return err
		}
		if err := u.xattrs(fd, hdr); err != nil {
			return err
		}
		return unix.Futimes(fd, times(hdr))
	case tar.TypeSymlink:
		if hdr.Linkname == "" {
			return refuse(hdr.Name, "a symlink to nothing")
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return err
		}
		if u.root {
			if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		return unix.UtimesNanoAt(pfd, base, timespecs(hdr), unix.AT_SYMLINK_NOFOLLOW)
	case tar.TypeLink:
		return u.hardlink(hdr, pfd, base, exists, &old)
	default: // char, block, fifo
		var typ uint32 = unix.S_IFIFO
		switch hdr.Typeflag {
		case tar.TypeChar:
			typ = unix.S_IFCHR
			if hdr.Devmajor == 0 && hdr.Devminor == 0 {
				return refuse(hdr.Name, "a character device 0/0 is overlayfs's whiteout; OCI layers delete with .wh. names")
			}
		case tar.TypeBlock:
			typ = unix.S_IFBLK
		}
		if typ != unix.S_IFIFO && !u.root {
			u.st.SkippedDevices++
			return nil
		}
		if err := unix.Mknodat(pfd, base, typ|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
		if u.root {
			if err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return err
		}
		return unix.UtimesNanoAt(pfd, base, timespecs(hdr), unix.AT_SYMLINK_NOFOLLOW)
	}
}

func (u *unpacker) setDir(pfd int, base, rel string, hdr *tar.Header) error {
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	u.dirTimes = append(u.dirTimes, dirTime{rel, hdr.AccessTime, hdr.ModTime})
	return u.attrs(fd, hdr)
}

// attrs applies a directory's owner, mode and xattrs.
func (u *unpacker) attrs(fd int, hdr *tar.Header) error {
	mode := uint32(hdr.Mode) & 0o7777
	if !u.root && mode&0o6000 != 0 {
		mode &^= 0o6000
		u.st.DroppedSetid++
	}
	if err := u.owner(fd, hdr); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return err
	}
	return u.xattrs(fd, hdr)
}

func (u *unpacker) owner(fd int, hdr *tar.Header) error {
	if !u.root {
		return nil
	}
	if hdr.Uid < 0 || hdr.Gid < 0 || hdr.Uid > 1<<31-1 || hdr.Gid > 1<<31-1 {
		return refuse(hdr.Name, "owner %d:%d out of range", hdr.Uid, hdr.Gid)
	}
	return unix.Fchown(fd, hdr.Uid, hdr.Gid)
}

// xattrs sets the entry's extended attributes: all of them as root,
// user.* otherwise. A file system that has none of a kind is skipped.
func (u *unpacker) xattrs(fd int, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || (!u.root && !strings.HasPrefix(name, "user.")) {
			continue
		}
		err := unix.Fsetxattr(fd, name, []byte(v), 0)
		if err != nil && err != unix.ENOTSUP && err != unix.EOPNOTSUPP {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}

func (u *unpacker) hardlink(hdr *tar.Header, pfd int, base string, exists bool, old *unix.Stat_t) error {
	target, ok := clean(hdr.Linkname)
	if !ok || target == "" {
		return refuse(hdr.Name, "a hard link to %q, outside the layer", hdr.Linkname)
	}
	tdir, tbase := path.Split(target)
	tfd, err := u.open(strings.TrimSuffix(tdir, "/"), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return refuse(hdr.Name, "a hard link to %q, which the layer does not hold", hdr.Linkname)
	}
	defer unix.Close(tfd)
	var ts unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return refuse(hdr.Name, "a hard link to %q, which the layer does not hold", hdr.Linkname)
	}
	if ts.Mode&unix.S_IFMT == unix.S_IFDIR {
		return refuse(hdr.Name, "a hard link to the directory %q", hdr.Linkname)
	}
	if ts.Mode&unix.S_IFMT == unix.S_IFCHR && ts.Rdev == 0 {
		return refuse(hdr.Name, "a hard link to the whiteout %q", hdr.Linkname)
	}
	if exists {
		if old.Ino == ts.Ino && old.Dev == ts.Dev {
			return nil
		}
		if err := unix.Unlinkat(pfd, base, 0); err != nil {
			return err
		}
	}
	return unix.Linkat(tfd, tbase, pfd, base, 0)
}

func (u *unpacker) whiteout(hdr *tar.Header, dirRel, base string) error {
	pfd, err := u.parent(dirRel)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == opaqueMarker {
		u.st.Opaques++
		return u.opaque(pfd)
	}
	if strings.HasPrefix(base, whiteoutPrefix+whiteoutPrefix) {
		return nil // other AUFS metadata (.wh..wh.plnk, ...): nothing for overlayfs
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return refuse(hdr.Name, "a whiteout of nothing")
	}
	u.st.Whiteouts++
	var st unix.Stat_t
	if unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		// The layer's own entry stays (a whiteout hides only lower
		// layers); a directory of its own must still hide the lower one's
		// children.
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return u.opaqueAt(pfd, name)
		}
		return nil
	}
	return unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
}

// opaque marks a directory so that overlayfs hides the lower layers'
// children of it.
func (u *unpacker) opaque(fd int) error {
	name := "user.overlay.opaque"
	if u.root {
		name = "trusted.overlay.opaque"
	}
	if err := unix.Fsetxattr(fd, name, []byte("y"), 0); err != nil {
		return fmt.Errorf("set %s: %w", name, err)
	}
	return nil
}

func (u *unpacker) opaqueAt(pfd int, name string) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return u.opaque(fd)
}

func times(hdr *tar.Header) []unix.Timeval {
	ts := timespecs(hdr)
	return []unix.Timeval{unix.NsecToTimeval(unix.TimespecToNsec(ts[0])), unix.NsecToTimeval(unix.TimespecToNsec(ts[1]))}
}

func timespecs(hdr *tar.Header) []unix.Timespec {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	return []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
}
