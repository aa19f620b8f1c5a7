#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, integration tests against a real
# Kafka broker, schema registry and S3-compatible server (each started here unless one is
# running), and the detections' own tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh

trap 's3_stop_if_started; registry_stop_if_started; kafka_stop_if_started' EXIT
kafka_ensure_up
registry_ensure_up

# The crash tests kill the engine at its fail points, which only this feature compiles in
# (release builds never have them); one feature set keeps one build for all steps.
features=(--features corvid-engine/failpoints)
cargo fmt --all --check
cargo clippy --workspace --all-targets "${features[@]}" -- -D warnings
make --no-print-directory venv
s3_ensure_up
cargo test --workspace "${features[@]}"
# pat and corvid must agree on every test verdict of every corpus (venv from PyPI).
make --no-print-directory rules-compat
cargo run -q "${features[@]}" --bin corvid -- rules test rules
# The deploy stack: docker-compose.yml and its schema, the native launcher's plan against it,
# dashboards' and alerts' PromQL, promtool on the rules and configs (deploy/compose/check.sh).
deploy/compose/check.sh
# The same stack live: `launch up --engines 2` against the services above, Prometheus scraping
# every process, planted faults measured, every panel's and alert's query answered
# (deploy/compose/check-live.sh), with the binary of the steps above.
cargo build -q "${features[@]}" --bin corvid
CORVID_BIN=${CARGO_TARGET_DIR:-$root/target}/debug/corvid deploy/compose/check-live.sh
