#!/usr/bin/env bash
# vm-selftest.sh: checks that scripts/vm-test.sh gives a working cgroup v2 guest.
# Prints PASS/FAIL per check and exits non-zero if any check failed.
# Guest commands are single-quoted on purpose: they expand inside the guest.
# shellcheck disable=SC2016
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
VM=$here/vm-test.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vm-selftest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
pass() {
	printf 'PASS: %s\n' "$1"
	passed=$((passed + 1))
}
fail() {
	printf 'FAIL: %s\n' "$1"
	if [[ -s $tmp/err ]]; then sed 's/^/    /' "$tmp/err" | tail -n 20; fi
	failed=$((failed + 1))
}
# vm ARGS...: run vm-test.sh; stdout to $tmp/out, stderr to $tmp/err; sets rc.
vm() {
	rc=0
	"$VM" "$@" </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
}

# 1. Exit status comes through.
vm -- true
rc_true=$rc
vm -- sh -c 'exit 7'
if ((rc_true == 0 && rc == 7)); then
	pass "exit status: true -> 0, exit 7 -> 7"
else
	fail "exit status: true -> $rc_true (want 0), exit 7 -> $rc (want 7)"
fi

# 2. cgroup2 is the only cgroup hierarchy, with the controllers we need.
vm -- sh -c 'awk '\''$3 ~ /^cgroup/ {print $3, $2}'\'' /proc/mounts; echo "controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"'
mounts=$(grep -v '^controllers:' "$tmp/out" || true)
ctrls=$(sed -n 's/^controllers: //p' "$tmp/out")
missing=
for c in cpu memory pids io cpuset; do
	[[ " $ctrls " == *" $c "* ]] || missing+=" $c"
done
if ((rc == 0)) && [[ $mounts == "cgroup2 /sys/fs/cgroup" && -z $missing ]]; then
	pass "cgroup2 only on /sys/fs/cgroup; controllers: $ctrls"
else
	fail "cgroup mounts: '${mounts//$'\n'/; }', controllers: '$ctrls' (missing:${missing:- none}), rc=$rc"
fi

# 3. A memory-limited child cgroup OOM-kills a process that allocates 100M.
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
	pass "memory.max=32M + memory.swap.max=0: 100M dd OOM-killed ($(tail -n1 "$tmp/out"))"
else
	fail "OOM kill in a child cgroup (rc=$rc: $(tail -n1 "$tmp/out"))"
fi

# 4. Output reaches the host byte-exact, on stdout and on stderr.
{
	for i in $(seq 0 255); do printf '%b' "\\0$(printf '%03o' "$i")"; done
	printf 'line\nCRLF\r\n\r\n\0NUL\n\ttab'
	head -c 1000000 /dev/urandom
	printf 'no newline at the end'
} >"$tmp/data"
rc=0
"$VM" -- sh -c 'cat "$1"; cat "$1" >&2' sh "$tmp/data" </dev/null >"$tmp/out" 2>"$tmp/out2" || rc=$?
if ((rc == 0)) && cmp -s "$tmp/data" "$tmp/out" && cmp -s "$tmp/data" "$tmp/out2"; then
	pass "output byte-exact ($(stat -c %s "$tmp/data") bytes on stdout and on stderr)"
else
	cp "$tmp/out2" "$tmp/err"
	fail "output not byte-exact (rc=$rc, sizes: sent $(stat -c %s "$tmp/data"), stdout $(stat -c %s "$tmp/out"), stderr $(stat -c %s "$tmp/out2"))"
fi

# 5. cwd and environment are passed; a hang is cut at the timeout with exit 125.
export MINIRUNTIME_SELFTEST='a b $c "d"'
export VM_SELFTEST_EXTRA=extra
vm --env VM_SELFTEST_EXTRA -- sh -c 'printf "%s|%s|%s\n" "$(pwd)" "$MINIRUNTIME_SELFTEST" "$VM_SELFTEST_EXTRA"'
want="$(pwd -P)|$MINIRUNTIME_SELFTEST|extra"
got=$(cat "$tmp/out")
vm --timeout 5 -- sleep 600
if [[ $got == "$want" ]] && ((rc == 125)) && grep -q 'timed out' "$tmp/err"; then
	pass "cwd + env passed; hang cut at --timeout with exit 125"
else
	fail "cwd/env: got '$got' want '$want'; timeout rc=$rc (want 125)"
fi

printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
