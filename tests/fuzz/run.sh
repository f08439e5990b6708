#!/usr/bin/env bash
# fuzz: run each libFuzzer target for SECONDS (default 15, make fuzz: 300),
# seeded with the real guest images, one hypercall of each kind, logs
# holding one record of each type, the frames the kv guest answers and
# migration streams (written by pvft-migstream-seeds, the codec's encoder).
# A crash or sanitizer report fails it and leaves the input in build/fuzz/.
# Last line: "N passed, N failed".
set -u
build=${1:-build}
seconds=${2:-15}
cd "$(dirname "$0")/../.."
pass=0
fail=0

# Bytes as printf escapes: u64 VALUE (little-endian), u8 VALUE.
u64() {
	local i
	for i in 0 1 2 3 4 5 6 7; do u8 $((($1 >> (8 * i)) & 255)); done
}
u8() {
	printf '\\%03o' "$1"
}

# A fuzz_hypercall.c input: NAME NR ARG0 ARG1 ARG2 POINTER-FLAGS STATE [DATA],
# DATA in printf escapes: the format string is built from escapes on purpose.
# shellcheck disable=SC2059
hypercall_seed() {
	printf "$(u64 "$2")$(u64 "$3")$(u64 "$4")$(u64 "$5")$(u64 0)$(u64 0)$(u8 "$6")$(u8 "$7")${8:-}" \
		>"$corpus/seed-$1"
}

# Numbers from include/pvft/abi.h and Xen's public headers; a flagged
# pointer 0 is the data. States: 1 ports, 2 pending, 4 masked, 8 input.
hypercall_seeds() {
	local self='\360\177' # DOMID_SELF
	hypercall_seed set_trap_table 0 0 0 0 1 0 '\016\0\0\0\0\0\0\0\0\0\040'
	hypercall_seed set_timer_op 15 1 0 0 0 1
	hypercall_seed xen_version 17 0 0 0 0 0
	hypercall_seed console_write 18 0 5 0 4 0 'hello'
	hypercall_seed console_read 18 1 16 0 4 8
	hypercall_seed sched_yield 29 0 0 0 0 3
	hypercall_seed sched_block 29 1 0 0 0 3
	hypercall_seed sched_shutdown 29 2 0 0 2 0 '\007\001\0\0'
	hypercall_seed evtchn_bind_interdomain 32 0 0 0 2 1 "$self"'\0\0\002\0\0\0'
	hypercall_seed evtchn_bind_virq 32 1 0 0 2 0
	hypercall_seed evtchn_close 32 3 0 0 2 3 '\004\0\0\0'
	hypercall_seed evtchn_send 32 4 0 0 2 1 '\003\0\0\0'
	hypercall_seed evtchn_status 32 5 0 0 2 1 "$self"'\0\0\004\0\0\0'
	hypercall_seed evtchn_alloc_unbound 32 6 0 0 2 0 "$self$self"
	hypercall_seed evtchn_unmask 32 9 0 0 2 7 '\004\0\0\0'
	hypercall_seed pvft_time 48 0 0 0 0 0
	hypercall_seed pvft_random 48 1 0 16 2 0
	hypercall_seed pvft_unique_id 48 2 0 0 2 0
}

# A log seed is built as a list of byte values in $seed, then written out.
# le N VALUE: VALUE as N little-endian bytes; str TEXT: its bytes.
le() {
	local i
	for ((i = 0; i < $1; i++)); do seed+=($((($2 >> (8 * i)) & 255))); done
}
str() {
	local i b
	for ((i = 0; i < ${#1}; i++)); do
		printf -v b '%d' "'${1:i:1}"
		seed+=("$b")
	done
}

# CRC32C (reflected 0x82F63B78) of seed[FROM, TO), bit by bit.
crc32c() {
	local c=$((0xffffffff)) i k
	for ((i = $1; i < $2; i++)); do
		c=$((c ^ seed[i]))
		for ((k = 0; k < 8; k++)); do
			c=$(((c >> 1) ^ (c & 1 ? 0x82f63b78 : 0)))
		done
	done
	echo $((c ^ 0xffffffff))
}

# The 128-byte header of Documentation/log-format.md; FLAGS.
log_header() {
	seed=()
	seq=0
	str PVFTLOG
	le 1 0
	le 2 1                  # version
	le 2 128                # header size
	le 4 "$1"               # flags
	le 8 0x0123456789abcdef # pair id
	le 8 1                  # epoch
	str 0123456789abcdef    # image hash
	le 8 $((64 << 20))      # memory size
	le 4 1                  # PV ABI version
	le 4 0
	le 8 0x0badc0ffee0ddf00 # CPUID hash
	le 52 0
	le 4 "$(crc32c 0 124)"
}

# rec_begin TYPE ORDINAL, then the payload, then rec_end: length, padding
# and tail filled in.
rec_begin() {
	rec=${#seed[@]}
	le 8 "$seq"
	le 8 "$2"
	le 2 "$1"
	le 2 0
	le 4 0
	seq=$((seq + 1))
}
rec_end() {
	local len=$((${#seed[@]} - rec - 24)) i
	for i in 0 1 2 3; do seed[rec + 20 + i]=$(((len >> (8 * i)) & 255)); done
	while (((${#seed[@]} - rec) % 8)); do seed+=(0); done
	le 4 "$(crc32c "$rec" "${#seed[@]}")"
	le 4 0
}
pos() {
	le 8 $((0x100000 + $1)) # rip
	le 4 48                 # nr: pvft_op
	le 4 0
}

# The record of TYPE at ORDINAL, with made-up but valid contents: BOOT,
# TIME, RANDOM, TIMER, CONSOLE_IN, DIGEST, END, NOTE, else optional.
log_record() {
	rec_begin "$1" "$2"
	case $1 in
	1)
		le 8 1700000000000000000
		le 4 77
		le 4 12
		str console=hvc0
		;;
	2)
		pos 1
		le 4 1
		le 4 0
		le 8 1700000000000000000
		;;
	3)
		pos 2
		le 4 16
		le 4 0
		str 'sixteen bytes!!!'
		;;
	4) pos 3 ;;
	5)
		pos 4
		le 4 1 # closed
		le 4 6
		str hello
		le 1 10
		;;
	6)
		pos 5
		le 8 5000
		le 8 11
		le 8 22
		le 8 6
		le 8 33
		;;
	7)
		le 4 0
		le 4 0
		le 8 6000
		le 8 11
		le 8 22
		le 8 6
		le 8 33
		;;
	32773) # HELLO: a primary's, node "a"
		le 4 1
		le 4 0
		le 4 1
		le 4 0
		str a
		;;
	32769) str 'recorded by run.sh' ;;
	*) str 'an optional record of a later version' ;;
	esac
	rec_end
}

# shellcheck disable=SC2059
write_seed() {
	local esc
	printf -v esc '\\%03o' "${seed[@]}"
	printf "$esc" >"$corpus/seed-$1"
}

# A whole log, then a log of one record of each type (BOOT first; END
# last), and a stream header alone.
log_seeds() {
	local t n=0
	log_header 0
	for t in 1 2 3 4 5 6 32769 40000 7; do
		log_record $t $n
		n=$((n + 1))
	done
	write_seed log
	for t in 2 3 4 5 6 32769 40000 7; do
		log_header 0
		log_record 1 0
		log_record $t 1
		write_seed "record-$t"
	done
	log_header 1
	write_seed stream-header
	# A primary's opening: what the backup decodes after TLS
	# (logfmt__decode_opening()).
	log_header 1
	log_record 1 0
	log_record 32773 0
	write_seed stream-opening
}

# be N VALUE: VALUE as N big-endian bytes (network order), into $seed.
be() {
	local i
	for ((i = $1 - 1; i >= 0; i--)); do seed+=($((($2 >> (8 * i)) & 255))); done
}

# fuzz_net.c's stack is 10.0.0.5/24 at 02:00:00:00:00:05, gateway
# 10.0.0.1, the kv service on UDP 7000. Checksums are left 0: the target
# makes them right itself (a UDP checksum of 1 asks it to compute one).
# The frames of an input are separated by FRAME_SEP.
readonly NET_US=$((0x0a000005)) NET_PEER=$((0x0a000002))
sep() {
	le 1 254
	str NXT
}
# mac LAST: 02:00:00:00:00:LAST; 255 is the broadcast address.
mac() {
	if [ "$1" -eq 255 ]; then
		le 6 $((0xffffffffffff))
	else
		le 1 2
		le 4 0
		le 1 "$1"
	fi
}
# eth DST-LAST TYPE: from the peer, 02:00:00:00:00:02.
eth() {
	mac "$1"
	mac 2
	be 2 "$2"
}
# ipv4 PROTO SRC DST PAYLOAD-LEN: no options, don't fragment, TTL 64.
ipv4() {
	be 1 $((0x45))
	be 1 0
	be 2 $((20 + $4))
	be 2 0
	be 2 $((0x4000))
	be 1 64
	be 1 "$1"
	be 2 0
	be 4 "$2"
	be 4 "$3"
}
# kv_request OP REQ KEY VALUE [CLIENT]: include/pvft/kv.h, client 7.
kv_request() {
	le 2 $((0x564b))
	le 1 1
	le 1 "$1"
	le 8 "${5:-7}"
	le 8 "$2"
	le 2 ${#3}
	le 2 ${#4}
	str "$3"
	str "$4"
}
# kv_udp DST-LAST DST-IP SRC-IP UDP-CSUM OP REQ KEY VALUE: a request
# from SRC-IP:40000 to the kv port.
kv_udp() {
	local len=$((24 + ${#7} + ${#8}))
	eth "$1" $((0x0800))
	ipv4 17 "$3" "$2" $((8 + len))
	be 2 40000
	be 2 7000
	be 2 $((8 + len))
	be 2 "$4"
	kv_request "$5" "$6" "$7" "$8"
}
# The peer asks for our MAC.
arp_request() {
	eth 255 $((0x0806))
	be 2 1
	be 2 $((0x0800))
	be 1 6
	be 1 4
	be 2 1 # request
	mac 2
	be 4 $NET_PEER
	le 6 0
	be 4 $NET_US
}
# icmp_echo DATA-LEN: an echo request carrying DATA-LEN bytes.
icmp_echo() {
	local i
	eth 5 $((0x0800))
	ipv4 1 $NET_PEER $NET_US $((8 + $1))
	be 2 $((0x0800)) # echo request, code 0
	be 2 0
	be 2 1
	be 2 1
	for ((i = 0; i < $1; i++)); do seed+=($((i & 255))); done
}

net_seeds() {
	local req
	seed=()
	kv_request 1 1 key value
	write_seed kv-put
	seed=()
	arp_request
	write_seed arp-request
	seed=()
	icmp_echo 4
	write_seed icmp-echo
	# The longest echo that has a reply, and one byte more.
	seed=()
	icmp_echo 1472
	write_seed icmp-echo-mtu
	seed=()
	icmp_echo 1473
	write_seed icmp-echo-too-long
	seed=()
	kv_udp 5 $NET_US $NET_PEER 0 1 1 key value
	write_seed udp-put
	seed=()
	kv_udp 5 $NET_US $NET_PEER 1 2 1 key ''
	write_seed udp-get
	seed=()
	kv_udp 5 $NET_US $NET_PEER 0 9 1 key ''
	write_seed udp-bad-op
	seed=()
	kv_udp 255 $((0xffffffff)) $NET_PEER 0 2 1 key ''
	write_seed udp-broadcast
	# A loopback host side's client: off the subnet, via the gateway.
	seed=()
	kv_udp 5 $NET_US $((0x7f000001)) 1 1 1 k v
	write_seed udp-loopback
	# The peer resolves us, writes, reads, deletes, retries, goes stale.
	seed=()
	arp_request
	sep
	kv_udp 5 $NET_US $NET_PEER 1 1 1 key value
	sep
	kv_udp 5 $NET_US $NET_PEER 0 2 2 key ''
	sep
	kv_udp 5 $NET_US $NET_PEER 0 3 3 key ''
	sep
	kv_udp 5 $NET_US $NET_PEER 0 3 3 key ''
	sep
	kv_udp 5 $NET_US $NET_PEER 0 2 2 key ''
	sep
	icmp_echo 4
	write_seed session
	# Requests alone: fill the keys (4), forget clients (2).
	seed=()
	for req in 1 2 3 4 5; do
		kv_request 1 "$req" "key$req" "v$req"
		sep
	done
	kv_request 2 6 key1 ''
	sep
	kv_request 3 7 key1 ''
	sep
	kv_request 2 8 key1 ''
	sep
	kv_request 1 1 key9 x 8
	sep
	kv_request 1 1 key9 x 9
	sep
	kv_request 2 8 key1 ''
	write_seed kv-session
}

for target in elf hypercall log net migstream; do
	bin=$build/bin/pvft-fuzz-$target
	corpus=$build/fuzz/$target-corpus
	mkdir -p "$corpus" "$build/fuzz"
	case $target in
	elf) cp "$build"/guest/*.elf "$corpus/" 2>/dev/null ;;
	hypercall) hypercall_seeds ;;
	log) log_seeds ;;
	net) net_seeds ;;
	migstream) "$build/bin/pvft-migstream-seeds" "$corpus" ;;
	esac
	if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
		-artifact_prefix="$build/fuzz/$target-" "$corpus" \
		>"$build/fuzz/$target.log" 2>&1; then
		echo "PASS fuzz $target: $(grep -oE 'Done [0-9]+ runs.*' "$build/fuzz/$target.log" | tail -n 1)"
		pass=$((pass + 1))
	else
		echo "FAIL fuzz $target: see $build/fuzz/$target.log"
		grep -E 'ERROR|SUMMARY|Test unit written' "$build/fuzz/$target.log" | head -n 5
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
