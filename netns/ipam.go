package netns

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// A Store keeps the allocations of one network: address -> container id.
// Lock and Unlock bracket every read-modify-write the Allocator does; the
// other methods are only called between them. fileStore is the real one;
// the tests use an in-memory fake.
type Store interface {
	Lock() error
	Unlock() error
	// Reserve records ip for id; false when ip is already taken.
	Reserve(ip netip.Addr, id string) (bool, error)
	// Release forgets ip; releasing a free address is not an error.
	Release(ip netip.Addr) error
	// List returns every allocation.
	List() (map[netip.Addr]string, error)
}

// An Allocator hands out the addresses of one subnet: never the network
// address, the broadcast address or the gateway, and the same address again
// for an id that already has one. It picks the lowest free address, which
// keeps addresses small and predictable for a learner; reuse is harmless
// because the MAC follows the address (see macFor).
type Allocator struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
	Store   Store
}

// Allocate returns id's address, reserving the lowest free one if id has none.
func (a *Allocator) Allocate(id string) (netip.Addr, error) {
	if err := validID(id); err != nil {
		return netip.Addr{}, err
	}
	if err := a.Store.Lock(); err != nil {
		return netip.Addr{}, err
	}
	defer a.Store.Unlock()
	taken, err := a.Store.List()
	if err != nil {
		return netip.Addr{}, err
	}
	for ip, owner := range taken {
		if owner == id && a.Subnet.Contains(ip) {
			return ip, nil
		}
	}
	last := broadcast(a.Subnet)
	for ip := a.Subnet.Addr().Next(); ip.IsValid() && ip.Less(last); ip = ip.Next() {
		if ip == a.Gateway {
			continue
		}
		if _, used := taken[ip]; used {
			continue
		}
		ok, err := a.Store.Reserve(ip, id)
		if err != nil {
			return netip.Addr{}, err
		}
		if ok {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%w in %s (%d allocated)", ErrExhausted, a.Subnet, len(taken))
}

// Lookup returns id's address, if it has one.
func (a *Allocator) Lookup(id string) (netip.Addr, bool, error) {
	if err := a.Store.Lock(); err != nil {
		return netip.Addr{}, false, err
	}
	defer a.Store.Unlock()
	taken, err := a.Store.List()
	if err != nil {
		return netip.Addr{}, false, err
	}
	for ip, owner := range taken {
		if owner == id {
			return ip, true, nil
		}
	}
	return netip.Addr{}, false, nil
}

// Release frees every address held by id. Releasing an id that holds none is
// not an error.
func (a *Allocator) Release(id string) error {
	if err := a.Store.Lock(); err != nil {
		return err
	}
	defer a.Store.Unlock()
	taken, err := a.Store.List()
	if err != nil {
		return err
	}
	for ip, owner := range taken {
		if owner == id {
			if err := a.Store.Release(ip); err != nil {
				return err
			}
		}
	}
	return nil
}

// Stale returns the ids holding an address for which exists says false,
// sorted. GC releases them after removing their other traces.
func (a *Allocator) Stale(exists func(id string) bool) ([]string, error) {
	all, err := a.All()
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, id := range all {
		if !seen[id] && (id == "" || !exists(id)) {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// All returns a copy of every allocation.
func (a *Allocator) All() (map[netip.Addr]string, error) {
	if err := a.Store.Lock(); err != nil {
		return nil, err
	}
	defer a.Store.Unlock()
	return a.Store.List()
}

// validID refuses container ids that cannot be stored one per file.
func validID(id string) error {
	if id == "" || len(id) > 1024 || strings.ContainsAny(id, "\n\x00") {
		return fmt.Errorf("%w: container id %q", ErrInvalid, id)
	}
	return nil
}
