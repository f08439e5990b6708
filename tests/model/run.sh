#!/usr/bin/env bash
# model: the pair protocol with re-protection (tests/model/reprotect.pml,
# described in tests/model/README.md) checked exhaustively by spin.
#   - the model, at three sets of bounds: pan must search every state
#     and find no error (its search not cut short by depth or memory);
#   - mutants, each a bug the properties claim to exclude: pan must find
#     an error in each (the model can catch what it claims to);
#   - witnesses: scenarios at the edge of the bounds that pan must reach
#     (the bounds do not leave out what the properties are about).
# Nothing depends on timing: each check is one exhaustive search. pan is
# built in the suite's temporary directory. Last line: "N passed, N failed".
set -u
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
LOG_GLOBS=('pan.sum' 'cc.err')
LOG_LINES=12

MODEL=$(cd "$(dirname "$0")" && pwd)/reprotect.pml
CC=${CC:-cc}
# pan's memory limit, MB: an exhaustive search that needs more fails.
MEMLIM=${MEMLIM:-3072}

# pan_run OPT DEFINE...: spin -a and pan (cc OPT) with the -D macros
# given, in $t; pan's report in $t/pan.out, its summary in $states and
# $secs.
pan_run() {
	local d opt=$1
	shift
	(
		cd "$t" || exit 1
		spin "$@" -a "$MODEL" >spin.out 2>&1 || { cat spin.out >cc.err; exit 1; }
		"$CC" "$opt" -w -DSAFETY -DCOLLAPSE -DMEMLIM="$MEMLIM" -o pan pan.c 2>cc.err || exit 1
		./pan -n -m100000 >pan.out 2>&1
		grep -E 'violated|error|Warning|MEMLIM|memory|states, stored|elapsed' pan.out >pan.sum
		exit 0
	) || { why="spin/cc failed ($*)"; return 1; }
	d=$t/pan.out
	states=$(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' "$d" | head -n 1)
	secs=$(sed -n 's/^pan: elapsed time \([0-9.e+]*\) seconds.*/\1/p' "$d" | head -n 1)
	return 0
}

# verify DEFINE...: the model with these bounds has no error, and pan
# searched all of it.
verify() {
	pan_run -O2 "$@" || return 1
	grep -qE 'errors: 0$' "$t/pan.out" ||
		{ why="pan found an error: $(grep -m 1 -E 'violated|invalid end|errors:' "$t/pan.out")"; return 1; }
	if grep -qE 'max search depth too small|MEMLIM|out of memory|Search not completed' "$t/pan.out"; then
		why="search incomplete: $(grep -m 1 -E 'depth too small|MEMLIM|out of memory|not completed' "$t/pan.out")"
		return 1
	fi
	note="${states:-?} states, ${secs:-?} s, errors: 0"
}

# finds WHAT DEFINE...: pan finds an error (WHAT: the mutant's bug, or
# the witness's scenario).
finds() {
	local what=$1
	shift
	# -O0: these searches stop at their first error, a few seconds at
	# most; compiling pan.c with -O2 would take longer than they do.
	pan_run -O0 "$@" || return 1
	grep -qE 'errors: [1-9][0-9]*$' "$t/pan.out" ||
		{ why="pan found no error: $what is not caught"; return 1; }
	grep -q 'assertion violated' "$t/pan.out" ||
		{ why="pan's error is no assertion: $(grep -m 1 -E 'error' "$t/pan.out")"; return 1; }
	local a
	a=$(grep -m 1 -oE 'assertion violated .*\(at depth' "$t/pan.out" | sed 's/ (at depth$//')
	[ ${#a} -gt 90 ] && a="${a:0:87}..."
	note="$what: pan: ${a:-an error}, ${states:-?} states"
}

# The model: epochs 1..3 (two joins), one record per epoch.
t_model_epochs3() { verify -DMAXE=3 -DMAXREC=1; }
# Epochs 1..2, two records (and their output) per epoch.
t_model_epochs2_records2() { verify -DMAXE=2 -DMAXREC=2; }
# Epochs 1..2 with a partition (one replica cut off, then healed; the
# drops subsume it, but it is checked as a fault of its own).
t_model_epochs2_partition() { verify -DMAXE=2 -DMAXREC=1 -DNPART=1; }

# Mutants: each must be caught.
t_mutant_live_without_go() { finds "J going live without GO" -DMUT_NOGO; }
t_mutant_alone_after_go() { finds "S going on alone after GO without ACQUIRE(E+1)" -DMUT_ALONE_AFTER_GO; }
t_mutant_advance_by_non_owner() { finds "ADVANCE by a node not owning (P,E)" -DMUT_ADVANCE_ANYONE; }
t_mutant_release_before_ack() { finds "output released before its ACK" -DMUT_EARLY_RELEASE; }
t_mutant_no_test_and_set() { finds "ACQUIRE granted to every asker" -DMUT_NO_TAS; }

# Witnesses: each must be reached.
t_reach_j2_live() { finds "J2 live at epoch 3" -DREACH=1; }
t_reach_survivor_wins_after_go() { finds "a survivor winning ACQUIRE(3) after GO" -DREACH=2; }
t_reach_old_epoch_denied() { finds "an old replica denied" -DREACH=3; }
t_reach_release_epoch3() { finds "output released at epoch 3" -DREACH=4; }
t_reach_advance_refused() { finds "ADVANCE refused to a non-owner" -DREACH=5; }

if ! command -v spin >/dev/null 2>&1; then
	bad "spin is not installed (make deps installs the Debian package spin)"
	summary
	exit
fi
start=$(now_ms)
run_all
echo "    (spin $(spin -V | sed -n 's/^Spin Version \([^ ]*\).*/\1/p'), $(($(now_ms) - start)) ms in all)"
summary
