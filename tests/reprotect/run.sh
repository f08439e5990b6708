#!/usr/bin/env bash
# Re-protection (Documentation/pair.md, "Re-protection"): a backup joins a
# running primary from a live checkpoint, and the pair runs on at the next
# epoch, and every way a join can break on the way: each test asserts that
# exactly one replica acts live at the end (or none, where the only copy
# died), and where it runs pvft-kv-client load on loopback, that no write
# was lost or doubled. A pvft-arbiter (keys) of the suite's own state;
# faults are injected through tests/reprotect/holdproxy.py (python3) and
# pvft-faultproxy; every process is ended by its PID. No outcome depends
# on timing: every wait has a hang guard, and each fault comes at a point
# a log line (or a holdproxy.py holding the checkpoint) marks. ONLY=REGEX
# runs the matching tests; REPROTECT_KEEP=DIR keeps a failed test's files
# in DIR/NAME. Last line: "N passed, N failed".
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
G=$build/guest
CTL=$build/bin/pvft-ctlclient
KV=$build/bin/pvft-kv-client
PVFT=$build/bin/pvft
FP=$build/bin/pvft-fakepeer
FAULTPROXY=$build/bin/pvft-faultproxy
T=120

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
LOG_GLOBS=('*.err' '*.out')
LOG_LINES=12
KEEP=${REPROTECT_KEEP:-}
ATTEMPTS=2 # a false failure before the fault (joined_intact): once again
KEEP_FILES=("$tmp/arbiter.err")

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
# control socket $t/NAME.sock ($MIB MiB, 64 by default; guest $GUEST.elf,
# kv by default; the service's vif $VIF, none if empty).
replica() {
	local name=$1
	shift
	spawn "$name" "$HV" "$@" --pair "$pair_id" --node "$name" --arbiter "$URL" \
		--key "$KEY" --timeout-ms 1000 --control "$t/$name.sock" \
		--memory "${MIB:-64}" ${VIF:+--vif "$VIF"} --cmdline "$CMDLINE" "$G/${GUEST:-kv}.elf"
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
	jto=$jmig
	replica "$name" --role backup --listen "$jlog" --incoming "$jmig" --epoch "$ep" "$@"
	wait_for "$name" 'waiting for the domain on' 60
}

# rp_json [ARGS]: the reprotect request for the last joiner (its
# checkpoint to $jto: its --incoming, or a proxy in front of it), with more
# arguments ARGS (JSON members: "max_rounds":2) if given.
rp_json() {
	printf '{"execute":"reprotect","arguments":{"to":"%s","backup":"%s"%s}}' \
		"$jto" "$jlog" "${1:+,$1}"
}

# reprotect S [ARGS]: S's control socket asks the last joiner to join,
# and answers once the join is over: it must have succeeded.
reprotect() {
	call "$1" "$(rp_json "${2:-}")"
	[[ $reply == *'"return"'* ]] || { why="reprotect: $reply"; return 1; }
}

# reprotect_bg S [ARGS]: the same request as process rp (its answer in
# $t/rp.out), for a join a test breaks while it runs.
reprotect_bg() {
	spawn rp "$CTL" call "$t/$1.sock" "$(rp_json "${2:-}")"
}

# reprotect_failed S EPOCH [N]: the join rp asked for failed (the answer
# says so), and S says (for the Nth time: 1) that it runs on unprotected
# at EPOCH.
reprotect_failed() {
	wait_end rp 90 || return 1
	grep -q '"error"' "$t/rp.out" ||
		{ why="reprotect answered no error: $(head -c 300 "$t/rp.out")"; return 1; }
	wait_file "$t/$1.err" "re-protection with the backup at .* failed.*: this domain runs on unprotected at epoch $2" "${3:-1}" 90
}

# hold_join NAME: a holdproxy NAME in front of the last joiner's
# --incoming: the checkpoint goes there, and stops after HOLD_AT bytes.
hold_join() {
	hold_proxy "$1" "$HOLD_AT" "${jmig##*:}" && jto=$held
}

# one_live WHO NAME...: of the replicas NAME..., exactly one is live (it
# runs and its query-status says role primary), and it is WHO (any: "?");
# its name into $alive.
one_live() {
	local want=$1 name n=0 who=""
	shift
	for name in "$@"; do
		running "$name" || continue
		call "$name" '{"execute":"query-status"}'
		[[ $reply =~ \"role\":\ *\"primary\" ]] || continue
		n=$((n + 1))
		who+=" $name"
	done
	alive=${who# }
	[ "$n" -eq 1 ] || { why="live replicas: $n (${who# }), want 1"; return 1; }
	[ "$want" = "?" ] || [ "$alive" = "$want" ] ||
		{ why="$alive is live, want $want"; return 1; }
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
	reprotect b || return 1
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
	joiner j 2 && reprotect b && wait_state b protected || return 1
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
	joiner j 2 && reprotect s && wait_state s protected && [ "$epoch" = 2 ] ||
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
	reprotect p && { why="a protected primary took a joiner"; return 1; }
	[[ $reply == *'cannot re-protect: the domain is protected'* ]] || { why="p: $reply"; return 1; }
	reprotect b && { why="a backup took a joiner"; return 1; }
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
	wait_end b && rc_is b 0 && wait_for d 'digests match' && kv_clean || return 1
	# The service answers from the destination.
	kv_load 2 && kv_clean && running d
}

# survivor [SECONDS]: a pair up (under kv load for SECONDS, if given),
# kill -9 of its primary p: b is the survivor, live and unprotected at
# epoch 1.
survivor() {
	pair_up || return 1
	if [ -n "${1:-}" ]; then
		kv_load "$1"
		sleep 1 # the load runs: what it sees is checked, never this
	fi
	kill9 p
	wait_for b 'went live' 30 && wait_state b unprotected || return 1
	[ "$epoch" = 1 ] || { why="b: epoch $epoch after the failover, not 1"; return 1; }
}

# epoch_is NAME STATE EPOCH: NAME comes to STATE, at EPOCH.
epoch_is() {
	wait_state "$1" "$2" || return 1
	[ "$epoch" = "$3" ] || { why="$1: $2 at epoch $epoch, not $3"; return 1; }
}

# arb_owner EPOCH NODE|-: the arbiter's state: (pair, EPOCH) owned by
# NODE, or by nobody (-).
arb_owner() { owner_is "$2" "" "$1"; }

# rp_desc [N]: the first N (120) bytes of the reprotect error's desc.
rp_desc() { grep -o '"desc":"[^"]*' "$t/rp.out" | head -c "${1:-120}"; }

# arb_opener EPOCH NODE: the arbiter's state: EPOCH was opened (ADVANCE)
# by NODE.
arb_opener() {
	local opener
	opener=$(cat "$tmp/arbiter/$pair_id-$1.open" 2>/dev/null)
	[ "$opener" = "$2" ] ||
		{ why="the arbiter: epoch $1 opened by '${opener:-nobody}', want '$2'"; return 1; }
}

# joined_intact J: since the failover of p, neither b nor the joined J
# has taken the other for failed. On a loaded box a replica kept off the
# CPU past --timeout-ms does (a false failure, which pair.md allows), and
# then the fault a test injects next tests nothing: the test runs again.
joined_intact() {
	local said
	said=$(grep -h 'asking the arbiter' "$t/b.err" "$t/$1.err" | sed -n 2p)
	[ -z "$said" ] && return 0
	again=yes
	why="a false failure before the fault: $said"
	return 1
}

# never_live NAME: NAME ended and never acted live: it neither asked the
# arbiter for a grant nor went live.
never_live() {
	wait_end "$1" 60 || return 1
	err_lacks "$1" 'went live|asking the arbiter|running alone'
}

# Bytes of a checkpoint a holdproxy lets through before it holds: past
# the TLS handshake and the opening records, well inside the first
# pre-copy round (a kv domain's first round is 0.4 MiB and more: its
# image's pages at least), which the source cannot end without the
# joiner's answer to all of it.
HOLD_AT=65536

# The joiner is killed in the middle of the first pre-copy round: the
# survivor's join fails, it runs on unprotected at epoch 1 (it never let
# go of its grant) with every write, and the epoch it opened is joined
# by the next backup.
t_joiner_dies_in_precopy() {
	survivor 12 || return 1
	joiner j 2 && hold_join hp || return 1
	reprotect_bg b
	wait_for hp 'held after' && wait_for j 'proved the domain' &&
		epoch_is b joining 1 || return 1
	kill9 j
	reprotect_failed b 1 && epoch_is b unprotected 1 &&
		arb_owner 2 - && arb_opener 2 b || return 1
	joiner j2 2 && reprotect b && epoch_is b protected 2 &&
		wait_for j2 'resumed pair' 30 || return 1
	kv_clean && one_live b b j2 && arb_owner 2 -
}

# The survivor is killed in the middle of the first pre-copy round (its
# checkpoint held after HOLD_AT bytes, then let go once it is dead: the
# joiner reads the stream's end): the joiner exits without ever asking the
# arbiter and never goes live. With the old primary dead too, nobody holds
# the domain: nobody is live, and the opened epoch 2 has no owner.
t_survivor_dies_in_precopy() {
	survivor || return 1
	joiner j 2 && hold_join hp || return 1
	reprotect_bg b
	wait_for hp 'held after' && wait_for j 'proved the domain' &&
		epoch_is b joining 1 || return 1
	kill9 b
	release hp && never_live j || return 1
	rc_is j 7 'a broken stream' && err_lacks j 'restored from|joining primary' &&
		arb_owner 2 - && arb_opener 2 b || return 1
	! one_live '?' b j && [ -z "$alive" ] || { why="live: '$alive', want nobody"; return 1; }
}

# The joined backup is killed once the pair is protected at epoch 2: the
# survivor asks the arbiter for epoch 2, wins it and runs alone, with
# every kv write; a new joiner then takes it to epoch 3.
t_joined_backup_dies() {
	survivor 14 || return 1
	joiner j 2 && reprotect b && epoch_is b protected 2 &&
		wait_for j 'resumed pair' 30 && joined_intact j || return 1
	kill9 j
	wait_for b "asking the arbiter .* epoch 2" 30 && wait_for b 'running alone' 30 &&
		epoch_is b unprotected 2 && arb_owner 2 b || return 1
	joiner j2 3 && reprotect b && epoch_is b protected 3 &&
		wait_for j2 'resumed pair' 30 || return 1
	kv_clean && one_live b b j2 && arb_opener 3 b && arb_owner 3 -
}

# The survivor is killed just after the cut (the joiner resumed the pair
# from it): the joiner holds the whole domain and GO, asks the arbiter
# for epoch 2, and goes live with every acknowledged kv write (the
# clients reconnect to the same service address, now the joiner's).
t_survivor_dies_after_the_cut() {
	survivor 12 || return 1
	joiner j 2 || return 1
	reprotect_bg b
	wait_for j 'resumed pair' 60 && joined_intact j || return 1
	kill9 b
	wait_for j 'went live' 30 && kv_clean && epoch_is j unprotected 2 &&
		arb_owner 2 j && one_live j b j
}

# The joiner is stopped (SIGSTOP) as it says it built the domain, around
# its answer (it asked the arbiter when the stream began), for 3 s, then
# continued. Which way
# the join goes is not the point: once it settled, exactly one replica
# acts live, the joiner is the survivor's backup or ended without ever
# going live, and every kv write is there once.
t_joiner_stopped_before_it_answers() {
	survivor 14 || return 1
	joiner j 2 || return 1
	reprotect_bg b
	wait_for j 'restored from the source' 60 || return 1
	kill -STOP "${pid[j]}"
	sleep 3 # how long it is away: any outcome passes
	kill -CONT "${pid[j]}"
	wait_end rp 90 && settled b j || return 1
	if running j; then
		note="the join went through"
		epoch_is b protected 2 && err_has j 'resumed pair' || return 1
	else
		note="the join failed or broke after it"
		# b runs alone: at epoch 2 if it won it (then it owns it), else
		# at 1 (then nobody owns 2).
		err_lacks j 'went live' && wait_state b unprotected || return 1
		case $epoch in
		2) arb_owner 2 b ;;
		1) arb_owner 2 - ;;
		*) why="b: unprotected at epoch $epoch, want 1 or 2" && false ;;
		esac || return 1
	fi
	grep -q '"desc"' "$t/rp.out" && note+=": $(rp_desc)"
	kv_clean && one_live b b j
}

# settled S J: the join of J to S is over one way or the other: S is
# protected, or J ended.
settled() {
	local i
	for ((i = 0; i < T * 10; i++)); do
		running "$2" || { wait_end "$2"; return; }
		status "$1"
		[ "$state" = protected ] && return 0
		sleep 0.1
	done
	why="$1 is $state and $2 runs: the join never settled"
	return 1
}

# Joiners of another domain: another image (count.elf, the same arguments
# otherwise), then another --memory. Each is refused for what differs (it
# exits 7 saying so, and never asks the arbiter), and the survivor runs on
# unprotected at epoch 1 with every kv write.
t_joiner_of_another_domain_refused() {
	survivor 14 || return 1
	GUEST=count joiner j 2 || return 1
	reprotect_bg b
	never_live j && rc_is j 7 'another image' && err_has j 'another guest image' &&
		reprotect_failed b 1 1 && err_has b 'failed.*another guest image' || return 1
	MIB=32 joiner j2 2 || return 1
	reprotect_bg b
	never_live j2 && rc_is j2 7 'another memory size' &&
		err_has j2 'the domain has 64 MiB of memory, this one is to have 32' &&
		reprotect_failed b 1 2 && err_has b 'failed.*this one is to have 32' || return 1
	epoch_is b unprotected 1 && kv_clean && one_live b b j j2 &&
		arb_owner 2 - && arb_opener 2 b
}

# stale_pair EPOCH WHY: a kv pair of $pair_id started from boot at EPOCH
# (no vif: the running domain keeps its service): its primary sp (node p,
# the old primary's) refuses before it dials, its backup sb when a primary
# that matches it in everything (pvft-fakepeer, with the backup's CPUID
# hash) asks; both exit 9 saying WHY.
stale_pair() {
	local ep=$1 re=$2 cpuid
	free_port
	sport=$port
	VIF='' replica sb --role backup --listen "127.0.0.1:$sport" --epoch "$ep" &&
		wait_for sb 'waiting for the primary on' 60 || return 1
	spawn sp "$HV" --role primary --peer "127.0.0.1:$sport" --pair "$pair_id" \
		--node p --arbiter "$URL" --key "$KEY" --timeout-ms 1000 --epoch "$ep" \
		--memory 64 --cmdline "$CMDLINE" "$G/kv.elf"
	wait_end sp 60 && rc_is sp 9 "a boot primary at epoch $ep" && err_has sp "$re" || return 1
	running sb || { why="sb ended before a primary asked"; return 1; }
	spawn f "$FP" --mode primary --connect "127.0.0.1:$sport" --pair "$pair_id" \
		--key "$KEY" --epoch "$ep" --image "$G/kv.elf" --cmdline "$CMDLINE"
	wait_end f 60 && rc_is f 4 'another CPUID' || return 1
	cpuid=$(sed -n 's/.*CPUID (hash [0-9a-f]*, here \([0-9a-f]*\)).*/\1/p' "$t/f.out")
	[ -n "$cpuid" ] || { why="f: no CPUID hash in its refusal: $(cat "$t/f.out")"; return 1; }
	spawn f2 "$FP" --mode primary --connect "127.0.0.1:$sport" --pair "$pair_id" \
		--key "$KEY" --epoch "$ep" --image "$G/kv.elf" --cpuid-hash "$cpuid" --cmdline "$CMDLINE"
	wait_end f2 60 && rc_is f2 4 && wait_end sb 60 && rc_is sb 9 "a boot backup at epoch $ep" &&
		err_has sb "$re" && err_lacks sb 'went live'
}

# Stale replicas. After the failover (b owns epoch 1) and a join (epoch 2
# opened by b, protected): a pair started from boot at epoch 1 is refused
# (epoch 1 belongs to b), and one at epoch 2 too (b opened it). Then the
# joined backup dies (b wins epoch 2: a boot pair at 2 is refused for
# that now) and a joiner started with the old epoch (--epoch 1, where b
# moves the pair to 3) is refused for it; b opened epoch 3 for the join
# and runs on unprotected at epoch 2.
t_stale_replicas_refused() {
	survivor 30 || return 1
	joiner j 2 && reprotect b && epoch_is b protected 2 && wait_for j 'resumed pair' 30 || return 1
	stale_pair 1 "pair $pair_id epoch 1 already belongs to node b" || return 1
	stale_pair 2 "pair $pair_id epoch 2 was opened by node b to re-protect a running domain" &&
		joined_intact j || return 1
	kill9 j
	wait_for b 'running alone' 30 && epoch_is b unprotected 2 && arb_owner 2 b &&
		stale_pair 2 "pair $pair_id epoch 2 already belongs to node b" || return 1
	joiner j2 1 || return 1
	reprotect_bg b
	never_live j2 && rc_is j2 7 'a joiner of epoch 1' &&
		err_has j2 "of pair $pair_id epoch 3, this one of pair $pair_id epoch 1" &&
		reprotect_failed b 2 && err_has b "failed.*this one of pair $pair_id epoch 1" || return 1
	epoch_is b unprotected 2 && kv_clean && one_live b b j j2 sp sb &&
		arb_owner 1 b && arb_owner 2 b && arb_owner 3 - && arb_opener 3 b
}

# arbiter_restart: kill -9 of the shared pvft-arbiter, and a new one on
# the same state directory and address.
arbiter_restart() {
	local old=$arbiter_pid
	kill -9 "$old" && wait "$old" 2>/dev/null
	unset "live[$old]"
	arbiter_pid=""
	mv "$tmp/arbiter.err" "$tmp/arbiter.err.$old"
	ARB_LISTEN=${URL#pvft://} arbiter_up
}

# The arbiter is killed and started again (same state, same address)
# while the checkpoint is held in the first pre-copy round (the joiner
# asks the arbiter once it has the stream's opening records, which the
# hold keeps from it): its question meets the new arbiter, which knows
# from its state that b opened epoch 2; the join completes, and when the
# joined backup dies b wins epoch 2 from the new arbiter.
t_arbiter_restarts_during_precopy() {
	survivor 16 || return 1
	joiner j 2 && hold_join hp || return 1
	reprotect_bg b
	wait_for hp 'held after' && wait_for j 'proved the domain' || return 1
	err_lacks j 'the arbiter says' && arbiter_restart && arb_opener 2 b &&
		release hp && wait_for j 'the arbiter says b opened pair' || return 1
	wait_end rp 90 || return 1
	grep -q '"return"' "$t/rp.out" ||
		{ why="the join failed: $(rp_desc 200)"; return 1; }
	epoch_is b protected 2 && wait_for j 'resumed pair' 30 && joined_intact j || return 1
	kill9 j
	wait_for b 'running alone' 30 && epoch_is b unprotected 2 && arb_owner 2 b &&
		kv_clean && one_live b b j
}

# fault_proxy NAME PORT: a pvft-faultproxy NAME in front of 127.0.0.1:PORT
# (its address into $faulty), told what to do by fault NAME CMD ACK.
fault_proxy() {
	spawn "$1" "$FAULTPROXY" --listen 127.0.0.1:0 --target "127.0.0.1:$2" \
		--control "$t/$1.fifo"
	wait_in "$1" out '^ready$' 30 || return 1
	faulty=$(sed -n 's/^faultproxy: listening on \([0-9.:]*\),.*/\1/p' "$t/$1.err")
	[ -n "$faulty" ] || { why="$1: no address on stderr"; return 1; }
	exec {fifo_fd}<>"$t/$1.fifo" # read-write: a write never blocks
}

# fault NAME CMD ACK: CMD to the faultproxy, until it says ACK.
fault() {
	local n
	n=$(grep -cE -- "^faultproxy: $3" "$t/$1.err")
	printf '%s\n' "$2" >&"$fifo_fd"
	wait_file "$t/$1.err" "^faultproxy: $3" $((n + 1)) 30
}

# After each test: the faultproxy's FIFO closed, its processes ended.
fifo_fd=""
end_test() {
	[ -z "$fifo_fd" ] || exec {fifo_fd}>&-
	fifo_fd=""
	stop_all
}

# partition CMD ACK: a join under kv load whose checkpoint goes through a
# holdproxy (held in the first pre-copy round) and then a faultproxy in
# front of the joiner; at the hold the faultproxy is told CMD, then the
# hold lets go. The survivor's join fails, it runs on unprotected at
# epoch 1 with every kv write, and the joiner exits without ever going
# live; its time to fail in $note.
partition() {
	local t0
	survivor "$3" || return 1
	joiner j 2 && fault_proxy fp "${jmig##*:}" &&
		hold_proxy hp "$HOLD_AT" "${faulty##*:}" && jto=$held || return 1
	reprotect_bg b
	wait_for hp 'held after' && wait_for j 'proved the domain' || return 1
	fault fp "$1" "$2" && release hp || return 1
	t0=$(now_ms)
	reprotect_failed b 1 || return 1
	note="the survivor gave up $(($(now_ms) - t0)) ms after the fault: $(rp_desc)"
	never_live j && epoch_is b unprotected 1 && kv_clean && one_live b b j &&
		arb_owner 2 - && arb_opener 2 b
}

# A partition in pre-copy: the faultproxy forwards nothing either way
# and keeps both connections open; the survivor gives up after its I/O
# timeout (30 s), the joiner after its own.
t_partition_during_precopy() {
	partition stall stall 40 && rc_is j 7 'a stream that stopped'
}

# The link reset in pre-copy (both ends get a RST): the survivor gives up
# at once.
t_link_reset_during_precopy() {
	partition cut 'cut \(1 reset\)' 10 && rc_is j 7 'a broken stream'
}

run_all
summary
