#!/usr/bin/env bash
# kvm-machine.sh BUILD COMMAND...: run COMMAND (a shell command line, from
# the top of a copy of the tree) inside a QEMU machine under TCG with AMD
# SVM emulated, whose own Linux kernel (a stock Debian cloud kernel) loads
# kvm-amd and so provides /dev/kvm: the real KVM code and ioctls, nested,
# only slower. For hosts without a usable /dev/kvm.
#
# The machine holds busybox, the host tools the suites use (with their
# shared libraries), build/bin, build/guest, tests/ and bench/. COMMAND's
# output comes back on stdout, from its first line on. Exit status 1 if the
# machine could not be made; COMMAND's own status is not carried out, so
# callers judge COMMAND by what it prints; exit status 2 if the machine had
# to be stopped after KVM_MACHINE_TIMEOUT seconds (default 300).
set -u
build=$1
shift
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

die() {
	echo "kvm-machine: $*" >&2
	exit 1
}

command -v qemu-system-x86_64 >/dev/null ||
	die "qemu-system-x86_64 is missing (make deps installs it)"
[ -x /bin/busybox ] || die "busybox is missing (make deps installs busybox-static)"

work=$build/kvm-host
mkdir -p "$work"

# A stock Debian kernel, unpacked (not installed), cached across runs.
kernel_pkg() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
if ! ls "$work"/root/boot/vmlinuz-* >/dev/null 2>&1; then
	pkg=$(kernel_pkg)
	if [ -z "$pkg" ]; then
		apt-get update -qq >/dev/null 2>&1
		pkg=$(kernel_pkg)
	fi
	[ -n "$pkg" ] || die "cannot resolve linux-image-cloud-amd64 in the Debian archive"
	echo "kvm-machine: fetching $pkg (once; cached in $work)" >&2
	rm -f "$work"/*.deb
	(cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) ||
		die "apt-get download $pkg failed"
	dpkg-deb -x "$work"/*.deb "$work/root" || die "cannot unpack $pkg"
	rm -f "$work"/*.deb
fi
vmlinuz=$(ls "$work"/root/boot/vmlinuz-* | head -n 1)
mods=$(dirname "$(find "$work/root/lib/modules" -name kvm.ko | head -n 1)")
irqbypass=$(find "$work/root/lib/modules" -name 'irqbypass.ko' | head -n 1)
[ -f "$mods/kvm-amd.ko" ] && [ -n "$irqbypass" ] ||
	die "the kernel package has no kvm-amd.ko/irqbypass.ko"

ir=$work/initramfs
rm -rf "$ir"
mkdir -p "$ir"/{bin,proc,sys,dev,tmp,modules,pvft}
cp /bin/busybox "$ir/bin/"
copy_with_libs() {
	local f lib
	for f in "$@"; do
		f=$(command -v "$f")
		mkdir -p "$ir$(dirname "$f")"
		cp -L "$f" "$ir$f"
		for lib in $(ldd "$f" 2>/dev/null | grep -oE '/[^ ]+'); do
			mkdir -p "$ir$(dirname "$lib")"
			cp -L "$lib" "$ir$lib"
		done
	done
}
copy_with_libs env bash timeout grep sed mawk mktemp head tail dd sleep seq cut \
	od stat cmp cp nproc jq "$build"/bin/*
ln -s "$(command -v mawk)" "$ir/bin/awk"
cp "$irqbypass" "$mods/kvm.ko" "$mods/kvm-amd.ko" "$ir/modules/"
mkdir -p "$ir/pvft/$build"
cp -r "$build/bin" "$build/guest" "$ir/pvft/$build/"
find "$ir/pvft/$build/guest" -name '*.[od]' -delete
cp -r tests bench scripts examples "$ir/pvft/"
cat >"$ir/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /modules/irqbypass.ko && insmod /modules/kvm.ko &&
	insmod /modules/kvm-amd.ko
# Loopback: a pair's log channel and arbiter (tests/toolstack/kvm-e2e.sh).
ip link set lo up
echo "kvm-machine: up"
# A pvft-hv alive for over a minute is stuck: show where, once each.
(
	seen=""
	while sleep 20; do
		for p in \$(ps -o pid,args | awk '/[p]vft-hv/ { print \$1 }'); do
			age=\$(( \$(cut -d. -f1 /proc/uptime) - \$(cut -d' ' -f22 /proc/\$p/stat) / 100 ))
			case " \$seen " in *" \$p "*) continue ;; esac
			[ "\$age" -gt 60 ] || continue
			seen="\$seen \$p"
			echo "kvm-machine: pvft-hv \$p running for \$age s:"
			ps -o pid,ppid,stat,args | grep -v ' \\[' 
			for t in /proc/\$p/task/*; do
				echo "task \$t state \$(cut -d' ' -f3 \$t/stat)"
				cat \$t/stack
			done
		done
	done
) &
if [ -c /dev/kvm ]; then
	cd /pvft && bash -c '$*'
else
	echo "kvm-machine: the QEMU machine has no /dev/kvm"
fi
poweroff -f
INIT
chmod +x "$ir/init"
(cd "$ir" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz" ||
	die "cannot build the initramfs"

# Bounded, so that a hang fails the caller instead of stalling it. One vCPU
# by default: with two (multi-threaded TCG) the machine froze 3 times in
# ~25 runs of the suite, with one not once in 10 runs, at the same speed.
timeout -k 10 "${KVM_MACHINE_TIMEOUT:-300}" qemu-system-x86_64 \
	-accel tcg -cpu qemu64,+svm \
	-smp "${KVM_MACHINE_SMP:-1}" -m 1024 -nic none -nographic -no-reboot \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=0 panic=-1" </dev/null |
	tr -d '\r' | sed -n '/kvm-machine: up/,$p' | sed 1d
if [ "${PIPESTATUS[0]}" -eq 124 ]; then
	echo "kvm-machine: the QEMU machine hung and was stopped" >&2
	exit 2
fi
