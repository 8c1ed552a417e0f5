package inspect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miniruntime/miniruntime/netns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A Target is what the runtime's state says about one container: enough to
// find it in the kernel. The command layer fills it from runtime.Container.
type Target struct {
	ID      string
	Status  string // as the runtime reads it now: created, running, paused
	Pid     int
	Bundle  string
	Rootfs  string
	Created time.Time
	// StateDir is <root>/<id>; its parent is the state root, where the
	// networks and pods live.
	StateDir string
	// CgroupPath is the path the runtime recorded (cgroups.Manager.Path),
	// SystemdUnit the unit that owns it with the systemd driver.
	CgroupPath  string
	SystemdUnit string
	// Spec is the config frozen at create (namespace paths, masked and
	// read-only paths, cgroupsPath); nil when it could not be read.
	Spec *specs.Spec
	// Networks are the container's own attachments (none in a pod: the
	// pod holds them).
	Networks []*netns.Attachment
}

// Root is the state root the target lives under.
func (t Target) Root() string { return filepath.Dir(t.StateDir) }

// Anatomy is everything Explain found, as `explain --format json` prints it.
type Anatomy struct {
	ID      string    `json:"id"`
	Status  string    `json:"status"`
	Pid     int       `json:"pid"`
	Bundle  string    `json:"bundle"`
	Created time.Time `json:"created"`
	ReadAt  time.Time `json:"readAt"`
	// Took is how long reading the kernel took, in microseconds.
	Took       int64  `json:"tookMicros"`
	StateFile  string `json:"stateFile"`
	ConfigFile string `json:"configFile"`

	Namespaces  []Namespace  `json:"namespaces"`
	TimeOffsets *TimeOffsets `json:"timeOffsets,omitempty"`
	Cgroup      *Cgroup      `json:"cgroup,omitempty"`
	QoS         *QoS         `json:"qos,omitempty"`
	Rootfs      *Rootfs      `json:"rootfs,omitempty"`
	Mounts      []Mount      `json:"mounts"`
	Masked      []PathState  `json:"maskedPaths"`
	ReadOnly    []PathState  `json:"readonlyPaths"`
	Process     *Process     `json:"process,omitempty"`
	Network     *Network     `json:"network,omitempty"`
	// Problems are facts that could not be read, each with its source.
	Problems []string `json:"problems,omitempty"`
}

// ErrGone is returned when the container's init went away while it was
// being read.
var ErrGone = errors.New("the container stopped while it was being read")

// Explain reads the anatomy of t from the kernel now.
func Explain(t Target) (*Anatomy, error) {
	start := time.Now()
	a := &Anatomy{
		ID: t.ID, Status: t.Status, Pid: t.Pid, Bundle: t.Bundle, Created: t.Created, ReadAt: start,
		StateFile: filepath.Join(t.StateDir, "state.json"), ConfigFile: filepath.Join(t.StateDir, "config.json"),
	}
	if t.Pid <= 0 {
		return nil, fmt.Errorf("container %s has no init process", t.ID)
	}
	startTime, err := procStartTime(t.Pid)
	if err != nil {
		return nil, ErrGone
	}
	p := &prober{t: t, a: a, proc: "/proc/" + strconv.Itoa(t.Pid)}
	p.namespaces()
	p.cgroup()
	p.qos()
	p.mounts()
	p.process()
	p.network()
	// The facts are only the container's if its init is still the same
	// process: a reused pid is not ours.
	if again, err := procStartTime(t.Pid); err != nil || again != startTime {
		return nil, ErrGone
	}
	a.Took = time.Since(start).Microseconds()
	return a, nil
}

// prober collects facts into a, noting what it could not read.
type prober struct {
	t    Target
	a    *Anatomy
	proc string // /proc/<pid>
}

func (p *prober) problem(format string, args ...any) {
	p.a.Problems = append(p.a.Problems, fmt.Sprintf(format, args...))
}

// procStartTime is field 22 of /proc/<pid>/stat, which tells a process from
// a later one with the same pid.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, fmt.Errorf("/proc/%d: a zombie", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// readTrim reads a small file whole, without its trailing newline.
func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\n"), nil
}
