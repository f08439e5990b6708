# Shared by the shell suites: source it.

# make_key FILE: a domain key as pvft keygen writes it (64 hex digits,
# mode 0600), without needing pvft itself.
make_key() {
	(umask 077 && printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$1")
}
