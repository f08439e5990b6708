#!/usr/bin/env bash
# The bash completion (dom0-tools/bash-completion/pvft), driven as bash
# drives it: COMP_WORDS and COMP_CWORD set, the function called, COMPREPLY
# checked. A stand-in pvft prints the full command set's help and a
# `pvft list`, so every kind of argument is covered whatever the real
# pvft implements today; the real build/bin/pvft, pvft-hv and pvft-arbiter
# are then checked to be read right. Last line: "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
[[ $build == /* ]] || build=$top/$build

# shellcheck source=tests/lib.sh
. "$top/tests/lib.sh"
harness_begin flat
PASS_WORD="ok  "

# A pvft that answers `help`, `help CMD` and `list` as pvft does.
mkdir "$tmp/fake"
cat >"$tmp/fake/pvft" <<'EOF'
#!/usr/bin/env bash
cmd_help() { # NAME USAGE [OPTIONS...]
	local name=$1 usage=$2
	shift 2
	printf 'Usage: pvft [-v] %s %s\n\nWhat %s does.\n' "$name" "$usage" "$name"
	[ $# -gt 0 ] && printf '\nOptions:\n' && printf '%s\n' "$@"
	return 0
}
case ${1:-} in
help)
	case ${2:-} in
	"")
		cat <<'HELP'
Usage: pvft [-v] [-N] COMMAND [ARGS]

Fault tolerance for paravirtual domains on KVM.

Global options (before COMMAND):
  -v, --verbose   more log output on stderr (repeatable)
  -N, --dry-run   print what would be started or done; start nothing
  -h, --help      this text

Commands (any unambiguous prefix will do):
  create        Start a protected domain from a config file
  list          List the domains and their replicas
  status        Everything known about one domain
  console       Attach to the console of a domain's primary
  promote       Planned failover to the backup
  destroy       Stop both replicas of a domain
  save          Save a running domain to a file
  restore       Start a domain from a save file
  migrate       Move a running domain to another host
  reprotect     Give a domain running alone a new backup
  protect       Give an unreplicated domain its first backup
  monitor       Re-protect a domain whenever it runs unprotected
  log-dump      Print a pvft log file
  record        Run a config's domain once, recording it
  replay        Replay a recorded log, checking it
  arbiter       Ask an arbiter
  keygen        Make a domain key
  proxy         Connect stdin and stdout to a control socket
  help          Show the commands, or one command's help

'pvft help COMMAND' or 'pvft COMMAND -h' gives one command's help.
HELP
		;;
	create) cmd_help create "[-q] CFG [KEY=VALUE...]" \
		"  -q, --quiet     no progress lines" ;;
	list) cmd_help list "[-j|--json]" ;;
	status) cmd_help status "[--json] DOM" "  -j, --json   JSON" ;;
	console) cmd_help console "DOM" ;;
	promote) cmd_help promote "[-t SECONDS] DOM" \
		"  -t, --timeout SECONDS  give up after SECONDS" ;;
	destroy) cmd_help destroy "DOM" ;;
	save) cmd_help save "[-c] [-f] DOM FILE" \
		"  -c, --checkpoint  keep it running" "  -f, --force       overwrite" ;;
	restore) cmd_help restore "[-q] [CFG] FILE" "  -q, --quiet     quiet" ;;
	migrate) cmd_help migrate "[--replica backup|primary] [-a ADDR] DOM HOST" \
		"  -r, --replica R       which replica" \
		"  -a, --address ADDR    where" \
		"      --downtime-ms N   the pause" ;;
	reprotect | protect) cmd_help "$2" "[-a ADDR] [--downtime-ms N] [--max-rounds N] DOM [HOST]" \
		"  -a, --address ADDR    where" \
		"      --downtime-ms N   the pause" \
		"      --max-rounds N    the rounds" ;;
	monitor) cmd_help monitor "[--log FILE] DOM" \
		"  -l, --log FILE  append to FILE" ;;
	log-dump) cmd_help log-dump "[--json] [--summary] FILE" \
		"  -j, --json      JSON" "  -s, --summary   summary only" ;;
	record) cmd_help record "[-o LOG] CFG [KEY=VALUE...]" \
		"  -o, --output LOG  the log (default NAME.log)" ;;
	replay) cmd_help replay "LOG CFG" ;;
	keygen) cmd_help keygen "[-f] FILE" \
		"  -f, --force         overwrite" \
		"  -a, --arbiter PAIR  an arbiter's key" ;;
	arbiter) cmd_help arbiter "[OPTIONS] acquire URL PAIR EPOCH NODE" \
		"  -t, --timeout-ms MS  give up after MS ms" \
		"  -j, --json           JSON" ;;
	proxy) cmd_help proxy "SOCKET" ;;
	help) cmd_help help "[COMMAND]" ;;
	*) exit 2 ;;
	esac
	;;
list)
	cat <<'LIST'
NAME  ROLE     HOST   STATE    EPOCH  LAG   LOG   UPTIME
web   primary  hostA  running  1      2ms   1.2   5m
      backup   hostB  replay   1      2ms   1.2   5m
kv    primary  hostB  running  2      1ms   0.4   1h
kv    backup   hostA  replay   2      1ms   0.4   1h
LIST
	;;
*) exit 2 ;;
esac
EOF
chmod 755 "$tmp/fake/pvft"

# Files to complete: configs, other files, a directory.
mkdir -p "$tmp/cwd/sub.d"
touch "$tmp/cwd/a.cfg" "$tmp/cwd/b.cfg" "$tmp/cwd/notes.txt" "$tmp/cwd/run.log"

# shellcheck source=/dev/null
source "$top/dom0-tools/bash-completion/pvft"

# check NAME 'EXPECTED WORDS' WORD... : completing the last WORD gives
# exactly the expected words, in any order.
check() {
	local name=$1 want words got func
	read -ra words <<<"$2"
	shift 2
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	func=$(complete -p -- "${COMP_WORDS[0]##*/}" 2>/dev/null |
		sed -n 's/.*-F \([^ ]*\) .*/\1/p')
	if [ -z "$func" ]; then
		bad "$name: no completion registered for ${COMP_WORDS[0]##*/}"
		return
	fi
	"$func"
	got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | xargs)
	want=$(printf '%s\n' "${words[@]}" | sed '/^$/d' | sort | xargs)
	if [ "$got" = "$want" ]; then
		ok "$name"
	else
		bad "$name: [$*] completed to '$got', want '$want'"
	fi
}

# has NAME 'WORDS' WORD... : the completion includes every one of WORDS.
has() {
	local name=$1 w words missing=""
	read -ra words <<<"$2"
	shift 2
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$func_has"
	for w in "${words[@]}"; do
		printf '%s\n' "${COMPREPLY[@]}" | grep -qxF -- "$w" || missing+=" $w"
	done
	if [ -z "$missing" ]; then
		ok "$name"
	else
		bad "$name: [$*] completed to '${COMPREPLY[*]}', missing$missing"
	fi
}

cd "$tmp/cwd" || exit 1
all_cmds="create list status console promote destroy save restore migrate reprotect protect monitor log-dump record replay arbiter keygen proxy help"
# Host names for a new backup's HOST: bash's, from $HOSTFILE.
printf '192.0.2.1 hostA\n192.0.2.2 hostB\n' >"$tmp/hosts"
HOSTFILE=$tmp/hosts

# ---- the stand-in pvft: every command, every kind of argument ----
PATH=$tmp/fake:$PATH
check "commands" "$all_cmds" pvft ""
check "command prefix" "console create" pvft c
check "unique prefix" "create" pvft cr
check "global options" "-v -N -h --verbose --dry-run --help" pvft -
check "after global options" "list log-dump" pvft -v -N l
check "create options" "-q --quiet -h --help" pvft create -
check "options of a prefix" "-q --quiet -h --help" pvft cre -
check "list options" "-j --json -h --help" pvft list -
check "create: configs and directories" "a.cfg b.cfg sub.d" pvft create ""
check "create: a config by prefix" "a.cfg" pvft create a
check "create: nothing after the config" "" pvft create a.cfg ""
check "create -q: configs" "a.cfg b.cfg sub.d" pvft create -q ""
check "status: domains from pvft list, once each" "web kv" pvft status ""
check "console: a domain by prefix" "kv" pvft console k
check "promote -t N: domains" "web kv" pvft promote -t 5 ""
check "promote -t: no guess for its value" "" pvft promote -t ""
check "promote --timeout N: domains" "web kv" pvft promote --timeout 5 ""
check "destroy: one domain only" "" pvft destroy web ""
check "record -o: any file" "a.cfg b.cfg notes.txt run.log sub.d" pvft record -o ""
check "record -o LOG: configs" "a.cfg b.cfg sub.d" pvft record -o x.log ""
check "replay: the log first" "run.log" pvft replay r
check "replay LOG: then the config" "a.cfg b.cfg sub.d" pvft replay run.log ""
check "log-dump: files" "notes.txt" pvft log-dump n
check "proxy: a socket file" "run.log" pvft proxy ru
check "log-dump options" "-j --json -s --summary -h --help" pvft log-dump -
check "arbiter: the operation" "acquire advance query" pvft arbiter ""
check "arbiter -t MS: the operation" "acquire advance" pvft arbiter -t 100 a
check "keygen: any file" "a.cfg b.cfg notes.txt run.log sub.d" pvft keygen ""
check "keygen options" "-f --force -a --arbiter -h --help" pvft keygen -
check "keygen -a PAIR: the domain key, a file" "notes.txt" pvft keygen -a 42 n
check "keygen -a: no guess for the pair" "" pvft keygen -a ""
check "keygen -a PAIR KEY: the output" "run.log" pvft keygen -a 42 a.cfg ru
check "keygen -a PAIR KEY FILE: nothing more" "" pvft keygen -a 42 a.cfg b.cfg ""
check "save: domains" "web kv" pvft save ""
check "save DOM: the file" "notes.txt" pvft save web n
check "save -c DOM FILE: nothing more" "" pvft save -c web x.sav ""
check "restore: files" "a.cfg b.cfg notes.txt run.log sub.d" pvft restore ""
check "restore CFG: the save file" "run.log" pvft restore a.cfg ru
check "migrate: domains" "web kv" pvft migrate ""
check "migrate --replica: its values" "backup primary" pvft migrate --replica ""
check "migrate --replica R: domains" "web kv" pvft migrate --replica backup ""
check "migrate -a ADDR: domains" "kv" pvft migrate -a 10.0.0.2 k
check "migrate options" "-r --replica -a --address --downtime-ms -h --help" pvft migrate -
check "reprotect: domains" "web kv" pvft reprotect ""
check "reprotect DOM: a host" "hostA hostB" pvft reprotect web host
check "reprotect DOM HOST: nothing more" "" pvft reprotect web hostA ""
check "protect -a ADDR: domains" "kv" pvft protect -a 10.0.0.2 k
check "reprotect options" "-a --address --downtime-ms --max-rounds -h --help" pvft reprotect -
check "monitor: domains" "web kv" pvft monitor ""
check "monitor --log: files" "run.log" pvft monitor --log ru
check "help: commands" "record replay restore reprotect" pvft help re
check "ambiguous prefix: nothing" "" pvft re -
check "unknown command: nothing" "" pvft frobnicate ""

# ---- no pvft to ask: the built-in lists ----
PATH=/usr/bin:/bin
check "no pvft: commands" "$all_cmds" pvft ""
check "no pvft: create options" "-q --quiet -h --help" pvft create -
check "no pvft: promote -t N: no guess for N" "" pvft promote -t ""
check "no pvft: keygen options" "-f --force -a --arbiter -h --help" pvft keygen -
check "no pvft: migrate --replica: its values" "backup primary" pvft migrate -r ""
check "no pvft: reprotect options" "-a --address --downtime-ms --max-rounds -h --help" pvft reprotect -
check "no pvft: monitor options" "-l --log -h --help" pvft monitor -

# ---- the real programs ----
PATH=$build/bin:/usr/bin:/bin
func_has=_pvft
real_cmds=$(pvft help | awk '/^Commands/ { c = 1; next } c && /^$/ { exit }
	c && /^  +[a-z]/ { print $1 }' | xargs)
has "real pvft: every command of pvft help" "$real_cmds help log-dump arbiter" pvft ""
has "real pvft: log-dump options" "-j --json -s --summary" pvft log-dump -
has "real pvft: arbiter options" "-t --timeout-ms -j --json -k --key --ca --cert --cert-key" pvft arbiter -
check "real pvft: arbiter -k: files" "notes.txt" pvft arbiter -k n
has "real pvft: keygen options" "-f --force -a --arbiter" pvft keygen -
has "real pvft: record options" "-o --output -l --limit" pvft record -
has "real pvft: save options" "-c --checkpoint -f --force" pvft save -
has "real pvft: migrate options" "-r --replica -a --address --downtime-ms --max-rounds" pvft migrate -
check "real pvft: migrate --replica: its values" "backup primary" pvft migrate --replica ""
has "real pvft: reprotect options" "-a --address --downtime-ms --max-rounds" pvft reprotect -
has "real pvft: protect options" "-a --address --downtime-ms --max-rounds" pvft protect -
has "real pvft: monitor options" "-l --log" pvft monitor -
PATH=/usr/bin:/bin
has "real pvft by its path" "$real_cmds" "$build/bin/pvft" ""
PATH=$build/bin:/usr/bin:/bin
check "pvft-hv: a long option" "--record --record-limit --replay" pvft-hv --re
check "pvft-hv --role: its values" "primary backup" pvft-hv --role ""
check "pvft-hv --memory: no guess" "" pvft-hv --memory ""
check "pvft-hv --key: files" "a.cfg b.cfg notes.txt run.log sub.d" pvft-hv --key ""
check "pvft-hv --tls-ca: files" "notes.txt" pvft-hv --tls-ca n
check "pvft-hv -m: no guess" "" pvft-hv -m ""
check "pvft-arbiter: its options" "--listen --line-timeout-ms" pvft-arbiter --l
check "pvft-arbiter --keys: directories" "sub.d" pvft-arbiter --keys ""
check "pvft-arbiter --state-dir: directories" "sub.d" pvft-arbiter --state-dir ""

summary
