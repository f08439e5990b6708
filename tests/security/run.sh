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
PVFT=$build/bin/pvft
G=$build/guest
T=120 # seconds: the longest any process may take to end
# The failover tests' count guest: long enough to still be running when
# the backup is found failed.
N=3000
COUNT="n=$N sleep_us=200"
SHORT="n=200 sleep_us=0"
CALM=(--timeout-ms 1000)

# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
harness_begin
KEEP=${SEC_KEEP:-}
SKIP_RC=2 # a test that cannot run here says why in $note
LOG_GLOBS=('*.err' '*.out')
LOG_SKIP='^(b|p.*)\.out$' # the count output says nothing

# The domain key, and another one.
make_key "$tmp/key"
make_key "$tmp/key2"
ARB_KEYS=$tmp/arbiter-keys
mkdir -m 700 "$ARB_KEYS"
KEY=(--key "$tmp/key")

# --- processes (tests/lib.sh) -----------------------------------------------

# still_waits NAME: the backup NAME did not end.
still_waits() {
	running "$1" || { wait_end "$1"; why="$1 ended (status ${rcs[$1]}), want it waiting"; return 1; }
}

# --- the arbiter and the replicas -------------------------------------------

pair_id=0
# Each pair's key for the arbiter (pvft keygen -a), derived from $tmp/key.
new_pair() {
	pair_id=$((pair_id + 1))
	arbiter_key "$build/bin/pvft" "$tmp/key" "$ARB_KEYS" "$pair_id"
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

# 8b. An epoch opened for re-protection (pvft arbiter acquire, then
# advance, by hand: what a survivor does before a join) is refused by a
# pair started from boot: the primary before it dials, and the backup
# when an authenticated primary that matches it in everything asks. Both
# exit 9 naming the opener.
t_boot_pair_refuses_opened_epoch() {
	arbiter_up || return 1
	new_pair
	"$PVFT" arbiter -k "$tmp/key" acquire "$URL" "$pair_id" 1 sec-survivor >"$t/acq.out" 2>&1 &&
		"$PVFT" arbiter -k "$tmp/key" advance "$URL" "$pair_id" 1 sec-survivor >"$t/adv.out" 2>&1 ||
		{ why="acquire or advance failed: $(cat "$t/acq.out" "$t/adv.out")"; return 1; }
	grep -q '^advanced to 2 by sec-survivor$' "$t/adv.out" || { why="advance: $(cat "$t/adv.out")"; return 1; }
	start_backup c count "$SHORT" "${CALM[@]}" "${KEY[@]}" --node sec-backup-c --epoch 2 || return 1
	start_primary a count "$SHORT" "$bport" "${CALM[@]}" "${KEY[@]}" --node a --epoch 2 &&
		wait_end a && rc_is a 9 "a boot primary at an opened epoch" &&
		err_has a 'pair [0-9]* epoch 2 was opened by node sec-survivor to re-protect a running domain: a replica started from boot would run a blank domain; not pairing' &&
		still_waits c || return 1
	fake f "${KEY[@]}" --epoch 2 --image "$G/count.elf" --cmdline "$SHORT" && rc_is f 4 && cpuid_of f &&
		fake f2 "${KEY[@]}" --epoch 2 --image "$G/count.elf" --cpuid-hash "$cpuid" --cmdline "$SHORT" &&
		rc_is f2 4 && wait_end c && rc_is c 9 "a boot backup at an opened epoch" &&
		err_has c 'epoch 2 was opened by node sec-survivor to re-protect a running domain' || return 1
	[ ! -e "$tmp/arbiter/$pair_id-2" ] || { why="a refused replica took epoch 2"; return 1; }
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

run_all
summary
