package netns

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// A network command killed at any point leaves what RemoveNetwork removes:
// a record without its bridge and rules (create killed after the record,
// which comes first), a directory without its record (rm killed after
// removing the record, which goes last), and addresses of containers that
// are gone (collected by GC before the in-use check).
func TestRemoveNetworkAfterKilledCommands(t *testing.T) {
	w := newWorld(t)

	half, err := normalize(Network{Name: "half", Subnet: netip.MustParsePrefix("10.202.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.o.saveNetwork(&half); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNetwork("half", false, w.o); err != nil {
		t.Fatalf("remove a network whose create was killed after its record: %v", err)
	}

	gone := filepath.Join(w.o.networkDir("gone"), "ipam")
	if err := os.MkdirAll(gone, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(gone, "10.203.0.2"), []byte("c0"), 0o600)
	if err := RemoveNetwork("gone", false, w.o); err != nil {
		t.Fatalf("remove a network directory without its record: %v", err)
	}
	if _, err := os.Stat(w.o.networkDir("gone")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory left: %v", err)
	}

	w.network(Network{Name: "busy", Subnet: netip.MustParsePrefix("10.204.0.0/24")})
	if _, err := Allocate("busy", "c1", w.o); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNetwork("busy", false, w.o); !errors.Is(err, ErrInUse) {
		t.Fatalf("remove with an address held: %v, want ErrInUse", err)
	}
	if err := GC("busy", func(string) bool { return true }, w.o); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNetwork("busy", false, w.o); !errors.Is(err, ErrInUse) {
		t.Fatalf("GC released the address of a live container: %v", err)
	}
	if err := GC("busy", func(string) bool { return false }, w.o); err != nil {
		t.Fatal(err)
	}
	w.remove("busy")
	if _, err := os.Stat(w.o.networkDir("busy")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory left: %v", err)
	}
}
