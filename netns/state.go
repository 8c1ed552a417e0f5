package netns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/miniruntime/miniruntime/internal/atomicfile"
)

// The files, all under Options.Root/networks/:
//
//	.lock                     flock: changes to networks, bridges and rules
//	.ports/<proto>-<port>-<hostip|any>   one per published port: "<network>/<container id>"
//	<name>/network.json       the Network
//	<name>/ipam/.lock         flock: this network's allocator
//	<name>/ipam/<address>     one per allocation: the container id
func (o Options) networksDir() string        { return filepath.Join(o.Root, "networks") }
func (o Options) networkDir(n string) string { return filepath.Join(o.networksDir(), n) }
func (o Options) portsDir() string           { return filepath.Join(o.networksDir(), ".ports") }

func (o Options) check() error {
	if o.Root == "" {
		return fmt.Errorf("%w: Options.Root is required", ErrInvalid)
	}
	return nil
}

// flock takes a lock on path (created if missing) and returns its release.
// Each call opens its own file description, so goroutines of one process
// exclude each other as separate processes do.
func flock(path string, how int) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the last descriptor drops the lock
}

// lockNetworks takes the global lock: exclusive to change networks or rules,
// shared to allocate.
func (o Options) lockNetworks(exclusive bool) (func(), error) {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	return flock(filepath.Join(o.networksDir(), ".lock"), how)
}

// saveNetwork writes Root/networks/<name>/network.json atomically.
func (o Options) saveNetwork(n *Network) error {
	dir := o.networkDir(n.Name)
	if err := os.MkdirAll(filepath.Join(dir, "ipam"), 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(n, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, "network.json"), append(b, '\n'), 0o600)
}

func (o Options) loadNetwork(name string) (*Network, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	b, err := os.ReadFile(filepath.Join(o.networkDir(name), "network.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	var n Network
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("network %s: %w", name, err)
	}
	return &n, nil
}

func (o Options) listNetworks() ([]Network, error) {
	ents, err := os.ReadDir(o.networksDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Network
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		n, err := o.loadNetwork(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // a directory left without its network.json
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// fileStore is the Store of one network: a file per allocated address
// (named by the address, content the container id) in dir, and dir/.lock.
type fileStore struct {
	dir    string
	mu     sync.Mutex // one Lock at a time through this value
	unlock func()
}

func newFileStore(dir string) *fileStore { return &fileStore{dir: dir} }

func (s *fileStore) Lock() error {
	s.mu.Lock()
	unlock, err := flock(filepath.Join(s.dir, ".lock"), unix.LOCK_EX)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.unlock = unlock
	return nil
}

func (s *fileStore) Unlock() error {
	s.unlock()
	s.unlock = nil
	s.mu.Unlock()
	return nil
}

// Reserve writes the id to a temporary file and hard-links it to the
// address's name: link(2) fails if the name exists, so the reservation is
// atomic and a crash never leaves a half-written allocation.
func (s *fileStore) Reserve(ip netip.Addr, id string) (bool, error) {
	tmp, err := os.CreateTemp(s.dir, ".tmp-")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.WriteString(id)
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return false, werr
	}
	err = os.Link(tmp.Name(), filepath.Join(s.dir, ip.String()))
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return err == nil, err
}

func (s *fileStore) Release(ip netip.Addr) error {
	err := os.Remove(filepath.Join(s.dir, ip.String()))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (s *fileStore) List() (map[netip.Addr]string, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[netip.Addr]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[netip.Addr]string{}
	for _, e := range ents {
		ip, err := netip.ParseAddr(e.Name())
		if err != nil {
			continue // .lock, temporary files
		}
		b, err := os.ReadFile(filepath.Join(s.dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[ip] = strings.TrimSpace(string(b))
	}
	return out, nil
}

// allocator returns the Allocator of network n over its files.
func (o Options) allocator(n *Network) *Allocator {
	return &Allocator{Subnet: n.Subnet, Gateway: n.Gateway, Store: newFileStore(filepath.Join(o.networkDir(n.Name), "ipam"))}
}

// The published-ports registry: one file per claimed host port, so that a
// second container cannot claim the same port on any network. Callers hold
// the exclusive global lock.

func portFileName(m PortMapping) string {
	ip := "any"
	if !m.allAddrs() {
		ip = m.HostIP.String()
	}
	return m.proto() + "-" + strconv.Itoa(int(m.HostPort)) + "-" + ip
}

func parsePortFileName(s string) (PortMapping, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return PortMapping{}, false
	}
	port, err := strconv.ParseUint(parts[1], 10, 16)
	if err != nil {
		return PortMapping{}, false
	}
	m := PortMapping{Protocol: parts[0], HostPort: uint16(port)}
	if parts[2] != "any" {
		if m.HostIP, err = netip.ParseAddr(parts[2]); err != nil {
			return PortMapping{}, false
		}
	}
	return m, true
}

func portOwner(network, id string) string { return network + "/" + id }

// claimPorts records ports for owner, refusing any that another owner holds.
// It is all or nothing.
func (o Options) claimPorts(owner string, ports []PortMapping) error {
	if len(ports) == 0 {
		return nil
	}
	if err := os.MkdirAll(o.portsDir(), 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(o.portsDir())
	if err != nil {
		return err
	}
	for _, e := range ents {
		held, ok := parsePortFileName(e.Name())
		if !ok {
			continue
		}
		for _, m := range ports {
			if !portsConflict(held, m) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(o.portsDir(), e.Name()))
			if err != nil {
				return err
			}
			if who := string(b); who != owner {
				return fmt.Errorf("%w: %s is published by %s", ErrPortInUse, m, who)
			}
		}
	}
	for _, m := range ports {
		if err := atomicfile.WriteFile(filepath.Join(o.portsDir(), portFileName(m)), []byte(owner), 0o600); err != nil {
			o.releasePorts(owner)
			return err
		}
	}
	return nil
}

// releasePorts forgets every port owner holds.
func (o Options) releasePorts(owner string) error {
	ents, err := os.ReadDir(o.portsDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		p := filepath.Join(o.portsDir(), e.Name())
		if atomicfile.IsTemp(e.Name()) {
			// A claim's temporary file, left by a runtime killed while
			// writing it: with the global lock held, no write is in flight.
			os.Remove(p)
			continue
		}
		if _, ok := parsePortFileName(e.Name()); !ok {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && string(b) == owner {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
