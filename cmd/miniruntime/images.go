package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/miniruntime/miniruntime/images"
	"github.com/miniruntime/miniruntime/internal/atomicfile"
	"github.com/miniruntime/miniruntime/internal/trace"
	"github.com/miniruntime/miniruntime/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// The image commands. Everything that reads or changes the store is here;
// fetching from a registry, a layout or an archive is done by the
// miniruntime-image helper (cmd/miniruntime-image), which this binary
// executes, so that the registry client's packages are not linked into
// the binary that starts every container (docs/images.md).

// imageFlags are the flags of the commands that take an image.
type imageFlags struct {
	ref, root, pull, platform string
	copy                      bool
}

func (f *imageFlags) register(c *cobra.Command, bundle bool) {
	fl := c.Flags()
	fl.StringVar(&f.ref, "image", "", "make the bundle from this image (busybox, docker.io/library/alpine:3.20, oci:DIR[:TAG], docker-archive:FILE)")
	fl.StringVar(&f.root, "image-root", images.RootFromEnv(), "image store (env MINIRUNTIME_IMAGE_ROOT)")
	fl.StringVar(&f.pull, "pull", "missing", "pull the image: missing, always or never")
	fl.StringVar(&f.platform, "platform", "", "os/arch[/variant] to pull (default this machine's)")
	if bundle {
		fl.BoolVar(&f.copy, "copy", false, "copy the image's files into DIR/rootfs instead of mounting its layers")
	}
}

func storeFlag(c *cobra.Command, root *string) {
	c.Flags().StringVar(root, "image-root", images.RootFromEnv(), "image store (env MINIRUNTIME_IMAGE_ROOT)")
}

// imageCmds are the top-level image commands.
func imageCmds() []*cobra.Command {
	img := &cobra.Command{
		Use:   "image",
		Short: "Manage images: pull, ls, inspect, rm, prune, umount",
	}
	img.AddCommand(pullCmd(), imagesCmd("ls"), inspectImageCmd(), rmiCmd("rm"), pruneImagesCmd(), umountImageCmd())
	return []*cobra.Command{img, pullCmd(), imagesCmd("images"), rmiCmd("rmi")}
}

// helperPath finds miniruntime-image: $MINIRUNTIME_IMAGE_HELPER, beside
// this binary, or on $PATH.
func helperPath() (string, error) {
	if p := os.Getenv("MINIRUNTIME_IMAGE_HELPER"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "miniruntime-image")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("miniruntime-image"); err == nil {
		return p, nil
	}
	return "", errors.New("pulling needs the miniruntime-image helper beside miniruntime or on PATH (scripts/setup.sh installs it)")
}

type pullOptions struct {
	platform, progress string
	insecure           bool
	printID            bool // the image id on stdout (pull); not when pulling for run
}

// pullImage runs the helper; its progress and errors go to stderr, as
// they are. It fails with exitError when the helper did (it has said why).
func pullImage(root, ref string, o pullOptions, rec *trace.Recorder) error {
	helper, err := helperPath()
	if err != nil {
		return err
	}
	args := []string{"pull", "--image-root", root}
	if o.platform != "" {
		args = append(args, "--platform", o.platform)
	}
	if o.insecure {
		args = append(args, "--insecure")
	}
	if o.progress != "" {
		args = append(args, "--progress", o.progress)
	}
	if rec.Enabled() {
		args = append(args, "--trace")
	}
	args = append(args, ref)
	cmd := exec.Command(helper, args...)
	cmd.Stderr = os.Stderr
	if o.printID {
		cmd.Stdout = os.Stdout
	}
	cmd.Env = os.Environ()
	if rec.Enabled() {
		cmd.Env = append(cmd.Env, "MINIRUNTIME_TRACE_START="+strconv.FormatInt(rec.Start().UnixNano(), 10))
		rec.Step("pull "+ref+" with the helper", trace.Quote(append([]string{"miniruntime-image"}, args...)...))
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code := ee.ExitCode()
			if code <= 0 {
				code = 1
			}
			return exitError{code}
		}
		return fmt.Errorf("run %s: %w", helper, err)
	}
	return nil
}

func pullCmd() *cobra.Command {
	var root string
	var o pullOptions
	c := &cobra.Command{
		Use:   "pull [--platform OS/ARCH] REF",
		Short: "Fetch an image into the store and unpack its layers (registry, oci:DIR[:TAG], docker-archive:FILE)",
		Long: `pull fetches an image and unpacks each of its layers once, by ChainID.

REF is what you would give docker or podman: busybox is
docker.io/library/busybox:latest; a registry on this machine is
127.0.0.1:5000/name:tag. oci:DIR[:TAG] reads an OCI image layout,
docker-archive:FILE a docker save archive. Credentials come from
~/.docker/config.json, $DOCKER_CONFIG or containers' auth.json.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.printID = true
			return pullImage(root, args[0], o, g.recorder("pull"))
		},
	}
	storeFlag(c, &root)
	c.Flags().StringVar(&o.platform, "platform", "", "os/arch[/variant] to pull (default this machine's)")
	c.Flags().BoolVar(&o.insecure, "insecure", false, "allow plain HTTP and unverified TLS for this registry")
	c.Flags().StringVar(&o.progress, "progress", "auto", "auto (bars on a terminal, lines otherwise), bars, lines or none")
	return c
}

// imageJSON is one image as `images --format json` and `image inspect`
// print it.
type imageJSON struct {
	ID             string          `json:"Id"`
	Names          []string        `json:"Names"`
	ManifestDigest string          `json:"ManifestDigest,omitempty"`
	Source         string          `json:"Source"`
	Platform       string          `json:"Platform"`
	Created        time.Time       `json:"Created"`
	Pulled         time.Time       `json:"Pulled"`
	Size           int64           `json:"Size"`
	Layers         []images.Layer  `json:"Layers,omitempty"`
	Config         json.RawMessage `json:"Config,omitempty"`
	Mounts         []string        `json:"Mounts,omitempty"`
}

func toJSON(im *images.Image) imageJSON {
	return imageJSON{ID: im.ID, Names: im.Names, ManifestDigest: im.ManifestDigest, Source: im.Source,
		Platform: im.Platform(), Created: im.Created, Pulled: im.Pulled, Size: im.Size()}
}

func imagesCmd(use string) *cobra.Command {
	var root, format string
	var quiet bool
	c := &cobra.Command{
		Use:   use + " [-q] [--format table|json]",
		Short: "List the images in the store",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := images.OpenStore(root)
			if err != nil {
				return err
			}
			all, err := st.Images()
			if err != nil {
				return err
			}
			if quiet {
				for _, im := range all {
					fmt.Println(images.Hex(im.ID)[:12])
				}
				return nil
			}
			switch format {
			case "json":
				out := make([]imageJSON, 0, len(all))
				for _, im := range all {
					out = append(out, toJSON(im))
				}
				return printJSON(out)
			case "table":
				w := tabwriter.NewWriter(os.Stdout, 8, 1, 3, ' ', 0)
				fmt.Fprintln(w, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tPLATFORM")
				for _, im := range all {
					names := im.Names
					if len(names) == 0 {
						names = []string{"<none>"}
					}
					for _, n := range names {
						repo, tag := splitName(n)
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", repo, tag, images.Hex(im.ID)[:12],
							ago(im.Created), humanSize(im.Size()), im.Platform())
					}
				}
				return w.Flush()
			}
			return fmt.Errorf("--format: %q is not table or json", format)
		},
	}
	storeFlag(c, &root)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image ids")
	c.Flags().StringVarP(&format, "format", "f", "table", "table or json")
	return c
}

// splitName splits a canonical name into repository and tag (or digest).
func splitName(n string) (string, string) {
	if n == "<none>" {
		return n, "<none>"
	}
	r, err := images.ParseRef(n)
	if err != nil {
		return n, ""
	}
	switch {
	case r.Transport != images.Registry:
		return r.Repository(), r.Select
	case r.Digest != "":
		return r.Repository(), r.Digest[:19]
	}
	return r.Repository(), r.Tag
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	}
	return t.Format("2006-01-02")
}

func humanSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

func inspectImageCmd() *cobra.Command {
	var root string
	c := &cobra.Command{
		Use:   "inspect REF...",
		Short: "Print images' records, layers and configs as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := images.OpenStore(root)
			if err != nil {
				return err
			}
			mounts, _ := st.Mounts()
			var out []imageJSON
			for _, a := range args {
				im, err := st.Lookup(a)
				if err != nil {
					return err
				}
				j := toJSON(im)
				j.Layers = im.Layers
				if cfg, err := st.ReadBlob(im.ID); err == nil {
					j.Config = cfg
				}
				for _, m := range mounts {
					if m.Image == im.ID {
						j.Mounts = append(j.Mounts, m.Target)
					}
				}
				out = append(out, j)
			}
			return printJSON(out)
		},
	}
	storeFlag(c, &root)
	return c
}

func rmiCmd(use string) *cobra.Command {
	var root string
	c := &cobra.Command{
		Use:   use + " REF...",
		Short: "Remove image names; an image without names goes, with the layers and blobs nothing else needs",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := images.OpenStore(root)
			if err != nil {
				return err
			}
			for _, a := range args {
				rep, err := st.Remove(a, g.recorder("rmi"))
				if err != nil {
					return err
				}
				for _, n := range rep.Names {
					fmt.Println("Untagged:", n)
				}
				for _, id := range rep.Images {
					fmt.Println("Deleted:", id)
				}
			}
			return nil
		},
	}
	storeFlag(c, &root)
	return c
}

func pruneImagesCmd() *cobra.Command {
	var root string
	var all bool
	c := &cobra.Command{
		Use:   "prune [-a]",
		Short: "Remove images without a name (with -a, every image no mounted rootfs uses), then every blob and layer nothing needs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := images.OpenStore(root)
			if err != nil {
				return err
			}
			rep, err := st.Prune(all, g.recorder("prune"))
			if err != nil {
				return err
			}
			for _, id := range rep.Images {
				fmt.Println("Deleted:", id)
			}
			fmt.Printf("%d images, %d layers, %d blobs and %d stale rootfs records removed; %s freed\n",
				len(rep.Images), rep.Layers, rep.Blobs, rep.Mounts, humanSize(rep.Bytes))
			return nil
		},
	}
	storeFlag(c, &root)
	c.Flags().BoolVarP(&all, "all", "a", false, "remove every image no mounted rootfs uses")
	return c
}

func umountImageCmd() *cobra.Command {
	var root string
	c := &cobra.Command{
		Use:   "umount DIR",
		Short: "Unmount the image rootfs of bundle DIR (made by bundle --image) and remove its upper and work dirs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := images.OpenStore(root)
			if err != nil {
				return err
			}
			return st.Unmount(args[0], g.recorder("umount"))
		},
	}
	storeFlag(c, &root)
	return c
}

// resolveImage finds ref in the store, pulling it first as the policy says.
func (f *imageFlags) resolveImage(st *images.Store, rec *trace.Recorder) (*images.Image, error) {
	switch f.pull {
	case "missing", "always", "never":
	default:
		return nil, fmt.Errorf("--pull %q: want missing, always or never", f.pull)
	}
	if _, err := images.ParseRef(f.ref); err != nil {
		return nil, err
	}
	if f.pull != "always" {
		im, err := st.Lookup(f.ref)
		if err == nil {
			rec.Step("resolve "+f.ref+" in the store: image "+images.Hex(im.ID)[:12]+", "+strconv.Itoa(len(im.Layers))+" layers", "")
			return im, nil
		}
		if !errors.Is(err, images.ErrNotFound) || f.pull == "never" {
			return nil, err
		}
	}
	if err := pullImage(st.Root, f.ref, pullOptions{platform: f.platform}, rec); err != nil {
		return nil, err
	}
	return st.Lookup(f.ref)
}

// bundleImage is `bundle --image REF -b DIR [--copy] [-- CMD...]`.
func bundleImage(dir string, args []string, f *imageFlags) error {
	rec := g.recorder("bundle")
	st, err := images.OpenStore(f.root)
	if err != nil {
		return err
	}
	im, err := f.resolveImage(st, rec)
	if err != nil {
		return err
	}
	spec := runtime.DefaultSpec()
	spec.Process.Terminal = false
	spec.Hostname = "miniruntime"
	b, err := st.MakeBundle(images.BundleOptions{Image: im, Dir: dir, Spec: spec, Args: args, Copy: f.copy, Trace: rec})
	if err != nil {
		return err
	}
	if b.Mount != nil {
		fmt.Fprintf(os.Stderr, "miniruntime: %s/rootfs is an overlay mount of %s; `miniruntime image umount %s` removes it\n", b.Dir, f.ref, b.Dir)
	}
	return nil
}

// runImage is `run --image REF [ID] [-- CMD...]`: the image is pulled when
// needed, mounted as an overlay under a bundle of the store's own, run
// with every run flag, and unmounted when run returns, whatever happened.
// A detached container's rootfs is unmounted by its poststop hook when it
// is deleted.
func runImage(cmd *cobra.Command, args []string, cf *createFlags, f *imageFlags, detach bool) error {
	pos, cmdArgs := args, []string(nil)
	if d := cmd.ArgsLenAtDash(); d >= 0 {
		pos, cmdArgs = args[:d], args[d:]
	}
	if len(pos) > 1 {
		return fmt.Errorf("run --image takes at most one container id before --, got %d arguments", len(pos))
	}
	if cmd.Flags().Changed("bundle") {
		return errors.New("--bundle and --image: run makes the bundle from the image; use bundle --image -b DIR, then run -b DIR ID")
	}
	var id string
	if len(pos) == 1 {
		id = pos[0]
	} else {
		var b [4]byte
		rand.Read(b[:])
		id = "image-" + hex.EncodeToString(b[:])
	}
	if err := runtime.ValidateID(id); err != nil {
		return err
	}
	o := cf.options(id, "run")
	// Until the container runs, a ^C or a TERM must not leave a mount.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP)
	interrupted := func() error {
		select {
		case s := <-sigs:
			return exitError{128 + int(s.(unix.Signal))}
		default:
			return nil
		}
	}
	st, err := images.OpenStore(f.root)
	if err != nil {
		signal.Stop(sigs)
		return err
	}
	im, err := f.resolveImage(st, o.Trace)
	if err == nil {
		err = interrupted()
	}
	if err != nil {
		signal.Stop(sigs)
		return err
	}
	dir, err := os.MkdirTemp(filepath.Join(st.Root, "bundles"), id+"-")
	if err != nil {
		signal.Stop(sigs)
		return err
	}
	// On record before the rootfs is mounted: a run killed before the
	// container's own state exists leaves a mount that delete --force ID
	// must still find (releaseImageBundle).
	if err := recordImageBundle(id, st.Root, dir); err != nil {
		os.RemoveAll(dir)
		signal.Stop(sigs)
		return err
	}
	tty := isTerminal(os.Stdin) && isTerminal(os.Stdout)
	spec := runtime.DefaultSpec()
	spec.Hostname = id
	spec.Process.Terminal = tty && !detach
	bo := images.BundleOptions{Image: im, Dir: dir, Spec: spec, Args: cmdArgs, Owned: true, Trace: o.Trace}
	if detach {
		if exe, err := os.Executable(); err == nil {
			bo.UnmountHook = []string{exe, "image", "umount", "--image-root", st.Root, dir}
		}
	}
	b, err := st.MakeBundle(bo)
	if err != nil {
		os.RemoveAll(dir)
		forgetImageBundle(id)
		signal.Stop(sigs)
		return err
	}
	unmount := func() {
		if err := st.Unmount(dir, o.Trace); err != nil && !errors.Is(err, images.ErrNotMounted) {
			fmt.Fprintln(os.Stderr, "miniruntime: warning:", err)
			return
		}
		forgetImageBundle(id)
	}
	if err := interrupted(); err != nil {
		unmount()
		signal.Stop(sigs)
		return err
	}
	signal.Stop(sigs)
	o.Bundle = b.Dir
	code, err := run(o, detach)
	if !detach || err != nil {
		unmount()
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// The image bundles of `run --image` are recorded under the state root, in
// a directory that is not a container's, one file per container id.
const imageBundles = ".image-bundles"

type imageBundle struct {
	ImageRoot string `json:"imageRoot"`
	Bundle    string `json:"bundle"`
}

func imageBundleRecord(id string) string { return filepath.Join(g.root, imageBundles, id+".json") }

func recordImageBundle(id, imageRoot, bundle string) error {
	raw, _ := json.Marshal(imageBundle{ImageRoot: imageRoot, Bundle: bundle})
	var err error
	// Twice: another command may remove the directory, once empty, between
	// the two calls (forgetImageBundle).
	for range 2 {
		if err = os.MkdirAll(filepath.Join(g.root, imageBundles), 0o700); err == nil {
			if err = atomicfile.WriteFile(imageBundleRecord(id), raw, 0o600); err == nil {
				return nil
			}
		}
	}
	return fmt.Errorf("record the image bundle: %w", err)
}

// forgetImageBundle removes the record, and its directory once empty.
func forgetImageBundle(id string) error {
	if err := os.Remove(imageBundleRecord(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(filepath.Join(g.root, imageBundles)) // fails while another record is there
	return nil
}

// releaseImageBundle unmounts and removes what `run --image ID` made for
// container id, if it is still there: the container is gone, or was never
// made because the run was killed first.
func releaseImageBundle(id string) error {
	raw, err := os.ReadFile(imageBundleRecord(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var r imageBundle
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: %w", imageBundleRecord(id), err)
	}
	st, err := images.OpenStore(r.ImageRoot)
	if err != nil {
		return err
	}
	if err := st.Unmount(r.Bundle, g.recorder("delete")); err != nil && !errors.Is(err, images.ErrNotMounted) {
		return err
	}
	os.RemoveAll(r.Bundle)
	return forgetImageBundle(id)
}
