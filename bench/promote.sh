#!/usr/bin/env bash
# make bench, the toolstack's failovers (issue "toolstack"): a kv pair made
# by `pvft create examples/kv.cfg` under client load, then either
#   kv-promote   `pvft promote` (planned: the primary stops at an exit,
#                hands over once all is acknowledged and released), or
#   kv-kill      kill -9 of the primary (the baseline, measured here too:
#                detection by the channel's timeout, then the arbiter);
# each PROMOTE_TRIALS times. Per kind: the clients' longest gap with no
# reply (blackout) p50/p99, the time from the request to the backup live
# (promote), and every trial's lost and doubly applied writes (must be 0).
# Last line per benchmark: "bench: NAME key=value ...".
set -euo pipefail
build=${1:-build}
PVFT=$build/bin/pvft
CLIENT=$build/bin/pvft-kv-client
trials=${PROMOTE_TRIALS:-20}
top=$(cd "$(dirname "$0")/.." && pwd)

tmp=$(mktemp -d)
export PVFT_RUN_DIR=$tmp/run
cpid=
cleanup() {
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	"$PVFT" destroy bench-kv >/dev/null 2>&1 || true
	wait 2>/dev/null || true
	[ -n "${BENCH_KEEP:-}" ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
pct() { sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print v[i] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

# One trial of KIND (promote or kill); appends to $tmp/KIND.*.
trial() {
	local kind=$1 port pid out
	port=$(free_port)
	"$PVFT" create -q "$top/examples/kv.cfg" name=bench-kv \
		"vif=[\"mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$port\"]" \
		"cmdline=\"ip=10.0.2.15/24 gw=10.0.2.2 port=$port\"" >/dev/null
	"$CLIENT" --server "127.0.0.1:$port" --clients 32 --timeout-ms 20 \
		--duration 3 --json >"$tmp/c.json" 2>/dev/null &
	cpid=$!
	sleep "0.$((5 + RANDOM % 5))$((RANDOM % 10))"
	if [ "$kind" = promote ]; then
		out=$("$PVFT" promote bench-kv)
		echo "$out" | grep -oE 'now \([0-9]+ ms' | grep -oE '[0-9]+' >>"$tmp/$kind.live"
	else
		pid=$("$PVFT" status --json bench-kv | jq -r '.replicas[] | select(.role == "primary") | .pid')
		kill -9 "$pid"
	fi
	wait "$cpid" || true
	cpid=
	"$PVFT" destroy bench-kv >/dev/null
	jq -r '.blackout_ms' "$tmp/c.json" >>"$tmp/$kind.blackout"
	jq -r '(.lost // 0) + (.doubled // 0)' "$tmp/c.json" >>"$tmp/$kind.bad"
	jq -e '.ok' "$tmp/c.json" >/dev/null || echo fail >>"$tmp/$kind.failed"
}

for i in $(seq "$trials"); do
	trial kill
	trial promote
done
bad_kill=$(awk '{ s += $1 } END { print s + 0 }' "$tmp/kill.bad")
bad_promote=$(awk '{ s += $1 } END { print s + 0 }' "$tmp/promote.bad")
failed=$({ cat "$tmp"/*.failed 2>/dev/null || true; } | wc -l)
k50=$(pct 50 "$tmp/kill.blackout") k99=$(pct 99 "$tmp/kill.blackout")
p50=$(pct 50 "$tmp/promote.blackout") p99=$(pct 99 "$tmp/promote.blackout")
echo "bench: kv-kill trials=$trials blackout_p50_ms=$k50 blackout_p99_ms=$k99 lost_or_doubled=$bad_kill"
echo "bench: kv-promote trials=$trials blackout_p50_ms=$p50 blackout_p99_ms=$p99 live_after_request_p50_ms=$(pct 50 "$tmp/promote.live") live_p99_ms=$(pct 99 "$tmp/promote.live") lost_or_doubled=$bad_promote ratio_p50_vs_kill=$(ratio "$p50" "$k50") client_failures=$failed"
[ "$bad_kill" -eq 0 ] && [ "$bad_promote" -eq 0 ] && [ "$failed" -eq 0 ]
