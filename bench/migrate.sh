#!/usr/bin/env bash
# make bench, live state transfer (hv/migrate.h): each number next to its
# baseline measured here, in the same run:
#   migrate-rate   the stream's rate moving a 256 MiB guest whose memory
#                  is full (no zero pages), over TLS as the product runs,
#                  against raw loopback TCP (pvft-tcprtt -t): ratio
#   migrate-pause  the pause the guest sees (its last exit on the source
#                  to the destination's word that it runs), with the rounds
#                  and the dirty rate beside it: 64 MiB, 256 MiB and 1 GiB
#                  guests, idle (hello idle) and under kv load
#                  (pvft-kv-client against the kv guest)
#   migrate-zero   zero-page detection on a mostly idle guest: stream
#                  bytes / memory size
# Every process started is ended by PID. Last line per benchmark:
# "bench: NAME key=value ...".
set -euo pipefail
build=${1:-build}
HV=$build/bin/pvft-hv
CTL=$build/bin/pvft-ctlclient
CLIENT=$build/bin/pvft-kv-client
G=$build/guest
where=${BENCH_WHERE:-host}
sizes=${MIGRATE_SIZES:-64 256 1024}
MAC=00:16:3e:70:76:01
GIP=10.0.2.15

tmp=$(mktemp -d)
pids=()
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
make_key "$tmp/domain.key"
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# json KEY: a number from $reply.
json() { grep -oE "\"$1\": ?[0-9.]+" <<<"$reply" | head -n 1 | grep -oE '[0-9.]+$'; }

backend=$("$build/bin/pvft-exitbench" -n 10 | grep -oE 'backend=[a-z]+' | cut -d= -f2)

# migrate MIB GUEST CMDLINE [vif args]: start a source and a destination,
# move the domain; the control socket's reply in $reply.
migrate() {
	local mib=$1 guest=$2 cmdline=$3 mport spid dpid i
	shift 3
	free_port # tests/lib.sh's: into $port
	mport=$port
	"$HV" --incoming "127.0.0.1:$mport" --key "$tmp/domain.key" --memory "$mib" "$@" \
		--console none "$G/$guest.elf" >"$tmp/d.out" 2>"$tmp/d.err" </dev/null &
	dpid=$!
	pids+=("$dpid")
	"$HV" --key "$tmp/domain.key" --memory "$mib" --control "$tmp/s.sock" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf" >"$tmp/s.out" 2>"$tmp/s.err" </dev/null &
	spid=$!
	pids+=("$spid")
	for i in $(seq 600); do
		grep -q 'waiting for the domain' "$tmp/d.err" && [ -S "$tmp/s.sock" ] &&
			grep -qE "${READY:-.}" "$tmp/s.out" && break
		sleep 0.05
	done
	[ -n "${LOAD:-}" ] && $LOAD
	reply=$("$CTL" call "$tmp/s.sock" "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"127.0.0.1:$mport\"}}")
	[[ $reply == *'"return"'* ]] || { echo "bench: migrate: $reply" >&2; tail -n 3 "$tmp/s.err" "$tmp/d.err" >&2; exit 1; }
	wait "$spid" || true
	kill "$dpid" 2>/dev/null || true
	wait "$dpid" 2>/dev/null || true
	rm -f "$tmp/s.sock"
}

# (1) the stream's rate against raw TCP, 256 MiB of non-zero pages.
tcp=$("$build/bin/pvft-tcprtt" -t 1024 | grep -oE 'mbit_s=[0-9]+' | cut -d= -f2)
READY='filled' migrate 256 hello "fill=240 idle=120"
rate=$(json mbit_s)
echo "bench: migrate-rate backend=$backend where=$where memory_mib=256 tcp_mbit_s=$tcp migrate_mbit_s=$rate bytes=$(json bytes) total_ms=$(json total_ms) ratio=$(ratio "$rate" "$tcp")"

# (2) the pause, idle and under load.
kv_load() {
	"$CLIENT" --server "127.0.0.1:$svc" --clients 16 --duration 8 --json >"$tmp/kv.json" 2>"$tmp/kv.err" &
	kvpid=$!
	pids+=("$kvpid")
	sleep 2
}
for mib in $sizes; do
	READY='hello:' migrate "$mib" hello "idle=120"
	echo "bench: migrate-pause backend=$backend where=$where memory_mib=$mib load=idle pause_ms=$(json pause_ms) rounds=$(json rounds) dirty_pps=$(json dirty_pps) total_ms=$(json total_ms) bytes=$(json bytes)"
	if [ "$mib" = 256 ]; then
		echo "bench: migrate-zero backend=$backend where=$where memory_mib=$mib bytes=$(json bytes) zero_pages=$(json zero_pages) pages=$(json pages) bytes_per_memory=$(ratio "$(json bytes)" $((mib << 20)))"
	fi
	free_port
	svc=$port
	LOAD=kv_load READY='kv: listening' migrate "$mib" kv "ip=$GIP/24 gw=10.0.2.2 port=7000" \
		--vif "mac=$MAC,ip=$GIP,loopback=127.0.0.1:$svc,guest-port=7000"
	wait "$kvpid" || true
	echo "bench: migrate-pause backend=$backend where=$where memory_mib=$mib load=kv pause_ms=$(json pause_ms) rounds=$(json rounds) dirty_pps=$(json dirty_pps) total_ms=$(json total_ms) bytes=$(json bytes) kv_lost=$(grep -oE '"lost": ?[0-9]+' "$tmp/kv.json" | grep -oE '[0-9]+$') kv_doubled=$(grep -oE '"doubled": ?[0-9]+' "$tmp/kv.json" | grep -oE '[0-9]+$')"
done
