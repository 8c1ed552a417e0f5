package images

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ImageConfig is the part of an OCI image config (or Docker's, which has
// the same fields) that the conversion reads.
type ImageConfig struct {
	Created      *time.Time `json:"created,omitempty"`
	Author       string     `json:"author,omitempty"`
	Architecture string     `json:"architecture"`
	OS           string     `json:"os"`
	OSVersion    string     `json:"os.version,omitempty"`
	OSFeatures   []string   `json:"os.features,omitempty"`
	Variant      string     `json:"variant,omitempty"`
	Config       struct {
		User         string              `json:"User,omitempty"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
		Env          []string            `json:"Env,omitempty"`
		Entrypoint   []string            `json:"Entrypoint,omitempty"`
		Cmd          []string            `json:"Cmd,omitempty"`
		Volumes      map[string]struct{} `json:"Volumes,omitempty"`
		WorkingDir   string              `json:"WorkingDir,omitempty"`
		Labels       map[string]string   `json:"Labels,omitempty"`
		StopSignal   string              `json:"StopSignal,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// DefaultPath is the PATH a process gets when its image sets none
// (containerd's and Docker's default).
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNoCommand is returned when neither the image nor the caller gives a
// command to run.
var ErrNoCommand = errors.New("the image has no command (no Entrypoint or Cmd): give one after --")

// Conversion is what Convert made beyond the spec: the volumes the image
// declares, for the caller to give sources to.
type Conversion struct {
	Volumes []string // destinations, sorted
}

// Convert applies an image config to spec (start from
// runtime.DefaultSpec()) following the image spec's conversion rules:
//
//	Entrypoint + Cmd        -> process.args (args, when given, replace Cmd)
//	Env                     -> process.env (PATH added only when the image sets none)
//	WorkingDir              -> process.cwd (default /)
//	User                    -> process.user, names resolved in rootfs's own /etc/passwd and /etc/group
//	os, architecture, ...   -> org.opencontainers.image.* annotations; Labels copied over them
//	ExposedPorts            -> org.opencontainers.image.exposedPorts annotation
//	Volumes                 -> returned, for the caller to mount
//
// rootfs is the image's root filesystem (mounted or copied); it is only
// read, and paths in it are resolved as inside a chroot.
func Convert(spec *specs.Spec, c *ImageConfig, rootfs string, args []string) (*Conversion, error) {
	if spec.Process == nil {
		spec.Process = &specs.Process{}
	}
	p := spec.Process
	ic := &c.Config
	cmd := ic.Cmd
	if len(args) > 0 {
		cmd = args
	}
	p.Args = append(append([]string{}, ic.Entrypoint...), cmd...)
	if len(p.Args) == 0 {
		return nil, ErrNoCommand
	}
	p.Env = append([]string{}, ic.Env...)
	if !hasEnv(p.Env, "PATH") {
		p.Env = append([]string{DefaultPath}, p.Env...)
	}
	if p.Terminal && !hasEnv(p.Env, "TERM") {
		p.Env = append(p.Env, "TERM=xterm")
	}
	p.Cwd = "/"
	if ic.WorkingDir != "" {
		if !strings.HasPrefix(ic.WorkingDir, "/") {
			return nil, fmt.Errorf("the image's WorkingDir %q is not absolute", ic.WorkingDir)
		}
		p.Cwd = ic.WorkingDir
	}
	u, err := ResolveUser(rootfs, ic.User)
	if err != nil {
		return nil, err
	}
	p.User = u

	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	a := spec.Annotations
	set := func(k, v string) {
		if v != "" {
			a["org.opencontainers.image."+k] = v
		}
	}
	set("os", c.OS)
	set("architecture", c.Architecture)
	set("variant", c.Variant)
	set("os.version", c.OSVersion)
	set("os.features", strings.Join(c.OSFeatures, ","))
	set("author", c.Author)
	if c.Created != nil && !c.Created.IsZero() {
		set("created", c.Created.UTC().Format(time.RFC3339))
	}
	set("stopSignal", ic.StopSignal)
	if len(ic.ExposedPorts) > 0 {
		ports := make([]string, 0, len(ic.ExposedPorts))
		for p := range ic.ExposedPorts {
			ports = append(ports, p)
		}
		sort.Strings(ports)
		set("exposedPorts", strings.Join(ports, ","))
	}
	for k, v := range ic.Labels {
		a[k] = v
	}
	conv := &Conversion{}
	for v := range ic.Volumes {
		if !strings.HasPrefix(v, "/") {
			return nil, fmt.Errorf("the image's volume %q is not an absolute path", v)
		}
		conv.Volumes = append(conv.Volumes, v)
	}
	sort.Strings(conv.Volumes)
	return conv, nil
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == name {
			return true
		}
	}
	return false
}

// ResolveUser turns an image's User ("", "name", "uid", "name:group",
// "uid:gid", ...) into a process user, reading the rootfs's own
// /etc/passwd and /etc/group. Numbers are taken as they are; a name that
// the files do not hold is an error. Additional gids come from the groups
// that list the user, unless the user was given as a number or a group was
// named.
func ResolveUser(rootfs, user string) (specs.User, error) {
	if user == "" {
		user = "0"
	}
	uname, gname, hasGroup := strings.Cut(user, ":")
	var u specs.User
	var entry *passwdEntry
	if n, err := strconv.ParseUint(uname, 10, 32); err == nil {
		u.UID = uint32(n)
		if e, _ := lookupPasswd(rootfs, func(e *passwdEntry) bool { return e.uid == u.UID }); e != nil {
			u.GID = e.gid
		}
	} else {
		e, err := lookupPasswd(rootfs, func(e *passwdEntry) bool { return e.name == uname })
		if err != nil {
			return u, fmt.Errorf("image user %q: %w", user, err)
		}
		if e == nil {
			return u, fmt.Errorf("image user %q: no user %q in the image's /etc/passwd", user, uname)
		}
		entry = e
		u.UID, u.GID = e.uid, e.gid
	}
	if hasGroup {
		if n, err := strconv.ParseUint(gname, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			groups, err := readGroups(rootfs)
			if err != nil {
				return u, fmt.Errorf("image user %q: %w", user, err)
			}
			found := false
			for _, g := range groups {
				if g.name == gname {
					u.GID, found = g.gid, true
					break
				}
			}
			if !found {
				return u, fmt.Errorf("image user %q: no group %q in the image's /etc/group", user, gname)
			}
		}
		return u, nil
	}
	if entry != nil {
		groups, err := readGroups(rootfs)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return u, fmt.Errorf("image user %q: %w", user, err)
		}
		for _, g := range groups {
			if g.gid == u.GID {
				continue
			}
			for _, m := range g.members {
				if m == entry.name {
					u.AdditionalGids = append(u.AdditionalGids, g.gid)
					break
				}
			}
		}
	}
	return u, nil
}

type passwdEntry struct {
	name     string
	uid, gid uint32
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func lookupPasswd(rootfs string, match func(*passwdEntry) bool) (*passwdEntry, error) {
	var found *passwdEntry
	err := readColonFile(rootfs, "etc/passwd", func(f []string) {
		if found != nil || len(f) < 4 {
			return
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return
		}
		e := &passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid)}
		if match(e) {
			found = e
		}
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return found, err
}

func readGroups(rootfs string) ([]groupEntry, error) {
	var out []groupEntry
	err := readColonFile(rootfs, "etc/group", func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return
		}
		g := groupEntry{name: f[0], gid: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	})
	return out, err
}

// readColonFile reads rootfs/name resolving every symlink inside rootfs,
// as the container would see it (openat2 RESOLVE_IN_ROOT): an image whose
// /etc/passwd links to /etc/shadow or ../../host is read in its own tree.
func readColonFile(rootfs, name string, line func([]string)) error {
	f, err := OpenInRoot(rootfs, name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	for sc.Scan() {
		t := sc.Text()
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		line(strings.Split(t, ":"))
	}
	return sc.Err()
}

// OpenInRoot opens rootfs/name for reading with every path component
// resolved inside rootfs.
func OpenInRoot(rootfs, name string) (*os.File, error) {
	root, err := unix.Open(rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, name, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	})
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/" + name + " in the image", Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}
