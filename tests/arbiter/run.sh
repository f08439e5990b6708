#!/usr/bin/env bash
# Arbiter tests: pvft-arbiter, plaintext (--insecure) and with keys
# (--keys), and real etcd over https with client certificates and etcd
# auth (one member, then three), asked through `pvft arbiter`, through
# tests/arbiter/probe.c (built here against build/: the client library
# with credentials, and raw, pipelined, slow and hostile connections) and
# through raw lines on /dev/tcp. Everything is on 127.0.0.0/8, on ports
# found free at run time. Every process a test starts is ended by its PID,
# and the temporary directory removed, also on failure. No test measures
# time: every wait has a hang guard. Last line: "N passed, N failed".
# ONLY=REGEX runs the matching tests (they share one pvft-arbiter of each
# kind, started by the first that needs it).
set -u
build=${1:-build}
PVFT=$build/bin/pvft
ARBITER=$build/bin/pvft-arbiter
T=20 # seconds: a hang is a failure, never a stuck make check

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin flat # the processes' files in $tmp: t=$tmp
LOG_GLOBS=('*.err' '*.log')
LOG_LINES=3

# --- helpers ----------------------------------------------------------------

# pa NAME ARGS...: pvft arbiter ARGS; sets rc and $tmp/NAME.out, .err.
pa() {
	local name=$1; shift
	timeout -k 5 "$T" "$PVFT" arbiter "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$? last=$name
}
# pa_retry NAME ARGS...: as pa, again while unreachable (exit 3), 20 times
# at most: what a replica does while etcd elects a leader.
pa_retry() {
	local i
	for i in $(seq 20); do
		pa "$@"
		[ "$rc" -ne 3 ] && return
		sleep 0.5
	done
}

# start_arbiter NAME DIR [PORT [ARGS...]]: pvft-arbiter in the background
# (port 0: the kernel picks), --insecure unless ARGS are given; sets
# arb_pid and arb_port once it listens.
start_arbiter() {
	local name=$1 dir=$2 port=${3:-0} i
	shift 2
	[ $# -gt 0 ] && shift
	[ $# -eq 0 ] && set -- --insecure
	"$ARBITER" --listen "127.0.0.1:$port" --state-dir "$dir" "$@" 2>"$tmp/$name.log" &
	arb_pid=$!
	track "$arb_pid"
	for i in $(seq 100); do
		arb_port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/$name.log" | grep -oE '[0-9]+$')
		[ -n "$arb_port" ] && return 0
		kill -0 "$arb_pid" 2>/dev/null || break
		sleep 0.05
	done
	why="pvft-arbiter $name did not start: $(tail -n 1 "$tmp/$name.log")"
	return 1
}

# The pvft-arbiter most tests share.
main_up() {
	[ -n "${main_pid:-}" ] && return 0
	mkdir -p "$tmp/state"
	# Every client here comes from 127.0.0.1: the per-source cap would
	# refuse the racers of t_concurrent_acquirers (t_per_source_cap has
	# its own arbiter).
	start_arbiter main "$tmp/state" 0 --insecure --max-per-source 256 || return 1
	main_pid=$arb_pid
	main_port=$arb_port
	URL=pvft://127.0.0.1:$main_port
}

# session PORT NAME N LINES...: one connection; sends each line (printf
# escapes allowed), then reads N replies (3 s each at most) into
# $tmp/NAME.out. $eof says whether the server closed the connection then.
session() {
	local port=$1 name=$2 n=$3 fd line l i; shift 3
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || { why="$name: cannot connect"; return 1; }
	for l in "$@"; do printf "$l\n" >&"$fd"; done
	: >"$tmp/$name.out"
	for ((i = 0; i < n; i++)); do
		IFS= read -r -t 3 line <&"$fd" || break
		printf '%s\n' "$line" >>"$tmp/$name.out"
	done 2>/dev/null
	IFS= read -r -t 0.5 line <&"$fd" 2>/dev/null
	[ $? -eq 1 ] && [ -z "$line" ] && eof=yes || eof=no
	exec {fd}<&-
	return 0
}

# Is the daemon alive and answering?
still_answers() {
	kill -0 "$main_pid" 2>/dev/null || { why="pvft-arbiter died"; return 1; }
	pa alive query --timeout-ms 2000 "$URL" 1 1
	rc_is 0 "pvft-arbiter no longer answers" && out_is alive "owned by nodeA"
}

# The suite's client (tests/arbiter/probe.c), built once, against build/.
PROBE=$tmp/probe
probe_built=""
probe_up() {
	[ -n "$probe_built" ] && return 0
	gcc -O1 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
		-iquote arbiter -iquote lib tests/arbiter/probe.c \
		"$build/arbiter/libarbiter.a" "$build/lib/libpvft.a" \
		-lgnutls -lcurl -ljson-c -o "$PROBE" 2>"$tmp/probe-build.log" ||
		{ why="tests/arbiter/probe.c does not build: $(head -n 3 "$tmp/probe-build.log")"; return 1; }
	probe_built=yes
}
# pr NAME ARGS...: the probe; sets rc and $tmp/NAME.out, .err.
pr() {
	local name=$1; shift
	timeout -k 5 60 "$PROBE" "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$? last=$name
}
# pr_retry NAME ARGS...: as pr, again while unreachable (exit 3), 20 times
# at most: what a replica does while etcd elects a leader.
pr_retry() {
	local i
	for i in $(seq 20); do
		pr "$@"
		[ "$rc" -ne 3 ] && return
		sleep 0.5
	done
}
# Nothing of the protocol in NAME's output: no reply word at all.
no_protocol() {
	! grep -qE 'GRANTED|DENIED|OWNER|FREE|ERROR' "$tmp/$1.out" ||
		{ why="$1 got protocol bytes: $(head -c 200 "$tmp/$1.out")"; return 1; }
}

# Keys: a domain's key (as `pvft keygen` writes it), another domain's,
# and the arbiter's key directory holding pair 7's derived key only.
keys_made=""
keys_up() {
	[ -n "$keys_made" ] && return 0
	probe_up || return 1
	mkdir -p "$tmp/keys" && chmod 700 "$tmp/keys"
	(umask 077
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/dk.key"
		echo >>"$tmp/dk.key"
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/other.key"
		echo >>"$tmp/other.key")
	"$PROBE" derive "$tmp/dk.key" 7 "$tmp/keys/7.key" ||
		{ why="probe derive failed"; return 1; }
	keys_made=yes
}

# The keyed pvft-arbiter the key tests share.
keyed_up() {
	[ -n "${keyed_pid:-}" ] && return 0
	keys_up || return 1
	mkdir -p "$tmp/kstate"
	start_arbiter keyed "$tmp/kstate" 0 --keys "$tmp/keys" || return 1
	keyed_pid=$arb_pid
	keyed_port=$arb_port
	KURL=pvft://127.0.0.1:$keyed_port
}

# --- pvft-arbiter: the test-and-set -----------------------------------------

t_grant() {
	main_up || return 1
	pa grant acquire "$URL" 1 1 nodeA
	rc_is 0 && out_is grant "granted to nodeA" &&
		[ "$(cat "$tmp/state/1-1")" = nodeA ] || { why=${why:-"state file 1-1 is not 'nodeA'"}; return 1; }
}

t_idempotent_reacquire() {
	main_up || return 1
	pa again acquire "$URL" 1 1 nodeA
	rc_is 0 && out_is again "granted to nodeA"
}

t_deny_names_owner() {
	main_up || return 1
	pa deny acquire "$URL" 1 1 nodeB
	rc_is 1 && out_is deny "denied: owned by nodeA"
}

t_query_owner_and_free() {
	main_up || return 1
	pa q1 query "$URL" 1 1 && rc_is 0 && out_is q1 "owned by nodeA" || return 1
	pa q2 query "$URL" 1 99 && rc_is 0 && out_is q2 "free" || return 1
	pa q3 --json query "$URL" 1 1 && rc_is 0 || return 1
	[ -s "$tmp/q3.out" ] && jq -e '.answer == "owned" and .owner == "nodeA" and .pair == 1 and .epoch == 1' \
		"$tmp/q3.out" >/dev/null || { why="query --json: $(cat "$tmp/q3.out")"; return 1; }
	pa q4 acquire --json "$URL" 1 1 nodeB && rc_is 1 || return 1
	[ -s "$tmp/q4.out" ] && jq -e '.answer == "denied" and .owner == "nodeA" and .node == "nodeB"' \
		"$tmp/q4.out" >/dev/null || { why="acquire --json: $(cat "$tmp/q4.out")"; return 1; }
}

t_other_epoch_is_other_key() {
	main_up || return 1
	pa e2 acquire "$URL" 1 2 nodeB && rc_is 0 && out_is e2 "granted to nodeB" || return 1
	pa e1 query "$URL" 1 1 && rc_is 0 && out_is e1 "owned by nodeA" || return 1
	pa p2 acquire "$URL" 2 1 nodeC && rc_is 0 && out_is p2 "granted to nodeC"
}

t_logs_each_grant_and_denial() {
	main_up || return 1
	grep -qE 'pair 1 epoch 1: granted to nodeA$' "$tmp/main.log" &&
		grep -qE 'pair 1 epoch 1: granted to nodeA \(again\)$' "$tmp/main.log" &&
		grep -qE 'pair 1 epoch 1: denied to nodeB: owned by nodeA$' "$tmp/main.log" ||
		{ why="the log lacks a grant or denial line"; return 1; }
}

# A grant is on disk before its reply: killed outright and restarted, the
# arbiter still denies the key to everyone else.
t_grant_survives_kill9() {
	local dir=$tmp/state-k9 p
	mkdir -p "$dir"
	start_arbiter k9 "$dir" || return 1
	p=$arb_port
	pa k9a acquire "pvft://127.0.0.1:$p" 5 5 nodeA && rc_is 0 && out_is k9a "granted to nodeA" || return 1
	kill -9 "$arb_pid"
	wait "$arb_pid" 2>/dev/null
	start_arbiter k9-again "$dir" "$p" || return 1
	pa k9b acquire "pvft://127.0.0.1:$p" 5 5 nodeB && rc_is 1 && out_is k9b "denied: owned by nodeA" || return 1
	pa k9c acquire "pvft://127.0.0.1:$p" 5 5 nodeA && rc_is 0 && out_is k9c "granted to nodeA" || return 1
	kill -TERM "$arb_pid"
	wait "$arb_pid"
	rc=$? last=k9-again
	rc_is 0 "after SIGTERM"
}

# Each malformed line gets one ERROR, the connection stays open, and the
# next good line on it is answered.
t_malformed_lines() {
	local want
	main_up || return 1
	session "$main_port" bad 13 "" "FOO 1 2" "acquire 1 1 a" "QUERY x 1" \
		"QUERY 1 18446744073709551616" "QUERY 01 1" "ACQUIRE 1 1" \
		"ACQUIRE 1 1 a/b" "ACQUIRE 1 1 $(printf 'n%.0s' $(seq 64))" \
		'\x00\x01\xfe\xff' '\x7f\x80junk\x1b[0m' "QUERY  1 1" "QUERY 1 1"
	want="ERROR empty line
ERROR unknown verb 'FOO'
ERROR unknown verb 'acquire'
ERROR bad PAIR: want a decimal u64
ERROR bad EPOCH: want a decimal u64
ERROR bad PAIR: want a decimal u64
ERROR ACQUIRE takes PAIR EPOCH NODE
ERROR bad NODE: want 1 to 63 of [A-Za-z0-9._-]
ERROR bad NODE: want 1 to 63 of [A-Za-z0-9._-]
ERROR not printable ASCII
ERROR not printable ASCII
ERROR fields must be separated by exactly one space
OWNER nodeA"
	[ "$(cat "$tmp/bad.out")" = "$want" ] ||
		{ why="replies: $(tr '\n' '|' <"$tmp/bad.out")"; return 1; }
	[ "$eof" = no ] || { why="the connection was closed"; return 1; }
	still_answers
}

# A line over 256 bytes: ERROR, then the connection is closed. A line of
# exactly 256 bytes (newline included) is a line.
t_oversized_line() {
	local long
	main_up || return 1
	long="QUERY 1 1$(printf ' %.0s' $(seq 246))"
	session "$main_port" max 1 "$long"
	[ "$(cat "$tmp/max.out")" = "ERROR fields must be separated by exactly one space" ] ||
		{ why="a 256-byte line: $(cat "$tmp/max.out")"; return 1; }
	session "$main_port" long 2 "$long " "QUERY 1 1"
	[ "$(cat "$tmp/long.out")" = "ERROR line too long" ] ||
		{ why="a 257-byte line: $(tr '\n' '|' <"$tmp/long.out")"; return 1; }
	[ "$eof" = yes ] || { why="the connection stayed open"; return 1; }
	still_answers
}

# Several requests on one connection, sent before any reply is read.
t_pipelined_requests() {
	main_up || return 1
	session "$main_port" pipe 4 "QUERY 1 1\r" "ACQUIRE 3 1 nodeP" "ACQUIRE 3 1 nodeQ" "QUERY 3 1"
	[ "$(cat "$tmp/pipe.out")" = "OWNER nodeA
GRANTED nodeP
DENIED nodeP
OWNER nodeP" ] || { why="replies: $(tr '\n' '|' <"$tmp/pipe.out")"; return 1; }
}

# 50 nodes ask for the same key at once: exactly one wins, every other is
# told who did.
t_concurrent_acquirers() {
	local i winner n_granted n_denied
	local cpids=()
	main_up || return 1
	for i in $(seq 50); do
		timeout -k 5 "$T" "$PVFT" arbiter acquire --timeout-ms 5000 "$URL" 9 9 "racer$i" \
			>"$tmp/race$i.out" 2>"$tmp/race$i.err" &
		cpids+=($!)
		track $!
	done
	wait "${cpids[@]}"
	n_granted=$(cat "$tmp"/race*.out | grep -c '^granted to ')
	n_denied=$(cat "$tmp"/race*.out | grep -c '^denied: owned by ')
	[ "$n_granted" -eq 1 ] && [ "$n_denied" -eq 49 ] ||
		{ why="$n_granted granted, $n_denied denied of 50"; return 1; }
	winner=$(cat "$tmp"/race*.out | sed -n 's/^granted to //p')
	[ "$(cat "$tmp"/race*.out | grep -c "^denied: owned by $winner\$")" -eq 49 ] ||
		{ why="not every denial names $winner"; return 1; }
	pa race-q query "$URL" 9 9 && rc_is 0 && out_is race-q "owned by $winner"
}

# Clients that misbehave cost only their own slot: one floods requests and
# never reads a reply, one sends a megabyte of random bytes, one leaves
# mid-line, one connects and says nothing. Others are served meanwhile.
t_bad_clients_do_not_block_others() {
	local flood_pid junk_pid fd start end
	main_up || return 1
	yes 'QUERY 1 1' | head -c 4000000 >"$tmp/flood.txt"
	head -c 4000000 "$tmp/flood.txt" >"/dev/tcp/127.0.0.1/$main_port" 2>/dev/null &
	flood_pid=$!
	track "$flood_pid"
	head -c 1000000 /dev/urandom >"/dev/tcp/127.0.0.1/$main_port" 2>/dev/null &
	junk_pid=$!
	track "$junk_pid"
	exec {fd}<>"/dev/tcp/127.0.0.1/$main_port" || { why="cannot connect"; return 1; }
	printf 'ACQUIRE 4 4 no' >&"$fd"
	exec {fd}<&-
	exec {fd}<>"/dev/tcp/127.0.0.1/$main_port" || { why="cannot connect"; return 1; }
	sleep 0.5
	start=$(date +%s%N)
	pa busy query --timeout-ms 1000 "$URL" 1 1
	end=$(date +%s%N)
	exec {fd}<&-
	kill "$flood_pid" "$junk_pid" 2>/dev/null
	wait "$flood_pid" "$junk_pid" 2>/dev/null
	rc_is 0 "while bad clients were connected" && out_is busy "owned by nodeA" || return 1
	[ $(((end - start) / 1000000)) -lt 1000 ] ||
		{ why="the query took $(((end - start) / 1000000)) ms"; return 1; }
	pa half query "$URL" 4 4 && rc_is 0 && out_is half "free" || return 1
	still_answers
}

# Past 256 clients, a new one is told so and closed; the daemon lives and
# serves again once they leave.
t_too_many_clients() {
	local fds=() fd i line refused=0
	main_up || return 1
	for i in $(seq 260); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$main_port" || { why="connect $i failed"; break; }
		fds+=("$fd")
	done
	for fd in "${fds[@]:250}"; do
		IFS= read -r -t 0.3 line <&"$fd" && [ "$line" = "ERROR too many clients" ] &&
			refused=$((refused + 1))
	done
	for fd in "${fds[@]}"; do exec {fd}<&-; done
	[ -z "$why" ] || return 1
	[ "$refused" -ge 4 ] || { why="$refused of the last 10 clients were told 'too many clients'"; return 1; }
	sleep 0.2
	still_answers
}

# A state file that is not what the arbiter writes: ERROR naming the file
# for its key, and every other key is still served.
t_corrupt_state_file() {
	main_up || return 1
	printf 'not a node\n' >"$tmp/state/6-6"
	pa corrupt acquire "$URL" 6 6 nodeA
	rc_is 3 && err_has corrupt "corrupt state file .*/state/6-6" || return 1
	: >"$tmp/state/6-7"
	session "$main_port" corrupt2 1 "QUERY 6 7"
	grep -qE '^ERROR corrupt state file .*/state/6-7' "$tmp/corrupt2.out" ||
		{ why="QUERY 6 7: $(cat "$tmp/corrupt2.out")"; return 1; }
	mkdir "$tmp/state/6-8"
	session "$main_port" corrupt3 1 "ACQUIRE 6 8 nodeA"
	grep -qE '^ERROR corrupt state file .*/state/6-8: not a regular file' "$tmp/corrupt3.out" ||
		{ why="ACQUIRE 6 8: $(cat "$tmp/corrupt3.out")"; return 1; }
	still_answers
}

# --- pvft-arbiter: ADVANCE (re-protection) ----------------------------------

# The owner of (P,E) opens (P,E+1): advanced, again advanced (idempotent),
# the mark on disk as DIR/P-E.open; QUERY then says who opened it.
t_advance_by_owner() {
	main_up || return 1
	pa av0 acquire "$URL" 30 1 nodeA && rc_is 0 || return 1
	pa av1 advance "$URL" 30 1 nodeA
	rc_is 0 && out_is av1 "advanced to 2 by nodeA" || return 1
	pa av2 advance "$URL" 30 1 nodeA
	rc_is 0 "advanced again" && out_is av2 "advanced to 2 by nodeA" || return 1
	[ "$(cat "$tmp/state/30-2.open")" = nodeA ] && [ ! -e "$tmp/state/30-2" ] ||
		{ why="state file 30-2.open is not 'nodeA', or 30-2 exists"; return 1; }
	pa av3 --json advance "$URL" 30 1 nodeA && rc_is 0 || return 1
	jq -e '.answer == "advanced" and .owner == "nodeA" and .node == "nodeA" and .epoch == 30 - 29' \
		"$tmp/av3.out" >/dev/null || { why="advance --json: $(cat "$tmp/av3.out")"; return 1; }
	pa av4 query "$URL" 30 2 && rc_is 0 && out_is av4 "opened by nodeA" || return 1
	pa av5 --json query "$URL" 30 2 && rc_is 0 || return 1
	jq -e '.answer == "opened" and .owner == "nodeA"' "$tmp/av5.out" >/dev/null ||
		{ why="query --json: $(cat "$tmp/av5.out")"; return 1; }
	grep -qE 'pair 30 epoch 1: advanced by nodeA: epoch 2 opened$' "$tmp/main.log" &&
		grep -qE 'pair 30 epoch 1: advanced by nodeA: epoch 2 opened \(again\)$' "$tmp/main.log" ||
		{ why="the log lacks the advance lines"; return 1; }
}

# Denied: a non-owner (named: the owner), an epoch whose next one is owned
# (by another, or by the asker itself: the pair moved on), or opened by
# another; free: nobody owns the epoch.
t_advance_denied_or_free() {
	main_up || return 1
	pa ad1 advance "$URL" 30 1 nodeB
	rc_is 1 && out_is ad1 "denied: nodeA holds epoch 1 or the next" || return 1
	pa ad2 advance "$URL" 30 7 nodeA
	rc_is 1 && out_is ad2 "free: nobody owns pair 30 epoch 7" || return 1
	[ ! -e "$tmp/state/30-8.open" ] || { why="a free epoch's advance opened 30-8"; return 1; }
	pa ad3 --json advance "$URL" 30 7 nodeA && rc_is 1 || return 1
	jq -e '.answer == "free"' "$tmp/ad3.out" >/dev/null || { why="--json free: $(cat "$tmp/ad3.out")"; return 1; }
	pa ad4 acquire "$URL" 31 1 nodeA && rc_is 0 || return 1
	pa ad5 acquire "$URL" 31 2 nodeB && rc_is 0 || return 1
	pa ad6 advance "$URL" 31 1 nodeA
	rc_is 1 "the next epoch owned by another" && out_is ad6 "denied: nodeB holds epoch 1 or the next" || return 1
	pa ad7 acquire "$URL" 32 1 nodeA && rc_is 0 || return 1
	pa ad8 acquire "$URL" 32 2 nodeA && rc_is 0 || return 1
	pa ad9 advance "$URL" 32 1 nodeA
	rc_is 1 "the next epoch owned by the asker" && out_is ad9 "denied: nodeA holds epoch 1 or the next" || return 1
	[ ! -e "$tmp/state/32-2.open" ] || { why="an owned epoch was opened"; return 1; }
	# Opened by another (written by hand: only E's owner can ADVANCE).
	pa ad10 acquire "$URL" 33 1 nodeA && rc_is 0 || return 1
	printf 'nodeX\n' >"$tmp/state/33-2.open"
	pa ad11 advance "$URL" 33 1 nodeA
	rc_is 1 "opened by another" && out_is ad11 "denied: nodeX holds epoch 1 or the next" || return 1
	pa ad12 --json advance "$URL" 33 1 nodeA && rc_is 1 || return 1
	jq -e '.answer == "denied" and .owner == "nodeX"' "$tmp/ad12.out" >/dev/null ||
		{ why="--json denied: $(cat "$tmp/ad12.out")"; return 1; }
	grep -qE 'pair 31 epoch 1: advance denied to nodeA: nodeB owns the next epoch$' "$tmp/main.log" ||
		{ why="the denial is not logged with what nodeB holds"; return 1; }
}

# An opened epoch is still free for ACQUIRE; once owned, QUERY says so and
# the epoch before can no longer open it.
t_acquire_of_opened_epoch() {
	main_up || return 1
	pa ao1 acquire "$URL" 30 2 nodeB
	rc_is 0 && out_is ao1 "granted to nodeB" || return 1
	pa ao2 query "$URL" 30 2 && rc_is 0 && out_is ao2 "owned by nodeB" || return 1
	pa ao3 advance "$URL" 30 1 nodeA
	rc_is 1 && out_is ao3 "denied: nodeB holds epoch 1 or the next" || return 1
	# Raw lines: what the arbiter says, word for word.
	session "$main_port" ao4 4 "ADVANCE 30 1 nodeA" "ADVANCE 30 2 nodeB" "QUERY 30 3" "ACQUIRE 30 3 nodeC"
	[ "$(cat "$tmp/ao4.out")" = "DENIED nodeB
ADVANCED nodeB
OPENED nodeB
GRANTED nodeC" ] || { why="replies: $(tr '\n' '|' <"$tmp/ao4.out")"; return 1; }
}

# Hostile and malformed ADVANCE lines: one ERROR each, the connection open.
t_advance_malformed_lines() {
	main_up || return 1
	session "$main_port" am 6 "ADVANCE 1 18446744073709551615 n" "ADVANCE 1 1" \
		"ADVANCE 1 1 a/b" "ADVANCE 1 01 n" "advance 1 1 n" "QUERY 30 1"
	[ "$(cat "$tmp/am.out")" = "ERROR bad EPOCH: 18446744073709551615 has no next epoch to open
ERROR ADVANCE takes PAIR EPOCH NODE
ERROR bad NODE: want 1 to 63 of [A-Za-z0-9._-]
ERROR bad EPOCH: want a decimal u64
ERROR unknown verb 'advance'
OWNER nodeA" ] || { why="replies: $(tr '\n' '|' <"$tmp/am.out")"; return 1; }
	[ "$eof" = no ] || { why="the connection was closed"; return 1; }
	pa am2 advance "$URL" 1 18446744073709551615 nodeA
	rc_is 2 && err_has am2 "no next epoch" || return 1
	still_answers
}

# A corrupt .open file: ERROR naming it, for QUERY and ADVANCE; its pair's
# other keys are served.
t_corrupt_open_file() {
	main_up || return 1
	pa co0 acquire "$URL" 34 1 nodeA && rc_is 0 || return 1
	printf 'not a node\n' >"$tmp/state/34-2.open"
	pa co1 query "$URL" 34 2
	rc_is 3 && err_has co1 "corrupt state file .*/state/34-2\.open" || return 1
	pa co2 advance "$URL" 34 1 nodeA
	rc_is 3 && err_has co2 "corrupt state file .*/state/34-2\.open" || return 1
	mkdir "$tmp/state/34-3.open"
	session "$main_port" co3 1 "QUERY 34 3"
	grep -qE '^ERROR corrupt state file .*/state/34-3\.open: not a regular file' "$tmp/co3.out" ||
		{ why="QUERY 34 3: $(cat "$tmp/co3.out")"; return 1; }
	pa co4 query "$URL" 34 1 && rc_is 0 && out_is co4 "owned by nodeA" || return 1
	still_answers
}

# The opened mark is on disk before ADVANCED is said: killed outright and
# restarted, the arbiter still says who opened the epoch, and still
# refuses it to another. A temporary file a crash left is cleared at start.
t_open_survives_kill9() {
	local dir=$tmp/state-ok9 p
	mkdir -p "$dir"
	start_arbiter ok9 "$dir" || return 1
	p=$arb_port
	pa ok9a acquire "pvft://127.0.0.1:$p" 5 5 nodeA && rc_is 0 || return 1
	pa ok9b advance "pvft://127.0.0.1:$p" 5 5 nodeA && rc_is 0 && out_is ok9b "advanced to 6 by nodeA" || return 1
	kill -9 "$arb_pid"
	wait "$arb_pid" 2>/dev/null
	printf 'nodeZ\n' >"$dir/.tmp-5-7.open-1-0"
	start_arbiter ok9-again "$dir" "$p" || return 1
	[ ! -e "$dir/.tmp-5-7.open-1-0" ] || { why="a leftover .tmp- file was not cleared"; return 1; }
	pa ok9c query "pvft://127.0.0.1:$p" 5 6 && rc_is 0 && out_is ok9c "opened by nodeA" || return 1
	pa ok9d advance "pvft://127.0.0.1:$p" 5 5 nodeA && rc_is 0 && out_is ok9d "advanced to 6 by nodeA" || return 1
	pa ok9e advance "pvft://127.0.0.1:$p" 5 5 nodeB && rc_is 1 || return 1
	pa ok9f query "pvft://127.0.0.1:$p" 5 7 && rc_is 0 && out_is ok9f "free" || return 1
	kill -TERM "$arb_pid"
	wait "$arb_pid"
	rc=$? last=ok9-again
	rc_is 0 "after SIGTERM"
}

# daemon NAME ARGS...: pvft-arbiter in the foreground; sets rc and
# $tmp/NAME.err.
daemon() {
	local name=$1; shift
	timeout -k 5 "$T" "$ARBITER" "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$? last=$name
}

t_unusable_state_dir() {
	main_up || return 1
	daemon nodir --insecure --listen 127.0.0.1:0 --state-dir "$tmp/no/such/dir"
	rc_is 1 && err_has nodir "state dir .*/no/such/dir: No such file or directory" || return 1
	: >"$tmp/plainfile"
	daemon notdir --insecure --listen 127.0.0.1:0 --state-dir "$tmp/plainfile"
	rc_is 1 && err_has notdir "state dir .*/plainfile: Not a directory" || return 1
	daemon shared --insecure --listen 127.0.0.1:0 --state-dir "$tmp/state"
	rc_is 1 && err_has shared "state dir .*/state: in use by another pvft-arbiter"
}

t_port_in_use() {
	mkdir -p "$tmp/state-port"
	main_up || return 1
	daemon inuse --insecure --listen "127.0.0.1:$main_port" --state-dir "$tmp/state-port"
	rc_is 1 && err_has inuse "cannot listen on 127\.0\.0\.1:$main_port: Address already in use"
}

t_daemon_usage() {
	daemon u1
	rc_is 2 && err_has u1 'required' || return 1
	daemon u2 --insecure --listen 127.0.0.1 --state-dir "$tmp"
	rc_is 2 && err_has u2 "bad --listen: '127.0.0.1': no port" || return 1
	daemon u3 --insecure --listen 127.0.0.1:0 --state-dir "$tmp" extra
	rc_is 2 || return 1
	daemon u4 --help
	rc_is 0 && grep -q -- '--state-dir' "$tmp/u4.out" && grep -q -- '--keys KEYDIR' "$tmp/u4.out" || return 1
	for o in --line-timeout-ms --idle-timeout-ms --max-per-source; do
		daemon u5 --insecure --listen 127.0.0.1:0 --state-dir "$tmp" "$o" 0
		rc_is 2 && err_has u5 "bad $o '0'" || return 1
	done
}

# No key, no start: plaintext only when asked for, and then said loudly.
t_daemon_needs_keys_or_insecure() {
	mkdir -p "$tmp/state-k"
	daemon k1 --listen 127.0.0.1:0 --state-dir "$tmp/state-k"
	rc_is 2 && err_has k1 "no --keys KEYDIR: clients must prove a pair's key" || return 1
	daemon k2 --keys "$tmp" --insecure --listen 127.0.0.1:0 --state-dir "$tmp/state-k"
	rc_is 2 && err_has k2 "--keys and --insecure exclude each other" || return 1
	daemon k3 --keys "$tmp/no/such/keys" --listen 127.0.0.1:0 --state-dir "$tmp/state-k"
	rc_is 1 && err_has k3 "keys dir .*/no/such/keys: No such file or directory" || return 1
	main_up || return 1
	grep -q 'warning: INSECURE (--insecure): plaintext, no authentication' "$tmp/main.log" ||
		{ why="--insecure is not said at start"; return 1; }
}

t_sigint_clean_exit() {
	mkdir -p "$tmp/state-int"
	start_arbiter int "$tmp/state-int" || return 1
	kill -INT "$arb_pid"
	wait "$arb_pid"
	rc=$? last=int
	rc_is 0 "after SIGINT"
}

# --- pvft-arbiter with keys: who may ask, about what ----------------------

# The pair's key proves the pair: granted, denied, owned, as in plaintext.
t_keyed_grant() {
	keyed_up || return 1
	grep -q "clients must prove their pair's key (TLS 1.3, PSK): keys in .*, 1 usable now" "$tmp/keyed.log" ||
		{ why="the start does not say the keys"; return 1; }
	pr kg1 ask --key "$tmp/dk.key" acquire "$KURL" 7 1 nodeA
	rc_is 0 && out_is kg1 "granted to nodeA" || return 1
	pr kg2 ask --key "$tmp/dk.key" acquire "$KURL" 7 1 nodeB
	rc_is 1 && out_is kg2 "denied: owned by nodeA" || return 1
	pr kg3 ask --key "$tmp/dk.key" query "$KURL" 7 1
	rc_is 0 && out_is kg3 "owned by nodeA" || return 1
	[ "$(cat "$tmp/kstate/7-1")" = nodeA ] || { why="state file 7-1 is not nodeA"; return 1; }
}

# Without a key: claims and a QUERY scan are refused and the client hears
# not one byte of the protocol; nothing is claimed.
t_keyless_claims_and_scans_refused() {
	local p
	keyed_up || return 1
	pr nk1 raw "127.0.0.1:$keyed_port" "ACQUIRE 7 2 evil" "QUERY 7 1"
	rc_is 0 && no_protocol nk1 && grep -q '^bytes 0, closed$' "$tmp/nk1.out" ||
		{ why=${why:-"keyless client: $(tr '\n' '|' <"$tmp/nk1.out")"}; return 1; }
	for p in $(seq 1 20); do
		pr nk2 raw "127.0.0.1:$keyed_port" "QUERY $p 1" "ACQUIRE $p 1000 evil"
		rc_is 0 && no_protocol nk2 && grep -q '^bytes 0, closed$' "$tmp/nk2.out" ||
			{ why=${why:-"scan of pair $p: $(tr '\n' '|' <"$tmp/nk2.out")"}; return 1; }
	done
	# The plaintext client of pvft arbiter: no answer either.
	pa nk3 acquire --timeout-ms 2000 "$KURL" 7 2 evil
	rc_is 3 || return 1
	[ ! -e "$tmp/kstate/7-2" ] && [ -z "$(ls "$tmp/kstate" | grep -- '-1000$')" ] ||
		{ why="a keyless client claimed a key: $(ls "$tmp/kstate")"; return 1; }
	kill -0 "$keyed_pid" || { why="the keyed arbiter died"; return 1; }
}

# Another domain's key (so pair 7's derived key is wrong): refused in the
# handshake, nothing claimed.
t_wrong_key_refused() {
	keyed_up || return 1
	pr wk1 ask --key "$tmp/other.key" acquire "$KURL" 7 3 evil
	rc_is 3 && err_has wk1 "closed the connection in the TLS handshake" || return 1
	pr wk2 ask --key "$tmp/other.key" query "$KURL" 7 1
	rc_is 3 && [ ! -s "$tmp/wk2.out" ] || { why="${why:-a wrong key learned '$(cat "$tmp/wk2.out")'}"; return 1; }
	[ ! -e "$tmp/kstate/7-3" ] || { why="a wrong key claimed 7-3"; return 1; }
}

# Pair 7's key is no key for pair 8: each request about pair 8 is
# refused, on the same connection that may still ask about pair 7. And
# the client library, asking about pair 8, derives pair 8's key, which
# the arbiter does not hold.
t_other_pairs_key_refused() {
	keyed_up || return 1
	pr op1 lines --key "$tmp/dk.key" --pair 7 "127.0.0.1:$keyed_port" \
		"ACQUIRE 8 1 evil" "QUERY 8 1" "QUERY 7 1"
	rc_is 0 && out_is op1 "ERROR pair 8 is not this client's
ERROR pair 8 is not this client's
OWNER nodeA" || return 1
	pr op2 ask --key "$tmp/dk.key" acquire "$KURL" 8 1 evil
	rc_is 3 && err_has op2 "no key for pair 8 there" || return 1
	[ ! -e "$tmp/kstate/8-1" ] || { why="pair 7's key claimed 8-1"; return 1; }
	grep -q "holds pair 7's key, asked about pair 8: refused" "$tmp/keyed.log" ||
		{ why="the refusal is not logged"; return 1; }
}

# With keys: the owner advances its pair's epoch; another pair's key may
# not ADVANCE (nor learn who opened) this pair's epochs.
t_keyed_advance() {
	keyed_up || return 1
	pr ka1 ask --key "$tmp/dk.key" advance "$KURL" 7 1 nodeA
	rc_is 0 && out_is ka1 "advanced by nodeA" || return 1
	pr ka2 ask --key "$tmp/dk.key" advance "$KURL" 7 1 nodeB
	rc_is 1 && out_is ka2 "denied: nodeA" || return 1
	pr ka3 ask --key "$tmp/dk.key" query "$KURL" 7 2
	rc_is 0 && out_is ka3 "opened by nodeA" || return 1
	[ "$(cat "$tmp/kstate/7-2.open")" = nodeA ] || { why="state file 7-2.open is not nodeA"; return 1; }
	pr ka4 lines --key "$tmp/dk.key" --pair 7 "127.0.0.1:$keyed_port" \
		"ADVANCE 8 1 evil" "ADVANCE 7 1 nodeA"
	rc_is 0 && out_is ka4 "ERROR pair 8 is not this client's
ADVANCED nodeA" || return 1
	pr ka5 ask --key "$tmp/dk.key" advance "$KURL" 8 1 evil
	rc_is 3 && err_has ka5 "no key for pair 8 there" || return 1
	[ -z "$(ls "$tmp/kstate" | grep '^8-')" ] || { why="pair 7's key wrote pair 8's state: $(ls "$tmp/kstate")"; return 1; }
}

# Keys are read at each handshake: one added works at once, one removed
# stops working, one others may read is refused and said in the log.
t_keys_read_at_each_handshake() {
	keyed_up || return 1
	"$PROBE" derive "$tmp/dk.key" 9 "$tmp/keys/9.key" || { why="derive failed"; return 1; }
	pr kr1 ask --key "$tmp/dk.key" acquire "$KURL" 9 1 nodeA
	rc_is 0 "a key added while running" && out_is kr1 "granted to nodeA" || return 1
	mv "$tmp/keys/9.key" "$tmp/9.key.off"
	pr kr2 ask --key "$tmp/dk.key" query "$KURL" 9 1
	rc_is 3 "a key removed while running" || return 1
	mv "$tmp/9.key.off" "$tmp/keys/9.key"
	chmod 644 "$tmp/keys/9.key"
	pr kr3 ask --key "$tmp/dk.key" query "$KURL" 9 1
	rc_is 3 "a key file others may read" || return 1
	grep -q "key file .*/keys/9.key: mode 644 lets others read it" "$tmp/keyed.log" ||
		{ why="the unusable key file is not logged"; return 1; }
	rm -f "$tmp/keys/9.key"
}

# Pipelined over TLS: two requests in two records, two replies, the
# connection still open (decrypted bytes are served, not left waiting for
# a poll that never comes).
t_keyed_pipelined_requests() {
	keyed_up || return 1
	pr kp1 lines --key "$tmp/dk.key" --pair 7 "127.0.0.1:$keyed_port" "QUERY 7 1" "ACQUIRE 7 5 nodeP"
	rc_is 0 && out_is kp1 "OWNER nodeA
GRANTED nodeP"
}

# A client that never stops sending gets each reply as its line is
# served, not once it pauses (probe.c's stream says how this is seen
# without a clock): in plaintext and over TLS.
t_replies_leave_as_served() {
	main_up && keyed_up || return 1
	pr st1 stream --state-dir "$tmp/state" --count 16 "127.0.0.1:$main_port" 21 100
	rc_is 0 "plaintext" && out_is st1 "late 0" || return 1
	pr st2 stream --key "$tmp/dk.key" --pair 7 --state-dir "$tmp/kstate" --count 16 \
		"127.0.0.1:$keyed_port" 7 100
	rc_is 0 "TLS" && out_is st2 "late 0"
}

# Slow clients (a byte every 300 ms, more than --max-per-source allows
# from one address, so from four) are closed by the line deadline, which
# their bytes do not extend: without a key, in the handshake; with one, a
# request line never finished; in plaintext, the same. A keyed client is
# served meanwhile.
t_slow_clients_closed() {
	local spids=() i
	keys_up || return 1
	mkdir -p "$tmp/state-slow"
	start_arbiter slow "$tmp/state-slow" 0 --keys "$tmp/keys" --line-timeout-ms 1000 || return 1
	for i in 2 3; do
		"$PROBE" slow --conns 8 --every-ms 300 --bind "127.0.0.$i" "127.0.0.1:$arb_port" \
			>"$tmp/slow$i.out" 2>"$tmp/slow$i.err" &
		spids+=($!)
		track $!
	done
	for i in 4 5; do
		"$PROBE" slow --key "$tmp/dk.key" --pair 7 --conns 8 --every-ms 300 \
			--bind "127.0.0.$i" "127.0.0.1:$arb_port" \
			>"$tmp/slow$i.out" 2>"$tmp/slow$i.err" &
		spids+=($!)
		track $!
	done
	for i in $(seq 100); do
		[ "$(cat "$tmp"/slow?.out | grep -c '^opened 8$')" -eq 4 ] && break
		sleep 0.1
	done
	pr sl1 ask --key "$tmp/dk.key" acquire "pvft://127.0.0.1:$arb_port" 7 1 nodeS
	rc_is 0 "while 32 slow clients are connected" && out_is sl1 "granted to nodeS" || return 1
	for i in 0 1 2 3; do
		wait "${spids[i]}" || { why="slow clients from 127.0.0.$((i + 2)): $(tail -n 1 "$tmp/slow$((i + 2)).out")"; return 1; }
	done
	grep -q '^closed by the arbiter: 8 of 8$' "$tmp/slow2.out" || { why="slow2: $(cat "$tmp/slow2.out")"; return 1; }
	kill "$arb_pid"
	wait "$arb_pid"
	mkdir -p "$tmp/state-slow2"
	start_arbiter slow2 "$tmp/state-slow2" 0 --insecure --line-timeout-ms 1000 || return 1
	pr sl2 slow --insecure --conns 8 --every-ms 300 "127.0.0.1:$arb_port"
	rc_is 0 "plaintext slow clients" && grep -q '^closed by the arbiter: 8 of 8$' "$tmp/sl2.out" || return 1
	kill "$arb_pid"
	wait "$arb_pid"
}

# The table full of connections that never finish a handshake, from 32
# addresses (8 each, the per-source cap), with a deadline long enough that
# none goes by it here: a keyed client is still served at once (the
# oldest handshake of the address holding the most is closed to make
# room). The slow clients' own deadline is t_slow_clients_closed's.
t_full_table_makes_room() {
	local spid i
	keys_up || return 1
	mkdir -p "$tmp/state-full"
	start_arbiter full "$tmp/state-full" 0 --keys "$tmp/keys" --line-timeout-ms 600000 || return 1
	"$PROBE" slow --conns 256 --sources 32 --bind 127.0.1.1 --every-ms 500 \
		"127.0.0.1:$arb_port" >"$tmp/full.out" 2>"$tmp/full.err" &
	spid=$!
	track "$spid"
	for i in $(seq 300); do
		grep -q '^opened 256$' "$tmp/full.out" && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^opened 256$' "$tmp/full.out" || { why="slow: $(cat "$tmp/full.out" "$tmp/full.err")"; return 1; }
	pr fu1 ask --key "$tmp/dk.key" acquire "pvft://127.0.0.1:$arb_port" 7 1 nodeF
	rc_is 0 "with 256 connections in their handshakes" && out_is fu1 "granted to nodeF" || return 1
	grep -q "to make room for 127.0.0.1" "$tmp/full.log" ||
		{ why="no room was made: $(tail -n 3 "$tmp/full.log")"; return 1; }
	kill "$spid" "$arb_pid"
	wait "$spid" 2>/dev/null
	wait "$arb_pid"
}

# A connection idle after its last reply is closed after
# --idle-timeout-ms.
t_idle_connection_closed() {
	mkdir -p "$tmp/state-idle"
	probe_up || return 1
	start_arbiter idle "$tmp/state-idle" 0 --insecure --idle-timeout-ms 500 || return 1
	pr id1 raw "127.0.0.1:$arb_port" "QUERY 1 1"
	rc_is 0 && out_is id1 "FREE
bytes 5, closed"
	kill "$arb_pid"
	wait "$arb_pid"
}

# --max-per-source: past it, one address is refused (with keys: closed
# without a byte; in plaintext: told so), while another is served, and
# served again once its connections close.
t_per_source_cap() {
	local hold fd i
	keys_up || return 1
	mkdir -p "$tmp/state-cap"
	start_arbiter cap "$tmp/state-cap" 0 --keys "$tmp/keys" --max-per-source 3 \
		--idle-timeout-ms 600000 || return 1
	"$PROBE" hold --key "$tmp/dk.key" --pair 7 --conns 3 --bind 127.0.0.7 \
		"127.0.0.1:$arb_port" >"$tmp/hold.out" 2>"$tmp/hold.err" &
	hold=$!
	track "$hold"
	for i in $(seq 200); do
		grep -q '^held 3$' "$tmp/hold.out" && break
		kill -0 "$hold" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^held 3$' "$tmp/hold.out" || { why="hold: $(cat "$tmp/hold.out" "$tmp/hold.err")"; return 1; }
	pr cp1 lines --key "$tmp/dk.key" --pair 7 --bind 127.0.0.7 "127.0.0.1:$arb_port" "QUERY 7 1"
	rc_is 3 "a 4th connection from 127.0.0.7" && no_protocol cp1 || return 1
	grep -q 'refused a client: 3 clients from 127.0.0.7 already' "$tmp/cap.log" ||
		{ why="the refusal is not logged"; return 1; }
	pr cp2 lines --key "$tmp/dk.key" --pair 7 --bind 127.0.0.8 "127.0.0.1:$arb_port" "QUERY 7 1"
	rc_is 0 "from 127.0.0.8" && out_is cp2 "FREE" || return 1
	kill "$hold"
	wait "$hold" 2>/dev/null
	for i in $(seq 100); do
		pr cp3 lines --key "$tmp/dk.key" --pair 7 --bind 127.0.0.7 "127.0.0.1:$arb_port" "QUERY 7 1"
		[ "$rc" -eq 0 ] && break
		sleep 0.1
	done
	rc_is 0 "from 127.0.0.7 after its connections closed" && out_is cp3 "FREE" || return 1
	kill "$arb_pid"
	wait "$arb_pid"
	# Plaintext: the refused client is told.
	mkdir -p "$tmp/state-cap2"
	start_arbiter cap2 "$tmp/state-cap2" 0 --insecure --max-per-source 1 || return 1
	exec {fd}<>"/dev/tcp/127.0.0.1/$arb_port" || { why="cannot connect"; return 1; }
	pr cp4 raw "127.0.0.1:$arb_port" "QUERY 1 1"
	exec {fd}<&-
	rc_is 0 && grep -q '^ERROR too many clients$' "$tmp/cp4.out" ||
		{ why="${why:-plaintext refusal: $(tr '\n' '|' <"$tmp/cp4.out")}"; return 1; }
	kill "$arb_pid"
	wait "$arb_pid"
}

# An address at its cap of connections that never finish a handshake (a
# local user sharing a replica's address): a keyed client from it still
# gets its answer, taking the place of the oldest (older than a second).
# Refused on the first version.
t_per_source_flood() {
	local fds=() fd i
	keys_up || return 1
	mkdir -p "$tmp/state-flood"
	start_arbiter flood "$tmp/state-flood" 0 --keys "$tmp/keys" --max-per-source 3 \
		--line-timeout-ms 600000 --idle-timeout-ms 600000 || return 1
	for i in 1 2 3; do
		exec {fd}<>"/dev/tcp/127.0.0.1/$arb_port" || { why="cannot connect"; return 1; }
		fds+=("$fd")
	done
	sleep 1.5 # past the grace a connection in its handshake has
	pr fl1 lines --key "$tmp/dk.key" --pair 7 --bind 127.0.0.1 "127.0.0.1:$arb_port" "QUERY 7 1"
	for fd in "${fds[@]}"; do exec {fd}<&-; done
	rc_is 0 "a keyed client from the flooded address" && out_is fl1 "FREE" || return 1
	kill "$arb_pid"
	wait "$arb_pid"
}

# --- pvft arbiter: usage and unreachable arbiters ---------------------------

t_cli_usage() {
	pa c1 && rc_is 2 || return 1
	pa c2 acquire pvft://127.0.0.1:1 1 1 && rc_is 2 || return 1
	pa c3 acquire http://127.0.0.1:1 1 1 n && rc_is 2 && err_has c3 "unknown scheme 'http'" || return 1
	pa c4 query pvft://127.0.0.1:1 01 1 && rc_is 2 && err_has c4 "bad PAIR '01'" || return 1
	pa c5 acquire pvft://127.0.0.1:1 1 1 'a b' && rc_is 2 && err_has c5 "bad NODE" || return 1
	pa c6 --timeout-ms 0 query pvft://127.0.0.1:1 1 1 && rc_is 2 || return 1
	pa c7 steal pvft://127.0.0.1:1 1 1 && rc_is 2 && err_has c7 "unknown operation 'steal'" || return 1
	pa c8 query etcd:// 1 1 && rc_is 2 && err_has c8 "etcd://: no HOST:PORT"
}

t_unreachable_arbiter() {
	local p1 p2
	free_port; p1=$port
	free_port; p2=$port
	pa un1 acquire "pvft://127.0.0.1:$p1" 1 1 nodeA
	rc_is 3 && err_has un1 "pvft://127\.0\.0\.1:$p1: unreachable: .*Connection refused" || return 1
	[ ! -s "$tmp/un1.out" ] || { why="unreachable printed '$(cat "$tmp/un1.out")' on stdout"; return 1; }
	pa un2 query "etcd://127.0.0.1:$p1,127.0.0.1:$p2" 1 1
	rc_is 3 && err_has un2 "etcd://127\.0\.0\.1:$p1,127\.0\.0\.1:$p2: unreachable: 127\.0\.0\.1:$p1: .*; 127\.0\.0\.1:$p2: " || return 1
	pa un3 --json acquire "pvft://127.0.0.1:$p1" 1 1 nodeA
	rc_is 3 && [ -s "$tmp/un3.out" ] &&
		jq -e '.answer == "unreachable" and (.why | test("refused"))' "$tmp/un3.out" >/dev/null ||
		{ why="--json unreachable: $(cat "$tmp/un3.out")"; return 1; }
}

# --- etcd: https, client certificates, etcd auth -----------------------------

# A CA, etcd's certificate (for 127.0.0.1) and client certificates, by the
# openssl CLI. Client certificates carry no Common Name: etcd's JSON
# gateway refuses every request whose client certificate has one once
# auth is on (arbiter-protocol.md 5.2); "cn" has one, to show that.
pki_made=""
pki_up() {
	local c
	[ -n "$pki_made" ] && return 0
	command -v openssl >/dev/null || { why="no openssl (make deps installs it)"; return 1; }
	mkdir -p "$tmp/pki" && (
		cd "$tmp/pki" || exit 1
		cert() { # NAME SUBJECT EXTENSIONS
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-keyout "$1.key" -out "$1.csr" -subj "$2" &&
				printf '%s\n' "$3" >"$1.ext" &&
				openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key \
					-CAcreateserial -days 2 -extfile "$1.ext" -out "$1.pem"
		}
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout ca.key -out ca.pem -days 2 -subj "/CN=pvft test CA" &&
			cert server "/CN=etcd" "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" &&
			for c in admin c7 c8 c11; do
				cert "$c" "/O=pvft/OU=$c" "extendedKeyUsage=clientAuth" || exit 1
			done &&
			cert cn "/CN=pvft-pair-7" "extendedKeyUsage=clientAuth"
	) >"$tmp/pki.log" 2>&1 || { why="openssl: $(tail -n 2 "$tmp/pki.log")"; return 1; }
	(umask 077
		for c in root pvft-pair-7 pvft-pair-8 pvft-pair-11; do
			head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/pki/$c.pw"
		done)
	pki_made=yes
}

# start_etcd NAME CLIENT_PORT PEER_PORT CLUSTER: one member, clients on
# https only (client certificates of the test CA required), in the
# background; its PID in etcd_pid[NAME]. Short heartbeats and elections:
# a test waits for them.
declare -A etcd_pid
start_etcd() {
	local name=$1 cport=$2 pport=$3 cluster=$4 k=$tmp/pki
	etcd --name "$name" --data-dir "$tmp/$name.etcd" \
		--listen-client-urls "https://127.0.0.1:$cport" \
		--advertise-client-urls "https://127.0.0.1:$cport" \
		--cert-file "$k/server.pem" --key-file "$k/server.key" \
		--client-cert-auth --trusted-ca-file "$k/ca.pem" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "pvft-test-$$" \
		--heartbeat-interval 50 --election-timeout 500 \
		>"$tmp/$name.etcd.log" 2>&1 &
	etcd_pid[$name]=$!
	track $!
}

# ecurl PORT PATH JSON: POST to etcd's gateway as the admin certificate,
# with root's token once there is one ($root_token).
root_token=""
ecurl() {
	curl -s -m 2 --cacert "$tmp/pki/ca.pem" --cert "$tmp/pki/admin.pem" \
		--key "$tmp/pki/admin.key" ${root_token:+-H "Authorization: $root_token"} \
		-X POST "https://127.0.0.1:$1$2" -d "$3"
}

# etcd_status PORT: the member's /v3/maintenance/status JSON.
etcd_status() {
	ecurl "$1" /v3/maintenance/status '{}'
}

# etcd_ready PORT...: every member answers and has a leader (60 s at most:
# etcd starts slowly on a loaded box). jq -e passes on no input at all, so
# an empty answer (nothing listening yet) is checked for first.
etcd_ready() {
	local i p ok s
	for i in $(seq 600); do
		ok=1
		for p in "$@"; do
			s=$(etcd_status "$p") && [ -n "$s" ] &&
				jq -e '(.leader // "0") != "0"' <<<"$s" >/dev/null 2>&1 || ok=0
		done
		[ "$ok" -eq 1 ] && return 0
		sleep 0.1
	done
	why="etcd on port(s) $* has no leader after 60 s"
	return 1
}

# etcd_auth PORT PAIR...: etcd's auth as arbiter-protocol.md 5.2 sets it
# up (there with etcdctl; here through the same gateway the client uses):
# a root user, and per pair a user pvft-pair-N whose role pvft-pair-N may
# read and write the prefix pvft/arbiter/N/ only; then auth on, and root's
# token for the suite's own reads.
etcd_auth() {
	local port=$1 p u k e out; shift
	root_token=""
	out=$(ecurl "$port" /v3/auth/user/add "{\"name\":\"root\",\"password\":\"$(cat "$tmp/pki/root.pw")\"}" &&
		ecurl "$port" /v3/auth/user/grant '{"user":"root","role":"root"}')
	for p in "$@"; do
		u=pvft-pair-$p
		# The prefix ends in '/': pair 1's must not hold pair 10's keys.
		k=$(printf 'pvft/arbiter/%s/' "$p" | base64)
		e=$(printf 'pvft/arbiter/%s0' "$p" | base64)
		out+=$(ecurl "$port" /v3/auth/user/add "{\"name\":\"$u\",\"password\":\"$(cat "$tmp/pki/$u.pw")\"}" &&
			ecurl "$port" /v3/auth/role/add "{\"name\":\"$u\"}" &&
			ecurl "$port" /v3/auth/role/grant "{\"name\":\"$u\",\"perm\":{\"permType\":\"READWRITE\",\"key\":\"$k\",\"range_end\":\"$e\"}}" &&
			ecurl "$port" /v3/auth/user/grant "{\"user\":\"$u\",\"role\":\"$u\"}")
	done
	out+=$(ecurl "$port" /v3/auth/enable '{}')
	grep -q '"error"' <<<"$out" && { why="etcd auth setup: $out"; return 1; }
	root_token=$(ecurl "$port" /v3/auth/authenticate \
		"{\"name\":\"root\",\"password\":\"$(cat "$tmp/pki/root.pw")\"}" | jq -r '.token // empty')
	[ -n "$root_token" ] || { why="no token for root"; return 1; }
}

# as_pair N: the probe's credentials of pair N's replicas.
as_pair() {
	echo --ca "$tmp/pki/ca.pem" --cert "$tmp/pki/c$1.pem" --cert-key "$tmp/pki/c$1.key" \
		--user "pvft-pair-$1" --password-file "$tmp/pki/pvft-pair-$1.pw"
}

have_etcd() {
	command -v etcd >/dev/null && command -v curl >/dev/null ||
		{ why="etcd or curl not installed (make deps installs them)"; return 1; }
	probe_up && pki_up
}

t_etcd_one_member() {
	local c p u a7 a8
	have_etcd || return 1
	free_port; c=$port
	free_port; p=$port
	start_etcd solo "$c" "$p" "solo=http://127.0.0.1:$p"
	etcd_ready "$c" || return 1
	etcd_auth "$c" 7 8 || return 1
	u=etcds://127.0.0.1:$c
	a7=$(as_pair 7) a8=$(as_pair 8)
	# shellcheck disable=SC2086 # $a7: the credential options, split
	{
		pr e-free ask $a7 query "$u" 7 1 && rc_is 0 && out_is e-free "free" || return 1
		pr e-grant ask $a7 acquire "$u" 7 1 nodeA && rc_is 0 && out_is e-grant "granted to nodeA" || return 1
		pr e-again ask $a7 acquire "$u" 7 1 nodeA && rc_is 0 && out_is e-again "granted to nodeA" || return 1
		pr e-deny ask $a7 acquire "$u" 7 1 nodeB && rc_is 1 && out_is e-deny "denied: owned by nodeA" || return 1
		pr e-owner ask $a7 query "$u" 7 1 && rc_is 0 && out_is e-owner "owned by nodeA" || return 1
		pr e-epoch ask $a7 acquire "$u" 7 2 nodeB && rc_is 0 && out_is e-epoch "granted to nodeB" || return 1
		pr e-8 ask $a8 acquire "$u" 8 1 nodeC && rc_is 0 && out_is e-8 "granted to nodeC" || return 1
	}
	# ADVANCE: one txn (a missing key fails its VALUE compare: an
	# unowned epoch is free, and opens nothing).
	# shellcheck disable=SC2086
	{
		pr e-ad0 ask $a7 acquire "$u" 7 20 nodeA && rc_is 0 || return 1
		pr e-ad1 ask $a7 advance "$u" 7 20 nodeA && rc_is 0 && out_is e-ad1 "advanced by nodeA" || return 1
		pr e-ad2 ask $a7 advance "$u" 7 20 nodeA && rc_is 0 && out_is e-ad2 "advanced by nodeA" || return 1
		pr e-ad3 ask $a7 advance "$u" 7 20 nodeB && rc_is 1 && out_is e-ad3 "denied: nodeA" || return 1
		pr e-ad4 ask $a7 advance "$u" 7 25 nodeA && rc_is 1 && out_is e-ad4 "free" || return 1
		pr e-ad5 ask $a7 query "$u" 7 21 && rc_is 0 && out_is e-ad5 "opened by nodeA" || return 1
		# (7,2) is nodeB's: (7,1) cannot open it.
		pr e-ad6 ask $a7 advance "$u" 7 1 nodeA && rc_is 1 && out_is e-ad6 "denied: nodeB" || return 1
		pr e-ad7 ask $a7 acquire "$u" 7 21 nodeB && rc_is 0 && out_is e-ad7 "granted to nodeB" || return 1
		pr e-ad8 ask $a7 query "$u" 7 21 && rc_is 0 && out_is e-ad8 "owned by nodeB" || return 1
		pr e-ad9 ask $a7 advance "$u" 7 20 nodeA && rc_is 1 && out_is e-ad9 "denied: nodeB" || return 1
		pr e-ad10 ask $a8 advance "$u" 7 20 nodeA
		rc_is 3 && err_has e-ad10 "permission denied" || return 1
	}
	[ "$(ecurl "$c" /v3/kv/range "{\"key\":\"$(printf pvft/arbiter/7/21/opened | base64)\"}" |
		jq -r '.kvs[0].value' | base64 -d)" = nodeA ] ||
		{ why="etcd key pvft/arbiter/7/21/opened does not hold nodeA"; return 1; }
	[ "$(ecurl "$c" /v3/kv/range "{\"key\":\"$(printf pvft/arbiter/7/26/opened | base64)\"}" |
		jq -r '.kvs // [] | length')" = 0 ] || { why="an unowned epoch's advance opened 7/26"; return 1; }
	# The key and value are as Documentation/arbiter-protocol.md says.
	[ "$(ecurl "$c" /v3/kv/range "{\"key\":\"$(printf pvft/arbiter/7/1 | base64)\"}" |
		jq -r '.kvs[0].value' | base64 -d)" = nodeA ] ||
		{ why="etcd key pvft/arbiter/7/1 does not hold nodeA"; return 1; }
	# Pair 8's user may not touch pair 7's keys, nor learn their owner.
	# shellcheck disable=SC2086
	pr e-other ask $a8 acquire "$u" 7 3 evil
	rc_is 3 && err_has e-other "HTTP 403: etcdserver: permission denied" || return 1
	# shellcheck disable=SC2086
	pr e-other2 ask $a8 query "$u" 7 1
	rc_is 3 && err_has e-other2 "permission denied" && [ ! -s "$tmp/e-other2.out" ] || return 1
	# No client certificate: refused in the TLS handshake.
	pr e-nocert ask --ca "$tmp/pki/ca.pem" --user pvft-pair-7 \
		--password-file "$tmp/pki/pvft-pair-7.pw" acquire "$u" 7 3 evil
	rc_is 3 "without a client certificate" || return 1
	# A certificate, but no user: etcd knows no one.
	pr e-nouser ask --ca "$tmp/pki/ca.pem" --cert "$tmp/pki/c7.pem" \
		--cert-key "$tmp/pki/c7.key" acquire "$u" 7 3 evil
	rc_is 3 && err_has e-nouser "user name is empty" || return 1
	# A wrong password.
	echo wrong >"$tmp/wrong.pw"
	pr e-badpw ask --ca "$tmp/pki/ca.pem" --cert "$tmp/pki/c7.pem" --cert-key "$tmp/pki/c7.key" \
		--user pvft-pair-7 --password-file "$tmp/wrong.pw" acquire "$u" 7 3 evil
	rc_is 3 && err_has e-badpw "authentication failed" || return 1
	# A certificate whose Common Name names the user is no login either:
	# etcd's gateway refuses it outright.
	pr e-cn ask --ca "$tmp/pki/ca.pem" --cert "$tmp/pki/cn.pem" --cert-key "$tmp/pki/cn.key" \
		acquire "$u" 7 3 evil
	rc_is 3 && err_has e-cn "CommonName of client sending a request against gateway" || return 1
	# Plain http to it: no answer.
	pr e-http ask --insecure acquire "etcd://127.0.0.1:$c" 7 3 evil
	rc_is 3 || return 1
	[ "$(ecurl "$c" /v3/kv/range "{\"key\":\"$(printf pvft/arbiter/7/3 | base64)\"}" |
		jq -r '.kvs // [] | length')" = 0 ] || { why="a refused client wrote pvft/arbiter/7/3"; return 1; }
	# A dead endpoint first in the URL is skipped.
	free_port
	# shellcheck disable=SC2086
	pr e-skip ask $a7 acquire "etcds://127.0.0.1:$port,127.0.0.1:$c" 7 1 nodeB &&
		rc_is 1 && out_is e-skip "denied: owned by nodeA" || return 1
	kill "${etcd_pid[solo]}"
	wait "${etcd_pid[solo]}" 2>/dev/null
	# shellcheck disable=SC2086
	pr e-gone ask $a7 query "$u" 7 1 && rc_is 3 && err_has e-gone "127\.0\.0\.1:$c: "
}

# Three members; the leader is killed outright after a grant. With the URL
# naming all three, the dead leader first, the owner is still granted and
# another node still denied: the client fails over to a live member (and
# logs in there).
t_etcd_leader_killed() {
	local names=(m1 m2 m3) cp=() pp=() cluster="" i leader="" lid url a11
	have_etcd || return 1
	for i in 0 1 2; do
		free_port; cp[i]=$port
		free_port; pp[i]=$port
		cluster+="${cluster:+,}${names[i]}=http://127.0.0.1:${pp[i]}"
	done
	for i in 0 1 2; do start_etcd "${names[i]}" "${cp[i]}" "${pp[i]}" "$cluster"; done
	etcd_ready "${cp[@]}" || return 1
	etcd_auth "${cp[0]}" 11 || return 1
	for i in 0 1 2; do
		lid=$(etcd_status "${cp[i]}" | jq -r 'select(.leader == .header.member_id) | .leader')
		[ -n "$lid" ] && leader=$i
	done
	[ -n "$leader" ] || { why="no member says it is the leader"; return 1; }
	url="etcds://127.0.0.1:${cp[leader]}"
	for i in 0 1 2; do
		[ "$i" -ne "$leader" ] && url+=",127.0.0.1:${cp[i]}"
	done
	a11=$(as_pair 11)
	# shellcheck disable=SC2086
	{
		pr_retry c-grant ask $a11 --timeout-ms 2000 acquire "$url" 11 1 nodeA
		rc_is 0 && out_is c-grant "granted to nodeA" || return 1
		pr c-deny ask $a11 --timeout-ms 2000 acquire "$url" 11 1 nodeB
		rc_is 1 && out_is c-deny "denied: owned by nodeA" || return 1
		kill -9 "${etcd_pid[${names[leader]}]}"
		wait "${etcd_pid[${names[leader]}]}" 2>/dev/null
		pr_retry c-again ask $a11 --timeout-ms 2000 acquire "$url" 11 1 nodeA
		rc_is 0 "after the leader died" && out_is c-again "granted to nodeA" || return 1
		pr_retry c-deny2 ask $a11 --timeout-ms 2000 acquire "$url" 11 1 nodeB
		rc_is 1 "after the leader died" && out_is c-deny2 "denied: owned by nodeA" || return 1
		pr_retry c-new ask $a11 --timeout-ms 2000 acquire "$url" 11 2 nodeB
		rc_is 0 "a new key after the leader died" && out_is c-new "granted to nodeB" || return 1
	}
	# Its own three only: a member of another test may still run.
	for i in 0 1 2; do kill -9 "${etcd_pid[${names[i]}]}" 2>/dev/null; done
	for i in 0 1 2; do wait "${etcd_pid[${names[i]}]}" 2>/dev/null; done
	return 0
}

# --- run them ---------------------------------------------------------------

# In the order written: the first tests set up the keys later ones read.
run_all
if [ -n "${main_pid:-}" ]; then
	kill -TERM "$main_pid"
	wait "$main_pid"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok sigterm_clean_exit
	else
		bad "sigterm_clean_exit: exit status $rc after SIGTERM, want 0"
	fi
fi
summary
