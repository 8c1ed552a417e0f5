// Command miniruntime-top is the terminal view behind `miniruntime top`: the
// containers under a state root with their CPU use and throttling, memory
// against its limit, OOM kills and pids, refreshed live, sortable, and the
// anatomy of one of them (`miniruntime explain`) on Enter.
//
// It is a program of its own so that its terminal libraries (bubbletea,
// lipgloss), whose package initialisation costs about a millisecond, never
// run in the runtime binary, which starts twice for every container
// (docs/explain.md). `miniruntime top` execs it.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/miniruntime/miniruntime/inspect"
	"github.com/miniruntime/miniruntime/runtime"
)

func main() {
	root := flag.String("root", "/run/miniruntime", "directory for container state")
	interval := flag.Duration("interval", time.Second, "how often the view refreshes")
	sortKey := flag.String("sort", "id", fmt.Sprintf("order: one of %v", inspect.SortKeys))
	flag.Parse()
	if !slices.Contains(inspect.SortKeys, *sortKey) {
		fmt.Fprintf(os.Stderr, "miniruntime top: --sort: %q is not one of %v\n", *sortKey, inspect.SortKeys)
		os.Exit(2)
	}
	if *interval < 100*time.Millisecond {
		*interval = 100 * time.Millisecond
	}
	m := &model{root: *root, interval: *interval, sortKey: *sortKey, prev: map[string]inspect.Usage{}}
	if _, err := tea.NewProgram(m, tea.WithAltScreen()).Run(); err != nil {
		fmt.Fprintln(os.Stderr, "miniruntime top:", err)
		os.Exit(1)
	}
}

// targetOf is what inspect needs of a container's state (as in
// cmd/miniruntime/explain.go).
func targetOf(c *runtime.Container, st runtime.Status) inspect.Target {
	t := inspect.Target{
		ID: c.ID, Status: string(st), Pid: c.Pid, Bundle: c.Bundle, Rootfs: c.Rootfs, Created: c.Created,
		StateDir: c.Dir(), CgroupPath: c.CgroupPath, SystemdUnit: c.SystemdUnit, Networks: c.Networks,
	}
	if s, err := c.Spec(); err == nil {
		t.Spec = s
	}
	return t
}

// Messages.
type (
	tickMsg    time.Time
	samplesMsg struct {
		usages []inspect.Usage
		err    error
	}
	explainMsg struct {
		id, text string
		err      error
	}
)

type model struct {
	root     string
	interval time.Duration
	sortKey  string
	reverse  bool

	width, height int
	rows          []inspect.Row
	prev          map[string]inspect.Usage
	selected      string // the id under the cursor, kept across refreshes
	err           error
	updated       time.Time

	// the explain view, when explaining is not ""
	explaining string
	lines      []string
	scroll     int
}

func (m *model) Init() tea.Cmd { return m.sample }

func (m *model) sample() tea.Msg {
	cs, err := runtime.List(m.root)
	if err != nil {
		return samplesMsg{err: err}
	}
	out := make([]inspect.Usage, 0, len(cs))
	for _, c := range cs {
		out = append(out, inspect.Sample(targetOf(c, c.Status())))
	}
	return samplesMsg{usages: out}
}

func (m *model) tick() tea.Cmd {
	return tea.Tick(m.interval, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func explainCmd(root, id string) tea.Cmd {
	return func() tea.Msg {
		c, err := runtime.Load(root, id)
		if err != nil {
			return explainMsg{id: id, err: err}
		}
		st := c.Status()
		if st == runtime.Stopped {
			return explainMsg{id: id, err: fmt.Errorf("container %s is stopped: there is no live process to explain", id)}
		}
		a, err := inspect.Explain(targetOf(c, st))
		if errors.Is(err, inspect.ErrGone) {
			err = fmt.Errorf("container %s stopped while it was being read", id)
		}
		if err != nil {
			return explainMsg{id: id, err: err}
		}
		var b bytes.Buffer
		a.WriteText(&b)
		return explainMsg{id: id, text: b.String()}
	}
}

func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tickMsg:
		return m, m.sample
	case samplesMsg:
		m.err = msg.err
		m.updated = time.Now()
		next := map[string]inspect.Usage{}
		m.rows = m.rows[:0]
		for _, u := range msg.usages {
			m.rows = append(m.rows, inspect.Rate(m.prev[u.ID], u))
			next[u.ID] = u
		}
		m.prev = next // containers that went away are forgotten
		m.sortRows()
		return m, m.tick()
	case explainMsg:
		if msg.id != m.explaining {
			return m, nil
		}
		text := msg.text
		if msg.err != nil {
			text = msg.err.Error() + "\n"
		}
		m.lines = strings.Split(strings.TrimRight(text, "\n"), "\n")
		m.scroll = min(m.scroll, max(0, len(m.lines)-m.bodyHeight()))
	case tea.KeyMsg:
		return m.key(msg.String())
	}
	return m, nil
}

var sortKeys = map[string]string{"c": "cpu", "m": "memory", "p": "pids", "o": "oom", "i": "id", "s": "status", "Q": "qos"}

func (m *model) key(k string) (tea.Model, tea.Cmd) {
	if k == "q" || k == "ctrl+c" {
		return m, tea.Quit
	}
	if m.explaining != "" {
		page := max(1, m.bodyHeight()-1)
		switch k {
		case "esc", "backspace", "left", "h":
			m.explaining, m.lines = "", nil
		case "up", "k":
			m.scroll--
		case "down", "j":
			m.scroll++
		case "pgup", "b":
			m.scroll -= page
		case "pgdown", " ", "f":
			m.scroll += page
		case "home", "g":
			m.scroll = 0
		case "end", "G":
			m.scroll = len(m.lines)
		case "r":
			return m, explainCmd(m.root, m.explaining)
		}
		m.scroll = max(0, min(m.scroll, len(m.lines)-m.bodyHeight()))
		return m, nil
	}
	i := m.cursor()
	switch k {
	case "up", "k":
		i--
	case "down", "j":
		i++
	case "home", "g":
		i = 0
	case "end", "G":
		i = len(m.rows) - 1
	case "r":
		m.reverse = !m.reverse
		m.sortRows()
		return m, nil
	case "enter":
		if m.selected == "" {
			return m, nil
		}
		m.explaining, m.scroll = m.selected, 0
		m.lines = []string{"reading " + m.selected + " from the kernel..."}
		return m, explainCmd(m.root, m.selected)
	default:
		if key, ok := sortKeys[k]; ok {
			m.sortKey = key
			m.sortRows()
		}
		return m, nil
	}
	if len(m.rows) > 0 {
		i = max(0, min(i, len(m.rows)-1))
		m.selected = m.rows[i].ID
	}
	return m, nil
}

// cursor is the row of the selected id; when it went away, the first row.
func (m *model) cursor() int {
	for i, r := range m.rows {
		if r.ID == m.selected {
			return i
		}
	}
	return 0
}

func (m *model) sortRows() {
	inspect.SortRows(m.rows, m.sortKey, m.reverse)
	if len(m.rows) > 0 {
		m.selected = m.rows[m.cursor()].ID
	} else {
		m.selected = ""
	}
}

func (m *model) bodyHeight() int { return max(1, m.height-2) }

var (
	titleStyle  = lipgloss.NewStyle().Bold(true)
	headerStyle = lipgloss.NewStyle().Bold(true).Reverse(true)
	selStyle    = lipgloss.NewStyle().Reverse(true)
	helpStyle   = lipgloss.NewStyle().Faint(true)
	barOK       = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
	barWarn     = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	barFull     = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	barEmpty    = lipgloss.NewStyle().Faint(true)
)

func (m *model) View() string {
	if m.explaining != "" {
		return m.explainView()
	}
	return m.listView()
}

func (m *model) explainView() string {
	var b strings.Builder
	b.WriteString(titleStyle.Render("explain "+m.explaining) + helpStyle.Render("   esc back  up/down pgup/pgdn scroll  r reread  q quit") + "\n")
	end := min(len(m.lines), m.scroll+m.bodyHeight())
	for _, l := range m.lines[min(m.scroll, end):end] {
		b.WriteString(cut(l, m.width) + "\n")
	}
	return b.String()
}

// cut shortens a plain line to the terminal's width.
func cut(s string, w int) string {
	if w <= 0 || len(s) <= w {
		return s
	}
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	return string(r[:w])
}

const barWidth = 20

func (m *model) listView() string {
	var b strings.Builder
	title := fmt.Sprintf("miniruntime top  %s  %d containers  %s", m.root, len(m.rows), m.updated.Format("15:04:05"))
	b.WriteString(titleStyle.Render(title) + "\n")
	if m.err != nil {
		b.WriteString(barFull.Render(m.err.Error()) + "\n")
	}
	idW := 3 // "ID" and the sort mark
	for _, r := range m.rows {
		idW = max(idW, len(r.ID))
	}
	idW = min(idW, 32)
	format := func(c inspect.Cells, bar string) string {
		return fmt.Sprintf("%-*s  %-8s  %-10s  %6s  %-12s  %-18s  %s  %4s  %-9s",
			idW, cut(c.ID, idW), c.Status, c.QoS, c.CPU, c.Throttled, c.Memory, bar, c.OOM, c.Pids)
	}
	h := inspect.Header
	arrow := map[bool]string{false: "v", true: "^"}[m.reverse]
	for _, p := range []*string{&h.ID, &h.Status, &h.QoS, &h.CPU, &h.Memory, &h.OOM, &h.Pids} {
		if strings.EqualFold(*p, map[string]string{"id": "ID", "status": "STATUS", "qos": "QOS", "cpu": "CPU%", "memory": "MEMORY", "oom": "OOM", "pids": "PIDS"}[m.sortKey]) {
			*p += arrow
		}
	}
	b.WriteString(headerStyle.Render(pad(format(h, strings.Repeat(" ", barWidth)), m.width)) + "\n")
	if len(m.rows) == 0 {
		b.WriteString(helpStyle.Render("no containers under "+m.root) + "\n")
	}
	room := max(1, m.height-4)
	first := max(0, m.cursor()-room+1)
	for i, r := range m.rows {
		if i < first || i >= first+room {
			continue
		}
		c := inspect.CellsOf(r)
		if r.ID == m.selected {
			b.WriteString(selStyle.Render(pad(format(c, inspect.Bar(r.MemFraction(), barWidth)), m.width)) + "\n")
			continue
		}
		b.WriteString(format(c, bar(r.MemFraction())) + "\n")
	}
	for i := len(m.rows); i < room; i++ {
		b.WriteString("\n")
	}
	b.WriteString(helpStyle.Render("up/down select  enter explain  sort: c cpu  m memory  p pids  o oom  i id  s status  Q qos  r reverse  q quit"))
	return b.String()
}

func pad(s string, w int) string {
	if w <= 0 || len(s) >= w {
		return s
	}
	return s + strings.Repeat(" ", w-len(s))
}

// bar is the memory bar in colour: green, yellow from 70%, red from 90%.
func bar(frac float64) string {
	if frac < 0 {
		return strings.Repeat(" ", barWidth)
	}
	n := min(barWidth, max(0, int(frac*barWidth+0.5)))
	style := barOK
	switch {
	case frac >= 0.9:
		style = barFull
	case frac >= 0.7:
		style = barWarn
	}
	return style.Render(strings.Repeat("█", n)) + barEmpty.Render(strings.Repeat("░", barWidth-n))
}
