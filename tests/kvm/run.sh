#!/usr/bin/env bash
# The integration suite on the KVM backend, always: on /dev/kvm when it is
# usable here, else on nested KVM in a QEMU machine (scripts/kvm-machine.sh).
# If neither works the suite fails, saying why: it is never skipped.
# Last line, as every suite: "N passed, N failed".
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."

if scripts/have-kvm.sh; then
	echo "kvm: /dev/kvm is usable here: running the suite on it"
	BACKEND=kvm exec tests/integration/run.sh "$build"
fi

echo "kvm: no usable /dev/kvm here: running the suite on nested KVM in a QEMU machine"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# The emulated machine froze 3 times in ~25 runs with two vCPUs (none in
# 10 with one, now the default; cause not found). Should it hang, it is
# stopped (kvm-machine.sh prints where any pvft-hv is stuck) and retried
# once, saying so; a failing test is never retried.
for attempt in 1 2; do
	scripts/kvm-machine.sh "$build" "BACKEND=kvm tests/integration/run.sh $build" | tee "$out"
	[ "${PIPESTATUS[0]}" -eq 2 ] || break
	echo "kvm: the QEMU machine hung (attempt $attempt of 2)"
done
if ! grep -qE '^[0-9]+ passed, [0-9]+ failed' "$out"; then
	echo "kvm: FAIL: the suite did not run on nested KVM (see above)"
	echo "0 passed, 1 failed"
	exit 1
fi
! grep -qE '^[0-9]+ passed, [1-9][0-9]* failed' "$out"
