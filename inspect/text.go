package inspect

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The human form: sections of rows, each row a label, a value and where
// the value came from, aligned in three columns.

type row struct {
	indent        int
	label, value  string
	source        string
	sectionHeader bool
}

type doc struct{ rows []row }

func (d *doc) section(title, value, source string) {
	d.rows = append(d.rows, row{label: title, value: value, source: source, sectionHeader: true})
}

func (d *doc) add(indent int, label, value, source string) {
	d.rows = append(d.rows, row{indent: indent, label: label, value: value, source: source})
}

// wrapped adds a long list of words over several rows.
func (d *doc) wrapped(indent int, label string, words []string, source string, width int) {
	var line string
	first := true
	flush := func() {
		if first {
			d.add(indent, label, line, source)
			first = false
		} else {
			d.add(indent, "", line, "")
		}
		line = ""
	}
	for _, w := range words {
		if line != "" && len(line)+1+len(w) > width {
			flush()
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" || first {
		flush()
	}
}

const valueWidth = 60

func (d *doc) write(w io.Writer) error {
	labelW, valW := 0, 0
	for _, r := range d.rows {
		if r.sectionHeader {
			continue
		}
		labelW = max(labelW, 2*r.indent+len(r.label))
		if len(r.value) <= valueWidth {
			valW = max(valW, len(r.value))
		}
	}
	var b strings.Builder
	for i, r := range d.rows {
		if r.sectionHeader {
			if i > 0 {
				b.WriteByte('\n')
			}
			line := r.label
			if r.value != "" {
				line += "  " + r.value
			}
			if r.source != "" {
				line = pad(line, 2+labelW+2+valW) + "  <- " + r.source
			}
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			continue
		}
		line := "  " + pad(strings.Repeat("  ", r.indent)+r.label, labelW) + "  " + r.value
		if r.source != "" {
			line = pad(line, 2+labelW+2+valW) + "  <- " + r.source
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// Bytes is a byte count for a person: 64Mi, 1.2Gi, 512B.
func Bytes(b uint64) string {
	units := []struct {
		s string
		v float64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}}
	for _, u := range units {
		if float64(b) >= u.v {
			s := strconv.FormatFloat(float64(b)/u.v, 'f', 1, 64)
			return strings.TrimSuffix(s, ".0") + u.s
		}
	}
	return strconv.FormatUint(b, 10) + "B"
}

func bytesOf(r *Reading) string {
	switch {
	case r == nil:
		return "-"
	case r.Unlimited:
		return "no limit (" + r.Raw + ")"
	}
	return Bytes(r.Value)
}

func base(r *Reading) string {
	if r == nil {
		return ""
	}
	return filepath.Base(r.File)
}

func seconds(ns uint64) string {
	return strconv.FormatFloat(float64(ns)/1e9, 'f', 2, 64) + "s"
}

// WriteText prints the anatomy for a person, grouped and aligned, every
// fact followed by the file or command it was read from.
func (a *Anatomy) WriteText(w io.Writer) error {
	d := &doc{}
	d.section(a.ID, fmt.Sprintf("%s, init pid %d, created %s", a.Status, a.Pid, a.Created.Local().Format(time.DateTime)), a.StateFile)
	d.add(0, "bundle", a.Bundle, a.ConfigFile+" (the config frozen at create)")
	d.add(0, "read", fmt.Sprintf("%s, in %.1f ms", a.ReadAt.Local().Format("15:04:05.000"), float64(a.Took)/1000), "")
	if a.Status == "created" {
		d.add(0, "note", "created: the init waits for start; its process is still the runtime's", "")
	}
	a.textNamespaces(d)
	a.textCgroup(d)
	a.textMounts(d)
	a.textProcess(d)
	a.textNetwork(d)
	if len(a.Problems) > 0 {
		d.section("NOT READ", "", "")
		for _, p := range a.Problems {
			d.add(0, "-", p, "")
		}
	}
	return d.write(w)
}

func (a *Anatomy) textNamespaces(d *doc) {
	d.section("NAMESPACES", "inode, and how it relates to the host's (this process's)", "/proc/<pid>/ns/*, /proc/self/ns/*")
	for _, n := range a.Namespaces {
		v := fmt.Sprintf("%-10d ", n.Inode)
		switch n.Relation {
		case "new":
			v += fmt.Sprintf("new (host's is %d)", n.HostInode)
		case "host":
			v += "shared with the host"
		case "joined":
			v += "joined " + n.JoinedPath
			if n.Pod != "" {
				v += " (pod " + n.Pod + ")"
			}
		}
		d.add(0, n.Type, v, n.File)
		if n.Type == "time" && a.TimeOffsets != nil {
			t := a.TimeOffsets
			d.add(1, "offsets", fmt.Sprintf("monotonic %+ds %dns, boottime %+ds %dns", t.MonotonicSecs, t.MonotonicNanos, t.BoottimeSecs, t.BoottimeNanos), t.File)
		}
	}
}

func (a *Anatomy) textCgroup(d *doc) {
	cg := a.Cgroup
	if cg == nil {
		return
	}
	head := cg.Driver + " driver"
	if cg.Unit != "" {
		head += ", unit " + cg.Unit
	}
	if cg.Version != "" {
		head += ", cgroup " + cg.Version + " (" + cg.Mode + " host)"
	}
	d.section("CGROUP", head, "state.json cgroupPath")
	d.add(0, "path", cg.Path, "")
	for i, l := range cg.ProcCgroup {
		src := ""
		if i == 0 {
			src = cg.ProcCgroupFile
		}
		if i < 3 || len(cg.ProcCgroup) <= 4 {
			d.add(1, "", l, src)
		} else if i == 3 {
			d.add(1, "", fmt.Sprintf("(%d more hierarchies)", len(cg.ProcCgroup)-3), "")
		}
	}
	if len(cg.Controllers) > 0 {
		src := cg.ControllersFile
		if src == "" {
			src = "the v1 hierarchies it is in"
		}
		d.add(0, "controllers", strings.Join(cg.Controllers, " "), src)
	}
	if cg.Cpuset == nil && cg.Version == "v2" {
		d.add(0, "cpuset", "not enabled for this cgroup: the parent's CPUs and memory nodes", "")
	}
	if a.QoS != nil {
		d.add(0, "QoS class", a.QoS.Class, a.QoS.Source)
	}
	if m := cg.Memory; m != nil {
		d.add(0, "memory", "", dirOf(m.Current, m.Max))
		usage := bytesOf(m.Current)
		if m.Max != nil && !m.Max.Unlimited && m.Max.Value > 0 && m.Current != nil {
			usage += fmt.Sprintf(" (%.1f%% of max)", 100*float64(m.Current.Value)/float64(m.Max.Value))
		}
		d.add(1, "current", usage, base(m.Current))
		d.add(1, "max", bytesOf(m.Max), base(m.Max))
		for _, x := range []struct {
			l string
			r *Reading
		}{{"high", m.High}, {"low", m.Low}, {"min", m.Min}, {"soft limit", m.SoftLimit}, {"peak", m.Peak},
			{"swap", m.SwapCurrent}, {"swap max", m.SwapMax}, {"mem+swap", m.MemswCurrent}, {"mem+swap max", m.MemswMax}} {
			if x.r != nil {
				d.add(1, x.l, bytesOf(x.r), base(x.r))
			}
		}
		if m.Failcnt != nil {
			d.add(1, "failcnt", m.Failcnt.Raw+" (times usage hit the limit)", base(m.Failcnt))
		}
		if m.Events != nil {
			d.add(1, "OOM kills", strconv.FormatUint(m.OOMKills, 10), filepath.Base(m.Events.File)+" oom_kill")
			d.add(1, "events", keyed(m.Events.Values), filepath.Base(m.Events.File))
		}
	}
	if c := cg.CPU; c != nil {
		d.add(0, "cpu", "", dirOf(c.Shares, c.Weight, c.Quota))
		if c.Weight != nil {
			d.add(1, "weight", c.Weight.Raw+" (share under contention; default 100)", base(c.Weight))
		}
		if c.Shares != nil {
			d.add(1, "shares", c.Shares.Raw+" (share under contention; default 1024)", base(c.Shares))
		}
		if c.Quota != nil {
			v := "no limit"
			if !c.Quota.Unlimited && c.Period != nil && c.Period.Value > 0 {
				v = fmt.Sprintf("%dus every %dus = %.2f CPUs", c.Quota.Value, c.Period.Value, float64(c.Quota.Value)/float64(c.Period.Value))
			}
			src := base(c.Quota)
			if c.Period != nil && base(c.Period) != src {
				src += ", " + base(c.Period)
			}
			d.add(1, "quota", v, src)
		}
		if c.Usage != nil {
			d.add(1, "usage", seconds(c.Usage.Value)+" of CPU time", base(c.Usage))
		}
		if c.Stat != nil {
			d.add(1, "throttled", fmt.Sprintf("%d of %d periods, %s", c.Throttled, c.Periods, seconds(c.ThrottledNanos)), filepath.Base(c.Stat.File))
		}
	}
	if p := cg.Pids; p != nil {
		d.add(0, "pids", "", dirOf(p.Current))
		d.add(1, "current", valueOf(p.Current), base(p.Current))
		max := "no limit"
		if p.Max != nil && !p.Max.Unlimited {
			max = p.Max.Raw
		}
		d.add(1, "max", max, base(p.Max))
		if p.Events != nil {
			d.add(1, "refused forks", strconv.FormatUint(p.Events.Values["max"], 10), filepath.Base(p.Events.File)+" max")
		}
	}
	if io := cg.IO; io != nil {
		d.add(0, "io", "", dirOf(io.Weight))
		if io.Weight != nil {
			d.add(1, "weight", io.Weight.Raw, base(io.Weight))
		}
		if len(io.Limits) == 0 {
			d.add(1, "limits", "none", "")
		}
		for _, l := range io.Limits {
			d.add(1, "limit", l.Text, filepath.Base(l.File))
		}
		for i, l := range io.Usage {
			if i == 4 {
				d.add(1, "", fmt.Sprintf("(%d more lines)", len(io.Usage)-4), "")
				break
			}
			d.add(1, "usage", l.Text, filepath.Base(l.File))
		}
	}
	if c := cg.Cpuset; c != nil {
		d.add(0, "cpuset", "", dirOf(c.Cpus))
		for _, x := range []struct {
			l string
			r *Reading
		}{{"cpus", c.Cpus}, {"mems", c.Mems}, {"effective cpus", c.EffectiveCpus}, {"effective mems", c.EffectiveMems}} {
			if x.r != nil {
				v := x.r.Raw
				if v == "" {
					v = "(empty: inherits the parent's)"
				}
				d.add(1, x.l, v, base(x.r))
			}
		}
	}
	if len(cg.Pressure) > 0 {
		d.add(0, "pressure", "% of time stalled, averaged over 10s / 60s / 300s", filepath.Dir(cg.Pressure[0].File)+"/")
	}
	for _, p := range cg.Pressure {
		v := "some " + psiShort(p.Some)
		if p.Full != "" {
			v += "   full " + psiShort(p.Full)
		}
		d.add(1, p.Resource, v, filepath.Base(p.File))
	}
}

// psiShort keeps the averages of a PSI line: "avg10=0.00 avg60=0.00
// avg300=0.00 total=0" -> "0.00 / 0.00 / 0.00".
func psiShort(s string) string {
	var avgs []string
	for f := range strings.FieldsSeq(s) {
		if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "avg") {
			avgs = append(avgs, v)
		}
	}
	if len(avgs) != 3 {
		return s
	}
	return strings.Join(avgs, " / ")
}

func valueOf(r *Reading) string {
	if r == nil {
		return "-"
	}
	return r.Raw
}

func dirOf(rs ...*Reading) string {
	for _, r := range rs {
		if r != nil {
			return filepath.Dir(r.File) + "/"
		}
	}
	return ""
}

func keyed(m map[string]uint64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+strconv.FormatUint(m[k], 10))
	}
	return strings.Join(parts, ", ")
}

func (a *Anatomy) textMounts(d *doc) {
	if a.Rootfs == nil {
		return
	}
	r := a.Rootfs
	d.section("ROOTFS AND MOUNTS", "as the container sees them", r.File)
	ro := "read-write"
	if r.Mount.ReadOnly {
		ro = "read-only"
	}
	d.add(0, "rootfs", r.HostPath, "")
	d.add(1, "mounted", fmt.Sprintf("%s %s, %s (root.readonly %t in config)", r.Mount.Type, r.Mount.Source, ro, r.ReadOnlyInConfig), "")
	for _, m := range a.Mounts {
		if m.Target == "/" {
			continue
		}
		v := m.Type + " " + m.Source
		if m.Root != "/" {
			v += " [" + m.Root + "]"
		}
		d.add(0, m.Target, v+" "+m.Options, "")
	}
	if len(a.Masked) > 0 {
		d.add(0, "masked paths", "", "linux.maskedPaths")
		for _, p := range a.Masked {
			d.add(1, p.Path, p.How, "")
		}
	}
	if len(a.ReadOnly) > 0 {
		d.add(0, "read-only paths", "", "linux.readonlyPaths")
		for _, p := range a.ReadOnly {
			d.add(1, p.Path, p.How, "")
		}
	}
}

func (a *Anatomy) textProcess(d *doc) {
	pr := a.Process
	if pr == nil {
		return
	}
	d.section("INIT PROCESS", fmt.Sprintf("pid %d: %s", pr.Pid, strings.Join(pr.Cmdline, " ")), pr.CmdlineFile)
	u := pr.User
	user := fmt.Sprintf("uid %d", u.UID)
	if u.Name != "" {
		user += " (" + u.Name + ")"
	}
	user += fmt.Sprintf(", gid %d", u.GID)
	if u.Group != "" {
		user += " (" + u.Group + ")"
	}
	if u.EUID != u.UID || u.EGID != u.GID {
		user += fmt.Sprintf(", effective %d:%d", u.EUID, u.EGID)
	}
	if len(u.Groups) > 0 {
		user += ", groups " + strings.Trim(fmt.Sprint(u.Groups), "[]")
	}
	d.add(0, "user", user, pr.StatusFile+" Uid, Gid, Groups; names from the container's /etc/passwd, /etc/group")
	d.add(0, "state", pr.State, "")
	d.add(0, "capabilities", "", pr.StatusFile+" Cap*")
	for _, set := range CapSetOrder {
		cs := pr.Capabilities[set]
		words := make([]string, 0, len(cs.Names))
		for _, n := range cs.Names {
			words = append(words, strings.TrimPrefix(n, "CAP_"))
		}
		switch {
		case len(words) == 0:
			words = []string{"(none)"}
		case len(words) == len(capNames):
			words = []string{"all", strconv.Itoa(len(capNames))}
		}
		d.wrapped(1, set, words, cs.Mask, valueWidth-4)
	}
	d.add(0, "no_new_privs", strconv.FormatBool(pr.NoNewPrivs), "NoNewPrivs")
	sc := pr.Seccomp.Mode
	if sc == "filter" {
		sc += fmt.Sprintf(", %d filter(s)", pr.Seccomp.Filters)
	}
	d.add(0, "seccomp", sc, "Seccomp, Seccomp_filters")
	if pr.AppArmor != nil {
		d.add(0, "AppArmor", pr.AppArmor.Profile, pr.AppArmor.File)
	} else {
		d.add(0, "AppArmor", "not enabled on this host", "/sys/module/apparmor/parameters/enabled")
	}
	d.add(0, "oom_score_adj", strconv.Itoa(pr.OOMScoreAdj), pr.OOMFile)
	d.add(0, "rlimits", "soft / hard", pr.LimitsFile)
	for _, l := range pr.Rlimits {
		v := l.Soft + " / " + l.Hard
		if l.Units != "" {
			v += " " + l.Units
		}
		d.add(1, strings.TrimPrefix(l.Name, "Max "), v, "")
	}
}

func (a *Anatomy) textNetwork(d *doc) {
	nw := a.Network
	if nw == nil {
		return
	}
	switch nw.Namespace {
	case "host", "":
		d.section("NETWORK", "the host's network namespace: nothing of its own", "")
		return
	case "joined":
		head := "a joined network namespace"
		if nw.Pod != "" {
			head = "pod " + nw.Pod + "'s network namespace"
		}
		d.section("NETWORK", head, nw.Source)
	default:
		d.section("NETWORK", "a network namespace of its own", nw.Source)
	}
	for _, in := range nw.Interfaces {
		v := fmt.Sprintf("%s %s", in.Kind, in.State)
		if len(in.Addrs) > 0 {
			v += " " + strings.Join(in.Addrs, " ")
		}
		if in.MAC != "" && in.Kind != "loopback" && in.Kind != "device" {
			v += " " + in.MAC
		}
		if in.PeerIndex != 0 {
			v += fmt.Sprintf(", peer ifindex %d", in.PeerIndex)
		}
		d.add(0, fmt.Sprintf("%s (#%d)", in.Name, in.Index), v, "")
	}
	for i, r := range nw.Routes {
		label := ""
		if i == 0 {
			label = "routes"
		}
		d.add(0, label, r, "")
	}
	for _, at := range nw.Attachments {
		d.add(0, "network "+at.Network, fmt.Sprintf("%s driver, bridge %s %s", at.Driver, at.Bridge, strings.Join(at.BridgeAddrs, " ")), at.HostSource)
		if h := at.HostVeth; h != nil {
			pair := "pair NOT confirmed"
			if at.PairOK {
				pair = "pair confirmed by both ends' peer index"
			}
			d.add(1, "host end", fmt.Sprintf("%s (#%d) %s, on %s; %s", h.Name, h.Index, h.State, h.Master, pair), "")
		}
		d.add(1, "container end", fmt.Sprintf("%s %s gw %s %s", at.ContainerEnd, at.IP, at.Gateway, at.MAC), at.StateSource)
		if len(at.Ports) > 0 {
			d.add(1, "published", strings.Join(at.Ports, ", "), "")
		}
		for i, r := range at.Rules {
			src := ""
			if i == 0 {
				src = at.RulesSource
			}
			d.add(1, "nft "+r.Chain, r.Text+" # handle "+strconv.FormatUint(r.Handle, 10), src)
		}
	}
}
