#!/usr/bin/env python3
"""Writes the Grafana dashboards of the compose stack (grafana/dashboards/*.json).

    python3 deploy/compose/grafana/make_dashboards.py           # rewrite the JSON files
    python3 deploy/compose/grafana/make_dashboards.py --check   # exit 1 if they differ

The dashboards are generated so every panel has the same shape and its PromQL sits in one
readable place; edit this file, not the JSON (deploy/compose/check.sh runs --check). Only
metrics of docs/metrics.md (tests/test_queries.py checks every expression).
"""

import argparse
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "corvid-prometheus"}


class Board:
    def __init__(self, uid, title, description, variables=()):
        self.uid, self.title, self.description = uid, title, description
        self.variables = list(variables)
        self.panels = []
        self.x = self.y = 0
        self.row_height = 0

    def _place(self, w, h):
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0
        pos = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.x += w
        self.row_height = max(self.row_height, h)
        return pos

    def row(self, title):
        if self.x:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0
        self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def _panel(self, kind, title, description, queries, unit, w, h, extra=None):
        targets = []
        for i, query in enumerate(queries):
            expr, legend = query if isinstance(query, tuple) else (query, "")
            target = {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend,
                      "range": kind != "table", "instant": kind == "table"}
            if kind == "table":
                target["format"] = "table"
            targets.append(target)
        panel = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DATASOURCE,
            "gridPos": self._place(w, h),
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": targets,
        }
        if extra:
            for key, value in extra.items():
                if key == "defaults":
                    panel["fieldConfig"]["defaults"].update(value)
                else:
                    panel[key] = value
        self.panels.append(panel)

    def graph(self, title, description, queries, unit="short", w=12, h=8, stack=False):
        custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never", "spanNulls": True}
        if stack:
            custom["stacking"] = {"mode": "normal", "group": "A"}
        self._panel("timeseries", title, description, queries, unit, w, h, {
            "defaults": {"custom": custom, "min": 0},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                        "tooltip": {"mode": "multi", "sort": "desc"}},
        })

    def stat(self, title, description, query, unit="short", w=4, h=4, no_value=None, thresholds=None):
        defaults = {"color": {"mode": "thresholds"},
                    "thresholds": {"mode": "absolute", "steps": thresholds or [{"color": "green", "value": None}]}}
        if no_value is not None:
            defaults["noValue"] = no_value
        self._panel("stat", title, description, [query], unit, w, h, {
            "defaults": defaults,
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto", "justifyMode": "auto"},
        })

    def table(self, title, description, query, value_title, unit="short", w=12, h=8):
        self._panel("table", title, description, [query], unit, w, h, {
            "options": {"showHeader": True, "sortBy": [{"displayName": value_title, "desc": True}]},
            "transformations": [{"id": "organize", "options": {"excludeByName": {"Time": True},
                                                                "renameByName": {"Value": value_title}}}],
        })

    def json(self):
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": ["corvid"],
            "editable": True,
            "graphTooltip": 1,
            "refresh": "10s",
            "schemaVersion": 39,
            "version": 1,
            "time": {"from": "now-30m", "to": "now"},
            "timepicker": {},
            "timezone": "browser",
            "links": [{"type": "dashboards", "title": "Corvid", "tags": ["corvid"], "asDropdown": True,
                       "includeVars": False, "keepTime": True}],
            "templating": {"list": self.variables},
            "annotations": {"list": []},
            "panels": self.panels,
        }


def variable(name, label, metric):
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": f"label_values({metric}, {name})",
        "query": {"query": f"label_values({metric}, {name})", "refId": f"{name}-values"},
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def overview():
    b = Board("corvid-overview", "Corvid / Pipeline overview",
              "Records in, events out, lag, dead letters and alerts across every Corvid process.")
    b.stat("Engine processes", "Engine processes Prometheus scrapes (corvid_build_info).",
           'count(corvid_build_info{component="engine"})', no_value="0",
           thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}])
    b.stat("Records in", "Raw records the engine reads from Kafka, per second.",
           "sum(rate(corvid_records_received_total[1m]))", unit="ops")
    b.stat("Events parsed", "Events out of parsing, per second.", "sum(rate(corvid_events_parsed_total[1m]))", unit="ops")
    b.stat("Dead letters (1h)", "Raw records sent to the dead-letter topic in the last hour.",
           "sum(increase(corvid_dead_letters_total[1h]))", no_value="0",
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 1}])
    b.stat("Alerts created (1h)", "New alerts published in the last hour.",
           "sum(increase(corvid_alerts_created_total[1h]))", no_value="0")
    b.stat("Frontier lag", "Wall clock minus the end of the dataflow's frontier: how late alerts and lake rows are.",
           'max(corvid_frontier_lag_seconds{operator="end"})', unit="s",
           thresholds=[{"color": "green", "value": None}, {"color": "orange", "value": 30}, {"color": "red", "value": 120}])
    b.row("Flow")
    b.graph("Ingest rate", "Raw records read from Kafka per second, by topic.",
            [("sum by (topic) (rate(corvid_records_received_total[1m]))", "{{topic}}")], unit="ops")
    b.graph("Events by log type", "Events out of parsing per second.",
            [("sum by (log_type) (rate(corvid_events_parsed_total[1m]))", "{{log_type}}")], unit="ops", stack=True)
    b.graph("Consumer lag", "Records behind the high watermark: the engine's read position (librdkafka) and the "
            "group's committed offsets (lag exporter; visible while the engine is down).",
            [('sum by (topic) (corvid_kafka_consumer_lag{job="engine"})', "engine read {{topic}}"),
             ("sum by (group, topic) (corvid_consumer_group_lag)", "committed {{group}} {{topic}}")])
    b.graph("Frontier lag by operator", "Wall clock minus each operator's input frontier.",
            [("max by (operator) (corvid_frontier_lag_seconds)", "{{operator}}")], unit="s")
    b.row("Problems and output")
    b.graph("Dead letters", "Raw records no parser accepted, per second, by source and reason.",
            [("sum by (source, reason) (rate(corvid_dead_letters_total[5m]))", "{{source}} {{reason}}")], unit="ops")
    b.graph("Alert rate", "Alerts published per second, by severity.",
            [("sum by (severity) (rate(corvid_alerts_created_total[5m]))", "created {{severity}}"),
             ("sum by (severity) (rate(corvid_alerts_updated_total[5m]))", "updated {{severity}}")], unit="ops")
    b.graph("Resident memory", "Resident memory of every scraped process.",
            [("sum by (job, instance) (process_resident_memory_bytes)", "{{job}} {{instance}}")], unit="bytes")
    b.graph("CPU", "CPU seconds per second of every scraped process.",
            [("sum by (job, instance) (rate(process_cpu_seconds_total[1m]))", "{{job}} {{instance}}")])
    return b


def log_types():
    sel = 'log_type=~"$log_type", source=~"$source"'
    b = Board("corvid-log-types", "Corvid / Log types and sources",
              "Per log type and per source: events, parse time, dead letters, connectors, enrichment.",
              [variable("source", "Source", "corvid_events_parsed_total"),
               variable("log_type", "Log type", "corvid_events_parsed_total")])
    b.graph("Events by log type", "Events out of parsing per second.",
            [(f"sum by (log_type) (rate(corvid_events_parsed_total{{{sel}}}[1m]))", "{{log_type}}")], unit="ops")
    b.graph("Events by source and log type", "Events per second per source and log type.",
            [(f"sum by (source, log_type) (rate(corvid_events_parsed_total{{{sel}}}[1m]))", "{{source}} {{log_type}}")],
            unit="ops")
    b.graph("Parse time per record", "Time to classify and parse one raw record, by source.",
            [('histogram_quantile(0.99, sum by (source, le) (rate(corvid_parse_duration_seconds_bucket{source=~"$source"}[5m])))',
              "p99 {{source}}"),
             ('histogram_quantile(0.5, sum by (source, le) (rate(corvid_parse_duration_seconds_bucket{source=~"$source"}[5m])))',
              "p50 {{source}}")], unit="s")
    b.graph("Dead letters by source and reason", "Raw records no parser accepted, per second.",
            [('sum by (source, reason) (rate(corvid_dead_letters_total{source=~"$source"}[5m]))', "{{source}} {{reason}}")],
            unit="ops")
    b.graph("Raw records parsed", "Share of the raw records read that a parser accepted (the rest are dead letters).",
            [("sum(rate(corvid_records_parsed_total[5m])) / sum(rate(corvid_records_received_total[5m]))", "parsed")],
            unit="percentunit")
    b.graph("Late records", "Records placed in a later epoch than their Kafka timestamp, per second.",
            [("sum(rate(corvid_records_late_total[5m]))", "late")], unit="ops")
    b.row("Connectors")
    b.graph("Connector records", "Records the log connectors (file, syslog, http, s3) produced and Kafka acknowledged, "
            "per second, by connector and source.",
            [('sum by (connector, source) (rate(corvid_connector_records_total{source=~"$source"}[1m]))', "{{connector}} {{source}}")],
            unit="ops")
    b.graph("Connector bytes and failures", "Payload bytes per second, and records Kafka refused, by connector and source.",
            [('sum by (connector, source) (rate(corvid_connector_bytes_total{source=~"$source"}[1m]))', "bytes {{connector}} {{source}}"),
             ('sum by (connector, source) (rate(corvid_connector_delivery_failures_total{source=~"$source"}[5m]))',
              "refused {{connector}} {{source}}")])
    b.row("Enrichment")
    b.graph("Enrichment hits", "Lookups that found a row, per second, by table.",
            [("sum by (table) (rate(corvid_enrichment_hits_total[5m]))", "{{table}}")], unit="ops")
    b.graph("Lookup table updates", "Rows written to lookup tables and rows they rejected, per second.",
            [("sum by (table) (rate(corvid_table_updates_total[5m]))", "updates {{table}}"),
             ("sum by (table) (rate(corvid_table_rows_rejected_total[5m]))", "rejected {{table}}")], unit="ops")
    return b


def rules():
    b = Board("corvid-rules", "Corvid / Rules", "Which rules are slow, which fail, how often each matches.")
    b.table("Slowest rules (p99 of one evaluation, 5m)", "The ten rules with the highest 99th percentile evaluation time.",
            "topk(10, histogram_quantile(0.99, sum by (rule_id, le) (rate(corvid_rule_evaluation_seconds_bucket[5m]))))",
            "p99 seconds", unit="s")
    b.table("Failing rules (errors, 1h)", "Evaluations that raised or timed out in the last hour, by rule.",
            "topk(10, sum by (rule_id) (increase(corvid_rule_errors_total[1h])))", "errors")
    b.graph("Mean evaluation time (top 10)", "Mean time of one evaluation, by rule.",
            [("topk(10, sum by (rule_id) (rate(corvid_rule_evaluation_seconds_sum[5m])) / sum by (rule_id) (rate(corvid_rule_evaluation_seconds_count[5m])))",
              "{{rule_id}}")], unit="s")
    b.graph("Evaluation time share (top 10)", "Seconds spent in each rule per second: where the Python time goes.",
            [("topk(10, sum by (rule_id) (rate(corvid_rule_evaluation_seconds_sum[5m])))", "{{rule_id}}")], unit="s")
    b.graph("Rule errors and timeouts", "Evaluations that raised (timeouts included), and the timeouts alone, per second.",
            [("sum by (rule_id) (rate(corvid_rule_errors_total[5m]))", "errors {{rule_id}}"),
             ("sum by (rule_id) (rate(corvid_rule_timeouts_total[5m]))", "timeouts {{rule_id}}")], unit="ops")
    b.graph("Match rate", "Share of the events a rule was evaluated on that it matched.",
            [("sum by (rule_id) (rate(corvid_rule_matches_total[5m])) / sum by (rule_id) (rate(corvid_rule_evaluations_total[5m]))",
              "{{rule_id}}")], unit="percentunit")
    b.graph("Evaluations", "Events each rule was evaluated on, per second.",
            [("sum by (rule_id) (rate(corvid_rule_evaluations_total[1m]))", "{{rule_id}}")], unit="ops")
    b.graph("Matches", "Events each rule matched, per second.",
            [("sum by (rule_id) (rate(corvid_rule_matches_total[5m]))", "{{rule_id}}")], unit="ops")
    b.graph("Alerts by rule", "New alerts and alert updates published per second.",
            [("sum by (rule_id, severity) (rate(corvid_alerts_created_total[5m]))", "created {{rule_id}} {{severity}}"),
             ("sum by (rule_id, severity) (rate(corvid_alerts_updated_total[5m]))", "updated {{rule_id}} {{severity}}")],
            unit="ops")
    b.graph("Rule reloads", "Reloads of the rules directory in the last hour, by result.",
            [("sum by (result) (increase(corvid_rule_reloads_total[1h]))", "{{result}}")])
    return b


def sinks():
    b = Board("corvid-sinks", "Corvid / Sinks and checkpoints",
              "Kafka sinks, the alerts transactions, the lake, checkpoints and the alert forwarder.")
    b.graph("Records delivered", "Records the sinks delivered to Kafka per second, by topic.",
            [("sum by (topic) (rate(corvid_sink_records_total[1m]))", "{{topic}}")], unit="ops")
    b.graph("Delivery failures", "Records a sink could not deliver, per second, by topic.",
            [("sum by (topic) (rate(corvid_sink_delivery_failures_total[5m]))", "{{topic}}")], unit="ops")
    b.graph("Alerts transactions", "Alerts sink transactions per second by result, and updates an earlier run had committed.",
            [("sum by (result) (rate(corvid_sink_transactions_total[5m]))", "{{result}}"),
             ("sum(rate(corvid_alert_updates_skipped_total[5m]))", "updates skipped")], unit="ops")
    b.graph("Alerts transaction time", "Begin to commit of an alerts transaction.",
            [("histogram_quantile(0.99, sum by (le) (rate(corvid_sink_transaction_seconds_bucket[5m])))", "p99"),
             ("histogram_quantile(0.5, sum by (le) (rate(corvid_sink_transaction_seconds_bucket[5m])))", "p50")], unit="s")
    b.row("Lake")
    b.graph("Lake rows", "Rows written per second by database, and rows that fit no lake table.",
            [("sum by (database) (rate(corvid_lake_rows_total[5m]))", "{{database}}"),
             ("sum(rate(corvid_lake_rows_rejected_total[5m]))", "rejected")], unit="ops")
    b.graph("Lake bytes and files", "Parquet bytes per second, and files per minute, by database.",
            [("sum by (database) (rate(corvid_lake_bytes_total[5m]))", "bytes/s {{database}}"),
             ("sum by (database) (rate(corvid_lake_files_total[5m])) * 60", "files/min {{database}}")])
    b.row("Checkpoints")
    b.graph("Checkpoints", "Checkpoints completed per 5 minutes.",
            [("sum(increase(corvid_checkpoints_total[5m]))", "completed")])
    b.graph("Checkpoint duration", "Manifest write plus lake commit.",
            [("histogram_quantile(0.99, sum by (le) (rate(corvid_checkpoint_duration_seconds_bucket[5m])))", "p99"),
             ("histogram_quantile(0.5, sum by (le) (rate(corvid_checkpoint_duration_seconds_bucket[5m])))", "p50")], unit="s")
    b.graph("Checkpoint size", "State files the newest manifest names.",
            [("max(corvid_checkpoint_bytes)", "state bytes")], unit="bytes")
    b.row("Alert forwarder")
    b.graph("Forwarder", "Alert records consumed per second, and the forwarder's lag on the alerts topic.",
            [("sum(rate(corvid_forwarder_records_total[5m]))", "consumed/s"),
             ('sum by (topic) (corvid_kafka_consumer_lag{job="forwarder"})', "lag {{topic}}")])
    b.graph("Destinations", "Alerts each destination accepted, retried attempts and alerts dead-lettered, per second.",
            [("sum by (destination) (rate(corvid_destination_deliveries_total[5m]))", "delivered {{destination}}"),
             ("sum by (destination) (rate(corvid_destination_retries_total[5m]))", "retried {{destination}}"),
             ("sum by (destination) (rate(corvid_destination_failures_total[5m]))", "failed {{destination}}")], unit="ops")
    return b


DASHBOARDS = {"overview.json": overview, "log-types.json": log_types, "rules.json": rules, "sinks.json": sinks}


def render():
    return {name: json.dumps(make().json(), indent=2) + "\n" for name, make in DASHBOARDS.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a JSON file differs from what this writes")
    args = parser.parse_args()
    stale = []
    for name, text in render().items():
        path = OUT / name
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for name in sorted(set(p.name for p in OUT.glob("*.json")) - set(DASHBOARDS)):
        stale.append(f"{name} (not made by this script)")
    if stale:
        print(f"dashboards out of date: {', '.join(stale)}; run {Path(__file__).relative_to(Path.cwd()) if Path(__file__).is_relative_to(Path.cwd()) else __file__}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
