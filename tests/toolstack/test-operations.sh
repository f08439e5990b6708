#!/usr/bin/env bash
# The walkthrough of Documentation/operations.md, section 1, run for real:
# the same commands, in the same order, with nothing extracted from the
# page. A switch namespace and four "hosts" (network namespaces h1, h2,
# arb, cli), the domain key and the arbiter's key for the pair (pvft
# keygen), pvft-arbiter --keys in arb, then `pvft create examples/kv-netns.cfg`,
# pvft list, status, console, pvft-kv-client from cli, pvft promote under
# load, a re-create on the next epoch, kill -9 of the primary under load,
# pvft destroy, and the namespaces torn down.
#
# Differences from the page, all for a test's sake: pvft's state goes to a
# private PVFT_RUN_DIR, and the arbiter's state, its keys and the domain
# key to a temp directory (the page uses /run/pvft and /tmp/pvft-demo,
# which the config's ft_key names: overridden on every create here); the
# programs come from BUILD/bin through
# PATH, as the page's `export PATH=$PWD/build/bin:$PATH`; and each step's
# result is checked.
#
# The namespace names are the page's (sw, h1, h2, arb, cli: the config
# names h1 and h2): the script refuses to start if one exists already,
# and deletes only the ones it made. The EXIT trap destroys the domain,
# ends what runs in those namespaces (all of it started by this script)
# and the arbiter and clients by their PIDs, deletes the namespaces (and
# with them every veth, bridge and tap) and the temp files.
# Needs root, ip, bridge, ping, jq. Last line: "N passed, N failed".
# OPS_KEEP=DIR keeps what the commands printed, and the replicas' logs, in
# DIR (the examples in operations.md come from there).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
cd "$top" || exit 1
case $build in /*) ;; *) build=$top/$build ;; esac

# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
harness_begin flat
export PVFT_RUN_DIR=$tmp/run
export PATH=$build/bin:$PATH
NAMESPACES="sw h1 h2 arb cli"
PASS_WORD="ok  "
ARB=""

# At exit, after the arbiter and the clients were killed (by PID) and
# before the namespaces go (with what still runs in them: a replica
# pvft destroy could not end): what OPS_KEEP keeps, and the domain.
ops_exit() {
	if [ -n "${OPS_KEEP:-}" ]; then
		mkdir -p "$OPS_KEEP" &&
			cp -r "$tmp"/*.out "$tmp"/*.json "$tmp"/*.log "$OPS_KEEP/" 2>/dev/null
		cp "$PVFT_RUN_DIR"/kv-netns/*.log "$OPS_KEEP/" 2>/dev/null
	fi
	if [ -e "$PVFT_RUN_DIR/kv-netns/domain.json" ]; then
		pvft destroy kv-netns >/dev/null 2>&1
	fi
}
at_exit ops_exit

# check NAME CMD...: CMD's exit status decides; on failure its output.
check() {
	local name=$1
	shift
	if "$@" >"$tmp/out" 2>&1; then
		ok "$name"
	else
		bad "$name (exit status $?): $*"
		sed 's/^/     | /' "$tmp/out" | tail -n 15
	fi
}
# has NAME FILE ERE: FILE has a line matching ERE.
has() {
	if grep -qE -- "$3" "$2"; then
		ok "$1"
	else
		bad "$1: no /$3/ in ${2#"$tmp"/}:"
		sed 's/^/     | /' "$2" | tail -n 15
	fi
}
finish() {
	summary
	exit
}
# wait_log FILE ERE SECONDS: until FILE has a line matching ERE.
wait_log() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -qE -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# client NAME SECONDS: pvft-kv-client in cli in the background, as the
# page runs it (its report in $tmp/NAME.out, its PID in $client).
client=""
client() {
	ip netns exec cli pvft-kv-client --server 10.0.0.15:7000 \
		--duration "$2" >"$tmp/$1.out" 2>&1 &
	client=$!
	track "$client"
}
# client_ok NAME: that client ended with status 0 and "result: OK".
client_ok() {
	local rc
	wait "$client"
	rc=$?
	if [ "$rc" -eq 0 ] && grep -q '^result: *OK' "$tmp/$1.out"; then
		ok "$1: pvft-kv-client: every write applied once ($(
			sed -n 's/^answered: *\([0-9]*\).*/\1 answered/p' "$tmp/$1.out"), $(
			sed -n 's/^blackout: *\([0-9.]* s\).*/longest pause \1/p' "$tmp/$1.out"))"
	else
		bad "$1: pvft-kv-client exit status $rc:"
		sed 's/^/     | /' "$tmp/$1.out" | tail -n 15
	fi
}
# role_of NODE: that replica's role and state in `pvft list` ("- gone"
# when it does not answer).
role_of() {
	pvft list 2>/dev/null | awk -v n="$1" '
		$1 == n { print $2, $4 }
		$2 == n { print $3, $5 }'
}
# is_role NODE "ROLE STATE"
is_role() {
	local got
	got=$(role_of "$1")
	if [ "$got" = "$2" ]; then
		ok "pvft list: $1 is $2"
	else
		bad "pvft list: $1 is '$got', want '$2':"
		pvft list 2>&1 | sed 's/^/     | /'
	fi
}

# ---- what it needs ---------------------------------------------------------

[ "$(id -u)" -eq 0 ] || { bad "needs root (network namespaces, taps)"; finish; }
for f in ip bridge ping jq; do
	command -v "$f" >/dev/null || { bad "$f is missing (make deps)"; finish; }
done
for f in pvft pvft-hv pvft-arbiter pvft-kv-client; do
	[ -x "$build/bin/$f" ] || { bad "$build/bin/$f is missing (make)"; finish; }
done
[ -f "$build/guest/kv.elf" ] || { bad "$build/guest/kv.elf is missing (make)"; finish; }
# examples/kv-netns.cfg names build/guest/kv.elf relative to itself, and
# the page's domain key; OVR overrides them for this test.
OVR=(ft_key="$tmp/kv-netns.key")
if [ "$build" != "$top/build" ]; then
	OVR+=(kernel="$build/guest/kv.elf")
fi
for n in $NAMESPACES; do
	if ip netns list | awk '{ print $1 }' | grep -qx "$n"; then
		bad "a network namespace '$n' exists already (ip netns del $n, if it is a leftover)"
		finish
	fi
done

# ---- 1.1 the hosts -----------------------------------------------------------
# (These are the page's commands; `step` stops at the first that fails.)
setup_failed() {
	bad "setting up the namespaces failed at: $1"
	finish
}
step() {
	"$@" || setup_failed "$*"
}
step ip netns add sw
own_netns sw
step ip -n sw link add sw0 type bridge
step ip -n sw link set sw0 up
for h in h1 h2 arb cli; do
	step ip netns add $h
	own_netns "$h"
	step ip -n $h link set lo up
	step ip -n sw link add p-$h type veth peer name eth0 netns $h
	step ip -n sw link set p-$h master sw0 up
	step ip -n $h link set eth0 up
done
step ip -n h1 link add br0 address 02:00:00:00:00:01 type bridge
step ip -n h2 link add br0 address 02:00:00:00:00:02 type bridge
for i in 1 2; do
	step ip -n h$i link set eth0 master br0
	step ip -n h$i link set br0 up
	step ip -n h$i addr add 10.0.0.$i/24 dev br0
done
step ip -n arb addr add 10.0.0.3/24 dev eth0
step ip -n cli addr add 10.0.0.100/24 dev eth0
ok "namespaces sw h1 h2 arb cli, bridges, veths, addresses"
pings() {
	local h a
	for h in h1 h2 arb cli; do
		for a in 10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.100; do
			ip netns exec "$h" ping -q -c 1 -W 5 "$a" >/dev/null ||
				{ echo "$h cannot ping $a"; return 1; }
		done
	done
}
check "every host pings every other" pings

# ---- 1.2 the keys and the arbiter ----------------------------------------------

mkdir -p "$tmp/arbiter" "$tmp/arbiter-keys"
check "pvft keygen (the domain key)" pvft keygen "$tmp/kv-netns.key"
cp "$tmp/out" "$tmp/keygen.out"
key_mode() {
	[ "$(stat -c %a "$1")" = 600 ] || { stat -c '%a %n' "$1"; return 1; }
}
check "the domain key is mode 0600" key_mode "$tmp/kv-netns.key"
pvft -N create examples/kv-netns.cfg "${OVR[@]}" >"$tmp/dry-pair.out" 2>&1
PAIR=$(grep -o -- '--pair [0-9]*' "$tmp/dry-pair.out" | head -n 1 | cut -d' ' -f2)
if [ -n "$PAIR" ]; then
	ok "the pair id from the dry run: $PAIR"
else
	bad "no --pair in the dry run:"
	sed 's/^/     | /' "$tmp/dry-pair.out"
fi
check "pvft keygen -a $PAIR (the arbiter's key)" \
	pvft keygen -a "$PAIR" "$tmp/kv-netns.key" "$tmp/arbiter-keys"
cp "$tmp/out" "$tmp/keygen-arbiter.out"
check "the arbiter's key is mode 0600" key_mode "$tmp/arbiter-keys/$PAIR.key"
ip netns exec arb pvft-arbiter --listen 10.0.0.3:7200 \
	--state-dir "$tmp/arbiter" --keys "$tmp/arbiter-keys" 2>"$tmp/arbiter.log" &
ARB=$!
track "$ARB"
if wait_log "$tmp/arbiter.log" 'listening on 10.0.0.3:7200' 20; then
	ok "pvft-arbiter listens on 10.0.0.3:7200 in arb"
else
	bad "pvft-arbiter did not start:"
	sed 's/^/     | /' "$tmp/arbiter.log"
	finish
fi

# ---- 1.3 the pair --------------------------------------------------------------

check "pvft -N create examples/kv-netns.cfg (dry run)" \
	pvft -N create examples/kv-netns.cfg "${OVR[@]}"
cp "$tmp/out" "$tmp/dry.out"
if grep -q "(on h1) ip netns exec h1 sh -c" "$tmp/dry.out" &&
	grep -q "(on h2) ip netns exec h2 sh -c" "$tmp/dry.out" &&
	[ "$(grep -c -- "--key $tmp/kv-netns.key " "$tmp/dry.out")" = 2 ]; then
	ok "the dry run starts the primary in h1, the backup in h2, both with --key (pair $PAIR)"
else
	bad "the dry run:"
	sed 's/^/     | /' "$tmp/dry.out"
fi
for h in h1 h2; do
	check "from $h: pvft arbiter query -k $tmp/kv-netns.key pvft://10.0.0.3:7200 $PAIR 1 says free" \
		sh -c "ip netns exec $h pvft arbiter query -k $tmp/kv-netns.key pvft://10.0.0.3:7200 $PAIR 1 | grep -x free"
done

check "pvft create examples/kv-netns.cfg" \
	pvft create examples/kv-netns.cfg "${OVR[@]}"
cp "$tmp/out" "$tmp/create.out"
has "create: the pair is protected" "$tmp/create.out" '^kv-netns: protected'
is_role kv-netns-a "primary protected"
is_role kv-netns-b "backup protected"
pvft list >"$tmp/list-protected.out" 2>&1
check "ip netns exec cli ping -c 3 10.0.0.15" \
	ip netns exec cli ping -q -c 3 -i 0.2 -W 2 10.0.0.15

client c1 3
client_ok c1
check "pvft status kv-netns" pvft status kv-netns
cp "$tmp/out" "$tmp/status.out"
has "status: the primary is protected" "$tmp/status.out" '^  state +protected'
check "pvft status --json kv-netns" pvft status --json kv-netns
cp "$tmp/out" "$tmp/status.json"
# Every key Documentation/operations.md explains, on both replicas.
keys() {
	jq -e '.replicas | length == 2 and all(.[];
		has("domain") and has("node") and has("pid") and has("role") and
		has("state") and has("uptime_s") and has("exits") and
		has("kernel") and has("memory_mib") and has("cmdline") and
		has("backend") and
		(.pair | has("pair") and has("epoch") and has("peer_addr") and
			has("peer_node") and has("arbiter") and has("channel")) and
		(.log | has("records") and has("bytes") and has("mbit_s") and
			has("acked") and has("replayed") and has("lag_ms") and
			has("max_lag_ms") and has("throttled_ms")) and
		(.output | has("console_bytes") and has("frames") and
			has("held_us_avg")) and
		(.vifs[0] | has("spec") and has("mac") and has("rx_frames") and
			has("tx_frames") and has("rx_dropped") and
			has("host_dropped")) and
		has("host") and has("started_as") and has("socket") and
		has("log_file") and has("console_file"))' "$tmp/status.json"
}
check "status --json: every field the page explains" keys
console_history() {
	timeout 3 pvft console kv-netns </dev/null >"$tmp/console.out" 2>&1
	grep -q 'kv: listening on 10.0.0.15:7000' "$tmp/console.out" ||
		{ cat "$tmp/console.out"; return 1; }
}
check "pvft console kv-netns shows the guest's console" console_history

# ---- 1.4 pvft promote, under load ---------------------------------------------

client c2 6
sleep 2
pvft status kv-netns >"$tmp/status-load.out" 2>&1
pvft list >"$tmp/list-load.out" 2>&1
check "pvft promote kv-netns" pvft promote kv-netns
cp "$tmp/out" "$tmp/promote.out"
client_ok c2
is_role kv-netns-b "primary unprotected"
pvft list >"$tmp/list-promoted.out" 2>&1
has "kv-netns-a.log: handed over" "$PVFT_RUN_DIR/kv-netns/kv-netns-a.log" \
	'handed over after .* ms: every record acknowledged'
has "kv-netns-b.log: went live" "$PVFT_RUN_DIR/kv-netns/kv-netns-b.log" \
	'went live at exit ordinal'
check "the arbiter has epoch 1 owned by kv-netns-b" \
	sh -c "ip netns exec h1 pvft arbiter query -k $tmp/kv-netns.key pvft://10.0.0.3:7200 $PAIR 1 | grep -x 'owned by kv-netns-b'"

# ---- 1.5 protected again: destroy, create on the next epoch ------------------

check "pvft destroy kv-netns (after the promote)" pvft destroy kv-netns
check "pvft arbiter query -k ... $PAIR 2 says free" \
	sh -c "ip netns exec h1 pvft arbiter query -k $tmp/kv-netns.key pvft://10.0.0.3:7200 $PAIR 2 | grep -x free"
check "pvft create examples/kv-netns.cfg ft_epoch=2" \
	pvft create examples/kv-netns.cfg ft_epoch=2 "${OVR[@]}"
is_role kv-netns-a "primary protected"

# ---- 1.6 kill -9 of the primary, under load -----------------------------------

P=$(pvft status --json kv-netns | jq -r '.replicas[] | select(.role == "primary") | .pid')
client c3 6
sleep 2
if [ -n "$P" ] && kill -9 "$P"; then
	ok "kill -9 $P (the primary's pvft-hv, from pvft status --json)"
else
	bad "no primary pid in pvft status --json ('$P')"
fi
if wait_log "$PVFT_RUN_DIR/kv-netns/kv-netns-b.log" 'went live at exit ordinal' 30; then
	ok "kv-netns-b.log: went live"
else
	bad "kv-netns-b did not go live:"
	tail -n 5 "$PVFT_RUN_DIR/kv-netns/kv-netns-b.log" | sed 's/^/     | /'
fi
has "kv-netns-b.log: gratuitous ARP" "$PVFT_RUN_DIR/kv-netns/kv-netns-b.log" \
	'vif0: gratuitous ARP sent: 10.0.0.15 is at 00:16:3e:70:76:01'
client_ok c3
is_role kv-netns-a "- gone"
is_role kv-netns-b "primary unprotected"
pvft list >"$tmp/list-killed.out" 2>&1
check "the arbiter has epoch 2 owned by kv-netns-b" \
	sh -c "ip netns exec h1 pvft arbiter query -k $tmp/kv-netns.key pvft://10.0.0.3:7200 $PAIR 2 | grep -x 'owned by kv-netns-b'"
mac_on_h2() {
	bridge -n sw fdb show br sw0 | grep '^00:16:3e:70:76:01 dev p-h2 '
}
check "the switch has the guest's MAC on h2's port" mac_on_h2
cp "$tmp/out" "$tmp/fdb.out"

# ---- 1.7 destroy, tear down ----------------------------------------------------

destroy_timed() {
	local t0=$SECONDS
	pvft destroy kv-netns || return 1
	echo "took $((SECONDS - t0)) s"
}
check "pvft destroy kv-netns" destroy_timed
cp "$tmp/out" "$tmp/destroy.out"
empty_list() {
	pvft list >"$tmp/list.out" 2>&1 && [ "$(wc -l <"$tmp/list.out")" -eq 1 ] ||
		{ cat "$tmp/list.out"; return 1; }
}
check "pvft list: no domain" empty_list
if kill "$ARB" && wait "$ARB"; then
	ok "pvft-arbiter stopped (kill \$ARB): exit status 0"
else
	bad "pvft-arbiter: kill or exit status failed"
fi
left=""
for n in "${netns_made[@]}"; do
	[ -z "$(ip netns pids "$n")" ] || left+=" $n"
done
if [ -z "$left" ]; then
	ok "nothing runs in the namespaces"
else
	bad "processes left in:$left"
fi
for n in cli arb h2 h1 sw; do
	ip netns del $n || bad "ip netns del $n"
done
netns_made=()
if ip netns list | awk '{ print $1 }' | grep -qxE 'sw|h1|h2|arb|cli'; then
	bad "namespaces left: $(ip netns list | tr '\n' ' ')"
else
	ok "namespaces deleted"
fi
finish
