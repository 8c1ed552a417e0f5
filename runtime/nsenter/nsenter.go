// Package nsenter is the container init's C preamble. Two namespaces can be
// entered only by a single-threaded process, and a Go program never is once
// its runtime has started, so a C constructor, which runs before the Go
// runtime, enters them and records any failure for Err:
//
//   - the user namespace named by _MINIRUNTIME_USERNS, set by create only
//     for the init of a container whose config joins an existing one;
//   - the time namespace described by _MINIRUNTIME_TIMENS: a path to join
//     (an exec, or a config that names one), or "new" followed by the
//     offsets to give a namespace of its own.
//
// A new time namespace is made here rather than by the parent because
// unshare(CLONE_NEWTIME) only changes the namespace of a process's future
// children, and some kernels (6.1 among them) refuse the vfork that os/exec
// uses (CLONE_VM) into a time namespace other than the parent's. Making it,
// setting its offsets and then entering it by setns on our own
// /proc/self/ns/time_for_children works on every kernel with time
// namespaces, as the first process of the namespace, before anything has
// read a clock in it.
//
// Every other namespace is joined by the parent before the init is forked
// (see runtime.startInit).
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

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static int preamble_errno;
static const char *preamble_step;

static int fail(const char *step) {
	preamble_errno = errno;
	preamble_step = step;
	return -1;
}

static int setns_path(const char *path, int type, const char *step) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(step);
	int err = setns(fd, type);
	close(fd);
	return err < 0 ? fail(step) : 0;
}

static int join_userns(const char *path) {
	if (setns_path(path, CLONE_NEWUSER, "join user namespace") < 0)
		return -1;
	// Become root of the namespace just joined, as a new one would make us.
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return fail("join user namespace: setresuid");
	return 0;
}

static int new_timens(const char *offsets) {
	if (unshare(CLONE_NEWTIME) < 0)
		return fail("new time namespace: unshare");
	size_t n = strlen(offsets);
	if (n > 0) {
		int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return fail("linux.timeOffsets: open /proc/self/timens_offsets");
		ssize_t w = write(fd, offsets, n);
		int saved = errno;
		close(fd);
		errno = saved;
		if (w != (ssize_t)n)
			return fail("linux.timeOffsets: write /proc/self/timens_offsets");
	}
	return setns_path("/proc/self/ns/time_for_children", CLONE_NEWTIME, "new time namespace: enter");
}

__attribute__((constructor)) static void miniruntime_preamble(void) {
	const char *user = getenv("_MINIRUNTIME_USERNS");
	if (user != NULL && user[0] != '\0' && join_userns(user) < 0)
		return;
	const char *tns = getenv("_MINIRUNTIME_TIMENS");
	if (tns == NULL || tns[0] == '\0')
		return;
	if (strncmp(tns, "new:", 4) == 0)
		new_timens(tns + 4);
	else
		setns_path(tns, CLONE_NEWTIME, "join time namespace");
}

static int nsenter_errno(void) { return preamble_errno; }
static const char *nsenter_step(void) { return preamble_step ? preamble_step : ""; }
*/
import "C"

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

const (
	userEnv = "_MINIRUNTIME_USERNS"
	timeEnv = "_MINIRUNTIME_TIMENS"
)

// Err reports what the preamble failed to do, if anything. Both variables
// are removed, so that nothing the init starts sees them.
func Err() error {
	user, tns := os.Getenv(userEnv), os.Getenv(timeEnv)
	os.Unsetenv(userEnv)
	os.Unsetenv(timeEnv)
	e := C.nsenter_errno()
	if e == 0 {
		return nil
	}
	step := C.GoString(C.nsenter_step())
	switch {
	case strings.HasPrefix(step, "join user"):
		step += " " + user
	case strings.HasPrefix(step, "join time"):
		step += " " + tns
	}
	return fmt.Errorf("%s: %w", step, syscall.Errno(e))
}

// UserEnv is the environment entry that asks the init's preamble to join
// the user namespace at path.
func UserEnv(path string) string { return userEnv + "=" + path }

// JoinTimeEnv asks the preamble to join the time namespace at path.
func JoinTimeEnv(path string) string { return timeEnv + "=" + path }

// NewTimeEnv asks the preamble for a time namespace of its own with the
// given offsets, in the format of /proc/PID/timens_offsets.
func NewTimeEnv(offsets string) string { return timeEnv + "=new:" + offsets }
