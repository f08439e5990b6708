#!/usr/bin/env bash
# Arbiter tests: pvft-arbiter and real etcd (one member, then three), asked
# through `pvft arbiter` and through raw lines on /dev/tcp. Everything is
# on 127.0.0.1, on ports found free at run time. Every process a test
# starts is ended by its PID, and the temporary directory removed, also on
# failure. Last line: "N passed, N failed".
# ONLY=REGEX runs the matching tests (they share one pvft-arbiter, started
# by the first that needs it).
set -u
build=${1:-build}
PVFT=$build/bin/pvft
ARBITER=$build/bin/pvft-arbiter
T=20 # seconds: a hang is a failure, never a stuck make check

tmp=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0
fail=0
why=""

# --- helpers ----------------------------------------------------------------

# free_port: a TCP port nothing on this host uses, into $port (never the
# same twice in a run). /proc/net/tcp: no tool needed.
given=" "
free_port() {
	local hex
	while :; do
		port=$((20000 + RANDOM % 40000))
		[[ $given == *" $port "* ]] && continue
		hex=$(printf '%04X' "$port")
		grep -qE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null &&
			continue
		given+="$port "
		return
	done
}

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

rc_is() { [ "$rc" -eq "$1" ] || { why="$last: exit status $rc, want $1${2:+ ($2)}"; return 1; }; }
out_is() {
	[ "$(cat "$tmp/$1.out")" = "$2" ] ||
		{ why="$1: stdout '$(head -c 200 "$tmp/$1.out")', want '$2'"; return 1; }
}
err_has() { grep -qE -- "$2" "$tmp/$1.err" || { why="$1: stderr lacks /$2/"; return 1; }; }

# start_arbiter NAME DIR [PORT]: pvft-arbiter in the background (port 0:
# the kernel picks); sets arb_pid and arb_port once it listens.
start_arbiter() {
	local name=$1 dir=$2 i
	"$ARBITER" --listen "127.0.0.1:${3:-0}" --state-dir "$dir" 2>"$tmp/$name.log" &
	arb_pid=$!
	pids+=("$arb_pid")
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
arbiter_up() {
	[ -n "${main_pid:-}" ] && return 0
	mkdir -p "$tmp/state"
	start_arbiter main "$tmp/state" || return 1
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

run() {
	local name=$1 f
	[ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]] && return
	why=""
	if "$name"; then
		echo "PASS $name"
		pass=$((pass + 1))
	else
		echo "FAIL $name: ${why:-failed}"
		for f in "$tmp"/*.err "$tmp"/*.log; do
			[ -s "$f" ] && tail -n 3 "$f" | sed "s/^/    ${f##*/}: /"
		done
		fail=$((fail + 1))
	fi
	rm -f "$tmp"/*.out "$tmp"/*.err
}

# --- pvft-arbiter: the test-and-set -----------------------------------------

t_grant() {
	arbiter_up || return 1
	pa grant acquire "$URL" 1 1 nodeA
	rc_is 0 && out_is grant "granted to nodeA" &&
		[ "$(cat "$tmp/state/1-1")" = nodeA ] || { why=${why:-"state file 1-1 is not 'nodeA'"}; return 1; }
}

t_idempotent_reacquire() {
	arbiter_up || return 1
	pa again acquire "$URL" 1 1 nodeA
	rc_is 0 && out_is again "granted to nodeA"
}

t_deny_names_owner() {
	arbiter_up || return 1
	pa deny acquire "$URL" 1 1 nodeB
	rc_is 1 && out_is deny "denied: owned by nodeA"
}

t_query_owner_and_free() {
	arbiter_up || return 1
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
	arbiter_up || return 1
	pa e2 acquire "$URL" 1 2 nodeB && rc_is 0 && out_is e2 "granted to nodeB" || return 1
	pa e1 query "$URL" 1 1 && rc_is 0 && out_is e1 "owned by nodeA" || return 1
	pa p2 acquire "$URL" 2 1 nodeC && rc_is 0 && out_is p2 "granted to nodeC"
}

t_logs_each_grant_and_denial() {
	arbiter_up || return 1
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
	arbiter_up || return 1
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
	arbiter_up || return 1
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
	arbiter_up || return 1
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
	arbiter_up || return 1
	for i in $(seq 50); do
		timeout -k 5 "$T" "$PVFT" arbiter acquire --timeout-ms 5000 "$URL" 9 9 "racer$i" \
			>"$tmp/race$i.out" 2>"$tmp/race$i.err" &
		cpids+=($!)
		pids+=($!)
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
	arbiter_up || return 1
	yes 'QUERY 1 1' | head -c 4000000 >"$tmp/flood.txt"
	head -c 4000000 "$tmp/flood.txt" >"/dev/tcp/127.0.0.1/$main_port" 2>/dev/null &
	flood_pid=$!
	pids+=("$flood_pid")
	head -c 1000000 /dev/urandom >"/dev/tcp/127.0.0.1/$main_port" 2>/dev/null &
	junk_pid=$!
	pids+=("$junk_pid")
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
	arbiter_up || return 1
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
	arbiter_up || return 1
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

# daemon NAME ARGS...: pvft-arbiter in the foreground; sets rc and
# $tmp/NAME.err.
daemon() {
	local name=$1; shift
	timeout -k 5 "$T" "$ARBITER" "$@" </dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$? last=$name
}

t_unusable_state_dir() {
	arbiter_up || return 1
	daemon nodir --listen 127.0.0.1:0 --state-dir "$tmp/no/such/dir"
	rc_is 1 && err_has nodir "state dir .*/no/such/dir: No such file or directory" || return 1
	: >"$tmp/plainfile"
	daemon notdir --listen 127.0.0.1:0 --state-dir "$tmp/plainfile"
	rc_is 1 && err_has notdir "state dir .*/plainfile: Not a directory" || return 1
	daemon shared --listen 127.0.0.1:0 --state-dir "$tmp/state"
	rc_is 1 && err_has shared "state dir .*/state: in use by another pvft-arbiter"
}

t_port_in_use() {
	mkdir -p "$tmp/state-port"
	arbiter_up || return 1
	daemon inuse --listen "127.0.0.1:$main_port" --state-dir "$tmp/state-port"
	rc_is 1 && err_has inuse "cannot listen on 127\.0\.0\.1:$main_port: Address already in use"
}

t_daemon_usage() {
	daemon u1
	rc_is 2 && err_has u1 'required' || return 1
	daemon u2 --listen 127.0.0.1 --state-dir "$tmp"
	rc_is 2 && err_has u2 "bad --listen: '127.0.0.1': no port" || return 1
	daemon u3 --listen 127.0.0.1:0 --state-dir "$tmp" extra
	rc_is 2 || return 1
	daemon u4 --help
	rc_is 0 && grep -q -- '--state-dir' "$tmp/u4.out"
}

t_sigint_clean_exit() {
	mkdir -p "$tmp/state-int"
	start_arbiter int "$tmp/state-int" || return 1
	kill -INT "$arb_pid"
	wait "$arb_pid"
	rc=$? last=int
	rc_is 0 "after SIGINT"
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

# --- etcd -------------------------------------------------------------------

# start_etcd NAME CLIENT_PORT PEER_PORT CLUSTER: one member, in the
# background; its PID in etcd_pid[NAME]. Short heartbeats and elections:
# a test waits for them.
declare -A etcd_pid
start_etcd() {
	local name=$1 cport=$2 pport=$3 cluster=$4
	etcd --name "$name" --data-dir "$tmp/$name.etcd" \
		--listen-client-urls "http://127.0.0.1:$cport" \
		--advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$cluster" --initial-cluster-state new \
		--initial-cluster-token "pvft-test-$$" \
		--heartbeat-interval 50 --election-timeout 500 \
		>"$tmp/$name.etcd.log" 2>&1 &
	etcd_pid[$name]=$!
	pids+=($!)
}

# etcd_status PORT: the member's /v3/maintenance/status JSON.
etcd_status() {
	curl -s -m 2 -X POST "http://127.0.0.1:$1/v3/maintenance/status" -d '{}'
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

have_etcd() {
	command -v etcd >/dev/null && command -v curl >/dev/null ||
		{ why="etcd or curl not installed (make deps installs them)"; return 1; }
}

t_etcd_one_member() {
	local c p u
	have_etcd || return 1
	free_port; c=$port
	free_port; p=$port
	start_etcd solo "$c" "$p" "solo=http://127.0.0.1:$p"
	etcd_ready "$c" || return 1
	u=etcd://127.0.0.1:$c
	pa e-free query "$u" 7 1 && rc_is 0 && out_is e-free "free" || return 1
	pa e-grant acquire "$u" 7 1 nodeA && rc_is 0 && out_is e-grant "granted to nodeA" || return 1
	pa e-again acquire "$u" 7 1 nodeA && rc_is 0 && out_is e-again "granted to nodeA" || return 1
	pa e-deny acquire "$u" 7 1 nodeB && rc_is 1 && out_is e-deny "denied: owned by nodeA" || return 1
	pa e-owner query "$u" 7 1 && rc_is 0 && out_is e-owner "owned by nodeA" || return 1
	pa e-epoch acquire "$u" 7 2 nodeB && rc_is 0 && out_is e-epoch "granted to nodeB" || return 1
	# The key and value are as Documentation/arbiter-protocol.md says.
	[ "$(curl -s -m 2 -X POST "http://127.0.0.1:$c/v3/kv/range" \
		-d "{\"key\":\"$(printf pvft/arbiter/7/1 | base64)\"}" |
		jq -r '.kvs[0].value' | base64 -d)" = nodeA ] ||
		{ why="etcd key pvft/arbiter/7/1 does not hold nodeA"; return 1; }
	# A dead endpoint first in the URL is skipped.
	free_port
	pa e-skip acquire "etcd://127.0.0.1:$port,127.0.0.1:$c" 7 1 nodeB &&
		rc_is 1 && out_is e-skip "denied: owned by nodeA" || return 1
	kill "${etcd_pid[solo]}"
	wait "${etcd_pid[solo]}" 2>/dev/null
	pa e-gone query "$u" 7 1 && rc_is 3 && err_has e-gone "etcd://127\.0\.0\.1:$c: unreachable"
}

# Three members; the leader is killed outright after a grant. With the URL
# naming all three, the dead leader first, the owner is still granted and
# another node still denied: the client fails over to a live member.
t_etcd_leader_killed() {
	local names=(m1 m2 m3) cp=() pp=() cluster="" i leader="" lid url
	have_etcd || return 1
	for i in 0 1 2; do
		free_port; cp[i]=$port
		free_port; pp[i]=$port
		cluster+="${cluster:+,}${names[i]}=http://127.0.0.1:${pp[i]}"
	done
	for i in 0 1 2; do start_etcd "${names[i]}" "${cp[i]}" "${pp[i]}" "$cluster"; done
	etcd_ready "${cp[@]}" || return 1
	for i in 0 1 2; do
		lid=$(etcd_status "${cp[i]}" | jq -r 'select(.leader == .header.member_id) | .leader')
		[ -n "$lid" ] && leader=$i
	done
	[ -n "$leader" ] || { why="no member says it is the leader"; return 1; }
	url="etcd://127.0.0.1:${cp[leader]}"
	for i in 0 1 2; do
		[ "$i" -ne "$leader" ] && url+=",127.0.0.1:${cp[i]}"
	done
	pa_retry c-grant acquire --timeout-ms 2000 "$url" 11 1 nodeA
	rc_is 0 && out_is c-grant "granted to nodeA" || return 1
	pa c-deny acquire --timeout-ms 2000 "$url" 11 1 nodeB
	rc_is 1 && out_is c-deny "denied: owned by nodeA" || return 1
	kill -9 "${etcd_pid[${names[leader]}]}"
	wait "${etcd_pid[${names[leader]}]}" 2>/dev/null
	pa_retry c-again acquire --timeout-ms 2000 "$url" 11 1 nodeA
	rc_is 0 "after the leader died" && out_is c-again "granted to nodeA" || return 1
	pa_retry c-deny2 acquire --timeout-ms 2000 "$url" 11 1 nodeB
	rc_is 1 "after the leader died" && out_is c-deny2 "denied: owned by nodeA" || return 1
	pa_retry c-new acquire --timeout-ms 2000 "$url" 11 2 nodeB
	rc_is 0 "a new key after the leader died" && out_is c-new "granted to nodeB" || return 1
	# Its own three only: a member of another test may still run.
	for i in 0 1 2; do kill -9 "${etcd_pid[${names[i]}]}" 2>/dev/null; done
	for i in 0 1 2; do wait "${etcd_pid[${names[i]}]}" 2>/dev/null; done
	return 0
}

# --- run them ---------------------------------------------------------------

# In the order written: the first tests set up the keys later ones read.
for t in $(grep -oE '^t_[a-z0-9_]+' "$0"); do
	run "$t"
done
if [ -n "${main_pid:-}" ]; then
	kill -TERM "$main_pid"
	wait "$main_pid"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "PASS sigterm_clean_exit"
		pass=$((pass + 1))
	else
		echo "FAIL sigterm_clean_exit: exit status $rc after SIGTERM, want 0"
		fail=$((fail + 1))
	fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
