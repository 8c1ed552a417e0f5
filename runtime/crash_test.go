package runtime

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A create killed between making the state dir and writing its first
// record leaves a dir without state.json: state, list and delete must see
// it as a stopped container, and delete must free the id.
func TestStateDirWithoutRecordIsAStoppedContainer(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"half", "networks", "pods"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(root, "half")
	if err != nil {
		t.Fatalf("Load of a record-less state dir: %v", err)
	}
	if !c.Creating || c.Status() != Stopped {
		t.Fatalf("creating %v, status %s; want a stopped half-made container", c.Creating, c.Status())
	}
	if st := c.State(); st.ID != "half" || st.Status != "stopped" || st.Pid != 0 {
		t.Fatalf("state %+v", st)
	}
	// The netns package's directories are not containers.
	for _, d := range []string{"networks", "pods", "missing"} {
		if _, err := Load(root, d); !errors.Is(err, ErrNotExist) {
			t.Errorf("Load(%q): %v, want ErrNotExist", d, err)
		}
	}
	cs, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].ID != "half" {
		t.Fatalf("List: %v", cs)
	}
	if err := c.Delete(false, nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "half")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "networks")); err != nil {
		t.Fatalf("networks dir: %v", err)
	}
}

// While a create holds the container's lock, the record-less dir reads as
// creating, and delete waits for the lock instead of removing it.
func TestHalfMadeContainerUnderLockIsCreating(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "busy")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(root, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st != Creating {
		t.Fatalf("status %s under the creator's lock, want creating", st)
	}
	done := make(chan error, 1)
	go func() { done <- c.Delete(true, nil) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("delete did not wait for the lock: %v", err)
	default:
	}
	// The creator finishes its record and lets go: delete must act on
	// what it then reads, not on what it loaded before the lock.
	writeRecord(t, dir, Container{ID: "busy", Bundle: "/b"})
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir still there: %v", err)
	}
}

// A record that says creating, with its init alive, reads as creating;
// once the last record clears the flag, the init's state shows.
func TestCreatingRecordStatus(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "c")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, start, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	live := Container{ID: "c", Pid: os.Getpid(), StartTime: start, Creating: true}
	writeRecord(t, dir, live)
	c, err := Load(root, "c")
	if err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st != Creating {
		t.Fatalf("status %s, want creating", st)
	}
	live.Creating = false
	writeRecord(t, dir, live)
	if c, err = Load(root, "c"); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st != Running {
		t.Fatalf("status %s, want running", st)
	}
	// A reused pid (another start time) is not the init.
	live.Creating, live.StartTime = true, start+1
	writeRecord(t, dir, live)
	if c, err = Load(root, "c"); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st != Stopped {
		t.Fatalf("status %s with another start time, want stopped", st)
	}
}

// save leaves no temporary file, and removeStateDir removes everything
// (whatever is there) and is content with a dir that is gone.
func TestSaveAndRemoveStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "c")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &Container{ID: "c", dir: dir, Creating: true}
	for i := 0; i < 3; i++ {
		c.Pid = i
		if err := c.save(); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != stateFile {
		t.Fatalf("state dir holds %v", ents)
	}
	for _, f := range []string{configFile, "etc-hosts"} {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600)
	}
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	if err := removeStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir still there: %v", err)
	}
	if err := removeStateDir(dir); err != nil {
		t.Fatalf("second removal: %v", err)
	}
}

// A pid file is removed only while it still names the init.
func TestRemovePidFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pid")
	os.WriteFile(p, []byte("4242"), 0o644)
	removePidFile(p, 4343)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("another container's pid file was removed: %v", err)
	}
	removePidFile(p, 4242)
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file still there: %v", err)
	}
}

func writeRecord(t *testing.T, dir string, c Container) {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}
