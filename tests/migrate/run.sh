#!/usr/bin/env bash
# migrate: save, restore and live migration of running domains
# (Documentation/migration-stream.md, hv/migrate.h). No process
# substitution: the kvm suite's machine has no /dev/fd. Real guests, real
# pvft-hv processes, the control socket's save and migrate commands; each
# restored or moved run's output must continue the source's exactly (count:
# 1..N, no gap, no repeat), and the digest both sides print at the cut must
# be the same. Then every refusal: a truncated, corrupted, mismatched or
# future stream, a source without the key, a destination that dies.
# BACKEND=kvm|ptrace pins the vCPU backend; MIGRATE_GUESTS_ONLY=1 runs the
# guests' tests alone (the kvm suite). Last line: "N passed, N failed".
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
G=$build/guest
CTL=$build/bin/pvft-ctlclient
KV=$build/bin/pvft-kv-client
T=120

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
LOG_GLOBS=('*.err')
LOG_LINES=10

if [ -n "${BACKEND:-}" ]; then
	HV_ARGS=(--backend "$BACKEND")
else
	HV_ARGS=()
fi
KEY=$tmp/domain.key
make_key "$KEY"
ARBITER=$build/bin/pvft-arbiter
ARB_KEYS=$tmp/arbiter-keys
mkdir -p -m 700 "$ARB_KEYS"
OTHER_KEY=$tmp/other.key
make_key "$OTHER_KEY"

# hvs NAME [pvft-hv args]: a pvft-hv with its control socket at $t/NAME.sock.
hvs() {
	local name=$1
	shift
	spawn "$name" "$HV" "${HV_ARGS[@]}" --control "$t/$name.sock" "$@"
}

# call NAME JSON: one request on NAME's control socket; the reply in $reply.
call() {
	reply=$("$CTL" call "$t/$1.sock" "$2" 2>&1)
}

# wait_sock NAME: until NAME's control socket answers.
wait_sock() {
	local i
	for ((i = 0; i < T * 10; i++)); do
		[ -S "$t/$1.sock" ] && "$CTL" call "$t/$1.sock" '{"execute":"query-status"}' >/dev/null 2>&1 && return 0
		running "$1" || break
		sleep 0.1
	done
	why="$1: its control socket never answered"
	return 1
}

# lines NAME N: until NAME printed N lines.
lines() {
	wait_file "$t/$1.out" '^[0-9]+$' "$2"
}

# same_cut A B: both printed the same digest at the cut.
same_cut() {
	local a b
	a=$(grep -m 1 'digest at the cut' "$t/$1.err" | sed 's/.*digest at the cut: //')
	b=$(grep -m 1 'digest at the cut' "$t/$2.err" | sed 's/.*digest at the cut: //')
	[ -n "$a" ] || { why="$1 printed no digest at the cut"; return 1; }
	[ "$a" = "$b" ] || { why="digests at the cut differ: $1 '$a', $2 '$b'"; return 1; }
}

# count's command line in the tests that move it: it counts for half an
# hour at least, so it never ends by itself while a save or migration is
# under way, however slow the machine (a domain that ends during one fails
# it).
COUNT="n=1000000 sleep_us=4000"

# counts_on A B: B, which took over A's count at the cut, counts on for 5
# lines and is stopped; A's output then B's is exactly 1..K (no gap, no
# repeat).
counts_on() {
	local k
	lines "$2" 5 && stop "$2" TERM && rc_is "$2" 143 || return 1
	cat "$t/$1.out" "$t/$2.out" >"$t/both"
	k=$(wc -l <"$t/both")
	seq 1 "$k" >"$t/want"
	if ! cmp -s "$t/both" "$t/want"; then
		why="$1 then $2 is not seq 1 $k: $1 ends '$(tail -n 1 "$t/$1.out")', $2 starts '$(head -n 1 "$t/$2.out")' ($(wc -l <"$t/$1.out") + $(wc -l <"$t/$2.out") lines)"
		return 1
	fi
}

# ended_under_it ROUNDS LAST: the guest finished before its save did (a
# slow machine): the reply says DomainEnded, or no save was answered and
# the source is gone. Unless ROUNDS is the LAST, everything is stopped and
# cleared for a longer run (0); else why says so (1).
ended_under_it() {
	[[ $reply == *DomainEnded* ]] || { [[ $reply != *'"return"'* ]] && ! running src &&
		wait_end src && rc_is src 0 && out_has src '^(compute: result=|chaos: done)'; } ||
		return 1
	why="the guest finished before its save, with rounds=$1 too: ${reply:-no reply}"
	[ "$1" != "$2" ] || return 1
	stop_all
	fresh
}

# saved GUEST CMDLINE FILE [pvft-hv args]: run GUEST as "src" until it
# printed its first line, save it to FILE (the domain stops).
save_running() {
	local guest=$1 cmdline=$2 file=$3
	shift 3
	hvs src --cmdline "$cmdline" "$@" "$G/$guest.elf" && wait_sock src || return 1
	wait_file "$t/src.out" . 1 || return 1
	call src "{\"execute\":\"save\",\"arguments\":{\"file\":\"$file\"}}"
	[[ $reply == *'"return"'* ]] || { why="save: $reply"; return 1; }
	wait_end src && rc_is src 0 && err_has src 'saved at exit ordinal'
}

# --- save and restore, every example guest ---------------------------------

t_count_save_restore() {
	save_running count "$COUNT" "$t/c.save" || return 1
	[[ $reply == *'"stopped":true'* ]] || { why="save's reply: $reply"; return 1; }
	[ -s "$t/c.save" ] && [ ! -e "$t/c.save.part" ] || { why="no whole save file"; return 1; }
	hvs dst --restore "$t/c.save" "$G/count.elf"
	wait_for dst 'digests match' && counts_on src dst && same_cut src dst
}

# save -c: the domain runs on, counting on without a gap; the file
# restores from the cut.
t_count_save_keep_running() {
	local k m
	hvs src --cmdline "$COUNT" "$G/count.elf" && wait_sock src && lines src 20 || return 1
	call src "{\"execute\":\"save\",\"arguments\":{\"file\":\"$t/k.save\",\"keep_running\":true}}"
	[[ $reply == *'"stopped":false'* ]] || { why="save -c: $reply"; return 1; }
	m=$(($(wc -l <"$t/src.out") + 5))
	lines src "$m" && stop src TERM && rc_is src 143 || return 1
	seq 1 "$(wc -l <"$t/src.out")" >"$t/want"
	cmp -s "$t/src.out" "$t/want" || { why="the source did not count on after save -c"; return 1; }
	hvs dst --restore "$t/k.save" "$G/count.elf"
	lines dst 5 && stop dst TERM && rc_is dst 143 && same_cut src dst || return 1
	k=$(head -n 1 "$t/dst.out")
	[ -n "$k" ] && seq "$k" $((k + $(wc -l <"$t/dst.out") - 1)) >"$t/want" &&
		cmp -s "$t/dst.out" "$t/want" ||
		{ why="the restored run does not count on from the cut ($k)"; return 1; }
}

# compute runs for seconds (400 rounds) and is saved as soon as its control
# socket answers: mid-computation.
# Should the guest finish before the save does (a slow machine), it runs
# again with 4 times the rounds.
t_compute_save_restore() {
	local native rounds
	for rounds in 400 1600 6400; do
		reply=""
		native=$("$build/bin/compute-native" rounds=$rounds | grep '^compute: result=') ||
			{ why="compute-native printed no result"; return 1; }
		hvs src --cmdline rounds=$rounds "$G/compute.elf" && wait_sock src ||
			{ ended_under_it $rounds 6400 && continue; return 1; }
		call src "{\"execute\":\"save\",\"arguments\":{\"file\":\"$t/m.save\"}}"
		ended_under_it $rounds 6400 || break
	done
	[[ $reply == *'"return"'* ]] || { why="${why:-save: $reply}"; return 1; }
	wait_end src && rc_is src 0 && err_has src 'saved at exit ordinal' || return 1
	hvs dst --restore "$t/m.save" "$G/compute.elf"
	wait_end dst $((T * rounds / 400)) && rc_is dst 0 && same_cut src dst &&
		cat "$t/src.out" "$t/dst.out" | grep -qxF "$native" ||
		{ why="${why:-the restored run did not print the native result}"; return 1; }
}

# chaos is saved after its first line (round 50 of 100): should it finish
# before the save does, it runs again with 4 times the rounds.
t_chaos_save_restore() {
	local rounds
	for rounds in 100 400 1600; do
		reply=""
		save_running chaos rounds=$rounds "$t/x.save" && break
		ended_under_it $rounds 1600 || return 1
	done
	hvs dst --restore "$t/x.save" "$G/chaos.elf"
	wait_end dst $((T * rounds / 100)) && rc_is dst 0 && same_cut src dst &&
		out_has dst "^chaos: done rounds=$rounds "
}

# hello's echo mode: blocked on console input, no timer of its own. The
# restored domain takes its input where the saved one left off.
t_hello_save_restore() {
	printf 'one\n' >"$t/in1"
	printf 'two\nquit\n' >"$t/in2"
	spawn_in "$t/in1" src "$HV" "${HV_ARGS[@]}" --control "$t/src.sock" \
		--cmdline echo "$G/hello.elf"
	wait_in src out '^echo: one' && wait_sock src || return 1
	call src "{\"execute\":\"save\",\"arguments\":{\"file\":\"$t/h.save\"}}"
	[[ $reply == *'"return"'* ]] || { why="save: $reply"; return 1; }
	wait_end src && rc_is src 0 || return 1
	spawn_in "$t/in2" dst "$HV" "${HV_ARGS[@]}" --restore "$t/h.save" "$G/hello.elf"
	wait_end dst && rc_is dst 0 && same_cut src dst && out_has dst '^echo: two' &&
		! grep -q 'Hello from' "$t/dst.out" || { why="${why:-the restored hello booted again}"; return 1; }
}

# --- live migration ---------------------------------------------------------

# incoming NAME GUEST [args]: a destination on a free port ($mport).
incoming() {
	local name=$1 guest=$2
	shift 2
	free_port
	mport=$port
	hvs "$name" --incoming "127.0.0.1:$mport" "$@" "$G/$guest.elf"
	wait_for "$name" 'waiting for the domain on' 30
}

t_count_live_migration() {
	incoming dst count --key "$KEY" || return 1
	hvs src --key "$KEY" --cmdline "$COUNT" "$G/count.elf" && wait_sock src && lines src 30 || return 1
	call src "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"127.0.0.1:$mport\"}}"
	[[ $reply == *'"return"'* && $reply == *'"stopped":true'* ]] || { why="migrate: $reply"; return 1; }
	wait_end src && rc_is src 0 && err_has src 'migrated at exit ordinal' || return 1
	counts_on src dst && same_cut src dst
}

# The domain ends during its migration (here a stop; a guest that shuts
# down is the same): the migration fails saying so, not blaming the link
# or saying the domain runs on, and the destination never runs it. The
# stream is held in round 1 (tests/reprotect/holdproxy.py), whatever the
# machine's speed.
t_domain_ends_during_migration() {
	incoming dst count --key "$KEY" || return 1
	hold_proxy hp 65536 "$mport" || return 1
	hvs src --key "$KEY" --cmdline "$COUNT" "$G/count.elf" && wait_sock src || return 1
	spawn mig "$CTL" call "$t/src.sock" "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"$held\"}}"
	wait_for hp 'held after' 30 && stop src TERM && rc_is src 143 && wait_end mig || return 1
	reply=$(cat "$t/mig.out")
	[[ $reply == *DomainEnded*'the domain ended during the migration (round 1)'* &&
		$reply != *'runs on'* ]] || { why="migrate: $reply"; return 1; }
	err_has src 'migration failed: the domain ended during the migration' &&
		err_lacks src 'runs on here' || return 1
	# The rest of what the source sent, then its end: a cut stream.
	release hp && wait_end dst && rc_is dst 7 && err_has dst 'truncated' &&
		out_empty dst && err_lacks dst 'digests match'
}

# A guest that dirties all its memory as fast as it runs (hello churn):
# no round ever leaves little enough, so the round limit forces the
# stop-and-copy; the reply says how many rounds and the pause it took, and
# the guest goes on churning at the destination.
t_round_limit_forces_the_cut() {
	incoming dst hello --key "$KEY" || return 1
	hvs src --key "$KEY" --cmdline "fill=24 churn" "$G/hello.elf" && wait_sock src &&
		wait_in src out '^hello: filled' || return 1
	call src "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"127.0.0.1:$mport\",\"max_rounds\":3,\"downtime_ms\":0}}"
	[[ $reply == *'"return"'* ]] || { why="migrate: $reply"; return 1; }
	[[ $reply =~ \"rounds\":\ ?([0-9]+) ]] && [ "${BASH_REMATCH[1]}" = 3 ] ||
		{ why="rounds not 3: $reply"; return 1; }
	[[ $reply =~ \"pause_ms\":\ ?[0-9] ]] || { why="no pause in $reply"; return 1; }
	wait_end src && rc_is src 0 && err_has src 'round 3 of 3 and [0-9]+ pages still dirty' &&
		sleep 1 && running dst && stop dst TERM && rc_is dst 143 && same_cut src dst
}

# A pair's backup moves under load (pvft migrate's moved backup), then the
# primary is killed: the moved backup takes over with every acknowledged
# write.
t_pair_backup_moves_then_takes_over() {
	local vif cmdline
	arbiter_up || return 1
	pair_id=$((RANDOM * 32768 + RANDOM + 1))
	arbiter_key "$build/bin/pvft" "$KEY" "$ARB_KEYS" "$pair_id"
	free_port
	svc=$port
	vif="mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$svc,guest-port=7000"
	cmdline="ip=10.0.2.15/24 gw=10.0.2.2 port=7000"
	# Slow timeouts: this tests the move, not failure detection.
	HV_KEY=(--key "$KEY" --timeout-ms 1000)
	start_backup b kv "$cmdline" --memory 64 --vif "$vif" --control "$t/b.sock" || return 1
	start_primary p kv "$cmdline" "$bport" --memory 64 --vif "$vif" && wait_for p 'paired with backup' || return 1
	spawn kv "$KV" --server "127.0.0.1:$svc" --clients 8 --duration 8 --json
	free_port
	local newlog=127.0.0.1:$port
	free_port
	mport=$port
	spawn b2 "$HV" "${HV_ARGS[@]}" --role backup --listen "$newlog" --pair "$pair_id" \
		--node b --arbiter "$URL" --key "$KEY" --timeout-ms 1000 \
		--incoming "127.0.0.1:$mport" \
		--memory 64 --vif "$vif" --cmdline "$cmdline" "$G/kv.elf"
	wait_for b2 'waiting for the domain on' 30 || return 1
	sleep 2
	call b "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"127.0.0.1:$mport\",\"listen\":\"$newlog\"}}"
	[[ $reply == *'"return"'*'"stopped":true'* ]] || { why="migrate: $reply"; return 1; }
	wait_end b && rc_is b 0 && wait_for b2 'resumed pair' 30 &&
		wait_for p 'paired with backup b at .* again' 30 || return 1
	sleep 1
	kill9 p
	wait_for b2 'went live' 30 && wait_end kv 60 && rc_is kv 0 || return 1
	grep -q '"lost": *0' "$t/kv.out" && grep -q '"doubled": *0' "$t/kv.out" ||
		{ why="kv-client: $(head -c 300 "$t/kv.out")"; return 1; }
	same_cut b b2
}

t_kv_live_migration_under_load() {
	local vif
	free_port
	vif="mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$port,guest-port=7000"
	svc=$port
	incoming dst kv --key "$KEY" --memory 64 --vif "$vif" \
		--cmdline "ip=10.0.2.15/24 gw=10.0.2.2 port=7000" || return 1
	hvs src --key "$KEY" --memory 64 --vif "$vif" \
		--cmdline "ip=10.0.2.15/24 gw=10.0.2.2 port=7000" "$G/kv.elf" && wait_sock src || return 1
	spawn kv "$KV" --server "127.0.0.1:$svc" --clients 8 --duration 6 --json
	sleep 2
	call src "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"127.0.0.1:$mport\"}}"
	[[ $reply == *'"return"'* ]] || { why="migrate: $reply"; return 1; }
	wait_end src && rc_is src 0 && wait_end kv 60 && rc_is kv 0 || return 1
	grep -q '"lost": *0' "$t/kv.out" && grep -q '"doubled": *0' "$t/kv.out" ||
		{ why="kv-client: $(head -c 300 "$t/kv.out")"; return 1; }
	running dst || { why="the destination is not running"; return 1; }
	# The service answers from the destination now.
	spawn kv2 "$KV" --server "127.0.0.1:$svc" --clients 2 --requests 50
	wait_end kv2 && rc_is kv2 0 && same_cut src dst
}

# --- refusals ---------------------------------------------------------------

# restore_refused FILE ERE [GUEST [args]]: restoring FILE exits 7 saying ERE,
# and runs no guest (no output).
restore_refused() {
	local file=$1 re=$2 guest=${3:-count}
	shift 3 2>/dev/null || shift $#
	hvs dst --restore "$file" "$@" "$G/$guest.elf"
	wait_end dst && rc_is dst 7 && err_has dst "$re" && out_empty dst
}

# One save of count the refusals share.
good_save() {
	[ -s "$tmp/good.save" ] && return 0
	save_running count "n=100000 sleep_us=2000" "$tmp/good.save" && stop_all
}

t_refuse_truncated() {
	good_save || return 1
	head -c $(($(stat -c %s "$tmp/good.save") / 2)) "$tmp/good.save" >"$t/short"
	restore_refused "$t/short" 'truncated'
}

t_refuse_corrupted() {
	good_save || return 1
	cp "$tmp/good.save" "$t/bad"
	# A byte inside the first page batch, past its header.
	printf '\x5a' | dd of="$t/bad" bs=1 seek=100000 conv=notrunc 2>/dev/null
	restore_refused "$t/bad" 'checksum'
}

# A byte of a page changed in the file and its record's checksum made
# right again: only VERIFY, the destination's own digest of what it built
# against the source's, can tell; and it does, before anything runs.
t_refuse_verify_mismatch() {
	good_save || return 1
	# The first PAGE_DATA (1024 pfns): its page bytes start at 8 + 8192.
	"$build/bin/pvft-migtamper" "$tmp/good.save" "$t/forged" 2 0 8300 ||
		{ why="pvft-migtamper could not forge the file"; return 1; }
	restore_refused "$t/forged" 'VERIFY: what was built is not the domain that was sent: memory hash'
}

t_refuse_future_version() {
	good_save || return 1
	cp "$tmp/good.save" "$t/future"
	printf '\x63' | dd of="$t/future" bs=1 seek=8 conv=notrunc 2>/dev/null
	restore_refused "$t/future" 'version 99'
}

t_refuse_not_a_stream() {
	printf 'not a stream at all, just some text\n' >"$t/text"
	restore_refused "$t/text" 'not a pvft migration stream'
}

t_refuse_other_image() {
	good_save || return 1
	restore_refused "$tmp/good.save" 'another guest image' compute
}

t_refuse_other_memory() {
	good_save || return 1
	restore_refused "$tmp/good.save" 'the domain has 64 MiB of memory, this one is to have 32' count --memory 32
}

t_refuse_other_cmdline() {
	good_save || return 1
	restore_refused "$tmp/good.save" "command line is" count --cmdline n=5
}

# A source without the domain key: turned away; the destination waits on
# and the source runs on, saying why.
t_refuse_source_without_the_key() {
	incoming dst count --key "$KEY" || return 1
	hvs src --key "$OTHER_KEY" --cmdline "n=200 sleep_us=4000" "$G/count.elf" && wait_sock src || return 1
	call src "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"127.0.0.1:$mport\"}}"
	[[ $reply == *'MigrationFailed'* ]] || { why="migrate: $reply"; return 1; }
	wait_for dst 'turned away' 10 && running dst || return 1
	seq 1 200 >"$t/want"
	wait_end src && rc_is src 0 && cmp -s "$t/src.out" "$t/want" ||
		{ why="${why:-the source did not run on to its end}"; return 1; }
	out_empty dst
}

# The destination dies during pre-copy (a guest that dirties all its
# memory, with no downtime to reach, is in pre-copy until the round
# limit): the source runs on, says why, and answers MigrationFailed.
t_source_runs_on_when_the_destination_dies() {
	incoming dst hello --key "$KEY" || return 1
	hvs src --key "$KEY" --cmdline "fill=24 churn" "$G/hello.elf" && wait_sock src &&
		wait_in src out '^hello: filled' || return 1
	spawn mig "$CTL" call "$t/src.sock" "{\"execute\":\"migrate\",\"arguments\":{\"to\":\"127.0.0.1:$mport\",\"max_rounds\":1000,\"downtime_ms\":0}}"
	wait_for dst 'proved the domain' && kill9 dst || return 1
	wait_end mig && out_has mig 'MigrationFailed' && wait_for src 'runs on here' || return 1
	running src || { why="the source ended"; return 1; }
	call src '{"execute":"query-status"}'
	[[ $reply == *'"state":"running"'* && $reply == *'"failed"'* ]] || { why="status: $reply"; return 1; }
	stop src TERM && rc_is src 143
}

t_bad_requests() {
	hvs src --cmdline "n=100000 sleep_us=2000" "$G/count.elf" && wait_sock src || return 1
	call src '{"execute":"save","arguments":{"file":"relative.save"}}'
	[[ $reply == *BadRequest*absolute* ]] || { why="relative file: $reply"; return 1; }
	call src '{"execute":"migrate","arguments":{"to":"127.0.0.1:1"}}'
	[[ $reply == *BadRequest*key* ]] || { why="no key: $reply"; return 1; }
	call src '{"execute":"migrate","arguments":{"to":"127.0.0.1:1","insecure":true,"max_rounds":"x"}}'
	[[ $reply == *BadRequest*max_rounds* ]] || { why="max_rounds: $reply"; return 1; }
	call src '{"execute":"migrate","arguments":{"to":"127.0.0.1:1","insecure":true}}'
	[[ $reply == *MigrationFailed*"cannot reach"* ]] || { why="unreachable: $reply"; return 1; }
	call src "{\"execute\":\"save\",\"arguments\":{\"file\":\"$t/no/such/dir/x.save\"}}"
	[[ $reply == *MigrationFailed* ]] || { why="bad dir: $reply"; return 1; }
	running src || { why="the source ended"; return 1; }
	call src '{"execute":"query-status"}'
	[[ $reply == *'"migration"'*'"failed"'* ]] || { why="status: $reply"; return 1; }
}

t_incoming_needs_a_key() {
	spawn dst "$HV" "${HV_ARGS[@]}" --incoming 127.0.0.1:1 "$G/count.elf"
	wait_end dst && rc_is dst 2 && err_has dst '--incoming needs the domain key'
}

run t_count_save_restore
run t_count_save_keep_running
run t_compute_save_restore
run t_chaos_save_restore
run t_hello_save_restore
run t_count_live_migration
run t_round_limit_forces_the_cut
run t_kv_live_migration_under_load
# The kvm suite runs the guests on the KVM backend; the refusals are the
# stream's, the same on either backend, and a pair's timing is the pair
# suite's (it does not run under emulation either).
if [ -n "${MIGRATE_GUESTS_ONLY:-}" ]; then
	summary
	exit
fi
run t_pair_backup_moves_then_takes_over
run t_refuse_truncated
run t_refuse_corrupted
run t_refuse_verify_mismatch
run t_refuse_future_version
run t_refuse_not_a_stream
run t_refuse_other_image
run t_refuse_other_memory
run t_refuse_other_cmdline
run t_refuse_source_without_the_key
run t_source_runs_on_when_the_destination_dies
run t_domain_ends_during_migration
run t_bad_requests
run t_incoming_needs_a_key
summary
