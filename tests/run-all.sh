#!/usr/bin/env bash
# make check: every suite, then one line "N passed, N failed" for them all.
# Each suite prints its own "N passed, N failed" as its last line.
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

total_pass=0
total_fail=0

run_suite() {
	local name=$1; shift
	local out rc line
	echo "=== $name"
	out=$(mktemp)
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	rm -f "$out"
	if [ -z "$line" ]; then
		echo "$name: no result line (exit status $rc): counted as 1 failure"
		total_fail=$((total_fail + 1))
		return
	fi
	set -- $line
	total_pass=$((total_pass + $1))
	total_fail=$((total_fail + $3))
	if [ "$rc" -ne 0 ] && [ "$3" -eq 0 ]; then
		echo "$name: exit status $rc with no failed test: counted as 1 failure"
		total_fail=$((total_fail + 1))
	fi
}

run_suite style tests/style.sh
run_suite layering tests/layering.sh "$build"
run_suite unit "$build/bin/pvft-unit-tests"
run_suite fuzz tests/fuzz/run.sh "$build" 15
run_suite integration tests/integration/run.sh "$build"
run_suite replay tests/replay/run.sh "$build"
run_suite pair tests/pair/run.sh "$build"
run_suite net tests/net/run.sh "$build"
run_suite migrate tests/migrate/run.sh "$build"
run_suite reprotect tests/reprotect/run.sh "$build"
run_suite chain tests/reprotect/chain.sh "$build" 5
run_suite hvmisc tests/security/test-hvmisc.sh "$build"
run_suite tools tests/tools/test-faultproxy.sh "$build"
run_suite kv-client tests/tools/test-kv-client.sh "$build"
run_suite seqcheck tests/pair/test-seqcheck.sh
run_suite security tests/security/run.sh "$build"
run_suite arbiter tests/arbiter/run.sh "$build"
run_suite toolstack tests/toolstack/run.sh "$build"
run_suite operations tests/toolstack/test-operations.sh "$build"
run_suite completion tests/toolstack/test-completion.sh "$build"
run_suite install tests/toolstack/test-install.sh "$build"
run_suite demo tests/toolstack/test-demo.sh "$build"
run_suite model tests/model/run.sh
run_suite kvm tests/kvm/run.sh "$build"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
