"""The dashboards and alerting rules: only documented metrics, valid PromQL, generated JSON up
to date, provisioning consistent, every alert covered by alerts_test.yml."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
COMPOSE_DIR = HERE.parent
sys.path.insert(0, str(COMPOSE_DIR))

import queries  # noqa: E402

RECORDS = queries.all_queries()


def promtool() -> str:
    program = shutil.which("promtool")
    if program is None:
        pytest.fail("promtool is missing: scripts/ensure-debian.sh prometheus")
    return program


def test_there_are_panels_and_alerts():
    dashboards = {r["dashboard"] for r in RECORDS if r["kind"] == "panel"}
    assert dashboards == {"corvid-overview", "corvid-log-types", "corvid-rules", "corvid-sinks"}
    assert sum(r["kind"] == "alert" for r in RECORDS) >= 8


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.get('dashboard') or 'alert'}:{r['title']}:{r['ref']}")
def test_only_documented_metrics(record):
    documented = queries.documented_metrics()
    assert record["metrics"], f"reads no metric: {record['query']}"
    unknown = [m for m in record["metrics"] if m not in documented]
    assert not unknown, f"not in docs/metrics.md: {unknown} in {record['query']}"
    assert "$" not in record["query"], record["query"]


def test_metric_name_extraction():
    assert queries.metric_names('sum by (job) (rate(a_total{x="sum(b)"}[5m])) / on(i) group_left(c) d') == ["a_total", "d"]
    assert queries.metric_names("histogram_quantile(0.99, sum by (le) (rate(h_bucket[1m]))) > 5e3") == ["h_bucket"]
    assert queries.metric_names('absent(corvid_build_info{component="engine"})') == ["corvid_build_info"]
    documented = queries.documented_metrics()
    assert documented["corvid_rule_evaluation_seconds_bucket"].startswith("histogram")
    assert "corvid_enrichment_hits_total" in documented and "process_resident_memory_bytes" in documented
    assert "corvid_records_received" not in documented


def test_every_query_is_valid_promql(tmp_path):
    rules = {"groups": [{"name": "panels", "rules": [
        {"record": f"corvid_check:panel_{i}", "expr": r["query"]} for i, r in enumerate(RECORDS) if r["kind"] == "panel"]}]}
    path = tmp_path / "panels.yml"
    path.write_text(yaml.safe_dump(rules))
    answer = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert answer.returncode == 0, answer.stdout + answer.stderr


def test_dashboards_are_generated():
    answer = subprocess.run([sys.executable, str(COMPOSE_DIR / "grafana" / "make_dashboards.py"), "--check"],
                            capture_output=True, text=True)
    assert answer.returncode == 0, answer.stderr


def test_dashboards_use_the_provisioned_datasource():
    datasource = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    provider = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/dashboards/corvid.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/etc/grafana/dashboards"
    uids = set()
    for path in (COMPOSE_DIR / "grafana" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        ids = [p["id"] for p in queries._panels(dashboard["panels"])]
        assert len(ids) == len(set(ids)), path
        for panel in queries._panels(dashboard["panels"]):
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (path, panel["title"])
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == uid, (path, panel["title"])


def test_every_alert_is_tested_and_described():
    alerts = yaml.safe_load((COMPOSE_DIR / "prometheus" / "alerts.yml").read_text())
    tests = yaml.safe_load((COMPOSE_DIR / "prometheus" / "alerts_test.yml").read_text())
    firing = {case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
              if case.get("exp_alerts")}
    for group in alerts["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] in firing, f"{rule['alert']}: no case of alerts_test.yml fires it"
            assert rule["labels"]["severity"] in ("critical", "warning")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_queries_cli_prints_json():
    answer = subprocess.run([sys.executable, str(COMPOSE_DIR / "queries.py"), "--json", "--kind", "alert"],
                            capture_output=True, text=True, check=True)
    records = json.loads(answer.stdout)
    assert {r["title"] for r in records} >= {"CorvidFrontierStalled", "CorvidDeadLettersRising",
                                            "CorvidConsumerGroupLag", "CorvidDestinationFailures"}
