# Shared by the shell suites: source it.

# make_key FILE: a domain key as pvft keygen writes it (64 hex digits,
# mode 0600), without needing pvft itself.
make_key() {
	(umask 077 && printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$1")
}

# arbiter_key PVFT DOMAINKEY KEYDIR PAIR: pvft-arbiter's key for PAIR,
# derived from the domain key, into KEYDIR/PAIR.key (pvft-arbiter --keys
# KEYDIR reads it at each handshake: a key added while it runs works).
arbiter_key() {
	mkdir -p "$3" && chmod 700 "$3" && "$1" keygen -f -a "$4" "$2" "$3" >/dev/null
}
