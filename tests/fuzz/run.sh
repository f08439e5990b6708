#!/usr/bin/env bash
# fuzz: run each libFuzzer target for SECONDS (default 15, make fuzz: 300),
# seeded with the real guest images and one hypercall of each kind. A crash
# or sanitizer report fails it and leaves the input in build/fuzz/.
# Last line: "N passed, N failed".
set -u
build=${1:-build}
seconds=${2:-15}
cd "$(dirname "$0")/../.."
pass=0
fail=0

# Bytes as printf escapes: u64 VALUE (little-endian), u8 VALUE.
u64() {
	local i
	for i in 0 1 2 3 4 5 6 7; do u8 $((($1 >> (8 * i)) & 255)); done
}
u8() {
	printf '\\%03o' "$1"
}

# A fuzz_hypercall.c input: NAME NR ARG0 ARG1 ARG2 POINTER-FLAGS STATE [DATA],
# DATA in printf escapes: the format string is built from escapes on purpose.
# shellcheck disable=SC2059
hypercall_seed() {
	printf "$(u64 "$2")$(u64 "$3")$(u64 "$4")$(u64 "$5")$(u64 0)$(u64 0)$(u8 "$6")$(u8 "$7")${8:-}" \
		>"$corpus/seed-$1"
}

# Numbers from include/pvft/abi.h and Xen's public headers; a flagged
# pointer 0 is the data. States: 1 ports, 2 pending, 4 masked, 8 input.
hypercall_seeds() {
	local self='\360\177' # DOMID_SELF
	hypercall_seed set_trap_table 0 0 0 0 1 0 '\016\0\0\0\0\0\0\0\0\0\040'
	hypercall_seed set_timer_op 15 1 0 0 0 1
	hypercall_seed xen_version 17 0 0 0 0 0
	hypercall_seed console_write 18 0 5 0 4 0 'hello'
	hypercall_seed console_read 18 1 16 0 4 8
	hypercall_seed sched_yield 29 0 0 0 0 3
	hypercall_seed sched_block 29 1 0 0 0 3
	hypercall_seed sched_shutdown 29 2 0 0 2 0 '\007\001\0\0'
	hypercall_seed evtchn_bind_interdomain 32 0 0 0 2 1 "$self"'\0\0\002\0\0\0'
	hypercall_seed evtchn_bind_virq 32 1 0 0 2 0
	hypercall_seed evtchn_close 32 3 0 0 2 3 '\004\0\0\0'
	hypercall_seed evtchn_send 32 4 0 0 2 1 '\003\0\0\0'
	hypercall_seed evtchn_status 32 5 0 0 2 1 "$self"'\0\0\004\0\0\0'
	hypercall_seed evtchn_alloc_unbound 32 6 0 0 2 0 "$self$self"
	hypercall_seed evtchn_unmask 32 9 0 0 2 7 '\004\0\0\0'
	hypercall_seed pvft_time 48 0 0 0 0 0
	hypercall_seed pvft_random 48 1 0 16 2 0
	hypercall_seed pvft_unique_id 48 2 0 0 2 0
}

for target in elf hypercall; do
	bin=$build/bin/pvft-fuzz-$target
	corpus=$build/fuzz/$target-corpus
	mkdir -p "$corpus" "$build/fuzz"
	case $target in
	elf) cp "$build"/guest/*.elf "$corpus/" 2>/dev/null ;;
	hypercall) hypercall_seeds ;;
	esac
	if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
		-artifact_prefix="$build/fuzz/$target-" "$corpus" \
		>"$build/fuzz/$target.log" 2>&1; then
		echo "PASS fuzz $target: $(grep -oE 'Done [0-9]+ runs.*' "$build/fuzz/$target.log" | tail -n 1)"
		pass=$((pass + 1))
	else
		echo "FAIL fuzz $target: see $build/fuzz/$target.log"
		grep -E 'ERROR|SUMMARY|Test unit written' "$build/fuzz/$target.log" | head -n 5
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
