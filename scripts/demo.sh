#!/usr/bin/env bash
# make demo: until the replicated pair exists, run each example guest on
# pvft-hv and show what it prints (stdout is the guest's console, stderr
# pvft-hv's own log lines), then record a run and replay it.
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
G=$build/guest

step() {
	local title=$1; shift
	printf '\n\033[1m== %s\033[0m\n$ %s\n' "$title" "$*"
	"$@" </dev/null
	printf -- '-> exit status %d\n' $?
}

step "hello: the smallest PV guest" "$HV" --cmdline "demo run" "$G/hello.elf"
step "compute: SHA-256 chain in the guest..." "$HV" --cmdline rounds=16 "$G/compute.elf"
step "...and the same source built natively" "$build/bin/compute-native" rounds=16
step "chaos: time, randomness, ids, timers, events" "$HV" --cmdline rounds=100 "$G/chaos.elf"
hostile() {
	"$HV" --quiet "$G/hostile.elf" | grep -E '^hostile: (ok xen_version XENVER_version|FAIL|[0-9]+ checks)'
	return "${PIPESTATUS[0]}"
}
step "hostile: bad arguments to every hypercall, each refused (summary)" hostile
step "a guest fault: the guest's own handler reports it..." \
	"$HV" --cmdline fault=null "$G/hostile.elf"
step "...or, without one, pvft-hv does, in one line" \
	"$HV" --cmdline "fault=null notraps" "$G/hostile.elf"

# Record/replay: the same run twice, bit for bit, from its log.
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
step "record chaos: every nondeterministic input goes to a log" \
	"$HV" --record "$logs/chaos.log" --cmdline rounds=50 "$G/chaos.elf"
step "replay it: the same output, digests checked, no timers waited for" \
	"$HV" --replay "$logs/chaos.log" --console show "$G/chaos.elf"
step "the log's summary" "$build/bin/pvft" log-dump --summary "$logs/chaos.log"

# Without /dev/kvm, show the KVM backend too, on nested KVM in QEMU.
if ! scripts/have-kvm.sh; then
	step "hello on the KVM backend (no /dev/kvm here: nested KVM in a QEMU machine)" \
		scripts/kvm-machine.sh "$build" \
		"$HV --backend kvm --cmdline cpuid $G/hello.elf"
fi
