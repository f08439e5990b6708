#!/usr/bin/env bash
# pvft-kv-client against pvft-kv-fake: every way the fake breaks the kv
# protocol on purpose must be found by the client's checks, and every
# harmless fault (lost replies, garbage) tolerated. Each test starts its
# own fake on 127.0.0.1, port 0, and ends it by PID; what is left running
# and every temp file go in the EXIT trap. Last line: "N passed, N failed".
# ONLY=REGEX runs the matching tests.
set -u
build=${1:-build}
CLIENT=$build/bin/pvft-kv-client
FAKE=$build/bin/pvft-kv-fake
T=30 # seconds: the longest any one wait or client run may take

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
fport=""
LOG_GLOBS=(fake.err err out)
LOG_LINES=5

# start_fake MODE: a pvft-kv-fake in MODE (process "fake"); sets fport.
start_fake() {
	spawn fake "$FAKE" --listen 127.0.0.1:0 --mode "$1"
	wait_file "$t/fake.out" '^ready$' || { why="fake: no \"ready\""; return 1; }
	fport=$(sed -n 's/^kv-fake: listening on 127\.0\.0\.1:\([0-9]*\), mode .*/\1/p' \
		"$t/fake.err")
	[ -n "$fport" ] || { why="fake: no port on stderr"; return 1; }
}

stop_fake() { stop fake TERM; }

# client ARGS...: pvft-kv-client against the fake, stdout into $t/out,
# stderr into $t/err, its exit status into rc (the checks' last command).
client() {
	timeout -k 5 "$T" "$CLIENT" --server "127.0.0.1:$fport" "$@" \
		>"$t/out" 2>"$t/err"
	rc=$?
}

# count LABEL: the number on the summary line "LABEL: N".
count() { sed -n "s/^$1: *\([0-9][0-9]*\).*/\1/p" "$t/out"; }

# summary_is LABEL ERE: the summary's LABEL line says that.
summary_is() {
	local v
	v=$(sed -n "s/^$1: *//p" "$t/out")
	[[ $v =~ ^$2$ ]] || { why="summary \"$1: $v\", want /$2/"; return 1; }
}

# json_ok FILTER...: stdout is one JSON object and passes every jq -e FILTER.
json_ok() {
	local f
	[ "$(jq -s 'length' "$t/out" 2>/dev/null)" = 1 ] &&
		jq -e 'type == "object"' "$t/out" >/dev/null 2>&1 ||
		{ why="stdout is not one JSON object: $(head -c 200 "$t/out")"; return 1; }
	for f in "$@"; do
		jq -e "$f" "$t/out" >/dev/null 2>&1 ||
			{ why="JSON fails '$f': $(head -c 400 "$t/out")"; return 1; }
	done
}

end_test() {
	stop_all TERM
	return 0
}

# --- the tests -------------------------------------------------------------

# A correct server: every check passes, every key written is read back.
t_ok() {
	start_fake ok && client --requests 3000 --del-ratio 0.05 || return 1
	rc_is 0 && summary_is "lost writes" 0 && summary_is "applied twice" 0 &&
		summary_is result OK && summary_is "bad replies" "0 .*" || return 1
	[ "$(count "final check")" -gt 0 ] || { why="no key read back"; return 1; }
	[ ! -s "$t/err" ] || { why="stderr: $(head -n 3 "$t/err")"; return 1; }
}

# The JSON report: one object, its numbers consistent.
t_json() {
	start_fake ok && client --requests 2000 --clients 8 --json || return 1
	rc_is 0 && json_ok '.ok == true' '.requests == 2000' \
		'.answered == 2000' '.lost == 0 and .doubled == 0' \
		'.errors == 0 and .bad_replies == 0' '.violations == []' \
		'.checked_keys > 0 and .checked_keys <= 64' \
		'.unverified_keys == 0 and .abandoned == 0' \
		'.latency_us | .p50 > 0 and .p50 <= .p90 and .p90 <= .p99 and
			.p99 <= ."p99.9" and ."p99.9" <= .max' \
		'.throughput_rps > 0 and .duration_s > 0' \
		'.server == "127.0.0.1:'"$fport"'" and .clients == 8'
}

# Lost replies: retried, answered from the server's cache, all correct.
t_drop_replies() {
	start_fake drop-replies && client --requests 1000 --json || return 1
	rc_is 0 && json_ok '.ok == true' '.retries > 0' \
		'.lost == 0 and .doubled == 0' '.answered == 1000' || return 1
	stop_fake
	grep -qE 'answered from the cache' "$t/fake.err" &&
		! grep -qE ' 0 answered from the cache' "$t/fake.err" ||
		{ why="no retry was answered from the cache"; return 1; }
}

# A run that stops with writes unanswered: the final check allows them
# either applied or not, and nothing else.
t_abandoned() {
	start_fake drop-replies &&
		client --duration 1 --clients 32 --keys 2 --del-ratio 0.2 --json ||
		return 1
	rc_is 0 && json_ok '.ok == true' '.abandoned > 0' \
		'.lost == 0 and .doubled == 0' '.checked_keys > 0'
}

# Retries applied again: found, named, counted, exit 1.
t_double() {
	start_fake double && client --requests 1000 --del-ratio 0.1 || return 1
	rc_is 1 && err_has '^kv-client: applied twice: key c[0-9a-f]{16}-k[0-9]+ ' &&
		summary_is result FAILED && summary_is "lost writes" 0 || return 1
	[ "$(count "applied twice")" -gt 0 ] || { why="applied twice: 0"; return 1; }
}

# Acknowledged PUTs forgotten: found, named, counted, exit 1.
t_lose() {
	start_fake lose && client --requests 1000 || return 1
	rc_is 1 && err_has '^kv-client: lost: key c[0-9a-f]{16}-k[0-9]+ .*expected .*got ' &&
		summary_is result FAILED && summary_is "applied twice" 0 || return 1
	[ "$(count "lost writes")" -gt 0 ] || { why="lost writes: 0"; return 1; }
}

# Garbage and late replies among the right ones: counted, ignored.
t_garbage() {
	start_fake stale-garbage &&
		client --requests 2000 --del-ratio 0.05 --value-size 200 --json ||
		return 1
	rc_is 0 && json_ok '.ok == true' '.bad_replies > 0' \
		'.late_replies > 0' '.lost == 0 and .doubled == 0' \
		'.answered == 2000'
}

# A row per 100 ms; the rows' replies add up to the report's.
t_timeline() {
	local sum
	start_fake ok && client --duration 1 --timeline "$t/tl.csv" --json ||
		return 1
	rc_is 0 && json_ok '.ok == true' || return 1
	[ "$(head -n 1 "$t/tl.csv")" = "t_s,replies,p50_us,p99_us,max_us" ] ||
		{ why="header: $(head -n 1 "$t/tl.csv")"; return 1; }
	awk -F, 'NR > 1 && (NF != 5 || $1 != sprintf("%.1f", (NR - 2) / 10) ||
		$3 > $4 || $4 > $5) { bad = 1 } END { exit bad || NR < 11 }' \
		"$t/tl.csv" || { why="bad rows: $(head -n 4 "$t/tl.csv" | tr '\n' ' ')"; return 1; }
	sum=$(awk -F, 'NR > 1 { s += $2 } END { print s }' "$t/tl.csv")
	json_ok ".answered == $sum"
}

t_progress() {
	start_fake ok && client --duration 2.5 --progress || return 1
	rc_is 0 && summary_is result OK || return 1
	[ "$(grep -cE '^kv-client: [0-9.]+ s: [0-9]+ req/s, p50 [0-9]+ us, retrying [0-9]+' "$t/err")" -ge 2 ] ||
		{ why="progress lines: $(head -n 3 "$t/err")"; return 1; }
}

# SIGINT ends the run early; the final check still runs.
t_sigint() {
	local t0 t1
	start_fake ok || return 1
	"$CLIENT" --server "127.0.0.1:$fport" --duration 60 --progress \
		>"$t/out" 2>"$t/err" &
	adopt c $!
	wait_file "$t/err" ' req/s' || { why="no progress line"; return 1; }
	t0=$(now_ms)
	kill -INT "${pid[c]}"
	wait_end c || return 1
	rc=${rcs[c]}
	t1=$(now_ms)
	[ $((t1 - t0)) -lt 5000 ] || { why="ended $((t1 - t0)) ms after SIGINT"; return 1; }
	rc_is 0 && summary_is result OK && [ "$(count "final check")" -gt 0 ] ||
		{ why="${why:-no key read back}"; return 1; }
}

# Nobody at the address: exit 3 once --connect-timeout has passed.
t_no_server() {
	local t0 t1
	# A port nothing listens on: a fake's, once it has ended.
	start_fake ok && stop_fake || return 1
	t0=$(now_ms)
	client --connect-timeout 1
	t1=$(now_ms)
	rc_is 3 && err_has 'no reply from 127\.0\.0\.1:' || return 1
	[ $((t1 - t0)) -ge 900 ] && [ $((t1 - t0)) -lt 5000 ] ||
		{ why="exit after $((t1 - t0)) ms, want about 1000"; return 1; }
	# A run shorter than the timeout ends the same way.
	client --duration 0.3
	rc_is 3
}

t_usage() {
	local a
	fport=1
	for a in "--value-size 513" "--clients 0" "--keys 0" "--duration 0" \
		"--duration x" "--get-ratio 0.9 --del-ratio 0.2" "--get-ratio -1" \
		"--timeout-ms 0" "--requests 0" "--bogus" "extra"; do
		# shellcheck disable=SC2086 # one word per option
		client $a
		[ "$rc" -eq 2 ] || { why="'$a': exit status $rc, want 2"; return 1; }
	done
	"$CLIENT" --server nonsense >"$t/out" 2>"$t/err"
	rc=$?
	rc_is 2 && err_has 'not HOST:PORT'
}

for tool in "$CLIENT" "$FAKE"; do
	[ -x "$tool" ] || { echo "FAIL setup: $tool missing (make all)"; echo "0 passed, 1 failed"; exit 1; }
done

run t_ok
run t_json
run t_drop_replies
run t_abandoned
run t_double
run t_lose
run t_garbage
run t_timeline
run t_progress
run t_sigint
run t_no_server
run t_usage

summary
