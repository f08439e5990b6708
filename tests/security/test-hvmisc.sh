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

tmp=$(mktemp -d)
t=$tmp/t # the current test's files
mkdir "$t"
declare -A live # PID -> 1: started and not yet known to be reaped
declare -A pid  # the current test's processes, by name
declare -A rcs  # ... and their exit statuses, once ended
cleanup() {
	local p
	for p in "${!live[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0
fail=0
why=""
note=""

# --- processes --------------------------------------------------------------

# free_port: a TCP and UDP port nothing on this host uses, into $port
# (never the same twice in a run), below the ephemeral range if possible.
given=" "
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
[ "${eph_lo:-0}" -gt 21000 ] && port_span=$((eph_lo - 20000)) || port_span=40000
free_port() {
	local hex
	while :; do
		port=$((20000 + RANDOM % port_span))
		[[ $given == *" $port "* ]] && continue
		hex=$(printf '%04X' "$port")
		grep -qE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/tcp6 \
			/proc/net/udp /proc/net/udp6 2>/dev/null && continue
		given+="$port "
		return
	done
}

# spawn NAME CMD...: CMD in the background, stdout and stderr in
# $t/NAME.out and .err; its PID in pid[NAME].
spawn() {
	local name=$1; shift
	: >"$t/$name.out"
	: >"$t/$name.err"
	"$@" </dev/null >"$t/$name.out" 2>"$t/$name.err" &
	pid[$name]=$!
	live[$!]=1
	unset "rcs[$name]"
}

# running NAME: has NAME not ended yet? (A zombie has ended.)
running() {
	local s
	s=$(cat "/proc/${pid[$1]}/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s:0:1}" != Z ]
}

reap() {
	wait "${pid[$1]}" 2>/dev/null
	rcs[$1]=$?
	unset "live[${pid[$1]}]"
}

kill9() {
	[ -n "${rcs[$1]:-}" ] && return 0
	kill -9 "${pid[$1]}" 2>/dev/null
	reap "$1"
}

# wait_end NAME [SECONDS]: until NAME ends; sets rcs[NAME]. Still running
# then: killed, and the test fails.
wait_end() {
	local name=$1 s=${2:-$T} i
	[ -n "${rcs[$name]:-}" ] && return 0
	for ((i = 0; i < s * 10; i++)); do
		running "$name" || break
		sleep 0.1
	done
	if running "$name"; then
		kill9 "$name"
		why="$name still running after $s s (killed)"
		return 1
	fi
	reap "$name"
}

stop_all() {
	local name
	for name in "${!pid[@]}"; do
		# Continued first: a stopped process takes no SIGKILL until then.
		kill -CONT "${pid[$name]}" 2>/dev/null
		kill9 "$name"
	done
	pid=() rcs=()
}

# wait_for NAME ERE [SECONDS]: until NAME's stderr has a line matching ERE.
wait_for() {
	local name=$1 re=$2 s=${3:-$T} i
	for ((i = 0; i < s * 10; i++)); do
		grep -qE -- "$re" "$t/$name.err" && return 0
		running "$name" || break
		sleep 0.1
	done
	grep -qE -- "$re" "$t/$name.err" && return 0
	why="$name: no /$re/ on stderr ($(running "$name" && echo "still running" ||
		echo "it ended"))"
	return 1
}

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

# --- checks -----------------------------------------------------------------

rc_is() {
	[ "${rcs[$1]:-none}" = "$2" ] ||
		{ why="$1: exit status ${rcs[$1]:-none}, want $2${3:+ ($3)}"; return 1; }
}
err_has() { grep -qE -- "$2" "$t/$1.err" || { why="$1: stderr lacks /$2/"; return 1; }; }
err_lacks() {
	! grep -qE -- "$2" "$t/$1.err" ||
		{ why="$1: stderr has '$(grep -m 1 -E -- "$2" "$t/$1.err")'"; return 1; }
}

# --- the arbiter and the pair -----------------------------------------------

arbiter_pid=""
arbiter_up() {
	if [ -n "$arbiter_pid" ]; then
		kill -0 "$arbiter_pid" 2>/dev/null && return 0
		why="the shared pvft-arbiter died: $(tail -n 2 "$tmp/arbiter.err")"
		return 1
	fi
	free_port
	mkdir -p "$tmp/arbiter"
	"$ARBITER" --listen "127.0.0.1:$port" --state-dir "$tmp/arbiter" \
		</dev/null 2>"$tmp/arbiter.err" &
	arbiter_pid=$!
	live[$!]=1
	URL=pvft://127.0.0.1:$port
	for _ in $(seq 200); do
		grep -q 'listening on' "$tmp/arbiter.err" && return 0
		sleep 0.1
	done
	why="pvft-arbiter did not start: $(tail -n 2 "$tmp/arbiter.err")"
	return 1
}

pair_id=0

# start_pair GUEST CMDLINE [pvft-hv args for both]: backup b, then primary
# p (control socket $t/p.sock), a new pair id; returns once they paired.
start_pair() {
	local guest=$1 cmdline=$2; shift 2
	pair_id=$((pair_id + 1))
	free_port
	spawn b "$HV" --role backup --listen "127.0.0.1:$port" --pair "$pair_id" \
		--node b --arbiter "$URL" --control "$t/b.sock" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
	wait_for b 'waiting for the primary on' 60 || return 1
	spawn p "$HV" --role primary --peer "127.0.0.1:$port" --pair "$pair_id" \
		--node p --arbiter "$URL" --control "$t/p.sock" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
	wait_for p 'paired with backup' 60
}

# poll_status NAME: a client polling NAME's control socket as fast as it
# can (process "q"), once it answered.
poll_status() {
	wait_sock "$t/$1.sock" || return 1
	spawn q "$CTL" poll "$t/$1.sock"
}

ATTEMPTS=3
run() {
	local name=$1
	[ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]] && return
	why="" note=""
	if "$name"; then
		echo "PASS $name${note:+: $note}"
		pass=$((pass + 1))
	else
		echo "FAIL $name: ${why:-failed}"
		logs 6
		fail=$((fail + 1))
	fi
	end_test
}

logs() {
	local f
	for f in "$t"/*.err "$t"/q.out "$t"/f.out; do
		[ -s "$f" ] && tail -n "$1" "$f" | sed "s/^/    ${f##*/}: /"
	done
}

end_test() {
	stop_all
	rm -rf "$t" && mkdir "$t"
}

# --- teardown under query-status polling ------------------------------------

# The primary runs alone (its backup killed: records it sent were never
# acknowledged), a client polls its status, SIGTERM ends it: 143, never a
# crash (it died of SIGSEGV in lag_ns() from the control thread, reading
# the channel main() had disposed).
t_teardown_alone_polled() {
	local i
	arbiter_up || return 1
	for ((i = 1; i <= TRIALS; i++)); do
		start_pair count "$LONG" "${CALM[@]}" && wait_lines p 20 &&
			poll_status p || { why="run $i: $why"; return 1; }
		kill9 b
		wait_for p 'running alone' || { why="run $i: $why"; return 1; }
		kill -TERM "${pid[p]}"
		wait_end p && rc_is p 143 "SIGTERM while running alone" &&
			err_has p 'stopped by signal 15' ||
			{ why="run $i: $why"; return 1; }
		wait_end q || { why="run $i: $why"; return 1; }
		stop_all
	done
	note="$TRIALS runs"
}

# The primary is stopped (SIGSTOP) with records in flight; its backup
# takes the pair; continued, the primary learns it lost and halts: 8,
# never a crash, while a client polls its status throughout.
t_teardown_fenced_polled() {
	local i
	arbiter_up || return 1
	for ((i = 1; i <= TRIALS; i++)); do
		start_pair count "$LONG" "${CALM[@]}" && wait_lines p 20 &&
			poll_status p || { why="run $i: $why"; return 1; }
		kill -STOP "${pid[p]}"
		wait_for b 'went live' || { why="run $i: $why"; return 1; }
		kill -CONT "${pid[p]}"
		wait_end p && rc_is p 8 "fenced" && err_has p 'halting' ||
			{ why="run $i: $why"; return 1; }
		wait_end q || { why="run $i: $why"; return 1; }
		stop_all
	done
	note="$TRIALS runs"
}

# --- run them ---------------------------------------------------------------

for t_name in $(grep -oE '^t_[a-z0-9_]+' "$0"); do
	run "$t_name"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
