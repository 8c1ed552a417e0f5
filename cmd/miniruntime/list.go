package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/miniruntime/miniruntime/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

func listCmd() *cobra.Command {
	var quiet bool
	var format string
	c := &cobra.Command{
		Use:   "list [-q] [--format table|json]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := runtime.List(g.root)
			if err != nil {
				return err
			}
			if quiet {
				for _, c := range cs {
					fmt.Println(c.ID)
				}
				return nil
			}
			states := make([]runtime.OCIState, 0, len(cs))
			for _, c := range cs {
				states = append(states, c.State())
			}
			switch format {
			case "json":
				b, err := json.Marshal(states)
				if err != nil {
					return err
				}
				_, err = os.Stdout.Write(append(b, '\n'))
				return err
			case "table":
				w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
				fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle,
						s.Created.Format(time.RFC3339Nano), s.Owner)
				}
				return w.Flush()
			}
			return fmt.Errorf("--format: %q is not table or json", format)
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the ids")
	c.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return c
}

func specCmd() *cobra.Command {
	var bundle string
	c := &cobra.Command{
		Use:   "spec [-b DIR]",
		Short: "Write a default config.json that runs sh in ./rootfs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			path := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(path); err == nil {
				return fmt.Errorf("%s already exists; remove it first", path)
			}
			b, err := json.MarshalIndent(runtime.DefaultSpec(), "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(path, append(b, '\n'), 0o644)
		},
	}
	c.Flags().StringVarP(&bundle, "bundle", "b", ".", "directory to write config.json into")
	return c
}

func specVersion() string { return specs.Version }
