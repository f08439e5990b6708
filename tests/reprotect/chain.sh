#!/usr/bin/env bash
# The chain (issue 16): a kv pair made by `pvft create` with
# ft_reprotect = "auto", under pvft-kv-client load the whole time; N
# successive kill -9 of the current primary, each followed by the
# automatic re-protection (pvft monitor): after each, the domain must be
# protected again at the next epoch, and at the end the client must have
# lost nothing and applied nothing twice.
#
#   tests/reprotect/chain.sh BUILD [N] [JOIN_KILLS]
#
# N: failovers (5 in make check, 100 in make soak). JOIN_KILLS=1 (soak):
# before about a third of the failovers, the backup joining after the
# previous one is killed too, at a random moment of its join (while the
# survivor says joining): the monitor must try again and protect the
# domain all the same. Failures are counted, not fatal: the last lines
# say how many of each kind. Every process is ended by its PID (the
# domain by pvft destroy; what it leaves by the PIDs domain.json had).
# No outcome depends on timing (waits have hang guards). Last line:
# "N passed, N failed".
set -u
build=${1:-build}
chain=${2:-5}
join_kills=${3:-0}
PVFT=$build/bin/pvft
KVC=$build/bin/pvft-kv-client
CTL=$build/bin/pvft-ctlclient
G=$build/guest
T=60

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin flat
LOG_GLOBS=('*.err' '*.log')
export PVFT_RUN_DIR=$tmp/run
name=chain
d=$PVFT_RUN_DIR/$name

# st JQ: from the latest pvft status --json.
st() { jq -r "$@" "$tmp/st.json" 2>/dev/null; }
status() { "$PVFT" status --json "$name" >"$tmp/st.json" 2>/dev/null; }
started() {
	jq -r '.replicas[].pid, .embedded_arbiter.pid // empty, .monitor.pid // empty' \
		"$d/domain.json" 2>/dev/null
}
teardown() {
	local p pids
	pids=$(started)
	[ -e "$d/domain.json" ] && timeout -k 5 "$T" "$PVFT" destroy "$name" >/dev/null 2>&1
	for p in $pids; do
		grep -qs pvft "/proc/$p/cmdline" && kill -9 "$p" 2>/dev/null
	done
}
at_exit teardown

# wait_protected EPOCH [later]: both replicas protected at EPOCH, or with
# "later" at EPOCH or later (a joining backup killed after its commit
# costs the survivor that epoch: the next join opens the one after). The
# epoch into $epoch.
wait_protected() {
	local i
	for ((i = 0; i < T * 10; i++)); do
		status
		epoch=$(st '.protection.epoch')
		[ "$(st '"\(.protection.state) \([.replicas[] | .state] | join(" "))"')" = \
			"protected protected protected" ] &&
			{ [ "${epoch:-0}" -eq "$1" ] || { [ -n "${2:-}" ] && [ "${epoch:-0}" -gt "$1" ]; }; } &&
			return 0
		sleep 0.1
	done
	why="not protected at epoch $1${2:+ or later} in $T s: $(st -c '{protection, replicas: [.replicas[] | {node, role, state}]}')"
	return 1
}

# kill_joiner EPOCH: once the monitor has started the joining backup
# (its control socket appears in the domain's directory; $T s at most),
# it is killed at a random moment, 0-500 ms later: while
# it starts, waits for the checkpoint, takes it, or resumes the stream;
# unless the domain is protected again by then. 0 if one was killed.
kill_joiner() {
	local i sock jpid seen=""
	for ((i = 0; i < T * 50; i++)); do
		compgen -G "$d/*-e$1.sock" >/dev/null && seen=yes && break
		sleep 0.02
	done
	[ -n "$seen" ] || return 1
	sleep "$(printf '0.%03d' $((RANDOM % 500)))"
	status
	[ "$(st '"\(.protection.state) \([.replicas[] | .state] | join(" "))"')" = \
		"protected protected protected" ] && return 1
	for sock in "$d"/*-e"$1".sock; do
		jpid=$("$CTL" call "$sock" '{"execute":"query-status"}' 2>/dev/null |
			jq -r '.return.pid // empty' 2>/dev/null)
		[ -n "$jpid" ] && kill -9 "$jpid" 2>/dev/null && return 0
	done
	return 1
}

free_port
cat >"$tmp/chain.cfg" <<EOF
name = "$name"
kernel = "$(cd "$G" && pwd)/kv.elf"
memory = 64
cmdline = "ip=10.0.2.15/24 gw=10.0.2.2 port=7000"
vif = [ "mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$port,guest-port=7000" ]
ft_primary_node = "ch-a"
ft_backup_node = "ch-b"
ft_reprotect = "auto"
ft_timeout_ms = 1000
EOF
svc=$port

if ! timeout -k 5 120 "$PVFT" create -q "$tmp/chain.cfg" </dev/null >"$tmp/create.out" 2>&1; then
	bad "create: $(tail -n 3 "$tmp/create.out")"
	summary
	exit
fi
spawn kv "$KVC" --server "127.0.0.1:$svc" --clients 8 --duration 86400 --json

failovers=0 not_live=0 not_protected=0 joiners_killed=0
epoch=1
for ((n = 1; n <= chain; n++)); do
	status
	primary=$(st '.replicas[] | select(.role == "primary") | .node')
	ppid=$(st '.replicas[] | select(.role == "primary") | .pid')
	backup=$(st '.replicas[] | select(.role == "backup") | .node')
	if ! [ "$ppid" -gt 0 ] 2>/dev/null || [ -z "$backup" ]; then
		bad "failover $n: no primary and backup to start from: $(st -c '[.replicas[] | {node, role, state}]')"
		break
	fi
	sleep "0.$((RANDOM % 5 + 3))" # the load runs a moment on the pair
	kill -9 "$ppid"
	failovers=$((failovers + 1))
	went=""
	for ((i = 0; i < T * 10; i++)); do
		status
		[ "$(st --arg n "$backup" '.replicas[] | select(.node == $n) | .role')" = primary ] &&
			went=yes && break
		sleep 0.1
	done
	if [ -z "$went" ]; then
		not_live=$((not_live + 1))
		bad "failover $n: $backup never went live after kill -9 of $primary"
		break
	fi
	later=""
	if [ "$join_kills" = 1 ] && [ $((RANDOM % 3)) = 0 ] && kill_joiner $((epoch + 1)); then
		joiners_killed=$((joiners_killed + 1))
		later=later
	fi
	if wait_protected $((epoch + 1)) ${later:+"$later"}; then
		ok "failover $n: $backup live, protected again at epoch $epoch"
	else
		not_protected=$((not_protected + 1))
		bad "failover $n: $why"
		break
	fi
done

stop kv TERM
if wait_end kv 120 && grep -q '"lost": *0' "$tmp/kv.out" && grep -q '"doubled": *0' "$tmp/kv.out" &&
	grep -q '"ok": *true' "$tmp/kv.out"; then
	ok "kv-client across $failovers failovers: 0 lost, 0 doubled ($(grep -oE '"requests":[0-9]+' "$tmp/kv.out"))"
else
	bad "kv-client across $failovers failovers: $(head -c 600 "$tmp/kv.out")"
fi
echo "chain: $failovers failovers, $joiners_killed joining backups killed; not live $not_live, not protected again $not_protected"
summary
