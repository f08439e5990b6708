#!/usr/bin/env bash
# make demo's main job, short: scripts/demo-kv.sh BUILD --short makes a kv
# pair with pvft create, kills its primary under client load twice and
# checks the client's verdict. Here: it ended with exit status 0, its
# summary says each time the backup went live and the domain was
# re-protected (ft_reprotect = "auto") at epochs 2 and 3, the timeline
# has each event in order, no write was lost or applied twice, and
# (when gnuplot is installed) the timeline plot was written.
# Last line: "N passed, N failed".
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
T=120 # seconds: the longest the short demo may take (8 s of load, set-up, teardown)

# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
harness_begin flat
out=$tmp/out
result() { # NAME WHY: WHY empty is a pass
	if [ -z "$2" ]; then
		ok "$1"
	else
		bad "$1: $2"
	fi
}

png=$build/demo/kv-failover.png
rm -f "$png"
timeout -k 10 "$T" "$top/scripts/demo-kv.sh" "$build" --short 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# The summary's rows, without the steps' bold.
summary=$(sed 's/\x1b\[[0-9;]*m//g' "$out" | sed -n '/^== summary$/,$p')
row() { sed -n "s/^  $1  *//p" <<<"$summary"; }

result "demo_exit_status" "$([ "$rc" -eq 0 ] || echo "exit status $rc")"
for n in 1 2; do
	result "demo_failover_$n" "$(row "failover $n" | grep -q 'went live' ||
		echo "summary row failover $n: \"$(row "failover $n")\"")"
	result "demo_reprotected_$n" "$(row "re-protected $n" | grep -q "^at epoch $((n + 1))" ||
		echo "summary row re-protected $n: \"$(row "re-protected $n")\"")"
done
result "demo_timeline" "$(row timeline | grep -q 'kill -9 #1.*live #1.*protected #1.*kill -9 #2.*live #2' ||
	echo "summary row timeline: \"$(row timeline)\"")"
result "demo_lost_writes" "$([ "$(row 'lost writes')" = 0 ] ||
	echo "summary row lost writes: \"$(row 'lost writes')\"")"
result "demo_applied_twice" "$([ "$(row 'applied twice')" = 0 ] ||
	echo "summary row applied twice: \"$(row 'applied twice')\"")"
if command -v gnuplot >/dev/null; then
	result "demo_plot" "$([ "$(head -c 4 "$png" 2>/dev/null | tail -c 3)" = PNG ] ||
		echo "no PNG at $png")"
else
	echo "SKIP demo_plot: gnuplot is not installed"
fi

summary
