#!/usr/bin/env bash
# One process against two: the intrusion scenario with EVENTS background events, produced
# once to a fresh raw topic, then read to its end by `corvid run -w 1` and by two
# processes `-n 2 -p 0|1 -w 1` (a hostfile of two local ports), each run with its own
# output topics and state dir. Prints each run's wall time (start-up included), events/s
# and the ratio 2-process / 1-process.
#
#   loadtest/cluster-bench.sh [EVENTS]        (default 100000)
#
# Env: CORVID (default target/release/corvid; build it with
# `cargo build --release -p corvid-engine`), BROKERS (default 127.0.0.1:9092),
# PARTITIONS of the raw topic (default 4), KEEP=1 to keep the work dir.
set -euo pipefail

events=${1:-100000}
root=$(cd "$(dirname "$0")/.." && pwd)
corvid=${CORVID:-$root/target/release/corvid}
brokers=${BROKERS:-127.0.0.1:9092}
partitions=${PARTITIONS:-4}
[[ -x $corvid ]] || { echo "no $corvid: cargo build --release -p corvid-engine" >&2; exit 1; }

work=$(mktemp -d)
[[ ${KEEP:-} == 1 ]] || trap 'rm -rf "$work"' EXIT
run=bench-cluster-$$-$(date +%s)
raw=$run.raw

# config NAME: an engine config reading the shared raw topic, writing NAME's own topics.
config() {
  local name=$1 dir=$work/$1
  mkdir -p "$dir"
  cat >"$dir/corvid.yml" <<EOF
kafka:
  brokers: $brokers
topics:
  raw: $raw
  alerts: $run.$name.alerts
  dead_letters: $run.$name.dead
  rule_errors: $run.$name.rule-errors
  rule_matches: $run.$name.rule-matches
  partitions: $partitions
rules_dir: $root/rules
rules_reload_secs: 0
state_dir: $dir/data
workers: 1
EOF
  echo "$dir/corvid.yml"
}

# events_of LOG...: the events parsed, summed over the logs' closing summary lines.
events_of() {
  grep -ho '[0-9]* records parsed into [0-9]* events' "$@" |
    awk '{ n += $5 } END { print n + 0 }'
}

now() { date +%s.%N; }

single=$(config single)
pair=$(config pair)
echo "producing the intrusion scenario with $events background events to $raw ($partitions partitions)"
"$corvid" loadtest scenario intrusion --date 2026-11-27 --events "$events" --config "$single" >/dev/null

start=$(now)
RUST_LOG=warn "$corvid" run --stop-at-end -w 1 --config "$single" 2>"$work/single.log"
single_secs=$(echo "$(now) - $start" | bc)

ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r port0 port1 <<<"$ports"
printf '127.0.0.1:%s\n127.0.0.1:%s\n' "$port0" "$port1" >"$work/hosts"
start=$(now)
pids=()
for p in 0 1; do
  RUST_LOG=warn "$corvid" run --stop-at-end -w 1 -n 2 -p "$p" --hostfile "$work/hosts" \
    --config "$pair" 2>"$work/pair-$p.log" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
pair_secs=$(echo "$(now) - $start" | bc)
if [[ $status != 0 ]]; then
  echo "the 2-process run failed ($status):" >&2
  tail -n 20 "$work"/pair-*.log >&2
  exit 1
fi

single_events=$(events_of "$work/single.log")
pair_events=$(events_of "$work"/pair-*.log)
awk -v e1="$single_events" -v e2="$pair_events" -v t1="$single_secs" -v t2="$pair_secs" 'BEGIN {
  printf "1 process  (-w 1):        %d events in %.2f s: %.0f events/s\n", e1, t1, e1 / t1
  printf "2 processes (-n 2 -w 1):  %d events in %.2f s: %.0f events/s\n", e2, t2, e2 / t2
  printf "ratio 2/1: %.2f\n", (e2 / t2) / (e1 / t1)
}'
[[ $single_events == "$pair_events" ]] || { echo "event counts differ" >&2; exit 1; }
