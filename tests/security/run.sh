#!/usr/bin/env bash
# Security tests of the log channel (lib/tls.c, logchan/transport.c and
# backup.c, Documentation/pair.md): TLS 1.3 with a PSK derived from the
# domain key (--key) or x509 (--tls-*), and what a peer on the network can
# and cannot do to a pair. pvft-fakepeer (tests/tools/fakepeer.c) plays the
# hostile or broken peer: a primary without the key, with a wrong one, with the
# key but another guest; idle connections; a backup that stalls; a relay
# that records every byte on the wire.
#
# Every test asserts behaviour (exit statuses, the refusal's words, the
# console output, bytes on the wire), never a duration. Every process is
# started in the background with its PID recorded and ended by that PID,
# at the end of its test and in the EXIT trap, which also removes the
# temporary directory. Last line: "N passed, N failed". ONLY=REGEX runs the
# matching tests; SEC_KEEP=DIR keeps a failed test's files in DIR/NAME;
set -u
build=${1:-build}
HV=$build/bin/pvft-hv
ARBITER=$build/bin/pvft-arbiter
FP=$build/bin/pvft-fakepeer
G=$build/guest
T=120 # seconds: the longest any process may take to end
# The failover tests' count guest: long enough to still be running when
# the backup is found failed.
N=3000
COUNT="n=$N sleep_us=200"
SHORT="n=200 sleep_us=0"
CALM=(--timeout-ms 1000)

tmp=$(mktemp -d)
t=$tmp/t # the current test's files
mkdir "$t"
declare -A live # PID -> 1: started and not yet reaped
declare -A pid  # the current test's processes, by name
declare -A rcs  # ... and their exit statuses, once ended
cleanup() {
	local p
	for p in "${!live[@]}"; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
pass=0
fail=0
why=""
note=""

# The domain key, and another one.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
make_key "$tmp/key"
make_key "$tmp/key2"
mkdir -m 700 "$tmp/arbiter-keys"
KEY=(--key "$tmp/key")

# --- processes (as tests/pair/run.sh) ---------------------------------------

given=" "
read -r eph_lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null
[ "${eph_lo:-0}" -gt 21000 ] && port_span=$((eph_lo - 20000)) || port_span=40000
free_port() {
	local hex
	while :; do
		port=$((20000 + RANDOM % port_span))
		[[ $given == *" $port "* ]] && continue
		hex=$(printf '%04X' "$port")
		grep -qE "^ *[0-9]+: [0-9A-F]+:$hex " /proc/net/tcp /proc/net/tcp6 2>/dev/null &&
			continue
		given+="$port "
		return
	done
}

# spawn NAME CMD...: CMD in the background, stdout/stderr in $t/NAME.out/.err.
spawn() {
	local name=$1; shift
	: >"$t/$name.out"
	: >"$t/$name.err"
	"$@" </dev/null >"$t/$name.out" 2>"$t/$name.err" &
	pid[$name]=$!
	live[$!]=1
	unset "rcs[$name]"
}

running() {
	local s
	s=$(cat "/proc/${pid[$1]}/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s:0:1}" != Z ]
}

reap() {
	wait "${pid[$1]}" 2>/dev/null
	rcs[$1]=$?
	unset "live[${pid[$1]}]"
}

kill9() {
	[ -n "${rcs[$1]:-}" ] && return 0
	kill -9 "${pid[$1]}" 2>/dev/null
	reap "$1"
}

# wait_end NAME [SECONDS]: until NAME ends; still running then: killed, fail.
wait_end() {
	local name=$1 s=${2:-$T} i
	[ -n "${rcs[$name]:-}" ] && return 0
	for ((i = 0; i < s * 10; i++)); do
		running "$name" || break
		sleep 0.1
	done
	if running "$name"; then
		kill9 "$name"
		why="$name still running after $s s (killed)"
		return 1
	fi
	reap "$name"
}

stop_all() {
	local name
	for name in "${!pid[@]}"; do
		kill9 "$name"
	done
	pid=() rcs=()
}

# wait_in NAME out|err ERE [SECONDS]: until NAME's stdout/stderr matches.
wait_in() {
	local name=$1 f=$2 re=$3 s=${4:-$T} i
	for ((i = 0; i < s * 10; i++)); do
		grep -qE -- "$re" "$t/$name.$f" && return 0
		running "$name" || break
		sleep 0.1
	done
	grep -qE -- "$re" "$t/$name.$f" && return 0
	why="$name: no /$re/ on std$f ($(running "$name" && echo "still running" ||
		echo "it ended"))"
	return 1
}
wait_for() { wait_in "$1" err "$2" "${3:-$T}"; }

# still_waits NAME: the backup NAME did not end.
still_waits() {
	running "$1" || { wait_end "$1"; why="$1 ended (status ${rcs[$1]}), want it waiting"; return 1; }
}

# --- the arbiter and the replicas -------------------------------------------

arbiter_pid=""
arbiter_up() {
	if [ -n "$arbiter_pid" ]; then
		kill -0 "$arbiter_pid" 2>/dev/null && return 0
		why="the shared pvft-arbiter died: $(tail -n 2 "$tmp/arbiter.err")"
		return 1
	fi
	free_port
	mkdir -p "$tmp/arbiter"
	"$ARBITER" --keys "$tmp/arbiter-keys" --listen "127.0.0.1:$port" --state-dir "$tmp/arbiter" \
		</dev/null 2>"$tmp/arbiter.err" &
	arbiter_pid=$!
	live[$!]=1
	URL=pvft://127.0.0.1:$port
	for _ in $(seq 200); do
		grep -q 'listening on' "$tmp/arbiter.err" && return 0
		sleep 0.1
	done
	why="pvft-arbiter did not start: $(tail -n 2 "$tmp/arbiter.err")"
	return 1
}

pair_id=0
# Each pair's key for the arbiter (pvft keygen -a), derived from $tmp/key.
new_pair() {
	pair_id=$((pair_id + 1))
	arbiter_key "$build/bin/pvft" "$tmp/key" "$tmp/arbiter-keys" "$pair_id"
}

# start_backup NAME GUEST CMDLINE [pvft-hv args]: a backup of pair
# $pair_id on $bport, node NAME, once it listens.
start_backup() {
	local name=$1 guest=$2 cmdline=$3; shift 3
	free_port
	bport=$port
	spawn "$name" "$HV" --role backup --listen "127.0.0.1:$bport" \
		--pair "$pair_id" --node "$name" --arbiter "$URL" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
	wait_for "$name" 'waiting for the primary on' 60
}

# start_primary NAME GUEST CMDLINE PORT [pvft-hv args].
start_primary() {
	local name=$1 guest=$2 cmdline=$3 peer=$4; shift 4
	spawn "$name" "$HV" --role primary --peer "127.0.0.1:$peer" \
		--pair "$pair_id" --node "$name" --arbiter "$URL" "$@" \
		--cmdline "$cmdline" "$G/$guest.elf"
}

# fake NAME [pvft-fakepeer args]: a fake primary of pair $pair_id for the
# backup on $bport, run to its end (its dump in $t/NAME.dump).
fake() {
	local name=$1; shift
	spawn "$name" "$FP" --mode primary --connect "127.0.0.1:$bport" \
		--pair "$pair_id" --dump "$t/$name.dump" "$@"
	wait_end "$name" 60
}

# listening NAME: the port a pvft-fakepeer NAME listens on, into $lport.
listening() {
	wait_in "$1" out '^listening on [0-9]+' 30 || return 1
	lport=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$t/$1.out")
}

# --- checks -----------------------------------------------------------------

rc_is() {
	[ "${rcs[$1]:-none}" = "$2" ] ||
		{ why="$1: exit status ${rcs[$1]:-none}, want $2${3:+ ($3)}"; return 1; }
}
err_has() { grep -qE -- "$2" "$t/$1.err" || { why="$1: stderr lacks /$2/"; return 1; }; }
out_has() { grep -qE -- "$2" "$t/$1.out" || { why="$1: stdout lacks /$2/ ($(tr '\n' '|' <"$t/$1.out"))"; return 1; }; }
# learned_nothing NAME: the fake read no pvft byte: no HELLO, and none of
# the backup's node id, the pair's words or a log record on the wire.
learned_nothing() {
	out_has "$1" '^hello: none' || return 1
	if grep -qaE -- "sec-backup|PVFTLOG|pair $pair_id" "$t/$1.dump"; then
		why="$1 read pvft bytes: $(grep -aoE -- 'sec-backup|PVFTLOG|pair [0-9]+' "$t/$1.dump" | head -n 1)"
		return 1
	fi
}
# cpuid_of NAME: the backup's CPUID hash, from the refusal fake NAME got.
cpuid_of() {
	cpuid=$(sed -n 's/.*CPUID (hash [0-9a-f]*, here \([0-9a-f]*\)).*/\1/p' "$t/$1.out")
	[ -n "$cpuid" ] || { why="$1: no CPUID hash in its refusal: $(cat "$t/$1.out")"; return 1; }
}

# complete_with PORT [pvft-hv args]: the right primary p2 for the backup
# still waiting on PORT: the pair runs count n=200 to its end.
complete_with() {
	local port=$1; shift
	[ $# -gt 0 ] || set -- "${KEY[@]}"
	start_primary p2 count "$SHORT" "$port" "${CALM[@]}" "$@" || return 1
	wait_end p2 && rc_is p2 0 && wait_end b && rc_is b 0 || return 1
	seq 1 200 | cmp -s - "$t/p2.out" || { why="p2: stdout is not seq 1 200"; return 1; }
	grep -qE 'the run matches its recording' "$t/b.err" ||
		{ why="b: stderr lacks 'the run matches its recording'"; return 1; }
}

# A backup of a new pair that waits for count n=200, node sec-backup-b.
waiting_backup() {
	arbiter_up || return 1
	new_pair
	start_backup b count "$SHORT" "${CALM[@]}" --node sec-backup-b "$@"
}

run() {
	local name=$1 ok
	[ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]] && return
	why="" note=""
	"$name"
	ok=$?
	if [ "$ok" -eq 2 ]; then
		echo "SKIP $name: $note"
	elif [ "$ok" -eq 0 ]; then
		echo "PASS $name${note:+: $note}"
		pass=$((pass + 1))
	else
		echo "FAIL $name: ${why:-failed}"
		logs 6
		if [ -n "${SEC_KEEP:-}" ]; then
			mkdir -p "$SEC_KEEP" && rm -rf "${SEC_KEEP:?}/$name" &&
				cp -r "$t" "$SEC_KEEP/$name" && echo "    files: $SEC_KEEP/$name"
		fi
		fail=$((fail + 1))
	fi
	stop_all
	rm -rf "$t" && mkdir "$t"
}

logs() {
	local f
	for f in "$t"/*.err "$t"/*.out; do
		case $f in */b.out | */p*.out) continue ;; esac
		[ -s "$f" ] && tail -n "$1" "$f" | sed "s/^/    ${f##*/}: /"
	done
}

# --- who may pair -----------------------------------------------------------

# 1. A primary with no key (plaintext, a guessed pair id): the backup's
# TLS handshake fails; the fake reads no HELLO and no pvft byte; the
# backup waits on and then pairs with the real primary.
t_plaintext_primary() {
	waiting_backup "${KEY[@]}" || return 1
	fake f --insecure --image "$G/count.elf" --cmdline "$SHORT" --node p --forge || return 1
	rc_is f 2 "refused at the handshake" && learned_nothing f &&
		wait_for b 'did not prove this pair.s key' && still_waits b &&
		complete_with "$bport"
}

# 2. A wrong key: another domain's key (an unknown identity), and the
# right identity with another secret: both refused at the handshake.
t_wrong_key() {
	waiting_backup "${KEY[@]}" || return 1
	fake f --key "$tmp/key2" --image "$G/count.elf" --cmdline "$SHORT" --forge &&
		rc_is f 2 "another domain's key" && learned_nothing f || return 1
	fake f2 --key "$tmp/key" --wrong-key --image "$G/count.elf" --cmdline "$SHORT" --forge &&
		rc_is f2 2 "the right identity, a wrong secret" && learned_nothing f2 || return 1
	wait_for b 'did not prove this pair.s key' && still_waits b &&
		complete_with "$bport"
}

# 3. The right key, another guest: refused with the reason, and the
# backup waits on (another image; then, past the CPUID check with the hash
# the first refusal told, another command line).
t_right_key_other_guest() {
	waiting_backup "${KEY[@]}" || return 1
	fake f "${KEY[@]}" --garbage-hash --cmdline "$SHORT" &&
		rc_is f 4 "refused with a reason" && out_has f 'refused by sec-backup-b: .*image' &&
		still_waits b || return 1
	fake f2 "${KEY[@]}" --image "$G/count.elf" --cmdline "$SHORT" &&
		rc_is f2 4 && cpuid_of f2 || return 1
	fake f3 "${KEY[@]}" --image "$G/count.elf" --cpuid-hash "$cpuid" --cmdline "n=201 sleep_us=0" &&
		rc_is f3 4 && out_has f3 'refused by sec-backup-b: .*cmdline' &&
		wait_for b 'is not a primary of this pair' && still_waits b &&
		complete_with "$bport"
}

# 4. The backup's memory is its own: one started without --memory refuses
# a primary that claims 1024 MiB, and waits on.
t_memory_claim() {
	waiting_backup "${KEY[@]}" || return 1
	fake f "${KEY[@]}" --image "$G/count.elf" --memory 1024 --cmdline "$SHORT" &&
		rc_is f 4 && out_has f 'refused by sec-backup-b: .*1024 MiB of memory' &&
		still_waits b && complete_with "$bport"
}

# 5. Twenty idle connections before the real primary: it still pairs.
t_idle_connections() {
	waiting_backup "${KEY[@]}" || return 1
	spawn i "$FP" --mode idle --connect "127.0.0.1:$bport" --count 20 --hold $T
	wait_in i out '^opened 20$' 60 && still_waits b && complete_with "$bport" || return 1
	running i || { why="the idle client ended early"; return 1; }
}

# 5b. Idle connections from four other addresses (8 each: every one of
# the backup's 32 handshake slots), each opened again as soon as the
# backup drops it, for longer than the primary tries (--connect-timeout,
# 30 s): the real primary still pairs. Closing whatever found the slots
# full (the first version) let them starve it one run in three: a slot
# freed at its deadline went to whoever connected first, and the idle
# client, woken by the close, beat the primary's 50 ms retry. Now a new
# source takes the slot of the address holding the most (backup.c
# find_slot()).
t_idle_reopened() {
	local s
	waiting_backup "${KEY[@]}" || return 1
	for s in 2 3 4 5; do
		spawn "i$s" "$FP" --mode idle --connect "127.0.0.1:$bport" --bind "127.0.0.$s" \
			--count 8 --reopen --hold $T
		wait_in "i$s" out '^opened 8$' 60 || return 1
	done
	still_waits b && complete_with "$bport"
}

# 5c. Idle connections from the primary's own address, as many as one
# address may hold (8), each opened again as soon as the backup drops
# it: the real primary still pairs (a newcomer takes the place of its
# address's oldest, and one given less than a second is never pushed out,
# so the flood's reconnections push out each other, not the primary).
t_idle_same_source() {
	waiting_backup "${KEY[@]}" || return 1
	spawn i1 "$FP" --mode idle --connect "127.0.0.1:$bport" --bind 127.0.0.1 \
		--count 8 --reopen --hold $T
	wait_in i1 out '^opened 8$' 60 || return 1
	still_waits b && complete_with "$bport"
}

# --- what the wire shows ----------------------------------------------------

# sniffed_pair CAPTURE [pvft-hv args]: a pair of count n=200 whose command
# line carries $MARK, through relay r writing CAPTURE, run to its end.
sniffed_pair() {
	local cap=$1; shift
	arbiter_up || return 1
	new_pair
	start_backup b count "$SHORT tag=$MARK" "${CALM[@]}" --node sec-backup-b "$@" || return 1
	spawn r "$FP" --mode relay --listen 127.0.0.1:0 --connect "127.0.0.1:$bport" \
		--capture "$cap"
	listening r || return 1
	start_primary p2 count "$SHORT tag=$MARK" "$lport" "${CALM[@]}" "$@" || return 1
	wait_end p2 && wait_end b && rc_is p2 0 && rc_is b 0 || return 1
	seq 1 200 | cmp -s - "$t/p2.out" || { why="p2: stdout is not seq 1 200"; return 1; }
	[ "$(stat -c %s "$cap")" -gt 1000 ] || { why="$cap: $(stat -c %s "$cap") bytes: the relay saw nothing"; return 1; }
	kill9 r
}

# 6. The command line (in BOOT) never crosses the wire in clear with a
# key; with --insecure on both sides it does (the capture can see it).
t_sniff() {
	MARK=pvftsecret$RANDOM$RANDOM$RANDOM
	sniffed_pair "$t/tls.cap" "${KEY[@]}" || return 1
	if grep -qa -- "$MARK" "$t/tls.cap"; then
		why="the command line's marker is on the wire with --key"
		return 1
	fi
	stop_all
	# Plaintext replicas ask a plaintext arbiter (the shared one wants keys).
	free_port
	mkdir -p "$t/pa"
	spawn pa "$ARBITER" --insecure --listen "127.0.0.1:$port" --state-dir "$t/pa"
	wait_for pa 'listening on' 20 || return 1
	sniffed_pair "$t/plain.cap" --insecure --arbiter "pvft://127.0.0.1:$port" || return 1
	grep -qa -- "$MARK" "$t/plain.cap" ||
		{ why="--insecure: the marker is not in the capture: the test sees nothing"; return 1; }
}

# --- a backup that does not do its part -------------------------------------

# stalling MODE WORDS: a fake backup that acks in MODE; the primary finds
# it failed (WORDS), wins the arbiter and runs count to its end alone.
stalling() {
	arbiter_up || return 1
	new_pair
	spawn fb "$FP" --mode backup --listen 127.0.0.1:0 "${KEY[@]}" --ack "$1" --hold $T \
		--node sec-backup-fb
	listening fb || return 1
	start_primary p count "$COUNT" "$lport" "${KEY[@]}" --timeout-ms 500 &&
		wait_end p && rc_is p 0 || return 1
	err_has p "$2" && err_has p 'running alone' || return 1
	seq 1 "$N" | cmp -s - "$t/p.out" || { why="p: stdout is not seq 1 $N"; return 1; }
	[ "$(cat "$tmp/arbiter/$pair_id-1" 2>/dev/null)" = p ] ||
		{ why="the arbiter did not give pair $pair_id to p"; return 1; }
}

# 7. It reads the records and acknowledges none; it acknowledges them and
# replays none.
t_backup_noack() { stalling noack 'acknowledged none'; }
t_backup_noreplay() { stalling noreplay 'replayed nothing'; }

# --- a stale primary --------------------------------------------------------

# 8. After a failover to b, primary a restarted on the same pair and epoch
# refuses to pair (the arbiter says b owns it: start at epoch 2); a fresh
# backup c refuses a primary of that epoch too; at epoch 2 the pair forms.
t_stale_primary() {
	arbiter_up || return 1
	new_pair
	start_backup b count "$COUNT" "${KEY[@]}" --node b &&
		start_primary a count "$COUNT" "$bport" "${KEY[@]}" &&
		wait_for a 'paired with backup' 60 || return 1
	for _ in $(seq 600); do
		[ "$(stat -c %s "$t/a.out")" -ge 500 ] && break
		running a || break
		sleep 0.05
	done
	kill9 a
	wait_end b && rc_is b 0 && err_has b 'went live' || return 1
	[ "$(cat "$tmp/arbiter/$pair_id-1" 2>/dev/null)" = b ] ||
		{ why="the arbiter did not give pair $pair_id to b"; return 1; }
	start_backup c count "$SHORT" "${CALM[@]}" "${KEY[@]}" --node sec-backup-c || return 1
	start_primary a2 count "$SHORT" "$bport" "${CALM[@]}" "${KEY[@]}" --node a &&
		wait_end a2 && rc_is a2 9 "a stale primary" &&
		err_has a2 'already belongs to node b' && err_has a2 'epoch 2' && still_waits c || return 1
	# c, at epoch 1, would run a stale domain: an authenticated primary
	# that matches it in everything is refused too.
	fake f "${KEY[@]}" --image "$G/count.elf" --cmdline "$SHORT" && rc_is f 4 && cpuid_of f &&
		fake f2 "${KEY[@]}" --image "$G/count.elf" --cpuid-hash "$cpuid" --cmdline "$SHORT" &&
		rc_is f2 4 && out_has f2 'refused by sec-backup-c: .*belongs to another node' &&
		wait_end c && rc_is c 9 "a stale backup" && err_has c 'already belongs to node b' || return 1
	start_backup b count "$SHORT" "${CALM[@]}" "${KEY[@]}" --node b --epoch 2 || return 1
	complete_with "$bport" "${KEY[@]}" --epoch 2
}

# --- x509 -------------------------------------------------------------------

# ca NAME: a CA in $tmp/NAME.{key,pem}; cert CA NAME: a certificate it signs.
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$tmp/$1.key" -out "$tmp/$1.pem" -days 2 -subj "/CN=pvft test $1" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$tmp/openssl.err"
}
# cert CA NODE NAME: NODE's certificate from CA, for the pair NAME
# (subjectAltName DNS:NAME; pvft-hv wants "pvft-pair-<pair>").
cert() {
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:%s\n' "$3" >"$tmp/ext"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$tmp/$2.key" -out "$tmp/$2.csr" -subj "/CN=$2" 2>>"$tmp/openssl.err" &&
		openssl x509 -req -in "$tmp/$2.csr" -CA "$tmp/$1.pem" -CAkey "$tmp/$1.key" \
			-CAcreateserial -out "$tmp/$2.pem" -days 2 -extfile "$tmp/ext" 2>>"$tmp/openssl.err" &&
		chmod 600 "$tmp/$2.key"
}
# x509 CA NODE: the channel's certificate options; the domain key stays,
# for the pvft-arbiter (its keys are derived from it, security.md).
x509() { echo --tls-ca "$tmp/$1.pem" --tls-cert "$tmp/$2.pem" --tls-key "$tmp/$2.key" --key "$tmp/key"; }

# 9. A pair on certificates of one CA runs to its end; a primary whose
# certificate another CA signed, or the same CA for another pair, is
# refused, the backup waits on.
t_x509() {
	local name=pvft-pair-$((pair_id + 1)) # waiting_backup's pair
	ca ca1 && cert ca1 node-a "$name" && cert ca1 node-b "$name" && ca ca2 &&
		cert ca2 node-x "$name" && cert ca1 node-y "pvft-pair-$((pair_id + 2))" ||
		{ why="openssl: $(tail -n 2 "$tmp/openssl.err")"; return 1; }
	waiting_backup $(x509 ca1 node-b) || return 1
	start_primary x count "$SHORT" "$bport" "${CALM[@]}" $(x509 ca2 node-x) &&
		wait_end x && rc_is x 9 "another CA's certificate" && still_waits b || return 1
	start_primary x2 count "$SHORT" "$bport" "${CALM[@]}" --tls-ca "$tmp/ca1.pem" \
		--tls-cert "$tmp/node-x.pem" --tls-key "$tmp/node-x.key" "${KEY[@]}" &&
		wait_end x2 && rc_is x2 9 "another CA's certificate, trusting ours" || return 1
	# Our CA, but a certificate for another pair: a CA signs for many.
	start_primary y count "$SHORT" "$bport" "${CALM[@]}" $(x509 ca1 node-y) &&
		wait_end y && rc_is y 9 "our CA's certificate for another pair" || return 1
	wait_for b 'did not prove this pair.s key' && still_waits b &&
		complete_with "$bport" $(x509 ca1 node-a)
}

# --- run them ---------------------------------------------------------------

for t_name in $(grep -oE '^t_[a-z0-9_]+' "$0"); do
	run "$t_name"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
