#!/usr/bin/env bash
# The layers stay layers (Documentation/ARCHITECTURE.md, "Layers"):
#  - no cycle among hv/'s objects: which object calls which is read from the
#    built objects' symbols (nm), and tsort finds any loop (two files that
#    call each other, or longer); calls through an ops table are pointers
#    and never show;
#  - logchan/ includes nothing of arbiter/ (the pair's policy is hv/'s);
#  - the gate names no device, and neither do the layers that walk them;
#  - the hypercall fuzzer links without the control socket, the channel,
#    the arbiter, curl or json-c.
# Last line: "N passed, N failed".
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Who calls whom among hv/*.o: "caller callee" per line.
hv_edges() {
	local o b
	for o in "$build"/hv/*.o; do
		b=$(basename "$o" .o)
		nm --defined-only "$o" | awk '$2 ~ /^[TDBR]$/ { print $3 }' |
			sort -u >"$tmp/def.$b"
		nm -u "$o" | awk '{ print $2 }' | sort -u >"$tmp/use.$b"
	done
	for u in "$tmp"/use.*; do
		a=${u##*/use.}
		for d in "$tmp"/def.*; do
			b=${d##*/def.}
			[ "$a" = "$b" ] && continue
			[ -n "$(comm -12 "$u" "$d" | head -n 1)" ] && echo "$a $b"
		done
	done
}

t_hv_no_cycle() {
	local loop
	if ! ls "$build"/hv/*.o >/dev/null 2>&1; then
		bad hv_no_cycle "no objects in $build/hv: build first"
		return
	fi
	hv_edges >"$tmp/edges"
	if [ ! -s "$tmp/edges" ]; then
		bad hv_no_cycle "no calls found between hv/ objects (nm?)"
		return
	fi
	# tsort names each object on a loop on stderr.
	loop=$(tsort "$tmp/edges" 2>&1 >/dev/null | grep -v 'input contains a loop')
	if [ -n "$loop" ]; then
		bad hv_no_cycle "hv/ objects call each other in a loop:$(echo $loop | sed 's/tsort: //g')"
		return
	fi
	ok "hv_no_cycle ($(wc -l <"$tmp/edges") call edges, no loop)"
}

# The check itself: a loop put in on purpose is found.
t_check_finds_a_loop() {
	printf 'a b\nb c\nc a\n' >"$tmp/loop"
	if tsort "$tmp/loop" >/dev/null 2>&1; then
		bad check_finds_a_loop "tsort took a loop"
	else
		ok check_finds_a_loop
	fi
}

t_logchan_no_arbiter() {
	local hits
	hits=$(grep -nE '#include *["<](arbiter|proto)\.h[">]|arbiter__' logchan/*.[ch])
	if [ -n "$hits" ]; then
		bad logchan_no_arbiter "$hits"
	else
		ok logchan_no_arbiter
	fi
}

# The devices are named only by the board (devices.c), each other's files
# and their own; the gate and the layers that walk them never.
t_no_device_named() {
	local f hits all=""
	for f in hv/gate.c hv/gate-file.c hv/digest.c hv/deliver.c hv/sched.c \
		hv/hypercall.c hv/control.c hv/main.c hv/vcpu.c hv/pair.c; do
		hits=$(grep -nE '\b(console|netback|timer)__[a-z_]+\(|#include "(console|netback|timer)\.h"|->console\.|\.console\.|d->net\b' "$f" |
			grep -v 'control__console' | sed "s|^|$f:|")
		all="$all$hits"
	done
	if [ -n "$all" ]; then
		bad no_device_named "$all"
	else
		ok no_device_named
	fi
}

t_fuzzer_links_alone() {
	local f=$build/bin/pvft-fuzz-hypercall syms libs
	if [ ! -x "$f" ]; then
		bad fuzzer_links_alone "$f is not built"
		return
	fi
	syms=$(nm "$f" | grep -E ' [TDBR] (control|chan|arbiter|tls|pair)__' | head -n 3)
	libs=$(ldd "$f" | grep -E 'libcurl|libjson-c|libgnutls' | awk '{ print $1 }')
	if [ -n "$syms$libs" ]; then
		bad fuzzer_links_alone "it carries $syms $libs"
	else
		ok fuzzer_links_alone
	fi
}

t_hv_no_cycle
t_check_finds_a_loop
t_logchan_no_arbiter
t_no_device_named
t_fuzzer_links_alone
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
