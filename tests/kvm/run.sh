#!/usr/bin/env bash
# The integration and record/replay suites, the toolstack end to end
# (tests/toolstack/kvm-e2e.sh) and the migration suite's guests on the KVM
# backend, always: on
# /dev/kvm when it is usable here, else on nested KVM in a QEMU machine
# (scripts/kvm-machine.sh). Replay's repeated trials run 3 times, not 20,
# on a shorter chaos run: under emulation they are slow, and the host run
# does all 20.
# If neither works the suite fails, saying why: it is never skipped.
# Last line, as every suite: "N passed, N failed".
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."

suites="BACKEND=kvm tests/integration/run.sh $build; BACKEND=kvm REPLAY_TRIALS=3 REPLAY_CHAOS_ROUNDS=20 tests/replay/run.sh $build; tests/toolstack/kvm-e2e.sh $build; BACKEND=kvm MIGRATE_GUESTS_ONLY=1 tests/migrate/run.sh $build"
# The machine is stopped as hung after this many seconds (~2 min is usual).
export KVM_MACHINE_TIMEOUT=${KVM_MACHINE_TIMEOUT:-600}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Both suites' result lines, summed into the one this suite ends with.
total() {
	local p=0 f=0 n=0 a b
	while read -r a _ b _; do
		p=$((p + a)) f=$((f + b)) n=$((n + 1))
	done < <(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out")
	if [ "$n" -ne 4 ]; then
		echo "kvm: FAIL: $n of 4 suites ran to the end (see above)"
		f=$((f + 1))
	fi
	echo "$p passed, $f failed"
	[ "$f" -eq 0 ]
}

if scripts/have-kvm.sh; then
	echo "kvm: /dev/kvm is usable here: running the suites on it"
	bash -c "$suites" | tee "$out"
	total
	exit
fi

echo "kvm: no usable /dev/kvm here: running the suites on nested KVM in a QEMU machine"
# The emulated machine froze 3 times in ~25 runs with two vCPUs (none in
# 10 with one, now the default; cause not found). Should it hang, it is
# stopped (kvm-machine.sh prints where any pvft-hv is stuck) and retried
# once, saying so; a failing test is never retried.
for attempt in 1 2; do
	scripts/kvm-machine.sh "$build" "$suites" | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 2 ] || break
	echo "kvm: the QEMU machine hung (attempt $attempt of 2)"
done
total
