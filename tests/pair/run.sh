#!/usr/bin/env bash
# Live pair tests (DESIGN.md 3.3-3.5, Documentation/pair.md): a primary and
# a backup pvft-hv on loopback, a pvft-arbiter between them, and the faults
# a pair must survive: kill -9 and SIGSTOP of either replica, a network cut
# or stall (pvft-faultproxy), an arbiter restarted or unreachable, peers
# that must be refused. Tests check behaviour, never durations: exit
# statuses, stderr lines, and the console output across a failover
# (seqcheck.sh: one execution's output with at most a duplicated tail).
#
# Every process is started directly in the background, its PID recorded,
# and ended by that PID (never by name): at the end of its test, and in the
# EXIT trap; a replica still running after its wait (wait_end) is killed
# and the test fails, so nothing hangs. Ports are found free at run time.
# Last line: "N passed, N failed". ONLY=REGEX runs the matching tests;
# PAIR_TRIALS (20) sets the kill_primary trials (make soak: 300);
# PAIR_KEEP=DIR keeps the files of a failed test (stdout, stderr of each
# process) in DIR/NAME, for a bug report.
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
ARBITER=$build/bin/pvft-arbiter
PVFT=$build/bin/pvft
PROXY=$build/bin/pvft-faultproxy
G=$build/guest
SEQCHECK=$(dirname "$0")/seqcheck.sh
T=120 # seconds: the longest a replica may take to end after its fault
TRIALS=${PAIR_TRIALS:-20}
# The count guest the failover tests run: on the 2-core CI box (ptrace
# backend) a pair runs it in 2.3-3 s after pairing, the exits more than
# the sleeps setting the pace.
N=3000
COUNT="n=$N sleep_us=200"
# Tests that must not fail over: pair.md says to raise --timeout-ms on a
# loaded host, and this one is (the default, 80 ms, is for failover tests).
CALM=(--timeout-ms 1000)

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
KEY=$tmp/domain.key # both replicas' --key: every pair runs over TLS
make_key "$KEY"
ARB_KEYS=$tmp/arbiter-keys # the arbiters' --keys: each pair's own key
mkdir -m 700 "$ARB_KEYS"
HV_KEY=(--key "$KEY") # start_backup, start_primary
ATTEMPTS=3
KEEP=${PAIR_KEEP:-}
ctl="" # the fault proxy's control FIFO, open

# --- processes --------------------------------------------------------------

# wait_output NAME BYTES: until NAME's stdout has that many bytes (while it
# runs and the pair is intact, T s at most): a point in the middle of a run.
wait_output() {
	local name=$1 bytes=$2 i
	for ((i = 0; i < T * 20; i++)); do
		intact || return 1
		[ "$(stat -c %s "$t/$name.out")" -ge "$bytes" ] && return 0
		running "$name" || break
		sleep 0.05
	done
	why="$name: stdout has $(stat -c %s "$t/$name.out") bytes, not $bytes"
	return 1
}

# --- the arbiter and the pair -----------------------------------------------

# start_arbiter NAME DIR PORT: pvft-arbiter NAME, once it listens.
start_arbiter() {
	mkdir -p "$2"
	spawn "$1" "$ARBITER" --keys "$ARB_KEYS" --listen "127.0.0.1:$3" --state-dir "$2"
	wait_for "$1" 'listening on' 20
}

# The arbiter most tests share (arbiter_up): its state lives as long as
# the suite, so each pair has its own id (new_pair).
pair_id=0
new_pair() {
	pair_id=$((pair_id + 1))
	arbiter_key "$PVFT" "$KEY" "$ARB_KEYS" "$pair_id"
	arbiter_key "$PVFT" "$KEY" "$ARB_KEYS" $((pair_id + 1000))
}

# start_pair GUEST CMDLINE [pvft-hv args for both]: backup b, then primary
# p; returns once they paired.
start_pair() {
	local guest=$1 cmdline=$2; shift 2
	new_pair
	start_backup b "$guest" "$cmdline" "$@" &&
		start_primary p "$guest" "$cmdline" "$bport" "$@" &&
		wait_for p 'paired with backup' 60
}

# --- checks -----------------------------------------------------------------

# out_is_seq NAME: its stdout is the whole count output, `seq 1 $N`
# (seqcheck with nothing after it says where it is not).
out_is_seq() {
	local said
	said=$("$SEQCHECK" "$N" "$t/$1.out" /dev/null 2>&1) ||
		{ why="$1: stdout is not seq 1 $N: $said"; return 1; }
}
# out_is_prefix NAME: its stdout is a beginning of `seq 1 $N`.
out_is_prefix() {
	local len
	len=$(stat -c %s "$t/$1.out")
	seq 1 "$N" | head -c "$len" | cmp -s - "$t/$1.out" ||
		{ why="$1: stdout is not a prefix of seq 1 $N"; return 1; }
}
# seq_ok OLD NEW: the output rule across a failover, on the count output.
seq_ok() {
	local said
	said=$("$SEQCHECK" "$N" "$t/$1.out" "$t/$2.out" 2>&1) ||
		{ why="seqcheck $1 $2: $said"; return 1; }
}

# end_test: its processes ended, the proxy's FIFO closed.
end_test() {
	stop_all
	if [ -n "$ctl" ]; then
		exec {ctl}>&-
		ctl=""
	fi
	return 0
}

# --- a pair that runs to its end --------------------------------------------

# The nondeterminism stress through a pair, a digest every 500 exits (the
# primary's option: a backup checks those its log has): the backup checks
# them all and ends where the primary did.
t_pair_chaos() {
	arbiter_up || return 1
	new_pair
	start_backup b chaos rounds=200 "${CALM[@]}" &&
		start_primary p chaos rounds=200 "$bport" "${CALM[@]}" --digest-exits 500 ||
		return 1
	wait_end p && wait_end b && rc_is p 0 && rc_is b 0 || return 1
	tail -n 1 "$t/p.out" | grep -qE '^chaos: done rounds=200 .*digest=' ||
		{ why="p: last line '$(tail -n 1 "$t/p.out")'"; return 1; }
	err_has b 'checked [1-9][0-9]+ digests and the end: the run matches its recording' &&
		out_empty b && err_lacks p 'asking the arbiter' && err_lacks b 'asking the arbiter'
}

# Both replicas end with the guest's own exit code: 0, and 2 (hostile's
# for a fault mode it does not know).
t_pair_exit_code() {
	arbiter_up && start_pair hello "" "${CALM[@]}" || return 1
	wait_end p && wait_end b && rc_is p 0 && rc_is b 0 || return 1
	grep -q '^hello: ' "$t/p.out" || { why="p: no hello line"; return 1; }
	err_has b 'the run matches its recording; exit status 0' && out_empty b || return 1
	stop_all
	start_pair hostile fault=nonesuch "${CALM[@]}" || return 1
	wait_end p && wait_end b && rc_is p 2 && rc_is b 2 || return 1
	err_has b 'the run matches its recording; exit status 2' && out_empty b || return 1
	grep -q '^hostile: unknown fault' "$t/p.out" || { why="p: no 'unknown fault' line"; return 1; }
}

# SIGTERM stops the primary; its END says so, and the backup replays the
# stop: both end with 143, the backup printing nothing.
t_stop_primary() {
	arbiter_up && start_pair count "$COUNT" "${CALM[@]}" && wait_output p 500 ||
		return 1
	kill -TERM "${pid[p]}"
	wait_end p && wait_end b || return 1
	# Taken as a stop (not a death by the signal, which is 143 too).
	err_has p 'stopped by signal 15' && rc_is p 143 && rc_is b 143 &&
		err_has b 'the recorded run was stopped by a signal' && out_empty b &&
		out_is_prefix p && err_lacks b 'went live'
}

# --- failover ---------------------------------------------------------------

# kill -9 of the primary at a random moment of the run: the backup goes
# live and finishes, and the console output has no gap. The moment is a
# point in the output, not a time (the box's speed varies): once the
# primary released a random number of bytes, or (one trial in 8) all of
# them, which races the end of the run. A trial where the primary had
# ended first ends without a failover; most must fail over, or this tests
# nothing. A trial where the primary had won the arbiter before it was
# killed (a false failure under load: see intact) ends with the backup
# halted: it must have released nothing, the primary nothing that never
# happened.
t_kill_primary() {
	local i failovers=0 finished=0 falses=0 tails=0 at total j
	total=$(seq 1 "$N" | wc -c)
	arbiter_up || return 1
	for ((i = 1; i <= TRIALS; i++)); do
		start_pair count "$COUNT" || { why="trial $i: $why"; return 1; }
		at=$(((RANDOM * 32768 + RANDOM) % total))
		[ $((RANDOM % 8)) -eq 0 ] && at=$total
		for ((j = 0; j < T * 50; j++)); do
			[ "$(stat -c %s "$t/p.out")" -ge "$at" ] && break
			running p || break
			sleep 0.02
		done
		running p || finished=$((finished + 1))
		kill9 p
		wait_end b || { why="trial $i: $why"; return 1; }
		if owner_is p; then
			falses=$((falses + 1))
			rc_is b 8 "the primary had won the arbiter" && out_empty b &&
				out_is_prefix p || { why="trial $i: $why"; return 1; }
			stop_all
			continue
		fi
		rc_is b 0 "the primary killed at byte $at of its output" &&
			seq_ok p b || { why="trial $i: $why"; return 1; }
		if grep -q 'went live' "$t/b.err"; then
			failovers=$((failovers + 1))
			grep -qE 're-emitted [1-9][0-9]* bytes' "$t/b.err" && tails=$((tails + 1))
		else
			err_has b 'the run matches its recording' ||
				{ why="trial $i: $why"; return 1; }
		fi
		stop_all
	done
	note="$TRIALS trials, $failovers failovers ($finished runs had ended before the kill"
	note+=", $falses false failures before it; $tails new primaries re-emitted a tail)"
	[ $((failovers * 2)) -ge "$TRIALS" ] ||
		{ why="only $note"; return 1; }
}

# kill -9 of the backup: the primary wins the arbiter, runs alone and
# releases everything.
t_kill_backup() {
	arbiter_up && start_pair count "$COUNT" && wait_output p 500 || return 1
	kill9 b
	wait_end p && rc_is p 0 && err_has p 'running alone' && out_is_seq p &&
		owner_is p
}

# A gray failure: the primary stops (SIGSTOP) with its connection open.
# The backup finds it silent, wins the arbiter and finishes the run; the
# old primary, continued, learns it lost and releases nothing more.
t_gray_primary() {
	local size
	arbiter_up && start_pair count "$COUNT" && wait_output p 500 || return 1
	kill -STOP "${pid[p]}"
	wait_for b 'went live' && wait_end b && rc_is b 0 || return 1
	size=$(stat -c %s "$t/p.out")
	kill -CONT "${pid[p]}"
	wait_end p 60 && rc_is p 8 && err_has p 'to b: halting' || return 1
	[ "$(stat -c %s "$t/p.out")" -eq "$size" ] || {
		why="p: stdout grew from $size to $(stat -c %s "$t/p.out") bytes once continued"
		return 1
	}
	seq_ok p b && owner_is b
}

# --- the network between them -----------------------------------------------

# start_proxy: pvft-faultproxy x in front of the backup ($bport); its port
# in $xport, its control FIFO open (read-write: a write never blocks) on
# $ctl.
start_proxy() {
	spawn x "$PROXY" --listen 127.0.0.1:0 --target "127.0.0.1:$bport" \
		--control "$t/x.fifo"
	for _ in $(seq 200); do
		grep -q '^ready$' "$t/x.out" && break
		running x || break
		sleep 0.05
	done
	xport=$(sed -n 's/^faultproxy: listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$t/x.err")
	[ -n "$xport" ] || { why="pvft-faultproxy did not start: $(tail -n 1 "$t/x.err")"; return 1; }
	exec {ctl}<>"$t/x.fifo"
}

# tell CMD ACK: a command for the proxy, until it acknowledges it.
tell() {
	local n
	n=$(grep -c "^faultproxy: $2" "$t/x.err")
	printf '%s\n' "$1" >&"$ctl"
	for _ in $(seq 200); do
		[ "$(grep -c "^faultproxy: $2" "$t/x.err")" -gt "$n" ] && return 0
		sleep 0.05
	done
	why="pvft-faultproxy: no '$2' after '$1'"
	return 1
}

# proxied_pair: backup b, proxy x, primary p through x (default timeouts).
proxied_pair() {
	arbiter_up || return 1
	new_pair
	start_backup b count "$COUNT" && start_proxy &&
		start_primary p count "$COUNT" "$xport" &&
		wait_for p 'paired with backup' 60
}

# partition CMD ACK: the link fails mid-run; of the two replicas, the one
# the arbiter picks finishes the run (0), the other halts (8), and the
# output has no gap whichever won.
partition() {
	proxied_pair && wait_output p 500 && tell "$1" "$2" || return 1
	wait_end p && wait_end b || return 1
	case ${rcs[p]}/${rcs[b]} in
	0/8) note="the primary won" ;;
	8/0) note="the backup won" ;;
	*)
		why="exit statuses: primary ${rcs[p]}, backup ${rcs[b]}: want one 0 and one 8"
		return 1
		;;
	esac
	err_has p 'asking the arbiter' && err_has b 'asking the arbiter' || return 1
	if [ "${rcs[p]}" -eq 0 ]; then
		err_has p 'running alone' && err_has b 'to p: halting' && out_is_seq p &&
			out_empty b && owner_is p
	else
		err_has b 'went live' && err_has p 'to b: halting' && seq_ok p b &&
			owner_is b
	fi
}

# The connection is reset at both ends.
t_proxy_cut() { partition cut 'cut'; }
# Nothing goes either way, the connection stays open.
t_proxy_stall() { partition stall 'stall'; }

# 5 ms more each way on every byte, the whole run: slower, not failed.
t_proxy_delay() {
	arbiter_up || return 1
	new_pair
	start_backup b count "$COUNT" "${CALM[@]}" && start_proxy &&
		tell 'delay 5' 'delay 5' &&
		start_primary p count "$COUNT" "$xport" "${CALM[@]}" || return 1
	wait_end p && wait_end b && rc_is p 0 && rc_is b 0 || return 1
	out_is_seq p && out_empty b && err_has b 'the run matches its recording' &&
		err_lacks p 'asking the arbiter'
}

# --- the arbiter ------------------------------------------------------------

# The arbiter dies (kill -9) and comes back on the same port and state
# mid-run; then the primary dies: the backup still wins and finishes.
t_arbiter_restart() {
	local URL aport
	free_port
	aport=$port
	URL=pvft://127.0.0.1:$aport
	start_arbiter a "$t/arb" "$aport" && start_pair count "$COUNT" &&
		wait_output p 500 || return 1
	kill9 a
	start_arbiter a2 "$t/arb" "$aport" && wait_output p 3000 || return 1
	kill9 p
	wait_end b && rc_is b 0 && err_has b 'went live' && seq_ok p b &&
		owner_is b "$t/arb"
}

# No arbiter: the backup of a dead primary waits, printing nothing, for
# as long as it takes; once an arbiter answers, it goes live.
t_arbiter_unreachable() {
	local URL aport
	free_port
	aport=$port
	URL=pvft://127.0.0.1:$aport
	# Pairing asks the arbiter (pair.md, stale replicas): it is there
	# then, and gone when the primary fails.
	start_arbiter a "$t/arb" "$aport" && start_pair count "$COUNT" &&
		wait_output p 500 || return 1
	kill9 a
	kill9 p
	wait_for b 'cannot reach the arbiter' || return 1
	sleep 3
	running b || { wait_end b; why="b ended (status ${rcs[b]}) with no arbiter"; return 1; }
	err_lacks b 'went live' && out_empty b || return 1
	start_arbiter a "$t/arb" "$aport" || return 1
	wait_end b && rc_is b 0 && err_has b 'went live' && seq_ok p b &&
		owner_is b "$t/arb"
}

# --- refusals ---------------------------------------------------------------

# complete_with PORT [pvft-hv args]: a right primary for the backup b
# still waiting on PORT: the pair runs to its end.
complete_with() {
	local port=$1; shift
	start_primary p2 count "n=200 sleep_us=0" "$port" "${CALM[@]}" "$@" || return 1
	wait_end p2 && wait_end b && rc_is p2 0 && rc_is b 0 || return 1
	seq 1 200 | cmp -s - "$t/p2.out" || { why="p2: stdout is not seq 1 200"; return 1; }
	err_has b 'the run matches its recording'
}

# Another pair id: refused; the backup waits for the next connection.
t_refuse_pair_id() {
	arbiter_up || return 1
	new_pair
	start_backup b count "n=200 sleep_us=0" "${CALM[@]}" || return 1
	spawn p "$HV" --role primary --peer "127.0.0.1:$bport" --pair $((pair_id + 1000)) \
		--node p --arbiter "$URL" --key "$KEY" "${CALM[@]}" --cmdline "n=200 sleep_us=0" "$G/count.elf"
	wait_end p && rc_is p 9 && err_has p 'refused the pair: .*pair '"$((pair_id + 1000))" &&
		out_empty p && wait_for b 'is not a primary of this pair' || return 1
	running b || { why="b ended after the refusal"; return 1; }
	complete_with "$bport"
}

# Another command line or memory size: both refuse, naming it (the backup
# was told to run something else: it ends too).
t_refuse_cmdline() {
	arbiter_up || return 1
	new_pair
	start_backup b count "n=200 sleep_us=0" "${CALM[@]}" &&
		start_primary p count "n=201 sleep_us=0" "$bport" "${CALM[@]}" || return 1
	# Refused, and the backup waits on for the right primary (pair.md).
	wait_end p && rc_is p 9 || return 1
	err_has p 'refused the pair: .*cmdline' && wait_for b 'cmdline' && out_empty p || return 1
	running b || { why="b ended after refusing a primary"; return 1; }
	complete_with "$bport"
}

t_refuse_memory() {
	arbiter_up || return 1
	new_pair
	start_backup b count "n=200 sleep_us=0" "${CALM[@]}" -m 32 &&
		start_primary p count "n=200 sleep_us=0" "$bport" "${CALM[@]}" -m 64 || return 1
	wait_end p && rc_is p 9 || return 1
	err_has p 'refused the pair: .*memory' && wait_for b 'memory' && out_empty p || return 1
	running b || { why="b ended after refusing a primary"; return 1; }
	complete_with "$bport" -m 32
}

# Another guest image: its hash differs.
t_refuse_image() {
	arbiter_up || return 1
	new_pair
	start_backup b count "n=200 sleep_us=0" "${CALM[@]}" &&
		start_primary p hello "n=200 sleep_us=0" "$bport" "${CALM[@]}" || return 1
	wait_end p && rc_is p 9 || return 1
	err_has p 'refused the pair: .*image' && out_empty p || return 1
	running b || { why="b ended after refusing a primary"; return 1; }
	complete_with "$bport"
}

# Nobody listens: after --connect-timeout, 9; no guest runs unprotected.
t_refuse_no_backup() {
	arbiter_up || return 1
	new_pair
	free_port
	start_primary p count "n=200 sleep_us=0" "$port" --connect-timeout 1 || return 1
	wait_end p 60 && rc_is p 9 && out_empty p &&
		err_has p "cannot reach the backup at 127\.0\.0\.1:$port within 1 s"
}

# Random bytes on the backup's port: refused; then a real primary pairs.
t_refuse_junk() {
	arbiter_up || return 1
	new_pair
	start_backup b count "n=200 sleep_us=0" "${CALM[@]}" || return 1
	head -c 4096 /dev/urandom >"/dev/tcp/127.0.0.1/$bport" 2>/dev/null
	wait_for b 'did not prove this pair.s key' || return 1
	running b || { why="b ended after the junk"; return 1; }
	complete_with "$bport"
}

# --- run them ---------------------------------------------------------------

run_all
summary
