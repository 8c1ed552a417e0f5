package cgroups

import (
	"fmt"
	"strings"
)

// The systemd driver's linux.cgroupsPath is runc's "slice:prefix:name":
//
//	""                                        system.slice/miniruntime-<id>.scope
//	"system.slice:docker:abc"                 system.slice/docker-abc.scope
//	":crio:abc"                               system.slice/crio-abc.scope
//	"machine.slice:libpod:abc"                machine.slice/libpod-abc.scope
//	"kubepods-burstable-pod12.slice:cri-containerd:abc"
//	        kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice/cri-containerd-abc.scope
//	"-:x:abc" or "-.slice:x:abc"              x-abc.scope at the root (-.slice)
//	"kubepods.slice::kubepods-pod12.slice"    a slice unit instead of a scope
//
// A slice is a systemd unit name, not a path: a dash in it names its parent
// (a-b.slice lives in a.slice, which lives in -.slice, the root), so there is
// never a "/". The cgroup directories follow the names.

// DefaultScopePrefix is the prefix of a scope unit when linux.cgroupsPath is
// empty: the unit is miniruntime-<id>.scope in system.slice, as runc's is
// runc-<id>.scope.
const DefaultScopePrefix = "miniruntime"

// defaultSlice is where a unit goes when the path names no slice.
const defaultSlice = "system.slice"

// rootSlice is systemd's root slice; its cgroup is the root of the hierarchy.
const rootSlice = "-.slice"

// unitNameMax is systemd's limit on a unit name (UNIT_NAME_MAX, 256 with
// the terminating NUL).
const unitNameMax = 255

// systemdPath is a linux.cgroupsPath of the systemd driver, resolved.
type systemdPath struct {
	// Slice is the slice unit the container's unit lives in
	// ("system.slice", "-.slice" for the root).
	Slice string
	// Unit is the container's unit: "<prefix>-<name>.scope", or the name
	// itself when it ends in .slice.
	Unit string
	// Path is the unit's cgroup, from the root of the hierarchy:
	// "/system.slice/miniruntime-web.scope".
	Path string
}

// Scope reports whether the unit is a scope (the usual case) rather than a
// slice.
func (p systemdPath) Scope() bool { return strings.HasSuffix(p.Unit, ".scope") }

// pathError is a linux.cgroupsPath the systemd driver cannot use. It reads
// `linux.cgroupsPath "a:b": expected "slice:prefix:name" ...` and matches
// ErrInvalid.
type pathError struct {
	path, msg string
}

func (e *pathError) Error() string { return fmt.Sprintf("linux.cgroupsPath %q: %s", e.path, e.msg) }
func (e *pathError) Unwrap() error { return ErrInvalid }

// parseSystemdPath resolves cgroupsPath as runc's systemd driver does:
// exactly three colon-separated parts, an empty slice meaning system.slice,
// "-" (or "-.slice") the root slice, and a name ending in .slice making a
// slice unit (whose prefix is ignored) instead of <prefix>-<name>.scope. An
// empty path is "system.slice:miniruntime:<id>".
//
// Where runc would go on to fail later or make a unit elsewhere than the
// cgroup path it computed, this refuses up front: an empty name (runc would
// make "<prefix>-.scope"), characters systemd does not allow in unit names,
// and a slice unit whose name puts it under a different parent than the
// path's slice (systemd places a slice by its name alone).
func parseSystemdPath(id, cgroupsPath string) (systemdPath, error) {
	bad := func(format string, a ...any) (systemdPath, error) {
		return systemdPath{}, &pathError{path: cgroupsPath, msg: fmt.Sprintf(format, a...)}
	}
	slice, prefix, name := "", DefaultScopePrefix, id
	if cgroupsPath != "" {
		parts := strings.Split(cgroupsPath, ":")
		if len(parts) != 3 {
			hint := ""
			if strings.HasPrefix(cgroupsPath, "/") {
				hint = "; a path is for the cgroupfs driver (without --systemd-cgroup)"
			}
			return bad(`expected "slice:prefix:name" with the systemd cgroup driver, such as %q%s`, "system.slice:"+DefaultScopePrefix+":"+id, hint)
		}
		slice, prefix, name = parts[0], parts[1], parts[2]
	}
	if name == "" {
		return bad("the name (third part) is empty; it names the unit, <prefix>-<name>.scope")
	}
	if slice == "-" {
		slice = rootSlice
	}
	var p systemdPath
	if strings.HasSuffix(name, ".slice") {
		// A slice unit: systemd puts it where its name says.
		parent, err := sliceParent(name)
		if err != nil {
			return bad("%v", err)
		}
		if slice != "" && slice != parent {
			return bad("the slice unit %q lives in %s by its name, not in %s: systemd places a slice by its name alone", name, parent, slice)
		}
		p.Slice, p.Unit = parent, name
	} else {
		if slice == "" {
			slice = defaultSlice
		}
		p.Slice, p.Unit = slice, prefix+"-"+name+".scope"
	}
	if err := checkUnitName(p.Unit); err != nil {
		return bad("%v", err)
	}
	dir, err := ExpandSlice(p.Slice)
	if err != nil {
		return bad("%v", err)
	}
	if p.Scope() {
		p.Path = strings.TrimSuffix(dir, "/") + "/" + p.Unit
	} else if p.Path, err = ExpandSlice(p.Unit); err != nil {
		return bad("%v", err)
	}
	return p, nil
}

// ExpandSlice turns a slice unit name into its cgroup path, as systemd
// nests slices: every dash opens a level, so "kubepods-burstable-pod12.slice"
// is "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice",
// and the root slice "-.slice" is "/". A name that does not end in .slice,
// contains "/", or has an empty part between dashes ("a--b.slice",
// "-a.slice", "a-.slice") is refused.
func ExpandSlice(slice string) (string, error) {
	if slice == rootSlice {
		return "/", nil
	}
	base, ok := strings.CutSuffix(slice, ".slice")
	switch {
	case strings.Contains(slice, "/"):
		return "", fmt.Errorf("slice %q contains %q: a slice is a unit name, not a path (a dash nests it: a-b.slice lives in a.slice)", slice, "/")
	case !ok || base == "":
		return "", fmt.Errorf("slice %q is not a slice unit name (such as system.slice or kubepods-besteffort.slice)", slice)
	}
	if err := checkUnitName(slice); err != nil {
		return "", err
	}
	// "/a.slice/a-b.slice/a-b-c.slice": each level is the name up to a dash.
	var b strings.Builder
	start := 0
	for i := 0; i <= len(base); i++ {
		if i < len(base) && base[i] != '-' {
			continue
		}
		if i == start {
			return "", fmt.Errorf("slice %q has an empty part between dashes", slice)
		}
		b.WriteString("/" + base[:i] + ".slice")
		start = i + 1
	}
	return b.String(), nil
}

// sliceParent is the slice a slice unit lives in by its name: "a-b.slice"
// is in "a.slice", "a.slice" in "-.slice".
func sliceParent(slice string) (string, error) {
	if _, err := ExpandSlice(slice); err != nil {
		return "", err
	}
	base := strings.TrimSuffix(slice, ".slice")
	if i := strings.LastIndexByte(base, '-'); i >= 0 {
		return base[:i] + ".slice", nil
	}
	return rootSlice, nil
}

// checkUnitName refuses what systemd would: names longer than 255 bytes
// and characters other than ASCII letters, digits and ":-_.\" (systemd's
// VALID_CHARS; "@" only marks template instances, which a transient scope
// is not).
func checkUnitName(name string) error {
	if len(name) > unitNameMax {
		return fmt.Errorf("unit name %q is longer than systemd's %d characters", name, unitNameMax)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":-_.\\", c) >= 0 {
			continue
		}
		return fmt.Errorf("unit name %q: %q is not allowed in a systemd unit name (letters, digits and \":-_.\\\" only)", name, string(c))
	}
	return nil
}
