package runtime

import (
	"fmt"

	"github.com/miniruntime/miniruntime/internal/trace"
	"golang.org/x/sys/unix"
)

// The init's side of namespaces: entering its cgroup namespace once the
// parent has put it in its cgroup. The parent's side is namespaces.go.

// enterCgroupNS is the init's half of cgroupNS, on its locked thread.
func enterCgroupNS(how string, rec *trace.Recorder) error {
	switch how {
	case "":
		return nil
	case "new":
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("linux.namespaces cgroup: unshare: %w", err)
		}
		rec.Step("new cgroup namespace, rooted at the container's cgroup", "unshare --cgroup")
		return nil
	}
	if err := setnsPath(how, unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("linux.namespaces cgroup: %w", err)
	}
	rec.Step("join the cgroup namespace", trace.Quote("nsenter", "--cgroup="+how))
	return nil
}
