#!/usr/bin/env bash
# make bench, re-protection (Documentation/pair.md, "Re-protection"): each
# number next to its baseline measured here, in the same run, for a kv
# pair of 64 and 256 MiB (REPROTECT_SIZES):
#   reprotect-pause      the pause the guest sees at the join's cut
#                        (the survivor's last exit before the cut to the
#                        joining backup's OK), with the checkpoint's size
#                        and rounds
#   reprotect-blackout   the longest time pvft-kv-client went unanswered
#                        (8 clients, 6 s) during a join at its second
#                        second, against the same load on the same
#                        survivor with no join: ratio and difference
#   reprotect-time       from kill -9 of the primary to protected again:
#                        failover, starting the new backup, the join
#                        (what ft_reprotect = "auto" does, minus its poll)
# Every process started is ended by PID. Last line per benchmark:
# "bench: NAME key=value ...".
set -euo pipefail
build=${1:-build}
HV=$build/bin/pvft-hv
CTL=$build/bin/pvft-ctlclient
CLIENT=$build/bin/pvft-kv-client
ARBITER=$build/bin/pvft-arbiter
G=$build/guest
where=${BENCH_WHERE:-host}
sizes=${REPROTECT_SIZES:-64 256}

tmp=$(mktemp -d)
pids=()
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
KEY=$tmp/domain.key
make_key "$KEY"
mkdir -p -m 700 "$tmp/keys" "$tmp/state"
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

json() { grep -oE "\"$1\": ?[0-9.]+" <<<"$2" | head -n 1 | grep -oE '[0-9.]+$'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
# until FILE ERE: wait (60 s at most) for a line.
until_line() {
	local i
	for ((i = 0; i < 600; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench/reprotect.sh: no '$2' in $1:" >&2
	tail -n 5 "$1" >&2
	return 1
}

free_port
ARB=127.0.0.1:$port
"$ARBITER" --keys "$tmp/keys" --listen "$ARB" --state-dir "$tmp/state" \
	</dev/null >/dev/null 2>"$tmp/arbiter.err" &
pids+=($!)
until_line "$tmp/arbiter.err" 'listening on'

# replica NAME MIB ARGS...: a kv replica, its pid in $rpid.
replica() {
	local name=$1 mib=$2
	shift 2
	"$HV" "$@" --pair "$pair" --node "$name" --arbiter "pvft://$ARB" --key "$KEY" \
		--timeout-ms 1000 --control "$tmp/$name.sock" --memory "$mib" --vif "$vif" \
		--console none --cmdline "ip=10.0.2.15/24 gw=10.0.2.2 port=7000" "$G/kv.elf" \
		</dev/null >/dev/null 2>"$tmp/$name.err" &
	rpid=$!
	pids+=("$rpid")
}

# joiner NAME EPOCH MIB: start a joining backup (its addresses in $mig,
# $log); ask S S: the reply in $reply.
joiner() {
	local name=$1 ep=$2 mib=$3
	free_port
	mig=127.0.0.1:$port
	free_port
	log=127.0.0.1:$port
	replica "$name" "$mib" --role backup --incoming "$mig" --listen "$log" --epoch "$ep"
	until_line "$tmp/$name.err" 'waiting for the domain on'
}
ask() {
	reply=$("$CTL" call "$tmp/$1.sock" \
		"{\"execute\":\"reprotect\",\"arguments\":{\"to\":\"$mig\",\"backup\":\"$log\"}}")
	grep -q '"return"' <<<"$reply" || { echo "reprotect: $reply" >&2; return 1; }
}

# load SECONDS: pvft-kv-client's JSON in $load.
load() {
	load=$("$CLIENT" --server "127.0.0.1:$svc" --clients 8 --duration "$1" --json)
}

for mib in $sizes; do
	pair=$((RANDOM * 32768 + RANDOM + 1))
	"$build/bin/pvft" keygen --arbiter "$pair" "$KEY" "$tmp/keys/$pair.key" >/dev/null
	free_port
	svc=$port
	vif="mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$svc,guest-port=7000"
	free_port
	bport=$port
	replica b "$mib" --role backup --listen "127.0.0.1:$bport"
	until_line "$tmp/b.err" 'waiting for the primary on'
	replica p "$mib" --role primary --peer "127.0.0.1:$bport"
	ppid=$rpid
	until_line "$tmp/p.err" 'paired with backup'
	load 2 # warm
	# Failover, then a new backup at once: kill -9 to protected again.
	t0=${EPOCHREALTIME/./}
	kill -9 "$ppid"
	until_line "$tmp/b.err" 'went live'
	joiner j1 2 "$mib"
	ask b
	until_line "$tmp/b.err" 'protected again'
	t1=$(grep -oE 'protected again.*realtime_us=[0-9]+' "$tmp/b.err" | tail -n 1 | grep -oE '[0-9]+$')
	live=$(grep -oE 'went live.*realtime_us=[0-9]+' "$tmp/b.err" | tail -n 1 | grep -oE '[0-9]+$')
	echo "bench: reprotect-time where=$where mib=$mib kill_to_live_ms=$(((live - t0) / 1000)) kill_to_protected_ms=$(((t1 - t0) / 1000)) checkpoint_bytes=$(json bytes "$reply") rounds=$(json rounds "$reply") pause_ms=$(json pause_ms "$reply")"
	# Alone again (the joined backup killed), then the same load with
	# and without a join.
	j1=$rpid
	kill -9 "$j1"
	until_line "$tmp/b.err" 'running alone'
	load 6
	base_bo=$(json blackout_ms "$load")
	base_p99=$(grep -oE '"p99": ?[0-9]+' <<<"$load" | grep -oE '[0-9]+$')
	joiner j2 3 "$mib"
	(sleep 2 && ask b >"$tmp/join2.out" 2>&1) &
	asker=$!
	load 6
	wait "$asker" || true
	join_bo=$(json blackout_ms "$load")
	join_p99=$(grep -oE '"p99": ?[0-9]+' <<<"$load" | grep -oE '[0-9]+$')
	pause=$(grep -oE 'paused [0-9.]+ ms' "$tmp/b.err" | tail -n 1 | grep -oE '[0-9.]+')
	echo "bench: reprotect-pause where=$where mib=$mib pause_ms=$pause goal_ms=100"
	echo "bench: reprotect-blackout where=$where mib=$mib blackout_ms=$join_bo baseline_blackout_ms=$base_bo ratio=$(ratio "$join_bo" "$base_bo") p99_us=$join_p99 baseline_p99_us=$base_p99 lost=$(json lost "$load") doubled=$(json doubled "$load")"
	# All but the arbiter.
	for p in "${pids[@]:1}"; do kill -9 "$p" 2>/dev/null || true; done
	for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
	pids=("${pids[0]}")
	rm -f "$tmp"/*.sock
done
