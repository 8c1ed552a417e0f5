// Package sysfile reads and writes the small files of the kernel's
// pseudo-filesystems (cgroupfs, procfs, sysfs) with plain system calls.
//
// An *os.File registers every file it opens with the Go runtime's poller,
// and cgroupfs files support poll: that is an epoll_ctl to add and another
// to remove, around each open, read or write of a one-line file. A
// container start touches dozens of them, twice for each process.
package sysfile

import (
	"os"

	"golang.org/x/sys/unix"
)

// Write writes s to path with one write(2), as the kernel wants for a
// cgroup or proc knob. The file must exist (no O_CREAT: a missing knob is
// the kernel's answer); O_TRUNC keeps a plain file in a test tree exact.
func Write(path, s string) error {
	fd, err := open(path, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return err
	}
	n, err := unix.Write(fd, []byte(s))
	cerr := unix.Close(fd)
	switch {
	case err != nil:
		return &os.PathError{Op: "write", Path: path, Err: err}
	case n != len(s):
		return &os.PathError{Op: "write", Path: path, Err: unix.EIO}
	case cerr != nil:
		return &os.PathError{Op: "close", Path: path, Err: cerr}
	}
	return nil
}

// Read returns the content of path.
func Read(path string) ([]byte, error) {
	fd, err := open(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

func open(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}
