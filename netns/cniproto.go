package netns

// The CNI protocol (spec 1.0 and 1.1, SPEC.md of
// github.com/containernetworking/cni), as much of it as the cni driver
// needs: a network configuration list is read and checked, and an
// attachment is added or deleted by running each plugin's binary with the
// parameters in its environment and the request configuration on stdin.
// The result of ADD is kept on disk, because DEL must hand it back to the
// plugins, usually from another process and long after.
//
// Written here rather than taken from libcni: libcni's exec layer links in
// net/http, crypto/tls and OpenTelemetry, whose initialisation every start
// of the binary would pay, container init included.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// cniVersions are the spec versions spoken here, oldest first. Their
// request configurations and results have the same shape.
var cniVersions = []string{"1.0.0", "1.1.0"}

// cniList is a network configuration list.
type cniList struct {
	Name    string
	Version string // the version selected for every request
	Plugins []cniPlugin
}

// cniPlugin is one plugin configuration object. raw holds all of its keys:
// those the runtime does not know must reach the plugin unchanged.
type cniPlugin struct {
	Type         string
	Capabilities map[string]bool
	raw          map[string]json.RawMessage
}

// parseCNIList reads and checks a network configuration list (spec
// section 1). Keys it does not act on (disableCheck, disableGC, ...) are
// ignored.
func parseCNIList(b []byte) (*cniList, error) {
	var doc struct {
		Version  string            `json:"cniVersion"`
		Versions []string          `json:"cniVersions"`
		Name     string            `json:"name"`
		Plugins  []json.RawMessage `json:"plugins"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("conflist: %w", err)
	}
	if !cniIdent(doc.Name) {
		return nil, fmt.Errorf("conflist: name %q: want a letter or digit, then letters, digits, '_', '.' or '-'", doc.Name)
	}
	l := &cniList{Name: doc.Name}
	// The spec has the runtime pick the highest version the list offers.
	for _, v := range slices.Backward(cniVersions) {
		if v == doc.Version || slices.Contains(doc.Versions, v) {
			l.Version = v
			break
		}
	}
	if l.Version == "" {
		return nil, fmt.Errorf("conflist %s: cniVersion %q: supported are %s", l.Name, doc.Version, strings.Join(cniVersions, ", "))
	}
	if len(doc.Plugins) == 0 {
		return nil, fmt.Errorf("conflist %s: no plugins", l.Name)
	}
	for i, b := range doc.Plugins {
		var p cniPlugin
		var typed struct {
			Type         string          `json:"type"`
			Capabilities map[string]bool `json:"capabilities"`
		}
		if err := json.Unmarshal(b, &p.raw); err != nil {
			return nil, fmt.Errorf("conflist %s: plugin %d: %w", l.Name, i, err)
		}
		if err := json.Unmarshal(b, &typed); err != nil {
			return nil, fmt.Errorf("conflist %s: plugin %d: %w", l.Name, i, err)
		}
		// type is a file name in the CNI path, never a path of its own.
		if t := typed.Type; t == "" || t == "." || t == ".." || strings.ContainsAny(t, `/\`) {
			return nil, fmt.Errorf("conflist %s: plugin %d: type %q is not a plugin file name", l.Name, i, t)
		}
		p.Type, p.Capabilities = typed.Type, typed.Capabilities
		l.Plugins = append(l.Plugins, p)
	}
	return l, nil
}

// cniIdent is the spec's rule for network names and container ids: a letter
// or digit, then letters, digits, '_', '.' or '-'. It also keeps them safe
// as file names in the result cache.
func cniIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return s != ""
}

// request derives what a plugin reads on stdin (spec section 3): its own
// object with the list's name and the selected version, under runtimeConfig
// the capability arguments it declared, and prevResult when there is one.
// capabilities is the list's business, and cni.dev/ keys are only for GC,
// so neither is passed on.
func (l *cniList) request(p *cniPlugin, caps map[string]any, prev json.RawMessage) ([]byte, error) {
	req := make(map[string]any, len(p.raw)+4)
	for k, v := range p.raw {
		if k != "capabilities" && k != "runtimeConfig" && k != "prevResult" && !strings.HasPrefix(k, "cni.dev/") {
			req[k] = v
		}
	}
	req["cniVersion"], req["name"] = l.Version, l.Name
	rc := map[string]any{}
	for name, on := range p.Capabilities {
		if v, ok := caps[name]; on && ok {
			rc[name] = v
		}
	}
	if len(rc) > 0 {
		req["runtimeConfig"] = rc
	}
	if prev != nil {
		req["prevResult"] = prev
	}
	return json.Marshal(req)
}

// cniAttachment is one attachment's parameters (spec section 3): container
// id and interface name identify it, NetNS is the namespace's path ("" for
// a DEL once it is gone), Caps the capability arguments by name. There are
// no generic arguments: CNI_ARGS is always empty.
type cniAttachment struct {
	ContainerID string
	NetNS       string
	IfName      string
	Caps        map[string]any
}

func (a *cniAttachment) check() error {
	if !cniIdent(a.ContainerID) {
		return fmt.Errorf("%w: container id %q: CNI wants a letter or digit, then letters, digits, '_', '.' or '-'", ErrInvalid, a.ContainerID)
	}
	if err := validIfName(a.IfName); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// cniResult is the part of an ADD result (spec section 5) the driver reads.
type cniResult struct {
	CNIVersion string `json:"cniVersion"`
	Interfaces []struct {
		Name    string `json:"name"`
		Mac     string `json:"mac"`
		Sandbox string `json:"sandbox"`
	} `json:"interfaces"`
	IPs []struct {
		Address string `json:"address"`
		Gateway string `json:"gateway"`
	} `json:"ips"`
}

// cniError is the error a plugin prints when it fails (spec section 5).
// Codes below 100 are the spec's: 7 invalid configuration, 11 try again
// later, and so on.
type cniError struct {
	Plugin  string `json:"-"`
	Code    uint   `json:"code"`
	Msg     string `json:"msg"`
	Details string `json:"details"`
}

func (e *cniError) Error() string {
	s := e.Plugin + " plugin: " + e.Msg
	if e.Details != "" {
		s += ": " + e.Details
	}
	return fmt.Sprintf("%s (CNI error code %d)", s, e.Code)
}

// cni runs the plugins of one network's list from the host namespace.
type cni struct {
	list     *cniList
	path     []string // where plugins are looked for; also CNI_PATH
	cacheDir string   // ADD results, kept for DEL
	host     *nsHandle
}

// add runs ADD through the list in order, each plugin getting the result of
// the one before as prevResult, and keeps the last result for DEL.
func (c *cni) add(ctx context.Context, a *cniAttachment) (*cniResult, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	var prev json.RawMessage
	var res cniResult
	for i := range c.list.Plugins {
		p := &c.list.Plugins[i]
		out, err := c.exec(ctx, "ADD", p, a, prev)
		if err != nil {
			return nil, err
		}
		res = cniResult{}
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, fmt.Errorf("%s plugin: result: %w", p.Type, err)
		}
		if res.CNIVersion != c.list.Version {
			return nil, fmt.Errorf("%s plugin: result of version %q, asked for %s", p.Type, res.CNIVersion, c.list.Version)
		}
		prev = out
	}
	if err := c.keep(a, prev); err != nil {
		return nil, fmt.Errorf("keep the CNI result: %w", err)
	}
	return &res, nil
}

// del runs DEL through the list in reverse order, every plugin getting the
// kept ADD result as prevResult and the capability arguments ADD had (the
// spec wants the same parameters, and a caller cleaning up after a crash no
// longer knows them). The result is forgotten only once every plugin has
// succeeded, so a failed DEL can be repeated.
func (c *cni) del(ctx context.Context, a *cniAttachment) error {
	if a.check() != nil {
		return nil // add refuses these, so nothing was set up
	}
	kept, err := c.kept(a.ContainerID, a.IfName)
	if err != nil {
		return err
	}
	var prev json.RawMessage
	if kept != nil {
		prev = kept.Result
		withCaps := *a
		withCaps.Caps = make(map[string]any, len(kept.Caps))
		for name, v := range kept.Caps {
			withCaps.Caps[name] = v
		}
		a = &withCaps
	}
	for i := len(c.list.Plugins) - 1; i >= 0; i-- {
		if _, err := c.exec(ctx, "DEL", &c.list.Plugins[i], a, prev); err != nil {
			return err
		}
	}
	return c.forget(a.ContainerID, a.IfName)
}

// exec runs one plugin and returns its stdout. The plugin inherits the
// runtime's environment (the bridge plugin finds iptables through PATH)
// with any CNI_ variables replaced by this run's. When c.host is another
// namespace than the caller's, the plugin is started from a thread inside
// it, so that it takes that namespace for the host (a child inherits the
// namespaces of the thread that forks it).
func (c *cni) exec(ctx context.Context, command string, p *cniPlugin, a *cniAttachment, prev json.RawMessage) ([]byte, error) {
	stdin, err := c.list.request(p, a.Caps, prev)
	if err != nil {
		return nil, fmt.Errorf("%s plugin: configuration: %w", p.Type, err)
	}
	bin, err := findPlugin(p.Type, c.path)
	if err != nil {
		return nil, err
	}
	env := []string{
		"CNI_COMMAND=" + command,
		"CNI_CONTAINERID=" + a.ContainerID,
		"CNI_NETNS=" + a.NetNS,
		"CNI_IFNAME=" + a.IfName,
		"CNI_ARGS=",
		"CNI_PATH=" + strings.Join(c.path, string(filepath.ListSeparator)),
	}
	if c.host.rec.Enabled() {
		// nsenter goes after the pipe: the plugin, not echo, runs in the host.
		run := trace.Quote(append(append([]string{"env"}, env...), bin)...)
		c.host.rec.Step("CNI "+command+": "+p.Type+" plugin", "echo "+trace.Quote(string(stdin))+" | "+c.host.shell(run))
	}
	cmd := exec.CommandContext(ctx, bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CNI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(stdin), &stdout, &stderr
	// A plugin's children (iptables) could hold stdout open after it dies.
	cmd.WaitDelay = time.Second
	if c.host.path == "" {
		err = cmd.Run()
	} else {
		err = c.host.do(cmd.Run)
	}
	if err != nil {
		return nil, pluginError(ctx, p.Type, err, stdout.Bytes(), stderr.Bytes())
	}
	os.Stderr.Write(stderr.Bytes()) // the plugin's own log lines, as it wrote them
	return stdout.Bytes(), nil
}

// pluginError explains a failed run: the error the plugin printed (section 5
// puts it on stdout, section 2 on stderr, so both are tried), else its exit
// status and output.
func pluginError(ctx context.Context, plugin string, err error, stdout, stderr []byte) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s plugin: %w (%v)", plugin, ctx.Err(), err)
	}
	for _, out := range [][]byte{stdout, stderr} {
		e := &cniError{Plugin: plugin}
		if json.Unmarshal(out, e) == nil && (e.Msg != "" || e.Code != 0) {
			return e
		}
	}
	if msg := strings.TrimSpace(string(stderr) + "\n" + string(stdout)); msg != "" {
		return fmt.Errorf("%s plugin: %w: %s", plugin, err, msg)
	}
	return fmt.Errorf("%s plugin: %w", plugin, err)
}

// findPlugin returns the first executable file named typ in dirs.
func findPlugin(typ string, dirs []string) (string, error) {
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, typ)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s plugin: no executable %s in %s", typ, typ, strings.Join(dirs, string(filepath.ListSeparator)))
}

// cniKept is what ADD leaves for DEL, in
// <cacheDir>/results/<container id>/<interface>.
type cniKept struct {
	ContainerID string                     `json:"containerId"`
	IfName      string                     `json:"ifName"`
	Caps        map[string]json.RawMessage `json:"capabilityArgs,omitempty"`
	Result      json.RawMessage            `json:"result"`
}

func (c *cni) keptDir(containerID string) string {
	return filepath.Join(c.cacheDir, "results", containerID)
}

func (c *cni) keep(a *cniAttachment, result json.RawMessage) error {
	k := cniKept{ContainerID: a.ContainerID, IfName: a.IfName, Result: result, Caps: map[string]json.RawMessage{}}
	for name, v := range a.Caps {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		k.Caps[name] = b
	}
	b, err := json.Marshal(k)
	if err != nil {
		return err
	}
	dir := c.keptDir(a.ContainerID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, a.IfName), append(b, '\n'), 0o600)
}

// kept returns the ADD result kept for an attachment, nil when there is none.
func (c *cni) kept(containerID, ifName string) (*cniKept, error) {
	path := filepath.Join(c.keptDir(containerID), ifName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var k cniKept
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("CNI result %s: %w", path, err)
	}
	return &k, nil
}

// forget removes an attachment's kept result, and the container's directory
// with its last one.
func (c *cni) forget(containerID, ifName string) error {
	dir := c.keptDir(containerID)
	if err := os.Remove(filepath.Join(dir, ifName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) {
		return err
	}
	return nil
}

// keptIfNames lists the interfaces a container has results kept for: after
// a crash, the runtime's own record of them is gone.
func (c *cni) keptIfNames(containerID string) ([]string, error) {
	if !cniIdent(containerID) {
		return nil, nil
	}
	ents, err := os.ReadDir(c.keptDir(containerID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var names []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") { // not atomicfile's temporaries
			names = append(names, e.Name())
		}
	}
	return names, err
}
