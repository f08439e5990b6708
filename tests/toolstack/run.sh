#!/usr/bin/env bash
# The pvft toolstack, end to end (Documentation/man/pvft.1.md,
# pvft.cfg.5.md): `pvft -N create` of every example against golden files;
# bad configs refused with exit status 3 and a FILE:LINE: KEY: message;
# create, list, status, destroy of a kv pair (a client checking every
# write); planned failovers (`pvft promote`) under client load and in the
# middle of the count guest's output; promote refused where there is no
# pair; kill -9 of a primary that create started; the console (input to
# the echo guest, Ctrl-] to detach, following a promote); record and
# replay; the control socket's protocol through `pvft proxy` (bad requests
# refused, the replica unharmed) and its file modes; help, prefixes and
# usage errors; re-creating a domain after a failover or after its guest
# ended. Keys: pvft keygen (domain keys, arbiter keys), pvft arbiter with
# and without the pair's key, create's own key per start (0600, --key to
# both replicas, the embedded arbiter's --keys holding only the pair's
# derived key), ft_key, unreadable key files, ft_insecure, and x509 for
# the log channel (certificates made with openssl).
#
# Tests check behaviour, never durations: exit statuses, messages, the
# state `pvft status --json` reports, the kv client's verdict, the count
# guest's output across a failover (tests/pair/seqcheck.sh). Each test has
# its own directory and PVFT_RUN_DIR (nothing shared between tests). At
# its end every domain in that run directory is destroyed with `pvft
# destroy`, what the test started itself (clients, consoles) is killed by
# PID, and then nothing may be left that names the test's directory on
# its command line (pvft-hv --control, pvft-arbiter --state-dir): a
# process left there after `pvft destroy` fails the test, and is killed
# by its PID. The EXIT trap does the same for a suite cut short. Never a
# kill by name.
#
# Golden files (tests/toolstack/golden/NAME.txt): the dry run of
# examples/NAME.cfg, the repository's path written @TOP@ and the run
# directory @RUN@. TOOLSTACK_GOLDEN=update rewrites them from the real
# output (then read them: the diff is the review).
#
# Last line: "N passed, N failed". ONLY=REGEX runs the matching tests;
# PROMOTE_TRIALS (3) sets the promote-under-load trials; TOOLSTACK_KEEP=DIR
# keeps the files of a failed test (every pvft command and its output in
# cmds.txt, the domain directories) in DIR/NAME. Needs jq and openssl.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
[[ $build == /* ]] || build=$top/$build
PVFT=$build/bin/pvft
KVC=$build/bin/pvft-kv-client
G=$build/guest
SEQCHECK=$top/tests/pair/seqcheck.sh
GOLDEN=$top/tests/toolstack/golden
T=60 # seconds: the longest any wait may take (a loaded 2-core box)
TRIALS=${PROMOTE_TRIALS:-3}
# pvft.cfg(5): raise the timeout on a loaded host. The tests that fail a
# replica on purpose do it with kill -9 or promote, which need no timeout
# to be noticed; a false failure would only make their start unprotected.
CALM='ft_heartbeat_ms = 20
ft_timeout_ms = 1000'

# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
harness_begin
t=$tmp/none # the current test's directory (begin_test)
KEEP=${TOOLSTACK_KEEP:-}
LOG_GLOBS=() # a failure says the command and what it said (cmd_context)

# --- processes --------------------------------------------------------------

# procs_in DIR: "PID COMMAND" of every live process whose command line
# names DIR: what pvft started for a test (pvft-hv --control DIR/...,
# pvft-arbiter --state-dir DIR/..., a ptrace backend's child).
procs_in() {
	local f p args
	for f in /proc/[0-9]*/cmdline; do
		p=${f#/proc/}
		p=${p%/cmdline}
		mapfile -d '' -t args 2>/dev/null <"$f" || continue
		[[ "${args[*]}" == *"$1/"* ]] || continue
		gone "$p" && continue
		echo "$p ${args[*]:0:3}"
	done
}

# kill_in DIR: kill -9, by PID, each process procs_in finds.
kill_in() {
	local p
	for p in $(procs_in "$1" | cut -d ' ' -f 1); do
		kill -9 "$p" 2>/dev/null
	done
}

# --- pvft -------------------------------------------------------------------

# pv ARGS...: pvft ARGS (stdin /dev/null); stdout in $t/out, stderr in
# $t/err, the exit status in $rc; the command and all it said appended to
# $t/cmds.txt (shown when the test fails).
pv() {
	"$PVFT" "$@" </dev/null >"$t/out" 2>"$t/err"
	rc=$?
	note_cmd "$@"
}

note_cmd() {
	{
		printf '$ pvft'
		printf ' %q' "$@"
		printf '\n'
		sed 's/^/  | /' "$t/out"
		sed 's/^/  ! /' "$t/err"
		echo "  exit status $rc"
	} >>"$t/cmds.txt"
}

# cmd_context: the last command and its output, for the message of a
# failed check (rc_is, err_has...).
cmd_context() {
	printf ':\n%s' "$(last_cmd)"
}

# last_cmd: the last command and its output, for a message.
last_cmd() {
	awk '/^\$ pvft/ { s = "" } { s = s $0 "\n" } END { printf "%s", s }' \
		"$t/cmds.txt" | head -c 1500
}

# said ERE: on stdout or stderr (progress lines: pvft create's go to stderr).
said() {
	cat "$t/out" "$t/err" | grep -qE -- "$1" && return 0
	why="no /$1/ on stdout or stderr:
$(last_cmd)"
	return 1
}

# status DOM: pvft status --json DOM, answered (exit 0), in $t/st.json.
status() {
	pv status --json "$1"
	cp "$t/out" "$t/st.json"
	rc_is 0 || return 1
	jq -e . "$t/st.json" >/dev/null && return 0
	why="pvft status --json $1: not JSON: $(head -c 300 "$t/st.json")"
	return 1
}

# st FILTER [jq args]: jq -r FILTER on the last status.
st() {
	jq -r "$@" "$t/st.json"
}

# node_is NODE KEY VALUE: in the last status, replica NODE's KEY.
node_is() {
	local v
	v=$(st --arg n "$1" ".replicas[] | select(.node == \$n) | .$2")
	[ "$v" = "$3" ] && return 0
	why="pvft status: $1 has $2 '$v', want '$3': $(st -c \
		'[.replicas[] | {node, role, state, pid}]')"
	return 1
}

# node_pid NODE: its pid in the last status.
node_pid() {
	st --arg n "$1" '.replicas[] | select(.node == $n) | .pid'
}

# The fields every answering replica has in status/list --json.
JQ_REPLICA='(.role | type) == "string" and (.state | type) == "string" and
	(.node | type) == "string" and (.host | type) == "string" and
	(.pid | type) == "number" and (.log | type) == "object" and
	(.pair.epoch | type) == "number"'
JQ_DOMAIN="(.name | type) == \"string\" and (.replicas | type) == \"array\"
	and (.replicas | length) > 0 and all(.replicas[]; $JQ_REPLICA)"

# --- configs ----------------------------------------------------------------

# kv_cfg NAME: $t/NAME.cfg, a kv pair serving 127.0.0.1:$kv_port (free).
kv_cfg() {
	free_port
	kv_port=$port
	cat >"$t/$1.cfg" <<EOF
name = "$1"
kernel = "$G/kv.elf"
memory = 64
cmdline = "ip=10.0.2.15/24 gw=10.0.2.2 port=$kv_port"
vif = [ "mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$kv_port" ]
$CALM
EOF
}

# guest_cfg NAME GUEST CMDLINE: $t/NAME.cfg, a pair of build/guest/GUEST.elf.
guest_cfg() {
	cat >"$t/$1.cfg" <<EOF
name = "$1"
kernel = "$G/$2.elf"
memory = 16
cmdline = "$3"
$CALM
EOF
}

# create CFG [KEY=VALUE...]: pvft create, protected (exit 0).
create() {
	pv create -q "$@"
	rc_is 0
}

# client NAME ARGS...: pvft-kv-client against $kv_port, in the background.
client() {
	local name=$1
	shift
	spawn "$name" "$KVC" --server "127.0.0.1:$kv_port" "$@"
}

# client_ok NAME: it ended with exit status 0 (no lost or doubled write).
client_ok() {
	wait_end "$1" || return 1
	[ "${rcs[$1]}" = 0 ] && return 0
	why="pvft-kv-client exit status ${rcs[$1]}: $(grep -E \
		'lost|twice|result|bad|answered' "$t/$1.out" | tr -s ' ' | tr '\n' '|') $(tail -n 2 "$t/$1.err")"
	return 1
}

# --- the run ----------------------------------------------------------------

# begin_test NAME: its own directory and PVFT_RUN_DIR.
begin_test() {
	t=$tmp/$1
	mkdir -p "$t"
	: >"$t/cmds.txt"
	export PVFT_RUN_DIR=$t/run
	leak=""
}

# end_test: every domain of the test destroyed, its processes killed, and
# nothing left running that pvft started for it (else the test fails, and
# why says so).
end_test() {
	local d name left i
	for d in "$t"/run/*/domain.json; do
		[ -e "$d" ] || continue
		name=${d%/domain.json}
		name=${name##*/}
		pv destroy "$name"
		[ "$rc" = 0 ] || leak+="pvft destroy $name: exit status $rc: $(head -c 300 "$t/err"); "
	done
	stop_all
	for ((i = 0; i < 50; i++)); do
		left=$(procs_in "$t")
		[ -z "$left" ] && break
		sleep 0.1
	done
	[ -z "$left" ] && [ -z "$leak" ] && return 0
	if [ -n "$left" ]; then
		kill_in "$t"
		leak+="left running after pvft destroy (killed): $(tr '\n' '|' <<<"$left")"
	fi
	why="${why:+$why
and }$leak"
	return 1
}

# At exit (after the processes the suite started): every domain of every
# test destroyed, and what pvft started for them killed.
destroy_all() {
	local d name
	for d in "$tmp"/*/run/*/domain.json; do
		[ -e "$d" ] || continue
		name=${d%/domain.json}
		PVFT_RUN_DIR=${d%/*/domain.json} "$PVFT" destroy "${name##*/}" \
			</dev/null >/dev/null 2>&1
	done
	kill_in "$tmp"
}
at_exit destroy_all

# ---- 1. dry runs against golden files --------------------------------------

# re_quote STR: STR as a literal in an ERE (grep -E).
re_quote() {
	sed 's/[][\.*^$|+?(){}/]/\\&/g' <<<"$1"
}

# sed_quote STR: STR as a literal in a sed pattern (a BRE, / delimited).
sed_quote() {
	sed 's/[][\.*^$/]/\\&/g' <<<"$1"
}

# normalise: the machine-specific parts of a dry run replaced.
normalise() {
	sed -e "s/$(sed_quote "$PVFT_RUN_DIR")/@RUN@/g" \
		-e "s/$(sed_quote "$build")/@TOP@\/build/g" \
		-e "s/$(sed_quote "$top")/@TOP@/g"
}

# plan_ok FILE: a dry run's pair hangs together: the primary connects where
# the backup listens, both name the same pair, epoch, arbiter, guest and
# timing (they differ only in role, node, control socket and the
# primary's connect timeout), and an embedded arbiter listens where they
# look for it.
plan_ok() {
	local p b a peer listen same_p same_b al
	p=$(grep -E '^  primary ' "$1") b=$(grep -E '^  backup ' "$1")
	a=$(grep -E '^  arbiter ' "$1")
	if [ -z "$p$b" ]; then
		grep -qE '^  single ' "$1" && return 0
		why="${1##*/}: neither a pair nor a single domain"
		return 1
	fi
	if [ -z "$p" ] || [ -z "$b" ]; then
		why="${1##*/}: a primary without a backup or the reverse"
		return 1
	fi
	peer=$(grep -oE -- "--peer [^ ']+" <<<"$p")
	listen=$(grep -oE -- "--listen [^ ']+" <<<"$b")
	if [ -z "$peer" ] || [ "${peer#--peer }" != "${listen#--listen }" ]; then
		why="${1##*/}: the primary connects to '${peer#--peer }', the backup listens on '${listen#--listen }'"
		return 1
	fi
	grep -q -- '--role primary ' <<<"$p" && grep -q -- '--role backup ' <<<"$b" || {
		why="${1##*/}: the roles are not primary and backup"
		return 1
	}
	same_p=$(sed -E 's/ --(node|connect-timeout) [^ ]+//g' <<<"${p#* --pair }")
	same_b=$(sed -E 's/ --(node|connect-timeout) [^ ]+//g' <<<"${b#* --pair }")
	if [ "$same_p" != "$same_b" ]; then
		why="${1##*/}: the replicas differ in more than role, node and socket:
primary: $same_p
backup:  $same_b"
		return 1
	fi
	if [ -n "$a" ]; then
		al=$(grep -oE -- "--listen [^ ]+" <<<"$a")
		grep -qF -- "--arbiter pvft://${al#--listen } " <<<"$p" || {
			why="${1##*/}: the embedded arbiter listens on '${al#--listen }', the replicas ask $(grep -oE -- '--arbiter [^ ]+' <<<"$p")"
			return 1
		}
	fi
}

# golden NAME CFG [KEY=VALUE...]: pvft -N create against golden/NAME.txt;
# stderr empty, or one line matching $golden_err when that is set.
golden() {
	local name=$1 got=$t/$1.txt
	shift
	pv -N create "$@"
	rc_is 0 || return 1
	normalise <"$t/out" >"$got"
	if [ -n "${golden_err:-}" ]; then
		[ "$(wc -l <"$t/err")" = 1 ] && grep -qE -- "$golden_err" "$t/err" ||
			{ why="$name: stderr is not one line /$golden_err/: $(head -c 300 "$t/err")"; return 1; }
	elif [ -s "$t/err" ]; then
		why="$name: stderr not empty: $(head -c 300 "$t/err")"
		return 1
	fi
	plan_ok "$got" || return 1
	if [ "${TOOLSTACK_GOLDEN:-}" = update ]; then
		mkdir -p "$GOLDEN" && cp "$got" "$GOLDEN/$name.txt"
		note+="${note:+, }$name.txt written"
		return 0
	fi
	[ -f "$GOLDEN/$name.txt" ] || {
		why="no golden/$name.txt (TOOLSTACK_GOLDEN=update writes it; then read it)"
		return 1
	}
	diff -u "$GOLDEN/$name.txt" "$got" >"$t/diff" && return 0
	why="$name: the dry run differs from golden/$name.txt:
$(head -n 30 "$t/diff")"
	return 1
}

t_golden_dry_run() {
	local cfg n=0 bad=""
	for cfg in "$top"/examples/*.cfg; do
		[ -e "$cfg" ] || continue
		golden "$(basename "$cfg" .cfg)" "$cfg" || bad+="
$why"
		n=$((n + 1))
	done
	# Overrides, as the example's comment shows them.
	golden compute-single "$top/examples/compute.cfg" ft_mode=single \
		name=compute1 || bad+="
$why"
	# Authentication (pvft.cfg(5)): a domain key of one's own, x509 for
	# the log channel (the embedded arbiter's key still from a domain
	# key create makes), an etcd arbiter over https, plaintext.
	golden kv-key "$top/examples/kv.cfg" ft_key=/etc/pvft/kv.key || bad+="
$why"
	golden kv-x509 "$top/examples/kv.cfg" ft_tls_ca=/etc/pvft/ca.pem \
		ft_tls_cert=/etc/pvft/kv.pem ft_tls_key=/etc/pvft/kv-key.pem || bad+="
$why"
	golden kv-etcd "$top/examples/kv.cfg" ft_arbiter=etcds://10.0.0.3:2379 \
		ft_tls_ca=/etc/pvft/ca.pem ft_tls_cert=/etc/pvft/kv.pem \
		ft_tls_key=/etc/pvft/kv-key.pem ft_arbiter_ca=/etc/pvft/etcd-ca.pem \
		ft_arbiter_cert=/etc/pvft/etcd.pem ft_arbiter_key=/etc/pvft/etcd-key.pem \
		ft_arbiter_user=pvft-pair-630028991916577588 \
		ft_arbiter_password_file=/etc/pvft/etcd-password || bad+="
$why"
	golden_err='^pvft create: warning: kv: INSECURE \(ft_insecure = 1\)' \
		golden kv-insecure "$top/examples/kv.cfg" ft_insecure=1 || bad+="
$why"
	[ -z "$bad" ] || { why=${bad#?}; return 1; }
	[ "$n" -gt 0 ] || { why="no examples/*.cfg"; return 1; }
	# A dry run starts nothing, makes nothing.
	[ ! -e "$PVFT_RUN_DIR" ] || {
		why="-N create made $PVFT_RUN_DIR: $(find "$PVFT_RUN_DIR" | head -n 5 | tr '\n' ' ')"
		return 1
	}
	[ -z "$(procs_in "$t")" ] || { why="-N create started $(procs_in "$t")"; return 1; }
	note+="${note:+; }$n examples"
}

# ---- 2. config errors ------------------------------------------------------

# cfg_case NAME ERE LINE...: a config of these lines is refused by pvft
# create and pvft -N create alike: exit status 3, stdout empty, the one
# error line "pvft create: error: CFG" followed by ERE (its line and key).
cfg_case() {
	local name=$1 re=$2 cfg=$t/$1.cfg
	shift 2
	printf '%s\n' "$@" >"$cfg"
	cfg_refused "$name" "^pvft create: error: $(re_quote "$cfg")$re" "$cfg"
}

# cfg_refused NAME ERE ARGS...: pvft create ARGS and -N create ARGS refused.
cfg_refused() {
	local name=$1 re=$2 dry
	shift 2
	for dry in "" -N; do
		if [ -n "$dry" ]; then
			pv -N create "$@"
		else
			pv create "$@"
		fi
		if [ "$rc" != 3 ] || ! grep -qE -- "$re" "$t/err" || [ -s "$t/out" ] ||
			[ "$(wc -l <"$t/err")" != 1 ]; then
			bad+="
$name (pvft $dry create): exit status $rc, want 3 and one line /$re/: $(cat "$t/err" "$t/out" | head -c 300)"
		fi
	done
}

t_config_errors() {
	local N='name = "bad"' K="kernel = \"$G/count.elf\"" bad="" good=$t/good.cfg
	cfg_case unknown_key ':3: colour: unknown key' "$N" "$K" 'colour = "red"'
	cfg_case xl_key ":3: extra: unknown key \(xl's 'extra' is pvft's 'cmdline'\)" \
		"$N" "$K" 'extra = "x"'
	cfg_case typo_key ":3: ft_timeout: unknown key \(did you mean 'ft_timeout_ms'\?\)" \
		"$N" "$K" 'ft_timeout = 100'
	cfg_case memory_odd ":3: memory: want an even number of MiB .*, not '7'$" \
		"$N" "$K" 'memory = 7'
	cfg_case memory_zero ":3: memory: want an even number of MiB .*, not '0'$" \
		"$N" "$K" 'memory = 0'
	cfg_case memory_huge ":3: memory: want an even number of MiB .*, not '1048576'$" \
		"$N" "$K" 'memory = 1048576'
	cfg_case memory_string ":3: memory: .*not the string 'lots'" \
		"$N" "$K" 'memory = "lots"'
	cfg_case name_space ":1: name: want a domain name.*, not 'a b'$" \
		'name = "a b"' "$K"
	cfg_case name_slash ":1: name: want a domain name.*, not '\.\./x'$" \
		'name = "../x"' "$K"
	cfg_case name_long ":1: name: want a domain name" \
		"name = \"$(printf 'n%.0s' {1..64})\"" "$K"
	cfg_case name_missing ": name: missing \(required\)" "$K" 'memory = 16'
	cfg_case kernel_missing ": kernel: missing \(required\)" "$N" 'memory = 16'
	cfg_case kernel_absent ":2: kernel: cannot read '$t/no/such\.elf': No such file" \
		"$N" "kernel = \"$t/no/such.elf\""
	cfg_case kernel_relative ":2: kernel: cannot read '$t/nope\.elf': No such file" \
		"$N" 'kernel = "nope.elf"'
	cfg_case kernel_dir ":2: kernel: cannot read '$t': not a regular file" \
		"$N" "kernel = \"$t\""
	cfg_case vif_mac ":3: vif: mac 'zz'" "$N" "$K" 'vif = [ "mac=zz" ]'
	cfg_case vif_key ":3: vif: unknown key 'bogus'" \
		"$N" "$K" 'vif = [ "mac=00:16:3e:70:76:01,bogus=1" ]'
	cfg_case vif_ip ":3: vif: ip '300\.1\.1\.1'" \
		"$N" "$K" 'vif = [ "mac=00:16:3e:70:76:01,ip=300.1.1.1,loopback=127.0.0.1:7000" ]'
	cfg_case vif_string ":3: vif: want a list" \
		"$N" "$K" 'vif = "mac=00:16:3e:70:76:01"'
	cfg_case vif_no_host ":3: vif: no host side" \
		"$N" "$K" 'vif = [ "mac=00:16:3e:70:76:01" ]'
	cfg_case arbiter_scheme ":3: ft_arbiter: unknown scheme 'http'" \
		"$N" "$K" 'ft_arbiter = "http://127.0.0.1:7000"'
	cfg_case arbiter_port ":3: ft_arbiter: .*no port" \
		"$N" "$K" 'ft_arbiter = "pvft://nohostport"'
	cfg_case timeout_equal ":4: ft_timeout_ms: want at least twice ft_heartbeat_ms \(100\), not '50'" \
		"$N" "$K" 'ft_heartbeat_ms = 50' 'ft_timeout_ms = 50'
	cfg_case timeout_less ":3: ft_timeout_ms: want at least twice ft_heartbeat_ms \(20\), not '10'" \
		"$N" "$K" 'ft_timeout_ms = 10'
	cfg_case mode ":3: ft_mode: want pair or single, not 'triple'" \
		"$N" "$K" 'ft_mode = "triple"'
	cfg_case log_port ":3: ft_log_port: want a port .*, not '70000'" \
		"$N" "$K" 'ft_log_port = 70000'
	cfg_case migrate_port ":3: ft_migrate_port: want a port from 1 to 65535, not '0'" \
		"$N" "$K" 'ft_migrate_port = 0'
	cfg_case same_nodes ":4: ft_backup_node: want a node id other than the primary's" \
		"$N" "$K" 'ft_primary_node = "x"' 'ft_backup_node = "x"'
	cfg_case duplicate ":4: memory: set twice \(first on line 3\)" \
		"$N" "$K" 'memory = 16' 'memory = 32'
	cfg_case syntax ":3: .*syntax error" "$N" "$K" 'memory = = 3'
	cfg_case no_quote ":3: .*(lexical|syntax) error" "$N" "$K" 'cmdline = "x'
	# Authentication: one way, or plaintext on purpose; x509 all or none.
	cfg_case insecure_key ":4: ft_insecure: plaintext on purpose, yet ft_key \(line 3\) authenticates: want one or the other$" \
		"$N" "$K" 'ft_key = "/etc/pvft/bad.key"' 'ft_insecure = 1'
	cfg_case insecure_value ":3: ft_insecure: want 0 or 1, not '2'$" \
		"$N" "$K" 'ft_insecure = 2'
	cfg_case key_empty ":3: ft_key: want a file's path, not ''$" \
		"$N" "$K" 'ft_key = ""'
	cfg_case tls_alone ":3: ft_tls_cert: want ft_tls_ca, ft_tls_cert and ft_tls_key together \(x509 for the log channel\): ft_tls_ca and ft_tls_key not set$" \
		"$N" "$K" 'ft_tls_cert = "c.pem"'
	cfg_case arbiter_certs_pvft ":3: ft_arbiter_ca: for an etcds:// arbiter \(etcd over https\), not 'embedded'" \
		"$N" "$K" 'ft_arbiter_ca = "a"'
	cfg_case arbiter_cert_alone ":5: ft_arbiter_cert: want ft_arbiter_cert and ft_arbiter_key together \(a client certificate and its key\): ft_arbiter_key not set$" \
		"$N" "$K" 'ft_arbiter = "etcds://10.0.0.3:2379"' 'ft_arbiter_ca = "ca"' 'ft_arbiter_cert = "c"'
	cfg_case etcds_no_ca ":3: ft_arbiter: etcds:// wants ft_arbiter_ca" \
		"$N" "$K" 'ft_arbiter = "etcds://10.0.0.3:2379"'
	cfg_case etcd_user_alone ":5: ft_arbiter_user: want ft_arbiter_user and ft_arbiter_password_file together" \
		"$N" "$K" 'ft_arbiter = "etcds://10.0.0.3:2379"' 'ft_arbiter_ca = "ca"' 'ft_arbiter_user = "u"'
	cfg_case etcd_plain ":3: ft_arbiter: etcd:// is plain http: want etcds:// \(https, with ft_arbiter_ca\), or ft_insecure = 1$" \
		"$N" "$K" 'ft_arbiter = "etcd://10.0.0.3:2379"'
	cfg_case arbiter_no_key ":3: ft_arbiter: a pvft-arbiter create does not start knows the pair by a key derived from the domain key: want ft_key too" \
		"$N" "$K" 'ft_arbiter = "pvft://127.0.0.1:7000"'
	cfg_refused missing_file "^pvft create: error: $(re_quote "$t")/nosuch\.cfg: cannot read: No such file" \
		"$t/nosuch.cfg"
	# KEY=VALUE overrides: checked as the file's settings are.
	printf '%s\n' "$N" "$K" 'memory = 16' >"$good"
	cfg_refused override_no_eq "^pvft create: error: command line: 'memory': want KEY=VALUE" \
		"$good" memory
	cfg_refused override_memory "^pvft create: error: command line: memory: want an even number of MiB .*, not '9'" \
		"$good" memory=9
	cfg_refused override_key "^pvft create: error: command line: colour: unknown key" \
		"$good" colour=red
	cfg_refused override_syntax "^pvft create: error: command line: 'cmdline=\"x': .*error" \
		"$good" 'cmdline="x'
	printf '%s\n' "$N" "$K" 'memory = 16' 'ft_insecure = 1' >"$t/plain.cfg"
	cfg_refused override_insecure "^pvft create: error: $(re_quote "$t")/plain\.cfg:4: ft_insecure: plaintext on purpose, yet ft_key \(the command line\) authenticates" \
		"$t/plain.cfg" ft_key=/etc/pvft/x.key
	[ -z "$bad" ] || { why="refused wrongly:$bad"; return 1; }
	# Nothing was started, no run directory made.
	[ ! -e "$PVFT_RUN_DIR" ] || { why="a refused config made $PVFT_RUN_DIR"; return 1; }
	# The good one is good (the cases above fail for their one line).
	pv -N create "$good"
	rc_is 0
}

# ---- keys ------------------------------------------------------------------

# key_file_ok FILE: mode 0600, 64 hex digits and a newline (lib/tls.h).
key_file_ok() {
	[ "$(stat -c %a "$1")" = 600 ] ||
		{ why="${1#"$t/"}: mode $(stat -c %a "$1"), want 600"; return 1; }
	[ "$(wc -c <"$1")" = 65 ] && grep -qxE '[0-9a-f]{64}' "$1" ||
		{ why="${1#"$t/"}: not 64 hex digits and a newline: $(head -c 80 "$1" | od -c | head -n 2)"; return 1; }
}

# pvft keygen: a domain key, then pvft-arbiter's per-pair keys from it.
t_keygen() {
	local d=$t/d.key d2=$t/d2.key hmac
	# 0600 whatever the umask; the id on stdout, never the key.
	(umask 000 && "$PVFT" keygen "$d" >"$t/out" 2>"$t/err")
	rc=$?
	note_cmd keygen "$d"
	rc_is 0 && key_file_ok "$d" && out_has "^$(re_quote "$d"): a new domain key, id [0-9a-f]{16}\$" || return 1
	! grep -qF "$(cat "$d")" "$t/out" || { why="pvft keygen printed the key"; return 1; }
	cp "$d" "$t/d.old"
	pv keygen "$d"
	rc_is 1 && err_has "$(re_quote "$d") exists: -f overwrites it" || return 1
	cmp -s "$d" "$t/d.old" || { why="a refused keygen changed the file"; return 1; }
	pv keygen -f "$d"
	rc_is 0 && key_file_ok "$d" || return 1
	! cmp -s "$d" "$t/d.old" || { why="keygen -f wrote the same key again"; return 1; }
	pv keygen "$d2"
	rc_is 0 || return 1
	# The arbiter's key for a pair: the same domain key and pair, the
	# same key; another pair or domain key, another one.
	pv keygen --arbiter 42 "$d" "$t/a42"
	rc_is 0 && key_file_ok "$t/a42" && out_has "pvft-arbiter's key for pair 42 \(identity pvft-pair-42\)" || return 1
	mkdir "$t/keys"
	pv keygen -a 42 "$d" "$t/keys"
	rc_is 0 && key_file_ok "$t/keys/42.key" || return 1
	cmp -s "$t/a42" "$t/keys/42.key" || { why="two derivations of pair 42's key differ"; return 1; }
	pv keygen -a 43 "$d" "$t/keys"
	rc_is 0 || return 1
	pv keygen -a 42 "$d2" "$t/b42"
	rc_is 0 || return 1
	! cmp -s "$t/a42" "$t/keys/43.key" && ! cmp -s "$t/a42" "$t/b42" &&
		! cmp -s "$t/a42" "$d" ||
		{ why="the arbiter's keys of pairs 42 and 43, or of two domain keys, or the domain key itself, are the same"; return 1; }
	# As lib/tls.h says: HMAC-SHA256(domain key, "pvft arbiter v1 pair 42").
	hmac=$(printf 'pvft arbiter v1 pair 42' |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$(cat "$d")" | sed 's/.*= *//')
	[ "$hmac" = "$(cat "$t/a42")" ] ||
		{ why="pair 42's key is not HMAC-SHA256(key, 'pvft arbiter v1 pair 42'): $hmac"; return 1; }
	pv keygen -a 42 "$d" "$t/keys"
	rc_is 1 && err_has "42\.key exists: -f overwrites it" || return 1
	pv keygen -f -a 42 "$d" "$t/keys"
	rc_is 0 || return 1
	# Refused: -a without the domain key, a bad pair, a key others may read.
	pv keygen -a 42 "$t/x"
	rc_is 2 && err_has 'missing arguments' || return 1
	pv keygen "$d" "$t/x"
	rc_is 2 && err_has 'too many arguments' || return 1
	pv keygen -a 0 "$d" "$t/x"
	rc_is 2 && err_has "bad pair '0'" || return 1
	pv keygen -a 042 "$d" "$t/x"
	rc_is 2 && err_has "bad pair '042'" || return 1
	pv keygen
	rc_is 2 || return 1
	pv keygen -a 1 "$t/nosuch" "$t/x"
	rc_is 1 && err_has 'nosuch' || return 1
	chmod 644 "$d2"
	pv keygen -a 1 "$d2" "$t/x"
	rc_is 1 && err_has '644' || return 1
	[ ! -e "$t/x" ] || { why="a refused keygen wrote $t/x"; return 1; }
	# A dry run writes nothing.
	pv -N keygen "$t/dry"
	rc_is 0 && [ ! -e "$t/dry" ] || { why="${why:-pvft -N keygen wrote $t/dry}"; return 1; }
}

# A keyed pvft-arbiter (its --keys made by pvft keygen -a) and pvft
# arbiter: with the domain key the pair's questions are answered; without
# it, or about another pair, the arbiter answers nothing (exit 3).
t_arbiter_keys() {
	local d=$t/d.key port i url
	mkdir -p "$t/keys" "$t/state"
	pv keygen "$d"
	rc_is 0 || return 1
	pv keygen -a 42 "$d" "$t/keys"
	rc_is 0 || return 1
	spawn arb "$build/bin/pvft-arbiter" --listen 127.0.0.1:0 --state-dir "$t/state" \
		--keys "$t/keys"
	wait_file "$t/arb.err" 'listening on 127\.0\.0\.1:[0-9]+' || return 1
	port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$t/arb.err" | cut -d: -f2)
	url=pvft://127.0.0.1:$port
	pv arbiter query -k "$d" "$url" 42 1
	rc_is 0 && out_has '^free$' || return 1
	pv arbiter acquire -k "$d" "$url" 42 1 nodeA
	rc_is 0 && out_has '^granted to nodeA$' || return 1
	pv arbiter query --key "$d" "$url" 42 1
	rc_is 0 && out_has '^owned by nodeA$' || return 1
	pv arbiter query "$url" 42 1
	rc_is 3 || return 1
	pv arbiter query -k "$d" "$url" 43 1
	rc_is 3 || return 1
	pv keygen "$t/other.key"
	pv arbiter acquire -k "$t/other.key" "$url" 42 1 evil
	rc_is 3 || return 1
	pv arbiter query -k "$t/nosuch.key" "$url" 42 1
	rc_is 2 && err_has nosuch || return 1
	pv arbiter query --ca "$t/nosuch.pem" etcds://127.0.0.1:1 42 1
	rc_is 2 && err_has 'nosuch\.pem' || return 1
	# Nothing claimed by the refused ones.
	pv arbiter query -k "$d" "$url" 42 1
	rc_is 0 && out_has '^owned by nodeA$'
}

# A config pvft cannot check (the kernel is not an ELF file): pvft-hv
# refuses it; create says so, naming the log, and leaves nothing.
t_create_fails_cleanly() {
	cat >"$t/notelf.cfg" <<EOF
name = "notelf"
kernel = "$t/notelf.cfg"
memory = 16
$CALM
EOF
	pv create "$t/notelf.cfg"
	rc_is 1 && err_has 'not an ELF file' && err_has 'nothing left running' || return 1
	[ ! -e "$PVFT_RUN_DIR/notelf/domain.json" ] || { why="domain.json left"; return 1; }
	[ -z "$(procs_in "$t")" ] || { why="left running: $(procs_in "$t")"; return 1; }
	pv list
	rc_is 0 || return 1
	! grep -q notelf "$t/out" || { why="pvft list shows it: $(cat "$t/out")"; return 1; }
}

# listening PORT: something listens on TCP 127.0.0.1:PORT.
listening() {
	grep -qE "^ *[0-9]+: 0100007F:$(printf '%04X' "$1") 00000000:0000 0A " /proc/net/tcp
}

# squat NAME: pvft-echoserver NAME listening on a free port ($port).
squat() {
	local i
	free_port
	spawn "$1" "$build/bin/pvft-echoserver" --listen "127.0.0.1:$port"
	for ((i = 0; i < T * 10; i++)); do
		listening "$port" && return 0
		sleep 0.1
	done
	why="pvft-echoserver does not listen on $port"
	return 1
}

# A port the config names taken by another program: create fails, says
# which, leaves nothing (it must not take the other program for its own).
t_create_ports_taken() {
	guest_cfg echo5 hello echo
	squat s1 || return 1
	pv create "$t/echo5.cfg" ft_log_port="$port"
	rc_is 1 && err_has "cannot listen on 127\.0\.0\.1:$port: Address already in use" &&
		err_has 'nothing left running' || return 1
	[ -z "$(procs_in "$t")" ] || { why="left running: $(procs_in "$t")"; return 1; }
	squat s2 || return 1
	pv create "$t/echo5.cfg" ft_arbiter_port="$port"
	if [ "$rc" = 0 ]; then
		why="created with ft_arbiter_port $port taken by pvft-echoserver: the embedded arbiter $(jq -r \
			'.embedded_arbiter.pid' "$PVFT_RUN_DIR/echo5/domain.json") is $(gone "$(jq -r \
			'.embedded_arbiter.pid' "$PVFT_RUN_DIR/echo5/domain.json")" && echo dead || echo alive), its log: $(cat "$PVFT_RUN_DIR/echo5/arbiter.log")
$(last_cmd)"
		return 1
	fi
	rc_is 1 && err_has "cannot listen on 127\.0\.0\.1:$port: Address already in use"
}

# ---- 3. create, list, status, destroy --------------------------------------

# has_args PID ARG...: PID's command line holds ARG... in a row.
has_args() {
	local pid=$1 args want
	shift
	mapfile -d '' -t args 2>/dev/null <"/proc/$pid/cmdline"
	want=$(printf ' %s' "$@")
	[[ " ${args[*]} " == *"$want "* ]] && return 0
	why="pid $pid runs '${args[*]}', without '${want# }'"
	return 1
}

# domain_keys_ok DOM KEY PRIMARY BACKUP ARBITER: the replicas run with
# --key KEY (a key file: 0600), the embedded arbiter with --keys DIR,
# DIR/PAIR.key the pair's key derived from KEY (as pvft keygen -a makes
# it) and nothing else in DIR.
domain_keys_ok() {
	local dom=$1 key=$2 dir=$PVFT_RUN_DIR/$1/arbiter-keys pair
	key_file_ok "$key" && has_args "$3" --key "$key" && has_args "$4" --key "$key" &&
		has_args "$5" --keys "$dir" || return 1
	pair=$(grep -oE -- '--pair [0-9]+' <(tr '\0' ' ' <"/proc/$3/cmdline") | cut -d ' ' -f 2)
	[ "$(ls "$dir")" = "$pair.key" ] ||
		{ why="$dir holds '$(ls "$dir" | tr '\n' ' ')', want $pair.key"; return 1; }
	key_file_ok "$dir/$pair.key" || return 1
	"$PVFT" keygen -f -a "$pair" "$key" "$t/want-$dom.key" >/dev/null &&
		cmp -s "$t/want-$dom.key" "$dir/$pair.key" ||
		{ why="$dir/$pair.key is not pvft keygen -a $pair $key"; return 1; }
	! cmp -s "$key" "$dir/$pair.key" || { why="the arbiter holds the domain key itself"; return 1; }
}

t_lifecycle() {
	local rel p b arb
	kv_cfg kv1
	# The kernel relative to the config file.
	rel=$(realpath --relative-to="$t" "$G/kv.elf")
	sed -i "s|^kernel = .*|kernel = \"$rel\"|" "$t/kv1.cfg"
	pv create "$t/kv1.cfg"
	rc_is 0 && said '^kv1: protected' || return 1
	# list: a line per replica, both protected.
	pv list
	rc_is 0 &&
		out_has '(^| )kv1-a +primary +localhost +protected ' &&
		out_has '(^| )kv1-b +backup +localhost +protected ' || return 1
	pv list --json
	rc_is 0 || return 1
	jq -e "type == \"array\" and length == 1 and (.[0] | $JQ_DOMAIN) and
		.[0].name == \"kv1\"" "$t/out" >/dev/null ||
		{ why="pvft list --json: $(head -c 600 "$t/out")"; return 1; }
	status kv1 || return 1
	jq -e "$JQ_DOMAIN" "$t/st.json" >/dev/null ||
		{ why="pvft status --json: fields missing: $(head -c 600 "$t/st.json")"; return 1; }
	node_is kv1-a role primary && node_is kv1-a state protected &&
		node_is kv1-b role backup && node_is kv1-b state protected &&
		node_is kv1-a kernel "$G/kv.elf" && node_is kv1-a pair.epoch 1 &&
		node_is kv1-b pair.epoch 1 || return 1
	p=$(node_pid kv1-a) b=$(node_pid kv1-b)
	arb=$(jq -r '.embedded_arbiter.pid' "$PVFT_RUN_DIR/kv1/domain.json")
	# No ft_key: a domain key of its own, made by create; the embedded
	# arbiter holds only the pair's key derived from it.
	domain_keys_ok kv1 "$PVFT_RUN_DIR/kv1/domain.key" "$p" "$b" "$arb" || return 1
	pv status kv1
	rc_is 0 && out_has '^replica kv1-a on localhost' &&
		out_has '^replica kv1-b on localhost' && out_has 'state +protected' || return 1
	# A dry-run destroy does nothing.
	pv -N destroy kv1
	rc_is 0 && out_has 'would ask kv1-a' || return 1
	# The service works, every write checked.
	client c --clients 4 --duration 2
	client_ok c || return 1
	status kv1 && node_is kv1-a state protected || return 1
	pv destroy kv1
	rc_is 0 || return 1
	wait_gone "$p" 10 && wait_gone "$b" 10 && wait_gone "$arb" 10 || {
		why="after pvft destroy: still running: primary $p $(gone "$p" || echo alive), backup $b $(gone "$b" || echo alive), arbiter $arb $(gone "$arb" || echo alive)"
		return 1
	}
	[ ! -e "$PVFT_RUN_DIR/kv1/domain.json" ] || { why="domain.json left"; return 1; }
	[ "$(stat -c %a "$PVFT_RUN_DIR/kv1")" = 700 ] || { why="domain dir mode $(stat -c %a "$PVFT_RUN_DIR/kv1")"; return 1; }
	pv list
	rc_is 0 || return 1
	! grep -q kv1 "$t/out" || { why="pvft list still shows kv1: $(cat "$t/out")"; return 1; }
	pv status kv1
	rc_is 1 && err_has "no domain 'kv1'"
}

# Keys at create: a domain key of one's own (ft_key), a new one made at
# each start when there is none (the old one authenticates nothing any
# more), key files create cannot use refused as the config's (exit 3,
# nothing started), and plaintext on purpose (ft_insecure), said loudly.
t_create_keys() {
	local run=$PVFT_RUN_DIR k1 a1 pair
	guest_cfg ek hello echo
	# ft_key: the replicas use it; create makes none.
	pv keygen "$t/ek.key"
	rc_is 0 || return 1
	create "$t/ek.cfg" ft_key="$t/ek.key" || return 1
	status ek || return 1
	domain_keys_ok ek "$t/ek.key" "$(node_pid ek-a)" "$(node_pid ek-b)" \
		"$(jq -r '.embedded_arbiter.pid' "$run/ek/domain.json")" || return 1
	[ ! -e "$run/ek/domain.key" ] || { why="create made a domain.key beside ft_key"; return 1; }
	pv destroy ek
	rc_is 0 || return 1
	# None: a new key at each start, and a new arbiter key with it.
	create "$t/ek.cfg" || return 1
	status ek || return 1
	domain_keys_ok ek "$run/ek/domain.key" "$(node_pid ek-a)" "$(node_pid ek-b)" \
		"$(jq -r '.embedded_arbiter.pid' "$run/ek/domain.json")" || return 1
	pair=$(ls "$run/ek/arbiter-keys")
	k1=$(cat "$run/ek/domain.key") a1=$(cat "$run/ek/arbiter-keys/$pair")
	pv destroy ek
	rc_is 0 || return 1
	create "$t/ek.cfg" || return 1
	[ "$(cat "$run/ek/domain.key")" != "$k1" ] &&
		[ "$(cat "$run/ek/arbiter-keys/$pair")" != "$a1" ] ||
		{ why="a new start of ek kept the old domain or arbiter key"; return 1; }
	status ek && node_is ek-a state protected || return 1
	pv destroy ek
	rc_is 0 || return 1
	# A key file create cannot read: the config's fault, nothing started.
	rm -rf "$run"
	pv create "$t/ek.cfg" ft_key="$t/nosuch.key"
	rc_is 3 && err_has "^pvft create: error: command line: ft_key: .*nosuch\.key: No such file" || return 1
	printf 'ft_key = "ek.key"\n' >>"$t/ek.cfg"
	chmod 644 "$t/ek.key"
	pv create "$t/ek.cfg"
	rc_is 3 && err_has "^pvft create: error: $(re_quote "$t")/ek\.cfg:$(wc -l <"$t/ek.cfg"): ft_key: .*644" || return 1
	[ ! -e "$run" ] && [ -z "$(procs_in "$t")" ] ||
		{ why="a refused key started or made something: $(procs_in "$t") $(ls "$run" 2>&1)"; return 1; }
	# Plaintext on purpose: said on stderr, --insecure everywhere.
	sed -i '$d' "$t/ek.cfg"
	pv create -q "$t/ek.cfg" ft_insecure=1
	rc_is 0 && err_has '^pvft create: warning: ek: INSECURE \(ft_insecure = 1\)' || return 1
	status ek || return 1
	has_args "$(node_pid ek-a)" --insecure && has_args "$(node_pid ek-b)" --insecure &&
		has_args "$(jq -r '.embedded_arbiter.pid' "$run/ek/domain.json")" --insecure || return 1
	[ ! -e "$run/ek/domain.key" ] || { why="an insecure domain got a key"; return 1; }
}

# x509 for the log channel (ft_tls_*): both replicas run on one CA's
# certificate; the embedded arbiter still decides with the key create
# made (the backup takes over after a kill -9 of the primary).
t_create_x509() {
	local p b i
	# The certificate names the pair (pvft-hv wants pvft-pair-<ft_pair>).
	printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:pvft-pair-77\n' >"$t/ext"
	{
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-keyout "$t/ca.key" -out "$t/ca.pem" -days 2 -subj "/CN=pvft test ca" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
				-keyout "$t/node.key" -out "$t/node.csr" -subj "/CN=node" &&
			openssl x509 -req -in "$t/node.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" \
				-CAcreateserial -out "$t/node.pem" -days 2 -extfile "$t/ext" &&
			chmod 600 "$t/node.key"
	} >"$t/openssl.out" 2>&1 || { why="openssl: $(tail -n 2 "$t/openssl.out")"; return 1; }
	guest_cfg ex hello echo
	printf '%s\n' 'ft_tls_ca = "ca.pem"' 'ft_tls_cert = "node.pem"' \
		'ft_tls_key = "node.key"' 'ft_pair = 77' >>"$t/ex.cfg"
	create "$t/ex.cfg" || return 1
	status ex && node_is ex-a state protected || return 1
	p=$(node_pid ex-a) b=$(node_pid ex-b)
	has_args "$p" --tls-ca "$t/ca.pem" --tls-cert "$t/node.pem" --tls-key "$t/node.key" &&
		has_args "$b" --tls-ca "$t/ca.pem" --tls-cert "$t/node.pem" --tls-key "$t/node.key" &&
		has_args "$p" --key "$PVFT_RUN_DIR/ex/domain.key" || return 1
	kill -9 "$p"
	for ((i = 0; i < T * 10; i++)); do
		pv status --json ex
		cp "$t/out" "$t/st.json"
		[ "$(st '.replicas[] | select(.node == "ex-b") | .state')" = unprotected ] && break
		sleep 0.1
	done
	node_is ex-b role primary && node_is ex-b state unprotected
}

# ---- 4. promote under load -------------------------------------------------

# promote_trial DOM: a kv pair under client load promoted; the old backup
# live, the old primary gone after handing over; the client's every write.
promote_trial() {
	local dom=$1 old
	kv_cfg "$dom"
	create "$t/$dom.cfg" || return 1
	status "$dom" || return 1
	old=$(node_pid "$dom-a")
	client c --clients 8 --duration 4 --timeout-ms 20
	sleep 1.5
	pv promote "$dom"
	rc_is 0 && out_has "$dom-b is the primary now" || return 1
	wait_gone "$old" || { why="the old primary $old still runs"; return 1; }
	status "$dom" && node_is "$dom-b" role primary && node_is "$dom-b" state unprotected &&
		node_is "$dom-a" state gone || return 1
	grep -q 'handed over' "$PVFT_RUN_DIR/$dom/$dom-a.log" ||
		{ why="$dom-a.log does not say it handed over: $(tail -n 3 "$PVFT_RUN_DIR/$dom/$dom-a.log")"; return 1; }
	client_ok c || return 1
	pv destroy "$dom"
	rc_is 0
}

t_promote_under_load() {
	local i
	for ((i = 1; i <= TRIALS; i++)); do
		promote_trial "kvp$i" || { why="trial $i: $why"; return 1; }
	done
	note="$TRIALS trials"
}

# ---- 5. promote in the middle of the console output ------------------------

t_promote_console() {
	local n=20000 d b i k lines=""
	# The handover's boundary is one exit: a few tries land on different
	# ones (a console write, a block, guest code).
	for k in $(seq "$TRIALS"); do
		d=$t/run/cnt$k
		guest_cfg "cnt$k" count "n=$n sleep_us=20"
		create "$t/cnt$k.cfg" || return 1
		status "cnt$k" || return 1
		b=$(node_pid "cnt$k-b")
		wait_file "$d/cnt$k-a.console" "^$((800 + RANDOM % 800))\$" || return 1
		pv promote "cnt$k"
		rc_is 0 || return 1
		# The guest ends when it has counted: the domain's last replica too.
		wait_gone "$b" || { why="the new primary still runs"; return 1; }
		[ -s "$d/cnt$k-b.console" ] ||
			{ why="the promote came after the end: nothing from cnt$k-b"; return 1; }
		i=$("$SEQCHECK" "$n" "$d/cnt$k-a.console" "$d/cnt$k-b.console" 2>&1) ||
			{ why="seqcheck: $i"; return 1; }
		# A planned handover releases everything first: no tail twice either.
		seq 1 "$n" | cmp -s - <(cat "$d/cnt$k-a.console" "$d/cnt$k-b.console") || {
			why="cnt$k-a.console + cnt$k-b.console is not exactly seq 1 $n ($(wc -l <"$d/cnt$k-a.console") + $(wc -l <"$d/cnt$k-b.console") lines)"
			return 1
		}
		pv destroy "cnt$k"
		lines="$lines $(wc -l <"$d/cnt$k-a.console")"
	done
	note="lines before each promote:$lines"
}

# ---- 6. promote refused ----------------------------------------------------

t_promote_refused() {
	local b i
	guest_cfg echo1 hello echo
	create "$t/echo1.cfg" || return 1
	# A dry run asks nothing.
	pv -N promote echo1
	rc_is 0 && out_has 'would ask echo1-a' || return 1
	status echo1 && node_is echo1-a state protected || return 1
	# The same name again, while it runs.
	pv create "$t/echo1.cfg"
	rc_is 1 && err_has "'echo1' is running" || return 1
	status echo1 && node_is echo1-a state protected || return 1
	pv promote nosuch
	rc_not 0 && err_has "no domain 'nosuch'" || return 1
	# No backup: nothing to promote; the primary goes on alone.
	b=$(node_pid echo1-b)
	kill -9 "$b"
	wait_gone "$b" || return 1
	for ((i = 0; i < T * 10; i++)); do
		status echo1 || return 1
		[ "$(st '.replicas[] | select(.node == "echo1-a") | .state')" = unprotected ] && break
		sleep 0.1
	done
	node_is echo1-a state unprotected && node_is echo1-b state gone || return 1
	pv promote echo1
	rc_not 0 && err_has 'echo1: no protected pair' || return 1
	status echo1 && node_is echo1-a role primary
}

# ---- 7. kill -9 of the primary ---------------------------------------------

t_kill_primary() {
	local p
	kv_cfg kvk
	create "$t/kvk.cfg" || return 1
	status kvk || return 1
	p=$(node_pid kvk-a)
	client c --clients 8 --duration 4 --timeout-ms 20
	sleep 1.5
	kill -9 "$p"
	client_ok c || return 1
	status kvk && node_is kvk-b role primary && node_is kvk-b state unprotected &&
		node_is kvk-a state gone
}

# ---- 8. console ------------------------------------------------------------

t_console() {
	local in=$t/in w d=$t/run/echo2
	guest_cfg echo2 hello echo
	create "$t/echo2.cfg" || return 1
	mkfifo "$in"
	spawn_in "$in" con "$PVFT" console echo2
	exec {w}>"$in"
	wait_file "$t/con.out" 'cmdline="echo"' &&
		wait_file "$t/con.err" 'Ctrl-\] detaches' || { exec {w}>&-; return 1; }
	printf 'ping\n' >&"$w"
	wait_file "$t/con.out" '^echo: ping$' || { exec {w}>&-; return 1; }
	# A planned failover: the console follows the new primary.
	pv promote echo2
	rc_is 0 || { exec {w}>&-; return 1; }
	wait_file "$t/con.err" 'console of echo2 on echo2-b' || { exec {w}>&-; return 1; }
	printf 'pong\n' >&"$w"
	wait_file "$t/con.out" '^echo: pong$' || { exec {w}>&-; return 1; }
	# Ctrl-] detaches: exit 0, the domain runs on.
	printf '\x1d' >&"$w"
	wait_end con 20
	exec {w}>&-
	[ "${rcs[con]:-}" = 0 ] || { why="${why:-pvft console: exit status ${rcs[con]:-?} after Ctrl-]}: $(tail -n 2 "$t/con.err")"; return 1; }
	status echo2 && node_is echo2-b state unprotected || return 1
	# stdin a pipe: the input reaches the guest, then it detaches.
	printf 'again\n\x1d' | "$PVFT" console echo2 >"$t/out" 2>"$t/err"
	rc=$?
	note_cmd console echo2
	rc_is 0 && wait_file "$d/echo2-b.console" '^echo: again$' || return 1
	# More input than the console queue holds (4 KiB): held back, none lost.
	{ seq -f 'line%g' 3000; printf '\x1d'; } | "$PVFT" console echo2 >"$t/out" 2>"$t/err"
	rc=$?
	note_cmd console echo2
	rc_is 0 && wait_file "$d/echo2-b.console" '^echo: line3000$' || return 1
	[ "$(grep -c '^echo: line' "$d/echo2-b.console")" = 3000 ] ||
		{ why="$(grep -c '^echo: line' "$d/echo2-b.console") of 3000 input lines echoed"; return 1; }
	pv console nosuch
	rc_is 1 && err_has "no domain 'nosuch'"
}

# ---- 9. record and replay --------------------------------------------------

t_record_replay() {
	local log=$t/chaos.log cfg=$top/examples/chaos.cfg
	local ovr=("kernel=$G/chaos.elf" cmdline=rounds=50)
	pv record -o "$log" "$cfg" "${ovr[@]}"
	rc_is 0 && out_has '^chaos: done rounds=50 ' || return 1
	cp "$t/out" "$t/recorded"
	[ -s "$log" ] || { why="no log $log"; return 1; }
	pv replay "$log" "$cfg" "${ovr[@]}"
	rc_is 0 || return 1
	cmp -s "$t/recorded" "$t/out" ||
		{ why="the replay's console differs from the recording's"; return 1; }
	# Dry runs: the pvft-hv command, nothing run.
	pv -N record -o "$t/dry.log" "$cfg" "${ovr[@]}"
	rc_is 0 && out_has "pvft-hv --record $(re_quote "$t")/dry\.log .*--cmdline rounds=50 .*chaos\.elf" ||
		return 1
	[ ! -e "$t/dry.log" ] || { why="-N record wrote its log"; return 1; }
	pv -N replay "$log" "$cfg" "${ovr[@]}"
	rc_is 0 && out_has "pvft-hv --replay $(re_quote "$log") " || return 1
	[ -z "$(procs_in "$t")" ] || { why="a dry run left $(procs_in "$t")"; return 1; }
	# A log cut short is unusable (7); one of another guest is refused.
	head -c 5000 "$log" >"$t/cut.log"
	pv replay "$t/cut.log" "$cfg" "${ovr[@]}"
	rc_is 7 && err_has 'truncated' || return 1
	pv replay "$log" "$cfg" "kernel=$G/hello.elf"
	rc_not 0 && err_has 'another guest image'
}

# ---- 10. the control socket through pvft proxy -----------------------------

# ask SOCK FILE: the request lines in FILE through pvft proxy, which ends
# when the server does (on its own, not by a signal); the answer lines in
# $t/answers (the greeting first).
ask() {
	timeout 20 "$PVFT" proxy "$1" <"$2" >"$t/answers" 2>"$t/err"
	rc=$?
	printf '%s\n' "(requests: $(head -c 60 "$2" | tr '\n' '|')...)" >"$t/out"
	cat "$t/answers" >>"$t/out"
	note_cmd proxy "$1"
	[ "$rc" -lt 124 ] && return 0
	why="pvft proxy: exit status $rc ($([ "$rc" = 124 ] && echo "still running after 20 s" ||
		echo "killed by signal $((rc - 128))")):
$(last_cmd)"
	return 1
}

# answer N FILTER: jq -e FILTER holds on answer line N (1: the greeting).
answer() {
	sed -n "${1}p" "$t/answers" | jq -e "$2" >/dev/null 2>&1 && return 0
	why="answer $1 is not $2: '$(sed -n "${1}p" "$t/answers" | head -c 300)'"
	return 1
}

t_control_protocol() {
	local d=$t/run/echo3 sock p bad=""
	guest_cfg echo3 hello echo
	create "$t/echo3.cfg" || return 1
	status echo3 || return 1
	p=$(node_pid echo3-a)
	sock=$d/echo3-a.sock
	printf '%s\n' 'not json' '[1,2]' '{"foo":1}' '{"execute":"nope"}' \
		'{"execute":3}' '{"execute":"query-commands"}' \
		'{"execute":"query-status","id":7}' >"$t/req"
	ask "$sock" "$t/req" && rc_is 0 || return 1
	answer 1 ".pvft.domain == \"echo3\" and .pvft.node == \"echo3-a\" and .pvft.pid == $p" &&
		answer 2 '.error.class == "BadRequest"' &&
		answer 3 '.error.class == "BadRequest"' &&
		answer 4 '.error.class == "BadRequest"' &&
		answer 5 '.error.class == "CommandNotFound" and (.error.desc | test("nope"))' &&
		answer 6 '.error.class == "BadRequest"' &&
		answer 7 '.return | contains(["query-status", "promote", "quit", "console"])' &&
		answer 8 '.return.role == "primary" and .return.state == "protected" and .id == 7' ||
		return 1
	# A line longer than any request: refused; the replica unharmed. The
	# server closes the connection with the line still coming: the proxy
	# ends, on its own (not killed by SIGPIPE).
	{
		head -c 70000 /dev/zero | tr '\0' x
		printf '\n'
	} >"$t/req"
	ask "$sock" "$t/req" || bad+="
$why"
	answer 2 '.error.class == "BadRequest"' || return 1
	printf '{"execute":"query-status"}\n' >"$t/req"
	ask "$sock" "$t/req" && rc_is 0 &&
		answer 2 ".return.role == \"primary\" and .return.state == \"protected\" and .return.pid == $p" ||
		return 1
	# The backup: no console, no promote (InvalidState), status yes.
	printf '%s\n' '{"execute":"console"}' '{"execute":"promote"}' \
		'{"execute":"query-status"}' >"$t/req"
	ask "$d/echo3-b.sock" "$t/req" && rc_is 0 &&
		answer 2 '.error.class == "InvalidState"' &&
		answer 3 '.error.class == "InvalidState"' &&
		answer 4 '.return.role == "backup" and .return.state == "protected"' || return 1
	# Root (or the owner) only: control-protocol.md says mode 0600.
	[ "$(stat -c %A "$sock")" = srw------- ] ||
		bad+="
$(stat -c '%A %n' "$sock"), want srw------- (control-protocol.md: mode 0600)"
	[ "$(stat -c %A "$d")" = drwx------ ] ||
		bad+="
$(stat -c '%A %n' "$d"), want drwx------"
	[ "$(stat -c %A "$t/run")" = drwx------ ] ||
		bad+="
$(stat -c '%A %n' "$t/run"), want drwx------"
	[ -z "$bad" ] || { why="${bad#?}"; return 1; }
}

# ---- 11. help, prefixes, usage ---------------------------------------------

t_help() {
	local c bad=""
	pv help
	rc_is 0 || return 1
	for c in create list status console promote destroy save restore migrate reprotect protect monitor record replay proxy keygen; do
		grep -qE "^  $c " "$t/out" || bad+=" $c"
	done
	[ -z "$bad" ] || { why="pvft help lacks:$bad"; return 1; }
	for c in create list status console promote destroy save restore migrate reprotect protect monitor record replay proxy keygen; do
		pv help "$c"
		cp "$t/out" "$t/help"
		rc_is 0 && out_has "^Usage: pvft .*$c" || return 1
		pv "$c" -h
		rc_is 0 || return 1
		cmp -s "$t/help" "$t/out" || { why="pvft $c -h differs from pvft help $c"; return 1; }
		# An Options heading heads options.
		awk '/^Options:$/ { getline; if ($0 !~ /^  -/) exit 1 }' "$t/help" ||
			bad+=" $c"
	done
	[ -z "$bad" ] || { why="an empty 'Options:' heading in pvft help:$bad"; return 1; }
	pv li
	cp "$t/out" "$t/li"
	rc_is 0 || return 1
	pv list
	cmp -s "$t/li" "$t/out" || { why="pvft li is not pvft list"; return 1; }
	pv re
	rc_is 2 && err_has 'ambiguous' && err_has 'record' && err_has 'replay' || return 1
	pv bogus
	rc_is 2 && err_has "unknown command 'bogus'" || return 1
	pv help bogus
	rc_is 2 || return 1
	pv
	rc_is 2 || return 1
	pv create
	rc_is 2 && err_has 'missing arguments' || return 1
	pv list extra
	rc_is 2 || return 1
	pv --bogus list
	rc_is 2 || return 1
	pv promote -t 0 x
	rc_is 2 || return 1
	pv status nosuch
	rc_is 1 && err_has "no domain 'nosuch'"
}

# ---- save, restore, migrate: what needs no pvft-hv support ----------------

# dry_line WHAT: the dry run's line "  WHAT ..." (its first), without WHAT.
dry_line() {
	grep -m 1 -E "^  $1 " "$t/out" | sed -E "s/^  $1 +//"
}

# call_is FILTER: the dry run's control line is a JSON request FILTER holds on.
call_is() {
	dry_line control | sed -E 's/^[^ ]+ //' | jq -e "$1" >/dev/null 2>&1 && return 0
	why="the control call is not $1: '$(dry_line control)'
$(last_cmd)"
	return 1
}

# cmdline_of PID: its command line, words joined by spaces.
cmdline_of() {
	local args
	mapfile -d '' -t args 2>/dev/null <"/proc/$1/cmdline"
	echo "${args[*]}"
}

# pvft -N migrate and -N save: the destination's pvft-hv command and the
# control call, as the domain was created (its KEY=VALUE settings kept);
# nothing started, the domains untouched.
t_migrate_dry_run() {
	local d=$PVFT_RUN_DIR line want before p
	guest_cfg one hello echo
	echo 'ft_mode = "single"' >>"$t/one.cfg"
	create "$t/one.cfg" memory=32 || return 1
	guest_cfg mp hello echo
	create "$t/mp.cfg" || return 1
	before=$(procs_in "$t" | sort)
	# An unreplicated domain, here: 127.0.0.1 and a free port (PORT in a
	# dry run), its files beside the source's.
	pv -N migrate one localhost
	rc_is 0 && out_has '^pvft migrate one: dry run, nothing is started$' &&
		out_has '^  source   one \(primary\) on localhost$' || return 1
	line=$(dry_line dest)
	want="$build/bin/pvft-hv --control $d/one/one.mig.sock --no-stdin --key $d/one/migrate.key --name one --memory 32 --cmdline echo --backend auto --incoming 127.0.0.1:PORT $G/hello.elf"
	[ "$line" = "$want" ] || { why="the destination's command:
 got  $line
 want $want"; return 1; }
	call_is ".execute == \"migrate\" and .arguments.to == \"127.0.0.1:PORT\" and
		.arguments.key == \"$d/one/migrate.key\" and
		(.arguments.config | test(\"bytes\"))" && dry_line control | grep -q "^$(re_quote "$d/one/one.sock") " ||
		{ why="${why:-the control call does not go to one.sock: $(dry_line control)}"; return 1; }
	# Another host: through ft_remote, the config's ft_migrate_port
	# (8890 by default), the address HOST or -a's; the domain key there
	# is ft_key (no key made here reaches another host).
	pv -N migrate one h2
	rc_is 3 && err_has 'a migration to another host needs the domain key on both' || return 1
	pv destroy one
	make_key "$t/one.key"
	create "$t/one.cfg" memory=32 ft_key="$t/one.key" || return 1
	pv -N migrate one h2
	rc_is 0 && call_is ".arguments.key == \"$t/one.key\"" || return 1
	dry_line dest | grep -qE -- "^\(on h2\) ssh -o BatchMode=yes h2 '.*pvft-hv --control $(re_quote "$d/one/one.mig.sock") .* --incoming h2:8890 " ||
		{ why="not through ft_remote, or not h2:8890: $(dry_line dest)"; return 1; }
	call_is '.arguments.to == "h2:8890"' || return 1
	pv -N migrate --downtime-ms 20 --max-rounds 5 -a 10.0.0.9 one h2
	rc_is 0 && call_is '.arguments.to == "10.0.0.9:8890" and .arguments.downtime_ms == 20 and .arguments.max_rounds == 5' ||
		return 1
	pv destroy one
	create "$t/one.cfg" ft_migrate_port=9100 ft_key="$t/one.key" || return 1
	pv -N migrate one h2
	rc_is 0 && call_is '.arguments.to == "h2:9100"' || return 1
	# A pair: its backup moves, with the backup's own options.
	status mp || return 1
	pv -N migrate mp localhost
	rc_is 0 && out_has '^  source   mp-b \(backup\) on localhost$' || return 1
	line=$(dry_line dest)
	want=$(cmdline_of "$(node_pid mp-b)" | grep -oE -- '--pair .* --max-lag-ms [0-9]+')
	[[ $line == *"--control $d/mp/mp-b.mig.sock --no-stdin --role backup --listen 127.0.0.1:PORT $want --name mp "*"--incoming 127.0.0.1:PORT $G/hello.elf" ]] ||
		{ why="the pair's destination is not the backup's options and --incoming:
 got  $line
 the backup runs with $want"; return 1; }
	call_is '.execute == "migrate"' && dry_line control | grep -q "^$(re_quote "$d/mp/mp-b.sock") " ||
		{ why="${why:-the control call does not go to the backup: $(dry_line control)}"; return 1; }
	# A save: the file absolute, the domain stopped unless -c.
	(cd "$t" && "$PVFT" -N save one saved.pvft) </dev/null >"$t/out" 2>"$t/err"
	rc=$?
	note_cmd -N save one saved.pvft
	rc_is 0 && call_is ".execute == \"save\" and .arguments.file == \"$t/saved.pvft\" and .arguments.keep_running == false" ||
		return 1
	pv -N save -c one "$t/x.pvft"
	rc_is 0 && call_is '.arguments.keep_running == true' || return 1
	[ ! -e "$t/saved.pvft" ] && [ ! -e "$t/x.pvft" ] || { why="a dry run wrote a save file"; return 1; }
	# Nothing started, nothing stopped (one was re-created above).
	[ "$(procs_in "$t" | grep /mp/ | sort)" = "$(grep /mp/ <<<"$before")" ] ||
		{ why="a dry run started or stopped a process of mp: $(procs_in "$t" | tr '\n' '|')"; return 1; }
	for p in $(procs_in "$t" | cut -d ' ' -f 1); do
		[[ "$(cmdline_of "$p")" != *--incoming* ]] ||
			{ why="a dry run started $(cmdline_of "$p")"; return 1; }
	done
	status mp && node_is mp-a state protected && node_is mp-b state protected
}

# Refused before anything is asked or started: usage, a pair's save, a
# pair's primary, a file that is no save file, an existing save file.
t_migrate_refused() {
	local cfg
	guest_cfg mr hello echo
	create "$t/mr.cfg" || return 1
	pv migrate
	rc_is 2 && err_has 'missing arguments' || return 1
	pv migrate mr
	rc_is 2 && err_has 'missing arguments' || return 1
	pv migrate --replica bogus mr localhost
	rc_is 2 && err_has "bad --replica 'bogus': want backup or primary" || return 1
	pv migrate --downtime-ms 0 mr localhost
	rc_is 2 && err_has "bad --downtime-ms '0'" || return 1
	pv migrate mr localhost extra
	rc_is 2 && err_has 'too many arguments' || return 1
	pv migrate --replica primary mr localhost
	rc_is 1 && err_has "mr: a pair's primary does not move live; move its backup to the host" || return 1
	pv migrate nosuch localhost
	rc_is 1 && err_has "no domain 'nosuch'" || return 1
	pv save
	rc_is 2 && err_has 'missing arguments' || return 1
	pv save mr
	rc_is 2 && err_has 'missing arguments' || return 1
	pv save nosuch "$t/x.pvft"
	rc_is 1 && err_has "no domain 'nosuch'" || return 1
	pv save mr "$t/x.pvft"
	rc_is 1 && err_has 'mr: save of a pair: not supported yet; pvft migrate moves a replica' || return 1
	[ ! -e "$t/x.pvft" ] || { why="a refused save wrote its file"; return 1; }
	guest_cfg sv hello echo
	echo 'ft_mode = "single"' >>"$t/sv.cfg"
	create "$t/sv.cfg" || return 1
	echo keep >"$t/old.pvft"
	pv save sv "$t/old.pvft"
	rc_is 1 && err_has "$(re_quote "$t")/old\.pvft exists: -f overwrites it" || return 1
	[ "$(cat "$t/old.pvft")" = keep ] || { why="a refused save changed the file"; return 1; }
	pv restore
	rc_is 2 && err_has 'missing arguments' || return 1
	pv restore a b c
	rc_is 2 && err_has 'too many arguments' || return 1
	# Not a save file: refused, saying so, before anything starts.
	for cfg in "$t/sv.cfg" "$t/old.pvft"; do
		pv restore "$cfg"
		rc_is 1 && err_has "^pvft restore: error: $(re_quote "$cfg"): not a pvft save file" || return 1
		pv restore "$t/sv.cfg" "$cfg"
		rc_is 1 && err_has "^pvft restore: error: $(re_quote "$cfg"): not a pvft save file" || return 1
		pv -N restore "$cfg"
		rc_is 1 && err_has "not a pvft save file" || return 1
	done
	: >"$t/empty.pvft"
	pv restore "$t/empty.pvft"
	rc_is 1 && err_has "empty\.pvft: not a pvft save file \(0 bytes" || return 1
	pv restore "$t"
	rc_is 1 && err_has "not a pvft save file \(not a regular file\)" || return 1
	pv restore "$t/nosuch.pvft"
	rc_is 1 && err_has "nosuch\.pvft: No such file" || return 1
	[ ! -e "$PVFT_RUN_DIR/restored.cfg" ] && [ -z "$(procs_in "$t" | grep -- '--restore')" ] ||
		{ why="a refused restore started something: $(procs_in "$t" | tr '\n' '|')"; return 1; }
	status mr && node_is mr-a state protected && status sv && node_is sv state unprotected
}

# A destination that cannot take the domain (it cannot listen where it
# is told: an address of no host here): migrate says so and exits 1, the
# source runs on as it was, the destination it started is gone.
t_migrate_dest_fails() {
	local src p
	guest_cfg mf hello echo
	make_key "$t/mf.key"
	printf '%s\n' 'ft_mode = "single"' 'ft_remote = "env PVFT_TEST_HOST=%h sh -c %c"' \
		"ft_key = \"$t/mf.key\"" >>"$t/mf.cfg"
	free_port
	create "$t/mf.cfg" ft_migrate_port="$port" || return 1
	status mf || return 1
	src=$(node_pid mf)
	pv migrate -a 192.0.2.1 mf elsewhere
	rc_is 1 && err_has 'the destination exited with status' &&
		err_has "mf: mf keeps running on localhost" || return 1
	status mf && node_is mf state unprotected && [ "$(node_pid mf)" = "$src" ] &&
		node_is mf socket "$PVFT_RUN_DIR/mf/mf.sock" || return 1
	for p in $(procs_in "$t" | cut -d ' ' -f 1); do
		[[ "$(cmdline_of "$p")" != *--incoming* ]] ||
			{ why="the destination was left running: $(cmdline_of "$p")"; return 1; }
	done
}

# ---- re-creating a domain --------------------------------------------------

# destroy, then create of the same config, after a promote: the new
# incarnation is a pair of its own. Its backup killed, its primary goes
# on alone (the arbiter must not answer from the old incarnation's
# decision).
t_recreate_after_promote() {
	local b i
	guest_cfg echo4 hello echo
	create "$t/echo4.cfg" || return 1
	pv promote echo4
	rc_is 0 || return 1
	pv destroy echo4
	rc_is 0 || return 1
	create "$t/echo4.cfg" || return 1
	status echo4 && node_is echo4-a state protected || return 1
	b=$(node_pid echo4-b)
	kill -9 "$b"
	wait_gone "$b" || return 1
	for ((i = 0; i < T * 10; i++)); do
		pv status --json echo4
		cp "$t/out" "$t/st.json"
		[ "$(st '.replicas[] | select(.node == "echo4-a") | .state')" = unprotected ] && return 0
		[ "$(st '.replicas[] | select(.node == "echo4-a") | .state')" = gone ] && break
		sleep 0.1
	done
	why="the backup killed, the primary did not go on alone: status $(st -c \
		'[.replicas[] | {node, role, state}]'); echo4-a.log: $(tail -n 2 "$PVFT_RUN_DIR/echo4/echo4-a.log" | tr '\n' '|')"
	return 1
}

# create of a domain whose guest has ended (its embedded arbiter still
# runs until destroy): either a new domain, or refused with the old one
# still there to destroy. Either way pvft destroy leaves nothing running.
t_recreate_after_end() {
	local a b refused
	guest_cfg cnt2 count "n=2000 sleep_us=0"
	create "$t/cnt2.cfg" || return 1
	status cnt2 || return 1
	a=$(node_pid cnt2-a) b=$(node_pid cnt2-b)
	wait_gone "$a" && wait_gone "$b" || { why="the count guest did not end"; return 1; }
	pv create "$t/cnt2.cfg"
	if [ "$rc" = 0 ]; then
		# held is protected too: the guest's output waits on the backup.
		status cnt2 && { node_is cnt2-a state protected ||
			node_is cnt2-a state held; } || return 1
	else
		refused=$(last_cmd)
		pv list
		grep -q cnt2 "$t/out" || {
			why="a refused create lost the ended domain (pvft list does not show it; its arbiter runs on):
$refused"
			return 1
		}
	fi
}

# An unreplicated domain (ft_mode = "single"): one replica, running
# unprotected, started with its pair's options (an embedded arbiter, the
# pair's id and epoch) so that pvft protect can give it a backup.
t_single() {
	guest_cfg one hello echo
	echo 'ft_mode = "single"' >>"$t/one.cfg"
	create "$t/one.cfg" || return 1
	status one || return 1
	node_is one role primary && node_is one state unprotected &&
		node_is one pair.epoch 1 || return 1
	[ "$(st '.replicas | length')" = 1 ] && [ "$(st '.embedded_arbiter | type')" = object ] &&
		[ "$(st '.protection.state')" = unprotected ] ||
		{ why="a single domain: $(st -c .)"; return 1; }
	printf 'hi\n\x1d' | "$PVFT" console one >"$t/out" 2>"$t/err"
	wait_file "$PVFT_RUN_DIR/one/one.console" '^echo: hi$' || return 1
	pv destroy one
	rc_is 0
}

# save, restore and migrate for real: a single domain saved (it ends and
# leaves the list), restored from the file alone (its config travels in
# it), moved live on this host (another pid, the same guest: it still
# echoes); a pair's backup moved: the pair protected again.
t_save_restore_migrate() {
	local a b
	guest_cfg one hello echo
	echo 'ft_mode = "single"' >>"$t/one.cfg"
	create "$t/one.cfg" || return 1
	pv save one "$t/one.save"
	rc_is 0 && [ -s "$t/one.save" ] || return 1
	pv list
	! grep -q '^one ' "$t/out" || { why="a saved domain is still listed"; return 1; }
	pv restore "$t/one.save"
	rc_is 0 && status one && node_is one state running || return 1
	a=$(node_pid one)
	pv migrate one localhost
	rc_is 0 && out_has 'one: one migrated to localhost' || return 1
	status one && node_is one state running || return 1
	b=$(node_pid one)
	[ "$a" != "$b" ] && wait_gone "$a" || { why="the domain did not move (pid $a, then $b)"; return 1; }
	# Its console goes on in the destination's file.
	printf 'after the move\n\x1d' | "$PVFT" console one >"$t/out" 2>"$t/err"
	wait_file "$PVFT_RUN_DIR/one/one.mig.console" '^echo: after the move' || return 1
	pv destroy one
	rc_is 0 && wait_gone "$b" || return 1
	# A backup is cut at an exit boundary of its replay: a primary whose
	# guest makes exits (count sleeps on its timer), not an idle one.
	guest_cfg mp count "n=1000000 sleep_us=2000"
	create "$t/mp.cfg" || return 1
	status mp || return 1
	a=$(node_pid mp-b)
	pv migrate mp localhost
	rc_is 0 && status mp && node_is mp-b state protected || return 1
	b=$(node_pid mp-b)
	[ "$a" != "$b" ] && wait_gone "$a" || { why="the backup did not move (pid $a, then $b)"; return 1; }
	pv destroy mp
	rc_is 0 && wait_gone "$b"
}

# A replica that runs but does not answer (stopped) is no ended domain:
# create of its name is refused, nothing is started, its socket is left.
t_recreate_stopped() {
	local a b
	guest_cfg stp hello echo
	create "$t/stp.cfg" || return 1
	status stp || return 1
	a=$(node_pid stp-a) b=$(node_pid stp-b)
	kill -STOP "$a"
	pv create "$t/stp.cfg"
	kill -CONT "$a"
	rc_is 1 && err_has "stp-a \(pid $a\) runs but does not answer" || return 1
	gone "$a" || gone "$b" && { why="a replica ended"; return 1; }
	[ -S "$PVFT_RUN_DIR/stp/stp-a.sock" ] || { why="the socket of the stopped replica was removed"; return 1; }
	status stp && node_is stp-a state protected || return 1
	pv destroy stp
	rc_is 0 && wait_gone "$a" && wait_gone "$b"
}

# ---- re-protection (issue 16) ----------------------------------------------

# wait_replica DOM NODE ROLE STATE: until pvft status says replica NODE is
# ROLE and STATE ($T s at most; the last status in $t/st.json).
wait_replica() {
	local i
	for ((i = 0; i < T * 10; i++)); do
		pv status --json "$1"
		cp "$t/out" "$t/st.json"
		[ "$(st --arg n "$2" '.replicas[] | select(.node == $n) |
			"\(.role) \(.state)"' 2>/dev/null)" = "$3 $4" ] && return 0
		sleep 0.1
	done
	why="$1: $2 is not $3 $4 after $T s: $(st -c \
		'[.replicas[] | {node, role, state}]' 2>/dev/null)"
	return 1
}

# wait_protected DOM EPOCH: until pvft status says the domain is protected
# at EPOCH, both replicas protected ($T s at most).
wait_protected() {
	local i
	for ((i = 0; i < T * 10; i++)); do
		pv status --json "$1"
		cp "$t/out" "$t/st.json"
		[ "$(st '"\(.protection.state) \(.protection.epoch)
			\([.replicas[] | .state] | join(" "))"' 2>/dev/null | xargs)" = \
			"protected $2 protected protected" ] && return 0
		sleep 0.1
	done
	why="$1: not protected at epoch $2 after $T s: $(st -c \
		'{protection, replicas: [.replicas[] | {node, role, state, epoch: .pair.epoch}]}' \
		2>/dev/null)"
	return 1
}

# count_runs_on OLD NEW: the count guest's output goes on in NEW (the
# replica that went live after OLD): NEW's lines are consecutive numbers
# from at most OLD's last + 1 (nothing skipped), and reach past OLD's
# last line ($T s at most: it runs).
count_runs_on() {
	local old=$1 new=$2 last i verdict
	last=$(grep -E '^[0-9]+$' "$old" | tail -n 1)
	for ((i = 0; i < T * 10; i++)); do
		verdict=$(awk -v last="${last:-0}" '
			/^[0-9]+$/ { if (n && $1 != prev + 1) { print "line " NR ": " $1 " after " prev; bad = 1; exit }
				if (!n) first = $1; prev = $1; n++ }
			END { if (bad) exit 1
				if (!n) { print "no number yet"; exit 2 }
				if (first > last + 1) { print "starts at " first ", after " last ": a gap"; exit 1 }
				if (prev <= last) { print "at " prev ", not past " last " yet"; exit 2 }
				exit 0 }' "$new")
		case $? in
		0) return 0 ;;
		1) why="${new##*/}: $verdict"; return 1 ;;
		esac
		sleep 0.1
	done
	why="${new##*/}: $verdict after $T s"
	return 1
}

# A replica's command line from the "--pair" on, its node and epoch out.
pair_opts() {
	sed -E 's/ --(node|epoch|connect-timeout) [^ ]+//g' <<<"--pair ${1#* --pair }" |
		grep -oE -- '--pair .* --max-lag-ms [0-9]+'
}

# pvft -N reprotect: refused for a protected pair; after a failover, the
# new backup's command (the backup's options at the next epoch, node
# rp-e2, --incoming) and the control call; on another host through
# ft_remote with ft_log_port and ft_migrate_port; nothing started.
t_reprotect_dry_run() {
	local d=$PVFT_RUN_DIR line a b want
	guest_cfg rd count "n=100000000 sleep_us=2000"
	free_port
	create "$t/rd.cfg" ft_log_port="$port" || return 1
	status rd || return 1
	pv -N reprotect rd
	rc_is 1 && err_has '^pvft reprotect: error: rd: cannot re-protect: the domain is protected: rd-a has a backup \(rd-b\)$' || return 1
	b=$(node_pid rd-b) a=$(node_pid rd-a)
	want=$(pair_opts "$(cmdline_of "$b")")
	kill -9 "$a"
	wait_gone "$a" && wait_replica rd rd-b primary unprotected || return 1
	pv -N reprotect rd
	rc_is 0 && out_has '^pvft reprotect rd: dry run, nothing is started$' &&
		out_has '^  source   rd-b \(primary, unprotected, epoch 1\) on localhost$' &&
		out_has '^  replaces rd-a on localhost \(gone\)$' || return 1
	line=$(dry_line backup)
	[[ $line == "$build/bin/pvft-hv --control $d/rd/rd-e2.sock --no-stdin --role backup --listen 127.0.0.1:PORT --pair "*" --epoch 2 --node rd-e2 "*" --name rd "*"--incoming 127.0.0.1:PORT $G/count.elf" ]] &&
		[ "$(pair_opts "$line")" = "$want" ] ||
		{ why="the new backup's command:
 got  $line
 the backup ran with $want"; return 1; }
	call_is ".execute == \"reprotect\" and .arguments.to == \"127.0.0.1:PORT\" and
		.arguments.backup == \"127.0.0.1:PORT\" and .arguments.key == \"$d/rd/domain.key\" and
		(.arguments.config | test(\"bytes\"))" &&
		dry_line control | grep -q "^$(re_quote "$d/rd/rd-b.sock") " ||
		{ why="${why:-the control call does not go to rd-b: $(dry_line control)}"; return 1; }
	# Another host: ft_remote, ft_log_port, ft_migrate_port, -a's address.
	pv -N reprotect --downtime-ms 20 --max-rounds 5 -a 10.0.0.9 rd h2
	rc_is 0 && dry_line backup | grep -qE -- "^\(on h2\) ssh -o BatchMode=yes h2 '.*--listen 10\.0\.0\.9:$port .*--incoming 10\.0\.0\.9:8890 " ||
		{ why="${why:-not through ft_remote, or not ft_log_port and 8890 on 10.0.0.9: $(dry_line backup)}"; return 1; }
	call_is '.arguments.to == "10.0.0.9:8890" and .arguments.backup == "10.0.0.9:'"$port"'" and
		.arguments.downtime_ms == 20 and .arguments.max_rounds == 5' || return 1
	# Nothing started, nothing changed.
	for p in $(procs_in "$t" | cut -d ' ' -f 1); do
		[[ "$(cmdline_of "$p")" != *--incoming* ]] ||
			{ why="a dry run started $(cmdline_of "$p")"; return 1; }
	done
	status rd && node_is rd-b state unprotected && node_is rd-a state gone
}

# Refused before anything starts: usage, an unknown domain, a protected
# pair (saying so), protect of a pair, reprotect of a single domain;
# the config's ft_reprotect and ft_hosts checked.
t_reprotect_refused() {
	pv reprotect
	rc_is 2 && err_has 'missing arguments' || return 1
	pv reprotect a b c
	rc_is 2 && err_has 'too many arguments' || return 1
	pv reprotect --downtime-ms 0 x
	rc_is 2 && err_has "bad --downtime-ms '0'" || return 1
	pv reprotect nosuch
	rc_is 1 && err_has "no domain 'nosuch'" || return 1
	pv protect nosuch
	rc_is 1 && err_has "no domain 'nosuch'" || return 1
	pv monitor nosuch
	rc_is 1 && err_has "no domain 'nosuch'" || return 1
	guest_cfg rf hello echo
	create "$t/rf.cfg" || return 1
	pv reprotect rf
	rc_is 1 && err_has '^pvft reprotect: error: rf: cannot re-protect: the domain is protected: rf-a has a backup \(rf-b\)$' || return 1
	! err_has 'runs on' || { why="a refused reprotect says the domain runs on: $(last_cmd)"; return 1; }
	pv protect rf
	rc_is 1 && err_has 'rf: cannot re-protect: the domain is protected' || return 1
	guest_cfg rs hello echo
	echo 'ft_mode = "single"' >>"$t/rs.cfg"
	create "$t/rs.cfg" || return 1
	pv reprotect rs
	rc_is 1 && err_has 'rs: created unreplicated \(ft_mode = "single"\): pvft protect gives it its first backup' || return 1
	[ -z "$(procs_in "$t" | grep -- '-e2\.sock')" ] ||
		{ why="a refused reprotect started a backup: $(procs_in "$t" | tr '\n' '|')"; return 1; }
	status rf && node_is rf-a state protected && node_is rf-b state protected &&
		[ "$(st '.protection.state') $(st '.protection.epoch')" = "protected 1" ] || return 1
	status rs && node_is rs state unprotected || return 1
	# A single domain whose arbiter cannot be asked (etcd://, plain
	# http, not on purpose) runs without its pair's options: nothing can
	# join it, and protect says so.
	guest_cfg rn hello echo
	printf '%s\n' 'ft_mode = "single"' 'ft_arbiter = "etcd://127.0.0.1:9"' >>"$t/rn.cfg"
	create "$t/rn.cfg" || return 1
	status rn && node_is rn role single && [ "$(st '.embedded_arbiter')" = null ] || return 1
	pv protect rn
	rc_is 1 && err_has 'rn: rn runs without a pair .*: no backup can join it' || return 1
	# The config: ft_reprotect, ft_hosts.
	cfg_case bad_reprotect ':2: ft_reprotect: want auto or off, not .on.$' \
		'name = "x"' 'ft_reprotect = "on"' 'kernel = "'"$G"'/hello.elf"' || return 1
	cfg_case hosts_string ':2: ft_hosts: want a list of host names: \[ "localhost", "host2" \], not .h1.$' \
		'name = "x"' 'ft_hosts = "h1"' 'kernel = "'"$G"'/hello.elf"' || return 1
	cfg_case hosts_empty ':2: ft_hosts: want at least one host name' \
		'name = "x"' 'ft_hosts = [ ]' 'kernel = "'"$G"'/hello.elf"' || return 1
	cfg_case hosts_bad ":2: ft_hosts: want host names: .* not '-h'$" \
		'name = "x"' 'ft_hosts = [ "localhost", "-h" ]' 'kernel = "'"$G"'/hello.elf"' || return 1
	cfg_case hosts_port ":2: ft_hosts: 'h2' is another host: a backup started there listens on ft_log_port: want it set \(not 0\)$" \
		'name = "x"' 'ft_hosts = [ "localhost", "h2" ]' 'kernel = "'"$G"'/hello.elf"' || return 1
	# auto: create starts the monitor (the dry run shows it).
	pv -N create "$t/rf.cfg" name=rfa ft_reprotect=auto 'ft_hosts=["localhost","h2"]' ft_log_port=7100
	rc_is 0 && out_has "^  monitor  $(re_quote "$build/bin/pvft") monitor --log $(re_quote "$PVFT_RUN_DIR/rfa/monitor.log") rfa$" || return 1
}

# A new backup that cannot take the checkpoint (it cannot listen where it
# is told: an address of no host here): reprotect says why and that the
# domain runs on unprotected, exits 1, stops the backup it started; the
# registry is as it was.
t_reprotect_dest_fails() {
	local a p
	guest_cfg rx count "n=100000000 sleep_us=2000"
	printf '%s\n' 'ft_remote = "env PVFT_TEST_HOST=%h sh -c %c"' >>"$t/rx.cfg"
	free_port
	p=$port
	free_port
	create "$t/rx.cfg" ft_migrate_port="$p" ft_log_port="$port" || return 1
	status rx || return 1
	a=$(node_pid rx-a)
	kill -9 "$a"
	wait_gone "$a" && wait_replica rx rx-b primary unprotected || return 1
	pv reprotect -a 192.0.2.1 rx elsewhere
	rc_is 1 && err_has 'did not wait for the checkpoint.*the new backup rx-e2 was stopped' &&
		err_has '^pvft reprotect: rx runs on unprotected \(rx-b\)$' || return 1
	status rx && node_is rx-b state unprotected && node_is rx-b pair.epoch 1 &&
		node_is rx-a state gone || return 1
	for p in $(procs_in "$t" | cut -d ' ' -f 1); do
		[[ "$(cmdline_of "$p")" != *--incoming* ]] ||
			{ why="the new backup was left running: $(cmdline_of "$p")"; return 1; }
	done
}

# The real thing: a count pair, kill -9 of its primary, pvft reprotect:
# protected at epoch 2 with rp-e2 in rp-a's place; then kill -9 of the
# new primary: the joined backup goes live and the count goes on from
# where it was (the join is real, end to end).
t_reprotect() {
	local a b d=$PVFT_RUN_DIR/rp
	guest_cfg rp count "n=100000000 sleep_us=2000"
	create "$t/rp.cfg" || return 1
	status rp || return 1
	a=$(node_pid rp-a)
	kill -9 "$a"
	wait_gone "$a" && wait_replica rp rp-b primary unprotected || return 1
	[ "$(st '.protection.state') $(st '.protection.epoch')" = "unprotected 1" ] ||
		{ why="after the failover: protection $(st -c .protection)"; return 1; }
	pv reprotect rp
	rc_is 0 && out_has '^rp: protected at epoch 2: rp-e2 on localhost is the backup of rp-b$' &&
		out_has '^rp: checkpoint [0-9.]+ MiB, [0-9]+ pages \([0-9]+ zero\) in [0-9]+ rounds?, paused [0-9.]+ ms; protected [0-9]+ ms after the start$' ||
		{ why="$why
rp-b.log: $(tail -n 4 "$d/rp-b.log" 2>/dev/null | tr '\n' '|')
rp-e2.log: $(tail -n 4 "$d/rp-e2.log" 2>/dev/null | tr '\n' '|')"; return 1; }
	status rp && node_is rp-b role primary && node_is rp-b state protected &&
		node_is rp-b pair.epoch 2 && node_is rp-e2 role backup &&
		node_is rp-e2 state protected && node_is rp-e2 pair.epoch 2 &&
		node_is rp-e2 started_as backup || return 1
	[ "$(st '.protection.state') $(st '.protection.epoch')" = "protected 2" ] &&
		[ "$(st '[.replicas[].node] | sort | join(" ")')" = "rp-b rp-e2" ] ||
		{ why="after reprotect: $(st -c '{protection, nodes: [.replicas[].node]}')"; return 1; }
	pv status rp
	rc_is 0 && out_has '^protection: protected at epoch 2$' || return 1
	pv reprotect rp
	rc_is 1 && err_has 'rp: cannot re-protect: the domain is protected: rp-b has a backup \(rp-e2\)' || return 1
	# The joined backup takes over.
	b=$(node_pid rp-b)
	kill -9 "$b"
	wait_gone "$b" && wait_replica rp rp-e2 primary unprotected || {
		why="$why
rp-e2.log: $(tail -n 4 "$d/rp-e2.log" 2>/dev/null | tr '\n' '|')"
		return 1
	}
	node_is rp-e2 pair.epoch 2 || return 1
	grep -q 'went live' "$d/rp-e2.log" ||
		{ why="rp-e2.log has no 'went live': $(tail -n 3 "$d/rp-e2.log" | tr '\n' '|')"; return 1; }
	count_runs_on "$d/rp-b.console" "$d/rp-e2.console" || return 1
	# And again: the survivor of epoch 2 gets a backup at epoch 3.
	pv reprotect rp
	rc_is 0 && out_has '^rp: protected at epoch 3: rp-e3 on localhost is the backup of rp-e2$' || return 1
	status rp && node_is rp-e3 state protected && node_is rp-e2 state protected
}

# ft_reprotect = "auto": pvft monitor re-protects the domain after each
# kill -9 of its primary (epoch 2, then 3), logging the events; destroy
# ends it with the domain.
t_reprotect_auto() {
	local a m d=$PVFT_RUN_DIR/ra
	guest_cfg ra count "n=100000000 sleep_us=2000"
	echo 'ft_reprotect = "auto"' >>"$t/ra.cfg"
	create "$t/ra.cfg" || return 1
	status ra || return 1
	m=$(st '.monitor.pid')
	[ "$(st '.monitor.running')" = true ] && [ "$(st '.monitor.log')" = "$d/monitor.log" ] ||
		{ why="no monitor running: $(st -c .monitor)"; return 1; }
	a=$(node_pid ra-a)
	kill -9 "$a"
	wait_gone "$a" || return 1
	wait_protected ra 2 || { why="$why; monitor.log: $(tail -n 3 "$d/monitor.log" | tr '\n' '|')"; return 1; }
	node_is ra-b role primary && node_is ra-e2 role backup || return 1
	grep -qE '^pvft monitor\[ra\]: unprotected: ra-b on localhost runs alone at epoch 1 \(realtime_us=[0-9]+\)$' "$d/monitor.log" &&
		grep -qE '^pvft monitor\[ra\]: joining localhost' "$d/monitor.log" &&
		grep -qE '^pvft monitor\[ra\]: protected epoch 2: ra-e2 on localhost is the backup of ra-b; .*\(realtime_us=[0-9]+\)$' "$d/monitor.log" ||
		{ why="monitor.log: $(tr '\n' '|' <"$d/monitor.log")"; return 1; }
	# The new primary killed: the joined backup goes live, and gets one.
	a=$(node_pid ra-b)
	kill -9 "$a"
	wait_gone "$a" || return 1
	wait_protected ra 3 || { why="$why; monitor.log: $(tail -n 3 "$d/monitor.log" | tr '\n' '|')"; return 1; }
	node_is ra-e2 role primary && node_is ra-e3 role backup || return 1
	grep -qE '^pvft monitor\[ra\]: protected epoch 3: ra-e3 on localhost is the backup of ra-e2' "$d/monitor.log" ||
		{ why="monitor.log: $(tr '\n' '|' <"$d/monitor.log")"; return 1; }
	pv destroy ra
	rc_is 0 && wait_gone "$m" ||
		{ why="${why:-the monitor (pid $m) did not end with the domain}"; return 1; }
}

# pvft protect: a domain created unreplicated gets its first backup and
# is a pair from then on; its primary killed, the backup goes live.
t_protect_single() {
	local a d=$PVFT_RUN_DIR/ps
	guest_cfg ps count "n=100000000 sleep_us=2000"
	echo 'ft_mode = "single"' >>"$t/ps.cfg"
	create "$t/ps.cfg" || return 1
	status ps && node_is ps state unprotected || return 1
	pv protect ps
	rc_is 0 && out_has '^ps: protected at epoch 2: ps-e2 on localhost is the backup of ps$' ||
		{ why="$why
ps.log: $(tail -n 3 "$d/ps.log" 2>/dev/null | tr '\n' '|')
ps-e2.log: $(tail -n 3 "$d/ps-e2.log" 2>/dev/null | tr '\n' '|')"; return 1; }
	status ps && node_is ps state protected && node_is ps-e2 state protected || return 1
	a=$(node_pid ps)
	kill -9 "$a"
	wait_gone "$a" && wait_replica ps ps-e2 primary unprotected || return 1
	count_runs_on "$d/ps.console" "$d/ps-e2.console"
}

# --- run them ---------------------------------------------------------------

for f in "$PVFT" "$KVC" "$G/kv.elf" "$G/count.elf" "$G/hello.elf" "$G/chaos.elf"; do
	[ -e "$f" ] || { echo "$f missing: make all first"; exit 1; }
done
for f in jq openssl; do
	command -v "$f" >/dev/null || { echo "$f missing (make deps)"; exit 1; }
done

run_all
summary
