package runtime

import (
	"fmt"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountOpts is one mount's options from config.json, split the way the
// kernel wants them: flags for mount(2), a propagation change that needs its
// own mount(2) call, recursive attributes for mount_setattr(2), and the rest
// as the filesystem's data string.
type mountOpts struct {
	flags       uintptr
	clear       uintptr // flags named off explicitly ("rw", "suid", ...)
	propagation uintptr
	attrSet     uint64 // recursive attributes ("rro", "rnosuid", ...)
	attrClr     uint64
	data        []string
	bind        bool
	recursive   bool // rbind
}

var flagOpts = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"atime": {true, unix.MS_NOATIME}, "noatime": {false, unix.MS_NOATIME},
	"diratime": {true, unix.MS_NODIRATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"nosymfollow": {false, unix.MS_NOSYMFOLLOW}, "symfollow": {true, unix.MS_NOSYMFOLLOW},
	"silent": {false, unix.MS_SILENT}, "loud": {true, unix.MS_SILENT},
	"defaults": {false, 0},
}

var propagationOpts = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

var recursiveAttrs = map[string]struct {
	clear bool
	attr  uint64
}{
	"rro": {false, unix.MOUNT_ATTR_RDONLY}, "rrw": {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid": {false, unix.MOUNT_ATTR_NOSUID}, "rsuid": {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev": {false, unix.MOUNT_ATTR_NODEV}, "rdev": {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec": {false, unix.MOUNT_ATTR_NOEXEC}, "rexec": {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime": {false, unix.MOUNT_ATTR_NODIRATIME}, "rdiratime": {true, unix.MOUNT_ATTR_NODIRATIME},
	"rnoatime": {false, unix.MOUNT_ATTR_NOATIME}, "rrelatime": {false, unix.MOUNT_ATTR_RELATIME},
	"rstrictatime": {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow": {false, unix.MOUNT_ATTR_NOSYMFOLLOW}, "rsymfollow": {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// parseMountOptions splits options; anything it does not know is passed to
// the filesystem as data (mode=755, size=64k, newinstance, ...), as mount(8)
// does.
func parseMountOptions(opts []string) (mountOpts, error) {
	var o mountOpts
	for _, opt := range opts {
		switch {
		case opt == "bind":
			o.bind = true
		case opt == "rbind":
			o.bind, o.recursive = true, true
		case opt == "idmap" || opt == "ridmap":
			return o, fmt.Errorf("option %q: id-mapped mounts are not supported", opt)
		case opt == "tmpcopyup":
			return o, fmt.Errorf("option %q is runc-specific and not supported", opt)
		default:
			if f, ok := flagOpts[opt]; ok {
				if f.clear {
					o.flags &^= f.flag
					o.clear |= f.flag
				} else {
					o.flags |= f.flag
				}
			} else if p, ok := propagationOpts[opt]; ok {
				o.propagation = p
			} else if a, ok := recursiveAttrs[opt]; ok {
				if a.clear {
					o.attrClr |= a.attr
				} else {
					o.attrSet |= a.attr
				}
			} else {
				o.data = append(o.data, opt)
			}
		}
	}
	return o, nil
}

// flagNames renders mount flags back into mount(8) options for the trace.
func flagNames(f uintptr) string {
	var out []string
	for name, o := range flagOpts {
		if !o.clear && o.flag != 0 && f&o.flag == o.flag {
			out = append(out, name)
		}
	}
	if f&unix.MS_BIND != 0 {
		out = append(out, "bind")
	}
	if f&unix.MS_REC != 0 {
		out = append(out, "rec")
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// isBind reports whether a mount is a bind mount, by its type or options.
func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}
