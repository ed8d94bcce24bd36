#!/usr/bin/env bash
# cluster-bench.sh: RPC increment throughput of the single-node Pebble
# server, a one-node cluster (R1) and a three-node cluster on this machine
# (R3), each with embedded NATS, alternated in one session, with
# `actorlog load` spreading its connections over every node's URL.
#
#   scripts/cluster-bench.sh                   # 2 rounds, 10s loads, 64 conns
#   ROUNDS=3 DURATION=20s scripts/cluster-bench.sh
#
# Environment: ROUNDS (2), DURATION of each measured load (10s), WARMUP
# before it, same keys, not measured (2s), CONNS (64), CONFIGS ("single r1
# r3 r3f"; r3f is r3 with the warm-up sent to the first node only, so that
# it owns every actor of the load and two calls in three are forwarded),
# SCENARIOS ("distinct hot"), OUT (a temporary directory: the JSON
# reports and the nodes' logs; kept only if given), MAX_SECONDS (bound on
# the whole script, default 900), BIN (an actorlog binary to run instead
# of building this tree's).
#
# Each configuration starts fresh nodes in temporary directories on free
# loopback ports, runs every scenario, and stops them; the script stops
# everything it started when it ends, fails or is interrupted. It prints
# one line a load: requests/s, p50 and p99 latency, errors, the servers'
# CPU per request (summed over the nodes), and, in a cluster, the share of
# the calls that reached a node other than the actor's owner (from the
# nodes' actorlog_cluster_calls_total), then a summary with each figure's
# ratio to the single node of the same round.
set -euo pipefail

ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNS=${CONNS:-64}
CONFIGS=${CONFIGS:-"single r1 r3 r3f"}
SCENARIOS=${SCENARIOS:-"distinct hot"}
MAX_SECONDS=${MAX_SECONDS:-900}

cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/cluster-bench.XXXXXX)
OUT=${OUT:-$work/out}
mkdir -p "$OUT"
pids=()
loadpid=

stop_nodes() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do
		# A node gets 15s to shut down, then is killed.
		for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=()
loadpid=
}

cleanup() {
	trap - EXIT INT TERM
	if [ -n "$loadpid" ]; then kill -TERM "$loadpid" 2>/dev/null || true; wait "$loadpid" 2>/dev/null || true; fi
	stop_nodes
	if [ -n "${watchdog:-}" ]; then kill -TERM "$watchdog" 2>/dev/null || true; fi
	rm -rf "$work" # OUT, unless given, is in it
}
trap cleanup EXIT
trap 'echo "cluster-bench: interrupted" >&2; exit 130' INT TERM

# The whole script is bounded: past MAX_SECONDS it stops itself.
(
	trap 'kill "$sp" 2>/dev/null; exit 0' TERM
	sleep "$MAX_SECONDS" &
	sp=$!
	wait "$sp" && echo "cluster-bench: over ${MAX_SECONDS}s, stopping" >&2 && kill -TERM $$ 2>/dev/null
) &
watchdog=$!

# load SECONDS ARGS... runs actorlog load, bounded, in the background so
# that a signal to this script is handled at once (cleanup stops it).
load() {
	timeout "$1" "$bin" load "${@:2}" &
	loadpid=$!
	local rc=0
	wait "$loadpid" || rc=$?
	loadpid=
	return "$rc"
}

bin=${BIN:-}
if [ -z "$bin" ]; then
	mkdir -p "$work/bin"
	go build -o "$work/bin/actorlog" ./cmd/actorlog
	bin=$work/bin/actorlog
fi

# freeport prints a loopback port nothing listens on, not given before.
taken=" "
freeport() {
	local p
	while :; do
		# Below the kernel's ephemeral ports (32768 and up), which
		# outgoing connections take without listening.
		p=$((20000 + RANDOM % 12000))
		case "$taken" in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			taken="$taken$p "
			echo "$p"
			return
		fi
	done
}

# start CONFIG: starts its nodes and sets urls to their HTTP URLs,
# comma-separated, once every one answers /healthz (at most 90s); if a
# node exits first (a port taken meanwhile), it starts them again on
# other ports, three times at most.
start() {
	local try
	for try in 1 2 3; do
		start_once "$1" && return 0
		stop_nodes
		echo "cluster-bench: $1: a node did not start (try $try); again on other ports" >&2
	done
	return 1
}

start_once() {
	local cfg=$1 n i port dir
	local -a hp np cp
	urls=""
	case "$cfg" in single | r1) n=1 ;; r3 | r3f) n=3 ;; esac
	for i in $(seq "$n"); do hp[i]=$(freeport); np[i]=$(freeport); cp[i]=$(freeport); done
	local routes=""
	for i in $(seq "$n"); do routes="$routes${routes:+,}nats-route://127.0.0.1:${cp[i]}"; done
	for i in $(seq "$n"); do
		dir=$work/data/$cfg-$round-$i
		mkdir -p "$dir"
		local -a args=(serve --port "${hp[i]}" --data "$dir" --log-level warn)
		case "$cfg" in
		r1) args+=(--node n1 --nats-listen "127.0.0.1:${np[i]}") ;;
		r3 | r3f) args+=(--node "n$i" --nats-listen "127.0.0.1:${np[i]}" --nats-cluster "127.0.0.1:${cp[i]}" --nats-routes "$routes") ;;
		esac
		"$bin" "${args[@]}" >"$OUT/$cfg-$round-node$i.log" 2>&1 &
		pids+=($!)
		urls="$urls${urls:+,}http://127.0.0.1:${hp[i]}"
	done
	local u t p
	for u in ${urls//,/ }; do
		for t in $(seq 900); do
			curl -fsS -o /dev/null "$u/healthz" 2>/dev/null && break
			for p in "${pids[@]}"; do
				if ! kill -0 "$p" 2>/dev/null; then tail -n 3 "$OUT/$cfg-$round-node"*.log >&2; return 1; fi
			done
			if [ "$t" = 900 ]; then echo "cluster-bench: $cfg: $u not up after 90s" >&2; tail -n 3 "$OUT/$cfg-$round-node"*.log >&2; return 1; fi
			sleep 0.1
		done
	done
}

# routed prints the calls the nodes counted as local and as forwarded,
# summed: "local forwarded".
routed() {
	local u
	for u in ${urls//,/ }; do curl -fsS "$u/metrics"; done |
		awk '/^actorlog_cluster_calls_total\{route="local"\}/ {l += $2}
		     /^actorlog_cluster_calls_total\{route="forwarded"\}/ {f += $2}
		     END {printf "%d %d\n", l, f}'
}

printf '%-6s %-5s %-8s %9s %8s %8s %6s %8s %9s\n' round conf scenario 'req/s' 'p50 ms' 'p99 ms' errors 'cpu µs' forwarded
results=$OUT/results.tsv
: >"$results"
for round in $(seq "$ROUNDS"); do
	for cfg in $CONFIGS; do
		start "$cfg"
		for sc in $SCENARIOS; do
			prefix=b$round-$cfg-$sc
			common=(--scenario "$sc" --conns "$CONNS" --prefix "$prefix" --sample-every 0 --timeout 20s)
			# The warm-up wakes the actors and, in a cluster, takes the
			# shards' leases, outside the measured run.
			warm=$urls
			[ "$cfg" = r3f ] && warm=${urls%%,*}
			load 120 "${common[@]}" --server "$warm" --duration "$WARMUP" --json >/dev/null
			read -r l0 f0 < <(routed)
			load 180 "${common[@]}" --server "$urls" --duration "$DURATION" --json >"$OUT/$round-$cfg-$sc.json"
			read -r l1 f1 < <(routed)
			share=-
			if [ "$cfg" != single ] && [ $((l1 - l0 + f1 - f0)) -gt 0 ]; then
				share=$(awk -v l=$((l1 - l0)) -v f=$((f1 - f0)) 'BEGIN {printf "%.2f", f / (l + f)}')
			fi
			line=$(jq -r --arg r "$round" --arg c "$cfg" --arg s "$sc" --arg f "$share" \
				'[$r, $c, $s, (.requests_per_sec | round), .latency_ms.p50, .latency_ms.p99, .errors, (.server_stats.cpu_per_request_us // 0 | round), $f] | @tsv' \
				"$OUT/$round-$cfg-$sc.json")
			echo "$line" >>"$results"
			echo "$line" | awk -F'\t' '{printf "%-6s %-5s %-8s %9d %8.2f %8.2f %6d %8d %9s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9}'
		done
		stop_nodes
	done
done

echo
echo "ratios to the single node of the same round (req/s; p50, p99 latency):"
awk -F'\t' '
	{ key = $1 SUBSEP $3; if ($2 == "single") { rps[key] = $4; p50[key] = $5; p99[key] = $6 } row[NR] = $0 }
	END {
		for (i = 1; i <= NR; i++) {
			split(row[i], f, "\t"); key = f[1] SUBSEP f[3]
			if (f[2] == "single" || !(key in rps)) continue
			printf "round %s %-3s %-8s req/s %.2f  p50 %.1fx  p99 %.1fx  forwarded %s\n", f[1], f[2], f[3], f[4] / rps[key], f[5] / p50[key], f[6] / p99[key], f[9]
		}
	}' "$results"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$OUT" != "$work/out" ] && echo "reports in $OUT"
exit 0
