# shellcheck shell=bash
# Shared by the shell suites: source it (before setting anything below:
# sourcing sets the defaults), then harness_begin.
#
# The harness. A suite's files live in $tmp (removed on exit), the current
# test's in $t. Every process a suite starts is started by spawn (or, when
# it needs its own redirections, started in the background and handed to
# track), its PID recorded, and ended by that PID, never by name: at the
# end of its test (end_test: stop_all by default), and in the EXIT trap
# (cleanup), which also runs the suite's exit hooks (at_exit), ends what
# runs in the network namespaces it registered (own_netns) and deletes
# them. run NAME runs one test and says PASS or FAIL with why; summary
# prints the last line every suite ends with: "N passed, N failed".
#
# Two kinds of command. A process (spawn NAME CMD...) has its stdout and
# stderr in $t/NAME.out and .err and its exit status, once reaped, in
# rcs[NAME]. A command a suite runs to its end (its own wrapper: hv, pa,
# pv...) sets rc and last (its NAME, or empty when it writes $t/out and
# $t/err). The checks take either: rc_is NAME STATUS, err_has NAME ERE
# for a process or named command; rc_is STATUS, err_has ERE for the last
# command.

# make_key FILE: a domain key as pvft keygen writes it (64 hex digits,
# mode 0600), without needing pvft itself.
make_key() {
	(umask 077 && printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$1")
}

# arbiter_key PVFT DOMAINKEY KEYDIR PAIR: pvft-arbiter's key for PAIR,
# derived from the domain key, into KEYDIR/PAIR.key (pvft-arbiter --keys
# KEYDIR reads it at each handshake: a key added while it runs works).
arbiter_key() {
	mkdir -p "$3" && chmod 700 "$3" && "$1" keygen -f -a "$4" "$2" "$3" >/dev/null
}

# --- the suite's state, and what a suite may set ----------------------------

pass=0
fail=0
why=""   # why the current test failed
note=""  # said on its PASS line
again="" # set by a test whose fault came too late to test: run it again
rc=0     # the last command's exit status ...
last=""  # ... and its name
declare -A live # PID -> 1: started and not yet known to be reaped
declare -A pid  # the current test's processes, by name
declare -A rcs  # ... and their exit statuses, once ended
exit_hooks=()   # functions the EXIT trap runs (at_exit)
netns_made=()   # network namespaces the EXIT trap deletes (own_netns)

T=${T:-60}       # seconds: the longest a wait may take (suites set their own)
ATTEMPTS=1       # runs of a test that set $again before it counts as failed
LOG_LINES=6      # lines of each file logs shows for a failed test
LOG_GLOBS=('*.err') # which files, relative to $t
LOG_SKIP=""      # an ERE: files (base names) logs leaves out
KEEP=""          # a directory: a failed test's files are kept in KEEP/NAME
KEEP_FILES=()    # ... with these files of the suite's
SKIP_RC=""       # a test returning this is skipped (not counted)
PASS_WORD=PASS   # the word a check's line starts with (ok, bad)

# harness_begin [flat]: $tmp, and $t for the current test's files: $tmp/t,
# emptied after each test; flat: $tmp itself, where run removes only the
# *.out and *.err files after each test (what else a test writes there,
# later tests may read). The EXIT trap, and INT and TERM exit through it.
harness_begin() {
	tmp=$(mktemp -d) || exit 1
	if [ "${1:-}" = flat ]; then
		t=$tmp
		flat=yes
	else
		t=$tmp/t
		flat=""
		mkdir "$t"
	fi
	harness_pid=$BASHPID
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# at_exit FUNCTION: run it in the EXIT trap, after the suite's processes
# were killed and before its namespaces and files go.
at_exit() { exit_hooks+=("$1"); }

# own_netns NAME: the namespace was made by this suite: at exit, what runs
# in it is killed (by PID) and it is deleted (with its links and taps).
own_netns() { netns_made+=("$1"); }

cleanup() {
	local p n h
	# Only the suite's shell: a child forked by spawn that a signal hits
	# before its exec runs the traps too (bash), with a stale copy of live.
	[ "$BASHPID" = "$harness_pid" ] || return
	for p in "${!live[@]}"; do
		kill -CONT "$p" 2>/dev/null
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null # no "Killed" line
	done
	for h in "${exit_hooks[@]}"; do "$h"; done
	# Anything else in our namespaces was started by this suite too.
	for n in "${netns_made[@]}"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	done
	wait 2>/dev/null
	for n in "${netns_made[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$tmp"
}

# now_ms: the wall clock in ms (to report a duration, never to judge one).
now_ms() { echo $((${EPOCHREALTIME/./} / 1000)); }

# --- processes --------------------------------------------------------------

# free_port: a port nothing on this host uses, TCP or UDP, into $port
# (never the same twice in a run): below the kernel's ephemeral range when
# there is room, so that no outgoing connection takes it before it is
# bound.
free_port_given=" "
free_port() {
	local hex lo span
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
	[ "${lo:-0}" -gt 21000 ] && span=$((lo - 20000)) || span=40000
	while :; do
		port=$((20000 + RANDOM % span))
		[[ $free_port_given == *" $port "* ]] && continue
		hex=$(printf '%04X' "$port")
		grep -qE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/tcp6 \
			/proc/net/udp /proc/net/udp6 2>/dev/null && continue
		free_port_given+="$port "
		return
	done
}

# track PID: a process the suite started itself (in the background, with
# its own redirections): the EXIT trap kills it.
track() { live[$1]=1; }

# adopt NAME PID: a process of the current test the suite started itself
# (in the background, with its own redirections), as NAME: as if spawned.
adopt() {
	pid[$1]=$2
	live[$2]=1
	unset "rcs[$1]"
}

# spawn NAME CMD...: CMD in the background, stdin /dev/null, its stdout
# and stderr in $t/NAME.out and .err; its PID in pid[NAME].
spawn() { spawn_in /dev/null "$@"; }

# spawn_in FILE NAME CMD...: the same with stdin from FILE.
spawn_in() {
	local in=$1 name=$2
	shift 2
	: >"$t/$name.out"
	: >"$t/$name.err" # before the fork: a check may read them at once
	"$@" <"$in" >"$t/$name.out" 2>"$t/$name.err" &
	pid[$name]=$!
	live[$!]=1
	unset "rcs[$name]"
}

# gone PID: has it ended? (A zombie has.)
gone() {
	local s
	{ s=$(<"/proc/$1/stat"); } 2>/dev/null || return 0
	s=${s##*) }
	[ "${s:0:1}" = Z ]
}

# wait_gone PID [SECONDS]: until PID has ended ($T s at most).
wait_gone() {
	local i
	for ((i = 0; i < ${2:-$T} * 10; i++)); do
		gone "$1" && return 0
		sleep 0.1
	done
	gone "$1"
}

# running NAME: has process NAME not ended yet?
running() {
	[ -n "${pid[$1]:-}" ] && ! gone "${pid[$1]}"
}

# reap NAME: its exit status into rcs[NAME] (it has ended).
reap() {
	wait "${pid[$1]}" 2>/dev/null # no "Killed" line: the test looks
	rcs[$1]=$?
	unset "live[${pid[$1]}]"
}

# stop NAME [SIGNAL [SECONDS]]: end NAME by its PID and reap it: SIGNAL
# (KILL by default; a stopped process is continued first), and if it
# still runs SECONDS ($T) later, KILL. Nothing if it was reaped already
# (or never started).
stop() {
	local name=$1 sig=${2:-KILL} s=${3:-$T} i
	[ -n "${pid[$name]:-}" ] && [ -z "${rcs[$name]:-}" ] || return 0
	kill -CONT "${pid[$name]}" 2>/dev/null
	kill -"$sig" "${pid[$name]}" 2>/dev/null
	if [ "$sig" != KILL ]; then
		for ((i = 0; i < s * 20; i++)); do
			running "$name" || break
			sleep 0.05
		done
		running "$name" && kill -9 "${pid[$name]}" 2>/dev/null
	fi
	reap "$name"
}

# kill9 NAME: kill -9 and reap it at once (sets rcs[NAME]).
kill9() { stop "$1" KILL; }

# shellcheck disable=SC2120 # the arguments are stop's, seldom given
# stop_all [SIGNAL [SECONDS]]: end the current test's processes (stop),
# and forget them.
stop_all() {
	local name
	for name in "${!pid[@]}"; do
		stop "$name" "$@"
	done
	pid=() rcs=()
}

# wait_end NAME [SECONDS]: until NAME ends ($T s at most); sets rcs[NAME].
# Still running then: killed, and the test fails.
wait_end() {
	local name=$1 s=${2:-$T}
	[ -n "${rcs[$name]:-}" ] && return 0
	if ! wait_gone "${pid[$name]}" "$s"; then
		kill9 "$name"
		why="$name still running after $s s (killed)"
		return 1
	fi
	reap "$name"
}

# wait_in NAME out|err ERE [SECONDS]: until NAME's stdout or stderr has a
# line matching ERE ($T s at most; fails at once if NAME ended without one).
wait_in() {
	local name=$1 f=$2 re=$3 s=${4:-$T} i
	for ((i = 0; i < s * 10; i++)); do
		grep -qE -- "$re" "$t/$name.$f" && return 0
		running "$name" || break
		sleep 0.1
	done
	grep -qE -- "$re" "$t/$name.$f" && return 0
	why="$name: no /$re/ on std$f ($(running "$name" && echo "still running" ||
		echo "it ended"))"
	return 1
}

# wait_for NAME ERE [SECONDS]: wait_in on NAME's stderr.
wait_for() { wait_in "$1" err "$2" "${3:-$T}"; }

# hold_proxy NAME BYTES PORT: a tests/reprotect/holdproxy.py NAME in front
# of 127.0.0.1:PORT (its address into $held) that lets each connection's
# first BYTES through, then nothing more until release NAME: a stream held
# at a byte, whatever the machine's speed.
hold_proxy() {
	command -v python3 >/dev/null || { why="no python3: holdproxy.py needs it"; return 1; }
	spawn "$1" python3 "$(dirname "${BASH_SOURCE[0]}")/reprotect/holdproxy.py" "$3" "$2"
	wait_for "$1" '^holdproxy: listening on ' 30 || return 1
	held=$(sed -n 's/^holdproxy: listening on \([0-9.:]*\)$/\1/p' "$t/$1.err")
}

# release NAME: the holdproxy NAME forwards everything from now on.
release() {
	kill -USR1 "${pid[$1]}" && wait_for "$1" '^holdproxy: released' 30
}

# wait_file FILE ERE [N [SECONDS]]: until FILE has N (1) lines matching
# ERE ($T s at most), whoever writes it.
wait_file() {
	local file=$1 re=$2 n=${3:-1} s=${4:-$T} i c
	for ((i = 0; i < s * 20; i++)); do
		c=$(grep -cE -- "$re" "$file" 2>/dev/null)
		[ "${c:-0}" -ge "$n" ] && return 0
		sleep 0.05
	done
	why="${file#"$t/"}: no /$re/ after $s s: $(tail -n 3 "$file" 2>/dev/null | tr '\n' '|')"
	return 1
}

# --- checks -----------------------------------------------------------------

# cmd_context: more for the message of a failed check on the last
# command (a suite may define it: toolstack shows the command).
cmd_context() { :; }

# The file of the last command's stdout or stderr (out|err).
last_file() { echo "$t/${last:+$last.}$1"; }

# rc_is NAME STATUS [WHY]: process (or named command) NAME ended with
# STATUS. rc_is STATUS [WHY]: the last command did.
rc_is() {
	if [[ $1 =~ ^[0-9]+$ ]]; then
		[ "$rc" = "$1" ] && return 0
		why="${last:+$last: }exit status $rc, want $1${2:+ ($2)}$(cmd_context)"
		return 1
	fi
	[ "${rcs[$1]:-none}" = "$2" ] ||
		{ why="$1: exit status ${rcs[$1]:-none}, want $2${3:+ ($3)}"; return 1; }
}

# rc_not STATUS: the last command ended with another status.
rc_not() {
	[ "$rc" != "$1" ] && return 0
	why="${last:+$last: }exit status $rc, want another$(cmd_context)"
	return 1
}

# err_has [NAME] ERE: NAME's stderr (the last command's) has a line
# matching ERE.
err_has() {
	if [ $# -eq 1 ]; then
		grep -qE -- "$1" "$(last_file err)" && return 0
		why="${last:+$last: }stderr lacks /$1/$(cmd_context)"
		return 1
	fi
	grep -qE -- "$2" "$t/$1.err" || { why="$1: stderr lacks /$2/"; return 1; }
}

# err_lacks NAME ERE: no line of NAME's stderr matches ERE.
err_lacks() {
	! grep -qE -- "$2" "$t/$1.err" ||
		{ why="$1: stderr has '$(grep -m 1 -E -- "$2" "$t/$1.err")'"; return 1; }
}

# out_has [NAME] ERE: NAME's stdout (the last command's) has a line
# matching ERE.
out_has() {
	if [ $# -eq 1 ]; then
		grep -qE -- "$1" "$(last_file out)" && return 0
		why="${last:+$last: }stdout lacks /$1/$(cmd_context)"
		return 1
	fi
	grep -qE -- "$2" "$t/$1.out" ||
		{ why="$1: stdout lacks /$2/ ($(head -c 300 "$t/$1.out" | tr '\n' '|'))"; return 1; }
}

# out_is NAME TEXT: NAME's stdout is TEXT (a final newline aside).
out_is() {
	[ "$(cat "$t/$1.out")" = "$2" ] ||
		{ why="$1: stdout '$(head -c 200 "$t/$1.out")', want '$2'"; return 1; }
}

# out_empty NAME: NAME wrote nothing on its stdout.
out_empty() {
	[ ! -s "$t/$1.out" ] ||
		{ why="$1: stdout has $(stat -c %s "$t/$1.out") bytes, want none"; return 1; }
}

# --- the shared pvft-arbiter ------------------------------------------------

# arbiter_up: the pvft-arbiter the tests share ($ARBITER --keys $ARB_KEYS
# on ARB_LISTEN, by default a free loopback port; through ARB_WRAP, e.g.
# ip netns exec NS, which execs: the PID stays the arbiter's), started by
# the first test that needs it; its state in $tmp/arbiter, its stderr in
# $tmp/arbiter.err, its address in $URL. Fails once it has died.
arbiter_pid=""
ARB_WRAP=()
arbiter_up() {
	local listen=${ARB_LISTEN:-}
	if [ -n "$arbiter_pid" ]; then
		kill -0 "$arbiter_pid" 2>/dev/null && return 0
		why="the shared pvft-arbiter died: $(tail -n 2 "$tmp/arbiter.err")"
		return 1
	fi
	[ -n "$listen" ] || { free_port && listen=127.0.0.1:$port; }
	mkdir -p "$tmp/arbiter"
	"${ARB_WRAP[@]}" "$ARBITER" --keys "$ARB_KEYS" --listen "$listen" \
		--state-dir "$tmp/arbiter" </dev/null >/dev/null 2>"$tmp/arbiter.err" &
	arbiter_pid=$!
	track "$arbiter_pid"
	# shellcheck disable=SC2034 # the suite's
	URL=pvft://$listen
	for _ in $(seq 200); do
		grep -q 'listening on' "$tmp/arbiter.err" && return 0
		sleep 0.1
	done
	why="pvft-arbiter did not start: $(tail -n 2 "$tmp/arbiter.err")"
	return 1
}

# intact: neither replica (p, b) has taken its peer for failed. On a
# loaded box a replica kept off the CPU past --timeout-ms does: a false
# failure, which pair.md allows (it costs a failover, never correctness),
# but then the fault a test injects next tests nothing: the test is run
# again (run: $ATTEMPTS attempts), and its PASS line says so.
intact() {
	local said
	said=$(grep -h -m 1 'asking the arbiter' "$t/p.err" "$t/b.err" 2>/dev/null | head -n 1)
	[ -z "$said" ] && return 0
	again=yes
	why="a false failure before the fault: $said"
	return 1
}

# owner_is NODE|- [DIR [EPOCH]]: the arbiter (state in DIR, by default
# the shared one's) gave pair $pair_id (the suite's current pair) at EPOCH
# (1) to NODE, or to nobody (-).
# shellcheck disable=SC2154
owner_is() {
	local owner e=${3:-1}
	owner=$(cat "${2:-$tmp/arbiter}/$pair_id-$e" 2>/dev/null)
	[ "${owner:--}" = "$1" ] ||
		{ why="the arbiter gave pair $pair_id epoch $e to '${owner:-nobody}', want '$1'"; return 1; }
}

# start_backup NAME GUEST CMDLINE [pvft-hv args]: a backup of pair
# $pair_id on a free port ($bport), node NAME, arbiter $URL, the suite's
# HV_KEY arguments ($HV, guests in $G), once it listens.
HV_KEY=()
start_backup() {
	local name=$1 guest=$2 cmdline=$3; shift 3
	free_port
	bport=$port
	spawn "$name" "$HV" --role backup --listen "127.0.0.1:$bport" \
		--pair "$pair_id" --node "$name" --arbiter "$URL" "${HV_KEY[@]}" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
	wait_for "$name" 'waiting for the primary on' 60
}

# start_primary NAME GUEST CMDLINE PORT [pvft-hv args]: a primary of pair
# $pair_id for the backup (or proxy) on PORT, node NAME, arbiter $URL.
start_primary() {
	local name=$1 guest=$2 cmdline=$3 peer=$4; shift 4
	spawn "$name" "$HV" --role primary --peer "127.0.0.1:$peer" \
		--pair "$pair_id" --node "$name" --arbiter "$URL" "${HV_KEY[@]}" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
}

# --- the runner -------------------------------------------------------------

# logs N: the last N lines of the current test's files (LOG_GLOBS, but
# not LOG_SKIP), indented.
logs() {
	local g f
	for g in "${LOG_GLOBS[@]}"; do
		for f in "$t"/$g; do
			[ -n "$LOG_SKIP" ] && [[ ${f##*/} =~ $LOG_SKIP ]] && continue
			[ -s "$f" ] && tail -n "$1" "$f" 2>/dev/null | sed "s/^/    ${f##*/}: /"
		done
	done
}

# begin_test NAME, end_test: before and after each test (a suite may
# define its own). end_test ends the test's processes; failing, it fails
# the test (and says why).
begin_test() { :; }
end_test() { stop_all; }

# fresh: the current test's files gone, for the next one.
fresh() {
	if [ -n "$flat" ]; then
		rm -f "$t"/*.out "$t"/*.err
	else
		rm -rf "$t" && mkdir -p "$t"
	fi
}

# run NAME: test NAME, unless ONLY (an ERE) leaves it out. PASS or FAIL,
# with why and the last lines of its files; a test that set $again is run
# again, up to ATTEMPTS times, and its PASS line says so.
run() {
	local name=$1 attempt ok
	[ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]] && return
	for ((attempt = 1; ; attempt++)); do
		why="" again="" note=""
		begin_test "$name"
		"$name"
		ok=$?
		end_test || ok=1
		[ "$ok" -eq 0 ] || [ -z "$again" ] || [ "$attempt" -ge "$ATTEMPTS" ] && break
		echo "    $name: attempt $attempt: $why"
		logs 3
		fresh
	done
	[ "$attempt" -gt 1 ] && note+="${note:+; }attempt $attempt of $ATTEMPTS"
	if [ -n "$SKIP_RC" ] && [ "$ok" -eq "$SKIP_RC" ]; then
		echo "SKIP $name: $note"
	elif [ "$ok" -eq 0 ]; then
		echo "PASS $name${note:+: $note}"
		pass=$((pass + 1))
	else
		echo "FAIL $name: ${why:-failed}" | sed '2,$s/^/    /'
		logs "$LOG_LINES"
		if [ -n "$KEEP" ]; then
			mkdir -p "$KEEP" && rm -rf "${KEEP:?}/$name" &&
				cp -r "$t" "$KEEP/$name" 2>/dev/null # not the sockets
			cp "${KEEP_FILES[@]}" "$KEEP/$name/" 2>/dev/null
			echo "    files: $KEEP/$name"
		fi
		fail=$((fail + 1))
	fi
	fresh
}

# run_all: every test (t_*) of the suite, in the order written.
run_all() {
	local name
	for name in $(grep -oE '^t_[a-z0-9_]+' "$0"); do
		run "$name"
	done
}

# ok WHAT, bad WHAT: a check of a suite that counts checks, not tests.
ok() {
	echo "$PASS_WORD $1"
	pass=$((pass + 1))
}
bad() {
	echo "FAIL $1"
	fail=$((fail + 1))
}

# summary: the suite's last line; its status says whether all passed.
summary() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
