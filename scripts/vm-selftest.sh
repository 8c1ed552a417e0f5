#!/usr/bin/env bash
# vm-selftest.sh: checks that scripts/vm-test.sh gives working guests.
#
#   scripts/vm-selftest.sh [--bare | --systemd | --all]     (default --bare)
#
# --bare checks the cgroup v2 guest (about 1 minute), --systemd the user's VM
# (systemd, AppArmor; about 4 minutes: its boots take ~20 s and the watchdog
# check waits for a timeout), --all both. Prints PASS/FAIL per check and
# "N passed, N failed"; exits non-zero if any check failed.
# Guest commands are single-quoted on purpose: they expand inside the guest.
# shellcheck disable=SC2016
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
VM=$here/vm-test.sh
modes=(bare)
case ${1:-} in
"" | --bare) ;;
--systemd) modes=(systemd) ;;
--all) modes=(bare systemd) ;;
*) echo "usage: vm-selftest.sh [--bare | --systemd | --all]" >&2; exit 2 ;;
esac
# Under /tmp on purpose: vm-test.sh keeps the /tmp paths a job names visible.
tmp=$(mktemp -d /tmp/vm-selftest.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
pass() {
	printf 'PASS: %s\n' "$1"
	passed=$((passed + 1))
}
fail() {
	printf 'FAIL: %s\n' "$1"
	if [[ -s $tmp/err ]]; then sed 's/^/    /' "$tmp/err" | tail -n 30; fi
	failed=$((failed + 1))
}
# vm ARGS...: run vm-test.sh; stdout to $tmp/out, stderr to $tmp/err; sets rc.
vm() {
	rc=0
	"$VM" "$@" </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# A Go test binary that hangs in a subtest, for the watchdog checks.
build_hang_test() {
	[[ -x $tmp/hang/hang.test ]] && return 0
	local go
	go=$(command -v go || echo /usr/local/go/bin/go)
	mkdir -p "$tmp/hang"
	printf 'module example.com/hang\n\ngo 1.21\n' >"$tmp/hang/go.mod"
	cat >"$tmp/hang/hang_test.go" <<'EOF'
package hang

import (
	"fmt"
	"testing"
	"time"
)

func TestQuick(t *testing.T) {}

func TestSelftestHang(t *testing.T) {
	t.Run("waits", func(t *testing.T) {
		fmt.Println("about to wait forever")
		time.Sleep(time.Hour)
	})
}
EOF
	(cd "$tmp/hang" && GOFLAGS=-mod=mod "$go" test -c -o hang.test . >/dev/null 2>"$tmp/err")
}

# ------------------------------------------------------------ both guests

# contract MODE: one boot: exit status, cwd, exported environment, stdout and
# stderr byte-exact (binary data, CR-LF, NUL, no final newline).
contract() {
	local m=$1 want
	local -a flags=()
	[[ $m == systemd ]] && flags=(--systemd)
	if [[ ! -s $tmp/data ]]; then
		{
			for i in $(seq 0 255); do printf '%b' "\\0$(printf '%03o' "$i")"; done
			printf 'line\nCRLF\r\n\r\n\0NUL\n\ttab'
			head -c 1000000 /dev/urandom
			printf 'no newline at the end'
		} >"$tmp/data"
	fi
	export MINIRUNTIME_SELFTEST='a b $c "d"'
	export VM_SELFTEST_EXTRA=extra
	want="$(pwd -P)|$MINIRUNTIME_SELFTEST|extra"
	rc=0
	"$VM" "${flags[@]}" --env VM_SELFTEST_EXTRA -- sh -c '
		printf "%s|%s|%s\n" "$(pwd)" "$MINIRUNTIME_SELFTEST" "$VM_SELFTEST_EXTRA"
		cat "$1"; cat "$1" >&2; exit 7' sh "$tmp/data" </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
	{ printf '%s\n' "$want"; cat "$tmp/data"; } >"$tmp/want"
	if ((rc == 7)) && cmp -s "$tmp/want" "$tmp/out" && cmp -s "$tmp/data" "$tmp/err"; then
		pass "$m: exit 7 -> 7; cwd and env passed; $(stat -c %s "$tmp/data") bytes byte-exact on stdout and on stderr"
	else
		fail "$m: contract: rc=$rc (want 7); stdout: '$(head -n1 "$tmp/out")' want '$want', $(stat -c %s "$tmp/out") bytes (want $(stat -c %s "$tmp/want")); stderr $(stat -c %s "$tmp/err") bytes (want $(stat -c %s "$tmp/data"))"
	fi
}

# watchdog MODE TIMEOUT: a Go test that hangs is reported as a hang in the
# job, naming the test, with its last output, and exit 125.
watchdog() {
	local m=$1 timeout=$2
	local -a flags=()
	[[ $m == systemd ]] && flags=(--systemd)
	if ! build_hang_test; then
		fail "$m: watchdog: cannot build the Go test binary that hangs"
		return
	fi
	vm "${flags[@]}" --timeout "$timeout" -- "$tmp/hang/hang.test" -test.timeout=10m
	if ((rc == 125)) && grep -q 'HANG in the job' "$tmp/err" &&
		grep -q 'running test: .*TestSelftestHang.func1 \[sleep' "$tmp/err" &&
		grep -q 'about to wait forever' "$tmp/err" && grep -q 'kernel stacks of' "$tmp/err"; then
		pass "$m: a hung job is cut at --timeout $timeout with exit 125: $(grep -m1 'running test:' "$tmp/err" | sed 's/^vm-test: //')"
	else
		fail "$m: watchdog: rc=$rc (want 125), or no 'HANG in the job', test name, last output or guest state in the report"
	fi
}

# ------------------------------------------------------------- bare guest

bare_checks() {
	contract bare

	# cgroup2 is the only cgroup hierarchy, with the controllers we need.
	vm -- sh -c 'awk '\''$3 ~ /^cgroup/ {print $3, $2}'\'' /proc/mounts; echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"'
	local mounts ctrls missing=
	mounts=$(grep -v '^controllers:' "$tmp/out" || true)
	ctrls=$(sed -n 's/^controllers: //p' "$tmp/out")
	for c in cpu memory pids io cpuset; do
		[[ " $ctrls " == *" $c "* ]] || missing+=" $c"
	done
	if ((rc == 0)) && [[ $mounts == "cgroup2 /sys/fs/cgroup" && -z $missing ]]; then
		pass "bare: cgroup2 only on /sys/fs/cgroup; controllers: $ctrls"
	else
		fail "bare: cgroup mounts: '${mounts//$'\n'/; }', controllers: '$ctrls' (missing:${missing:- none}), rc=$rc"
	fi

	# A memory-limited child cgroup OOM-kills a process that allocates 100M.
	cat >"$tmp/oom.sh" <<'EOF'
set -eu
cg=/sys/fs/cgroup/selftest-oom
mkdir "$cg"
echo 32M >"$cg/memory.max"
echo 0 >"$cg/memory.swap.max"
before=$(awk '$1 == "oom_kill" {print $2}' "$cg/memory.events")
if sh -c "echo \$\$ >'$cg/cgroup.procs' && exec dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null"; then
	echo "dd was not killed"
	exit 1
fi
after=$(awk '$1 == "oom_kill" {print $2}' "$cg/memory.events")
echo "oom_kill $before -> $after"
[ "$after" -gt "$before" ]
EOF
	vm -- sh "$tmp/oom.sh"
	if ((rc == 0)); then
		pass "bare: memory.max=32M + memory.swap.max=0: 100M dd OOM-killed ($(tail -n1 "$tmp/out"))"
	else
		fail "bare: OOM kill in a child cgroup (rc=$rc: $(tail -n1 "$tmp/out"))"
	fi

	# A boot that hangs (on purpose, in the first boot's stage 1) is cut at
	# VM_BOOT_TIMEOUT, described, and booted again; the job then runs.
	rc=0
	VM_SELFTEST_HANG_BOOT=1 VM_BOOT_TIMEOUT=40 "$VM" -- true </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
	if ((rc == 0)) && grep -q 'HANG in boot' "$tmp/err" && grep -q 'last boot step on the console: .*hanging on purpose' "$tmp/err" &&
		grep -q 'booting the guest again' "$tmp/err"; then
		pass "bare: a boot hang is reported ($(grep -m1 'last boot step' "$tmp/err" | sed 's/^vm-test: //')) and booted again once"
	else
		fail "bare: boot hang: rc=$rc (want 0 after the second boot), or no report naming the last boot step"
	fi

	watchdog bare 60
}

# ---------------------------------------------------------- the user's VM

# Run in the guest: one line per check, "ok|name|detail" or "not|name|detail".
cat >"$tmp/systemd-checks.sh" <<'EOF'
#!/bin/bash
set -u
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		printf 'ok|%s|%s\n' "$name" "$(printf '%s' "$out" | tr '\n' ' ' | cut -c1-300)"
	else
		printf 'not|%s|%s\n' "$name" "$(printf '%s' "$out" | tr '\n' ' ' | cut -c1-300)"
	fi
}
pid1() {
	echo "$(cat /proc/1/comm) ($(readlink /proc/1/exe)), $(systemctl --version | head -n1)"
	[ "$(cat /proc/1/comm)" = systemd ]
}
running() {
	local s
	s=$(systemctl is-system-running)
	echo "$s"
	[ "$s" = running ]
}
cgroup2_only() {
	local m
	m=$(awk '$3 ~ /^cgroup/ {print $3, $2}' /proc/mounts)
	echo "$m; controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
	[ "$m" = "cgroup2 /sys/fs/cgroup" ]
}
apparmor() {
	local e
	e=$(cat /sys/module/apparmor/parameters/enabled)
	echo "enabled=$e; $(aa-status | grep -E 'profiles are (loaded|in enforce)' | tr '\n' ' ')"
	[ "$e" = Y ] && aa-status --enabled
}
job_unit() {
	echo "uid $(id -u), $(cat /proc/self/cgroup)"
	[ "$(id -u)" = 0 ] && grep -qx '0::/system.slice/vm-job.service' /proc/self/cgroup
}
scope() {
	systemd-run --quiet --scope -p Delegate=yes sh -c 'cat /proc/self/cgroup' &&
		systemd-run --quiet --scope -p Delegate=yes true
}
runc_systemd() {
	local b=/var/lib/containers/selftest s=vmselftest-c1.scope a i
	mkdir -p $b/rootfs/bin $b/rootfs/proc $b/rootfs/dev $b/rootfs/sys
	cp /bin/busybox $b/rootfs/bin/
	for a in sh cat sleep; do ln -s busybox $b/rootfs/bin/$a; done
	cat >$b/config.json <<'JSON'
{
	"ociVersion": "1.0.2",
	"process": {
		"terminal": false,
		"user": {"uid": 0, "gid": 0},
		"args": ["sh", "-c", "cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; sleep 2"],
		"env": ["PATH=/bin"],
		"cwd": "/",
		"noNewPrivileges": true
	},
	"root": {"path": "rootfs", "readonly": true},
	"hostname": "selftest",
	"mounts": [
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
		{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
		{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
	],
	"linux": {
		"cgroupsPath": "system.slice:vmselftest:c1",
		"resources": {"memory": {"limit": 67108864}, "pids": {"limit": 50}},
		"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}, {"type": "cgroup"}]
	}
}
JSON
	runc --systemd-cgroup run -b $b c1 >$b/out 2>&1 &
	# While the container runs, its scope is a unit systemd made for runc.
	for i in $(seq 50); do
		systemctl is-active --quiet $s && break
		sleep 0.1
	done
	echo "during: $s $(systemctl show -p ActiveState --value $s), $(systemctl show -p ControlGroup $s)"
	wait $!
	a=$?
	echo "runc exit $a; container said: $(grep -v 'level=warning' $b/out | tr '\n' ' '); after: $s $(systemctl show -p ActiveState --value $s 2>&1)"
	[ $a = 0 ] && grep -q 67108864 $b/out && grep -qx 50 $b/out
}
check "systemd is PID 1" pid1
check "systemctl is-system-running" running
check "only cgroup2 is mounted" cgroup2_only
check "AppArmor enabled, aa-status works" apparmor
check "the job runs as root in its own unit" job_unit
check "systemd-run --scope -p Delegate=yes" scope
check "runc --systemd-cgroup runs a busybox bundle" runc_systemd
EOF
chmod +x "$tmp/systemd-checks.sh"

systemd_checks() {
	vm --systemd -- "$tmp/systemd-checks.sh"
	if ((rc != 0)) || ! grep -q '^ok|' "$tmp/out"; then
		fail "systemd: the checks did not run in the guest (rc=$rc)"
	fi
	local st name detail
	while IFS='|' read -r st name detail; do
		if [[ $st == ok ]]; then
			pass "systemd: $name: $detail"
		elif [[ $st == not ]]; then
			: >"$tmp/err"
			fail "systemd: $name: $detail"
		fi
	done <"$tmp/out"
	contract systemd
	# Long enough for a slow boot (up to ~60 s on a loaded host) and then
	# a job that the watchdog must cut.
	watchdog systemd 150
}

for m in "${modes[@]}"; do
	"${m}_checks"
done
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
