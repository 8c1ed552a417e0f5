package inspect

import (
	"bufio"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Process is the container's init as the kernel has it.
type Process struct {
	Pid     int      `json:"pid"`
	Cmdline []string `json:"cmdline"`
	State   string   `json:"state"`
	User    User     `json:"user"`
	// Capabilities maps each set (inheritable, permitted, effective,
	// bounding, ambient) to its capabilities by name.
	Capabilities map[string]CapSet `json:"capabilities"`
	NoNewPrivs   bool              `json:"noNewPrivs"`
	Seccomp      Seccomp           `json:"seccomp"`
	AppArmor     *AppArmor         `json:"apparmor,omitempty"`
	Rlimits      []Rlimit          `json:"rlimits"`
	OOMScoreAdj  int               `json:"oomScoreAdj"`
	// StatusFile is where user, capabilities, no_new_privs and seccomp
	// were read; the other files are named with their facts.
	StatusFile  string `json:"statusFile"`
	LimitsFile  string `json:"limitsFile"`
	OOMFile     string `json:"oomScoreAdjFile"`
	CmdlineFile string `json:"cmdlineFile"`
}

// User is the init's ids, with names from the container's /etc/passwd and
// /etc/group where they have them.
type User struct {
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`
	EUID   int    `json:"euid"`
	EGID   int    `json:"egid"`
	Groups []int  `json:"groups"`
	Name   string `json:"name,omitempty"`
	Group  string `json:"group,omitempty"`
}

// A CapSet is one capability set: the mask /proc/<pid>/status shows and
// the names of its bits.
type CapSet struct {
	Mask  string   `json:"mask"`
	Names []string `json:"names"`
}

// Seccomp is the seccomp mode: disabled, strict or filter, and how many
// filters are installed.
type Seccomp struct {
	Mode    string `json:"mode"`
	Filters int    `json:"filters"`
}

// AppArmor is the confinement of the init.
type AppArmor struct {
	Profile string `json:"profile"`
	File    string `json:"file"`
}

// An Rlimit is one line of /proc/<pid>/limits.
type Rlimit struct {
	Name  string `json:"name"`
	Soft  string `json:"soft"`
	Hard  string `json:"hard"`
	Units string `json:"units,omitempty"`
}

// capNames are the capabilities by bit, as in linux/capability.h.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

// DecodeCaps names the bits of a capability mask as /proc/<pid>/status
// prints it (hex); unknown bits are named by number.
func DecodeCaps(hex string) []string {
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return nil
	}
	names := []string{}
	for bit := 0; bit < 64; bit++ {
		if v&(1<<bit) == 0 {
			continue
		}
		if bit < len(capNames) {
			names = append(names, capNames[bit])
		} else {
			names = append(names, "CAP_"+strconv.Itoa(bit))
		}
	}
	return names
}

var capSetKeys = []struct{ key, name string }{
	{"CapInh", "inheritable"}, {"CapPrm", "permitted"}, {"CapEff", "effective"}, {"CapBnd", "bounding"}, {"CapAmb", "ambient"},
}

// CapSetOrder is the order the sets are shown in.
var CapSetOrder = []string{"bounding", "effective", "permitted", "inheritable", "ambient"}

// parseStatus fills pr from the text of /proc/<pid>/status.
func parseStatus(data string, pr *Process) {
	ids := func(v string) []int {
		var out []int
		for f := range strings.FieldsSeq(v) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
		return out
	}
	pr.Capabilities = map[string]CapSet{}
	for line := range strings.SplitSeq(data, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "State":
			pr.State = v
		case "Uid":
			if u := ids(v); len(u) >= 2 {
				pr.User.UID, pr.User.EUID = u[0], u[1]
			}
		case "Gid":
			if g := ids(v); len(g) >= 2 {
				pr.User.GID, pr.User.EGID = g[0], g[1]
			}
		case "Groups":
			pr.User.Groups = ids(v)
		case "NoNewPrivs":
			pr.NoNewPrivs = v == "1"
		case "Seccomp":
			pr.Seccomp.Mode = map[string]string{"0": "disabled", "1": "strict", "2": "filter"}[v]
		case "Seccomp_filters":
			pr.Seccomp.Filters, _ = strconv.Atoi(v)
		}
		for _, c := range capSetKeys {
			if k == c.key {
				pr.Capabilities[c.name] = CapSet{Mask: v, Names: DecodeCaps(v)}
			}
		}
	}
	if pr.User.Groups == nil {
		pr.User.Groups = []int{}
	}
}

// parseLimits reads /proc/<pid>/limits, whose columns are fixed by its
// header line.
func parseLimits(data string) []Rlimit {
	lines := strings.Split(data, "\n")
	if len(lines) == 0 {
		return nil
	}
	h := lines[0]
	soft, hard, units := strings.Index(h, "Soft Limit"), strings.Index(h, "Hard Limit"), strings.Index(h, "Units")
	if soft < 0 || hard < soft || units < hard {
		return nil
	}
	col := func(l string, from, to int) string {
		if from >= len(l) {
			return ""
		}
		if to > len(l) || to < 0 {
			to = len(l)
		}
		return strings.TrimSpace(l[from:to])
	}
	var out []Rlimit
	for _, l := range lines[1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		out = append(out, Rlimit{Name: col(l, 0, soft), Soft: col(l, soft, hard), Hard: col(l, hard, units), Units: col(l, units, -1)})
	}
	return out
}

func (p *prober) process() {
	pr := &Process{Pid: p.t.Pid, StatusFile: p.proc + "/status", LimitsFile: p.proc + "/limits",
		OOMFile: p.proc + "/oom_score_adj", CmdlineFile: p.proc + "/cmdline"}
	data, err := readTrim(pr.StatusFile)
	if err != nil {
		p.problem("%s: %v", pr.StatusFile, err)
		return
	}
	parseStatus(data, pr)
	if b, err := os.ReadFile(pr.CmdlineFile); err == nil {
		pr.Cmdline = strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	}
	if data, err := readTrim(pr.LimitsFile); err == nil {
		pr.Rlimits = parseLimits(data)
	} else {
		p.problem("%s: %v", pr.LimitsFile, err)
	}
	if v, err := readTrim(pr.OOMFile); err == nil {
		pr.OOMScoreAdj, _ = strconv.Atoi(v)
	} else {
		p.problem("%s: %v", pr.OOMFile, err)
	}
	pr.AppArmor = p.apparmor()
	pr.User.Name = p.nameOf("/etc/passwd", pr.User.UID)
	pr.User.Group = p.nameOf("/etc/group", pr.User.GID)
	p.a.Process = pr
}

// apparmor reads the init's profile where the host has AppArmor
// (attr/apparmor/current, or the older shared attr/current).
func (p *prober) apparmor() *AppArmor {
	if v, err := readTrim("/sys/module/apparmor/parameters/enabled"); err != nil || v != "Y" {
		return nil
	}
	for _, f := range []string{p.proc + "/attr/apparmor/current", p.proc + "/attr/current"} {
		if v, err := readTrim(f); err == nil {
			return &AppArmor{Profile: strings.TrimRight(v, "\x00"), File: f}
		}
	}
	return nil
}

// nameOf looks an id up in a passwd or group file of the container,
// resolved inside its root, so that a symlink there cannot lead out of it.
func (p *prober) nameOf(file string, id int) string {
	root, err := unix.Open(p.proc+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, strings.TrimPrefix(file, "/"), &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if err != nil {
		return ""
	}
	f := os.NewFile(uintptr(fd), file)
	defer f.Close()
	return lookupID(f, id)
}

// lookupID finds name:x:id: in a passwd- or group-formatted file.
func lookupID(f *os.File, id int) string {
	want := strconv.Itoa(id)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), ":")
		if len(fs) >= 3 && fs[2] == want {
			return fs[0]
		}
	}
	return ""
}
