#!/usr/bin/env bash
# make bench, the networked kv guest (issue "networked guests"; DESIGN.md 5):
# each number next to its baseline measured here, in the same run, over
# the loopback host side (Documentation/net.md):
#   kv-throughput  pvft-kv-client against the kv guest in a pair vs the
#                  unreplicated domain: requests/s (ratio), latency p50/p99,
#                  everything sharing this host's cores
#   kv-2host       the same with each "host" on a core of its own
#                  (taskset): the primary and the clients on core 0, the
#                  backup and the arbiter on core 1; the unreplicated
#                  domain and its clients on core 0 -- two hosts, as a pair
#                  is deployed (DESIGN.md 5's ratio is for that)
#   kv-log         log channel Mbit/s and bytes logged per request
#   kv-failover    kill -9 of the primary under load: the longest gap the
#                  clients saw with no reply (blackout), p50/p99 over
#                  KV_FAILOVER_TRIALS, and every trial's lost and doubly
#                  applied writes (must be 0)
# Every process started is ended by PID. Last line per benchmark:
# "bench: NAME key=value ...".
set -euo pipefail
build=${1:-build}
HV=$build/bin/pvft-hv
CLIENT=$build/bin/pvft-kv-client
G=$build/guest
runs=${BENCH_RUNS:-3}
trials=${KV_FAILOVER_TRIALS:-50}
secs=${KV_SECONDS:-5}
clients=${KV_CLIENTS:-128}
where=${BENCH_WHERE:-host}
timeout_ms=${PAIR_TIMEOUT_MS:-80}
MAC=00:16:3e:70:76:01
GIP=10.0.2.15

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
	local p hex
	while :; do
		p=$((20000 + RANDOM % 30000))
		hex=$(printf '%04X' "$p")
		grep -qE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/udp 2>/dev/null ||
			{ echo "$p"; return; }
	done
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# pct P FILE: the P-th percentile of the numbers in FILE (one per line).
pct() { sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END { i = int((NR * p + 99) / 100); if (i < 1) i = 1; print v[i] }'; }

aport=$(free_port)
mkdir -p "$tmp/arb" "$tmp/arb-plain"
mkdir -p -m 700 "$tmp/arbiter-keys"
# The plaintext runs' arbiter (TLS against plaintext, below).
aport_plain=$(free_port)
"$build/bin/pvft-arbiter" --insecure --listen "127.0.0.1:$aport_plain" --state-dir "$tmp/arb-plain" 2>"$tmp/arb-plain.err" &
pids+=($!)
"$build/bin/pvft-arbiter" --keys "$tmp/arbiter-keys" --listen "127.0.0.1:$aport" --state-dir "$tmp/arb" 2>"$tmp/arb.err" &
pids+=($!)
for _ in $(seq 50); do grep -q listening "$tmp/arb.err" && break; sleep 0.1; done
pair_id=0

kv_args() { # PORT
	echo "--vif mac=$MAC,ip=$GIP,loopback=127.0.0.1:$1 --memory 64"
}
kv_cmdline() { echo "ip=$GIP/24 gw=10.0.2.2 port=$1"; }

wait_listening() { # FILE
	for _ in $(seq 300); do grep -q "kv: listening" "$1" 2>/dev/null && return 0; sleep 0.01; done
	return 1
}

# Where each party runs: "" (anywhere), or "taskset -c N" (kv-2host).
on_primary="" on_backup="" on_client=""

# solo PORT: an unreplicated kv domain; sets spid.
start_solo() {
	# shellcheck disable=SC2046
	$on_primary "$HV" $(kv_args "$1") --cmdline "$(kv_cmdline "$1")" "$G/kv.elf" \
		>"$tmp/s.out" 2>"$tmp/s.err" </dev/null &
	spid=$!
	pids+=("$spid")
	wait_listening "$tmp/s.out"
}

# start_pair PORT: a kv pair; the primary's files $tmp/p.*, the backup's
# $tmp/b.*. Sets ppid, bpid.
start_pair() {
	local bport
	pair_id=$((pair_id + 1))
	arbiter_key "$build/bin/pvft" "$tmp/domain.key" "$tmp/arbiter-keys" "$pair_id"
	bport=$(free_port)
	# shellcheck disable=SC2046
	$on_backup "$HV" --role backup --listen "127.0.0.1:$bport" --pair "$pair_id" --node b \
		--arbiter "pvft://127.0.0.1:$aport" --timeout-ms "$timeout_ms" "${SEC[@]}" \
		$(kv_args "$1") --cmdline "$(kv_cmdline "$1")" "$G/kv.elf" \
		>"$tmp/b.out" 2>"$tmp/b.err" </dev/null &
	bpid=$!
	pids+=("$bpid")
	for _ in $(seq 100); do grep -q "waiting for the primary" "$tmp/b.err" && break; sleep 0.05; done
	# shellcheck disable=SC2046
	$on_primary "$HV" --role primary --peer "127.0.0.1:$bport" --pair "$pair_id" --node a \
		--arbiter "pvft://127.0.0.1:$aport" --timeout-ms "$timeout_ms" "${SEC[@]}" \
		$(kv_args "$1") --cmdline "$(kv_cmdline "$1")" "$G/kv.elf" \
		>"$tmp/p.out" 2>"$tmp/p.err" </dev/null &
	ppid=$!
	pids+=("$ppid")
	wait_listening "$tmp/p.out"
}

stop() { # PID...
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

load() { # PORT SECONDS OUT
	$on_client "$CLIENT" --server "127.0.0.1:$1" --clients "$clients" --duration "$2" --json >"$3" 2>"$3.err"
}

backend=$("$build/bin/pvft-exitbench" -n 10 2>/dev/null | grep -oE 'backend=[a-z]+' | cut -d= -f2)

# throughput NAME: the mean of $runs runs each way, interleaved.
throughput() {
s_rps=0 p_rps=0
for r in $(seq "$runs"); do
	port=$(free_port)
	start_solo "$port"
	load "$port" "$secs" "$tmp/solo.json"
	stop "$spid"
	port=$(free_port)
	start_pair "$port"
	load "$port" "$secs" "$tmp/pair.json"
	stop "$ppid"
	wait "$bpid" 2>/dev/null || true
	for w in solo pair; do
		jq -e '.ok' "$tmp/$w.json" >/dev/null ||
			{ echo "bench: kv $w run $r failed:" >&2; cat "$tmp/$w.json" "$tmp/$w.json.err" >&2; exit 1; }
	done
	s_rps=$(jq -r --argjson a "$s_rps" '.throughput_rps + $a' "$tmp/solo.json")
	p_rps=$(jq -r --argjson a "$p_rps" '.throughput_rps + $a' "$tmp/pair.json")
done
s_p50=$(jq -r '.latency_us.p50' "$tmp/solo.json")
s_p99=$(jq -r '.latency_us.p99' "$tmp/solo.json")
p_p50=$(jq -r '.latency_us.p50' "$tmp/pair.json")
p_p99=$(jq -r '.latency_us.p99' "$tmp/pair.json")
echo "bench: $1 backend=$backend where=$where clients=$clients seconds=$secs runs=$runs solo_rps=$(ratio "$s_rps" "$runs") pair_rps=$(ratio "$p_rps" "$runs") pair_ratio=$(ratio "$p_rps" "$s_rps") solo_p50_us=$s_p50 solo_p99_us=$s_p99 pair_p50_us=$p_p50 pair_p99_us=$p_p99"
}
throughput kv-throughput
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
	on_primary="taskset -c 0" on_backup="taskset -c 1" on_client="taskset -c 0"
	throughput kv-2host
	on_primary="" on_backup="" on_client=""
fi

# The price of TLS: the pair over TLS (the default) against the same pair
# over plaintext (--insecure), interleaved, $runs runs each; and the
# handshake, as the primary times it.
tls_rps=0
plain_rps=0
: >"$tmp/handshakes"
for r in $(seq "$runs"); do
	for mode in plain tls; do
		if [ "$mode" = plain ]; then
			SEC=(--insecure --arbiter "pvft://127.0.0.1:$aport_plain")
		else
			SEC=(--key "$tmp/domain.key")
		fi
		port=$(free_port)
		start_pair "$port"
		load "$port" "$secs" "$tmp/$mode.json"
		stop "$ppid"
		wait "$bpid" 2>/dev/null || true
		jq -e '.ok' "$tmp/$mode.json" >/dev/null ||
			{ echo "bench: kv $mode run $r failed:" >&2; cat "$tmp/$mode.json" "$tmp/$mode.json.err" >&2; exit 1; }
		[ "$mode" = plain ] ||
			grep -oE 'handshake [0-9.]+ ms' "$tmp/p.err" | grep -oE '[0-9.]+' >>"$tmp/handshakes" || true
	done
	plain_rps=$(jq -r --argjson a "$plain_rps" '.throughput_rps + $a' "$tmp/plain.json")
	tls_rps=$(jq -r --argjson a "$tls_rps" '.throughput_rps + $a' "$tmp/tls.json")
done
SEC=(--key "$tmp/domain.key")
pl_p50=$(jq -r '.latency_us.p50' "$tmp/plain.json")
tl_p50=$(jq -r '.latency_us.p50' "$tmp/tls.json")
echo "bench: kv-tls backend=$backend clients=$clients seconds=$secs runs=$runs plain_rps=$(ratio "$plain_rps" "$runs") tls_rps=$(ratio "$tls_rps" "$runs") tls_ratio=$(ratio "$tls_rps" "$plain_rps") plain_p50_us=$pl_p50 tls_p50_us=$tl_p50 p50_ratio=$(ratio "$tl_p50" "$pl_p50") handshake_p50_ms=$(pct 50 "$tmp/handshakes") goal_ratio=0.95"

# The log: the last pair run's primary says how many bytes it sent.
bytes=$(grep -oE '[0-9]+ bytes sent' "$tmp/p.err" | grep -oE '^[0-9]+' | tail -n 1)
mbit=$(grep -oE '\(([0-9.]+) Mbit/s\)' "$tmp/p.err" | tr -d '()' | cut -d' ' -f1 | tail -n 1)
answered=$(jq -r '.answered' "$tmp/pair.json")
echo "bench: kv-log backend=$backend where=$where mbit_s=$mbit bytes=$bytes requests=$answered bytes_per_request=$(ratio "${bytes:-0}" "$answered") vmware_ft_mbit_s=0.5-18"

# Failover: kill -9 of the primary at a random moment under load; the
# client's longest gap with no reply, and its verdict on every write.
: >"$tmp/blackouts"
lost=0 doubled=0 failed=0 done_trials=0
for i in $(seq "$trials"); do
	port=$(free_port)
	start_pair "$port"
	$on_client "$CLIENT" --server "127.0.0.1:$port" --clients 32 --timeout-ms 20 \
		--duration 3 --json >"$tmp/f.json" 2>"$tmp/f.json.err" &
	cpid=$!
	pids+=("$cpid")
	sleep "0.$((5 + RANDOM % 5))$((RANDOM % 10))"
	{ kill -9 "$ppid"; wait "$ppid"; } 2>/dev/null || true
	wait "$cpid" || true
	stop "$bpid"
	{ wait "$ppid"; } 2>/dev/null || true
	grep -q "went live" "$tmp/b.err" || { echo "bench: kv-failover trial $i: the backup did not go live" >&2; failed=$((failed + 1)); continue; }
	if ! jq -e '.ok' "$tmp/f.json" >/dev/null 2>&1; then
		failed=$((failed + 1))
		echo "bench: kv-failover trial $i: the client failed:" >&2
		cat "$tmp/f.json" "$tmp/f.json.err" >&2 || true
	fi
	lost=$((lost + $(jq -r '.lost // 0' "$tmp/f.json" 2>/dev/null || echo 0)))
	doubled=$((doubled + $(jq -r '.doubled // 0' "$tmp/f.json" 2>/dev/null || echo 0)))
	jq -r '.blackout_ms' "$tmp/f.json" >>"$tmp/blackouts" 2>/dev/null || true
	done_trials=$((done_trials + 1))
done
echo "bench: kv-failover backend=$backend where=$where trials=$done_trials failed=$failed timeout_ms=$timeout_ms blackout_p50_ms=$(pct 50 "$tmp/blackouts") blackout_p99_ms=$(pct 99 "$tmp/blackouts") blackout_max_ms=$(pct 100 "$tmp/blackouts") lost_writes=$lost doubled_writes=$doubled"
[ "$failed" -eq 0 ] && [ "$lost" -eq 0 ] && [ "$doubled" -eq 0 ]
