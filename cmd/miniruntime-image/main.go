// Command miniruntime-image is the part of miniruntime that talks to
// registries: `miniruntime pull` and `run --image` of an image not yet in
// the store execute it. It is a binary of its own so that the registry
// client (net/http, TLS, x509, docker's credential config) is not linked
// into the binary that starts twice for every container; docs/images.md
// has the numbers.
//
//	miniruntime-image pull [--image-root DIR] [--platform OS/ARCH[/VARIANT]]
//	                       [--insecure] [--progress auto|bars|lines|none] [--trace] REF
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/miniruntime/miniruntime/images"
	"github.com/miniruntime/miniruntime/images/pull"
	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "pull" {
		fmt.Fprintln(os.Stderr, "usage: miniruntime-image pull [flags] REF (see miniruntime pull --help)")
		os.Exit(2)
	}
	os.Exit(pullMain(os.Args[2:]))
}

func pullMain(args []string) int {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	root := fs.String("image-root", images.RootFromEnv(), "image store directory")
	platform := fs.String("platform", "", "os/arch[/variant] to pull (default this machine's)")
	insecure := fs.Bool("insecure", false, "allow plain HTTP and unverified TLS for this registry")
	progress := fs.String("progress", "auto", "auto, bars, lines or none")
	traceOn := fs.Bool("trace", false, "print every step with its shell equivalent on stderr")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "miniruntime pull:", err)
		return 1
	}
	if fs.NArg() != 1 {
		return fail(fmt.Errorf("requires exactly one image reference, got %d arguments", fs.NArg()))
	}
	ref := fs.Arg(0)
	o := pull.Options{Platform: *platform, Insecure: *insecure}
	if *traceOn {
		start := time.Now()
		if ns, err := strconv.ParseInt(os.Getenv("MINIRUNTIME_TRACE_START"), 10, 64); err == nil {
			start = time.Unix(0, ns) // one timeline with the miniruntime that ran us
		}
		o.Trace = trace.Since(os.Stderr, "pull", start)
	}
	switch *progress {
	case "auto":
		if o.Trace == nil {
			if isTerminal(os.Stderr) {
				o.Progress = pull.NewBars(os.Stderr)
			} else {
				o.Progress = pull.NewLines(os.Stderr)
			}
		}
	case "bars":
		o.Progress = pull.NewBars(os.Stderr)
	case "lines":
		o.Progress = pull.NewLines(os.Stderr)
	case "none":
	default:
		return fail(fmt.Errorf("--progress %q: want auto, bars, lines or none", *progress))
	}
	st, err := images.OpenStore(*root)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	defer stop()
	im, err := pull.Pull(ctx, st, ref, o)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "miniruntime pull: interrupted; nothing of it was kept")
			return 130
		}
		return fail(err)
	}
	fmt.Println(im.ID)
	return 0
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
