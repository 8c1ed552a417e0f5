// Package nsenter is the container init's C preamble. A process can join a
// user namespace only while it is single-threaded, and a Go program never is
// once its runtime has started. So a C constructor, which runs before the Go
// runtime, joins the user namespace named by _MINIRUNTIME_USERNS (set by
// create only for the init of a container whose config joins an existing
// user namespace by path) and records any failure for Err.
//
// Every other namespace is joined by the parent before the init is forked
// (see runtime.startInit); this is the one that cannot be.
package nsenter

/*
#cgo CFLAGS: -Wall
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int userns_errno;
static const char *userns_step;

__attribute__((constructor)) static void miniruntime_join_userns(void) {
	const char *path = getenv("_MINIRUNTIME_USERNS");
	if (path == NULL || path[0] == '\0')
		return;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		userns_errno = errno;
		userns_step = "open";
		return;
	}
	if (setns(fd, CLONE_NEWUSER) < 0) {
		userns_errno = errno;
		userns_step = "setns";
		close(fd);
		return;
	}
	close(fd);
	// Become root of the namespace just joined, as a new one would make us.
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
		userns_errno = errno;
		userns_step = "setresuid";
	}
}

static int nsenter_errno(void) { return userns_errno; }
static const char *nsenter_step(void) { return userns_step ? userns_step : ""; }
*/
import "C"

import (
	"fmt"
	"os"
	"syscall"
)

// Err reports whether the preamble failed to join the user namespace.
func Err() error {
	if e := C.nsenter_errno(); e != 0 {
		return fmt.Errorf("join user namespace %s: %s: %w", os.Getenv("_MINIRUNTIME_USERNS"), C.GoString(C.nsenter_step()), syscall.Errno(e))
	}
	return nil
}

// Env is the environment entry that asks the init's preamble to join the
// user namespace at path.
func Env(path string) string { return "_MINIRUNTIME_USERNS=" + path }
