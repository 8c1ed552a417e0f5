#!/usr/bin/env bash
# Run the OCI runtime validation suite (github.com/opencontainers/runtime-tools,
# validation/) against a runtime binary. See /work/shared/CONFORMANCE.md.
#
# Usage: scripts/conformance.sh [RUNTIME_BINARY]   (default: ./bin/miniruntime)
#        scripts/conformance.sh --build   (only build the suite into the cache:
#        a test guest has no network, so the host builds it first)
#
# Environment:
#   CONFORMANCE_CACHE       build cache (default /var/tmp/miniruntime-conformance)
#   CONFORMANCE_LOGS        per-program logs (default $CONFORMANCE_CACHE/logs)
#   CONFORMANCE_ONLY        space-separated program names to run (default: all)
#   CONFORMANCE_MIN         exit 1 if fewer than this many programs passed
#   CONFORMANCE_STATE_ROOT  runtime state root used for cleanup
#                           (default /run/<basename of the runtime>)
#   CONFORMANCE_SHOW_FAILED print why each failed program failed (its not-ok
#                           lines and diagnostics, the end of its stderr)
#                           below its line: for a guest, whose logs are gone
#                           with it
#   CONFORMANCE_BLKIO_LOOP  1: a test guest with no /dev/sda; the blkio
#                           programs use loop0, with the BFQ scheduler for the
#                           run (restored after)
#
# Must run as root. Needs go, tar, timeout, flock, unshare (util-linux).
set -euo pipefail
# The whole body is one compound command, parsed before it runs: editing this
# file during a run cannot affect the run.
{

readonly SUITE_MODULE=github.com/opencontainers/runtime-tools
readonly SUITE_VERSION=v0.9.1-0.20250523060157-0ea5ed0382a2
readonly EXPECTED_PROGRAMS=58
readonly PROGRAM_TIMEOUT=60
# The suite reads limits back from cgroup v1 files only. This patch adds a
# cgroup v2 reader, checks on v2 what the unified hierarchy expresses, and
# leaves out of the bundles what it cannot (docs/guests.md says what and why).
readonly SUITE_PATCH=conformance-cgroup2.patch

die() {
	echo "conformance: error: $*" >&2
	exit 2
}
warn() {
	echo "conformance: $*" >&2
}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)

build_only=
case "${1:-}" in
-h | --help)
	sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 0
	;;
--build)
	build_only=1
	shift
	;;
esac
[[ $# -le 1 ]] || die "usage: $0 [RUNTIME_BINARY] | --build"
[[ -z $build_only || $# -eq 0 ]] || die "usage: $0 --build (no runtime)"

# --- the runtime under test -------------------------------------------------
if [[ -n $build_only ]]; then
	runtime_arg=/bin/true # not run: only the build below
else
	runtime_arg=${1:-$repo_root/bin/miniruntime}
fi
if [[ $runtime_arg == */* ]]; then
	# Absolute path, without resolving symlinks (the basename names the state root).
	runtime=$(realpath -s -- "$runtime_arg")
else
	runtime=$(command -v -- "$runtime_arg") || die "runtime '$runtime_arg' not found in PATH"
	runtime=$(realpath -s -- "$runtime")
fi
[[ -f $runtime && -x $runtime ]] || die "runtime binary '$runtime' does not exist or is not executable (build it first)"
state_root=${CONFORMANCE_STATE_ROOT:-/run/$(basename -- "$runtime")}

[[ $(id -u) -eq 0 ]] || die "must run as root"
for tool in go tar timeout flock unshare realpath; do
	command -v "$tool" >/dev/null || die "'$tool' is required"
done

cache=${CONFORMANCE_CACHE:-/var/tmp/miniruntime-conformance}
mkdir -p "$cache"
cache=$(realpath -- "$cache")
logs=${CONFORMANCE_LOGS:-$cache/logs}
mkdir -p "$logs"
logs=$(realpath -- "$logs")
suite=$cache/suite-$SUITE_VERSION
patch_sum=$(sha256sum <"$script_dir/$SUITE_PATCH" | cut -c1-16)
build_id="$SUITE_VERSION $patch_sum"

min_pass=${CONFORMANCE_MIN:-}
if [[ -n $min_pass && ! $min_pass =~ ^[0-9]+$ ]]; then
	die "CONFORMANCE_MIN must be a non-negative integer, got '$min_pass'"
fi

# Runs share fixed cgroup paths (/cgrouptest, testdir/cgrouptest/container):
# serialise them. fd 9 is closed for every child we start (9>&-) so that a
# leaked process can never keep the lock.
exec 9>"$cache/.lock"
if ! flock -n 9; then
	warn "another conformance run holds $cache/.lock; waiting"
	flock 9
fi

build_work=
run_dir=
aa_profile=
blkio_sched= blkio_old_sched=
current_pdir=
child_pid=
# shellcheck disable=SC2317  # invoked from the EXIT trap
on_exit() {
	local rc=$?
	trap - EXIT INT TERM
	if [[ -n $child_pid ]] && kill -TERM "$child_pid" 2>/dev/null; then
		# timeout passes TERM on to the program, and KILLs it 10 s later
		wait "$child_pid" 2>/dev/null || true
	fi
	if [[ -n $current_pdir && -d $current_pdir ]]; then
		cleanup_program "$current_pdir" >/dev/null 2>&1 || true
		rm -rf --one-file-system -- "$current_pdir" 2>/dev/null || true
	fi
	if [[ -n $run_dir && -d $run_dir ]]; then
		rm -rf --one-file-system -- "$run_dir" 2>/dev/null || true
	fi
	if [[ -n $build_work && -d $build_work ]]; then
		rm -rf -- "$build_work" 2>/dev/null || true
	fi
	if [[ -n $blkio_sched ]]; then
		echo "$blkio_old_sched" >"$blkio_sched" 2>/dev/null || true
	fi
	if [[ -n $aa_profile ]]; then
		apparmor_parser -R "$aa_profile" >/dev/null 2>&1 || true
		rm -f -- "$aa_profile"
	fi
	exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build the suite (once per version) -------------------------------------
build_suite() {
	if [[ -f $suite/.complete && $(<"$suite/.complete") == "$build_id" ]]; then
		return 0
	fi
	warn "building $SUITE_MODULE@$SUITE_VERSION into $suite"
	build_work=$(mktemp -d "$cache/build.XXXXXX")
	local json src_dir arch
	# Run outside any module/workspace so the caller's go.mod is never touched.
	json=$(cd "$build_work" && GOFLAGS='' GOWORK=off GO111MODULE=on \
		go mod download -json "$SUITE_MODULE@$SUITE_VERSION") ||
		die "go mod download failed: $json"
	src_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}[[:space:]]*$/\1/p' <<<"$json")
	[[ -n $src_dir && -d $src_dir ]] || die "go mod download gave no source dir: $json"
	cp -r -- "$src_dir" "$build_work/src"
	chmod -R u+w "$build_work/src"
	# The module zip keeps only vendor/modules.txt: build with -mod=mod instead.
	rm -rf -- "$build_work/src/vendor"
	(cd "$build_work/src" && git apply "$script_dir/$SUITE_PATCH") ||
		die "applying $SUITE_PATCH to the suite failed"
	mkdir -p "$build_work/out/bin"
	arch=$(go env GOARCH)
	(
		cd "$build_work/src"
		export GOFLAGS=-mod=mod GOWORK=off GO111MODULE=on CGO_ENABLED=0
		# runtimetest is copied into every container: it must be static.
		go build -tags "netgo osusergo" -o "$build_work/out/bin/runtimetest" ./cmd/runtimetest
		go build -o "$build_work/out/bin/" ./validation/...
	) || die "building the validation suite failed"
	[[ -f $build_work/src/rootfs-$arch.tar.gz ]] || die "module has no rootfs-$arch.tar.gz"
	cp -- "$build_work/src/rootfs-$arch.tar.gz" "$build_work/out/"
	echo "$build_id" >"$build_work/out/.complete"
	rm -rf -- "$suite"
	mv -- "$build_work/out" "$suite"
	rm -rf -- "$build_work"
	build_work=
}
build_suite
if [[ -n $build_only ]]; then
	echo "conformance: suite built in $suite"
	exit 0
fi

mapfile -t all_programs < <(find "$suite/bin" -maxdepth 1 -type f -perm -u+x ! -name runtimetest -printf '%f\n' | LC_ALL=C sort)
if [[ ${#all_programs[@]} -ne $EXPECTED_PROGRAMS ]]; then
	warn "warning: expected $EXPECTED_PROGRAMS validation programs, found ${#all_programs[@]}"
fi
programs=()
if [[ -n ${CONFORMANCE_ONLY:-} ]]; then
	read -r -a wanted <<<"$CONFORMANCE_ONLY"
	for p in "${wanted[@]}"; do
		[[ -x $suite/bin/$p && $p != runtimetest ]] || die "unknown validation program '$p' (see $suite/bin)"
		programs+=("$p")
	done
else
	programs=("${all_programs[@]}")
fi

# --- per-program sandbox and cleanup -----------------------------------------
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/miniruntime-conformance.XXXXXX")
run_dir=$(realpath -- "$run_dir")
my_mntns=$(readlink /proc/self/ns/mnt)

# Where run_dir lives as seen in /proc/*/mountinfo: "major:minor" and the path
# relative to the root of that filesystem (fields 3 and 4). A container whose
# rootfs is one of our bundles shows a mount whose root starts with it.
read -r run_dev run_rel < <(awk -v p="$run_dir" '
	{ mp = $5; gsub(/\\040/, " ", mp)
	  if ((mp == "/" || p == mp || index(p, mp "/") == 1) && length(mp) >= best) {
		best = length(mp); dev = $3; root = $4; bmp = mp } }
	END { rest = (bmp == "/") ? p : substr(p, length(bmp) + 1)
	      if (root == "/") rel = rest; else rel = root rest
	      print dev, rel }' /proc/self/mountinfo)

# Our own ancestors (and us) are never killed.
declare -A protected=([1]=1 [$$]=1)
pid=$$
while [[ $pid -gt 1 ]]; do
	protected[$pid]=1
	pid=$(awk '{ sub(/.*\) /, ""); print $2 }' "/proc/$pid/stat" 2>/dev/null) || break
	[[ $pid =~ ^[0-9]+$ ]] || break
done

# Pids (not zombies, not us) that belong to the program run in $1. All
# comparisons are plain string comparisons in awk (never glob patterns: the
# namespace links look like "mnt:[4026531832]").
stray_pids() {
	local pdir=$1 rel=$run_rel/${1##*/}
	local -a other_ns=() cands=()
	local f pid st
	mapfile -t cands < <(
		{
			# cwd, root (chroot without a mount namespace) or exe in the sandbox
			find /proc/[0-9]*/cwd /proc/[0-9]*/root /proc/[0-9]*/exe -maxdepth 0 \
				-printf '%h\t%l\n' 2>/dev/null |
				awk -F'\t' -v p="$pdir" '$2 == p || index($2, p "/") == 1 { print $1 }' || true
			# the sandbox on the command line (hooks, runtime helpers)
			grep -lsF -- "$pdir" /proc/[0-9]*/cmdline 2>/dev/null | sed 's,/cmdline$,,' || true
			# the TMPDIR we gave the program, inherited by runtime helpers and
			# by the `unshare ... sleep 10000` of linux_ns_path*
			grep -lszxF -- "TMPDIR=$pdir/tmp" /proc/[0-9]*/environ 2>/dev/null | sed 's,/environ$,,' || true
		} | sed 's,^/proc/,,'
	)
	# Containers (other mount namespaces) whose root mount is a bundle of ours.
	mapfile -t other_ns < <(find /proc/[0-9]*/ns/mnt -maxdepth 0 -printf '%h\t%l\n' 2>/dev/null |
		awk -F'\t' -v ns="$my_mntns" '$2 != ns { f = $1; sub(/\/ns$/, "/mountinfo", f); print f }' || true)
	if [[ ${#other_ns[@]} -gt 0 ]]; then
		mapfile -t -O "${#cands[@]}" cands < <(awk -v dev="$run_dev" -v rel="$rel" '
			$5 == "/" && $3 == dev && ($4 == rel || index($4, rel "/") == 1) {
				f = FILENAME; sub(/^\/proc\//, "", f); sub(/\/mountinfo$/, "", f); print f; nextfile }' \
			"${other_ns[@]}" 2>/dev/null || true)
	fi
	for pid in "${cands[@]}"; do
		[[ $pid =~ ^[0-9]+$ ]] || continue
		[[ -z ${protected[$pid]:-} && $pid -ne $BASHPID ]] || continue
		f=/proc/$pid/stat
		[[ -r $f ]] || continue
		st=$(awk '{ sub(/.*\) /, ""); print $1 }' "$f" 2>/dev/null) || continue
		[[ -n $st && $st != Z && $st != X ]] || continue
		echo "$pid"
	done | sort -un
}

# Container ids known to the runtime.
list_containers() {
	local out
	if out=$(timeout -k 2 10 "$runtime" list -q </dev/null 2>/dev/null 9>&-); then
		printf '%s\n' "$out" | sed '/^[[:space:]]*$/d'
	elif [[ -d $state_root ]]; then
		find "$state_root" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null || true
	fi
}

# Does container $1 belong to the program run in $2? (bundle in the sandbox)
owned_container() {
	local id=$1 pdir=$2 out
	if out=$(timeout -k 2 10 "$runtime" state "$id" </dev/null 2>/dev/null 9>&-); then
		[[ $out == *"\"$pdir/"* ]] && return 0
		grep -qsrF -- "$pdir/" "$state_root/$id" 2>/dev/null && return 0
		return 1
	fi
	grep -qsrF -- "$pdir/" "$state_root/$id" 2>/dev/null && return 0
	# Unreadable state and nothing pointing elsewhere: ours if it is new and
	# looks like the suite's ids (uuid.NewString()).
	[[ $id =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] &&
		! grep -qxF -- "$id" <<<"$containers_before"
}

# Cleans up after the program whose sandbox is $1; prints a summary of what it
# had to do, and the details to $1.cleanup.
cleanup_program() {
	local pdir=$1 id pid i mp n_ctr=0 n_proc=0 n_mnt=0 n_cg=0
	local notes=$1.cleanup
	local -a ids=() pids=() mps=() cgs=()

	# 1. containers the program left behind
	mapfile -t ids < <(list_containers)
	for id in "${ids[@]}"; do
		[[ -n $id ]] || continue
		owned_container "$id" "$pdir" || continue
		n_ctr=$((n_ctr + 1))
		echo "cleanup: $runtime delete --force $id" >>"$notes"
		timeout -k 2 15 "$runtime" delete --force "$id" </dev/null >/dev/null 2>&1 9>&- || true
	done

	# 2. processes still running from the sandbox
	for i in 1 2 3 4 5 6 7 8 9 10; do
		mapfile -t pids < <(stray_pids "$pdir")
		[[ ${#pids[@]} -gt 0 ]] || break
		if [[ ${#pids[@]} -gt 32 ]]; then
			# A test never leaves that many: refuse rather than kill blindly.
			echo "cleanup: NOT killing ${#pids[@]} matching processes (too many): ${pids[*]}" >>"$notes"
			break
		fi
		[[ $i -eq 1 ]] && n_proc=${#pids[@]}
		for pid in "${pids[@]}"; do
			echo "cleanup: kill -KILL $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)" >>"$notes"
		done
		kill -KILL "${pids[@]}" 2>/dev/null || true
		sleep 0.5
	done

	# containers whose processes are gone now may delete cleanly
	if [[ $n_ctr -gt 0 ]]; then
		mapfile -t ids < <(list_containers)
		for id in "${ids[@]}"; do
			[[ -n $id ]] || continue
			owned_container "$id" "$pdir" || continue
			timeout -k 2 15 "$runtime" delete --force "$id" </dev/null >/dev/null 2>&1 9>&- || true
		done
	fi

	# 3. mounts under the sandbox, deepest first
	for i in 1 2 3 4 5; do
		mapfile -t mps < <(awk -v p="$pdir" '{ print $5 }' /proc/self/mountinfo |
			while IFS= read -r mp; do
				mp=$(printf '%b' "$mp")
				if [[ $mp == "$pdir" || $mp == "$pdir"/* ]]; then echo "$mp"; fi
			done | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
		[[ ${#mps[@]} -gt 0 ]] || break
		[[ $i -eq 1 ]] && n_mnt=${#mps[@]}
		for mp in "${mps[@]}"; do
			echo "cleanup: umount $mp" >>"$notes"
			umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
		done
	done

	# 4. leftover test cgroups (fixed names used by the suite); only rmdir
	mapfile -t cgs < <(find /sys/fs/cgroup -mindepth 1 -maxdepth 8 -depth -type d \
		\( -name cgrouptest -o -name testdir -o -path '*/testdir/cgrouptest/*' \) 2>/dev/null || true)
	for mp in "${cgs[@]}"; do
		if [[ -r $mp/cgroup.procs ]]; then
			mapfile -t pids < <(cat "$mp/cgroup.procs" 2>/dev/null || true)
			for pid in "${pids[@]}"; do
				if [[ $pid =~ ^[0-9]+$ && -z ${protected[$pid]:-} ]]; then
					echo "cleanup: kill -KILL $pid (in $mp)" >>"$notes"
					kill -KILL "$pid" 2>/dev/null || true
				fi
			done
		fi
	done
	for mp in "${cgs[@]}"; do
		for i in 1 2 3 4 5; do
			if rmdir "$mp" 2>/dev/null; then
				echo "cleanup: rmdir $mp" >>"$notes"
				n_cg=$((n_cg + 1))
				break
			fi
			[[ -d $mp ]] || break
			sleep 0.2
		done
	done

	local what=()
	[[ $n_ctr -gt 0 ]] && what+=("$n_ctr container(s)")
	[[ $n_proc -gt 0 ]] && what+=("$n_proc process(es)")
	[[ $n_mnt -gt 0 ]] && what+=("$n_mnt mount(s)")
	[[ $n_cg -gt 0 ]] && what+=("$n_cg cgroup(s)")
	if [[ ${#what[@]} -gt 0 ]]; then
		local IFS=,
		local joined="${what[*]}"
		echo "${joined//,/, }"
	fi
}

# Programs that print no assertion: success is exit 0 without an `error:`
# diagnostic (hook tests and *_fail tests).
no_assertion() {
	case "$1" in
	hooks | prestart | poststart | poststop | *_fail) return 0 ;;
	*) return 1 ;;
	esac
}

# --- AppArmor: the profile linux_process_apparmor_profile names -------------
# The program asks for process.apparmorProfile "acme_secure_profile" and
# expects the host to have it loaded (a runtime must refuse or fail to apply
# a profile that is not). Where AppArmor is on (the user's VM guest), load
# one that allows what runtimetest does, for this run only; where it is off,
# the runtime ignores the profile and nothing is loaded.
if [[ " ${programs[*]} " == *" linux_process_apparmor_profile "* && -d /sys/kernel/security/apparmor ]] &&
	[[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null) == Y* ]] &&
	command -v apparmor_parser >/dev/null &&
	! grep -q '^acme_secure_profile ' /sys/kernel/security/apparmor/profiles 2>/dev/null; then
	aa_profile=$(mktemp "${TMPDIR:-/tmp}/acme_secure_profile.XXXXXX")
	cat >"$aa_profile" <<'PROFILE'
profile acme_secure_profile flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  unix,
  ptrace,
  mount,
  umount,
  pivot_root,
}
PROFILE
	apparmor_parser -r "$aa_profile" || die "apparmor_parser could not load acme_secure_profile"
fi

# --- a disk for the blkio programs -------------------------------------------
# They set weights and throttles on 8:0 (/dev/sda) unless BLKIO_DEVICE names
# another disk. A test guest has no sda: there loop0 takes its place, with
# the BFQ scheduler for the run, because on cgroup v2 only BFQ takes a
# per-device weight (io.weight's device lines need iocost enabled on the
# disk, which no distribution does by default).
if [[ ${CONFORMANCE_BLKIO_LOOP:-} == 1 && ! -e /sys/block/sda && -z ${BLKIO_DEVICE:-} ]]; then
	modprobe loop 2>/dev/null || true
	modprobe bfq 2>/dev/null || true
	sched=/sys/block/loop0/queue/scheduler
	[[ -w $sched ]] || die "CONFORMANCE_BLKIO_LOOP: no $sched"
	old_sched=$(sed -n 's/.*\[\(.*\)\].*/\1/p' "$sched")
	echo bfq >"$sched" || die "CONFORMANCE_BLKIO_LOOP: the BFQ scheduler is not available for loop0"
	blkio_sched=$sched blkio_old_sched=$old_sched
	export BLKIO_DEVICE
	BLKIO_DEVICE=$(<"/sys/block/loop0/dev")
	warn "blkio programs use loop0 ($BLKIO_DEVICE) with BFQ; its scheduler goes back to $old_sched after"
fi

# --- run --------------------------------------------------------------------
total_ok=0 total_notok=0 total_skip=0 passed=0 ran=0
summary=$logs/summary.txt
{
	echo "# runtime: $runtime"
	echo "# suite: $SUITE_MODULE@$SUITE_VERSION"
	echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$summary"

for prog in "${programs[@]}"; do
	pdir=$run_dir/$prog
	current_pdir=$pdir
	mkdir -p "$pdir/work" "$pdir/tmp"
	cp -- "$suite/bin/runtimetest" "$suite"/rootfs-*.tar.gz "$pdir/work/"
	containers_before=$(list_containers)

	rc=0
	start=$SECONDS
	# In the background + wait, so that INT/TERM are handled at once (timeout
	# puts the program in its own process group, out of reach of ^C).
	(
		cd "$pdir/work"
		export RUNTIME="$runtime" TMPDIR="$pdir/tmp"
		exec timeout -k 10 "$PROGRAM_TIMEOUT" "$suite/bin/$prog"
	) </dev/null >"$pdir/stdout" 2>"$pdir/stderr" 9>&- &
	child_pid=$!
	wait "$child_pid" || rc=$?
	child_pid=
	elapsed=$((SECONDS - start))

	cleaned=$(cleanup_program "$pdir" 2>/dev/null) || true

	# Top-level TAP lines only (nested runtimetest output is indented YAML).
	# A program may print several TAP documents ("TAP version 13" ... "1..N",
	# e.g. linux_cgroups_cpus): each document's plan must match its tests.
	read -r n_ok n_notok n_skip n_tests n_docs n_badplan n_err < <(awk '
		function close_doc() {
			if (indoc && (plans != 1 || plan != dtests)) badplan++
			indoc = 0; plans = 0; plan = -1; dtests = 0
		}
		function open_doc() { if (!indoc) { docs++; indoc = 1; plans = 0; plan = -1; dtests = 0 } }
		/^TAP version/ { close_doc(); open_doc(); next }
		/^not ok([ \t]|$)/ { open_doc(); notok++; tests++; dtests++; next }
		/^ok([ \t]|$)/ { open_doc(); tests++; dtests++
			if ($0 ~ /^ok[ \t]+[0-9]*[^#]*#[ \t]*[Ss][Kk][Ii][Pp]/) skip++; else ok++; next }
		/^1\.\.[0-9]+/ { open_doc(); plans++; plan = $0; sub(/^1\.\./, "", plan); sub(/[^0-9].*$/, "", plan); plan += 0; next }
		/^[ \t]*"?error"?[ \t]*:/ { err++ }  # YAML diagnostics are JSON: "error": "..."
		END { close_doc(); printf "%d %d %d %d %d %d %d\n", ok, notok, skip, tests, docs, badplan, err }' "$pdir/stdout")

	reason=
	if [[ $rc -eq 124 || $rc -eq 137 ]]; then
		reason="timeout after ${PROGRAM_TIMEOUT}s"
	elif [[ $rc -ne 0 ]]; then
		reason="exit $rc"
	elif [[ $n_notok -gt 0 ]]; then
		reason=
	elif [[ $n_badplan -gt 0 ]]; then
		reason="plan does not match the tests run"
	elif no_assertion "$prog"; then
		# hook and *_fail programs: no assertion, an "error" diagnostic on failure
		if [[ $n_err -gt 0 ]]; then
			reason="error diagnostic"
		fi
	elif [[ $n_docs -eq 0 ]]; then
		reason="no TAP output"
	elif [[ $n_ok -lt 1 ]]; then
		reason="no ok"
	fi
	if [[ $rc -eq 0 && $n_notok -eq 0 && -z $reason ]]; then
		verdict=PASS
		passed=$((passed + 1))
	else
		verdict=FAIL
	fi
	ran=$((ran + 1))
	total_ok=$((total_ok + n_ok))
	total_notok=$((total_notok + n_notok))
	total_skip=$((total_skip + n_skip))

	line="$verdict $prog ($n_ok ok, $n_notok not ok, $n_skip skip)"
	[[ -n $reason ]] && line+=" [$reason]"
	[[ -n $cleaned ]] && line+=" [cleaned up: $cleaned]"
	echo "$line"
	echo "$line" >>"$summary"
	if [[ $verdict == FAIL && -n ${CONFORMANCE_SHOW_FAILED:-} ]]; then
		{
			grep -E '^not ok|"(error|message|expected|actual)"|^[[:space:]]+(error|message|expected|actual):' "$pdir/stdout" | head -n 8
			tail -n 3 "$pdir/stderr"
		} 2>/dev/null | cut -c1-240 | sed 's/^/    /' || true # head closes early: SIGPIPE, not a failure
	fi

	{
		echo "# program: $prog"
		echo "# runtime: $runtime"
		echo "# exit status: $rc (${elapsed}s)"
		echo "# result: $line"
		echo "# tap: $n_tests tests in $n_docs document(s), $n_badplan bad plan(s), $n_err error diagnostic(s)"
		echo "# ---- stdout ----"
		cat "$pdir/stdout"
		echo "# ---- stderr ----"
		cat "$pdir/stderr"
		if [[ -s $pdir.cleanup ]]; then
			echo "# ---- cleanup by conformance.sh ----"
			cat "$pdir.cleanup"
		fi
	} >"$logs/$prog.log"
	rm -f -- "$pdir.cleanup"

	rm -rf --one-file-system -- "$pdir" 2>/dev/null || warn "could not remove $pdir"
	current_pdir=
done

rm -rf --one-file-system -- "$run_dir" 2>/dev/null || warn "could not remove $run_dir"
run_dir=

final="conformance: $total_ok ok, $total_notok not ok, $total_skip skip ($passed/$ran programs passed)"
echo "$final" >>"$summary"
echo "$final"

if [[ -n $min_pass && $passed -lt $min_pass ]]; then
	exit 1
fi
exit 0
}
