#!/usr/bin/env bash
# The deploy stack's checks, run by scripts/test.sh (no Docker daemon, no running services):
#   1. `docker-compose config` accepts docker-compose.yml, and it validates against the Compose
#      Specification's JSON schema (compose_schema.py);
#   2. the native launcher's plan runs every service's command, ports and volumes of the compose
#      file, with planted mismatches caught (tests/test_plan.py), and the other tests/ (queries,
#      dashboards, rendering);
#   3. promtool: the alerting rules, their unit tests, and the Prometheus configs (the compose
#      one's syntax, the launcher-generated one in full).
# Installs Debian's docker-compose and prometheus (promtool) when missing, and the venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
here=deploy/compose

scripts/ensure-debian.sh docker-compose prometheus
VENV=${VENV:-$root/.venv} scripts/rules-compat/venv.sh
py=${VENV:-$root/.venv}/bin/python
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT

echo "==> docker-compose config ($here/docker-compose.yml)"
docker-compose -f "$here/docker-compose.yml" --project-directory "$here" config -q
echo "==> Compose Specification schema"
"$py" "$here/compose_schema.py"

echo "==> promtool: alerting rules and their tests"
promtool check rules "$here/prometheus/alerts.yml"
(cd "$here/prometheus" && promtool test rules alerts_test.yml)
echo "==> promtool: Prometheus configs (compose's, and the one the launcher generates)"
promtool check config --syntax-only "$here/prometheus/prometheus.yml"
"$py" "$here/launcher.py" prepare --run-dir "$run" >/dev/null
generated=$("$py" -c '
import json, sys
plan = json.load(open(sys.argv[1]))
print(next(f["path"] for p in plan["services"]["prometheus"]["processes"] for f in p["files"] if f["prometheus"]))
' "$run/plan.json")
promtool check config "$generated"

echo "==> $here/tests"
"$py" -m pytest -q -p no:cacheprovider "$here/tests"
