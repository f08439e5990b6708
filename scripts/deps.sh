#!/usr/bin/env bash
# Installs the Debian packages pvft needs to build and test, when missing.
# Shared by `make deps` (and so by `make demo`, `make check`) and .ci/run.
set -euo pipefail

pkgs=(gcc make libc6-dev binutils clang clang-format libclang-rt-dev
	libxen-dev libcunit1-dev libxxhash-dev jq
	libcurl4-openssl-dev libjson-c-dev etcd-server curl iputils-ping
	iproute2
	# sysctl for the network tests (not in a minimal Debian 12)
	procps
	# TLS for the log channel and the arbiter (lib/tls.c); certificates
	# for the tests' x509 pairs and etcd over https
	libgnutls28-dev openssl
	# make demo's timeline plot (scripts/demo-kv.sh)
	gnuplot-nox
	# the man pages: pandoc writes them, groff and man check them
	pandoc groff-base man-db
	# the pair protocol's model checker (tests/model)
	spin
	# tests/reprotect/holdproxy.py holds a join's stream mid-round
	python3)
# Without a usable /dev/kvm, the KVM suite runs in a QEMU machine with
# nested KVM (tests/kvm/run.sh).
if ! "$(dirname "$0")/have-kvm.sh"; then
	pkgs+=(qemu-system-x86 busybox-static)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps: need root to install ${missing[*]} (run: apt-get install ${missing[*]})" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
# etcd-server's postinst starts an etcd service (invoke-rc.d, or systemd):
# the tests start their own etcd on free ports, and in a container without
# an init system a start can fail and fail the install. A policy-rc.d that
# forbids starting services (exit 101, as Debian's Docker images ship)
# keeps any service from starting during this install; ours is removed
# after it, one already there is left alone.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	trap '${SUDO:-} rm -f "$policy"' EXIT
	printf '#!/bin/sh\n# pvft scripts/deps.sh: no service starts during its install.\nexit 101\n' |
		${SUDO:-} tee "$policy" >/dev/null
	${SUDO:-} chmod 755 "$policy"
fi
${SUDO:-} apt-get update -qq
${SUDO:-} apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
