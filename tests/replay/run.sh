#!/usr/bin/env bash
# Record/replay tests: real guests recorded by pvft-hv --record and replayed
# by pvft-hv --replay; bad logs of every kind; pvft log-dump on every log.
# Every pvft-hv runs under timeout(1); CPU hogs the tests start are ended
# by PID, also on failure. Last line: "N passed, N failed".
# ONLY=REGEX runs the matching tests; BACKEND=kvm|ptrace pins the backend.
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
PVFT=$build/bin/pvft
CTL=$build/bin/pvft-ctlclient
G=$build/guest
T=120 # seconds: a hang is a failure, never a stuck make check
TRIALS=${REPLAY_TRIALS:-20}
ROUNDS=${REPLAY_CHAOS_ROUNDS:-50} # chaos rounds in the perturbed replays

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin flat # each run's files in $tmp (t=$tmp), its logs kept
LOG_LINES=5

if [ -n "${BACKEND:-}" ]; then
	HV_ARGS=(--backend "$BACKEND")
else
	HV_ARGS=()
fi

# hv NAME [pvft-hv args...]: run it; sets rc and $tmp/NAME.out, .err.
hv() {
	local name=$1; shift
	timeout --preserve-status -k 5 "$T" "$HV" "${HV_ARGS[@]}" "$@" \
		</dev/null >"$tmp/$name.out" 2>"$tmp/$name.err"
	rc=$?
	last=$name
}

same_out() { cmp -s "$tmp/$1.out" "$tmp/$2.out" || { why="stdout of $1 and $2 differ"; return 1; }; }
# The "final digest: ..." line pvft-hv prints at the end of a record/replay.
digest() { grep -oE 'final digest: .*' "$tmp/$1.err"; }
same_digest() {
	local a b
	a=$(digest "$1") && b=$(digest "$2") && [ "$a" = "$b" ] ||
		{ why="final digests differ: $1 '${a:-none}', $2 '${b:-none}'"; return 1; }
}
# No crash, whatever the input: a signal death would be 128+N.
no_crash() {
	[ "$rc" -lt 128 ] || { why="$last died of signal $((rc - 128))"; return 1; }
	! grep -qE 'AddressSanitizer|runtime error|Segmentation|core dumped' "$tmp/$last.err" ||
		{ why="$last crashed"; return 1; }
}

# record_replay NAME GUEST [pvft-hv args]: record, then replay; both must
# end alike: stdout, exit status, final digest.
record_replay() {
	local name=$1 guest=$2; shift 2
	hv "$name-rec" --record "$tmp/$name.log" "$@" "$G/$guest.elf"
	local rec_rc=$rc
	hv "$name-rep" --replay "$tmp/$name.log" --console show "$G/$guest.elf"
	[ "$rc" -eq "$rec_rc" ] || { why="replay exit status $rc, recording $rec_rc"; return 1; }
	err_has "$name-rep" 'the run matches its recording|recorded run was stopped' &&
		same_out "$name-rec" "$name-rep" && same_digest "$name-rec" "$name-rep"
}

# --- the example guests, recorded and replayed ------------------------------

t_hello() { record_replay hello hello && rc_is 0; }
t_compute() { record_replay compute compute --cmdline rounds=16 && rc_is 0; }
t_chaos() { record_replay chaos chaos --digest-exits 50 && rc_is 0; }
t_hostile() { record_replay hostile hostile && rc_is 0; }
# A guest fault ends the recording and its replay at the same exit; with
# its own fault handler, the guest reports and crashes alike in both.
t_guest_fault() {
	record_replay fault hostile --cmdline "fault=null notraps" && rc_is 4 &&
		err_has fault-rep 'page fault \(#PF\).*exit ordinal 5$'
}
t_guest_fault_handler() {
	record_replay handler hostile --cmdline fault=null && rc_is 5 &&
		same_out handler-rec handler-rep
}
# The guest's own exit code (hostile: 2 for a fault it does not know).
t_guest_exit_code() {
	record_replay exitcode hostile --cmdline fault=nonesuch && rc_is 2
}

# Console input comes from the log: the replay's own stdin is never read.
t_console_input() {
	printf 'one\ntwo\nquit\n' | timeout -k 5 "$T" "$HV" "${HV_ARGS[@]}" \
		--record "$tmp/echo.log" --cmdline echo "$G/hello.elf" \
		>"$tmp/echo-rec.out" 2>"$tmp/echo-rec.err"
	rc=$? last=echo-rec
	rc_is 0 || return 1
	printf 'live\nquit\n' | timeout -k 5 "$T" "$HV" "${HV_ARGS[@]}" \
		--replay "$tmp/echo.log" --console show "$G/hello.elf" \
		>"$tmp/echo-rep.out" 2>"$tmp/echo-rep.err"
	rc=$? last=echo-rep
	rc_is 0 && same_out echo-rec echo-rep && same_digest echo-rec echo-rep &&
		grep -q '^echo: two$' "$tmp/echo-rep.out" &&
		! grep -q live "$tmp/echo-rep.out" || { why=${why:-"replay output wrong"}; return 1; }
}

# record_stopped NAME [pvft-hv args]: record in the background, stop it with
# SIGTERM after 1 s; sets rc and $tmp/NAME.out, .err (log: $tmp/NAME.log).
record_stopped() {
	local name=$1 pid; shift
	timeout -k 5 "$T" "$HV" "${HV_ARGS[@]}" --record "$tmp/$name.log" "$@" \
		</dev/null >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pid=$!
	sleep 1
	kill -TERM "$pid"
	wait "$pid"
	rc=$? last=$name
}

# A run stopped by a signal replays to the same exit and stops there.
t_stopped_run() {
	record_stopped stop-rec --cmdline sleep "$G/hello.elf"
	rc_is 143 || return 1
	hv stop-rep --replay "$tmp/stop-rec.log" --console show "$G/hello.elf"
	rc_is 143 && err_has stop-rep 'recorded run was stopped by a signal at exit ordinal' &&
		same_out stop-rec stop-rep
}

# Stopped while the guest sleeps: its state is that exit's, and a replay
# still compares all of it (here memory differs: the guest read the TSC).
# The stop lands in the sleep's block by the guest's own progress, never
# after a time (stopped 1 s after start under load, the guest had not
# read the TSC yet, the stop landed at exit ordinal 1 and the replay
# matched): the hello guest's marker (its wall-clock TIME record, just
# before the rdtsc) is at the same exit in every run of this path, and
# after it come xen_version (+1), msleep's clock read (+2), set_timer (+3)
# and SCHEDOP_block (+4), where it sleeps 60 s. The recording is stopped
# once its control socket counts that exit, and its END must be there,
# not RAN_ON: the premise is checked, not assumed.
t_stopped_in_block_checks_state() {
	local marker block exits end pid i
	hv mark-rec --record "$tmp/mark.log" --debug-allow-rdtsc --cmdline rdtsc \
		"$G/hello.elf"
	rc_is 0 || return 1
	marker=$("$PVFT" log-dump --json "$tmp/mark.log" |
		jq '[.records[] | select(.type == "TIME" and .clock == "wall")][0].ordinal')
	[ -n "$marker" ] && [ "$marker" != null ] || { why="no wall-clock TIME record"; return 1; }
	block=$((marker + 4))
	timeout -k 5 "$T" "$HV" "${HV_ARGS[@]}" --record "$tmp/sleep-rec.log" \
		--control "$tmp/sleep.sock" --debug-allow-rdtsc --cmdline "rdtsc sleep" \
		"$G/hello.elf" </dev/null >"$tmp/sleep-rec.out" 2>"$tmp/sleep-rec.err" &
	pid=$! # timeout(1)'s: it hands the SIGTERM on, and ends a hang
	for ((i = 0; i < T * 10; i++)); do
		exits=$("$CTL" call "$tmp/sleep.sock" '{"execute":"query-status"}' 2>/dev/null |
			jq '.return.exits // 0' 2>/dev/null)
		[ "${exits:-0}" -ge "$block" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$? last=sleep-rec
	[ "${exits:-0}" -ge "$block" ] ||
		{ why="the recording never reached exit $block (at ${exits:-none})"; return 1; }
	rc_is 143 || return 1
	end=$("$PVFT" log-dump --json "$tmp/sleep-rec.log" |
		jq -c '.records[-1] | [.type, .ordinal, .ran_on]')
	[ "$end" = "[\"END\",$block,false]" ] || {
		why="the stop did not land in the sleep's block at exit $block: last record [type, ordinal, ran_on] $end (hello's path changed?)"
		return 1
	}
	hv sleep-rep --replay "$tmp/sleep-rec.log" --debug-allow-rdtsc "$G/hello.elf"
	rc_is 6 && err_has sleep-rep "\\(END, exit ordinal $block\\): final state differs: memory hash"
}

# Stopped while the guest computes: the recording ran on past its last
# exit, the replay stops at that exit; the console output must match.
#
# Where a stop lands is the host's timing: inside the guest's computation
# (END says ran_on), or, on a slow or loaded host, while the vCPU handled
# one of its exits. The test reads which from the log, so its outcome never
# depends on it: the replay must report exactly that. It records again
# (at most 5 times) until the stop landed in the computation, the case it
# is about; should none (never seen), it checks the other case instead.
t_stopped_while_computing() {
	local i end ran_on=false
	for i in 1 2 3 4 5; do
		record_stopped busy-rec --cmdline rounds=100000 "$G/compute.elf"
		rc_is 143 || return 1
		end=$("$PVFT" log-dump --json "$tmp/busy-rec.log" |
			jq -c '.records[-1] | [.type, .ran_on]')
		case $end in
		'["END",true]') ran_on=true && break ;;
		'["END",false]') ;;
		*) why="the stopped recording's last record is $end, not END"; return 1 ;;
		esac
	done
	hv busy-rep --replay "$tmp/busy-rec.log" --console show "$G/compute.elf"
	rc_is 143 && same_out busy-rec busy-rep || return 1
	if $ran_on; then
		err_has busy-rep 'console output only: the recording.s guest ran on after this exit'
	else
		echo "    (the stop landed at an exit in 5 recordings: that case checked)"
		err_has busy-rep 'the run matches its recording'
	fi
}

# A replay shows no console output unless asked: the recorded run's output
# already left (DESIGN.md 3.2); the digests still check it.
t_replay_console_default_none() {
	hv quiet-rec --record "$tmp/quiet.log" "$G/hello.elf" && rc_is 0 || return 1
	hv quiet-rep --replay "$tmp/quiet.log" "$G/hello.elf"
	rc_is 0 && [ ! -s "$tmp/quiet-rep.out" ] && same_digest quiet-rec quiet-rep ||
		{ why=${why:-"the replay printed output"}; return 1; }
	hv quiet-none --console none "$G/hello.elf"
	rc_is 0 && [ ! -s "$tmp/quiet-none.out" ] ||
		{ why=${why:-"--console none printed output"}; return 1; }
	hv quiet-bad --console loud "$G/hello.elf"
	rc_is 2 && err_has quiet-bad "bad --console 'loud'"
}

# --- replays under a perturbed host -----------------------------------------

hog() { while :; do :; done; }

# CPU hogs on every core plus random sleeps in pvft-hv's host threads
# (PVFT_DEBUG_PERTURB): every replay must still end exactly as recorded.
t_chaos_replays_perturbed() {
	local i n_cpu
	hv perturb-rec --record "$tmp/perturb.log" --digest-exits 25 \
		--cmdline "rounds=$ROUNDS" "$G/chaos.elf"
	rc_is 0 || return 1
	n_cpu=$(nproc)
	for i in $(seq "$n_cpu"); do
		spawn "hog$i" hog
	done
	for i in $(seq "$TRIALS"); do
		PVFT_DEBUG_PERTURB=$i hv perturb-rep --replay "$tmp/perturb.log" \
			--console show "$G/chaos.elf"
		# The sleeps must really be on, or this tests nothing.
		if ! err_has perturb-rep "PVFT_DEBUG_PERTURB=$i: host threads sleep" ||
			! rc_is 0 || ! same_out perturb-rec perturb-rep ||
			! same_digest perturb-rec perturb-rep; then
			why="replay $i of $TRIALS: $why"
			break
		fi
	done
	stop_all
	[ -z "$why" ]
}

# --- divergence -------------------------------------------------------------

# A guest that reads the TSC (allowed here on purpose) diverges, and the
# replay names the digest at the exit right after the read: the wall-clock
# TIME record is the guest's marker just before the rdtsc.
t_rdtsc_diverges() {
	local marker want
	hv tsc-rec --record "$tmp/tsc.log" --debug-allow-rdtsc --digest-exits 1 \
		-m 8 --cmdline rdtsc "$G/hello.elf"
	rc_is 0 || return 1
	marker=$("$PVFT" log-dump --json "$tmp/tsc.log" |
		jq '[.records[] | select(.type == "TIME" and .clock == "wall")][0].ordinal')
	[ -n "$marker" ] && [ "$marker" != null ] || { why="no wall-clock TIME record"; return 1; }
	want=$((marker + 1))
	hv tsc-rep --replay "$tmp/tsc.log" --debug-allow-rdtsc "$G/hello.elf"
	rc_is 6 && err_has tsc-rep "replay diverged at record #[0-9]+ \\(DIGEST, exit ordinal $want\\): memory hash: log [0-9a-f]+, replay [0-9a-f]+" &&
		[ "$(grep -c ': error: ' "$tmp/tsc-rep.err")" -eq 1 ] || { why=${why:-"not one error line"}; return 1; }
}

# A guest whose replay spins where the recording went on never reaches the
# log's next record: the replay says so after its stall limit, instead
# of spinning forever.
t_replay_stall_diverges() {
	hv spin-rec --record "$tmp/spin.log" --debug-allow-rdtsc --digest-ms 0 \
		--cmdline tscspin "$G/hello.elf"
	rc_is 0 || return 1
	hv spin-rep --replay "$tmp/spin.log" --debug-allow-rdtsc "$G/hello.elf"
	rc_is 6 && err_has spin-rep 'replay diverged at record #[0-9]+ \(END, exit ordinal [0-9]+\): the guest made no exit for [0-9]+ s'
}

# --- logs that do not fit, or are not logs ----------------------------------

t_replay_other_image() {
	hv img-rec --record "$tmp/img.log" "$G/hello.elf" && rc_is 0 || return 1
	hv img-rep --replay "$tmp/img.log" "$G/compute.elf"
	rc_is 7 && err_has img-rep 'recorded with another guest image'
}

t_replay_other_memory() {
	hv mem-rec --record "$tmp/mem.log" -m 16 "$G/hello.elf" && rc_is 0 || return 1
	hv mem-rep --replay "$tmp/mem.log" -m 32 "$G/hello.elf"
	rc_is 2 && err_has mem-rep 'recorded with 16 MiB'
}

t_replay_other_cmdline() {
	hv cmd-rec --record "$tmp/cmd.log" --cmdline a=1 "$G/hello.elf" && rc_is 0 || return 1
	hv cmd-rep --replay "$tmp/cmd.log" --cmdline a=2 "$G/hello.elf"
	rc_is 2 && err_has cmd-rep "recorded with 'a=1'"
}

t_replay_missing_log() {
	hv miss --replay "$tmp/nope.log" "$G/hello.elf"
	rc_is 7 && err_has miss 'nope.log.*No such file'
}

t_replay_not_a_log() {
	hv notlog --replay "$G/hello.elf" "$G/hello.elf"
	rc_is 7 && err_has notlog 'not a pvft log'
}

# A pipe cannot be read through first, nor be interrupted: refused.
t_replay_from_a_fifo() {
	mkfifo "$tmp/fifo"
	hv fifo --replay "$tmp/fifo" "$G/hello.elf"
	rc_is 7 && err_has fifo 'fifo: not a regular file'
}

t_record_unwritable() {
	hv unw --record "$tmp/no/such/dir.log" "$G/hello.elf"
	rc_is 7 && err_has unw 'no/such/dir.log'
}

t_record_and_replay_together() {
	hv both --record "$tmp/a.log" --replay "$tmp/b.log" "$G/hello.elf"
	rc_is 2
}

# The chaos log, spoiled byte by byte: replay and log-dump both refuse it
# with one clear error, and never crash.
spoil_setup() {
	[ -s "$tmp/spoil.log" ] && return 0
	hv spoil-rec --record "$tmp/spoil.log" --digest-exits 10 --cmdline rounds=20 \
		"$G/chaos.elf"
	rc_is 0
}

# check_bad_log FILE REGEX: replay refuses it before running anything (exit
# 7, no guest output), log-dump exits 1; both name the cause.
check_bad_log() {
	local log=$1 re=$2
	hv bad-rep --replay "$log" --console show "$G/chaos.elf"
	no_crash || return 1
	rc_is 7 || return 1
	[ ! -s "$tmp/bad-rep.out" ] || { why="the guest ran from a bad log"; return 1; }
	err_has bad-rep "$re" || return 1
	timeout -k 5 "$T" "$PVFT" log-dump "$log" >"$tmp/bad-dump.out" 2>"$tmp/bad-dump.err"
	rc=$? last=bad-dump
	no_crash || return 1
	rc_is 1 && err_has bad-dump "$re"
}

t_log_flipped_bits() {
	local size off bit i
	spoil_setup || return 1
	size=$(stat -c %s "$tmp/spoil.log")
	for i in $(seq "$TRIALS"); do
		off=$((RANDOM * 32768 + RANDOM))
		off=$((off % size))
		bit=$((1 << (RANDOM % 8)))
		cp "$tmp/spoil.log" "$tmp/flip.log"
		printf "$(printf '\\%03o' $(($(od -An -tu1 -j "$off" -N1 "$tmp/spoil.log") ^ bit)))" |
			dd of="$tmp/flip.log" bs=1 seek="$off" conv=notrunc status=none
		check_bad_log "$tmp/flip.log" 'CRC|bad magic|format version|header|reserved|flags|sequence|length|ordinal|type|padding|BOOT|cut short|truncated' ||
			{ why="bit 0x$(printf %x $bit) of byte $off flipped: $why"; return 1; }
	done
}

t_log_truncated() {
	local size off i
	spoil_setup || return 1
	size=$(stat -c %s "$tmp/spoil.log")
	for i in $(seq "$TRIALS"); do
		off=$(((RANDOM * 32768 + RANDOM) % size))
		head -c "$off" "$tmp/spoil.log" >"$tmp/cut.log"
		check_bad_log "$tmp/cut.log" 'truncated|cut short|without an END' ||
			{ why="cut at $off of $size: $why"; return 1; }
	done
}

t_log_wrong_version() {
	spoil_setup || return 1
	cp "$tmp/spoil.log" "$tmp/v2.log"
	printf '\002' | dd of="$tmp/v2.log" bs=1 seek=8 conv=notrunc status=none
	check_bad_log "$tmp/v2.log" 'format version 2'
}

t_log_data_after_end() {
	spoil_setup || return 1
	cp "$tmp/spoil.log" "$tmp/extra.log"
	head -c 64 /dev/zero >>"$tmp/extra.log"
	check_bad_log "$tmp/extra.log" 'after the END record'
}

# --- pvft log-dump ----------------------------------------------------------

t_log_dump_every_log() {
	local log n=0
	for log in "$tmp"/*.log; do
		case $(basename "$log") in
		flip.log | cut.log | v2.log | extra.log) continue ;;
		esac
		"$PVFT" log-dump "$log" >"$tmp/dump.out" 2>"$tmp/dump.err" ||
			{ why="log-dump $(basename "$log") failed: $(head -n 1 "$tmp/dump.err")"; return 1; }
		grep -q 'END' "$tmp/dump.out" || { why="log-dump $(basename "$log"): no END"; return 1; }
		"$PVFT" log-dump --json "$log" | jq -se 'length == 1 and (.[0].records | length > 0)' >/dev/null ||
			{ why="log-dump --json $(basename "$log") is not valid JSON"; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 5 ] || { why="only $n logs to dump"; return 1; }
}

t_log_dump_summary() {
	spoil_setup || return 1
	"$PVFT" log-dump --summary "$tmp/spoil.log" >"$tmp/sum.out" 2>"$tmp/sum.err" || return 1
	grep -qE 'Mbit/s' "$tmp/sum.out" && grep -qE 'DIGEST' "$tmp/sum.out" ||
		{ why="summary lacks Mbit/s or DIGEST"; return 1; }
}

t_log_dump_usage() {
	"$PVFT" log-dump >/dev/null 2>&1
	rc=$? last=log-dump
	rc_is 2
}

# --- run them ---------------------------------------------------------------

# In the order written: log-dump reads the logs the earlier tests made.
run_all
summary
