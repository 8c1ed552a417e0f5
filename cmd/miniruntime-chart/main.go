// miniruntime-chart draws charts for miniruntime, which executes it:
//
//	miniruntime-chart qos-lab --format png|svg < report.json > chart.png
//
// reads a QoS lab report (qos.LabResult as JSON) on standard input and
// writes its chart to standard output. It is a program of its own because
// gonum/plot's packages, linked into miniruntime, would add their
// initialisation (fonts parsed, formats registered) to every start of the
// runtime, twice per container (docs/qos.md has the measurements).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/miniruntime/miniruntime/cgroups/qos"
	"github.com/miniruntime/miniruntime/cgroups/qos/chart"
)

// maxReport bounds what is read: a report of a few pods at MaxSamples
// samples per phase is well under a megabyte.
const maxReport = 64 << 20

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "miniruntime-chart: "+err.Error())
		os.Exit(1)
	}
}

func run(args []string, in io.Reader, out io.Writer) error {
	if len(args) == 0 || args[0] != "qos-lab" {
		return errors.New("usage: miniruntime-chart qos-lab --format png|svg < report.json > chart")
	}
	fs := flag.NewFlagSet("qos-lab", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "", "png or svg")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("qos-lab: %w", err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("qos-lab: unexpected argument %q", fs.Arg(0))
	}
	if *format != "png" && *format != "svg" {
		return fmt.Errorf("qos-lab: --format: %q is not png or svg", *format)
	}
	data, err := io.ReadAll(io.LimitReader(in, maxReport+1))
	if err != nil {
		return fmt.Errorf("qos-lab: reading the report: %w", err)
	}
	if len(data) > maxReport {
		return fmt.Errorf("qos-lab: the report is over %d bytes", maxReport)
	}
	var res qos.LabResult
	if err := json.Unmarshal(data, &res); err != nil {
		return fmt.Errorf("qos-lab: the report on standard input: %w", err)
	}
	w := bufio.NewWriter(out)
	if err := chart.Write(w, &res, *format); err != nil {
		return fmt.Errorf("qos-lab: %w", err)
	}
	return w.Flush()
}
