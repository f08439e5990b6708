#!/usr/bin/env bash
# The toolstack end to end on the KVM backend (tests/kvm/run.sh runs it on
# /dev/kvm, or on nested KVM in a QEMU machine): pvft create of a count
# pair with backend=kvm, list, status --json (checked with jq), promote
# midway, the console output of both replicas together exactly 1..K (no
# gap, no duplicate), destroy. The guest counts for a quarter of an hour
# at least: it never ends by itself during the test, whatever the
# machine's speed. Last line: "N
# passed, N failed".
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
PVFT=$top/$build/bin/pvft
[ -x "$PVFT" ] || PVFT=$build/bin/pvft
N=1000000
# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
harness_begin flat
export PVFT_RUN_DIR=$tmp/run
destroy() { "$PVFT" destroy ke2e >/dev/null 2>&1; }
at_exit destroy
check() { # NAME COMMAND...
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}

dir=$PVFT_RUN_DIR/ke2e
# Slow emulation: a generous failure timeout, a guest that prints slowly.
if "$PVFT" create -q "$top/examples/count.cfg" name=ke2e "backend=${KVM_E2E_BACKEND:-kvm}" \
	"cmdline=\"n=$N sleep_us=2000\"" ft_timeout_ms=2000 ft_heartbeat_ms=50 \
	2>"$tmp/create.err"; then
	ok "create (backend=kvm) returns once protected"
else
	bad "create (backend=kvm) returns once protected"
	cat "$tmp/create.err"
	echo "$pass passed, $((fail + 1)) failed"
	exit 1
fi
"$PVFT" list >"$tmp/list" 2>&1
# held is protected too (the guest's output waits on the backup a moment).
check "list shows both replicas protected" \
	test "$(grep -cE 'protected|held' "$tmp/list")" -eq 2
"$PVFT" status --json ke2e >"$tmp/st.json" 2>&1
check "status --json: both on the kvm backend, same epoch, roles" \
	jq -e --arg be "${KVM_E2E_BACKEND:-kvm}" '(.replicas | length) == 2 and
		([.replicas[].backend] | all(. == $be)) and
		([.replicas[].pair.epoch] | unique | length) == 1 and
		([.replicas[].role] | sort) == ["backup", "primary"]' \
		"$tmp/st.json" >/dev/null
primary=$(jq -r '.replicas[] | select(.role == "primary") | .node' "$tmp/st.json")
backup=$(jq -r '.replicas[] | select(.role == "backup") | .node' "$tmp/st.json")
bpid=$(jq -r '.replicas[] | select(.role == "backup") | .pid' "$tmp/st.json")
# lines_in FILE N: until FILE has N count lines (a hang guard of 10 min,
# not a bound on the machine's speed).
lines_in() { wait_file "$1" '^[0-9]+$' "$2" 600; }
# Promote once the guest has printed something.
check "the primary counts 300 lines" lines_in "$dir/$primary.console" 300
check "promote" "$PVFT" promote -t 120 ke2e
"$PVFT" status --json ke2e >"$tmp/st2.json" 2>&1
check "after promote: the old backup is the primary, unprotected" \
	jq -e --arg b "$backup" '.replicas[] | select(.node == $b) |
		.role == "primary" and .state == "unprotected"' "$tmp/st2.json" \
		>/dev/null
check "the old primary said it handed over" \
	grep -q 'handed over after' "$dir/$primary.log"
# The new primary counts on: 100 lines of its own, then what both printed.
check "the new primary counts on, 100 lines" lines_in "$dir/$backup.console" 100
check "the new primary still runs" kill -0 "$bpid"
# Whole lines only: the new primary still writes its console.
cat "$dir/$primary.console" "$dir/$backup.console" >"$tmp/all"
k=$(wc -l <"$tmp/all")
head -n "$k" "$tmp/all" >"$tmp/got"
seq 1 "$k" >"$tmp/want"
cmp -s "$tmp/want" "$tmp/got" || { echo "primary ends: $(tail -n 2 "$dir/$primary.console" | tr "\n" " ") backup starts: $(head -n 2 "$dir/$backup.console" | tr "\n" " ") diff: $(diff "$tmp/want" "$tmp/got" | head -5 | tr "\n" " ")"; }
check "the console, old primary then new: exactly 1..K ($k lines)" \
	cmp -s "$tmp/want" "$tmp/got"
[ -s "$dir/$primary.console" ] && [ -s "$dir/$backup.console" ]
check "both replicas printed part of it" test $? -eq 0
check "destroy" "$PVFT" destroy ke2e
check "nothing left: no domain.json" test ! -e "$dir/domain.json"
summary
