#!/usr/bin/env bash
# make demo: run each example guest on pvft-hv and show what it prints
# (stdout is the guest's console, stderr pvft-hv's own log lines), record a
# run and replay it, then run a live pair and kill its primary, and, the
# main job, a kv pair made by pvft create, its primary killed under
# client load.
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
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../tests/lib.sh"
make_key "$logs/domain.key"
step "record chaos: every nondeterministic input goes to a log" \
	"$HV" --record "$logs/chaos.log" --cmdline rounds=50 "$G/chaos.elf"
step "replay it: the same output, digests checked, no timers waited for" \
	"$HV" --replay "$logs/chaos.log" --console show "$G/chaos.elf"
step "the log's summary" "$build/bin/pvft" log-dump --summary "$logs/chaos.log"

# The live pair: a primary and a backup on loopback, an arbiter; the
# primary is killed midway and the backup goes on with the same execution.
pids=()
trap '{ for p in "${pids[@]}"; do kill -9 "$p"; done; wait; } 2>/dev/null; rm -rf "$logs"' EXIT
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
pair_demo() {
	local aport bport n=20000 i
	aport=$(free_port) bport=$(free_port)
	mkdir -p "$logs/arbiter"
	arbiter_key "$build/bin/pvft" "$logs/domain.key" "$logs/arbiter-keys" 1 || return 1
	"$build/bin/pvft-arbiter" --keys "$logs/arbiter-keys" --listen "127.0.0.1:$aport" --state-dir "$logs/arbiter" \
		2>"$logs/arbiter.err" &
	pids+=($!)
	"$HV" --role backup --listen "127.0.0.1:$bport" --pair 1 --node backup \
		--arbiter "pvft://127.0.0.1:$aport" --key "$logs/domain.key" \
		--cmdline "n=$n" "$G/count.elf" \
		>"$logs/backup.out" 2>"$logs/backup.err" </dev/null &
	local bpid=$!
	pids+=("$bpid")
	"$HV" --role primary --peer "127.0.0.1:$bport" --pair 1 --node primary \
		--arbiter "pvft://127.0.0.1:$aport" --key "$logs/domain.key" \
		--cmdline "n=$n" "$G/count.elf" \
		>"$logs/primary.out" 2>"$logs/primary.err" </dev/null &
	local ppid=$!
	pids+=("$ppid")
	for i in $(seq 100); do
		[ "$(wc -l <"$logs/primary.out")" -ge 2000 ] && break
		sleep 0.05
	done
	echo "primary released $(wc -l <"$logs/primary.out") lines so far; kill -9 $ppid (the primary)"
	{ kill -9 "$ppid"; wait "$ppid"; } 2>/dev/null
	wait "$bpid"
	echo "backup exit status $?; what it said:"
	grep -E 'asking the arbiter|arbiter gave|went live|pair:' "$logs/backup.err" | sed 's/^/  /'
	echo "old primary released lines 1..$(tail -n 1 "$logs/primary.out"); the new one printed $(head -n 1 "$logs/backup.out")..$(tail -n 1 "$logs/backup.out")"
	tests/pair/seqcheck.sh "$n" "$logs/primary.out" "$logs/backup.out" &&
		echo "the combined console output is 1..$n in order: nothing lost"
}
step "a live pair: count to 20000, kill -9 the primary midway" pair_demo

# The main job: the kv guest as a pair made by pvft create (loopback,
# embedded arbiter, no root), clients that check every write, the
# primary killed under load, a summary and a timeline plot
# (scripts/demo-kv.sh).
step "the main job: a kv pair from pvft create, kill -9 the primary under load" \
	scripts/demo-kv.sh "$build"

# Without /dev/kvm, show the KVM backend too, on nested KVM in QEMU.
if ! scripts/have-kvm.sh; then
	step "hello on the KVM backend (no /dev/kvm here: nested KVM in a QEMU machine)" \
		scripts/kvm-machine.sh "$build" \
		"$HV --backend kvm --cmdline cpuid $G/hello.elf"
fi
