#!/usr/bin/env bash
# Self-tests of seqcheck.sh: streams that keep the failover output rule
# pass, each way of breaking it fails with the line that names it.
# Last line: "N passed, N failed". ONLY=REGEX runs the matching tests.
set -u
SEQCHECK=$(dirname "$0")/seqcheck.sh
N=100 # the sequence: 292 bytes, lines 1..100

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin flat
seq 1 "$N" >"$tmp/e"
: >"$tmp/empty"
len_e=$(stat -c %s "$tmp/e")

# check OLD NEW: run seqcheck on the files; sets rc and out.
check() {
	out=$("$SEQCHECK" "$N" "$1" "$2" 2>&1)
	rc=$?
}
passes() {
	check "$1" "$2"
	[ "$rc" -eq 0 ] && [ -z "$out" ] ||
		{ why="status $rc, want 0; said: $out"; return 1; }
}
# fails OLD NEW ERE: status 1 and one line matching ERE.
fails() {
	check "$1" "$2"
	[ "$rc" -eq 1 ] || { why="status $rc, want 1; said: $out"; return 1; }
	[ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && [[ $out =~ $3 ]] ||
		{ why="said '$out', want /$3/"; return 1; }
}
# The sequence's bytes [FROM, TO) into a file; prints its name.
part() {
	local f=$tmp/part.$1.$2
	tail -c +$(($1 + 1)) "$tmp/e" | head -c $(($2 - $1)) >"$f"
	echo "$f"
}

# --- streams that keep the rule -------------------------------------------

t_no_failover() { passes "$tmp/e" "$tmp/empty"; }
t_old_empty() { passes "$tmp/empty" "$tmp/e"; }
# "1\n".."37\n" | "38\n"..: the failover between two lines.
t_split_at_line() { passes "$(part 0 102)" "$(part 102 "$len_e")"; }
# ... and in the middle of one ("3" | "7\n").
t_split_mid_line() { passes "$(part 0 100)" "$(part 100 "$len_e")"; }
# The new primary printed lines 25..37 again: a duplicated tail.
t_overlap() { passes "$(part 0 102)" "$(part 63 "$len_e")"; }
t_overlap_all() { passes "$tmp/e" "$tmp/e"; }
t_empty_sequence() {
	out=$("$SEQCHECK" 0 "$tmp/empty" "$tmp/empty" 2>&1) && [ -z "$out" ] ||
		{ why="n=0, both empty: status $?, said: $out"; return 1; }
}
# Streams need not be files.
t_pipes() {
	out=$("$SEQCHECK" "$N" <(head -c 150 "$tmp/e") <(tail -c +120 "$tmp/e") 2>&1) ||
		{ why="status $?, said: $out"; return 1; }
}
t_large() {
	seq 1 200000 >"$tmp/big"
	head -c 700000 "$tmp/big" >"$tmp/big.old"
	tail -c +650001 "$tmp/big" >"$tmp/big.new"
	out=$("$SEQCHECK" 200000 "$tmp/big.old" "$tmp/big.new" 2>&1) ||
		{ why="status $?, said: $out"; return 1; }
}

# --- streams that break it -------------------------------------------------

t_gap() {
	fails "$(part 0 102)" "$(part 150 "$len_e")" \
		'^bytes 102\.\.149 of the sequence are missing \(lines 38\.\.53\)$'
}
t_last_byte_lost() {
	fails "$(part 0 $((len_e - 1)))" "$tmp/empty" \
		"^bytes $((len_e - 1))\.\.$((len_e - 1)) of the sequence are missing"
}
t_both_empty() {
	fails "$tmp/empty" "$tmp/empty" \
		"^bytes 0\.\.$((len_e - 1)) of the sequence are missing \(lines 1\.\.100\)$"
}
# Line 37 released as "73": output that never happened.
t_old_wrong() {
	sed 's/^37$/73/' "$tmp/e" >"$tmp/bad"
	fails "$tmp/bad" "$tmp/empty" \
		'^OLD is not a prefix of the sequence at byte 99 \(line 37'
}
t_old_extra_line() {
	{ cat "$tmp/e"; echo 101; } >"$tmp/long"
	fails "$tmp/long" "$tmp/empty" '^OLD runs 4 bytes past the end'
}
t_old_not_from_start() {
	fails "$(part 3 102)" "$(part 102 "$len_e")" \
		'^OLD is not a prefix of the sequence at byte 0 '
}
t_new_wrong() {
	sed 's/^90$/09/' "$(part 102 "$len_e")" >"$tmp/bad"
	fails "$(part 0 102)" "$tmp/bad" \
		'^NEW is not a suffix of the sequence at byte 258 \(line 90 of the sequence, byte 156 of NEW\)$'
}
# The backup went live without the last line: NEW stops short of the end.
t_new_short() {
	fails "$(part 0 102)" "$(part 102 $((len_e - 4)))" \
		'^NEW is not a suffix of the sequence at byte'
}
t_new_extra_line() {
	{ cat "$(part 102 "$len_e")"; echo 101; } >"$tmp/long"
	fails "$(part 0 102)" "$tmp/long" '^NEW is not a suffix of the sequence at byte'
}
t_new_too_long() {
	{ cat "$tmp/e"; echo 101; } >"$tmp/long"
	fails "$tmp/empty" "$tmp/long" \
		"^NEW is not a suffix of the sequence: it has $((len_e + 4)) bytes"
}
t_bad_arguments() {
	local r
	"$SEQCHECK" 10 "$tmp/e" >/dev/null 2>&1
	r=$?
	[ "$r" -eq 2 ] || { why="two arguments: status $r, want 2"; return 1; }
	"$SEQCHECK" ten "$tmp/e" "$tmp/e" >/dev/null 2>&1
	r=$?
	[ "$r" -eq 2 ] || { why="N=ten: status $r, want 2"; return 1; }
	"$SEQCHECK" 10 "$tmp/nonesuch" "$tmp/e" >/dev/null 2>&1
	r=$?
	[ "$r" -eq 2 ] || { why="missing OLD: status $r, want 2"; return 1; }
}

run t_no_failover
run t_old_empty
run t_split_at_line
run t_split_mid_line
run t_overlap
run t_overlap_all
run t_empty_sequence
run t_pipes
run t_large
run t_gap
run t_last_byte_lost
run t_both_empty
run t_old_wrong
run t_old_extra_line
run t_old_not_from_start
run t_new_wrong
run t_new_short
run t_new_extra_line
run t_new_too_long
run t_bad_arguments

summary
