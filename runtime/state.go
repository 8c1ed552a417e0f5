package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/internal/sysfile"
	"github.com/miniruntime/miniruntime/netns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Status is a container's lifecycle state, derived from the kernel at every
// call rather than stored, so that it can never be stale.
type Status string

const (
	Created Status = "created"
	Running Status = "running"
	Paused  Status = "paused"
	Stopped Status = "stopped"
	// Creating is a container whose create has not finished: one still
	// running, or one that was killed while its init lives on. A create
	// killed before there was any process reads as stopped.
	Creating Status = "creating"
)

// CanStart, CanKill and CanDelete say which operations a status allows.
func (s Status) CanStart() bool  { return s == Created }
func (s Status) CanKill() bool   { return s == Created || s == Running || s == Paused }
func (s Status) CanDelete() bool { return s == Stopped }

// Container is what the state dir records about one container: the OCI
// state plus the facts needed to find its processes again.
type Container struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	StartTime   uint64            `json:"initStartTime"` // /proc/<pid>/stat field 22, to detect pid reuse
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	CgroupPath  string            `json:"cgroupPath,omitempty"`
	// SystemdUnit is set when the systemd cgroup driver (--systemd-cgroup)
	// made the cgroup: the transient unit that owns it
	// ("miniruntime-web.scope"), which update changes and delete stops.
	SystemdUnit string `json:"systemdUnit,omitempty"`
	// SharedPidNS is set when the container has no pid namespace of its own;
	// then its processes outlive the init and must be killed through the
	// cgroup.
	SharedPidNS bool `json:"sharedPidNS,omitempty"`
	// HostMounts is set when the container has no mount namespace of its
	// own: its mounts under the rootfs live in the caller's namespace and
	// are removed at delete.
	HostMounts bool `json:"hostMounts,omitempty"`
	// Networks are the container's network attachments (addresses, veth,
	// published ports), released at delete.
	Networks []*netns.Attachment `json:"networks,omitempty"`
	// Creating is set from create's first record until its last: the
	// container may be half made. Everything above is recorded before the
	// thing it names is made (the cgroup and unit, each network by name,
	// the init's pid and start time as soon as it is forked), so that
	// delete can remove whatever a create killed at any point left.
	Creating bool `json:"creating,omitempty"`
	// PidFile is --pid-file, absolute; delete removes it when create did
	// not finish and it still names the init.
	PidFile string `json:"pidFile,omitempty"`

	dir  string      // <root>/<id>
	spec *specs.Spec // the frozen config, once read (Spec)
	// started: create let the init go on to the process at once
	// (CreateOptions.startAtOnce), so Start has nothing to do.
	started bool
	// loaded: read from the state dir (Load), so that a command re-reads
	// the record once it holds the lock; busy: a create holds the lock.
	loaded, busy bool
	// warnTo is the Runtime's warning sink (warn); nil: stderr.
	warnTo func(format string, args ...any)
}

const (
	stateFile  = "state.json"
	configFile = "config.json"
	fifoFile   = "exec.fifo"
)

// Dir is the container's state directory.
func (c *Container) Dir() string { return c.dir }

func (c *Container) fifoPath() string { return filepath.Join(c.dir, fifoFile) }

// Load reads the state of container id under root. A state dir without a
// record (a create killed between making the dir and writing its first
// record, or a delete killed between removing the record and the dir) is a
// container too, status creating or stopped, so that state, list and
// delete see it and delete can free its id.
func Load(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	c, err := readState(filepath.Join(root, id), id)
	if err != nil {
		return nil, err
	}
	if c.Creating {
		c.busy = dirLocked(c.dir)
	}
	return c, nil
}

// notContainers are the directories under the state root that hold other
// things than containers (the netns package's, and the records of the
// image bundles `run --image` makes).
var notContainers = map[string]bool{"networks": true, "pods": true, ".image-bundles": true}

// validateNewID is ValidateID for a container about to be made: its state
// dir must not be one of those directories.
func validateNewID(id string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	if notContainers[id] {
		return fmt.Errorf("invalid container id %q: the state root keeps the runtime's own records under that name", id)
	}
	return nil
}

func readState(dir, id string) (*Container, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		if fi, serr := os.Lstat(dir); serr == nil && fi.IsDir() && !notContainers[id] {
			return &Container{ID: id, dir: dir, Creating: true, loaded: true}, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrNotExist, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", dir, err)
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("read state %s: %w", dir, err)
	}
	c.dir, c.loaded = dir, true
	return &c, nil
}

// List loads every container under root.
func List(root string) ([]*Container, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	var out []*Container
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if ValidateID(e.Name()) != nil {
			continue
		}
		c, err := Load(root, e.Name())
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// save writes state.json atomically, so a reader never sees half of it,
// and with its data on disk before the rename, so that a state root on a
// disk does not hold an empty record after a crash of the machine.
func (c *Container) save() error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(c.dir, "."+stateFile+".")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(0o600)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(c.dir, stateFile))
	}
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// Status reads the container's status from the kernel: the init process
// (checked against its recorded start time, so a reused pid is not ours),
// the exec FIFO (present until start) and the cgroup freezer.
func (c *Container) Status() Status {
	if c.Creating {
		if c.busy || c.initAlive() {
			return Creating
		}
		return Stopped
	}
	if !c.initAlive() {
		return Stopped
	}
	if _, err := os.Lstat(c.fifoPath()); err == nil {
		return Created
	}
	if frozen(c) {
		return Paused
	}
	return Running
}

func (c *Container) initAlive() bool {
	if c.Pid <= 0 {
		return false
	}
	st, start, err := procStat(c.Pid)
	if err != nil || start != c.StartTime {
		return false
	}
	return st != 'Z' && st != 'X'
}

// procStat returns the state letter and start time (in clock ticks since
// boot) of a process from /proc/<pid>/stat.
func procStat(pid int) (byte, uint64, error) {
	b, err := sysfile.Read("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may itself hold spaces or
	// parentheses: the fields that follow start after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	start, err := strconv.ParseUint(f[19], 10, 64) // field 22 overall
	return f[0][0], start, err
}

// OCIState is the state as `state` prints it: the spec's fields plus the
// rootfs, created and owner fields that runc adds and go-runc reads.
type OCIState struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// State returns the OCI state of the container now.
func (c *Container) State() OCIState {
	st := c.Status()
	pid := c.Pid
	if st == Stopped {
		pid = 0
	}
	return OCIState{
		State: specs.State{
			Version: specs.Version, ID: c.ID, Status: specs.ContainerState(st),
			Pid: pid, Bundle: c.Bundle, Annotations: c.Annotations,
		},
		Rootfs: c.Rootfs, Created: c.Created, Owner: c.Owner,
	}
}

// lock takes an exclusive lock on the container's state dir for the life of
// one command, so that concurrent create/start/delete calls are serialised
// (the kernel drops it when its holder dies, even by SIGKILL). A record read
// before the lock is read again under it: a create or delete may have
// changed it meanwhile. ErrNotExist: the container went meanwhile.
func (c *Container) lock() (func(), error) {
	unlock, err := lockDir(c.dir)
	if err != nil || !c.loaded {
		return unlock, err
	}
	fresh, err := readState(c.dir, c.ID)
	if err != nil {
		unlock()
		return nil, err
	}
	spec, started := c.spec, c.started
	*c = *fresh
	c.spec, c.started = spec, started
	return unlock, nil
}

// dirLocked reports whether another command holds dir's lock.
func dirLocked(dir string) bool {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK
}

func lockDir(dir string) (func(), error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, ErrNotExist
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { unix.Close(fd) }, nil
}
