package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// memStore is the in-memory fake Store.
type memStore struct {
	mu    sync.Mutex
	locks int // Lock calls, to check the allocator brackets its work
	m     map[netip.Addr]string
}

func newMemStore() *memStore { return &memStore{m: map[netip.Addr]string{}} }

func (s *memStore) Lock() error   { s.mu.Lock(); s.locks++; return nil }
func (s *memStore) Unlock() error { s.mu.Unlock(); return nil }
func (s *memStore) Reserve(ip netip.Addr, id string) (bool, error) {
	if _, ok := s.m[ip]; ok {
		return false, nil
	}
	s.m[ip] = id
	return true, nil
}
func (s *memStore) Release(ip netip.Addr) error { delete(s.m, ip); return nil }
func (s *memStore) List() (map[netip.Addr]string, error) {
	out := make(map[netip.Addr]string, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out, nil
}

func testAllocator(subnet, gw string, st Store) *Allocator {
	return &Allocator{Subnet: netip.MustParsePrefix(subnet), Gateway: netip.MustParseAddr(gw), Store: st}
}

func TestAllocatorNeverHandsOutReserved(t *testing.T) {
	// /29: .0 network, .7 broadcast; gateway .3 (not the first) -> 5 usable
	a := testAllocator("10.90.0.0/29", "10.90.0.3", newMemStore())
	seen := map[netip.Addr]bool{}
	for i := 0; i < 5; i++ {
		ip, err := a.Allocate(fmt.Sprint("c", i))
		if err != nil {
			t.Fatal(err)
		}
		if ip == a.Gateway || ip == a.Subnet.Addr() || ip == broadcast(a.Subnet) || seen[ip] || !a.Subnet.Contains(ip) {
			t.Fatalf("bad address %s", ip)
		}
		seen[ip] = true
	}
	if _, err := a.Allocate("one-too-many"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("want ErrExhausted, got %v", err)
	}
}

func TestAllocatorSameIDSameAddress(t *testing.T) {
	st := newMemStore()
	a := testAllocator("10.90.0.0/24", "10.90.0.1", st)
	first, err := a.Allocate("c1")
	if err != nil || first != netip.MustParseAddr("10.90.0.2") {
		t.Fatal(first, err)
	}
	again, _ := a.Allocate("c1")
	if again != first || len(st.m) != 1 {
		t.Fatalf("second allocation for c1: %s, %d held", again, len(st.m))
	}
	second, _ := a.Allocate("c2")
	if second != netip.MustParseAddr("10.90.0.3") {
		t.Fatal(second)
	}
	if ip, ok, _ := a.Lookup("c2"); !ok || ip != second {
		t.Fatal("lookup")
	}
	if err := a.Release("c1"); err != nil {
		t.Fatal(err)
	}
	if err := a.Release("c1"); err != nil {
		t.Fatal("releasing twice:", err)
	}
	// the lowest free address comes back
	if ip, _ := a.Allocate("c3"); ip != first {
		t.Fatalf("want %s reused, got %s", first, ip)
	}
	if st.locks == 0 {
		t.Fatal("allocator never locked the store")
	}
	if _, err := a.Allocate(""); !errors.Is(err, ErrInvalid) {
		t.Fatal("empty id accepted")
	}
}

func TestAllocatorStale(t *testing.T) {
	st := newMemStore()
	a := testAllocator("10.90.0.0/24", "10.90.0.1", st)
	for _, id := range []string{"alive", "dead1", "dead2"} {
		if _, err := a.Allocate(id); err != nil {
			t.Fatal(err)
		}
	}
	st.m[netip.MustParseAddr("10.90.0.100")] = "" // a file a crash left empty
	stale, err := a.Stale(func(id string) bool { return id == "alive" })
	if err != nil || fmt.Sprint(stale) != "[ dead1 dead2]" {
		t.Fatalf("%q %v", stale, err)
	}
}

// The real store: 50 goroutines, each with its own store value (as separate
// processes would have), allocate on one network at once.
func TestFileStoreParallel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ipam")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	const n = 50
	ips := make([]netip.Addr, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := testAllocator("10.90.0.0/24", "10.90.0.1", newFileStore(dir))
			ips[i], errs[i] = a.Allocate(fmt.Sprint("ctr-", i))
		}()
	}
	wg.Wait()
	seen := map[netip.Addr]bool{}
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if seen[ips[i]] {
			t.Fatalf("%s handed out twice", ips[i])
		}
		seen[ips[i]] = true
	}
	a := testAllocator("10.90.0.0/24", "10.90.0.1", newFileStore(dir))
	all, _ := a.All()
	if len(all) != n {
		t.Fatalf("%d allocations on disk", len(all))
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ips[7].String())); string(b) != "ctr-7" {
		t.Fatalf("file content %q", b)
	}
	for i := 0; i < n; i++ {
		if err := a.Release(fmt.Sprint("ctr-", i)); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != ".lock" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestClaimPorts(t *testing.T) {
	o := Options{Root: t.TempDir()}
	web, _ := ParsePortMappings("8080:80,5353:53/udp")
	if err := o.claimPorts("n/web", web); err != nil {
		t.Fatal(err)
	}
	if err := o.claimPorts("n/web", web); err != nil {
		t.Fatal("claiming again for the same owner:", err)
	}
	clash, _ := ParsePortMappings("192.0.2.1:8080:81")
	if err := o.claimPorts("n/other", clash); !errors.Is(err, ErrPortInUse) {
		t.Fatalf("want ErrPortInUse, got %v", err)
	}
	fine, _ := ParsePortMappings("8080:80/udp")
	if err := o.claimPorts("n/other", fine); err != nil {
		t.Fatal(err)
	}
	for _, owner := range []string{"n/web", "n/other"} {
		if err := o.releasePorts(owner); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(o.portsDir()); len(ents) != 0 {
		t.Fatalf("%d claims left", len(ents))
	}
}

func TestNetworkFilesRoundTrip(t *testing.T) {
	o := Options{Root: t.TempDir()}
	n, _ := normalize(Network{Name: "web", Subnet: netip.MustParsePrefix("10.90.0.0/24"), Internal: true})
	if err := o.saveNetwork(&n); err != nil {
		t.Fatal(err)
	}
	got, err := GetNetwork("web", o)
	if err != nil || *got != n {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := GetNetwork("nope", o); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := GetNetwork("../x", o); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	list, err := ListNetworks(o)
	if err != nil || len(list) != 1 {
		t.Fatal(list, err)
	}
	att, err := Allocate("web", "c1", o)
	if err != nil {
		t.Fatal(err)
	}
	if att.IP != netip.MustParseAddr("10.90.0.2") || att.Prefix.String() != "10.90.0.2/24" || att.MAC != "02:6d:0a:5a:00:02" || att.HostVeth != hostVethName("web", "c1") {
		t.Fatalf("%+v", att)
	}
	if _, err := Allocate("nope", "c1", o); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := ListNetworks(Options{}); !errors.Is(err, ErrInvalid) {
		t.Fatal("empty Root accepted")
	}
}
