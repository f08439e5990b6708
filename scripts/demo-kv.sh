#!/usr/bin/env bash
# make demo's main job: the kv guest as a protected pair made with `pvft
# create` (loopback vif, embedded arbiter, nothing that needs root), 16
# pvft-kv-client clients with a live progress line, kill -9 of the primary
# midway, the failover shown as it happens, the domain given a new backup
# by itself (ft_reprotect = "auto": pvft monitor), then a summary of what
# the client measured and checked: no acknowledged write lost or applied
# twice. A timeline plot of the run (throughput and latency around the
# kill; gnuplot, PNG) goes to BUILD/demo/kv-failover.png, its data beside
# it (kv-failover.csv, and the client's report, kv-client.json).
#
#   scripts/demo-kv.sh BUILD [--short]
#
# --short (for make check): an 8 s run; the same two kills and checks.
# Everything runs in a private PVFT_RUN_DIR (never the system's
# /run/pvft); the EXIT trap destroys the domain, then ends by PID what is
# still running of what this script started, and removes the temp files.
# Exit status: 0 the failover happened and the client's checks passed
# (lost writes 0, applied twice 0); 1 otherwise.
set -u
build=${1:-build}
duration=16
if [ "${2:-}" = --short ]; then
	duration=8
elif [ $# -gt 1 ]; then
	echo "usage: $0 BUILD [--short]" >&2
	exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
PVFT=$build/bin/pvft
KVC=$build/bin/pvft-kv-client
cfg=$top/examples/kv.cfg
name=demo-kv
out=$build/demo
png=$out/kv-failover.png
csv=$out/kv-failover.csv
json=$out/kv-client.json
T=30 # seconds: the longest the failover, or the client past its end, may take

step() {
	printf '\n\033[1m== %s\033[0m\n' "$1"
	[ $# -gt 1 ] && printf '$ %s\n' "$2"
}

# Microseconds of the wall clock: the "went live" line's realtime_us is too.
now_us() { echo "${EPOCHREALTIME/./}"; }

# A port free for both TCP and UDP on 127.0.0.1 (the vif forwards UDP).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if command -v ss >/dev/null; then
			[ -z "$(ss -Htuan "sport = :$p")" ] && break
		else
			(echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
		fi
	done
	echo "$p"
}

run=$(mktemp -d)
export PVFT_RUN_DIR=$run/run
client_pid=""
# The processes pvft create started (the replicas, the embedded arbiter),
# by PID, from domain.json: what pvft destroy leaves is ended by these.
started() {
	jq -r '.replicas[].pid, .embedded_arbiter.pid // empty, .monitor.pid // empty' \
		"$PVFT_RUN_DIR/$name/domain.json" 2>/dev/null
}
cleanup() {
	local p pids
	[ -n "$client_pid" ] && kill "$client_pid" 2>/dev/null
	pids=$(started)
	if [ -e "$PVFT_RUN_DIR/$name/domain.json" ]; then
		timeout -k 5 "$T" "$PVFT" destroy "$name" >/dev/null ||
			echo "demo-kv: pvft destroy $name failed" >&2
	fi
	# Whatever destroy left: ours only if it still runs a pvft program.
	for p in $pids; do
		grep -qs pvft "/proc/$p/cmdline" && kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$out"
rm -f "$png" "$csv" "$json"
for f in "$PVFT" "$KVC" "$cfg"; do
	[ -e "$f" ] || { echo "demo-kv: $f: missing" >&2; exit 1; }
done

# The replica's log lines that tell the story of its failover.
story() {
	grep -hE 'asking the arbiter|arbiter gave|went live|took over' "$1" |
		sed 's/^/  /'
}

# ---- the pair ---------------------------------------------------------------
port=$(free_port)
vif="mac=00:16:3e:70:76:01,ip=10.0.2.15,loopback=127.0.0.1:$port"
cmdline="ip=10.0.2.15/24 gw=10.0.2.2 port=$port"
step "create the kv pair: embedded arbiter, backup, primary (on loopback); re-protected by itself after a failover" \
	"pvft create examples/kv.cfg 'vif=[\"$vif\"]' 'cmdline=\"$cmdline\"' name=$name ft_reprotect=auto"
timeout -k 5 120 "$PVFT" create "$cfg" "vif=[\"$vif\"]" "cmdline=\"$cmdline\"" \
	"name=$name" ft_reprotect=auto </dev/null
rc=$?
printf -- '-> exit status %d\n' "$rc"
if [ "$rc" -ne 0 ]; then
	echo "demo-kv: pvft create failed; the replicas' logs:" >&2
	tail -n 20 "$PVFT_RUN_DIR/$name"/*.log >&2 2>/dev/null
	exit 1
fi

status=$("$PVFT" status --json "$name")
replica() { # ROLE FIELD: a field of the replica in that role
	jq -r --arg r "$1" ".replicas[] | select(.role == \$r) | .$2" <<<"$status"
}
primary=$(replica primary node)
backup=$(replica backup node)
ppid=$(replica primary pid)
blog=$(replica backup log_file)
if [ -z "$primary" ] || [ -z "$backup" ] || ! [ "$ppid" -gt 0 ] 2>/dev/null; then
	echo "demo-kv: pvft status --json $name shows no primary and backup:" >&2
	echo "$status" >&2
	exit 1
fi

step "the pair" "pvft list"
"$PVFT" list

# ---- load, two kills, each failover followed by re-protection ----------------
# The first kill at 30 % of the run (the primary); the second, of the new
# primary, once the monitor has protected the domain again and 60 % of
# the run has passed.
first=$(awk -v d="$duration" 'BEGIN { print d * 0.3 }')
step "16 kv clients for $duration s, each write checked; kill -9 the primary after $first s, and the new primary once protected again" \
	"pvft-kv-client --server 127.0.0.1:$port --clients 16 --duration $duration --timeout-ms 20 --progress --timeline $csv --json"
t0=$(now_us)
"$KVC" --server "127.0.0.1:$port" --clients 16 --duration "$duration" \
	--timeout-ms 20 --progress --timeline "$csv" --json >"$json" </dev/null &
client_pid=$!
mlog=$PVFT_RUN_DIR/$name/monitor.log
# sleep_until SECONDS: since the client started.
sleep_until() {
	sleep "$(awk -v t0="$t0" -v now="$(now_us)" -v h="$1" \
		'BEGIN { s = h - (now - t0) / 1e6; print (s > 0 ? s : 0) }')"
}
secs() { awk -v a="$t0" -v b="$1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }'; }
# The timeline's events: "SECONDS LABEL" lines, for the plot and summary.
events=()
# failover N VICTIM-NODE VICTIM-PID SURVIVOR-NODE: kill -9 the victim,
# watch until the survivor is the primary, then until the monitor says
# protected at epoch N+1. Sets live_ms[N], failover_ms[N], reprot_ms[N].
declare -A live_ms failover_ms reprot_ms
failover() {
	local n=$1 victim=$2 vpid=$3 surv=$4 seen="" st now line role t_kill
	local slog deadline i prot_us join_us live_us
	t_kill=$(now_us)
	kill -9 "$vpid"
	echo "$(secs "$t_kill") s: kill -9 $vpid (the primary, node $victim)"
	events+=("$(secs "$t_kill") kill -9 #$n")
	deadline=$((t_kill + T * 1000000))
	while [ "$(now_us)" -lt "$deadline" ]; do
		st=$("$PVFT" status --json "$name" 2>/dev/null)
		now=$(now_us)
		line=$(jq -r '[.replicas[] | "\(.node): \(.role // "-") \(.state)"] | join(", ")' \
			<<<"$st" 2>/dev/null)
		if [ -n "$line" ] && [ "$line" != "$seen" ]; then
			printf '  +%4d ms  %s\n' $(((now - t_kill) / 1000)) "$line"
			seen=$line
		fi
		role=$(jq -r --arg n "$surv" '.replicas[] | select(.node == $n) | .role' \
			<<<"$st" 2>/dev/null)
		if [ "$role" = primary ]; then
			live_ms[$n]=$(((now - t_kill) / 1000))
			break
		fi
		sleep 0.1
	done
	slog=$(jq -r --arg n "$surv" '.replicas[] | select(.node == $n) | .log_file' <<<"$st" 2>/dev/null)
	if [ -z "${live_ms[$n]:-}" ]; then
		echo "failover $n: $surv did not take over in $T s; its log says:"
		tail -n 20 "$slog" 2>/dev/null | sed 's/^/  /'
		return 1
	fi
	live_us=$(sed -n 's/.*went live.*realtime_us=\([0-9]*\).*/\1/p' "$slog" | tail -n 1)
	if [ -n "$live_us" ]; then
		failover_ms[$n]=$(((live_us - t_kill) / 1000))
		events+=("$(secs "$live_us") live #$n")
		echo "failover $n: $surv took over in ${failover_ms[$n]} ms (kill -9 to its \"went live\")"
	fi
	story "$slog"
	# ft_reprotect = "auto": pvft monitor gives the survivor a new
	# backup, live, while the clients go on.
	for ((i = 0; i < T * 10; i++)); do
		grep -q "protected epoch $((n + 1))" "$mlog" 2>/dev/null && break
		sleep 0.1
	done
	join_us=$(grep 'joining ' "$mlog" 2>/dev/null | tail -n 1 | sed -n 's/.*realtime_us=\([0-9]*\).*/\1/p')
	prot_us=$(sed -n "s/.*protected epoch $((n + 1)):.*realtime_us=\([0-9]*\).*/\1/p" "$mlog" | tail -n 1)
	[ -n "$join_us" ] && [ "$join_us" -gt "$t_kill" ] && events+=("$(secs "$join_us") joining #$n")
	if [ -n "$prot_us" ]; then
		reprot_ms[$n]=$(((prot_us - t_kill) / 1000))
		events+=("$(secs "$prot_us") protected #$n")
		echo "re-protection $n: protected again at epoch $((n + 1)), ${reprot_ms[$n]} ms after the kill (pvft monitor):"
	else
		echo "re-protection $n: not protected again in $T s; pvft monitor says:"
	fi
	grep -E 'unprotected|joining|protected epoch|failed' "$mlog" | tail -n 4 | sed 's/^/  /'
}
sleep_until "$first"
failover 1 "$primary" "$ppid" "$backup"
# The second: the new primary (the first backup), its backup the joined one.
status=$("$PVFT" status --json "$name")
joined=$(jq -r --arg n "$backup" '.replicas[] | select(.node != $n) | .node' <<<"$status" | head -n 1)
bpid=$(jq -r --arg n "$backup" '.replicas[] | select(.node == $n) | .pid' <<<"$status")
if [ -n "${reprot_ms[1]:-}" ] && [ -n "$joined" ] && [ "$bpid" -gt 0 ] 2>/dev/null; then
	sleep_until "$(awk -v d="$duration" 'BEGIN { print d * 0.6 }')"
	failover 2 "$backup" "$bpid" "$joined"
fi
kill_s=$(awk '{ print $1; exit }' <<<"${events[0]:-0}")

step "the pair after the failover" "pvft list"
"$PVFT" list

# The client ends on its own at --duration, plus its final check.
for ((i = 0; i < T * 10; i++)); do
	kill -0 "$client_pid" 2>/dev/null || break
	sleep 0.1
done
kill "$client_pid" 2>/dev/null
wait "$client_pid"
client_rc=$?
client_pid=""

# ---- the plot -----------------------------------------------------------------
# Two panels on one time axis (seconds since the client started): replies a
# second (from the timeline's 100 ms buckets) and p50/p99/max latency, a
# line at the kill and one where the backup went live.
plot() {
	local arrows="" i=3 ev t label color
	for ev in "${events[@]}"; do
		t=${ev%% *}
		label=${ev#* }
		case $label in
		kill*) color="#c0392b" ;;
		live*) color="#27ae60" ;;
		joining*) color="#e67e22" ;;
		*) color="#2980b9" ;;
		esac
		arrows+="set arrow $i from $t, graph 0 to $t, graph 1 nohead lc rgb \"$color\" dt 2 lw 1.5"$'\n'
		arrows+="set label $i \" $label\" at $t, graph $(awk -v i="$i" 'BEGIN { print 0.97 - (i % 4) * 0.06 }') left tc rgb \"$color\" font \",8\""$'\n'
		i=$((i + 1))
	done
	gnuplot 2>"$run/gnuplot.err" <<-EOF
		if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
			set terminal pngcairo size 1000,700 font ",10"
		} else {
			set terminal png size 1000,700
		}
		set output "$png"
		set datafile separator ","
		set xrange [0:$duration]
		set grid
		# The same left and right edges for both panels: one time axis.
		set lmargin at screen 0.08
		set rmargin at screen 0.97
		set key top right
		$arrows
		set multiplot layout 2,1 title "kv pair, 16 clients: two kill -9 of the primary, each failover re-protected by pvft monitor"
		set ylabel "throughput (replies/s)"
		set format y "%.0s%c"
		set format x ""
		plot "$csv" skip 1 using 1:(\$2 * 10) with steps lw 1.5 lc rgb "#2c3e50" title "replies/s (100 ms buckets)"
		set ylabel "latency (ms)"
		set xlabel "time since the client started (s)"
		set format x "%g"
		set format y "%g"
		set logscale y
		nz(v) = v > 0 ? v / 1000.0 : NaN
		plot "$csv" skip 1 using 1:(nz(\$3)) with steps lc rgb "#2980b9" title "p50", \
		     "" skip 1 using 1:(nz(\$4)) with steps lc rgb "#8e44ad" title "p99", \
		     "" skip 1 using 1:(nz(\$5)) with points pt 7 ps 0.4 lc rgb "#7f8c8d" title "max"
		unset multiplot
	EOF
}
step "the timeline plot"
if ! command -v gnuplot >/dev/null; then
	echo "gnuplot is not installed (apt-get install gnuplot-nox): no plot;" \
		"the timeline is in $csv"
elif [ ! -s "$csv" ]; then
	echo "the client wrote no timeline ($csv): no plot"
elif plot && [ -s "$png" ]; then
	echo "throughput and latency around the failover: $png (data: $csv)"
else
	echo "gnuplot could not draw $png (the timeline is in $csv):"
	sed 's/^/  /' "$run/gnuplot.err"
	rm -f "$png"
fi

# ---- the summary --------------------------------------------------------------
step "summary"
if ! jq -e . "$json" >/dev/null 2>&1; then
	echo "the client ended with exit status $client_rc and no report"
	exit 1
fi
row() { printf '  %-18s %s\n' "$1" "$2"; }
j() { jq -r "$1" "$json"; }
row requests "$(j '"\(.requests) in \(.duration_s) s (\(.answered) answered, \(.retries) resent)"')"
row throughput "$(j '"\(.throughput_rps | floor) req/s; latency p50 \(.latency_us.p50) us, p99 \(.latency_us.p99) us, max \(.latency_us.max / 1000 | floor) ms"')"
for n in 1 2; do
	if [ -n "${failover_ms[$n]:-}" ]; then
		row "failover $n" "went live ${failover_ms[$n]} ms after kill -9 #$n"
	elif [ -n "${live_ms[$n]:-}" ]; then
		row "failover $n" "the primary ${live_ms[$n]} ms after kill -9 #$n"
	else
		row "failover $n" "none"
	fi
	if [ -n "${reprot_ms[$n]:-}" ]; then
		row "re-protected $n" "at epoch $((n + 1)), ${reprot_ms[$n]} ms after kill -9 #$n (a new backup, live)"
	else
		row "re-protected $n" "no (see $name's monitor.log above)"
	fi
done
row timeline "$(printf '%s; ' "${events[@]}" | sed 's/; $//')"
# The client measures its longest pause only: the failover's, unless the
# host stalled the client longer somewhere else in the run.
# Which event it was: the last one at or before its start (50 ms slack).
bo_at=$(j .blackout_at_s)
bo_what=$(printf '%s\n' "${events[@]}" | awk -v b="$bo_at" '$1 <= b + 0.05 { w = $0 }
	END { sub(/^[^ ]* /, "", w); print w }')
case $bo_what in
"kill -9 #"* | "live #"*) bo_what="the failover after kill -9 #${bo_what##*#}" ;;
"joining #"*) bo_what="re-protection #${bo_what##*#}: the join's pause and the new backup's first acks" ;;
"protected #"*) bo_what="after re-protection #${bo_what##*#}" ;;
*) bo_what="before any kill" ;;
esac
row "longest blackout" "$(j '"\(.blackout_ms | floor) ms at \(.blackout_at_s) s"') ($bo_what)"
row "keys read back" "$(j '"\(.checked_keys) (unverified \(.unverified_keys))"')"
lost=$(j .lost)
doubled=$(j .doubled)
row "lost writes" "$lost"
row "applied twice" "$doubled"
why=()
[ "$client_rc" -eq 0 ] || why+=("the client's exit status $client_rc")
[ "$lost" = 0 ] || why+=("$lost writes lost")
[ "$doubled" = 0 ] || why+=("$doubled writes applied twice")
[ -n "${live_ms[1]:-}" ] && [ -n "${live_ms[2]:-}" ] || why+=("not two failovers")
[ -n "${reprot_ms[1]:-}" ] || why+=("not re-protected after the first")
if [ ${#why[@]} -eq 0 ]; then
	row result OK
else
	msg=$(printf "%s, " "${why[@]}")
	row result "FAILED: ${msg%, }"
	exit 1
fi
