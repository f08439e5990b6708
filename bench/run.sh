#!/usr/bin/env bash
# make bench: each benchmark measures its baseline in the same run and ends
# with one line "bench: NAME key=value ...". Not part of make check; no
# thresholds here, the numbers go to Documentation/performance.md.
set -euo pipefail
build=${1:-build}
HV=$build/bin/pvft-hv
G=$build/guest
runs=${BENCH_RUNS:-3}
# Where this runs: "host", or "nested-kvm-in-qemu-tcg" (see the end).
where=${BENCH_WHERE:-host}

# best NUM-FIELD CMD...: run CMD $runs times, print the smallest value of
# the KEY=VALUE field NUM-FIELD (best of N is the least noisy on 2 cores).
best() {
	local key=$1; shift
	local v best=""
	for _ in $(seq "$runs"); do
		v=$("$@" 2>/dev/null </dev/null | grep -oE "${key}=[0-9]+" | tail -n 1 | cut -d= -f2)
		[ -n "$v" ] || { echo "bench: '$*' printed no $key" >&2; exit 1; }
		if [ -z "$best" ] || [ "$v" -lt "$best" ]; then best=$v; fi
	done
	echo "$best"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

backend=$("$build/bin/pvft-exitbench" -n 10 | grep -oE 'backend=[a-z]+' | cut -d= -f2)
echo "bench: running on the $backend backend ($where)"

# (a) hypercall round trip through pvft-hv vs the bare exit of the same kind.
n=20000
bare=$(best per_exit_ns "$build/bin/pvft-exitbench" -n "$n")
full=$(best per_call_ns "$HV" --cmdline "n=$n" "$G/hcbench.elf")
echo "bench: hypercall backend=$backend where=$where n=$n bare_exit_ns=$bare pvft_hv_ns=$full ratio=$(ratio "$full" "$bare")"

# (b) the compute guest against the native build of the same source.
rounds=${COMPUTE_ROUNDS:-64}
native=$(best time_ns "$build/bin/compute-native" "rounds=$rounds")
guest=$(best time_ns "$HV" --cmdline "rounds=$rounds" "$G/compute.elf")
echo "bench: compute backend=$backend where=$where rounds=$rounds native_ns=$native guest_ns=$guest speed_ratio=$(ratio "$native" "$guest")"

# (c) recording: the same guests with --record against no log, in one run.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# wall_ns CMD...: run CMD, print its wall-clock time as wall_ns=N (bash's
# clock: busybox's date has no %N).
wall_ns() {
	local t0 t1
	t0=${EPOCHREALTIME/./}
	"$@" >/dev/null 2>&1 </dev/null
	t1=${EPOCHREALTIME/./}
	echo "wall_ns=$(((t1 - t0) * 1000))"
}
# mean KEY CMD...: like best, the mean of $runs runs (for chaos, whose
# random sleeps make each run's length differ).
mean() {
	local key=$1; shift
	local v sum=0
	for _ in $(seq "$runs"); do
		v=$("$@" 2>/dev/null </dev/null | grep -oE "${key}=[0-9]+" | tail -n 1 | cut -d= -f2)
		[ -n "$v" ] || { echo "bench: '$*' printed no $key" >&2; exit 1; }
		sum=$((sum + v))
	done
	echo $((sum / runs))
}

# The cost of logging per exit: PVFTOP_time in a loop, one TIME record per
# call, recorded against not recorded.
plain=$(best per_call_ns "$HV" --cmdline "n=$n time" "$G/hcbench.elf")
recorded=$(best per_call_ns "$HV" --record "$logs/hc.log" --cmdline "n=$n time" "$G/hcbench.elf")
echo "bench: record-hypercall backend=$backend where=$where n=$n none_ns=$plain record_ns=$recorded record_ratio=$(ratio "$plain" "$recorded")"

plain=$(best time_ns "$HV" --cmdline "rounds=$rounds" "$G/compute.elf")
recorded=$(best time_ns "$HV" --record "$logs/compute.log" --cmdline "rounds=$rounds" "$G/compute.elf")
# A replay's guest reads the recorded clock: time it from outside.
rec_wall=$(best wall_ns wall_ns "$HV" --record "$logs/compute.log" --cmdline "rounds=$rounds" "$G/compute.elf")
rep_wall=$(best wall_ns wall_ns "$HV" --replay "$logs/compute.log" "$G/compute.elf")
echo "bench: record-compute backend=$backend where=$where rounds=$rounds none_ns=$plain record_ns=$recorded record_ratio=$(ratio "$plain" "$recorded") record_wall_ns=$rec_wall replay_wall_ns=$rep_wall replay_speed=$(ratio "$rec_wall" "$rep_wall")"

# chaos is timer-bound: its wall time, record against none; its replay
# does not wait for timers (the log says when they fired).
crounds=${CHAOS_ROUNDS:-200}
plain=$(mean wall_ns wall_ns "$HV" --cmdline "rounds=$crounds" "$G/chaos.elf")
recorded=$(mean wall_ns wall_ns "$HV" --record "$logs/chaos.log" --cmdline "rounds=$crounds" "$G/chaos.elf")
replayed=$(mean wall_ns wall_ns "$HV" --replay "$logs/chaos.log" "$G/chaos.elf")
echo "bench: record-chaos backend=$backend where=$where rounds=$crounds none_ns=$plain record_ns=$recorded replay_ns=$replayed record_ratio=$(ratio "$plain" "$recorded") replay_speed=$(ratio "$recorded" "$replayed")"

# (d) log bandwidth per workload, next to VMware FT's published figures
# (0.5-1.5 Mbit/s idle, up to 18 Mbit/s for database workloads).
"$HV" --record "$logs/idle.log" --cmdline "idle=${IDLE_SECONDS:-3}" "$G/hello.elf" >/dev/null 2>&1 </dev/null
for w in idle compute chaos; do
	"$build/bin/pvft" log-dump --json --summary "$logs/$w.log" | jq -r --arg w "$w" \
		--arg b "$backend" --arg where "$where" '.summary |
		"bench: log-\($w) backend=\($b) where=\($where) records=\(.records) bytes=\(.bytes) bytes_per_record=\(.bytes_per_record) guest_s=\(.guest_ns / 1e9) mbit_s=\(.rate_mbit_s) vmware_ft_mbit_s=0.5-18"'
done

# (e) the live pair: against the unreplicated domain, TCP, the timeout.
if [ "$where" = host ]; then
	bench/pair.sh "$build"
	bench/kv.sh "$build"
	bench/promote.sh "$build"
	bench/migrate.sh "$build"
	bench/reprotect.sh "$build"
fi

# No /dev/kvm here: measure the KVM backend too, on nested KVM in a QEMU TCG
# machine. Everything there is emulated, so only its ratios mean something.
if [ "$backend" != kvm ] && [ "$where" = host ]; then
	# Best of 5: TCG's timing is noisy (and bimodal with two vCPUs).
	scripts/kvm-machine.sh "$build" \
		"BENCH_WHERE=nested-kvm-in-qemu-tcg BENCH_RUNS=5 COMPUTE_ROUNDS=8 CHAOS_ROUNDS=50 IDLE_SECONDS=2 bench/run.sh $build"
fi
