#!/usr/bin/env bash
# Re-protection (Documentation/pair.md, "Re-protection"): a backup joins a
# running primary from a live checkpoint, and the pair runs on at the next
# epoch. Each test runs a kv pair under pvft-kv-client load on loopback,
# with a pvft-arbiter (keys) of its own state; every process is ended by
# its PID. No outcome depends on timing: every wait has a hang guard.
# Last line: "N passed, N failed".
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
G=$build/guest
CTL=$build/bin/pvft-ctlclient
KV=$build/bin/pvft-kv-client
PVFT=$build/bin/pvft
T=120

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
LOG_GLOBS=('*.err' '*.out')
LOG_LINES=12

KEY=$tmp/domain.key
make_key "$KEY"
OTHER_KEY=$tmp/other.key
make_key "$OTHER_KEY"
ARBITER=$build/bin/pvft-arbiter
ARB_KEYS=$tmp/arbiter-keys
mkdir -p -m 700 "$ARB_KEYS"

# call NAME JSON: one request on NAME's control socket; the reply in $reply.
call() {
	reply=$("$CTL" call "$t/$1.sock" "$2" 2>&1)
}

# status NAME: query-status's "state" of NAME into $state, its epoch into
# $epoch.
status() {
	call "$1" '{"execute":"query-status"}'
	state=$(sed -n 's/.*"role": *"[a-z]*", *"state": *"\([a-z-]*\)".*/\1/p' <<<"$reply")
	epoch=$(sed -n 's/.*"pair": *{ *"pair": *[0-9]*, *"epoch": *\([0-9]*\).*/\1/p' <<<"$reply")
}

# wait_state NAME STATE: until NAME's query-status says STATE.
wait_state() {
	local i
	for ((i = 0; i < T * 10; i++)); do
		status "$1"
		[ "$state" = "$2" ] && return 0
		running "$1" || break
		sleep 0.1
	done
	why="$1: state '$state', never '$2' (${reply:0:300})"
	return 1
}

# The kv service: its vif, command line and address.
kv_setup() {
	free_port
	svc=$port
	VIF="mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$svc,guest-port=7000"
	CMDLINE="ip=10.0.2.15/24 gw=10.0.2.2 port=7000"
}

# replica NAME ROLE-ARGS...: a kv replica of pair $pair_id, node NAME,
# control socket $t/NAME.sock.
replica() {
	local name=$1
	shift
	spawn "$name" "$HV" "$@" --pair "$pair_id" --node "$name" --arbiter "$URL" \
		--key "$KEY" --timeout-ms 1000 --control "$t/$name.sock" \
		--memory "${MIB:-64}" --vif "$VIF" --cmdline "$CMDLINE" "$G/kv.elf"
}

# pair_up: an arbiter, a kv pair p (primary) and b (backup) at epoch 1.
pair_up() {
	arbiter_up || return 1
	pair_id=$((RANDOM * 32768 + RANDOM + 1))
	arbiter_key "$PVFT" "$KEY" "$ARB_KEYS" "$pair_id"
	kv_setup
	free_port
	bport=$port
	replica b --role backup --listen "127.0.0.1:$bport"
	wait_for b 'waiting for the primary on' 60 || return 1
	replica p --role primary --peer "127.0.0.1:$bport"
	wait_for p 'paired with backup' 60
}

# joiner NAME EPOCH [extra pvft-hv args]: a backup that joins a running
# primary: its checkpoint on $t/NAME.mig, its log channel on $t/NAME.log.
joiner() {
	local name=$1 ep=$2
	shift 2
	free_port
	jmig=127.0.0.1:$port
	free_port
	jlog=127.0.0.1:$port
	replica "$name" --role backup --listen "$jlog" --incoming "$jmig" --epoch "$ep" "$@"
	wait_for "$name" 'waiting for the domain on' 60
}

# reprotect S J: S's control socket asks J (started by joiner) to join.
reprotect() {
	call "$1" "{\"execute\":\"reprotect\",\"arguments\":{\"to\":\"$jmig\",\"backup\":\"$jlog\"}}"
	[[ $reply == *'"return"'* ]] || { why="reprotect: $reply"; return 1; }
}

# kv_load SECONDS: pvft-kv-client against the service, as $t/kv.
kv_load() {
	spawn kv "$KV" --server "127.0.0.1:$svc" --clients 8 --duration "$1" --json
}

# kv_clean: the load ended, nothing lost or doubled.
kv_clean() {
	wait_end kv 120 && rc_is kv 0 || return 1
	grep -q '"lost": *0' "$t/kv.out" && grep -q '"doubled": *0' "$t/kv.out" ||
		{ why="kv-client: $(head -c 400 "$t/kv.out")"; return 1; }
}

# The whole of it: a pair under load, kill -9 of the primary, the backup
# live, a new backup joins it (epoch 2), kill -9 of the new primary: the
# joined backup goes live with every acknowledged write.
t_join_after_failover_then_fail_over_to_the_joined() {
	pair_up || return 1
	kv_load 10
	sleep 1
	kill9 p
	wait_for b 'went live' 30 && wait_state b unprotected || return 1
	joiner j 2 || return 1
	reprotect b j || return 1
	wait_state b protected && [ "$epoch" = 2 ] || { why="${why:-epoch $epoch, not 2}"; return 1; }
	wait_for j 'resumed pair' 30 || return 1
	sleep 1
	kill9 b
	wait_for j 'went live' 30 || return 1
	kv_clean || return 1
	wait_state j unprotected && [ "$epoch" = 2 ] || { why="${why:-epoch $epoch, not 2}"; return 1; }
	# The service answers from the joined backup.
	spawn kv2 "$KV" --server "127.0.0.1:$svc" --clients 2 --requests 50
	wait_end kv2 && rc_is kv2 0
}

# pvft promote of a re-protected pair: the survivor (a backup gone live,
# now the primary of epoch 2) hands the pair to the joined backup.
t_promote_after_join() {
	pair_up || return 1
	kv_load 8
	sleep 1
	kill9 p
	wait_for b 'went live' 30 && wait_state b unprotected || return 1
	joiner j 2 && reprotect b j && wait_state b protected || return 1
	call b '{"execute":"promote"}'
	[[ $reply == *'"return"'* ]] || { why="promote: $reply"; return 1; }
	wait_end b && rc_is b 10 && wait_for j 'went live' 30 || return 1
	kv_clean && wait_state j unprotected && [ "$epoch" = 2 ]
}

# A domain started unprotected, with its pair's options but no --role,
# is protected by a joining backup (pvft protect), at epoch 2 (it takes
# epoch 1's grant first), and fails over to it.
t_protect_a_domain_started_alone() {
	arbiter_up || return 1
	pair_id=$((RANDOM * 32768 + RANDOM + 1))
	arbiter_key "$PVFT" "$KEY" "$ARB_KEYS" "$pair_id"
	kv_setup
	replica s
	wait_state s unprotected && [ "$epoch" = 1 ] || { why="${why:-epoch $epoch}"; return 1; }
	kv_load 8
	joiner j 2 && reprotect s j && wait_state s protected && [ "$epoch" = 2 ] ||
		{ why="${why:-epoch $epoch, not 2}"; return 1; }
	owner_is s || return 1
	sleep 1
	kill9 s
	wait_for j 'went live' 30 && kv_clean
}

# Asked of a domain that cannot take a backup: refused with the reason,
# and it runs on as it was.
t_reprotect_refusals() {
	pair_up || return 1
	joiner j 2 || return 1
	reprotect p j && { why="a protected primary took a joiner"; return 1; }
	[[ $reply == *'cannot re-protect: the domain is protected'* ]] || { why="p: $reply"; return 1; }
	reprotect b j && { why="a backup took a joiner"; return 1; }
	[[ $reply == *'cannot re-protect'* ]] || { why="b: $reply"; return 1; }
	call p '{"execute":"reprotect","arguments":{"to":"127.0.0.1:1"}}'
	[[ $reply == *'"error"'* && $reply == *backup* ]] || { why="no backup address: $reply"; return 1; }
	wait_state p protected
}

# A survivor running alone moves live as a single domain (pvft migrate of
# an unprotected domain): its output hash state goes with it, VERIFY
# matches, and the service answers from the destination.
t_survivor_migrates_alone() {
	pair_up || return 1
	kill9 p
	wait_for b 'went live' 30 && wait_state b unprotected || return 1
	free_port
	local mig=127.0.0.1:$port
	spawn d "$HV" --incoming "$mig" --key "$KEY" --memory "${MIB:-64}" --vif "$VIF" \
		--cmdline "$CMDLINE" --control "$t/d.sock" "$G/kv.elf"
	wait_for d 'waiting for the domain on' 60 || return 1
	kv_load 5
	sleep 1
	call b "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"$mig\"}}"
	[[ $reply == *'"return"'* ]] || { why="migrate: $reply"; return 1; }
	wait_end b && rc_is b 0 && kv_clean && running d
}

run_all
summary
