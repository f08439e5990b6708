#!/usr/bin/env bash
# The integration suite on the KVM backend, always.
#
# With a usable /dev/kvm here, it runs here. Without one (a host that is
# itself a guest whose hypervisor offers no nested KVM), it runs inside a
# QEMU machine under TCG with AMD SVM emulated, whose own Linux kernel (a
# stock Debian cloud kernel) loads kvm-amd and so provides /dev/kvm: the
# real KVM code and ioctls pvft-hv uses in production, only slower. If
# neither works the suite fails, saying why: it is never skipped.
#
# Last line, as every suite: "N passed, N failed".
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

fail_suite() {
	echo "kvm: FAIL: $*"
	echo "0 passed, 1 failed"
	exit 1
}

if [ -c /dev/kvm ] && { exec 3<>/dev/kvm; } 2>/dev/null; then
	exec 3>&-
	echo "kvm: /dev/kvm is usable here: running the suite on it"
	BACKEND=kvm exec tests/integration/run.sh "$build"
fi

echo "kvm: no usable /dev/kvm here: running the suite on nested KVM in a QEMU machine"
command -v qemu-system-x86_64 >/dev/null ||
	fail_suite "qemu-system-x86_64 is missing (make deps installs it)"
[ -x /bin/busybox ] || fail_suite "busybox is missing (make deps installs busybox-static)"

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
	[ -n "$pkg" ] || fail_suite "cannot resolve linux-image-cloud-amd64 in the Debian archive"
	echo "kvm: fetching $pkg (once; cached in $work)"
	rm -f "$work"/*.deb
	(cd "$work" && apt-get download "$pkg" >/dev/null 2>&1) ||
		fail_suite "apt-get download $pkg failed"
	dpkg-deb -x "$work"/*.deb "$work/root" || fail_suite "cannot unpack $pkg"
	rm -f "$work"/*.deb
fi
vmlinuz=$(ls "$work"/root/boot/vmlinuz-* | head -n 1)
mods=$(dirname "$(find "$work/root/lib/modules" -name kvm.ko | head -n 1)")
irqbypass=$(find "$work/root/lib/modules" -name 'irqbypass.ko*' | head -n 1)
[ -f "$mods/kvm-amd.ko" ] && [ -n "$irqbypass" ] ||
	fail_suite "the kernel package has no kvm-amd.ko/irqbypass.ko"

# The machine's root: busybox, the host tools the suite uses (with their
# shared libraries), pvft's binaries and guests, and the suite itself.
ir=$work/initramfs
rm -rf "$ir"
mkdir -p "$ir"/{bin,proc,sys,dev,tmp,modules,pvft/tests/integration}
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
copy_with_libs bash timeout grep sed mawk mktemp head tail dd sleep \
	"$build/bin/pvft-hv" "$build/bin/compute-native"
ln -s "$(command -v mawk)" "$ir/bin/awk"
cp "$irqbypass" "$mods/kvm.ko" "$mods/kvm-amd.ko" "$ir/modules/"
mkdir -p "$ir/pvft/$build/bin" "$ir/pvft/$build/guest"
cp "$build/bin/pvft-hv" "$build/bin/compute-native" "$ir/pvft/$build/bin/"
cp "$build"/guest/*.elf "$ir/pvft/$build/guest/"
cp tests/integration/run.sh "$ir/pvft/tests/integration/"
cat >"$ir/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/usr/bin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
insmod /modules/$(basename "$irqbypass") && insmod /modules/kvm.ko &&
	insmod /modules/kvm-amd.ko
if [ -c /dev/kvm ]; then
	echo "kvm: nested /dev/kvm is up (kvm-amd)"
	cd /pvft && BACKEND=kvm bash tests/integration/run.sh $build
else
	echo "kvm: FAIL: the QEMU machine has no /dev/kvm"
	echo "0 passed, 1 failed"
fi
poweroff -f
INIT
chmod +x "$ir/init"
(cd "$ir" && find . | /bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz" ||
	fail_suite "cannot build the initramfs"

# TCG with SVM: slow but complete; bounded so a hang fails the suite.
timeout -k 10 1800 qemu-system-x86_64 -accel tcg,thread=multi \
	-cpu qemu64,+svm -smp 2 -m 1024 -nic none -nographic -no-reboot \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 quiet loglevel=0 panic=-1" </dev/null |
	tr -d '\r' | sed -n '/kvm: /,$p' | sed '1s/^.*kvm: /kvm: /'
