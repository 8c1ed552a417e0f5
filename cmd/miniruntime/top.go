package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	"github.com/miniruntime/miniruntime/inspect"
	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// topBinary is the terminal view's own program. Its UI libraries
// (bubbletea, lipgloss and what they pull in) cost about a millisecond of
// package initialisation at every start of a binary that links them, and
// this binary starts twice per container; so the view lives in
// miniruntime-top, which `top` execs (docs/explain.md has the numbers).
const topBinary = "miniruntime-top"

func topCmd() *cobra.Command {
	var once bool
	var interval, window time.Duration
	var sortKey string
	c := &cobra.Command{
		Use:   "top [--once] [--interval 1s] [--sort cpu]",
		Short: "A live view of the containers under --root: CPU, throttling, memory against its limit, OOM kills, pids",
		Long: `top shows the containers under --root with their status, QoS class, CPU use and
throttling, memory used against its limit, OOM kills and pids, refreshed every
--interval. Keys: up/down (or k/j) select, enter explains the selected
container, c m p o i s Q sort by CPU, memory, pids, OOM kills, id, status, QoS,
r reverses, q quits. The view is the program miniruntime-top, found next to
this binary or on PATH. With --once, or when standard output is not a
terminal, it prints one table (CPU measured over --window) and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(inspect.SortKeys, sortKey) {
				return fmt.Errorf("--sort: %q is not one of %v", sortKey, inspect.SortKeys)
			}
			if once || !isTerminal(os.Stdout) || !isTerminal(os.Stdin) {
				return topOnce(g.root, window, sortKey)
			}
			return execTop(g.root, interval, sortKey)
		},
	}
	f := c.Flags()
	f.BoolVar(&once, "once", false, "print one table and exit")
	f.DurationVar(&interval, "interval", time.Second, "how often the live view refreshes")
	f.DurationVar(&window, "window", 300*time.Millisecond, "with --once: the time CPU use is measured over")
	f.StringVar(&sortKey, "sort", "id", fmt.Sprintf("order: one of %v", inspect.SortKeys))
	return c
}

// topOnce samples every container twice, window apart, and prints one
// table.
func topOnce(root string, window time.Duration, sortKey string) error {
	first, err := sampleAll(root)
	if err != nil {
		return err
	}
	if len(first) > 0 && window > 0 {
		time.Sleep(window)
	}
	second, err := sampleAll(root)
	if err != nil {
		return err
	}
	rows := make([]inspect.Row, 0, len(second))
	for id, u := range second {
		rows = append(rows, inspect.Rate(first[id], u))
	}
	inspect.SortRows(rows, sortKey, false)
	return inspect.WriteTable(os.Stdout, rows)
}

func sampleAll(root string) (map[string]inspect.Usage, error) {
	cs, err := runtime.List(root)
	if err != nil {
		return nil, err
	}
	out := make(map[string]inspect.Usage, len(cs))
	for _, c := range cs {
		out[c.ID] = inspect.Sample(targetOf(c, c.Status()))
	}
	return out, nil
}

// execTop replaces this process with the terminal view.
func execTop(root string, interval time.Duration, sortKey string) error {
	path, err := findTop()
	if err != nil {
		return err
	}
	argv := []string{topBinary, "--root", root, "--interval", interval.String(), "--sort", sortKey}
	return fmt.Errorf("exec %s: %w", path, unix.Exec(path, argv, os.Environ()))
}

// findTop looks for miniruntime-top next to this binary, then on PATH.
func findTop() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), topBinary)
		if unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(topBinary); err == nil {
		return p, nil
	}
	return "", errors.New(topBinary + " (the terminal view) is neither next to this binary nor on PATH: build it with `go build -o bin/miniruntime-top ./cmd/miniruntime-top`, or use --once")
}
