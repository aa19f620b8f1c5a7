#!/usr/bin/env python3
"""Every PromQL expression of the compose stack: each Grafana panel target and each alerting rule.

    python3 deploy/compose/queries.py            # one line each: where, then the query
    python3 deploy/compose/queries.py --json     # a JSON list of the records below

Record fields: kind (`panel` or `alert`), file, dashboard (uid) or group, title (panel title or
alert name), ref (target refId, or `expr`), expr (as written), query (dashboard variables
replaced by their all-values: what Prometheus's HTTP API accepts), legend, instant (a table
panel's instant query), for (an alert's), labels (an alert's), metrics (the metric names it reads).
Standard library plus PyYAML.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "grafana" / "dashboards"
ALERTS = HERE / "prometheus" / "alerts.yml"
METRICS_DOC = HERE.parent.parent / "docs" / "metrics.md"

# Grafana's built-in variables, with values a query over the last minutes can use.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600"}


def _variables(dashboard: dict) -> dict[str, str]:
    values = dict(BUILTINS)
    for var in (dashboard.get("templating") or {}).get("list", []):
        if var.get("includeAll"):
            values[var["name"]] = var.get("allValue") or ".*"
        else:
            current = (var.get("current") or {}).get("value")
            values[var["name"]] = current[0] if isinstance(current, list) else str(current or ".*")
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    def replace(match):
        name = match.group(1) or match.group(2)
        if name not in values:
            raise ValueError(f"unknown dashboard variable ${name} in {expr!r}")
        return values[name]

    # $name and ${name}; a name runs to the end of its word, so $__range_s stays whole
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", replace, expr)


def _panels(panels):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def dashboard_queries(path: Path) -> list[dict]:
    dashboard = json.loads(path.read_text())
    values = _variables(dashboard)
    records = []
    for panel in _panels(dashboard.get("panels", [])):
        for target in panel.get("targets") or []:
            expr = target.get("expr")
            if not expr:
                continue
            query = substitute(expr, values)
            records.append({
                "kind": "panel",
                "file": str(path),
                "dashboard": dashboard.get("uid"),
                "dashboard_title": dashboard.get("title"),
                "panel_id": panel.get("id"),
                "panel_type": panel.get("type"),
                "title": panel.get("title"),
                "unit": ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit"),
                "ref": target.get("refId"),
                "expr": expr,
                "query": query,
                "legend": target.get("legendFormat", ""),
                "instant": bool(target.get("instant")) and not target.get("range", True),
                "metrics": metric_names(query),
            })
    return records


def alert_queries(path: Path = ALERTS) -> list[dict]:
    document = yaml.safe_load(path.read_text())
    records = []
    for group in document.get("groups", []):
        for rule in group.get("rules", []):
            if "alert" not in rule:
                continue
            expr = " ".join(str(rule["expr"]).split())
            records.append({
                "kind": "alert",
                "file": str(path),
                "group": group["name"],
                "title": rule["alert"],
                "ref": "expr",
                "expr": expr,
                "query": expr,
                "legend": "",
                "instant": True,
                "for": rule.get("for", "0s"),
                "labels": rule.get("labels", {}),
                "metrics": metric_names(expr),
            })
    return records


def all_queries(dashboards: Path = DASHBOARDS, alerts: Path = ALERTS) -> list[dict]:
    records = []
    for path in sorted(dashboards.glob("*.json")):
        records += dashboard_queries(path)
    return records + alert_queries(alerts)


# ---- metric names in PromQL (enough of the grammar for these expressions)

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
             "offset", "atan2", "inf", "nan",
             # aggregation operators: `sum by (x) (...)` puts a keyword, not "(", after the name
             "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
             "bottomk", "topk", "quantile", "limitk", "limit_ratio"}


def metric_names(expr: str) -> list[str]:
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                                           # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                                          # ranges, subqueries
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text)  # label lists
    names = []
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end():].lstrip()
        if word.lower() in _KEYWORDS or rest.startswith("("):
            continue
        if re.match(r"\d", text[match.start() - 1:match.start()] or " "):
            continue  # the unit of a number like 5e3
        if word not in names:
            names.append(word)
    return names


def documented_metrics(path: Path = METRICS_DOC) -> dict[str, str]:
    """Metric name -> type, from docs/metrics.md's tables; histograms add _bucket, _sum, _count."""
    metrics: dict[str, str] = {}
    for line in path.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        kind = cells[1]
        for name in re.findall(r"`([a-z_:][a-z0-9_:]*)`", cells[0]):
            metrics[name] = kind
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    metrics[name + suffix] = "histogram " + suffix[1:]
    return metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--kind", choices=["panel", "alert"], help="only panels or only alerts")
    parser.add_argument("--dashboard", help="only this dashboard uid")
    args = parser.parse_args()
    records = all_queries()
    if args.kind:
        records = [r for r in records if r["kind"] == args.kind]
    if args.dashboard:
        records = [r for r in records if r.get("dashboard") == args.dashboard]
    if args.json:
        json.dump(records, sys.stdout, indent=2)
        print()
    else:
        for r in records:
            where = f"{r['dashboard']} / {r['title']} [{r['ref']}]" if r["kind"] == "panel" else f"alert {r['title']}"
            print(f"{where}\n    {r['query']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
