#!/usr/bin/env bash
# The demo: sample osquery logs → file connector → Kafka → engine → alerts topic → here.
# The engine enriches events with the threat_intel table (deploy/tables/threat_intel.csv).
# Uses topics of its own (so earlier runs do not show up) and stops what it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh

work=$(mktemp -d)
cleanup() {
  kafka_stop_if_started
  rm -rf "$work"
}
trap cleanup EXIT

kafka_ensure_up
cargo build -q --bin corvid
corvid="$(target_dir)/debug/corvid"

run="demo-$(date +%s)-$$"
cat >"$work/corvid.yml" <<YAML
topics:
  raw: $run.raw
  alerts: $run.alerts
  dead_letters: $run.dead-letters
rules_dir: $root/rules
state_dir: $work/data
enrichment:
  tables:
    - name: threat_intel
      topic: $run.table.threat_intel
      fields: ["p_any_*"]
YAML

echo "==> rules"
"$corvid" rules test rules
echo "==> loading the threat_intel table from deploy/tables/threat_intel.csv"
"$corvid" connect table --name threat_intel --topic "$run.table.threat_intel" \
  --file deploy/tables/threat_intel.csv
echo "==> sending loadtest/samples/osquery_differential.log through the file connector"
"$corvid" connect file --path loadtest/samples/osquery_differential.log --topic "$run.raw" \
  --source-id osquery-fleet --source-label "Osquery fleet" --log-types Osquery.Differential
echo "==> running the engine over everything sent"
RUST_LOG=${RUST_LOG:-warn} "$corvid" run --config "$work/corvid.yml" --stop-at-end
echo "==> alerts on $run.alerts"
"$corvid" alerts tail --config "$work/corvid.yml" --from-beginning --idle-secs 1
