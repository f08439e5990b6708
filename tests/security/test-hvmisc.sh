#!/usr/bin/env bash
# pvft-hv's robustness against its own users and its own end, as outside
# testers found it wanting:
#   - teardown: a primary ending with unacknowledged records (running alone
#     and stopped, or fenced) while a client polls query-status as fast as
#     it can: the control thread must never read a channel, vif or console
#     already disposed (it crashed with SIGSEGV);
#   - the control socket: a client that does not read its replies never
#     holds the guest up and is dropped once it owes too much; a command
#     name is compared byte for byte (an embedded NUL is no "quit");
#   - the loopback vif's service address: no other user can bind it;
#   - --record-limit: a recording stops at its limit with a log that
#     replays.
# Tests check behaviour, never durations: exit statuses, stderr lines,
# console output counted by lines (a wait has a generous hang guard, T).
#
# Every process is started in the background, its PID recorded and ended
# by that PID (never by name), at the end of its test and in the EXIT
# trap. Ports are found free at run time. Last line: "N passed, N failed".
# ONLY=REGEX runs the matching tests; HVMISC_TRIALS (20) sets the runs of
# each teardown test.
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
PVFT=$build/bin/pvft
ARBITER=$build/bin/pvft-arbiter
CTL=$build/bin/pvft-ctlclient
UDPBIND=$build/bin/pvft-udpbind
G=$build/guest
T=120 # seconds: the longest any wait may take (a hang guard)
TRIALS=${HVMISC_TRIALS:-20}
# Long enough never to end by itself within a test.
LONG="n=100000000 sleep_us=1000"
# A pair that must not fail over by itself on a loaded box (pair.md).
CALM=(--timeout-ms 1000)

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
KEY=$tmp/domain.key # every pair over TLS, its arbiter keyed
make_key "$KEY"
ARB_KEYS=$tmp/arbiter-keys
mkdir -m 700 "$ARB_KEYS"
LOG_GLOBS=('*.err' q.out f.out)

# --- processes (tests/lib.sh spawns, reaps and stops them) -----------------

# wait_lines NAME N: until NAME's stdout has N lines (while it runs).
wait_lines() {
	local name=$1 n=$2 i
	for ((i = 0; i < T * 10; i++)); do
		[ "$(wc -l <"$t/$name.out")" -ge "$n" ] && return 0
		running "$name" || break
		sleep 0.1
	done
	why="$name: stdout has $(wc -l <"$t/$name.out") lines, not $n"
	return 1
}

# wait_sock PATH: until the control socket at PATH exists.
wait_sock() {
	local i
	for ((i = 0; i < T * 10; i++)); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	why="no control socket at $1"
	return 1
}

# --- the arbiter and the pair -----------------------------------------------

pair_id=0

# start_pair GUEST CMDLINE [pvft-hv args for both]: backup b, then primary
# p (control socket $t/p.sock), a new pair id; returns once they paired.
start_pair() {
	local guest=$1 cmdline=$2; shift 2
	pair_id=$((pair_id + 1))
	arbiter_key "$PVFT" "$KEY" "$ARB_KEYS" "$pair_id" || return 1
	free_port
	spawn b "$HV" --role backup --listen "127.0.0.1:$port" --pair "$pair_id" \
		--node b --arbiter "$URL" --key "$KEY" --control "$t/b.sock" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
	wait_for b 'waiting for the primary on' 60 || return 1
	spawn p "$HV" --role primary --peer "127.0.0.1:$port" --pair "$pair_id" \
		--node p --arbiter "$URL" --key "$KEY" --control "$t/p.sock" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
	wait_for p 'paired with backup' 60
}

# poll_status NAME: a client polling NAME's control socket as fast as it
# can (process "q"), once it answered.
poll_status() {
	wait_sock "$t/$1.sock" || return 1
	spawn q "$CTL" poll "$t/$1.sock"
}

# --- teardown under query-status polling ------------------------------------

# A primary ends with records its backup never acknowledged while a client
# polls its status as fast as it can: it must end with its own status,
# never a crash (it died of SIGSEGV in lag_ns() from the control thread,
# reading the channel main() had disposed). Odd runs: it runs alone (its
# backup killed) and SIGTERM ends it: 143. Even runs: it is stopped
# (SIGSTOP), its backup takes the pair, and continued it learns it lost
# and halts: 8.
t_teardown_polled() {
	local i alone=0 fenced=0 replies=0
	arbiter_up || return 1
	for ((i = 1; i <= TRIALS; i++)); do
		start_pair count "$LONG" "${CALM[@]}" && wait_lines p 20 &&
			poll_status p || { why="run $i: $why"; return 1; }
		if ((i % 2)); then
			kill9 b
			wait_for p 'running alone' || { why="run $i: $why"; return 1; }
			kill -TERM "${pid[p]}"
			wait_end p && rc_is p 143 "SIGTERM while running alone" &&
				err_has p 'stopped by signal 15' ||
				{ why="run $i (alone): $why"; return 1; }
			alone=$((alone + 1))
		else
			kill -STOP "${pid[p]}"
			wait_for b 'went live' || { why="run $i: $why"; return 1; }
			kill -CONT "${pid[p]}"
			wait_end p && rc_is p 8 "fenced" && err_has p 'halting' ||
				{ why="run $i (fenced): $why"; return 1; }
			fenced=$((fenced + 1))
		fi
		wait_end q || { why="run $i: $why"; return 1; }
		replies=$((replies + $(sed -n 's/ replies$//p' "$t/q.out")))
		stop_all
	done
	note="$alone alone, $fenced fenced; $replies status replies polled"
}

# --- the control socket ------------------------------------------------------

# start_single: a single (unreplicated) count guest g, control socket
# $t/g.sock, printing lines; returns once it has.
start_single() {
	spawn g "$HV" --control "$t/g.sock" --cmdline "$LONG" "$G/count.elf"
	wait_sock "$t/g.sock" && wait_lines g 20
}

# status_of SOCK: query-status's "state", or nothing.
status_of() {
	"$CTL" call "$1" '{"execute":"query-status"}' 2>/dev/null |
		sed -n 's/.*"state":"\([a-z-]*\)".*/\1/p'
}

# Eight clients send requests and do not read the replies (one such client
# held the guest for 1 s, eight for 14 s: the control thread blocked in
# send() with its lock held, and the vCPU thread's console output needs
# that lock). Each fills its socket, then waits, not reading, for the guest
# to print 200 more lines: it must (pvft-hv holds the unread replies, the
# guest goes on); then it floods until pvft-hv drops it for owing more
# than 64 KiB, which pvft-hv says. The guest runs on and answers.
t_control_unread_replies() {
	local k n
	start_single || return 1
	for k in 1 2 3 4 5 6 7 8; do
		spawn "f$k" "$CTL" flood "$t/g.sock" "$t/g.out" 200
	done
	for k in 1 2 3 4 5 6 7 8; do
		wait_end "f$k" && rc_is "f$k" 0 "$(tail -n 1 "$t/f$k.out")" ||
			return 1
	done
	n=$(grep -c 'control: a client left more than 65536 bytes of replies unread: dropped' "$t/g.err")
	[ "$n" -eq 8 ] || { why="g: said $n clients dropped for unread replies, want 8"; return 1; }
	running g || { wait_end g; why="g ended (status ${rcs[g]})"; return 1; }
	n=$(wc -l <"$t/g.out")
	wait_lines g $((n + 20)) || return 1
	[ "$(status_of "$t/g.sock")" = running ] || { why="g: query-status does not say running"; return 1; }
	kill -TERM "${pid[g]}"
	wait_end g && rc_is g 143
}

# A command name is compared byte for byte: "quit\u0000x" (and "quit\u0000")
# are no quit (json_object_get_string() stops at the NUL: it was taken for
# one). Refused as CommandNotFound; the domain runs on.
t_control_nul_command() {
	local name out n
	start_single || return 1
	for name in 'quit\u0000x' 'quit\u0000' 'query-status\u0000quit'; do
		out=$("$CTL" call "$t/g.sock" "{\"execute\":\"$name\",\"id\":1}") ||
			{ why="no reply to $name"; return 1; }
		[[ $out == '{"error":{"class":"CommandNotFound",'*'"id":1}' ]] ||
			{ why="$name: reply $out, want a CommandNotFound error"; return 1; }
	done
	[ "$(status_of "$t/g.sock")" = running ] || { why="g: query-status does not say running"; return 1; }
	n=$(wc -l <"$t/g.out")
	wait_lines g $((n + 20)) && err_lacks g 'quit asked' || return 1
	kill -TERM "${pid[g]}"
	wait_end g && rc_is g 143
}

# --- the loopback vif's service address ---------------------------------------

# as_nobody CMD...: CMD as uid/gid 65534, no groups: another local user.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }

# While a pvft-hv holds its loopback vif's service address, another user
# cannot bind it, with or without SO_REUSEADDR / SO_REUSEPORT, nor the
# wildcard address on that port (pvft-hv bound it with SO_REUSEADDR: any
# user that set it too could bind it, and took the clients' datagrams).
# The same user still can, with SO_REUSEPORT: that is how a backup gone
# live takes the address from its old primary.
t_vif_service_other_uid() {
	local opts rc
	command -v setpriv >/dev/null || { why="setpriv (util-linux) is missing"; return 1; }
	free_port
	spawn g "$HV" --control none --vif "mac=02:00:00:00:00:42,ip=10.0.0.2,loopback=127.0.0.1:$port" \
		--cmdline "$LONG" "$G/count.elf"
	wait_lines g 5 || return 1
	for opts in "" --reuseaddr --reuseport "--reuseaddr --reuseport"; do
		# shellcheck disable=SC2086 # $opts: zero, one or two options
		as_nobody "$UDPBIND" $opts "127.0.0.1:$port" >"$t/u.out" 2>"$t/u.err"
		rc=$?
		[ "$rc" -eq 1 ] || {
			why="uid 65534 ${opts:-(no options)}: bind 127.0.0.1:$port: exit $rc, want 1 (EADDRINUSE): $(cat "$t/u.out" "$t/u.err")"
			return 1
		}
	done
	as_nobody "$UDPBIND" --reuseaddr --reuseport "0.0.0.0:$port" >"$t/u.out" 2>"$t/u.err"
	rc=$?
	[ "$rc" -eq 1 ] || { why="uid 65534: bind 0.0.0.0:$port: exit $rc, want 1: $(cat "$t/u.out" "$t/u.err")"; return 1; }
	"$UDPBIND" --reuseport "127.0.0.1:$port" >"$t/u.out" 2>"$t/u.err" ||
		{ why="pvft-hv's own uid cannot share the address: $(cat "$t/u.err")"; return 1; }
	running g || { wait_end g; why="g ended (status ${rcs[g]})"; return 1; }
	kill -TERM "${pid[g]}"
	wait_end g && rc_is g 143
}

# --- --record-limit -------------------------------------------------------------

# The chaos guest logs fast (86 MB in 2 s): with --record-limit 1M it is
# stopped with the message, exit status 153 (as SIGXFSZ), a log no bigger
# than the limit that ends with END (cause stopped) and replays to the
# same end: the same console output, status and final digest. Sizes
# below 1M, or a limit without --record, are usage errors (2).
t_record_limit() {
	local size
	spawn r "$HV" --record "$t/c.log" --record-limit 1M \
		--cmdline rounds=100000000 "$G/chaos.elf"
	wait_end r && rc_is r 153 "stopped at the limit" &&
		err_has r "record: $t/c.log reached its limit of 1048576 bytes: the domain is stopped" ||
		return 1
	size=$(stat -c %s "$t/c.log")
	[ "$size" -le 1048576 ] || { why="the log has $size bytes, more than its limit"; return 1; }
	"$PVFT" log-dump --summary "$t/c.log" >"$t/dump.out" 2>"$t/dump.err" ||
		{ why="log-dump: $(cat "$t/dump.err")"; return 1; }
	grep -qE 'complete +yes: END status 153, cause stopped' "$t/dump.out" ||
		{ why="log-dump: $(grep complete "$t/dump.out")"; return 1; }
	spawn rp "$HV" --replay "$t/c.log" --console show "$G/chaos.elf"
	wait_end rp && rc_is rp 153 "the replay of a log stopped at its limit" &&
		err_has rp 'the run matches its recording; exit status 153' || return 1
	cmp -s "$t/r.out" "$t/rp.out" || { why="the replay's console output differs"; return 1; }
	[ "$(grep -o 'final digest: .*' "$t/r.err")" = "$(grep -o 'final digest: .*' "$t/rp.err")" ] ||
		{ why="final digests differ"; return 1; }
	spawn u1 "$HV" --record "$t/u.log" --record-limit 1023K "$G/hello.elf"
	spawn u2 "$HV" --record-limit 1M "$G/hello.elf"
	spawn u3 "$HV" --record "$t/u.log" --record-limit 1X "$G/hello.elf"
	wait_end u1 && rc_is u1 2 && err_has u1 "bad --record-limit '1023K'" &&
		wait_end u2 && rc_is u2 2 && err_has u2 'record-limit applies to --record' &&
		wait_end u3 && rc_is u3 2 && err_has u3 "bad --record-limit '1X'"
}

# --- run them ---------------------------------------------------------------

run_all
summary
