// The native init. It runs from a C constructor of the runtime binary,
// before the Go runtime exists, and ends in execve. It keeps to system
// calls, its stack and one mmap'd buffer; the ids are set with raw system
// calls, on this one thread, as the Go init does.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cinit.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef MOUNT_ATTR_SIZE_VER0
struct mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#endif
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define MAX_STRS 4096
#define MAX_NUMS 4096

// One decoded step: pointers into the plan buffer.
struct step {
	uint32_t op;
	const char *what;
	uint32_t nnum, nstr;
	const unsigned char *nums; // nnum little-endian u64s, unaligned
	const char *strs[128];     // the first 128 strings; exec reads the rest by walking
	const unsigned char *strs_at;
};

struct state {
	int sync;     // the socket to the parent
	int root;     // O_PATH handle on the rootfs
	int dev;      // /dev in the rootfs, while devices are made
	int fifo;     // the exec FIFO
	int apparmor; // attr/exec, opened early
	int index, total;
	const unsigned char *end; // of the plan buffer
	char exe[4096];
	char home[4096]; // "HOME=..." when process.env has none
	int want_home;
};

static struct state st;

// ---- messages to the parent -------------------------------------------

static int write_all(int fd, const char *b, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_type(const char *type) {
	char b[64];
	int n = snprintf(b, sizeof b, "{\"type\":\"%s\"}\n", type);
	return write_all(st.sync, b, (size_t)n);
}

// wait_for reads one message line and checks its type.
static int wait_for(const char *type) {
	char b[256], want[64];
	size_t n = 0;
	for (;;) {
		if (n == sizeof b - 1)
			return -1;
		ssize_t r = read(st.sync, b + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (b[n++] == '\n')
			break;
	}
	b[n] = 0;
	snprintf(want, sizeof want, "\"type\":\"%s\"", type);
	return strstr(b, want) ? 0 : -1;
}

// fail reports "step i of n: what: detail" and errno e (0 for none) as a
// JSON error message, then exits: the parent undoes everything.
static void fail(int e, const char *what, const char *detail) {
	char msg[8192], out[17000];
	int n = snprintf(msg, sizeof msg, "step %d of %d: %s%s%s", st.index, st.total, what, detail[0] ? ": " : "", detail);
	if (n < 0)
		_exit(1);
	size_t o = 0;
	o += (size_t)snprintf(out, sizeof out, "{\"type\":\"error\",\"errno\":%d,\"error\":\"", e);
	for (const char *p = msg; *p && o < sizeof out - 16; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, sizeof out - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	o += (size_t)snprintf(out + o, sizeof out - o, "\"}\n");
	if (st.sync >= 0) {
		write_all(st.sync, out, o);
		_exit(1);
	}
	// After start the parent no longer listens: the error goes to the
	// process's stderr, as the Go init's does, its cause spelled as Go
	// spells it (glibc's text, lower-cased).
	const char *cause = e ? strerrordesc_np(e) : NULL;
	n = snprintf(out, sizeof out, "miniruntime init: %s%s%s\n", msg, cause ? ": " : "", cause ? cause : "");
	if (cause && n > 0 && (size_t)n < sizeof out) {
		char *c = out + strlen(out) - strlen(cause) - 1;
		if (*c >= 'A' && *c <= 'Z' && c[1] >= 'a' && c[1] <= 'z')
			*c = (char)(*c - 'A' + 'a');
		write_all(2, out, (size_t)n);
	} else if (n > 0) {
		write_all(2, out, (size_t)n < sizeof out ? (size_t)n : sizeof out - 1);
	}
	_exit(1);
}

// ---- the plan buffer ----------------------------------------------------

static uint32_t u32_at(const unsigned char *p) {
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t num(const struct step *s, uint32_t i) {
	uint64_t v;
	memcpy(&v, s->nums + 8 * i, 8);
	return v;
}

static const char *str(const struct step *s, uint32_t i) { return i < s->nstr && i < 128 ? s->strs[i] : ""; }

// next_str reads one encoded string (length, bytes, NUL) at *p.
static const char *next_str(const unsigned char **p, const unsigned char *end) {
	if (end - *p < 4)
		return NULL;
	uint32_t n = u32_at(*p);
	const char *s = (const char *)*p + 4;
	if ((size_t)(end - *p) < 4 + (size_t)n + 1 || s[n] != 0)
		return NULL;
	*p += 4 + n + 1;
	return s;
}

static int decode_step(const unsigned char **p, const unsigned char *end, struct step *s) {
	if (end - *p < 4)
		return -1;
	s->op = u32_at(*p);
	*p += 4;
	if (!(s->what = next_str(p, end)) || end - *p < 4)
		return -1;
	s->nnum = u32_at(*p);
	*p += 4;
	if (s->nnum > MAX_NUMS || (size_t)(end - *p) < 8 * (size_t)s->nnum + 4)
		return -1;
	s->nums = *p;
	*p += 8 * (size_t)s->nnum;
	s->nstr = u32_at(*p);
	*p += 4;
	if (s->nstr > MAX_STRS)
		return -1;
	s->strs_at = *p;
	for (uint32_t i = 0; i < s->nstr; i++) {
		const char *x = next_str(p, end);
		if (!x)
			return -1;
		if (i < 128)
			s->strs[i] = x;
	}
	return 0;
}

// ---- the rootfs ----------------------------------------------------------

static long openat2_in_root(const char *rel, uint64_t flags) {
	struct open_how how = {.flags = flags | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	return syscall(SYS_openat2, st.root, rel, &how, sizeof how);
}

// target makes the mount point dest inside the rootfs (a directory, or an
// empty file) with any missing parents, and returns an O_PATH handle on
// it. Every lookup is made by the kernel as if the rootfs were /, so no
// symlink or ".." in it can lead outside (CVE-2021-30465).
static int target(const char *dest, int is_dir) {
	char rel[4096];
	while (*dest == '/')
		dest++;
	if (snprintf(rel, sizeof rel, "%s", *dest ? dest : ".") >= (int)sizeof rel) {
		errno = ENAMETOOLONG;
		return -1;
	}
	long fd = openat2_in_root(rel, O_PATH);
	if (fd < 0 && errno == ENOENT) {
		// Make each missing element, the last one as asked.
		for (char *slash = rel;; slash++) {
			slash = strchr(slash, '/');
			int last = slash == NULL;
			if (!last)
				*slash = 0;
			char *name = strrchr(rel, '/');
			long parent = name ? (*name = 0, openat2_in_root(rel, O_PATH | O_DIRECTORY)) : openat2_in_root(".", O_PATH | O_DIRECTORY);
			if (name)
				*name = '/';
			if (parent < 0)
				return -1;
			const char *base = name ? name + 1 : rel;
			int err = 0;
			if (!last || is_dir) {
				if (mkdirat((int)parent, base, 0755) < 0 && errno != EEXIST)
					err = errno;
			} else {
				int f = openat((int)parent, base, O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_RDONLY, 0644);
				if (f >= 0)
					close(f);
				else if (errno != EEXIST && errno != ELOOP && errno != EISDIR && errno != ENXIO && errno != EACCES)
					err = errno;
			}
			close((int)parent);
			if (err) {
				errno = err;
				return -1;
			}
			if (last)
				break;
			*slash = '/';
		}
		fd = openat2_in_root(rel, O_PATH);
	}
	if (fd < 0)
		return -1;
	if (is_dir) {
		struct stat sb;
		if (fstat((int)fd, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			close((int)fd);
			errno = ENOTDIR;
			return -1;
		}
	}
	return (int)fd;
}

static void fd_path(char *b, size_t n, int fd) { snprintf(b, n, "/proc/self/fd/%d", fd); }

static void mount_or_fail(const char *what, const char *src, const char *dst, const char *shown, const char *type, unsigned long flags, const char *data) {
	if (mount(src, dst, type, flags, data) < 0) {
		char d[8192];
		snprintf(d, sizeof d, "mount %s on %s (type \"%s\", flags 0x%lx, data \"%s\")", src ? src : "", shown, type ? type : "", flags, data ? data : "");
		fail(errno, what, d);
	}
}

// remount changes the flags of a bind mount, keeping the ones the kernel
// locks on it (nosuid, nodev, noexec), which a remount must repeat.
static void remount(const char *what, const char *dst, const char *shown, unsigned long flags) {
	struct statfs sf;
	if (statfs(dst, &sf) == 0)
		flags |= (unsigned long)sf.f_flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_or_fail(what, "", dst, shown, "", flags | MS_BIND | MS_REMOUNT, "");
}

static void do_mount(const struct step *s) {
	uint64_t flags = num(s, 0), bind = num(s, 1), rec = num(s, 2), prop = num(s, 3), aset = num(s, 4), aclr = num(s, 5);
	const char *src = str(s, 0), *dest = str(s, 1), *type = str(s, 2), *data = str(s, 3);
	int is_dir = 1;
	if (bind) {
		struct stat sb;
		if (stat(src, &sb) < 0) {
			char d[4200];
			snprintf(d, sizeof d, "bind source: stat %s", src);
			fail(errno, s->what, d);
		}
		is_dir = S_ISDIR(sb.st_mode);
	}
	int t = target(dest, is_dir);
	if (t < 0)
		fail(errno, s->what, "mount point in rootfs");
	char dst[64];
	fd_path(dst, sizeof dst, t);
	if (bind)
		mount_or_fail(s->what, src, dst, dest, "", MS_BIND | (rec ? MS_REC : 0), "");
	else
		mount_or_fail(s->what, src, dst, dest, type, flags, data);
	close(t);
	int again = bind && (flags & ~(uint64_t)MS_REC) != 0;
	if (!again && prop == 0 && (aset | aclr) == 0)
		return;
	// The handle names the directory under the new mount: reopen the path
	// to reach the mount itself.
	if ((t = target(dest, is_dir)) < 0)
		fail(errno, s->what, "mount point in rootfs");
	fd_path(dst, sizeof dst, t);
	if (again)
		remount(s->what, dst, dest, flags);
	if (prop)
		mount_or_fail(s->what, "", dst, dest, "", prop, "");
	if (aset | aclr) {
		struct mount_attr a = {.attr_set = aset, .attr_clr = aclr};
		if (syscall(SYS_mount_setattr, AT_FDCWD, dst, AT_RECURSIVE, &a, sizeof a) < 0)
			fail(errno, s->what, "mount_setattr");
	}
	close(t);
}

// parent_private makes the mount holding the rootfs private: the nearest
// ancestor that is a mount point is the first that accepts the change.
static void parent_private(const struct step *s) {
	char p[4096];
	snprintf(p, sizeof p, "%s", str(s, 0));
	for (;;) {
		if (mount("", p, NULL, MS_PRIVATE, NULL) == 0)
			return;
		if (errno != EINVAL || strcmp(p, "/") == 0)
			fail(errno, s->what, p);
		char *slash = strrchr(p, '/');
		if (slash == p)
			p[1] = 0;
		else
			*slash = 0;
	}
}

static void bind_rootfs(const struct step *s) {
	const char *rootfs = str(s, 0);
	mount_or_fail(s->what, rootfs, rootfs, rootfs, "", MS_BIND | MS_REC, "");
	st.root = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (st.root < 0)
		fail(errno, s->what, "open rootfs");
}

static void cgroup2_view(const struct step *s) {
	int t = target(str(s, 0), 1);
	if (t < 0)
		fail(errno, s->what, "mount point in rootfs");
	char dst[64];
	fd_path(dst, sizeof dst, t);
	mount_or_fail(s->what, "cgroup2", dst, str(s, 0), "cgroup2", num(s, 0), "");
	close(t);
}

static void set_attr(const struct step *s, int fd, unsigned int flags, uint64_t set, uint64_t clr) {
	struct mount_attr a = {.attr_set = set, .attr_clr = clr};
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | flags, &a, sizeof a) < 0)
		fail(errno, s->what, "mount_setattr");
}

// cgroup1_view is runc's view of a v1 (or hybrid) host's cgroups: a tmpfs
// holding each hierarchy, rooted at the init's own cgroup: bound from the
// host's tree, or mounted anew in a cgroup namespace of its own (which the
// kernel roots there).
static void cgroup1_view(const struct step *s) {
	const char *dest = str(s, 0);
	int own_ns = num(s, 1) != 0;
	char dst[64], sub[4200];
	int t = target(dest, 1);
	if (t < 0)
		fail(errno, s->what, "mount point in rootfs");
	fd_path(dst, sizeof dst, t);
	mount_or_fail(s->what, "tmpfs", dst, dest, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755");
	close(t);
	for (uint32_t i = 1; i + 2 < s->nstr; i += 3) {
		const char *name = str(s, i), *src = str(s, i + 1), *opts = str(s, i + 2);
		struct stat sb;
		if (!own_ns && stat(src, &sb) < 0)
			continue; // no cgroup of ours in this hierarchy
		snprintf(sub, sizeof sub, "%s/%s", dest, name);
		int h = target(sub, 1);
		if (h < 0)
			fail(errno, s->what, sub);
		fd_path(dst, sizeof dst, h);
		if (own_ns)
			mount_or_fail(s->what, "cgroup", dst, sub, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts);
		else
			mount_or_fail(s->what, src, dst, sub, "", MS_BIND | MS_REC, "");
		close(h);
	}
	// One recursive change covers the tmpfs and every hierarchy in it; the
	// tmpfs itself then stays writable, as under runc.
	if ((t = target(dest, 1)) < 0)
		fail(errno, s->what, "mount point in rootfs");
	int ro = (num(s, 0) & MS_RDONLY) != 0;
	set_attr(s, t, AT_RECURSIVE, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | (ro ? MOUNT_ATTR_RDONLY : 0), 0);
	if (ro)
		set_attr(s, t, 0, 0, MOUNT_ATTR_RDONLY);
	close(t);
}

static int setns_path(const char *path, int type) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = setns(fd, type);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

static void wait_parent(const struct step *s) {
	if (send_type("hooks") < 0 || wait_for("continue") < 0)
		fail(EPIPE, s->what, "sync with parent");
	const char *ns = str(s, 0);
	if (strcmp(ns, "new") == 0) {
		if (unshare(CLONE_NEWCGROUP) < 0)
			fail(errno, s->what, "linux.namespaces cgroup: unshare");
	} else if (ns[0] && setns_path(ns, CLONE_NEWCGROUP) < 0) {
		fail(errno, s->what, "linux.namespaces cgroup");
	}
}

// dir_of opens the directory holding path in the rootfs; /dev is opened
// once and kept until pivot_root.
static int dir_of(const struct step *s, const char *path) {
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	int is_dev = strcmp(dir, "/dev") == 0;
	if (is_dev && st.dev >= 0)
		return st.dev;
	int t = target(dir, 1);
	if (t < 0)
		fail(errno, s->what, dir);
	char p[64];
	fd_path(p, sizeof p, t);
	int fd = open(p, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	close(t);
	if (fd < 0)
		fail(errno, s->what, dir);
	if (is_dev)
		st.dev = fd;
	return fd;
}

static void done_dir(int fd) {
	if (fd != st.dev)
		close(fd);
}

static const char *base_of(const char *path) {
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

static void device(const struct step *s) {
	const char *path = str(s, 0);
	int dir = dir_of(s, path);
	const char *name = base_of(path);
	unlinkat(dir, name, 0); // whatever an image shipped there
	mode_t old = umask(0);
	int r = mknodat(dir, name, (mode_t)num(s, 0), makedev(num(s, 1), num(s, 2)));
	int e = errno;
	umask(old);
	if (r < 0)
		fail(e, s->what, "mknod");
	if (fchownat(dir, name, (uid_t)num(s, 3), (gid_t)num(s, 4), AT_SYMLINK_NOFOLLOW) < 0)
		fail(errno, s->what, "chown");
	done_dir(dir);
}

static void symlink_step(const struct step *s) {
	const char *path = str(s, 1);
	int dir = dir_of(s, path);
	if (symlinkat(str(s, 0), dir, base_of(path)) < 0 && errno != EEXIST)
		fail(errno, s->what, "symlink");
	done_dir(dir);
}

static void pivot(const struct step *s) {
	const char *rootfs = str(s, 0);
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		fail(errno, s->what, "open /");
	int newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0)
		fail(errno, s->what, "open rootfs");
	if (fchdir(newroot) < 0)
		fail(errno, s->what, "chdir rootfs");
	// pivot_root(".", ".") stacks the old root on the new one; after
	// fchdir to it, it is "." and can be detached.
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail(errno, s->what, "pivot_root");
	if (fchdir(oldroot) < 0)
		fail(errno, s->what, "chdir to old root");
	if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
		fail(errno, s->what, "make old root rslave");
	if (umount2(".", MNT_DETACH) < 0)
		fail(errno, s->what, "detach old root");
	if (chdir("/") < 0)
		fail(errno, s->what, "chdir /");
	close(oldroot);
	close(newroot);
}

static void move_root(const struct step *s, int move) {
	const char *rootfs = str(s, 0);
	if (chdir(rootfs) < 0)
		fail(errno, s->what, "chdir rootfs");
	if (move)
		mount_or_fail(s->what, rootfs, "/", rootfs, "", MS_MOVE, "");
	if (chroot(".") < 0)
		fail(errno, s->what, "chroot");
	if (chdir("/") < 0)
		fail(errno, s->what, "chdir /");
}

static int write_file(const char *path, const char *v) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = strlen(v);
	ssize_t w = write(fd, v, n);
	int e = errno;
	close(fd);
	errno = e;
	if (w >= 0 && (size_t)w != n)
		errno = EIO;
	return w == (ssize_t)n ? 0 : -1;
}

static void readonly_path(const struct step *s) {
	const char *p = str(s, 0);
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return;
		fail(errno, s->what, "linux.readonlyPaths: bind");
	}
	remount(s->what, p, p, MS_RDONLY | MS_REC);
}

static void mask_path(const struct step *s) {
	const char *p = str(s, 0);
	struct stat sb;
	if (lstat(p, &sb) < 0) {
		if (errno == ENOENT)
			return;
		fail(errno, s->what, "linux.maskedPaths");
	}
	if (S_ISDIR(sb.st_mode))
		mount_or_fail(s->what, "tmpfs", p, p, "tmpfs", MS_RDONLY, "");
	else
		mount_or_fail(s->what, "/dev/null", p, p, "", MS_BIND, "");
}

// executable says whether path names a file execve could run.
static int executable(const char *path) {
	struct stat sb;
	if (stat(path, &sb) < 0)
		return -1;
	if (S_ISDIR(sb.st_mode) || (sb.st_mode & 0111) == 0) {
		errno = S_ISDIR(sb.st_mode) ? EISDIR : EACCES;
		return -1;
	}
	return 0;
}

// look_path finds args[0] the way execvp does, with the config's PATH, so
// that a missing binary fails create.
static void look_path(const struct step *s) {
	const char *name = str(s, 0), *path = str(s, 1);
	char d[4200];
	if (strchr(name, '/')) {
		if (executable(name) < 0) {
			snprintf(d, sizeof d, "exec: \"%s\": stat %s", name, name);
			fail(errno, s->what, d);
		}
		snprintf(st.exe, sizeof st.exe, "%s", name);
		return;
	}
	for (const char *p = path;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		if (n == 0)
			snprintf(st.exe, sizeof st.exe, "./%s", name);
		else
			snprintf(st.exe, sizeof st.exe, "%.*s/%s", (int)n, p, name);
		if (executable(st.exe) == 0)
			return;
		if (!colon)
			break;
		p = colon + 1;
	}
	snprintf(d, sizeof d, "exec: \"%s\": executable file not found in $PATH", name);
	fail(0, s->what, d);
}

static void wait_start(const struct step *s) {
	if (num(s, 0) && wait_for("start") < 0)
		fail(EPIPE, s->what, "sync with parent");
	close(st.sync);
	st.sync = -1;
	while (!num(s, 0)) {
		char b;
		ssize_t r = read(st.fifo, &b, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail(errno, s->what, "read exec fifo");
		break;
	}
}

static void rlimit_ceilings(const struct step *s) {
	for (uint32_t i = 0; i + 2 < s->nnum; i += 3) {
		struct rlimit cur;
		int res = (int)num(s, i);
		if (getrlimit(res, &cur) < 0)
			fail(errno, s->what, str(s, i / 3));
		if (num(s, i + 2) > cur.rlim_max) {
			struct rlimit r = {cur.rlim_cur, num(s, i + 2)};
			if (setrlimit(res, &r) < 0)
				fail(errno, s->what, str(s, i / 3));
		}
	}
}

// home_of looks the user's home up in the container's /etc/passwd.
static void home_of(uint64_t uid) {
	snprintf(st.home, sizeof st.home, "HOME=/");
	int fd = open("/etc/passwd", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char b[65536];
	ssize_t n = 0, r;
	while (n < (ssize_t)sizeof b - 1 && (r = read(fd, b + n, sizeof b - 1 - (size_t)n)) > 0)
		n += r;
	close(fd);
	b[n] = 0;
	for (char *line = b; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = 0;
		// name:password:uid:gid:gecos:home:shell
		char *f[7] = {line};
		int k = 1;
		for (char *c = line; *c && k < 7; c++)
			if (*c == ':') {
				*c = 0;
				f[k++] = c + 1;
			}
		char want[32];
		snprintf(want, sizeof want, "%llu", (unsigned long long)uid);
		if (k >= 6 && strcmp(f[2], want) == 0) {
			snprintf(st.home, sizeof st.home, "HOME=%s", f[5]);
			return;
		}
		line = nl ? nl + 1 : NULL;
	}
}

static void check_cwd(const struct step *s) {
	const char *cwd = str(s, 0);
	if (num(s, 1)) {
		st.want_home = 1;
		home_of(num(s, 0));
	}
	char p[4096];
	snprintf(p, sizeof p, "%s", cwd);
	for (char *c = p + 1;; c++) {
		if (*c == '/' || *c == 0) {
			char save = *c;
			*c = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				fail(errno, s->what, cwd);
			*c = save;
			if (!save)
				break;
		}
	}
	if (chdir(cwd) < 0)
		fail(errno, s->what, cwd);
	// A cwd inherited from the host through a leaked fd (CVE-2024-21626)
	// shows as "(unreachable)/..." or fails.
	char wd[4096];
	if (syscall(SYS_getcwd, wd, sizeof wd) < 0 || wd[0] != '/') {
		char d[4200];
		snprintf(d, sizeof d, "process.cwd %s: current directory is outside the container root", cwd);
		fail(0, s->what, d);
	}
}

static void close_fds(const struct step *s) {
	unsigned int first = (unsigned int)num(s, 0);
	if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = (int)first; fd < 65536; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void set_ids(const struct step *s) {
	uint32_t gids[MAX_NUMS];
	uint32_t n = s->nnum > 2 ? s->nnum - 2 : 0;
	for (uint32_t i = 0; i < n; i++)
		gids[i] = (uint32_t)num(s, 2 + i);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		fail(errno, s->what, "prctl(PR_SET_KEEPCAPS)");
	// setgroups is denied in a user namespace whose setgroups file says
	// "deny"; there the supplementary groups cannot change at all.
	if (syscall(SYS_setgroups, n, gids) < 0 && !(errno == EPERM && n == 0))
		fail(errno, s->what, "process.user.additionalGids: setgroups");
	uint64_t uid = num(s, 0), gid = num(s, 1);
	if (syscall(SYS_setresgid, gid, gid, gid) < 0)
		fail(errno, s->what, "process.user.gid");
	if (syscall(SYS_setresuid, uid, uid, uid) < 0)
		fail(errno, s->what, "process.user.uid");
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		fail(errno, s->what, "prctl(PR_SET_KEEPCAPS)");
}

static void capabilities(const struct step *s) {
	uint64_t e = num(s, 0), p = num(s, 1), i = num(s, 2);
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {
	    {.effective = (uint32_t)e, .permitted = (uint32_t)p, .inheritable = (uint32_t)i},
	    {.effective = (uint32_t)(e >> 32), .permitted = (uint32_t)(p >> 32), .inheritable = (uint32_t)(i >> 32)},
	};
	if (syscall(SYS_capset, &h, d) < 0)
		fail(errno, s->what, "process.capabilities: capset");
}

static void exec_process(const struct step *s) {
	// The arguments, then the environment, then room for HOME.
	const char *argv[MAX_STRS + 2], *envp[MAX_STRS + 2];
	uint32_t nargs = (uint32_t)num(s, 0), na = 0, ne = 0;
	const unsigned char *p = s->strs_at;
	if (s->nstr > MAX_STRS)
		fail(E2BIG, s->what, "too many arguments and environment entries");
	for (uint32_t i = 0; i < s->nstr; i++) {
		const char *x = next_str(&p, st.end);
		if (i < nargs)
			argv[na++] = x;
		else
			envp[ne++] = x;
	}
	argv[na] = NULL;
	if (st.want_home)
		envp[ne++] = st.home;
	envp[ne] = NULL;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(st.exe, (char *const *)argv, (char *const *)envp);
	char d[4200];
	snprintf(d, sizeof d, "exec %s", st.exe);
	fail(errno, s->what, d);
}

static void run_step(const struct step *s) {
	switch (s->op) {
	case MR_OP_NOT_DUMPABLE:
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			fail(errno, s->what, "prctl(PR_SET_DUMPABLE)");
		break;
	case MR_OP_OOM_SCORE_ADJ:
		if (write_file("/proc/self/oom_score_adj", str(s, 0)) < 0)
			fail(errno, s->what, "process.oomScoreAdj");
		break;
	case MR_OP_ROOT_PROPAGATION:
	case MR_OP_ROOTFS_PROPAGATE:
		mount_or_fail(s->what, "", "/", "/", "", num(s, 0), "");
		break;
	case MR_OP_PARENT_PRIVATE:
		parent_private(s);
		break;
	case MR_OP_BIND_ROOTFS:
		bind_rootfs(s);
		break;
	case MR_OP_MOUNT:
		do_mount(s);
		break;
	case MR_OP_CGROUP2_VIEW:
		cgroup2_view(s);
		break;
	case MR_OP_CGROUP1_VIEW:
		cgroup1_view(s);
		break;
	case MR_OP_WAIT_PARENT:
		wait_parent(s);
		break;
	case MR_OP_DEVICE:
		device(s);
		break;
	case MR_OP_SYMLINK:
		symlink_step(s);
		break;
	case MR_OP_OPEN_FIFO:
		// O_RDWR never blocks; the read at wait-for-start does.
		if ((st.fifo = open(str(s, 0), O_RDWR | O_CLOEXEC)) < 0)
			fail(errno, s->what, "open exec fifo");
		break;
	case MR_OP_PIVOT_ROOT:
	case MR_OP_MOVE_ROOT:
	case MR_OP_CHROOT:
		if (st.dev >= 0)
			close(st.dev);
		st.dev = -1;
		if (s->op == MR_OP_PIVOT_ROOT)
			pivot(s);
		else
			move_root(s, s->op == MR_OP_MOVE_ROOT);
		close(st.root);
		st.root = -1;
		break;
	case MR_OP_HOSTNAME:
		if (sethostname(str(s, 0), strlen(str(s, 0))) < 0)
			fail(errno, s->what, "hostname");
		break;
	case MR_OP_DOMAINNAME:
		if (setdomainname(str(s, 0), strlen(str(s, 0))) < 0)
			fail(errno, s->what, "domainname");
		break;
	case MR_OP_SYSCTL:
		if (write_file(str(s, 1), str(s, 2)) < 0) {
			char d[4200];
			snprintf(d, sizeof d, "linux.sysctl[\"%s\"]: the kernel refused \"%s\"", str(s, 0), str(s, 2));
			fail(errno, s->what, d);
		}
		break;
	case MR_OP_KEYRING:
		// A session keyring of its own: containers cannot read each
		// other's keys, or the host's.
		if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, str(s, 0), 0, 0, 0) < 0 && errno != ENOSYS)
			fail(errno, s->what, "join session keyring");
		break;
	case MR_OP_READONLY_PATH:
		readonly_path(s);
		break;
	case MR_OP_MASK_PATH:
		mask_path(s);
		break;
	case MR_OP_READONLY_ROOT:
		remount(s->what, "/", "/", MS_RDONLY);
		break;
	case MR_OP_LOOK_PATH:
		look_path(s);
		break;
	case MR_OP_READY:
		if (send_type("ready") < 0)
			fail(EPIPE, s->what, "sync with parent");
		break;
	case MR_OP_WAIT_START:
		wait_start(s);
		break;
	case MR_OP_RLIMIT_CEILINGS:
		rlimit_ceilings(s);
		break;
	case MR_OP_UMASK:
		umask((mode_t)num(s, 0));
		break;
	case MR_OP_OPEN_APPARMOR:
		if ((st.apparmor = open("/proc/thread-self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC)) < 0 &&
		    (st.apparmor = open("/proc/thread-self/attr/exec", O_WRONLY | O_CLOEXEC)) < 0)
			fail(errno, s->what, "process.apparmorProfile: open attr/exec");
		break;
	case MR_OP_CHECK_CWD:
		check_cwd(s);
		break;
	case MR_OP_CLOSE_FDS:
		close_fds(s);
		break;
	case MR_OP_BOUNDING_SET:
		for (uint64_t bit = 0; bit <= num(s, 1); bit++)
			if (!(num(s, 0) & (1ULL << bit)) && prctl(PR_CAPBSET_DROP, bit, 0, 0, 0) < 0)
				fail(errno, s->what, "process.capabilities.bounding");
		break;
	case MR_OP_SET_IDS:
		set_ids(s);
		break;
	case MR_OP_CAPABILITIES:
		capabilities(s);
		break;
	case MR_OP_AMBIENT:
		for (uint32_t i = 0; i < s->nnum; i++)
			if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, num(s, i), 0, 0) < 0)
				fail(errno, s->what, str(s, i));
		break;
	case MR_OP_NO_NEW_PRIVS:
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			fail(errno, s->what, "process.noNewPrivileges");
		break;
	case MR_OP_CHDIR:
		// After the user change the cwd may no longer be reachable.
		if (chdir(str(s, 0)) < 0) {
			char d[4200];
			snprintf(d, sizeof d, "process.cwd %s", str(s, 0));
			fail(errno, s->what, d);
		}
		break;
	case MR_OP_RLIMIT: {
		struct rlimit r = {num(s, 1), num(s, 2)};
		if (setrlimit((int)num(s, 0), &r) < 0)
			fail(errno, s->what, str(s, 0));
		break;
	}
	case MR_OP_APPARMOR: {
		char b[4200];
		int n = snprintf(b, sizeof b, "exec %s", str(s, 0));
		if (write(st.apparmor, b, (size_t)n) != n)
			fail(errno, s->what, "process.apparmorProfile");
		close(st.apparmor);
		break;
	}
	case MR_OP_EXEC:
		exec_process(s);
		break;
	default:
		fail(0, s->what, "unknown step");
	}
}

// read_plan reads the encoded plan from the sync socket into a private
// mapping: the magic, the length, then the body.
static const unsigned char *read_plan(size_t *len) {
	unsigned char head[8];
	size_t got = 0;
	while (got < sizeof head) {
		ssize_t r = read(st.sync, head + got, sizeof head - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1); // the parent is gone; it reports the failure
		got += (size_t)r;
	}
	if (u32_at(head) != MR_PLAN_MAGIC)
		_exit(1);
	*len = u32_at(head + 4);
	unsigned char *b = mmap(NULL, *len + 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b == MAP_FAILED)
		_exit(1);
	for (got = 0; got < *len;) {
		ssize_t r = read(st.sync, b + got, *len - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(1);
		got += (size_t)r;
	}
	return b;
}

// run executes the plan; it ends in execve or in fail.
static void run(int sync_fd) {
	st.sync = sync_fd;
	st.root = st.dev = st.fifo = st.apparmor = -1;
	size_t len;
	const unsigned char *p = read_plan(&len), *end = p + len;
	st.end = end;
	// The v1 tasks files this thread joins first: nothing of the
	// container runs outside its cgroups.
	if (end - p < 4)
		_exit(1);
	uint32_t ntasks = u32_at(p);
	p += 4;
	for (uint32_t i = 0; i < ntasks; i++) {
		const char *f = next_str(&p, end);
		if (!f)
			_exit(1);
		if (write_file(f, "0") < 0)
			fail(errno, "join cgroup", f);
	}
	if (end - p < 4)
		_exit(1);
	st.total = (int)u32_at(p);
	p += 4;
	for (st.index = 1; st.index <= st.total; st.index++) {
		struct step s;
		if (decode_step(&p, end, &s) < 0)
			fail(0, "decode the plan", "malformed");
		run_step(&s);
	}
	fail(0, "the plan ended without executing the process", "");
}

// die ends the init on a signal that would end a process. As pid 1 of its
// namespace the init would ignore it with the default action, while the Go
// init (and runc's) has handlers and exits: `kill` of a created container
// must end it. execve resets the handler.
static void die(int sig) { _exit(128 + sig); }

static int stops_or_ignored(int sig) {
	switch (sig) {
	case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
	case SIGTSTP: case SIGTTIN: case SIGTTOU:
		return 1;
	}
	return 0;
}

// cinit_main runs before anything else in this binary, the Go runtime
// included. In the native init (the environment names its sync socket) it
// executes the plan and never returns; anywhere else it does nothing.
__attribute__((constructor)) static void cinit_main(void) {
	const char *fd = getenv(MR_NATIVE_ENV);
	if (fd == NULL || fd[0] == 0)
		return;
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction old;
		if (sig == SIGKILL || sig == SIGSTOP || stops_or_ignored(sig) || sigaction(sig, NULL, &old) < 0 || old.sa_handler == SIG_IGN)
			continue;
		struct sigaction a = {.sa_handler = die};
		sigaction(sig, &a, NULL);
	}
	run(atoi(fd));
}
