// Command miniruntime is a small OCI container runtime with runc's command
// line. `miniruntime init` (hidden) is the container init: the binary
// re-executes itself inside the new namespaces, and that path is dispatched
// here before any command-line parsing so that it stays cheap.
package main

import (
	"os"

	"github.com/miniruntime/miniruntime/runtime"
	"github.com/miniruntime/miniruntime/runtime/nsenter"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "init" {
		runtime.Init(nsenter.Err()) // never returns
	}
	os.Exit(execute(os.Args[1:]))
}
