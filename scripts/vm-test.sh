#!/usr/bin/env bash
# vm-test.sh: run one command inside a throwaway QEMU guest that boots Debian's
# kernel with cgroup v2 as the only cgroup hierarchy. See docs/guests.md and
# shared/VM.md, shared/USERVM.md.
#
#   scripts/vm-test.sh install
#   scripts/vm-test.sh [--systemd] [--timeout SECS] [--mem MB] [--env NAME ...] -- CMD ARGS...
#
# Two guests share everything but PID 1:
#   bare (default)  PID 1 is a busybox shell: ~3 s from qemu start to the job.
#   --systemd       the user's VM: PID 1 is the root's systemd 252, AppArmor on,
#                   the job runs as a systemd service: ~20 s to the job.
#
# The host's root filesystem is shared read-only over 9p and used as the lower
# layer of an overlay whose upper layer is guest RAM, so the guest sees the
# host's files (binaries, Go test binaries, /usr/bin/runc) and can write
# anywhere without touching the host. CMD runs as root in the host's current
# directory with the chosen environment; its stdout and stderr are copied to
# ours as they grow, and its exit status becomes ours.
#
# A watchdog turns every hang into a report and exit 125, never a silent wait:
#   - the guest marks the job's start on the job share; a guest that has not
#     started the job within VM_BOOT_TIMEOUT hung in boot: it is killed and
#     booted once more;
#   - a job still running when --timeout is nearly over hung: the guest dumps
#     its processes and kernel state and sends the job SIGQUIT (a Go test
#     binary then prints every goroutine, which names the running test); a
#     guest too stuck to answer is probed from outside (qemu's monitor: each
#     vCPU's registers and kernel stack; SysRq). We print where it hung, the
#     test, the job's last output and the guest console, keep the logs under
#     $CACHE/failed/ and exit 125.
#   - a guest that stops before the job started (a kernel panic) is booted
#     once more too.
#
# Usable as: go test -exec "$PWD/scripts/vm-test.sh --" ./...
#
# Environment knobs (all optional):
#   VM_CPU=max         QEMU -cpu model (default qemu64,+rdrand under TCG, host under KVM)
#   VM_ACCEL=tcg|kvm   force the accelerator (default: kvm only if cpuinfo has vmx/svm)
#   VM_TCG_THREAD=single|multi  TCG threads (default single; multi can hang: see do_run)
#   VM_SMP=N           vCPUs (default 2)
#   VM_TIMEOUT=SECS    default for --timeout (300)
#   VM_MEM=MB          default for --mem (2048)
#   VM_SYSTEMD=1       same as --systemd
#   VM_KERNEL=VERSION  kernel version to boot (default: newest Debian /boot/vmlinuz-*)
#   VM_CACHE=DIR       cache dir (default /var/tmp/vm-cgroup2)
#   VM_DEBUG=1         verbose kernel console, printed to stderr afterwards
#   VM_BOOT_TIMEOUT=S  a guest that has not started the job after S seconds hung
#                      in boot (default 120, 240 with --systemd)
#   VM_TIMES=1         print the boot and job times to stderr at the end
#   VM_SELFTEST_HANG_BOOT=1  the first boot hangs on purpose (vm-selftest.sh)
set -euo pipefail

PROG=vm-test
SELF=$(realpath -e "${BASH_SOURCE[0]}")
CACHE=${VM_CACHE:-/var/tmp/vm-cgroup2}
# What both guests need on the host.
PACKAGES=(qemu-system-x86 linux-image-amd64 busybox-static kmod cpio xz-utils)
# What the user's VM needs besides: its PID 1, and AppArmor's tools and policy
# (apparmor.service loads the profiles; aa-status).
SYSTEMD_PACKAGES=(systemd apparmor)
# Modules the initramfs needs (their dependencies are added by modprobe).
MODULES=(virtio_pci 9pnet_virtio 9p overlay)
# Variables passed to the guest when set, besides --env names and MINIRUNTIME_*.
BASE_ENV=(PATH HOME GOCACHE GOPATH GOROOT GOMODCACHE GOFLAGS GOTOOLCHAIN GOTRACEBACK GODEBUG)
# Failed runs whose logs are kept under $CACHE/failed.
KEEP_FAILED=10

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 125
}

say() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

usage() {
	cat >&2 <<'EOF'
usage: vm-test.sh install
       vm-test.sh [--systemd] [--timeout SECS] [--mem MB] [--env NAME[,NAME...]]... [--] CMD [ARGS...]
EOF
	exit 2
}

# ---------------------------------------------------------------- install

# missing_packages NAME...: print the ones not installed.
missing_packages() {
	local p st
	for p in "$@"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $st == "install ok installed" ]] || printf '%s\n' "$p"
	done
}

do_install() {
	local -a missing
	mapfile -t missing < <(missing_packages "${PACKAGES[@]}" "${SYSTEMD_PACKAGES[@]}")
	# Already there: no apt-get at all, so that a second install costs nothing.
	((${#missing[@]} == 0)) && return 0
	[[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Wait for another apt-get or dpkg (setup.sh, another test run) rather than fail.
	local -a apt=(apt-get -y -qq -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=600 --no-install-recommends)
	# Try with the package lists there are; update them only if that fails.
	if ! "${apt[@]}" install "${missing[@]}" >/dev/null 2>&1; then
		"${apt[@]}" update >/dev/null || die "apt-get update failed"
		"${apt[@]}" install "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
	fi
	mapfile -t missing < <(missing_packages "${PACKAGES[@]}" "${SYSTEMD_PACKAGES[@]}")
	((${#missing[@]} == 0)) || die "still missing after install: ${missing[*]}"
}

# ------------------------------------------------------------ kernel + cache

pick_kernel() {
	local v f
	if [[ -n ${VM_KERNEL:-} ]]; then
		[[ -f /boot/vmlinuz-$VM_KERNEL && -f /lib/modules/$VM_KERNEL/modules.dep ]] ||
			die "VM_KERNEL=$VM_KERNEL: no /boot/vmlinuz-$VM_KERNEL with /lib/modules/$VM_KERNEL"
		printf '%s\n' "$VM_KERNEL"
		return
	fi
	# Newest Debian kernel (version like 6.1.0-56-amd64) that has its modules installed.
	for f in /boot/vmlinuz-*-amd64; do
		[[ -f $f ]] || continue
		v=${f#/boot/vmlinuz-}
		[[ -f /lib/modules/$v/modules.dep ]] || continue
		printf '%s\n' "$v"
	done | sort -V | tail -n1
}

# extract_vmlinux VMLINUZ OUT: unpack the ELF vmlinux (for a PVH boot).
extract_vmlinux() {
	local img=$1 out=$2 off
	local -a offs
	mapfile -t offs < <(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | cut -d: -f1)
	for off in "${offs[@]}"; do
		tail -c +"$((off + 1))" "$img" | xz -dc >"$out" 2>/dev/null || true
		if [[ $(head -c4 "$out" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
			return 0
		fi
	done
	return 1
}

# The guest's scripts. They live in the initramfs; stage 1 copies the others
# to /run/vm on the new root. Each prints "vm: UPTIME step" lines on the
# console, so a console kept after a hang says how far the guest got.
#
#   /init     stage 1, both guests: 9p + overlay root, /run, the job share,
#             /tmp; for --systemd also the units; then switch_root.
#   stage2    PID 1 of the bare guest: kernel mounts, cgroup2, then runjob.
#   runjob    both guests: run the job, hand its status back, power off.
#   watch     both guests: on the host's request, describe the guest and
#             SIGQUIT the job (the watchdog's eyes inside).

stage1_script() {
	cat <<'EOF'
#!/bin/busybox sh
# Stage 1 (initramfs /init): the root, /run, the job share, /tmp; switch_root.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mark() {
	read -r up _ </proc/uptime
	echo "vm: ${up}s $*"
}
fail() {
	echo "vm-stage1: $*"
	echo 0 >/proc/sys/kernel/printk
	poweroff -f
	sleep 60
}
EOF
	stage1_systemd_part
	cat <<'EOF'
mount -t proc proc /proc
mode=bare
case " $(cat /proc/cmdline) " in
*" vmtest.mode=systemd "*) mode=systemd ;;
esac
# Self-test hook: hang here in the first boot (proves the boot retry).
case " $(cat /proc/cmdline) " in
*" vmtest.hang=1 "*) mark "stage1: hanging on purpose (vmtest.hang=1)"; while :; do sleep 3600; done ;;
esac
mark "stage1: loading modules ($mode guest)"
while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m failed"
done </modules.order
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower ||
	fail "cannot mount the host root (9p hostroot)"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "cannot mount the overlay root"
R=/newroot
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs $R/run || fail "cannot mount /run"
J=$R/run/vm/job
mkdir -p $J
cp /bin/busybox /stage2 /runjob /watch $R/run/vm/ || fail "cannot copy the guest scripts"
# The job share: cmd, keep, and what goes back (out, err, rc, started, diag).
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmjob $J || fail "cannot mount the job share (9p vmjob)"
mark "stage1: root and job share mounted"

# /tmp is a tmpfs; directories of the host's /tmp that the job names are bound back in.
if [ -s $J/keep ] && grep -qx /tmp $J/keep; then
	: # the job runs in /tmp itself: keep the host's /tmp (on the overlay)
else
	if [ -s $J/keep ]; then
		mkdir -p $R/run/vm/hosttmp
		mount -o bind $R/tmp $R/run/vm/hosttmp
	fi
	mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs $R/tmp || fail "cannot mount /tmp"
	if [ -s $J/keep ]; then
		while IFS= read -r p; do
			mkdir -p "$R$p" && mount -o bind "$R/run/vm/hosttmp/${p#/tmp/}" "$R$p" ||
				echo "vm-stage1: cannot keep $p"
		done <$J/keep
	fi
fi
# Container storage and the runtime's state on tmpfs, not on the overlay:
# overlayfs (podman's, containerd's storage) on top of the overlay root fails.
for d in /var/lib/containers /var/lib/containerd /var/lib/miniruntime; do
	mkdir -p $R$d && mount -t tmpfs -o mode=0711 tmpfs $R$d || fail "cannot mount $d"
done

if [ $mode = systemd ]; then
	prepare_systemd
fi
mount --move /dev $R/dev || fail "cannot move /dev"
mark "stage1: switch_root"
umount /proc
if [ $mode = systemd ]; then
	exec switch_root $R /lib/systemd/systemd
fi
exec switch_root $R /run/vm/busybox sh /run/vm/stage2
fail "switch_root failed"
EOF
}

# Stage 1's preparation of the root for systemd, before it starts: all of it
# lands in the overlay's RAM upper layer, nothing on the host changes. What
# and why: shared/USERVM.md (measured there: 18 s boots, state "running").
stage1_systemd_part() {
	cat <<'EOF'
prepare_systemd() {
	S=$R/etc/systemd/system
	# systemd would take the guest for a container and skip units.
	rm -f $R/.dockerenv
	[ -s $R/etc/machine-id ] || tr -d - </proc/sys/kernel/random/uuid >$R/etc/machine-id
	# The host's fstab describes the host's disks, not this overlay root.
	echo '# vm-test: the root is an overlay that the initramfs mounted' >$R/etc/fstab
	# tmp.conf would empty /tmp, where bundles and test files are kept.
	mkdir -p $R/etc/tmpfiles.d $S
	ln -sf /dev/null $R/etc/tmpfiles.d/tmp.conf
	# serial-getty@ttyS0 (from console=ttyS0) would hang the console up.
	ln -sf /dev/null $S/getty@.service
	ln -sf /dev/null $S/serial-getty@.service
	# No timers: apt, man-db, fstrim etc. have no business in a test run.
	for t in $R/lib/systemd/system/*.timer $S/*.timer $S/*.wants/*.timer; do
		[ -e "$t" ] || [ -L "$t" ] || continue
		ln -sf /dev/null "$S/${t##*/}"
	done
	# Disable (do not mask: sockets such as podman.socket need their service)
	# the services the root enables for the host's own use: databases,
	# containerd, podman, timesyncd. A job that needs one starts it.
	rm -f $S/multi-user.target.wants/*.service $S/default.target.wants/*.service \
		$S/graphical.target.wants/*.service $S/sysinit.target.wants/systemd-timesyncd.service
	# The job: after multi-user.target, as a simple service (a oneshot's own
	# start job would keep is-system-running at "starting"). Delegate=yes as
	# containerd's and the kubelet's units have; OOMPolicy=continue so that a
	# test's OOM kill does not stop the job.
	cat >$S/vm-job.service <<'UNIT'
[Unit]
Description=vm-test job
After=multi-user.target

[Service]
Type=simple
ExecStart=/run/vm/busybox sh /run/vm/runjob systemd
StandardInput=null
StandardOutput=journal+console
StandardError=journal+console
Delegate=yes
OOMPolicy=continue
TimeoutStartSec=infinity
UNIT
	# The watchdog's eyes, up early so that a boot hang can be described too.
	cat >$S/vm-watch.service <<'UNIT'
[Unit]
Description=vm-test watcher
DefaultDependencies=no

[Service]
ExecStart=/run/vm/busybox sh /run/vm/watch
StandardOutput=journal+console
StandardError=journal+console
UNIT
	mkdir -p $S/multi-user.target.wants $S/sysinit.target.wants
	ln -sf ../vm-job.service $S/multi-user.target.wants/vm-job.service
	ln -sf ../vm-watch.service $S/sysinit.target.wants/vm-watch.service
}
EOF
}

stage2_script() {
	cat <<'EOF'
# Stage 2 of the bare guest (PID 1 on the overlay root, busybox sh): the
# mounts systemd would make, cgroup2 with every controller enabled, the job.
B=/run/vm/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
fail() {
	echo "vm-stage2: $*"
	echo 0 >/proc/sys/kernel/printk
	$B poweroff -f
	$B sleep 60
}
$B mount -t proc -o nosuid,nodev,noexec proc /proc || fail "mount /proc"
$B mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || fail "mount /sys"
$B mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate cgroup2 /sys/fs/cgroup || fail "mount cgroup2"
$B mkdir -p /dev/pts /dev/shm /dev/mqueue
$B mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts || fail "mount devpts"
$B mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm || fail "mount /dev/shm"
$B mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue || fail "mount mqueue"
[ -e /dev/fd ] || $B ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || $B ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || $B ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || $B ln -s /proc/self/fd/2 /dev/stderr
$B hostname vm
$B ip link set lo up
for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "vm-stage2: cannot enable $c"
done
$B stty -onlcr 2>/dev/null
$B sh /run/vm/watch &
exec $B sh /run/vm/runjob bare
EOF
}

runjob_script() {
	cat <<'EOF'
# runjob bare|systemd: run the job from the share, hand its status back, power off.
B=/run/vm/busybox
J=/run/vm/job
mark() {
	read -r up _ </proc/uptime
	echo "vm: ${up}s $*" >/dev/console
}
if [ "$1" = systemd ]; then
	mark "runjob: multi-user.target reached, waiting for the start-up jobs"
	state=$(systemctl is-system-running --wait 2>&1)
	if [ "$state" != running ]; then
		# Said on the host too: a degraded guest is not the user's VM.
		{
			echo "the guest's systemd is '$state', not 'running'; failed units:"
			systemctl --failed --no-legend --plain --no-pager 2>&1
		} | $B tee $J/notes >/dev/console
	fi
fi
# The host's watchdog reads this: the job has started (at this guest uptime).
read -r up _ </proc/uptime
echo "$up" >$J/started
mark "runjob: job started"
# In the foreground: a background job would start with SIGINT and SIGQUIT
# ignored, and a Go test binary would then keep SIGINT ignored.
if [ -x /bin/bash ]; then
	$B env -i /bin/bash $J/cmd
else
	$B env -i $B sh $J/cmd
fi
echo $? >$J/rc.tmp
$B mv $J/rc.tmp $J/rc
mark "runjob: job ended, status $(cat $J/rc)"
$B sync
# "reboot: Power down" shows at any loglevel; the console stays quiet.
echo 0 >/proc/sys/kernel/printk
$B poweroff -f
$B sleep 60
EOF
}

watch_script() {
	cat <<'EOF'
# watch: wait for the host's request (the file "dump" on the job share), then
# write what the guest is doing to the share (diag) and SIGQUIT the job.
B=/run/vm/busybox
J=/run/vm/job
: >$J/watching
while [ ! -e $J/dump ]; do
	$B sleep 1
done
{
	read -r up _ </proc/uptime
	echo "guest uptime ${up}s, load $($B cat /proc/loadavg)"
	if [ -d /run/systemd/system ]; then
		echo "-- systemd: $(timeout 10 systemctl is-system-running 2>&1); jobs still queued:"
		timeout 10 systemctl list-jobs --no-pager --no-legend 2>&1 | $B head -n 30
		echo "-- failed units:"
		timeout 10 systemctl --failed --no-pager --no-legend --plain 2>&1
	fi
	jobpid=$($B cat $J/pid 2>/dev/null)
	echo "-- processes (kernel threads only when blocked, D); the job is pid ${jobpid:-not started}:"
	# procps' ps by its path: busybox sh would run its own applet for "ps".
	/usr/bin/ps -e -o pid=,ppid=,stat=,etimes=,wchan:24=,args= 2>/dev/null >/run/vm/ps ||
		$B ps -o pid,ppid,stat,args >/run/vm/ps
	$B awk '$2 != 2 && $1 != 2 || $3 ~ /D/' /run/vm/ps | $B cut -c1-200
	# The kernel stacks of blocked tasks and of the job's processes say
	# where in the kernel they wait (9p, a cgroup write, a futex...).
	$B awk -v job="${jobpid:-0}" '
		{ parent[$1] = $2; state[$1] = $3 }
		END {
			for (p in parent) {
				show = state[p] ~ /D/
				for (q = p; q > 1 && !show; q = parent[q]) if (q == job) show = 1
				if (show) print p
			}
		}' /run/vm/ps | while read -r p; do
		echo "-- kernel stacks of $p ($($B cat /proc/$p/comm 2>/dev/null)), its threads grouped:"
		$B awk '
			FNR == 1 && NR > 1 { n[s]++; s = "" }
			{ s = s "    " $0 "\n" }
			END { n[s]++; for (k in n) printf "  %d thread(s):\n%s", n[k], k }
		' /proc/$p/task/*/stack 2>/dev/null | $B head -n 60
	done
	echo "-- memory: $($B grep -E '^(MemAvailable|Shmem):' /proc/meminfo | $B tr -s ' \n' ' ')"
	echo "-- kernel warnings and errors (last 20):"
	$B dmesg -r | $B awk 'match($0, /^<[0-9]+>/) && substr($0, 2, RLENGTH - 2) % 8 <= 4' | $B tail -n 20
	# sysrq-w: the kernel lists its blocked (D) tasks with their stacks.
	echo w >/proc/sysrq-trigger 2>/dev/null
	$B sleep 1
	echo "-- sysrq-w, blocked tasks:"
	$B dmesg | $B sed -n '/sysrq: Show Blocked State/,$p' | $B tail -n +2 | $B head -n 80
} >$J/diag.tmp 2>&1
$B mv $J/diag.tmp $J/diag
if [ -s $J/pid ] && [ ! -e $J/rc ]; then
	kill -QUIT "$($B cat $J/pid)" 2>/dev/null
fi
EOF
}

# initramfs_inputs: everything the initramfs is built from (its cache key).
initramfs_inputs() {
	stage1_script
	stage2_script
	runjob_script
	watch_script
}

# ensure_cache: sets KVER, VMLINUX and INITRD, building them when missing.
ensure_cache() {
	local kver
	kver=$(pick_kernel)
	KVER=$kver
	[[ -n $kver ]] || die "no Debian kernel: no /boot/vmlinuz-*-amd64 with /lib/modules (run: scripts/vm-test.sh install)"
	grep -qx 'CONFIG_PVH=y' "/boot/config-$kver" 2>/dev/null || die "kernel $kver has no CONFIG_PVH=y (needed for the PVH boot)"

	# Module files in load order, deduplicated; built-in ones are skipped.
	local -a mods=()
	local line f m w
	for m in "${MODULES[@]}"; do
		line=$(modprobe -S "$kver" --show-depends "$m" 2>/dev/null) ||
			die "kernel $kver has no module $m in /lib/modules/$kver"
		while read -r w f _; do
			[[ $w == insmod ]] || continue
			[[ " ${mods[*]} " == *" $f "* ]] || mods+=("$f")
		done <<<"$line"
	done

	local dir=$CACHE/$kver
	mkdir -p "$dir" "$CACHE/jobs"
	VMLINUX=$dir/vmlinux
	local key
	key=$( {
		initramfs_inputs
		printf '%s\n' "${mods[@]}"
		stat -c '%s %Y' /bin/busybox
	} | sha256sum | cut -c1-16)
	INITRD=$dir/initramfs-$key.cpio
	[[ -s $VMLINUX && -s $INITRD ]] && return 0

	# One builder at a time; others wait and reuse the result.
	local lock
	exec {lock}>"$dir/.lock"
	flock "$lock"
	if [[ ! -s $VMLINUX ]]; then
		extract_vmlinux "/boot/vmlinuz-$kver" "$dir/.vmlinux.tmp" ||
			{ rm -f "$dir/.vmlinux.tmp"; die "cannot extract an ELF vmlinux from /boot/vmlinuz-$kver"; }
		mv -f "$dir/.vmlinux.tmp" "$VMLINUX"
		# Drop the cache of kernels that are no longer installed.
		local old
		for old in "$CACHE"/*/vmlinux; do
			old=${old%/vmlinux}
			if [[ -d $old && ! -e /boot/vmlinuz-${old##*/} ]]; then rm -rf "$old"; fi
		done
	fi
	if [[ ! -s $INITRD ]]; then
		local t
		t=$(mktemp -d "$dir/.initramfs.XXXXXX")
		mkdir -p "$t/root/bin" "$t/root/dev" "$t/root/proc" "$t/root/lib/modules" \
			"$t/root/lower" "$t/root/rw" "$t/root/newroot"
		cp /bin/busybox "$t/root/bin/busybox"
		local a
		for a in sh mount umount insmod mkdir cp switch_root poweroff sleep cat echo grep ln rm tr; do
			ln -s busybox "$t/root/bin/$a"
		done
		mknod "$t/root/dev/console" c 5 1 2>/dev/null || true
		: >"$t/root/modules.order"
		for f in "${mods[@]}"; do
			m=${f##*/}
			case $f in
			*.ko.xz) m=${m%.xz}; xz -dc "$f" >"$t/root/lib/modules/$m" ;;
			*.ko.zst) m=${m%.zst}; zstd -qdc "$f" >"$t/root/lib/modules/$m" || die "cannot unpack $f (zstd)" ;;
			*.ko.gz) m=${m%.gz}; gzip -dc "$f" >"$t/root/lib/modules/$m" ;;
			*) cp "$f" "$t/root/lib/modules/$m" ;;
			esac
			printf '%s\n' "$m" >>"$t/root/modules.order"
		done
		stage1_script >"$t/root/init"
		stage2_script >"$t/root/stage2"
		runjob_script >"$t/root/runjob"
		watch_script >"$t/root/watch"
		chmod 0755 "$t/root/init"
		(cd "$t/root" && find . -print0 | cpio --null -o -H newc --quiet >"$t/initramfs.cpio") ||
			{ rm -rf "$t"; die "cannot build the initramfs (cpio)"; }
		mv -f "$t/initramfs.cpio" "$INITRD"
		rm -rf "$t"
		# Drop initramfs images of other versions of this script, unless one
		# may be in use right now (another checkout's run).
		find "$dir" -maxdepth 1 -name 'initramfs-*.cpio' ! -path "$INITRD" -mmin +60 -delete
	fi
	exec {lock}>&-
}

# Remove job dirs left by runs that were killed with SIGKILL.
reap_stale_jobs() {
	local d pid
	for d in "$CACHE"/jobs/job.*; do
		[[ -d $d ]] || continue
		pid=${d##*/job.}
		pid=${pid%%.*}
		[[ $pid =~ ^[0-9]+$ ]] || continue
		kill -0 "$pid" 2>/dev/null || rm -rf "$d"
	done
}

# ------------------------------------------------------------------- run

same_stream() {
	local a b
	a=$(stat -L -c '%d:%i' /proc/$$/fd/1 2>/dev/null) || return 1
	b=$(stat -L -c '%d:%i' /proc/$$/fd/2 2>/dev/null) || return 1
	[[ $a == "$b" ]]
}

# keep_path P: if P (a path on the host) lies in /tmp, print the directory to keep visible.
keep_path() {
	local p=$1 r
	[[ -e $p ]] || return 0
	r=$(realpath -e -- "$p" 2>/dev/null) || return 0
	[[ -d $r ]] || r=${r%/*}
	[[ $r == /tmp || $r == /tmp/* ]] || return 0
	[[ $r != *$'\n'* ]] || return 0
	printf '%s\n' "$r"
}

# now: NOW = milliseconds since the epoch, without a fork.
now() {
	NOW=${EPOCHREALTIME/[.,]/}
	NOW=$((NOW / 1000))
}

# secs MS: print milliseconds as seconds with one decimal.
secs() {
	printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100))
}

JOB=
QPID=
COMBINED=0
OUT_OFF=0
ERR_OFF=0

# pump: copy what the job wrote to the share since the last call to our
# stdout and stderr, byte for byte, so that its output shows as it grows.
pump() {
	local -a sz
	mapfile -t sz < <(stat -c %s "$JOB/out" "$JOB/err" 2>/dev/null || true)
	if ((${sz[0]:-0} > OUT_OFF)); then
		dd if="$JOB/out" iflag=skip_bytes,count_bytes skip="$OUT_OFF" count=$((sz[0] - OUT_OFF)) bs=64K status=none
		OUT_OFF=${sz[0]}
	fi
	if ((!COMBINED && ${sz[1]:-0} > ERR_OFF)); then
		dd if="$JOB/err" iflag=skip_bytes,count_bytes skip="$ERR_OFF" count=$((sz[1] - ERR_OFF)) bs=64K status=none >&2
		ERR_OFF=${sz[1]}
	fi
}

stop_qemu() {
	[[ -n $QPID ]] || return 0
	kill -TERM "$QPID" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$QPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$QPID" 2>/dev/null || true
	wait "$QPID" 2>/dev/null || true
	QPID=
}

cleanup() {
	stop_qemu
	if [[ -n $JOB ]]; then
		rm -rf "$JOB"
		JOB=
	fi
}

# keep_logs: copy the run's logs to $CACHE/failed/<time>.<pid>, keep the
# newest KEEP_FAILED, print the directory.
keep_logs() {
	local d f
	d=$CACHE/failed/$(date +%Y%m%d-%H%M%S).$$
	mkdir -p "$d"
	for f in console.log qemu.log diag regs probe.console notes cmd keep started "$JOB"/stack.*; do
		f=${f##*/}
		if [[ -e $JOB/$f ]]; then cp "$JOB/$f" "$d/"; fi
	done
	# The job's output may be large: its last MiB says what matters.
	for f in out err; do
		if [[ -s $JOB/$f ]]; then tail -c 1048576 "$JOB/$f" >"$d/$f"; fi
	done
	find "$CACHE/failed" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn |
		tail -n +$((KEEP_FAILED + 1)) | cut -d' ' -f2- | xargs -r rm -rf
	printf '%s\n' "$d"
}

# indent FILE...: the files, each line indented, CRs dropped.
indent() {
	sed 's/\r$//; s/^/    /' "$@" 2>/dev/null || true
}

# last_step: the last "vm: UPTIME step" mark the guest printed on its console.
last_step() {
	local s
	s=$(grep -a '^vm: ' "$JOB/console.log" 2>/dev/null | tail -n1 | sed 's/\r$//; s/^vm: //') || true
	printf '%s\n' "${s:-none: the kernel did not reach the initramfs /init}"
}

# running_tests FILE...: the Go tests that were running, from a goroutine
# dump (the frame that testing.tRunner called, with the goroutine's state),
# from the testing package's own "running tests:" list when its -test.timeout
# struck, or from the last "=== RUN" line when the binary ran with -test.v.
running_tests() {
	local t
	t=$(awk '
		/^goroutine [0-9]+ .*\[.*\]:$/ { st = $0; sub(/^[^[]*\[/, "", st); sub(/\]:$/, "", st); fn = ""; next }
		/^testing\.tRunner\(/ { if (fn != "") print fn " [" st "]"; next }
		/^[^ \t].*\(.*\)$/ {
			fn = $0; sub(/\(.*$/, "", fn)
			# testing.runTests.func1 runs the tests, it is none of them.
			if (fn ~ /^testing\./) { fn = ""; next }
			sub(/^.*\//, "", fn); sub(/^[^.]*\./, "", fn)
		}
	' "$@" 2>/dev/null | sort -u | paste -sd ' ' | sed 's/\] /], /g') || true
	if [[ -z $t ]]; then
		t=$(sed -n '/^panic: test timed out/,/^$/{s/^\t\t//p}' "$@" 2>/dev/null | paste -sd ' ' | sed 's/) /), /g') || true
	fi
	if [[ -z $t ]]; then
		t=$(tr -d '\026' <"$1" 2>/dev/null | grep -a -E '^=== (RUN|CONT|NAME) ' | tail -n1 | cut -c10-) || true
	fi
	printf '%s\n' "$t"
}

# boot_guest ATTEMPT: boot the guest once and watch it until it powers off or
# a deadline passes. Sets OUTCOME (exited, boot-died, boot-hang or job-hang), QRC,
# BOOT_MS (qemu start to the job's start), JOB_START (when the job started,
# in ms) and HANG_OUT, HANG_ERR (the output's size when the job was found hung).
boot_guest() {
	local attempt=$1 append=$APPEND t0 boot_deadline
	# Self-test hook: the first boot hangs in stage 1.
	if [[ ${VM_SELFTEST_HANG_BOOT:-0} == 1 && $attempt == 1 ]]; then append+=' vmtest.hang=1'; fi
	rm -f "$JOB"/{started,dump,diag,diag.tmp,watching,rc,rc.tmp,pid,notes}
	: >"$JOB/out"
	((COMBINED)) || : >"$JOB/err"
	OUT_OFF=0 ERR_OFF=0 QRC=0 BOOT_MS=0 JOB_START=0 HANG_OUT=0 HANG_ERR=0

	# --pdeathsig: qemu dies with us, even on SIGKILL.
	setpriv --pdeathsig KILL "${QEMU[@]}" -append "$append" </dev/null >"$JOB/qemu.log" 2>&1 &
	QPID=$!
	now
	t0=$NOW
	boot_deadline=$((t0 + BOOT_TIMEOUT * 1000))
	((boot_deadline < JOB_DEADLINE)) || boot_deadline=$JOB_DEADLINE
	while kill -0 "$QPID" 2>/dev/null; do
		pump
		now
		if [[ ! -e $JOB/started ]]; then
			if ((NOW >= boot_deadline)); then
				OUTCOME=boot-hang
				BOOT_MS=$((NOW - t0))
				# The watcher may be up (systemd): ask it what the guest is
				# doing; the kernel is asked in any case.
				if [[ -e $JOB/watching ]]; then
					: >"$JOB/dump"
					wait_for diag 15000
				fi
				probe_kernel
				stop_qemu
				return 0
			fi
		else
			((JOB_START)) || { JOB_START=$NOW; BOOT_MS=$((NOW - t0)); }
			if ((NOW >= JOB_DEADLINE)); then
				OUTCOME=job-hang
				HANG_OUT=$OUT_OFF HANG_ERR=$ERR_OFF
				# The watcher describes the guest and sends the job SIGQUIT; a
				# Go binary prints its goroutines and exits; the guest powers off.
				# A guest whose watcher does not answer is asked from outside.
				: >"$JOB/dump"
				wait_for diag $((GRACE * 400))
				[[ -e $JOB/diag ]] || probe_kernel
				wait_for exit $((JOB_DEADLINE + GRACE * 1000 - NOW))
				stop_qemu
				pump
				return 0
			fi
		fi
		sleep 0.2
	done
	QRC=0
	wait "$QPID" || QRC=$?
	QPID=
	pump
	OUTCOME=exited
	# Stopped before the job started: the kernel panicked or stage 1 failed.
	if [[ ! -e $JOB/started ]]; then
		OUTCOME=boot-died
		now
		BOOT_MS=$((NOW - t0))
	fi
}

# monitor CMD...: send commands to qemu's human monitor (a FIFO pair, see
# QEMU below), print its answers without terminal escapes. Opened
# read-write, the FIFOs never block, even when qemu is gone.
monitor() {
	local fd c
	exec {fd}<>"$JOB/mon.in"
	for c in "$@"; do printf '%s\n' "$c" >&"$fd"; done
	exec {fd}>&-
	exec {fd}<>"$JOB/mon.out"
	sleep 1
	timeout 1 cat <&"$fd" | sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/\r//g' | grep -v '^(qemu)' || true
	exec {fd}>&-
}

# probe_kernel: when the guest cannot describe itself, ask from outside:
# qemu's view of each vCPU (registers: kernel or user space, halted or
# running, interrupts on or off, where), the kernel stack of each vCPU that
# runs kernel code (read from guest memory), and, through magic SysRq keys on
# the emulated keyboard, the kernel's own backtraces of the CPUs (l), its
# blocked tasks (w) and its timers (q), which land on the console (loglevel 8
# first, so that they show; a CPU with interrupts off cannot answer them).
probe_kernel() {
	[[ -n $QPID ]] && kill -0 "$QPID" 2>/dev/null || return 0
	local before cpu rsp
	before=$(stat -c %s "$JOB/console.log" 2>/dev/null || echo 0)
	monitor 'info cpus' 'info registers -a' >"$JOB/regs"
	while read -r cpu rsp; do
		monitor "cpu $cpu" "x /96gx 0x$rsp" | grep -aE '^[0-9a-f]{16}:' >"$JOB/stack.$cpu" || true
	done < <(awk '
		/^CPU#[0-9]+/ { cpu = substr($1, 5) }
		match($0, /RSP=[0-9a-f]+/) { rsp = substr($0, RSTART + 4, RLENGTH - 4) }
		/^RIP=/ && /CPL=0/ && /HLT=0/ { print cpu, rsp }
	' "$JOB/regs")
	monitor 'sendkey alt-sysrq-8' 'sendkey alt-sysrq-l' 'sendkey alt-sysrq-w' 'sendkey alt-sysrq-q' >/dev/null
	sleep 3
	tail -c +"$((before + 1))" "$JOB/console.log" | sed 's/\r$//' >"$JOB/probe.console"
}

# kernel_symbols: the guest kernel's text symbols, sorted, cached per kernel
# ($CACHE/KVER/kallsyms). Debian's /boot/System.map is a stub, and the PVH
# boot has no KASLR, so a guest's /proc/kallsyms holds for every guest: the
# first time they are needed a guest is booted to read them.
kernel_symbols() {
	local f=$CACHE/$KVER/kallsyms
	if [[ ! -s $f ]]; then
		if env -u VM_SELFTEST_HANG_BOOT VM_SYSTEMD=0 VM_TIMES=0 VM_TIMEOUT=120 "$SELF" -- \
			sh -c "awk '\$2 ~ /^[tTwW]\$/ {print \$1, \$3}' /proc/kallsyms | LC_ALL=C sort" \
			</dev/null >"$f.$$" 2>/dev/null; then
			mv -f "$f.$$" "$f"
		else
			rm -f "$f.$$"
		fi
	fi
	printf '%s\n' "$f"
}

# probe_summary: what probe_kernel found, kernel addresses as symbols.
probe_summary() {
	[[ -s $JOB/regs ]] || return 0
	local map
	map=$(kernel_symbols)
	echo "-- vCPUs (qemu's view):"
	awk -v map="$map" -v job="$JOB" '
		function hex(h,   i, n) { h = tolower(h); n = 0; for (i = 1; i <= length(h); i++) n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1; return n }
		# The symbol at or below a (binary search; fixed-width hex compares as text).
		function sym(a,   lo, hi, mid) {
			if (n == 0 || a < addr[1] || a > etext) return ""
			lo = 1; hi = n
			while (lo < hi) { mid = int((lo + hi + 1) / 2); if (addr[mid] <= a) lo = mid; else hi = mid - 1 }
			return sprintf("%s+0x%x", name[lo], hex(substr(a, 9)) - hex(substr(addr[lo], 9)))
		}
		BEGIN {
			while ((getline line < map) > 0) { split(line, f, " "); n++; addr[n] = f[1]; name[n] = f[2]; if (f[2] == "_etext") etext = f[1] }
			if (etext == "") etext = addr[n]
		}
		/CPU #[0-9]+:/ { sub(/^ */, ""); print "  " $0; next }
		/^CPU#[0-9]+/ { cpu = $1; c = substr(cpu, 5) }
		/^RIP=/ {
			rip = tolower(substr($1, 5))
			match($0, /RFL=[0-9a-f]+/); irq = int(hex(substr($0, RSTART + 4, RLENGTH - 4)) / 512) % 2
			match($0, /CPL=[0-9]/); cpl = substr($0, RSTART + 4, 1)
			match($0, /HLT=[0-9]/); hlt = substr($0, RSTART + 4, 1)
			where = cpl == 0 ? "kernel, rip " rip " " sym(rip) : "user space, rip " rip
			printf "  %s: %s (%s, interrupts %s)\n", cpu, where, hlt == 1 ? "halted: idle" : "running", irq ? "on" : "off"
			# Kernel text addresses on its stack, newest first: return
			# addresses and leftovers, a rough backtrace.
			file = job "/stack." c; k = 0; out = ""
			while (k < 24 && (getline line < file) > 0) {
				m = split(line, w, " ")
				for (i = 2; i <= m && k < 24; i++) {
					v = tolower(w[i]); sub(/^0x/, "", v)
					if (v ~ /^ffffffff8/ && (s = sym(v)) != "") { out = out (k ? " < " : "") s; k++ }
				}
			}
			close(file)
			if (k) printf "    stack: %s\n", out
		}
	' "$JOB/regs"
	echo "-- the kernel on the console after SysRq l (CPU backtraces), w (blocked tasks), q (timers):"
	if [[ -s $JOB/probe.console ]] && grep -qv 'sysrq: \|^$' "$JOB/probe.console"; then
		head -n 150 "$JOB/probe.console"
	else
		echo "(nothing: no CPU took the keyboard interrupt)"
	fi
}

# wait_for diag|exit MS: wait (copying the output) until the guest's diag is
# written or qemu has exited, at most MS milliseconds.
wait_for() {
	local what=$1 until
	now
	until=$((NOW + $2))
	while kill -0 "$QPID" 2>/dev/null && ((NOW < until)); do
		[[ $what == diag && -e $JOB/diag ]] && return 0
		sleep 0.2
		pump
		now
	done
}

# report_boot_failure ATTEMPT: where the boot stopped and what the guest said.
report_boot_failure() {
	{
		if [[ $OUTCOME == boot-hang ]]; then
			say "HANG in boot: the job had not started $(secs "$BOOT_MS") s after qemu started (boot $1 of 2)"
		else
			say "the guest stopped in boot, $(secs "$BOOT_MS") s after qemu started, qemu exit $QRC (boot $1 of 2)"
		fi
		say "last boot step on the console: $(last_step)"
		if [[ -s $JOB/diag ]]; then
			say "the guest at the hang:"
			indent "$JOB/diag"
		fi
		say "guest console (last 25 lines before the probe):"
		console_before_probe | tail -n 25 | indent
		if [[ -s $JOB/regs ]]; then
			say "the guest probed from outside (qemu monitor, SysRq):"
			probe_summary | indent
		fi
		if [[ -s $JOB/qemu.log ]]; then say "qemu said:"; tail -n 10 "$JOB/qemu.log" | indent; fi
	} >&2
}

# console_before_probe: the console as it was before probe_kernel added to it.
console_before_probe() {
	if [[ -s $JOB/regs ]]; then
		sed '/sysrq: Changing Loglevel/,$d' "$JOB/console.log"
	else
		cat "$JOB/console.log"
	fi 2>/dev/null || true
}

# show_output_before_hang out|err SIZE: the end of what the job had written.
show_output_before_hang() {
	local what=output
	if [[ $1 == err ]]; then what=stderr; fi
	((COMBINED)) || [[ $1 == err ]] || what=stdout
	if (($2 > 0)); then
		say "the job's $what before the hang ($2 bytes; last 15 lines):"
		head -c "$2" "$JOB/$1" | tail -n 15 | indent
	else
		say "the job's $what before the hang: none"
	fi
}

# report_job_hang: which test, its last output, the guest's state, the console.
report_job_hang() {
	local tests n
	local -a files=("$JOB/out")
	((COMBINED)) || files+=("$JOB/err")
	tests=$(running_tests "${files[@]}")
	{
		say "HANG in the job: still running $(secs $((JOB_DEADLINE - JOB_START))) s after it started (boot took $(secs "$BOOT_MS") s); guest killed (exit 125)"
		if [[ -n $tests ]]; then
			say "running test: $tests"
		else
			say "running test: unknown (no Go goroutine dump or test name in the job's output)"
		fi
		show_output_before_hang out "$HANG_OUT"
		((COMBINED)) || show_output_before_hang err "$HANG_ERR"
		if [[ -s $JOB/diag ]]; then
			say "the guest at the hang:"
			indent "$JOB/diag"
		else
			say "the guest's watcher did not answer within $((GRACE * 4 / 10)) s: no process in it got to run"
		fi
		say "guest console (last 25 lines before the probe):"
		console_before_probe | tail -n 25 | indent
		if [[ -s $JOB/regs ]]; then
			say "the guest probed from outside (qemu monitor, SysRq):"
			probe_summary | indent
		fi
	} >&2
}

do_run() {
	local timeout=${VM_TIMEOUT:-300} mem=${VM_MEM:-2048} systemd=${VM_SYSTEMD:-0}
	local -a envnames=("${BASE_ENV[@]}") _e
	while (($#)); do
		case $1 in
		--systemd) systemd=1; shift ;;
		--timeout) (($# >= 2)) || usage; timeout=$2; shift 2 ;;
		--timeout=*) timeout=${1#*=}; shift ;;
		--mem) (($# >= 2)) || usage; mem=$2; shift 2 ;;
		--mem=*) mem=${1#*=}; shift ;;
		--env) (($# >= 2)) || usage; IFS=, read -ra _e <<<"$2"; envnames+=("${_e[@]}"); shift 2 ;;
		--env=*) IFS=, read -ra _e <<<"${1#*=}"; envnames+=("${_e[@]}"); shift ;;
		--) shift; break ;;
		-h | --help) usage ;;
		-*) usage ;;
		*) break ;;
		esac
	done
	(($# >= 1)) || usage
	[[ $timeout =~ ^[0-9]+$ && $timeout -gt 0 ]] || die "--timeout wants whole seconds, got '$timeout'"
	[[ $mem =~ ^[0-9]+$ && $mem -ge 256 ]] || die "--mem wants megabytes (>= 256), got '$mem'"
	[[ $systemd == [01] ]] || die "VM_SYSTEMD must be 0 or 1"

	local -a missing need=("${PACKAGES[@]}")
	if ((systemd)); then need+=("${SYSTEMD_PACKAGES[@]}"); fi
	mapfile -t missing < <(missing_packages "${need[@]}")
	((${#missing[@]} == 0)) || die "missing packages: ${missing[*]} (run: scripts/vm-test.sh install)"
	[[ $(id -u) == 0 ]] || die "must run as root (qemu's 9p share of / needs it)"

	ensure_cache
	reap_stale_jobs

	trap cleanup EXIT
	trap 'cleanup; exit 130' INT
	trap 'cleanup; exit 143' TERM
	trap 'cleanup; exit 129' HUP
	# go test sends SIGQUIT to a test binary (us) that outlives its -timeout.
	trap 'cleanup; exit 131' QUIT
	JOB=$(mktemp -d "$CACHE/jobs/job.$$.XXXXXX")
	mkfifo "$JOB/mon.in" "$JOB/mon.out"

	# The job script the guest runs with bash.
	local cwd n v
	cwd=$(pwd -P)
	if same_stream; then COMBINED=1; fi
	{
		# The watcher sends this pid SIGQUIT at a hang; exec keeps the pid.
		echo 'echo $$ >/run/vm/job/pid'
		if ((COMBINED)); then
			echo 'exec </dev/null >/run/vm/job/out 2>&1'
		else
			echo 'exec </dev/null >/run/vm/job/out 2>/run/vm/job/err'
		fi
		for n in "${envnames[@]}"; do
			[[ $n =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "--env: bad variable name '$n'"
			[[ -v $n ]] || continue
			printf 'export %s=%q\n' "$n" "${!n}"
		done
		while IFS= read -r n; do
			printf 'export %s=%q\n' "$n" "${!n}"
		done < <(compgen -e | grep '^MINIRUNTIME_' || true)
		printf 'cd -- %q || exit 125\n' "$cwd"
		printf 'exec --'
		printf ' %q' "$@"
		printf '\n'
	} >"$JOB/cmd"
	{
		keep_path "$cwd"
		# The whole checkout: tests read files beside their package
		# (examples/, testdata).
		keep_path "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
		for v in "$@"; do keep_path "$v"; done
		# Paths the job is handed in MINIRUNTIME_* variables (the runtime
		# binary under test) must be visible too.
		while IFS= read -r n; do keep_path "${!n}"; done < <(compgen -e | grep '^MINIRUNTIME_' || true)
	} | sort -u >"$JOB/keep"

	local accel cpu
	accel=${VM_ACCEL:-}
	if [[ -z $accel ]]; then
		accel=tcg
		if grep -qwE 'vmx|svm' /proc/cpuinfo && [[ -r /dev/kvm && -w /dev/kvm ]]; then accel=kvm; fi
	fi
	case $accel in
	kvm) cpu=${VM_CPU:-host}; accel=kvm ;;
	# One host thread for all vCPUs by default. Multi-threaded TCG (QEMU
	# 7.2) hung the guest in about 1 run in 15 of the cgroups tests on a
	# busy host: when the kernel patches a static key (cfs_bandwidth_used,
	# flipped by a write to cpu.max) the other vCPU keeps running its stale
	# translation of the patched instruction, an int3, forever, with its
	# run queue locked (docs/guests.md). Single-threaded TCG cannot: the
	# vCPUs take turns. It is also faster on a busy 2-core host, and ~25%
	# slower on an idle one.
	tcg) cpu=${VM_CPU:-qemu64,+rdrand}; accel=tcg,thread=${VM_TCG_THREAD:-single} ;;
	*) die "VM_ACCEL must be tcg or kvm" ;;
	esac
	# Both guests: serial console, no reboot on panic, PID 1 from the
	# initramfs, cgroup v2 only, fast boot under TCG (shared/VM.md).
	APPEND='console=ttyS0 panic=-1 rdinit=/init systemd.unified_cgroup_hierarchy=1 mitigations=off 8250.nr_uarts=1 random.trust_cpu=on cryptomgr.notests'
	# Every SysRq key, whatever kernel.sysrq says, for probe_kernel.
	APPEND+=' sysrq_always_enabled'
	# No IO-APIC timer check: on a busy host the emulated timer's first
	# ticks can come late and the kernel panics ("IO-APIC + timer doesn't
	# work!"). KVM guests skip the check for the same reason.
	APPEND+=' no_timer_check'
	if ((systemd)); then
		# The user's VM: AppArmor on, systemd quiet on the console. systemd
		# mounts only cgroup2 when told unified; no cgroup_no_v1 there.
		APPEND+=' vmtest.mode=systemd apparmor=1 security=apparmor systemd.show_status=0'
		BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-240}
	else
		APPEND+=' vmtest.mode=bare cgroup_no_v1=all'
		BOOT_TIMEOUT=${VM_BOOT_TIMEOUT:-120}
	fi
	[[ $BOOT_TIMEOUT =~ ^[0-9]+$ && $BOOT_TIMEOUT -gt 0 ]] || die "VM_BOOT_TIMEOUT wants whole seconds, got '$BOOT_TIMEOUT'"
	# The console keeps the kernel's warnings and errors (loglevel 5: hung
	# tasks, RCU stalls, lockups, oopses, "hrtimer: interrupt took") and our
	# own "vm:" marks, a dozen lines a boot: the serial port is slow under TCG.
	if [[ ${VM_DEBUG:-0} == 1 ]]; then
		APPEND+=' loglevel=7'
	else
		APPEND+=' quiet loglevel=5'
	fi

	QEMU=(
		qemu-system-x86_64 -M pc -accel "$accel" -cpu "$cpu" -smp "${VM_SMP:-2}" -m "$mem"
		-nodefaults -no-user-config -display none -no-reboot
		# The human monitor on a FIFO pair, for probe_kernel.
		-chardev "pipe,id=mon,path=$JOB/mon" -mon "chardev=mon,mode=readline"
		-serial "file:$JOB/console.log"
		-kernel "$VMLINUX" -initrd "$INITRD"
		-fsdev "local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap"
		-device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
		-fsdev "local,id=vmjob,path=$JOB,security_model=none"
		-device "virtio-9p-pci,fsdev=vmjob,mount_tag=vmjob"
	)

	# Deadlines, for the whole run (a boot retry included): the job hangs
	# once it is still running GRACE seconds before --timeout, which leaves
	# the guest time to describe itself and the job to print its goroutines.
	GRACE=20
	((timeout >= 4 * GRACE)) || GRACE=$(((timeout + 3) / 4))
	now
	T0=$NOW
	JOB_DEADLINE=$((T0 + (timeout - GRACE) * 1000))

	local attempt
	for attempt in 1 2; do
		boot_guest "$attempt"
		# A boot that hangs or dies is the guest's fault, not the job's
		# (rare under TCG): once, it is booted again.
		[[ $OUTCOME == boot-* ]] || break
		report_boot_failure "$attempt"
		now
		if ((attempt == 2 || NOW >= JOB_DEADLINE)); then
			say "the guest failed to boot twice; logs kept in $(keep_logs) (exit 125)"
			exit 125
		fi
		say "logs kept in $(keep_logs); booting the guest again"
	done

	if [[ ${VM_DEBUG:-0} == 1 ]]; then
		cat "$JOB/qemu.log" "$JOB/console.log" >&2 || true
	fi
	if [[ -s $JOB/notes ]]; then say "note: $(tr '\n' ' ' <"$JOB/notes")"; fi
	if [[ $OUTCOME == job-hang ]]; then
		report_job_hang
		say "logs kept in $(keep_logs)"
		exit 125
	fi
	if [[ ! -s $JOB/rc ]]; then
		{
			say "the guest stopped in the job without a result (qemu exit $QRC)"
			say "guest console (last 25 lines):"
			tail -n 25 "$JOB/console.log" 2>/dev/null | indent
			if [[ -s $JOB/qemu.log ]]; then say "qemu said:"; tail -n 10 "$JOB/qemu.log" | indent; fi
			say "logs kept in $(keep_logs) (exit 125)"
		} >&2
		exit 125
	fi
	local rc guest_up
	rc=$(<"$JOB/rc")
	[[ $rc =~ ^[0-9]+$ ]] || die "bad exit status from the guest: '$rc'"
	if [[ ${VM_TIMES:-0} == 1 ]]; then
		now
		guest_up=$(<"$JOB/started")
		say "times: qemu start to job $(secs "$BOOT_MS") s (guest uptime ${guest_up} s), job and power-off $(secs $((NOW - JOB_START))) s, total $(secs $((NOW - T0))) s, boots $attempt"
	fi
	exit "$rc"
}

case ${1:-} in
install) do_install ;;
"") usage ;;
*) do_run "$@" ;;
esac
