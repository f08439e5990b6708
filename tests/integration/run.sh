#!/usr/bin/env bash
# Integration tests: real guests on pvft-hv, real processes, real exit codes.
# Every pvft-hv runs under timeout(1), which ends it by PID, with stdin from
# /dev/null unless a test feeds it. Last line: "N passed, N failed".
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
G=$build/guest
T=60 # seconds: a hang is a failure, never a stuck make check

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin flat # hv's stdout and stderr: $tmp/out, $tmp/err (t=$tmp)
LOG_GLOBS=(out err)
LOG_LINES=15

# BACKEND=kvm|ptrace pins the vCPU backend; by default pvft-hv picks.
if [ -n "${BACKEND:-}" ]; then
	HV_ARGS=(--backend "$BACKEND")
else
	HV_ARGS=()
fi

# hv [pvft-hv args...]: run it; sets rc, and $tmp/out, $tmp/err (the
# checks' last command: rc_is, out_has, err_has).
hv() {
	timeout --preserve-status -k 5 "$T" "$HV" "${HV_ARGS[@]}" "$@" \
		</dev/null >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

err_lines_max() {
	local n
	# The ptrace fallback notice is not part of what is being counted.
	n=$(grep -v 'running the guest on the ptrace backend' "$tmp/err" | grep -c .)
	[ "$n" -le "$1" ] || { why="$n stderr lines, want at most $1"; return 1; }
}

# Which backend the guests run on; loud when it is not KVM.
if [ -n "${BACKEND:-}" ]; then
	echo "integration: guests run on the $BACKEND backend (pinned)"
elif "$(dirname "$0")/../../scripts/have-kvm.sh"; then
	echo "integration: guests run on the kvm backend"
else
	echo "integration: no usable /dev/kvm here: guests run on the ptrace"
	echo "integration: backend (the kvm suite runs them on KVM)"
fi

# --- the example guests ----------------------------------------------------

t_hello() {
	hv "$G/hello.elf" && rc_is 0 && out_has '^Hello from pvft guest!'
}

# KVM: pvft's fixed CPUID table, whatever the host. The ptrace backend
# cannot trap CPUID: there the guest sees the host's (a known difference).
t_cpuid() {
	local backend=${BACKEND:-}
	hv --cmdline cpuid "$G/hello.elf" && rc_is 0 || return 1
	[ -n "$backend" ] || backend=$(grep -q 'ptrace backend' "$tmp/err" && echo ptrace || echo kvm)
	if [ "$backend" = kvm ]; then
		out_has '^hello: cpuid vendor=pvftvirtcpu1 rdrand=0$'
	else
		out_has "^hello: cpuid vendor=$(awk '/^vendor_id/ { print $3; exit }' /proc/cpuinfo) "
	fi
}

# The vector state at entry is the ABI's, not whatever the host left there.
t_entry_vector_state() {
	hv "$G/hello.elf" && rc_is 0 &&
		out_has '^hello: entry fcw=0x37f mxcsr=0x1f80 xmm-nonzero=0$'
}

t_hello_cmdline_and_name() {
	hv --name greeter --memory 16 --cmdline "alpha beta=3" "$G/hello.elf" &&
		rc_is 0 && out_has 'alpha beta=3' && out_has '16 MiB'
}

t_compute_matches_native() {
	local native
	native=$("$build/bin/compute-native" rounds=8 | grep '^compute: result=') ||
		{ why="compute-native printed no result"; return 1; }
	hv --cmdline rounds=8 "$G/compute.elf" && rc_is 0 &&
		out_has "^${native}\$"
}

t_chaos_runs_to_the_end() {
	hv --cmdline rounds=100 "$G/chaos.elf" && rc_is 0 &&
		out_has '^chaos: done rounds=100 ' && out_has 'digest=[0-9a-f]+'
}

t_hostile_is_refused_and_domain_lives() {
	hv --name evil "$G/hostile.elf"
	rc_is 0 && out_has 'hostile: [0-9]+ checks, 0 failures' &&
		err_has '^pvft-hv\[evil\]: warning: refused hypercall' &&
		! grep -q 'hostile: FAIL' "$tmp/out"
}

# --- faults: one clear line (reason, RIP, exit ordinal), non-zero ---------

# "notraps": no guest handler, so pvft-hv itself reports the fault.
fault_case() {
	hv --cmdline "fault=$1 notraps" "$G/hostile.elf"
	rc_is 4 && out_has "about to" && err_has "$2" &&
		err_has 'guest fault: .* at rip 0x[0-9a-f]+.*, exit ordinal [0-9]+$' && err_lines_max 2
}
# The exit ordinal is the position replay relies on: it must be exact, and
# the same on every backend (boot's hypercalls, set_trap_table, the write).
t_fault_null_pointer() { fault_case null 'page fault \(#PF\).*address 0x0.*, exit ordinal 5$'; }
t_fault_invalid_opcode() { fault_case ud 'invalid opcode \(#UD\)'; }
t_fault_divide_error() { fault_case div 'divide error \(#DE\)'; }
t_fault_doorbell_outside_page() { fault_case doorbell 'doorbell written outside the hypercall page'; }
t_fault_syscall() { fault_case syscall 'syscall'; }
# Host time through Linux's vsyscall page: never reachable (ptrace: seccomp
# traps it; KVM: nothing is mapped there).
t_fault_vsyscall() { fault_case vsyscall 'vsyscall page|page fault.*address 0xffffffffff600400'; }

# With the runtime's handlers (set_trap_table) the guest reports and crashes.
t_fault_reported_by_guest() {
	hv --cmdline fault=null "$G/hostile.elf"
	rc_is 5 &&
		out_has '^fault: page fault \(vector 14\) at rip 0x[0-9a-f]+, address 0,' &&
		err_has "page fault.*: entering the guest's fault handler" &&
		err_has 'guest crashed \(SHUTDOWN_crash\)'
}

t_fault_in_fault_handler() {
	hv --cmdline fault=nested "$G/hostile.elf"
	rc_is 4 && err_has "invalid opcode.*\(in the guest's fault handler\)"
}

t_dead_domain_is_reported() {
	hv --cmdline block "$G/hostile.elf"
	rc_is 4 && err_has 'nothing that could wake it.*the domain is dead'
}

t_dead_domain_masked_timer() {
	hv --cmdline block=masked-timer "$G/hostile.elf"
	rc_is 4 && err_has 'nothing that could wake it.*the domain is dead'
}

# Console input could still arrive (an open pipe), but its port is closed.
t_dead_domain_closed_console_port() {
	local writer
	mkfifo "$tmp/in"
	sleep 30 >"$tmp/in" &
	writer=$!
	timeout --preserve-status -k 5 20 "$HV" "${HV_ARGS[@]}" \
		--cmdline block=no-console "$G/hostile.elf" <"$tmp/in" \
		>"$tmp/out" 2>"$tmp/err"
	rc=$?
	kill "$writer" 2>/dev/null
	wait "$writer" 2>/dev/null
	rm -f "$tmp/in"
	rc_is 4 && err_has 'nothing that could wake it.*the domain is dead'
}

t_spinning_guest_is_reported() {
	local saved=$T
	T=5
	hv --cmdline spin "$G/hostile.elf"
	T=$saved
	# timeout(1) ends it with SIGTERM: pvft-hv reports and exits 128+15.
	rc_is 143 && err_has 'made no hypercall for 2 s'
}

t_sigterm_while_blocked() {
	local pid
	timeout --preserve-status -k 5 "$T" "$HV" "${HV_ARGS[@]}" --cmdline sleep "$G/hello.elf" \
		</dev/null >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	# Once the guest runs (it printed), pvft-hv handles its signals.
	for _ in $(seq 200); do
		grep -q '^Hello from pvft guest!' "$tmp/out" && break
		sleep 0.1
	done
	sleep 0.5
	kill -TERM "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	# timeout(1) forwards the signal's status: 128+15 from pvft-hv.
	rc_is 143 && err_has 'stopped by signal 15'
}

# The guest sleeps with no timer: only the console's event wakes it.
t_console_input() {
	{ sleep 1; printf 'ping\n'; sleep 1; printf 'quit\n'; } |
		timeout --preserve-status -k 5 20 "$HV" "${HV_ARGS[@]}" --cmdline echo "$G/hello.elf" \
			>"$tmp/out" 2>"$tmp/err"
	rc=$?
	rc_is 0 && out_has '^echo: ping$'
}

# A console reader that never reads must not keep pvft-hv from stopping.
t_sigterm_with_stuck_console() {
	local pid reader
	mkfifo "$tmp/fifo"
	sleep 30 <"$tmp/fifo" &
	reader=$!
	"$HV" "${HV_ARGS[@]}" --cmdline spew "$G/hello.elf" </dev/null \
		>"$tmp/fifo" 2>"$tmp/err" &
	pid=$!
	# Long enough for the watchdog, which must not blame the guest.
	sleep 3.5
	kill -TERM "$pid" 2>/dev/null
	# Bounded wait: give it 10 s, then fail (and clean up by PID).
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" "$reader" 2>/dev/null
		wait "$pid" "$reader" 2>/dev/null
		rm -f "$tmp/fifo"
		why="pvft-hv ignored SIGTERM while its console was stuck"
		return 1
	fi
	wait "$pid"
	rc=$?
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
	rm -f "$tmp/fifo"
	rc_is 143 && err_has 'stopped by signal 15' &&
		{ ! grep -q 'made no hypercall' "$tmp/err" ||
			{ why="the watchdog blamed a guest stuck in a hypercall"; return 1; }; }
}

# --- bad images: a one-line error and exit status 2 -----------------------

bad_image() {
	hv "$1"
	rc_is 2 && err_has "$2" && err_lines_max 1
}

t_image_missing() { bad_image "$tmp/nope.elf" 'cannot read guest image.*No such file'; }
t_image_directory() { bad_image "$tmp" 'cannot read guest image'; }
t_image_not_elf() {
	echo "just text" >"$tmp/text.elf"
	bad_image "$tmp/text.elf" 'not an ELF file'
}
t_image_truncated() {
	head -c 700 "$G/hello.elf" >"$tmp/trunc.elf"
	bad_image "$tmp/trunc.elf" 'truncated'
}
t_image_32bit() {
	cp "$G/hello.elf" "$tmp/c32.elf"
	printf '\001' | dd of="$tmp/c32.elf" bs=1 seek=4 conv=notrunc status=none
	bad_image "$tmp/c32.elf" 'not a 64-bit ELF'
}
t_image_wrong_machine() {
	cp "$G/hello.elf" "$tmp/arm.elf"
	printf '\267\000' | dd of="$tmp/arm.elf" bs=1 seek=18 conv=notrunc status=none
	bad_image "$tmp/arm.elf" 'wrong machine 183'
}
t_image_host_program() { bad_image "$build/bin/compute-native" 'not a static executable|no XEN_ELFNOTE'; }
t_memory_too_small() {
	hv --memory 2 "$G/compute.elf"
	rc_is 2 && err_has 'memory too small'
}

# --- bad command lines -----------------------------------------------------

t_usage_errors() {
	local a
	for a in "" "--bogus $G/hello.elf" "--memory abc $G/hello.elf" \
		"--memory 0 $G/hello.elf" "--memory 3 $G/hello.elf" \
		"--memory 99999 $G/hello.elf" "--backend foo $G/hello.elf" \
		"$G/hello.elf $G/hello.elf"; do
		# shellcheck disable=SC2086
		hv $a
		[ "$rc" -eq 2 ] || { why="'pvft-hv $a' exit status $rc, want 2"; return 1; }
		[ -s "$tmp/err" ] || { why="'pvft-hv $a' printed no error"; return 1; }
	done
}

t_help() {
	hv --help && rc_is 0 && out_has '^Usage: pvft-hv'
}

# ONLY="t_a t_b" runs just those (for debugging a failure): a list here,
# not run's regex.
tests=${ONLY:-$(declare -F | awk '{print $3}' | grep '^t_')}
ONLY=""
for name in $tests; do
	run "$name"
done
summary
