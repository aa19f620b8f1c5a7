#!/usr/bin/env bash
# End-to-end benchmark: a release engine follows fresh topics while `corvid loadtest`
# pushes $EVENTS generated osquery lines and waits for every planted alert.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh
events=${EVENTS:-100000}

work=$(mktemp -d)
engine_pid=
cleanup() {
  [[ -n $engine_pid ]] && kill "$engine_pid" 2>/dev/null && wait "$engine_pid" || true
  kafka_stop_if_started
  rm -rf "$work"
}
trap cleanup EXIT

kafka_ensure_up
cargo build -q --release --bin corvid
corvid="$(target_dir)/release/corvid"
run="loadtest-$(date +%s)-$$"
cat >"$work/corvid.yml" <<YAML
topics:
  raw: $run.raw
  alerts: $run.alerts
  dead_letters: $run.dead-letters
rules_dir: $root/rules
state_dir: $work/data
YAML
RUST_LOG=${RUST_LOG:-warn} "$corvid" run --config "$work/corvid.yml" &
engine_pid=$!
# The engine creates its topics before it reads; wait for them.
for _ in $(seq 1 100); do
  "$corvid" alerts tail --config "$work/corvid.yml" --idle-secs 0 >/dev/null 2>&1 && break
  sleep 0.2
done
"$corvid" loadtest --config "$work/corvid.yml" --events "$events"
