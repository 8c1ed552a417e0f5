#!/bin/sh
# Run every Go fuzz target for a short, fixed budget each (FUZZTIME, 10s by
# default). go test takes one -fuzz target per package at a time, hence
# the loop. A crasher is written under the package's testdata/fuzz/ by go
# test itself: fix the bug and commit the file as a regression seed (plain
# `go test` runs it from then on).
set -eu
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH GOEXPERIMENT=jsonv2
FUZZTIME=${FUZZTIME:-10s}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Every package with a *_fuzz_test.go, and the targets in it.
failed=0
for file in $(git ls-files '*_fuzz_test.go') $(git ls-files --others --exclude-standard '*_fuzz_test.go'); do
	pkg=./$(dirname "$file")
	for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(f \*testing.F).*/\1/p' "$file"); do
		start=$(date +%s)
		ok=0
		# Go's fuzzing engine can end a run whose time is up with "context
		# deadline exceeded" while a worker is still busy, though no input
		# failed (no "Failing input written"): that run is repeated once.
		for try in 1 2; do
			if go test -tags seccomp -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
				ok=1
				break
			fi
			grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log" || break
			echo "     $pkg $target: the engine's deadline, not an input; once more"
		done
		if [ "$ok" = 1 ]; then
			echo "ok   $pkg $target ($(($(date +%s) - start))s)"
		else
			echo "FAIL $pkg $target"
			grep -v '^fuzz: elapsed' "$log" | tail -20
			failed=1
		fi
	done
done
exit $failed
