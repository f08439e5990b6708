#!/usr/bin/env bash
# make install, staged: `make install DESTDIR=TMP PREFIX=/usr` from the
# build in BUILD, then every file where it belongs with its mode, the man
# pages rendering without a warning, the systemd unit and the examples
# pointing at the installed programs and guests, the installed programs
# running, the admin's settings kept across a reinstall, a PREFIX of
# /usr/local, and make uninstall. Everything goes in the EXIT trap.
# Last line: "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
cd "$top" || exit 1

# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
harness_begin flat
PASS_WORD="ok  "
root=$tmp/root

# install ROOT PREFIX [MAKE ARGS...]: make install into ROOT, output in
# $tmp/make.out.
install_to() {
	local dest=$1 prefix=$2
	shift 2
	make install BUILD="$build" DESTDIR="$dest" PREFIX="$prefix" "$@" \
		>"$tmp/make.out" 2>&1
}

# mode NAME FILE MODE: FILE is a regular file of mode MODE.
mode() {
	local m
	if [ ! -f "$2" ] || [ -L "$2" ]; then
		bad "$1: ${2#"$root"} is missing"
		return
	fi
	m=$(stat -c %a "$2")
	if [ "$m" = "$3" ]; then
		ok "$1: ${2#"$root"} mode $3"
	else
		bad "$1: ${2#"$root"} has mode $m, want $3"
	fi
}

if install_to "$root" /usr; then
	ok "make install DESTDIR=... PREFIX=/usr"
else
	bad "make install failed:"
	tail -n 20 "$tmp/make.out"
	echo "$pass passed, $fail failed"
	exit 1
fi

# ---- every file, with its mode ----
for p in pvft pvft-hv pvft-arbiter; do
	mode "program" "$root/usr/sbin/$p" 755
done
while read -r g; do
	mode "guest" "$root/usr/lib/pvft/guest/$g.elf" 644
done < <(sed -n 's/^guest-y += *//p' guest/Kbuild)
pages=()
for src in Documentation/man/*.md; do
	page=$(basename "$src" .md)
	pages+=("$root/usr/share/man/man${page##*.}/$page")
	mode "man page" "${pages[-1]}" 644
done
if [ ${#pages[@]} -ge 3 ]; then
	ok "man pages: ${#pages[@]} (pvft.1, pvft-hv.1, pvft-arbiter.8 at least)"
else
	bad "man pages: only ${#pages[@]} sources in Documentation/man"
fi
comp=$root/usr/share/bash-completion/completions
mode "bash completion" "$comp/pvft" 644
for p in pvft-hv pvft-arbiter; do
	if [ "$(readlink "$comp/$p")" = pvft ]; then
		ok "bash completion: $p -> pvft"
	else
		bad "bash completion: $comp/$p is not a link to pvft"
	fi
done
unit=$root/usr/lib/systemd/system/pvft-arbiter.service
mode "systemd unit" "$unit" 644
mode "unit settings" "$root/etc/default/pvft-arbiter" 644
for d in README.md Documentation/*.md; do
	mode "doc" "$root/usr/share/doc/pvft/${d##*/}" 644
done
examples=(examples/*.cfg)
[ -e "${examples[0]}" ] || examples=()
for e in "${examples[@]}"; do
	mode "example" "$root/usr/share/doc/pvft/examples/${e##*/}" 644
done

# ---- the man pages render cleanly ----
for page in "${pages[@]}"; do
	name=${page##*/}
	warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
	if [ -z "$warn" ]; then
		ok "groff -ww: $name"
	else
		bad "groff -ww: $name: $warn"
	fi
	warn=$(MANWIDTH=80 man -l --warnings "$page" 2>&1 >/dev/null)
	if [ -z "$warn" ]; then
		ok "man --warnings: $name"
	else
		bad "man --warnings: $name: $warn"
	fi
	if MANWIDTH=80 man -l "$page" 2>/dev/null |
		awk -v n="${name%.*}" '/^NAME/ { getline; if (index($0, n " - ")) f = 1 }
			END { exit !f }'; then
		ok "man -l: $name has a NAME section naming ${name%.*}"
	else
		bad "man -l: $name: no NAME section naming ${name%.*}"
	fi
	if lexgrog "$page" 2>/dev/null | grep -q -- "\"${name%.*} - "; then
		ok "lexgrog: $name has a whatis entry"
	else
		bad "lexgrog: $name: no whatis entry: $(lexgrog "$page" 2>&1)"
	fi
done

# ---- the systemd unit runs the installed arbiter ----
# shellcheck disable=SC2016 # the unit's own ${...}, for systemd to expand
if grep -qx 'ExecStart=/usr/sbin/pvft-arbiter --listen ${PVFT_ARBITER_LISTEN} --state-dir /var/lib/pvft/arbiter --keys ${PVFT_ARBITER_KEYS} $PVFT_ARBITER_OPTS' "$unit"; then
	ok "unit: ExecStart=/usr/sbin/pvft-arbiter --listen ... --state-dir ... --keys ..."
else
	bad "unit: ExecStart is $(grep '^ExecStart=' "$unit")"
fi
if grep -qx 'EnvironmentFile=-/etc/default/pvft-arbiter' "$unit"; then
	ok "unit: EnvironmentFile=-/etc/default/pvft-arbiter"
else
	bad "unit: EnvironmentFile is $(grep '^EnvironmentFile=' "$unit")"
fi
# Its options are the program's: each one the unit passes is in --help.
for o in --listen --state-dir --keys; do
	if "$root/usr/sbin/pvft-arbiter" --help | grep -q -- "$o "; then
		ok "unit: pvft-arbiter has $o"
	else
		bad "unit: pvft-arbiter --help has no $o"
	fi
done
if command -v systemd-analyze >/dev/null; then
	# As installed, but run from the staging root, with its man pages.
	mkdir "$tmp/verify"
	sed "s|^ExecStart=/usr/sbin/|ExecStart=$root/usr/sbin/|" "$unit" \
		>"$tmp/verify/pvft-arbiter.service"
	if out=$(MANPATH=$root/usr/share/man systemd-analyze verify \
		"$tmp/verify/pvft-arbiter.service" 2>&1); then
		ok "systemd-analyze verify (and man:pvft-arbiter(8) found)"
	else
		bad "systemd-analyze verify: $out"
	fi
else
	echo "note: no systemd-analyze here: the unit is not verified"
fi

# ---- the examples load the installed guests ----
if [ ${#examples[@]} -eq 0 ]; then
	echo "note: no examples/*.cfg yet: none to check"
fi
for e in "${examples[@]}"; do
	inst=$root/usr/share/doc/pvft/examples/${e##*/}
	kernels=$(sed -n 's/^[[:space:]]*kernel[[:space:]]*=[[:space:]]*["'\'']\([^"'\'']*\)["'\''].*/\1/p' "$inst")
	if [ -z "$kernels" ]; then
		bad "example ${e##*/}: no kernel = line"
		continue
	fi
	for k in $kernels; do
		if [[ $k == /usr/lib/pvft/guest/*.elf && -f $root$k ]]; then
			ok "example ${e##*/}: kernel = $k, installed"
		else
			bad "example ${e##*/}: kernel = $k: not an installed /usr/lib/pvft/guest/ guest"
		fi
	done
	if grep -E '^[[:space:]]*[a-z_]+[[:space:]]*=' "$inst" | grep -q 'build/'; then
		bad "example ${e##*/}: still names build/: $(grep -E '^[[:space:]]*[a-z_]+[[:space:]]*=.*build/' "$inst")"
	fi
done

# ---- the installed programs run ----
if out=$("$root/usr/sbin/pvft" help 2>&1) && grep -q '^Usage: pvft' <<<"$out"; then
	ok "installed pvft help runs"
else
	bad "installed pvft help: $out"
fi
for p in pvft-hv pvft-arbiter; do
	if "$root/usr/sbin/$p" --help >/dev/null 2>&1; then
		ok "installed $p --help runs"
	else
		bad "installed $p --help fails"
	fi
done
if out=$("$root/usr/sbin/pvft-hv" -q "$root/usr/lib/pvft/guest/hello.elf" 2>&1) &&
	grep -q 'Hello from pvft guest' <<<"$out"; then
	ok "installed pvft-hv runs the installed hello.elf"
else
	bad "installed pvft-hv on hello.elf: $out"
fi
if bash -c 'source "$1" && complete -p pvft pvft-hv pvft-arbiter' _ "$comp/pvft" >/dev/null 2>&1; then
	ok "installed completion registers pvft, pvft-hv, pvft-arbiter"
else
	bad "installed completion does not register its commands"
fi

# ---- a reinstall keeps the admin's settings ----
echo 'PVFT_ARBITER_LISTEN=10.0.0.5:7000' >>"$root/etc/default/pvft-arbiter"
if install_to "$root" /usr &&
	grep -qx 'PVFT_ARBITER_LISTEN=10.0.0.5:7000' "$root/etc/default/pvft-arbiter"; then
	ok "reinstall keeps /etc/default/pvft-arbiter"
else
	bad "reinstall: /etc/default/pvft-arbiter replaced, or make failed: $(tail -n 5 "$tmp/make.out")"
fi

# ---- PREFIX=/usr/local ----
local_root=$tmp/local
if install_to "$local_root" /usr/local; then
	u=$local_root/usr/local/lib/systemd/system/pvft-arbiter.service
	if grep -q '^ExecStart=/usr/local/sbin/pvft-arbiter ' "$u" &&
		grep -qx 'EnvironmentFile=-/etc/default/pvft-arbiter' "$u" &&
		[ -f "$local_root/etc/default/pvft-arbiter" ] &&
		[ -x "$local_root/usr/local/sbin/pvft" ] &&
		[ -f "$local_root/usr/local/lib/pvft/guest/hello.elf" ]; then
		ok "PREFIX=/usr/local: programs, guests, unit for /usr/local/sbin, /etc/default"
	else
		bad "PREFIX=/usr/local: $(grep '^ExecStart=' "$u")"
	fi
	for e in "${examples[@]}"; do
		if grep -q '/usr/local/lib/pvft/guest/' "$local_root/usr/local/share/doc/pvft/examples/${e##*/}"; then
			ok "PREFIX=/usr/local: example ${e##*/} names /usr/local/lib/pvft/guest/"
		else
			bad "PREFIX=/usr/local: example ${e##*/} does not name /usr/local/lib/pvft/guest/"
		fi
	done
else
	bad "make install PREFIX=/usr/local failed: $(tail -n 5 "$tmp/make.out")"
fi

# ---- make uninstall: all gone but the admin's settings ----
if make uninstall BUILD="$build" DESTDIR="$root" PREFIX=/usr >"$tmp/make.out" 2>&1; then
	left=$(cd "$root" && find . ! -type d | sort | xargs)
	if [ "$left" = "./etc/default/pvft-arbiter" ]; then
		ok "make uninstall removes all but /etc/default/pvft-arbiter"
	else
		bad "make uninstall left: $left"
	fi
else
	bad "make uninstall failed: $(tail -n 5 "$tmp/make.out")"
fi

summary
