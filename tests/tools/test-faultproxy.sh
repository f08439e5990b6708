#!/usr/bin/env bash
# pvft-faultproxy, driven from bash: clients are /dev/tcp connections, the
# target is pvft-echoserver (or another proxy in front of it). Each test
# starts its own proxies and ends them by PID; the echo server and every
# temp file go in the EXIT trap. Last line: "N passed, N failed".
# ONLY=REGEX runs the matching tests.
set -u
build=${1:-build}
PROXY=$build/bin/pvft-faultproxy
ECHO=$build/bin/pvft-echoserver
T=10 # seconds: the longest any one wait may take
# Bytes offered with nobody reading: more than the kernel's socket buffers
# on the way (up to 32 MiB each here) can hide, so the proxy's bound shows.
BULK=$((64 << 20))

# A write to a socket the proxy reset is an error to look at, not a signal
# that ends the script.
trap '' PIPE

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
declare -A port ctl # the current test's proxies' ports and FIFOs, by name
conns=() # the current test's client fds
LOG_GLOBS=(../echo.err '*.err')
LOG_LINES=5

# wait_exit NAME: until proxy NAME ends by itself (at most T s); sets rc.
wait_exit() {
	wait_end "$1" || return 1
	rc=${rcs[$1]}
}

# start_proxy NAME TARGET_PORT: a proxy NAME in front of 127.0.0.1:PORT;
# sets pid[NAME], port[NAME] and ctl[NAME] (its control FIFO, open here
# read-write so that a write never blocks, even on a dead proxy).
start_proxy() {
	local name=$1 fd
	spawn "$name" "$PROXY" --listen 127.0.0.1:0 --target "127.0.0.1:$2" \
		--control "$t/$name.fifo"
	wait_file "$t/$name.out" '^ready$' || { why="$name: no \"ready\""; return 1; }
	port[$name]=$(sed -n 's/^faultproxy: listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' \
		"$t/$name.err")
	[ -n "${port[$name]}" ] || { why="$name: no port on stderr"; return 1; }
	fd=${ctl[$name]:-}
	[ -n "$fd" ] && exec {fd}<&-
	exec {fd}<>"$t/$name.fifo"
	ctl[$name]=$fd
}

# stop_proxies: end this test's proxies and close its connections, then
# wait for the echo server to see them end, so that no late line of one
# test counts in the next.
stop_proxies() {
	local fd i
	for fd in "${conns[@]}"; do exec {fd}<&-; done
	conns=()
	stop_all TERM
	for fd in "${ctl[@]}"; do exec {fd}<&-; done
	port=() ctl=()
	for ((i = 0; i < T * 20; i++)); do
		[ "$(opens)" -eq "$(ends)" ] && return
		sleep 0.05
	done
}

# tell NAME CMD ACK: write CMD to the proxy's FIFO, wait for its
# acknowledgement "faultproxy: ACK..." on stderr.
tell() {
	local name=$1 cmd=$2 ack="^faultproxy: $3" n
	n=$(grep -cE -- "$ack" "$t/$name.err")
	printf '%s\n' "$cmd" >&"${ctl[$name]}"
	wait_file "$t/$name.err" "$ack" $((n + 1)) ||
		{ why="$name: no \"$3\" after \"$cmd\""; return 1; }
}

# connect NAME: a client of proxy NAME, its fd in $fd.
connect() {
	exec {fd}<>"/dev/tcp/127.0.0.1/${port[$1]}" ||
		{ why="cannot connect to $1"; return 1; }
	conns+=("$fd")
}

# roundtrip FD LINE [SECONDS]: LINE comes back in time.
roundtrip() {
	local got=""
	printf '%s\n' "$2" 1>&"$1" 2>"$t/write.err" ||
		{ why="write '$2': $(cat "$t/write.err")"; return 1; }
	read -r -t "${3:-$T}" got <&"$1" 2>"$t/read.err"
	[ "$got" = "$2" ] || { why="sent '$2', got '$got' $(cat "$t/read.err")"; return 1; }
}

# nothing_back FD SECONDS: no byte arrives for that long.
nothing_back() {
	local got="" r
	read -r -t "$2" -n 1 got <&"$1" 2>/dev/null
	r=$?
	[ "$r" -gt 128 ] || { why="got '$got' (read status $r), want nothing"; return 1; }
}

# is_reset FD: the connection was reset (not just closed, not open).
is_reset() {
	local got="" r
	read -r -t "$T" got <&"$1" 2>"$t/read.err"
	r=$?
	[ "$r" -ne 0 ] && [ "$r" -le 128 ] && grep -q 'reset by peer' "$t/read.err" ||
		{ why="read status $r, '$got', want a reset; $(cat "$t/read.err")"; return 1; }
}

# What reached the echo server: connections opened, reset, ended.
opens() { grep -c ': open$' "$tmp/echo.err"; }
resets() { grep -c ': reset:' "$tmp/echo.err"; }
ends() { grep -cE ': (eof|reset:)' "$tmp/echo.err"; }
alive() { kill -0 "${pid[$1]}" 2>/dev/null || { why="$1 died"; return 1; }; }

end_test() {
	stop_proxies
	return 0
}

# --- the tests -------------------------------------------------------------

t_pass() {
	start_proxy p "$eport" && connect p && roundtrip "$fd" hello &&
		roundtrip "$fd" "second line"
}

# Bytes both ways with nobody reading the echo: the queues fill, the proxy
# stops reading, its memory stays within the bound; then all of it comes
# back intact and in order.
t_pass_bounded() {
	local c hwm
	start_proxy p "$eport" && connect p || return 1
	c=$fd
	head -c "$BULK" /dev/urandom >"$t/bulk"
	cat "$t/bulk" >&"$c" &
	adopt writer $!
	sleep 2
	running writer ||
		{ why="$BULK bytes went in with nobody reading"; return 1; }
	timeout "$T" head -c "$BULK" <&"$c" >"$t/bulk.back"
	cmp -s "$t/bulk" "$t/bulk.back" ||
		{ why="echo differs: $(cmp "$t/bulk" "$t/bulk.back" 2>&1)"; return 1; }
	reap writer
	hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/${pid[p]}/status")
	# 2 MiB of queues plus the program: far less than the bytes offered.
	[ "$hwm" -lt $((16 << 10)) ] || { why="proxy peak RSS ${hwm} kB"; return 1; }
}

# A stall holds bytes both ways and new connections too; pass releases all.
t_stall() {
	local c d n0 r0 got
	start_proxy p "$eport" && connect p || return 1
	c=$fd
	roundtrip "$c" before && tell p stall stall || return 1
	n0=$(opens)
	r0=$(resets)
	printf 'held\n' >&"$c"
	nothing_back "$c" 1 || return 1
	connect p || return 1
	d=$fd
	printf 'new\n' >&"$d"
	nothing_back "$d" 0.5 || return 1
	[ "$(opens)" -eq "$n0" ] || { why="a connection reached the target in a stall"; return 1; }
	tell p pass pass || return 1
	read -r -t "$T" got <&"$c" && [ "$got" = held ] ||
		{ why="after pass, got '$got' want 'held'"; return 1; }
	read -r -t "$T" got <&"$d" && [ "$got" = new ] ||
		{ why="after pass, the new connection got '$got' want 'new'"; return 1; }
	roundtrip "$c" after || return 1
	[ "$(resets)" -eq "$r0" ] || { why="a connection was reset"; return 1; }
}

# Each way takes the delay; chunks keep their order and are not delayed
# one after another; pass releases what is held at once.
t_delay() {
	local c t0 t1 got i
	start_proxy p "$eport" && connect p || return 1
	c=$fd
	tell p "delay 400" "delay 400" || return 1
	t0=$(now_ms)
	for i in 1 2 3 4 5; do
		printf 'line %s\n' "$i" >&"$c"
		sleep 0.05
	done
	for i in 1 2 3 4 5; do
		read -r -t "$T" got <&"$c"
		[ "$got" = "line $i" ] || { why="got '$got' want 'line $i'"; return 1; }
		if [ "$i" -eq 1 ]; then
			t1=$(now_ms)
			[ $((t1 - t0)) -ge 790 ] ||
				{ why="first line back after $((t1 - t0)) ms, want >= 800"; return 1; }
		fi
	done
	t1=$(now_ms)
	# One after another, they would take 4000 ms.
	[ $((t1 - t0)) -lt 3000 ] ||
		{ why="5 lines back after $((t1 - t0)) ms: delays add up"; return 1; }
	tell p "delay 5000" "delay 5000" || return 1
	t0=$(now_ms)
	printf 'held\n' >&"$c"
	sleep 0.3
	tell p pass pass || return 1
	read -r -t "$T" got <&"$c"
	t1=$(now_ms)
	[ "$got" = held ] && [ $((t1 - t0)) -lt 3000 ] ||
		{ why="after pass: '$got' after $((t1 - t0)) ms"; return 1; }
}

# cut resets both ends, and the next connection goes through.
t_cut() {
	local c n0
	start_proxy p "$eport" && connect p || return 1
	c=$fd
	roundtrip "$c" hello || return 1
	n0=$(resets)
	tell p cut 'cut \(1 reset\)' && is_reset "$c" || return 1
	wait_file "$tmp/echo.err" ': reset:' $((n0 + 1)) ||
		{ why="the target's end was not reset"; return 1; }
	connect p && roundtrip "$fd" again && alive p
}

# refuse resets what is open and every new connection; pass ends it.
t_refuse() {
	local c n0
	start_proxy p "$eport" && connect p || return 1
	c=$fd
	roundtrip "$c" hello && tell p refuse 'refuse \(1 reset\)' &&
		is_reset "$c" || return 1
	n0=$(opens)
	connect p && is_reset "$fd" || return 1
	connect p && is_reset "$fd" || return 1
	[ "$(opens)" -eq "$n0" ] || { why="a refused connection reached the target"; return 1; }
	tell p pass pass && connect p && roundtrip "$fd" back
}

# A reset from either side of a chain client -> p1 -> p2 -> echo reaches
# the other side as a reset; both proxies live on.
t_peer_reset() {
	start_proxy p2 "$eport" && start_proxy p1 "${port[p2]}" || return 1
	connect p1 && roundtrip "$fd" one || return 1
	tell p2 cut 'cut \(1 reset\)' && is_reset "$fd" || return 1
	grep -q 'target: Connection reset by peer' "$t/p1.err" ||
		{ why="p1 did not see its target reset"; return 1; }
	connect p1 && roundtrip "$fd" two || return 1
	tell p1 cut 'cut \(1 reset\)' && is_reset "$fd" || return 1
	wait_file "$t/p2.err" 'client: Connection reset by peer' ||
		{ why="p2 did not see its client reset"; return 1; }
	connect p1 && roundtrip "$fd" three && alive p1 && alive p2
}

# A target that refuses: the client is reset, the proxy goes on.
t_target_down() {
	# A port nothing listens on: a proxy's, once it has quit. p starts
	# first, so that it cannot be given that port and proxy to itself.
	start_proxy gone "$eport" && start_proxy p "${port[gone]}" &&
		tell gone quit quit && wait_exit gone || return 1
	connect p && is_reset "$fd" || return 1
	grep -q 'target: Connection refused' "$t/p.err" ||
		{ why="no 'Connection refused' line"; return 1; }
	alive p
}

# Unknown or malformed commands are said to be ignored; nothing changes.
t_bad_command() {
	start_proxy p "$eport" && connect p || return 1
	tell p bogus 'unknown command "bogus"' &&
		tell p 'delay soon' 'delay soon: not a delay' &&
		tell p 'delay -1' 'delay -1: not a delay' &&
		roundtrip "$fd" still && alive p
}

t_quit() {
	start_proxy p "$eport" && connect p && roundtrip "$fd" hello &&
		tell p quit quit && wait_exit p || return 1
	[ "$rc" -eq 0 ] || { why="exit status $rc after quit"; return 1; }
}

t_sigterm() {
	start_proxy p "$eport" && connect p && roundtrip "$fd" hello || return 1
	kill -TERM "${pid[p]}"
	wait_exit p || return 1
	[ "$rc" -eq 0 ] || { why="exit status $rc after SIGTERM"; return 1; }
}

# The FIFO made by an earlier proxy is used again, a regular file refused.
t_control_file() {
	start_proxy p "$eport" && tell p quit quit && wait_exit p ||
		return 1
	start_proxy p "$eport" && tell p stall stall || return 1
	: >"$t/plain"
	"$PROXY" --listen 127.0.0.1:0 --target "127.0.0.1:$eport" \
		--control "$t/plain" >/dev/null 2>"$t/p-plain.err"
	rc=$?
	[ "$rc" -eq 1 ] && grep -q 'not a FIFO' "$t/p-plain.err" ||
		{ why="regular file as FIFO: exit status $rc"; return 1; }
}

for tool in "$PROXY" "$ECHO"; do
	[ -x "$tool" ] || { echo "FAIL setup: $tool missing (make all)"; echo "0 passed, 1 failed"; exit 1; }
done
"$ECHO" --listen 127.0.0.1:0 >"$tmp/echo.out" 2>"$tmp/echo.err" &
track $!
wait_file "$tmp/echo.out" '^ready$' ||
	{ echo "FAIL setup: pvft-echoserver did not start"; echo "0 passed, 1 failed"; exit 1; }
eport=$(sed -n 's/^echoserver: listening on port \([0-9]*\)$/\1/p' "$tmp/echo.err")

run t_pass
run t_pass_bounded
run t_stall
run t_delay
run t_cut
run t_refuse
run t_peer_reset
run t_target_down
run t_bad_command
run t_quit
run t_sigterm
run t_control_file

summary
