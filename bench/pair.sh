#!/usr/bin/env bash
# make bench, the live pair (DESIGN.md 5): each number next to its baseline
# measured here, in the same run:
#   pair-compute  the compute guest in a pair against unreplicated (ratio)
#   pair-chaos    the chaos guest's wall time, pair against unreplicated
#   pair-log      log channel Mbit/s per workload (VMware FT: 0.5-18)
#   pair-output   output held (produced -> released) against the loopback
#                 TCP round trip (pvft-tcprtt)
#   pair-failover kill -9 / SIGSTOP of the primary -> the backup live,
#                 p50/p99 over FAILOVER_TRIALS, against the timeout
# Every process started is ended by PID. Last line per benchmark:
# "bench: NAME key=value ...".
set -euo pipefail
build=${1:-build}
HV=$build/bin/pvft-hv
G=$build/guest
runs=${BENCH_RUNS:-3}
trials=${FAILOVER_TRIALS:-50}
where=${BENCH_WHERE:-host}
timeout_ms=${PAIR_TIMEOUT_MS:-80}

tmp=$(mktemp -d)
pids=()
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
make_key "$tmp/domain.key"
# The link's credentials: TLS with the domain key, unless a run sets them.
SEC=(--key "$tmp/domain.key")
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}

aport=$(free_port)
mkdir -p "$tmp/arb"
mkdir -p -m 700 "$tmp/arbiter-keys"
"$build/bin/pvft-arbiter" --keys "$tmp/arbiter-keys" --listen "127.0.0.1:$aport" --state-dir "$tmp/arb" 2>"$tmp/arb.err" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/arb.err" && break; sleep 0.1; done
pair_id=0

# pair GUEST CMDLINE [primary args]: run a pair to its end; the primary's
# stdout/stderr in $tmp/p.out/.err, the backup's in $tmp/b.*. Sets bpid.
start_pair() {
	local guest=$1 cmdline=$2 bport; shift 2
	pair_id=$((pair_id + 1))
	arbiter_key "$build/bin/pvft" "$tmp/domain.key" "$tmp/arbiter-keys" "$pair_id"
	bport=$(free_port)
	"$HV" --role backup --listen "127.0.0.1:$bport" --pair "$pair_id" --node b \
		--arbiter "pvft://127.0.0.1:$aport" --timeout-ms "$timeout_ms" "${SEC[@]}" \
		--cmdline "$cmdline" "$G/$guest" >"$tmp/b.out" 2>"$tmp/b.err" </dev/null &
	bpid=$!
	pids+=("$bpid")
	for _ in $(seq 100); do grep -q "waiting for the primary" "$tmp/b.err" && break; sleep 0.05; done
	"$HV" --role primary --peer "127.0.0.1:$bport" --pair "$pair_id" --node a \
		--arbiter "pvft://127.0.0.1:$aport" --timeout-ms "$timeout_ms" "${SEC[@]}" \
		--cmdline "$cmdline" "$@" "$G/$guest" >"$tmp/p.out" 2>"$tmp/p.err" </dev/null &
	ppid=$!
	pids+=("$ppid")
}
pair() {
	start_pair "$@"
	wait "$ppid" || true
	wait "$bpid" || true
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
field() { grep -oE "$1=[0-9]+" "$2" | tail -n 1 | cut -d= -f2; }
wall_ns() {
	local t0 t1
	t0=${EPOCHREALTIME/./}
	"$@" >/dev/null 2>&1 </dev/null
	t1=${EPOCHREALTIME/./}
	echo $(((t1 - t0) * 1000))
}

backend=$("$build/bin/pvft-exitbench" -n 10 2>/dev/null | grep -oE 'backend=[a-z]+' | cut -d= -f2)

# Compute: the guest's own timer, best of $runs each way.
rounds=${COMPUTE_ROUNDS:-64}
solo="" paired=""
for _ in $(seq "$runs"); do
	"$HV" --cmdline "rounds=$rounds" "$G/compute.elf" >"$tmp/s.out" 2>/dev/null </dev/null
	v=$(field time_ns "$tmp/s.out")
	[ -z "$solo" ] || [ "$v" -lt "$solo" ] && solo=$v
	pair compute.elf "rounds=$rounds"
	v=$(field time_ns "$tmp/p.out")
	[ -n "$v" ] || { echo "bench: pair-compute: no result" >&2; cat "$tmp/p.err" "$tmp/b.err" >&2; exit 1; }
	[ -z "$paired" ] || [ "$v" -lt "$paired" ] && paired=$v
done
echo "bench: pair-compute backend=$backend where=$where rounds=$rounds solo_ns=$solo pair_ns=$paired pair_ratio=$(ratio "$solo" "$paired")"
compute_mbit=$(grep -oE '\(([0-9.]+) Mbit/s\)' "$tmp/p.err" | tr -d '()' | cut -d' ' -f1)

# Chaos: timer-bound, so wall time, the mean of $runs.
crounds=${CHAOS_ROUNDS:-200}
s_sum=0 p_sum=0
for _ in $(seq "$runs"); do
	s_sum=$((s_sum + $(wall_ns "$HV" --cmdline "rounds=$crounds" "$G/chaos.elf")))
	t0=${EPOCHREALTIME/./}
	pair chaos.elf "rounds=$crounds"
	p_sum=$((p_sum + (${EPOCHREALTIME/./} - t0) * 1000))
	grep -q "the run matches" "$tmp/b.err" || { echo "bench: pair-chaos: the backup did not match" >&2; exit 1; }
done
echo "bench: pair-chaos backend=$backend where=$where rounds=$crounds solo_ns=$((s_sum / runs)) pair_ns=$((p_sum / runs)) pair_ratio=$(ratio "$s_sum" "$p_sum")"
chaos_mbit=$(grep -oE '\(([0-9.]+) Mbit/s\)' "$tmp/p.err" | tr -d '()' | cut -d' ' -f1)

pair hello.elf "idle=${IDLE_SECONDS:-3}"
idle_mbit=$(grep -oE '\(([0-9.]+) Mbit/s\)' "$tmp/p.err" | tr -d '()' | cut -d' ' -f1)
echo "bench: pair-log backend=$backend where=$where idle_mbit_s=$idle_mbit compute_mbit_s=$compute_mbit chaos_mbit_s=$chaos_mbit vmware_ft_mbit_s=0.5-18"

# The output rule's delay, over many writes: count prints a line per
# iteration between short sleeps.
pair count.elf "n=2000 sleep_us=1000"
held_us=$(grep -oE 'output held [0-9]+ us' "$tmp/p.err" | grep -oE '[0-9]+')
writes=$(grep -oE 'on average over [0-9]+ writes' "$tmp/p.err" | grep -oE '[0-9]+')
rtt=$("$build/bin/pvft-tcprtt" -n 20000 | grep -oE 'rtt_ns=[0-9]+' | cut -d= -f2)
echo "bench: pair-output backend=$backend where=$where writes=$writes held_us=$held_us tcp_rtt_us=$(awk -v r="$rtt" 'BEGIN { printf "%.1f", r / 1000 }') held_per_rtt=$(ratio "$((held_us * 1000))" "$rtt")"

# Failover: kill at a random moment of a count run; kill -> "went live".
# kill -9 closes the socket (the backup sees a reset at once); SIGSTOP
# leaves it open, so that one is found by the timeout.
failover() {
	local how=$1 n=$2 i t0 t1 live ms=()
	for i in $(seq "$n"); do
		start_pair count.elf "n=4000 sleep_us=1000"
		# Paired and printing: the primary's first released line.
		for _ in $(seq 200); do [ -s "$tmp/p.out" ] && break; sleep 0.01; done
		sleep "0.$((RANDOM % 5))$((RANDOM % 10))"
		t0=${EPOCHREALTIME/./}
		kill "-$how" "$ppid" 2>/dev/null || true
		wait "$bpid" || true
		kill -9 "$ppid" 2>/dev/null || true
		{ wait "$ppid"; } 2>/dev/null || true
		[ "$how" != STOP ] || kill -CONT "$ppid" 2>/dev/null || true
		live=$(grep -oE 'went live.*realtime_us=[0-9]+' "$tmp/b.err" | grep -oE '[0-9]+$' || true)
		[ -n "$live" ] || continue # it had finished first
		ms+=("$(((live - t0) / 10))") # in units of 10 us
		if ! tests/pair/seqcheck.sh 4000 "$tmp/p.out" "$tmp/b.out" >/dev/null; then
			echo "bench: pair-failover: output lost in trial $i ($how)" >&2
			exit 1
		fi
	done
	printf '%s\n' "${ms[@]:-}" | grep . | sort -n | awk -v how="$how" -v b="$backend" \
		-v w="$where" -v t="$timeout_ms" -v n="$n" '
		{ v[NR] = $1 / 100 }
		END {
			if (!NR) { print "bench: pair-failover-" how " no failover"; exit }
			p50 = v[int((NR + 1) * 0.50)]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1]
			printf "bench: pair-failover-%s backend=%s where=%s trials=%d failovers=%d p50_ms=%.1f p99_ms=%.1f max_ms=%.1f timeout_ms=%d\n", how, b, w, n, NR, p50, p99, v[NR], t
		}'
}
# (bash reports each killed primary on stderr: not ours to show)
failover KILL "$trials" 2>/dev/null
failover STOP "${STOP_TRIALS:-$trials}" 2>/dev/null
