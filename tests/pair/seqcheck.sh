#!/usr/bin/env bash
# seqcheck.sh EXPECTED_N OLD NEW: the failover output rule, checked on the
# console output of a pair running the count guest with n=EXPECTED_N.
#
# OLD is what the old primary released (its stdout), NEW what the new
# primary (the backup, once live) printed. With E the output of
# `seq 1 EXPECTED_N`, the pair is right iff
#   OLD is a byte prefix of E (nothing released that never happened),
#   NEW is a byte suffix of E (the backup went on where the guest was), and
#   len(OLD) + len(NEW) >= len(E) (nothing lost; an overlap is a tail
#   printed twice, which the rule allows).
# No failover is NEW empty and OLD = E; OLD may be empty too (NEW = E).
#
# Silent with status 0 on success; otherwise one line on stdout saying
# what is wrong (byte offsets from 0, lines from 1), status 1. Bad
# arguments or unreadable files: status 2.
set -u

usage() {
	echo "Usage: seqcheck.sh EXPECTED_N OLD NEW" >&2
	exit 2
}
[ $# -eq 3 ] || usage
[[ $1 =~ ^[0-9]+$ ]] || usage
n=$((10#$1))

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
seq=$tmp/seq
# Copies, so that OLD or NEW may be a pipe or process substitution.
cat -- "$2" >"$tmp/old" && cat -- "$3" >"$tmp/new" || exit 2
seq 1 "$n" >"$seq"
old=$tmp/old
new=$tmp/new
len_e=$(stat -c %s "$seq")
len_o=$(stat -c %s "$old")
len_n=$(stat -c %s "$new")

wrong() {
	echo "$*"
	exit 1
}

# differ A B LEN: do the first LEN bytes of A and B (both at least LEN
# long) differ? If so, $at is the offset of the first that does.
differ() {
	local out
	out=$(LC_ALL=C cmp -n "$3" -- "$1" "$2" 2>&1) && return 1
	[[ $out =~ differ:\ (byte|char)\ ([0-9]+) ]] ||
		{ echo "seqcheck: cmp: $out" >&2; exit 2; }
	at=$((BASH_REMATCH[2] - 1))
}

# line_at OFFSET: the line of the sequence that byte OFFSET is in.
line_at() {
	echo $(($(head -c "$1" "$seq" | wc -l) + 1))
}

# OLD: a prefix of E.
common=$((len_o < len_e ? len_o : len_e))
if differ "$old" "$seq" "$common"; then
	wrong "OLD is not a prefix of the sequence at byte $at" \
		"(line $(line_at "$at") of the sequence)"
fi
[ "$len_o" -le "$len_e" ] ||
	wrong "OLD runs $((len_o - len_e)) bytes past the end of the sequence" \
		"($len_e bytes)"

# NEW: a suffix of E.
[ "$len_n" -le "$len_e" ] ||
	wrong "NEW is not a suffix of the sequence: it has $len_n bytes," \
		"the sequence $len_e"
tail -c "$len_n" "$seq" >"$tmp/tail"
if differ "$new" "$tmp/tail" "$len_n"; then
	s=$((len_e - len_n + at))
	wrong "NEW is not a suffix of the sequence at byte $s (line" \
		"$(line_at "$s") of the sequence, byte $at of NEW)"
fi

# Together: all of E.
if [ $((len_o + len_n)) -lt "$len_e" ]; then
	first=$len_o
	last=$((len_e - len_n - 1))
	wrong "bytes $first..$last of the sequence are missing" \
		"(lines $(line_at "$first")..$(line_at "$last"))"
fi
exit 0
