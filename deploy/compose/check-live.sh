#!/usr/bin/env bash
# The deploy stack live (run by scripts/test.sh after check.sh; about two minutes): `launch up
# --engines 2` against the Kafka broker, schema registry and S3 server on their usual ports
# (each started by the launcher unless one runs, and stopped again only then), Debian's
# Prometheus scraping every process each second, planted faults measured through its API,
# every panel's and alert's expression returning series, the overview rendered from it
# (tests-live/test_stack.py). Needs the ports of the native topology free (README.md).
#
# CORVID_BIN: the corvid binary to run (default: `cargo build --bin corvid` first, then
# target/debug/corvid). CORVID_LIVE_SCREENSHOT=PATH also writes the rendered overview there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

scripts/ensure-debian.sh prometheus
VENV=${VENV:-$root/.venv} scripts/rules-compat/venv.sh
py=${VENV:-$root/.venv}/bin/python
if [[ -z ${CORVID_BIN:-} ]]; then
  cargo build -q --bin corvid
  export CORVID_BIN=${CARGO_TARGET_DIR:-$root/target}/debug/corvid
fi

echo "==> deploy/compose/tests-live (launch up --engines 2, Prometheus, planted faults)"
"$py" -m pytest -q -p no:cacheprovider -s deploy/compose/tests-live "$@"
