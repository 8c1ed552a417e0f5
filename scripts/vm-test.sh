#!/usr/bin/env bash
# vm-test.sh: run one command inside a throwaway QEMU guest that boots Debian's
# kernel with cgroup v2 as the only cgroup hierarchy. See shared/VM.md.
#
#   scripts/vm-test.sh install
#   scripts/vm-test.sh [--timeout SECS] [--mem MB] [--env NAME ...] -- CMD ARGS...
#
# The host's root filesystem is shared read-only over 9p and used as the lower
# layer of an overlay whose upper layer is guest RAM, so the guest sees the
# host's files (binaries, Go test binaries, /usr/bin/runc) and can write
# anywhere without touching the host. CMD runs as root in the host's current
# directory; its stdout and stderr are printed on the host after the guest
# powers off, and its exit status becomes ours. A host-side timeout (default
# 300 s) ends a hung guest; that, and any guest failure, is exit 125.
#
# Usable as: go test -exec "$PWD/scripts/vm-test.sh --" ./...
#
# Environment knobs (all optional):
#   VM_CPU=max         QEMU -cpu model (default qemu64,+rdrand under TCG, host under KVM)
#   VM_ACCEL=tcg|kvm   force the accelerator (default: kvm only if cpuinfo has vmx/svm)
#   VM_SMP=N           vCPUs (default 2)
#   VM_TIMEOUT=SECS    default for --timeout
#   VM_MEM=MB          default for --mem
#   VM_KERNEL=VERSION  kernel version to boot (default: newest Debian /boot/vmlinuz-*)
#   VM_CACHE=DIR       cache dir (default /var/tmp/vm-cgroup2)
#   VM_DEBUG=1         verbose kernel console, printed to stderr afterwards
#   VM_BOOT_TIMEOUT=S  boot again once if the job has not started after S seconds (default 120)
set -euo pipefail

PROG=vm-test
CACHE=${VM_CACHE:-/var/tmp/vm-cgroup2}
PACKAGES=(qemu-system-x86 linux-image-amd64 busybox-static kmod cpio xz-utils)
# Modules the initramfs needs (their dependencies are added by modprobe).
MODULES=(virtio_pci 9pnet_virtio 9p overlay)
# Variables passed to the guest when set, besides --env names and MINIRUNTIME_*.
BASE_ENV=(PATH HOME GOCACHE GOPATH GOROOT GOMODCACHE GOFLAGS GOTOOLCHAIN GOTRACEBACK GODEBUG)

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 125
}

usage() {
	cat >&2 <<'EOF'
usage: vm-test.sh install
       vm-test.sh [--timeout SECS] [--mem MB] [--env NAME[,NAME...]]... [--] CMD [ARGS...]
EOF
	exit 2
}

# ---------------------------------------------------------------- install

missing_packages() {
	local p st
	for p in "${PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $st == "install ok installed" ]] || printf '%s\n' "$p"
	done
}

do_install() {
	local -a missing
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	[[ $(id -u) == 0 ]] || die "installing ${missing[*]} needs root"
	echo "$PROG: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	local -a apt=(apt-get -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends install)
	if ! "${apt[@]}" "${missing[@]}" >/dev/null 2>&1; then
		apt-get -qq update >/dev/null || die "apt-get update failed"
		"${apt[@]}" "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]} failed"
	fi
	mapfile -t missing < <(missing_packages)
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

stage1_script() {
	cat <<'EOF'
#!/bin/busybox sh
# Stage 1 (initramfs /init): load 9p + overlay, build the root, switch_root.
export PATH=/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
fail() {
	echo "vm-stage1: $*"
	echo 0 >/proc/sys/kernel/printk
	poweroff -f
	sleep 60
}
mount -t proc proc /proc
while read -r m; do
	insmod "/lib/modules/$m" || fail "insmod $m failed"
done </modules.order
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower ||
	fail "cannot mount the host root (9p hostroot)"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "cannot mount the overlay root"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /newroot/run || fail "cannot mount /run"
mkdir -p /newroot/run/vm/job
cp /bin/busybox /stage2 /newroot/run/vm/ || fail "cannot copy stage 2"
mount --move /dev /newroot/dev || fail "cannot move /dev"
umount /proc
exec switch_root /newroot /run/vm/busybox sh /run/vm/stage2
fail "switch_root failed"
EOF
}

stage2_script() {
	cat <<'EOF'
# Stage 2 (PID 1 on the overlay root, busybox sh): mounts, cgroup2, run the job.
B=/run/vm/busybox
J=/run/vm/job
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
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 vmjob $J || fail "mount 9p vmjob"
# /tmp is a tmpfs; directories of the host's /tmp that the job names are bound back in.
if [ -s $J/keep ] && $B grep -qx /tmp $J/keep; then
	: # the job runs in /tmp itself: keep the host's /tmp (on the overlay)
else
	if [ -s $J/keep ]; then
		$B mkdir -p /run/vm/hosttmp
		$B mount -o bind /tmp /run/vm/hosttmp
	fi
	$B mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp || fail "mount /tmp"
	if [ -s $J/keep ]; then
		while IFS= read -r p; do
			$B mkdir -p "$p" && $B mount -o bind "/run/vm/hosttmp/${p#/tmp/}" "$p" ||
				echo "vm-stage2: cannot keep $p"
		done <$J/keep
	fi
fi
$B hostname vm
$B ip link set lo up
for c in $($B cat /sys/fs/cgroup/cgroup.controllers); do
	echo "+$c" >/sys/fs/cgroup/cgroup.subtree_control || echo "vm-stage2: cannot enable $c"
done
$B stty -onlcr 2>/dev/null
: >$J/started
if [ -x /bin/bash ]; then
	$B env -i /bin/bash $J/cmd
else
	$B env -i $B sh $J/cmd
fi
echo $? >$J/rc.tmp
$B mv $J/rc.tmp $J/rc
$B sync
echo 0 >/proc/sys/kernel/printk
$B poweroff -f
$B sleep 60
EOF
}

# ensure_cache: sets VMLINUX and INITRD, building them when missing.
ensure_cache() {
	local kver
	kver=$(pick_kernel)
	[[ -n $kver ]] || die "no Debian kernel: no /boot/vmlinuz-*-amd64 with /lib/modules (run: scripts/vm-test.sh install)"
	grep -qx 'CONFIG_PVH=y' "/boot/config-$kver" 2>/dev/null || die "kernel $kver has no CONFIG_PVH=y (needed for the PVH boot)"

	# Module files in load order, deduplicated; built-in ones are skipped.
	local -a mods=()
	local line f m
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
		stage1_script
		stage2_script
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
			[[ -d $old && ! -e /boot/vmlinuz-${old##*/} ]] && rm -rf "$old"
		done
	fi
	if [[ ! -s $INITRD ]]; then
		local t
		t=$(mktemp -d "$dir/.initramfs.XXXXXX")
		mkdir -p "$t/root/bin" "$t/root/dev" "$t/root/proc" "$t/root/lib/modules" \
			"$t/root/lower" "$t/root/rw" "$t/root/newroot"
		cp /bin/busybox "$t/root/bin/busybox"
		local a
		for a in sh mount umount insmod mkdir cp switch_root poweroff sleep cat echo; do
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
		chmod 0755 "$t/root/init"
		(cd "$t/root" && find . -print0 | cpio --null -o -H newc --quiet >"$t/initramfs.cpio") ||
			{ rm -rf "$t"; die "cannot build the initramfs (cpio)"; }
		mv -f "$t/initramfs.cpio" "$INITRD"
		rm -rf "$t"
		# Drop initramfs images of older versions of this script.
		find "$dir" -maxdepth 1 -name 'initramfs-*.cpio' ! -path "$INITRD" -delete
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

JOB=
RUNPID=
cleanup() {
	if [[ -n $RUNPID ]]; then
		kill -TERM "$RUNPID" 2>/dev/null || true
		wait "$RUNPID" 2>/dev/null || true
		RUNPID=
	fi
	if [[ -n $JOB ]]; then
		rm -rf "$JOB"
		JOB=
	fi
}

do_run() {
	local timeout=${VM_TIMEOUT:-300} mem=${VM_MEM:-2048}
	local -a envnames=("${BASE_ENV[@]}") _e
	while (($#)); do
		case $1 in
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

	local -a missing
	mapfile -t missing < <(missing_packages)
	((${#missing[@]} == 0)) || die "missing packages: ${missing[*]} (run: scripts/vm-test.sh install)"
	[[ $(id -u) == 0 ]] || die "must run as root (qemu's 9p share of / needs it)"

	ensure_cache
	reap_stale_jobs

	trap cleanup EXIT
	trap 'cleanup; exit 130' INT
	trap 'cleanup; exit 143' TERM
	trap 'cleanup; exit 129' HUP
	JOB=$(mktemp -d "$CACHE/jobs/job.$$.XXXXXX")

	# The job script the guest runs with bash.
	local cwd combined=0 n v
	cwd=$(pwd -P)
	if same_stream; then combined=1; fi
	{
		if ((combined)); then
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
	tcg) cpu=${VM_CPU:-qemu64,+rdrand}; accel=tcg,thread=multi ;;
	*) die "VM_ACCEL must be tcg or kvm" ;;
	esac
	local append='console=ttyS0 panic=-1 rdinit=/init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 mitigations=off 8250.nr_uarts=1 random.trust_cpu=on cryptomgr.notests'
	if [[ ${VM_DEBUG:-0} == 1 ]]; then
		append+=' loglevel=7'
	else
		append+=' quiet loglevel=1'
	fi

	local -a qemu=(
		qemu-system-x86_64 -M pc -accel "$accel" -cpu "$cpu" -smp "${VM_SMP:-2}" -m "$mem"
		-nodefaults -no-user-config -display none -no-reboot -monitor none
		-serial "file:$JOB/console.log"
		-kernel "$VMLINUX" -initrd "$INITRD" -append "$append"
		-fsdev "local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap"
		-device "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"
		-fsdev "local,id=vmjob,path=$JOB,security_model=none"
		-device "virtio-9p-pci,fsdev=vmjob,mount_tag=vmjob"
	)
	# timeout(1) cuts a hang; --pdeathsig makes the chain die with us even on
	# SIGKILL. A guest that has not started the job within VM_BOOT_TIMEOUT
	# seconds hung while booting (rare under TCG): it is killed and booted
	# once more, so that such a hang costs a minute, not the whole timeout.
	local qrc attempt waited
	for attempt in 1 2; do
		rm -f "$JOB/started"
		setpriv --pdeathsig KILL timeout -s TERM -k 5 "$timeout" \
			setpriv --pdeathsig KILL "${qemu[@]}" </dev/null >"$JOB/qemu.log" 2>&1 &
		RUNPID=$!
		waited=0
		while [[ ! -e $JOB/started ]] && kill -0 "$RUNPID" 2>/dev/null && ((waited < ${VM_BOOT_TIMEOUT:-120} * 10)); do
			sleep 0.1
			waited=$((waited + 1))
		done
		if [[ ! -e $JOB/started ]] && kill -0 "$RUNPID" 2>/dev/null && ((attempt == 1)); then
			printf '%s: the guest did not start the job within %ss; booting it again\n' "$PROG" "${VM_BOOT_TIMEOUT:-120}" >&2
			kill -TERM "$RUNPID" 2>/dev/null || true
			wait "$RUNPID" 2>/dev/null || true
			continue
		fi
		qrc=0
		wait "$RUNPID" || qrc=$?
		RUNPID=
		break
	done

	if [[ ${VM_DEBUG:-0} == 1 ]]; then
		cat "$JOB/qemu.log" "$JOB/console.log" >&2 || true
	fi
	[[ -f $JOB/out ]] && cat "$JOB/out"
	[[ -f $JOB/err ]] && cat "$JOB/err" >&2
	if ((qrc == 124 || qrc == 137)); then
		printf '%s: timed out after %ss; guest killed (exit 125)\n' "$PROG" "$timeout" >&2
		exit 125
	fi
	if [[ ! -s $JOB/rc ]]; then
		{
			printf '%s: the guest stopped without a result (qemu exit %s); last console lines:\n' "$PROG" "$qrc"
			tail -n 20 "$JOB/qemu.log" "$JOB/console.log" 2>/dev/null | sed 's/\r$//'
		} >&2
		exit 125
	fi
	local rc
	rc=$(<"$JOB/rc")
	[[ $rc =~ ^[0-9]+$ ]] || die "bad exit status from the guest: '$rc'"
	exit "$rc"
}

case ${1:-} in
install) do_install ;;
"") usage ;;
*) do_run "$@" ;;
esac
