#!/usr/bin/env bash
# Multi-host network tests of the kv guest in a live pair (Documentation/
# net.md, pair.md): the guest's service is reached at one IP address from
# another host, and the faults a pair must survive are those of real
# hosts on a real segment: kill -9 of either replica, a partition between
# the replicas (both still reach the arbiter), the primary cut off from
# everything (and its link back later). The client (pvft-kv-client) checks
# that every acknowledged write was applied exactly once across them.
# Tests check behaviour, never durations: exit statuses, stderr lines, the
# client's verdict, where the switch has the guest's MAC; the blackouts
# the client measured are reported, not judged. A replica that took its
# peer for failed before the fault came (a false failure: 2 cores, two
# replicas and a client; --timeout-ms 200) makes the test run again, up
# to 3 attempts, as its PASS line says; t_kv_kill_primary does such a
# trial again instead (the client must pass all the same).
#
# The topology: network namespaces, one per host, named with this
# script's PID (parallel runs do not collide); one L2 segment
# 10.77.0.0/24, a bridge in a "switch" namespace, a veth to each host:
#
#                       sw: bridge sw0
#            p-h1            p-h2            p-arb           p-cli
#             |               |               |               |
#   h1:      eth0   h2:      eth0   arb:     eth0   cli:     eth0
#             |               |           10.77.0.3       10.77.0.4
#      br0 10.77.0.1   br0 10.77.0.2    pvft-arbiter    pvft-kv-client,
#             |               |                         ping
#         tap vif0        tap vif0
#      pvft-hv primary  pvft-hv backup     guest: 10.77.0.10
#
# pvft-hv creates the tap vif0 in its host's namespace and adds it to
# br0 (--vif ...,tap=vif0,bridge=br0): the guest (10.77.0.10, MAC
# 00:16:3e:70:76:01 on both hosts) is on the segment through the host it
# runs on. Each br0 has a fixed MAC (a bridge otherwise takes its
# ports' lowest, which changes as taps come and go). The log channel
# goes h1 -> h2 over the segment (10.77.0.2:7001+pair id), the arbiter
# listens on 10.77.0.3:7100. After a failover the new primary's
# gratuitous ARP moves the guest's MAC to h2's switch port; the client
# keeps the same IP (and MAC).
#
# A partition between the replicas is a blackhole route to the peer in
# each host (the bridges forward the guest's frames at L2, untouched); a
# host cut off is its switch port set down.
#
# Every process is started in the background with `ip netns exec` (which
# execs: the PID is the process's), its PID recorded, and ended by that
# PID (never by name): at the end of its test, and in the EXIT trap,
# which also deletes the namespaces (and with them every link and tap)
# and the temp files. Needs root (namespaces, taps), ping, jq.
# Last line: "N passed, N failed". ONLY=REGEX runs the matching tests;
# KV_TRIALS (20) sets the kill_primary trials; NET_KEEP=DIR keeps the
# files of a failed test (stdout, stderr of each process) in DIR/NAME.
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
ARBITER=$build/bin/pvft-arbiter
PVFT=$build/bin/pvft
KVC=$build/bin/pvft-kv-client
GUEST=$build/guest/kv.elf
T=120 # seconds: the longest a replica may take to end after its fault
TRIALS=${KV_TRIALS:-20}
# pair.md: raise --timeout-ms on a loaded host; 2 cores running two
# replicas (ptrace backend) and the client are one.
PAIR_ARGS=(--timeout-ms 200 --memory 64)
NET=10.77.0
GUEST_IP=$NET.10
KV_PORT=7000
SERVER=$GUEST_IP:$KV_PORT
MAC=00:16:3e:70:76:01
VIF="mac=$MAC,ip=$GUEST_IP,tap=vif0,bridge=br0"
CMDLINE="ip=$GUEST_IP/24 gw=$NET.4 port=$KV_PORT"
ARB_PORT=7100
URL=pvft://$NET.3:$ARB_PORT
# The client's load: enough clients to keep the guest busy, not so many
# that 2 cores starve the replicas.
CLIENTS=8

ns=pvft$$ # namespace prefix: ${ns}sw, ${ns}h1, ...
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
make_key "$tmp/domain.key"
ARB_KEYS=$tmp/arbiter-keys
mkdir -m 700 "$ARB_KEYS"
PAIR_ARGS+=(--key "$tmp/domain.key") # every pair runs over TLS
ATTEMPTS=3
KEEP=${NET_KEEP:-}
KEEP_FILES=("$tmp/arbiter.err")
# The arbiter all tests share (arbiter_up), in arb.
ARB_WRAP=(ip netns exec "${ns}arb")
ARB_LISTEN=$NET.3:$ARB_PORT

# --- the topology -----------------------------------------------------------

# on HOST CMD...: CMD in HOST's namespace.
on() {
	local h=$1; shift
	ip netns exec "$ns$h" "$@"
}

ns_add() {
	ip netns add "$ns$1" || return 1
	own_netns "$ns$1"
	ip -n "$ns$1" link set lo up &&
		# No IPv6 chatter (DAD, router solicitations) for the guest.
		on "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
			net.ipv6.conf.default.disable_ipv6=1
}

# plug HOST ADDR: HOST's eth0 to switch port p-HOST; the address on br0
# (a replica's host: the tap joins it) or on eth0.
plug() {
	local h=$1 addr=$2 dev=eth0
	ns_add "$h" &&
		ip -n "${ns}sw" link add "p-$h" type veth peer name eth0 netns "$ns$h" &&
		ip -n "${ns}sw" link set "p-$h" master sw0 up || return 1
	if [ "$h" = h1 ] || [ "$h" = h2 ]; then
		dev=br0
		# A fixed MAC: a bridge otherwise takes its ports' lowest,
		# which changes as taps come and go, and the other hosts'
		# ARP caches then name a MAC nobody answers to.
		ip -n "$ns$h" link add br0 address "02:77:00:00:00:0$addr" type bridge &&
			ip -n "$ns$h" link set eth0 master br0 &&
			ip -n "$ns$h" link set br0 up || return 1
	fi
	ip -n "$ns$h" link set eth0 up &&
		ip -n "$ns$h" addr add "$NET.$addr/24" dev "$dev"
}

topology_up() {
	local h a
	ns_add sw && ip -n "${ns}sw" link add sw0 type bridge &&
		ip -n "${ns}sw" link set sw0 up || return 1
	plug h1 1 && plug h2 2 && plug arb 3 && plug cli 4 || return 1
	# Every host reaches every other (the guest is not up yet).
	for h in h1 h2 arb; do
		for a in 1 2 3 4; do
			on "$h" ping -q -c 1 -W 5 "$NET.$a" >/dev/null ||
				{ why="$h cannot ping $NET.$a"; return 1; }
		done
	done
}

# --- processes --------------------------------------------------------------

# spawn_on NAME HOST CMD...: spawn NAME, CMD in HOST's namespace (ip netns
# exec execs: the PID is the process's).
spawn_on() {
	local name=$1 h=$2
	shift 2
	spawn "$name" ip netns exec "$ns$h" "$@"
}

# alive NAME...: each is still running.
alive() {
	local name
	for name in "$@"; do
		running "$name" || {
			wait_end "$name"
			why="$name ended (exit status ${rcs[$name]}): $(tail -n 1 "$t/$name.err")"
			return 1
		}
	done
}

# sleep_ms MS
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# --- the arbiter and the pair -----------------------------------------------

# Its state lives as long as the suite, so each pair has its own id.
pair_id=0

# start_pair: a new pair (its own id and log channel port): backup b in
# h2, then primary p in h1; returns once they paired and the guest
# answers a ping from cli.
start_pair() {
	local port
	arbiter_up || return 1
	pair_id=$((pair_id + 1))
	arbiter_key "$PVFT" "$tmp/domain.key" "$ARB_KEYS" "$pair_id" || return 1
	port=$((7001 + pair_id))
	spawn_on b h2 "$HV" --role backup --listen "$NET.2:$port" --pair "$pair_id" \
		--node h2 --arbiter "$URL" "${PAIR_ARGS[@]}" --vif "$VIF" \
		--cmdline "$CMDLINE" "$GUEST"
	wait_for b 'waiting for the primary on' 60 || return 1
	spawn_on p h1 "$HV" --role primary --peer "$NET.2:$port" --pair "$pair_id" \
		--node h1 --arbiter "$URL" "${PAIR_ARGS[@]}" --vif "$VIF" \
		--cmdline "$CMDLINE" "$GUEST"
	wait_for p 'paired with backup' 60 && guest_up
}

# guest_up: until the guest answers a ping from cli (60 s at most, while
# the primary runs).
guest_up() {
	local i
	for ((i = 0; i < 60; i++)); do
		on cli ping -q -c 1 -W 1 "$GUEST_IP" >/dev/null 2>&1 && return 0
		alive p || return 1
	done
	why="the guest at $GUEST_IP never answered a ping"
	return 1
}

# ping_ok: the guest answers ping -c 3 from cli (one reply is enough: a
# lost echo is no fault).
ping_ok() {
	local said
	said=$(on cli ping -q -c 3 -i 0.2 -W 1 "$GUEST_IP" 2>&1) ||
		{ why="ping $GUEST_IP: $(echo "$said" | grep -m 1 'packets transmitted')"; return 1; }
}

# --- the client ---------------------------------------------------------------

# client NAME SECONDS: pvft-kv-client NAME in cli, the --json report on
# its stdout.
client() {
	spawn_on "$1" cli "$KVC" --server "$SERVER" --clients "$CLIENTS" \
		--duration "$2" --json
}

# kv_ok NAME: client NAME ended (it has SECONDS and the final check to
# go) with status 0, having had replies: no write lost or applied twice.
# Its blackout (ms, the longest time without a reply) in $blackout.
kv_ok() {
	local name=$1 j answered
	wait_end "$name" || return 1
	j=$t/$name.out
	if [ "${rcs[$name]}" -ne 0 ]; then
		why="$name: exit status ${rcs[$name]}"
		# (jq -e passes on no input at all.)
		if [ -s "$j" ] && jq -e . "$j" >/dev/null 2>&1; then
			why+=": $(jq -r '"answered \(.answered), lost \(.lost), doubled \(.doubled), errors \(.errors), unverified \(.unverified_keys); first: \(.violations[0] // {} | tostring)"' "$j")"
		else
			why+=": $(tail -n 1 "$t/$name.err")"
		fi
		return 1
	fi
	answered=$(jq -er '.answered' "$j" 2>/dev/null) && [ -n "$answered" ] ||
		{ why="$name: no JSON report: $(head -c 200 "$j")"; return 1; }
	[ "$answered" -gt 0 ] || { why="$name: no request answered"; return 1; }
	[ "$(jq -r '"\(.lost) \(.doubled) \(.ok)"' "$j")" = "0 0 true" ] ||
		{ why="$name: exit status 0 but $(jq -c '{lost, doubled, ok}' "$j")"; return 1; }
	blackout=$(jq -r '.blackout_ms | floor' "$j")
}
blackout=0

# --- checks -----------------------------------------------------------------

# mac_at PORT: the switch has the guest's MAC on PORT (p-h1 or p-h2): the
# replica on that host is the one that last sent a frame as the guest.
# (The switch learns in softirq, after the write that sent the frame
# returned: a few tries.)
mac_at() {
	local at i
	for ((i = 0; i < 20; i++)); do
		at=$(bridge -n "${ns}sw" fdb show br sw0 2>/dev/null |
			sed -n "s/^$MAC dev \([^ ]*\) .*/\1/p")
		[ "$at" = "$1" ] && return 0
		sleep 0.1
	done
	why="the switch has the guest's MAC at '${at:-nowhere}', want $1"
	return 1
}
# live_b: the backup went live as the guest's network identity.
live_b() {
	err_has b 'went live at exit ordinal' &&
		err_has b "vif0: gratuitous ARP sent: $GUEST_IP is at $MAC" && mac_at p-h2
}

# end_test: its processes ended, the network whole again.
end_test() {
	stop_all
	heal
	return 0
}

# --- faults -------------------------------------------------------------------

# cut_replicas: h1 and h2 no longer reach each other (each still reaches
# the arbiter and the client; the guest's frames, bridged, pass).
cut_replicas() {
	ip -n "${ns}h1" route add blackhole "$NET.2/32" &&
		ip -n "${ns}h2" route add blackhole "$NET.1/32"
}

# heal: undo every fault (what was not done fails quietly).
heal() {
	ip -n "${ns}h1" route del blackhole "$NET.2/32" 2>/dev/null
	ip -n "${ns}h2" route del blackhole "$NET.1/32" 2>/dev/null
	ip -n "${ns}sw" link set p-h1 up 2>/dev/null
}

# --- the tests ----------------------------------------------------------------

# The guest answers ping and serves the kv client, through the primary.
t_ping_and_kv() {
	start_pair && ping_ok || return 1
	client c 3
	# A false failure during the run is no fault of the service (the
	# client must pass all the same), but then run it again.
	kv_ok c && intact && alive p b || return 1
	note="$(jq -r '"\(.answered) requests answered, \(.throughput_rps | floor) req/s"' "$t/c.out")"
}

# kill -9 of the primary at a random moment, 0.5-2 s into the client's
# load, $TRIALS times, a fresh pair each: the backup goes live with the
# guest's address, the client is served on and finds nothing lost or
# applied twice, ping works after. A trial where a false failure came
# before the kill tests nothing: the client must still pass, and the
# trial is done again (as many as $TRIALS of them).
t_kv_kill_primary() {
	local i=0 extra=0 at max=0 sum=0 s=4 w
	while [ "$i" -lt "$TRIALS" ]; do
		start_pair || { why="trial $((i + 1)): $why"; return 1; }
		client c "$s"
		at=$((500 + RANDOM % 1501))
		sleep_ms "$at"
		if ! intact; then
			again=""
			kv_ok c || { why="trial $((i + 1)) (false failure before the kill): $why"; return 1; }
			extra=$((extra + 1))
			[ "$extra" -le "$TRIALS" ] ||
				{ why="$extra trials with a false failure before the kill"; return 1; }
			stop_all
			continue
		fi
		i=$((i + 1))
		kill9 p
		if ! wait_for b 'went live' 60; then
			w=$why
			running b || ! owner_is h1 &&
				{ why="trial $i (primary killed at $at ms): $w"; return 1; }
			# The primary had won the arbiter just before the kill
			# (a false failure after intact looked): b halted.
			wait_end b && rc_is b 8 "the primary had won the arbiter" ||
				{ why="trial $i: $why"; return 1; }
			i=$((i - 1)) extra=$((extra + 1))
			stop_all
			continue
		fi
		live_b && kv_ok c && alive b && ping_ok &&
			owner_is h2 ||
			{ why="trial $i (primary killed at $at ms): $why"; return 1; }
		sum=$((sum + blackout))
		[ "$blackout" -gt "$max" ] && max=$blackout
		stop_all
	done
	note="$TRIALS failovers, client blackout max $max ms, mean $((sum / TRIALS)) ms"
	[ "$extra" -gt 0 ] && note+="; $extra trials done again (a false failure before the kill)"
	return 0
}

# h1 and h2 no longer reach each other, both reach the arbiter: the one
# the arbiter picks serves on, the other halts (8); the client, running
# throughout, passes. Healing changes nothing: the winner serves, the
# loser is gone.
t_partition_primary_backup() {
	local won lost node i
	start_pair || return 1
	client c 8
	sleep 1.5
	intact || return 1
	cut_replicas || { why="cannot add the blackhole routes"; return 1; }
	# The first to end is the loser.
	for ((i = 0; i < T * 10; i++)); do
		running p && running b || break
		sleep 0.1
	done
	running p && running b &&
		{ why="neither replica halted in $T s: $(tail -n 1 "$t/p.err")"; return 1; }
	err_has p 'asking the arbiter' && err_has b 'asking the arbiter' || return 1
	if running p; then won=p lost=b node=h1; else won=b lost=p node=h2; fi
	wait_end "$lost" && rc_is "$lost" 8 "it lost the arbiter" &&
		err_has "$lost" 'halting' && alive "$won" && owner_is "$node" || return 1
	if [ "$won" = b ]; then
		live_b || return 1
		note="the backup won"
	else
		err_has p 'running alone' || return 1
		note="the primary won"
	fi
	kv_ok c || return 1
	note+=", client blackout $blackout ms"
	heal
	client c2 2
	kv_ok c2 && ping_ok && alive "$won" && mac_at "p-$node"
}

# h1's switch port goes down: the primary is cut off from everything. The
# backup takes over, the client (running throughout) passes; h1's link
# comes back (while the client runs): the old primary learns it lost and
# halts (8) without a frame to the clients, which pass.
t_partition_primary_isolated() {
	local b1
	start_pair || return 1
	client c 10
	sleep 1.5
	intact || return 1
	ip -n "${ns}sw" link set p-h1 down || { why="cannot set p-h1 down"; return 1; }
	wait_for b 'went live' 60 && live_b && owner_is h2 || return 1
	sleep 1
	alive p || return 1 # it cannot reach the arbiter: it must wait
	heal
	wait_end p 60 && rc_is p 8 "it lost the arbiter" && err_has p 'halting' ||
		return 1
	# Nothing it held went out as the guest once its link was back.
	kv_ok c && mac_at p-h2 || return 1
	b1=$blackout
	client c2 2
	kv_ok c2 && ping_ok && alive b || return 1
	note="client blackout $b1 ms; after the old primary halted $blackout ms"
}

# kill -9 of the backup under load: the primary wins the arbiter and
# serves alone; the client passes.
t_kill_backup() {
	start_pair || return 1
	client c 5
	sleep 1.5
	intact || return 1
	kill9 b
	wait_for p 'running alone' 60 && owner_is h1 && kv_ok c && alive p &&
		ping_ok && err_lacks p 'halting' && mac_at p-h1 || return 1
	note="client blackout $blackout ms"
}

# --- the loopback host side (the embedded default, Documentation/net.md) ----
#
# Everything on 127.0.0.1 of one namespace (cli's): an arbiter of its own,
# both replicas with --vif ...,loopback=127.0.0.1:PORT, and the client. The
# new primary must take the service address over, also while the old one
# is stopped and still holds its socket.

LO_ARB=127.0.0.1:7200
LO_GIP=10.0.2.15
LO_VIF="mac=$MAC,ip=$LO_GIP,loopback=127.0.0.1:$KV_PORT"
LO_CMDLINE="ip=$LO_GIP/24 gw=10.0.2.2 port=$KV_PORT"

# lo_pair: arbiter la, backup b, primary p, all in cli on loopback.
lo_pair() {
	local port
	pair_id=$((pair_id + 1))
	port=$((7300 + pair_id))
	arbiter_key "$PVFT" "$tmp/domain.key" "$ARB_KEYS" "$pair_id" || return 1
	if ! running la 2>/dev/null; then
		mkdir -p "$t/la-state"
		spawn_on la cli "$ARBITER" --keys "$ARB_KEYS" --listen "$LO_ARB" --state-dir "$t/la-state"
		wait_for la 'listening on' 20 || return 1
	fi
	spawn_on b cli "$HV" --role backup --listen "127.0.0.1:$port" \
		--pair "$pair_id" --node lb --arbiter "pvft://$LO_ARB" \
		"${PAIR_ARGS[@]}" --vif "$LO_VIF" --cmdline "$LO_CMDLINE" "$GUEST"
	wait_for b 'waiting for the primary on' 60 || return 1
	spawn_on p cli "$HV" --role primary --peer "127.0.0.1:$port" \
		--pair "$pair_id" --node la --arbiter "pvft://$LO_ARB" \
		"${PAIR_ARGS[@]}" --vif "$LO_VIF" --cmdline "$LO_CMDLINE" "$GUEST"
	wait_for p 'paired with backup' 60 || return 1
	for _ in $(seq 600); do
		grep -q 'kv: listening' "$t/p.out" && return 0
		alive p || return 1
		sleep 0.1
	done
	why="the kv guest never said it listens"
	return 1
}

lo_client() {
	spawn_on "$1" cli "$KVC" --server "127.0.0.1:$KV_PORT" \
		--clients "$CLIENTS" --timeout-ms 20 --duration "$2" --json
}

# kill -9 of the primary under load, LO_TRIALS (5) times: the backup binds
# the service address and the client goes on, nothing lost or doubled.
t_loopback_kill_primary() {
	local i max=0
	for ((i = 1; i <= ${LO_TRIALS:-5}; i++)); do
		lo_pair || { why="trial $i: $why"; return 1; }
		lo_client c 3
		sleep_ms $((500 + RANDOM % 1000))
		intact || return 1
		kill9 p
		wait_for b 'vif0: took over 127.0.0.1' 60 && kv_ok c && alive b ||
			{ why="trial $i: $why"; return 1; }
		[ "$blackout" -gt "$max" ] && max=$blackout
		kill9 b
		pid=([la]=${pid[la]}) rcs=()
	done
	note="$((i - 1)) failovers, client blackout max $max ms"
}

# SIGSTOP of the primary: it keeps its socket; the backup takes the
# address anyway (SO_REUSEPORT, and a program steering the datagrams to the
# newest socket) and serves; SIGCONT: the old primary halts (8).
t_loopback_stop_primary() {
	lo_pair || return 1
	lo_client c 4
	sleep 1
	intact || return 1
	kill -STOP "${pid[p]}"
	wait_for b 'vif0: took over 127.0.0.1' 60 && kv_ok c || return 1
	note="client blackout $blackout ms"
	kill -CONT "${pid[p]}"
	wait_end p && rc_is p 8 "the old primary must halt" &&
		err_has p 'halting' && alive b || return 1
	lo_client c2 2
	kv_ok c2
}

# --- run them ---------------------------------------------------------------

# What the suite needs; without it, one failure says what is missing.
needs() {
	local f
	[ "$(id -u)" -eq 0 ] || { why="needs root (network namespaces, taps)"; return 1; }
	for f in "$HV" "$ARBITER" "$KVC" "$GUEST"; do
		[ -e "$f" ] || { why="$f is missing (make)"; return 1; }
	done
	for f in ip bridge ping jq; do
		command -v "$f" >/dev/null ||
			{ why="$f is missing (scripts/deps.sh installs it)"; return 1; }
	done
	topology_up || { why="the topology: ${why:-cannot set up the namespaces}"; return 1; }
}

if ! needs; then
	echo "FAIL net_setup: $why"
	echo "0 passed, 1 failed"
	exit 1
fi
run_all
summary
