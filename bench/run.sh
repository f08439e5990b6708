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

# No /dev/kvm here: measure the KVM backend too, on nested KVM in a QEMU TCG
# machine. Everything there is emulated, so only its ratios mean something.
if [ "$backend" != kvm ] && [ "$where" = host ]; then
	# Best of 5: TCG's timing is noisy (and bimodal with two vCPUs).
	scripts/kvm-machine.sh "$build" \
		"BENCH_WHERE=nested-kvm-in-qemu-tcg BENCH_RUNS=5 COMPUTE_ROUNDS=8 bench/run.sh $build"
fi
