// Command mkimage packs a root filesystem directory as a one-layer OCI image
// archive (an OCI image layout in a tar file) that `ctr images import`,
// `podman load` and `podman pull oci-archive:` accept, without a registry
// and without any library beyond Go's standard one.
//
//	mkimage -rootfs DIR -name localhost/miniruntime/busybox:test -o busybox.tar [-entrypoint 'sleep 3600'] [-cmd sh]
//
// The archive is deterministic: entries are sorted, owned by root and dated
// at the Unix epoch, so the same rootfs always gives the same digests.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/miniruntime/miniruntime/tests/clients"
)

func main() {
	rootfs := flag.String("rootfs", "", "root filesystem directory to pack as the only layer")
	name := flag.String("name", "localhost/miniruntime/busybox:test", "fully qualified image reference")
	out := flag.String("o", "", "output OCI archive (tar)")
	entrypoint := flag.String("entrypoint", "", "entrypoint, split on spaces (empty: none)")
	cmd := flag.String("cmd", "sh", "default command, split on spaces")
	flag.Parse()
	if *rootfs == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: mkimage -rootfs DIR -o FILE [-name REF] [-entrypoint ARGS] [-cmd ARGS]")
		os.Exit(2)
	}
	im := clients.Image{Name: *name, Entrypoint: strings.Fields(*entrypoint), Cmd: strings.Fields(*cmd)}
	if err := clients.WriteArchive(*rootfs, *out, im); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}
