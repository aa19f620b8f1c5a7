#!/usr/bin/env python3
"""Draws a Grafana dashboard of the compose stack into a PNG, from a Prometheus server's data.

    .venv/bin/python deploy/compose/render_dashboard.py --prometheus http://127.0.0.1:9090 \
        [--dashboard corvid-overview] [--minutes 15] [--out overview.png] [--require-data]

Runs every panel's query through Prometheus's HTTP API (query_range; instant queries for
table panels) and lays the panels out on the dashboard's own grid: time series as lines,
stats as their last value with a sparkline, tables as text. It stands in for Grafana where
there is none (the native launcher), and shows what a panel would. Prints one JSON line per
query with the number of series it returned; --require-data exits 1 when one returned none.
"""

from __future__ import annotations

import argparse
import json
import datetime
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import queries  # noqa: E402

HERE = Path(__file__).resolve().parent


def prometheus(url: str, path: str, params: dict) -> dict:
    request = urllib.request.Request(f"{url.rstrip('/')}{path}?{urllib.parse.urlencode(params)}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as error:
        body = json.load(error)
    if body.get("status") != "success":
        raise RuntimeError(f"{path} {params.get('query')}: {body.get('errorType')}: {body.get('error')}")
    return body["data"]


def run(url: str, record: dict, start: float, end: float, step: float) -> list[dict]:
    if record["instant"]:
        data = prometheus(url, "/api/v1/query", {"query": record["query"], "time": end})
        return [{"metric": r["metric"], "values": [r["value"]]} for r in data["result"]]
    data = prometheus(url, "/api/v1/query_range", {"query": record["query"], "start": start, "end": end, "step": step})
    return data["result"]


def legend(template: str, metric: dict) -> str:
    if template:
        text = template
        for key, value in metric.items():
            text = text.replace("{{" + key + "}}", value).replace("{{ " + key + " }}", value)
        return re.sub(r"\{\{\s*\w+\s*\}\}", "", text).strip() or "value"
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or metric.get("__name__", "value")


def fmt(value: float, unit: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NaN"
    if unit == "bytes":
        for suffix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(value) < 1024 or suffix == "TiB":
                return f"{value:.3g} {suffix}"
            value /= 1024
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "s":
        if value and abs(value) < 1:
            return f"{value * 1000:.3g} ms"
        return f"{value:.3g} s"
    suffix = "/s" if unit == "ops" else ""
    for scale, letter in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{letter}{suffix}"
    return f"{value:.3g}{suffix}"


def draw(dashboard: dict, results: dict, out: Path, start: float, end: float):
    panels = [p for p in queries._panels(dashboard["panels"])]
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    unit_height = 0.42
    fig = plt.figure(figsize=(22, max(4, bottom * unit_height + 1)), dpi=90)
    fig.suptitle(f"{dashboard['title']}   ({time.strftime('%Y-%m-%d %H:%M', time.localtime(start))} to "
                 f"{time.strftime('%H:%M:%S', time.localtime(end))})", fontsize=14, x=0.01, ha="left")
    grid = GridSpec(bottom, 24, figure=fig, hspace=2.2, wspace=1.2, top=1 - 0.9 / (bottom * unit_height + 1), bottom=0.02,
                    left=0.03, right=0.99)
    for panel in panels:
        pos = panel["gridPos"]
        if panel["type"] == "row":
            ax = fig.add_subplot(grid[pos["y"], :])
            ax.axis("off")
            ax.text(0, 0.5, panel["title"], fontsize=12, fontweight="bold", va="center")
            continue
        # the panel's last grid unit is left for its tick labels, so titles below stay clear
        ax = fig.add_subplot(grid[pos["y"]:pos["y"] + max(1, pos["h"] - 1), pos["x"]:pos["x"] + pos["w"]])
        ax.set_title(panel["title"], fontsize=10, loc="left")
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        series = []
        for target in panel.get("targets") or []:
            for s in results.get((panel["id"], target["refId"]), []):
                series.append((legend(target.get("legendFormat", ""), s["metric"]), s["values"]))
        if not series:
            no_value = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("noValue")
            ax.axis("off")
            ax.text(0.5, 0.4, no_value if no_value is not None else "No data", ha="center", va="center",
                    fontsize=22 if no_value is not None else 12, color="0.4")
            continue
        if panel["type"] == "stat":
            name, values = series[0]
            last = float(values[-1][1])
            ax.plot([float(t) for t, _ in values], [float(v) for _, v in values], color="tab:green", alpha=0.35)
            ax.text(0.5, 0.45, fmt(last, unit), transform=ax.transAxes, ha="center", va="center", fontsize=24,
                    fontweight="bold", color="tab:green")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        if panel["type"] == "table":
            ax.axis("off")
            rows = sorted(((name, float(values[-1][1])) for name, values in series), key=lambda r: -r[1] if not math.isnan(r[1]) else 0)
            table = ax.table(cellText=[[name, fmt(v, unit)] for name, v in rows[:10]], colLabels=["series", "value"],
                             loc="upper left", cellLoc="left", colWidths=[0.75, 0.25])
            table.auto_set_font_size(False)
            table.set_fontsize(8)
            continue
        for name, values in series:
            xs = [mdates.date2num(_dt(float(t))) for t, _ in values]
            ys = [float(v) for _, v in values]
            ax.plot(xs, ys, linewidth=1.2, label=name)
        ax.set_xlim(mdates.date2num(_dt(start)), mdates.date2num(_dt(end)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S" if end - start <= 900 else "%H:%M"))
        values = [float(v) for _, vs in series for _, v in vs if not math.isnan(float(v))]
        if values and min(values) >= 0:
            ax.set_ylim(bottom=0, top=max(values) * 1.1 or 1)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _, unit=unit: fmt(v, unit)))
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", ncol=2 if len(series) > 4 else 1, framealpha=0.6)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def _dt(seconds: float):
    return datetime.datetime.fromtimestamp(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090", help="Prometheus base URL")
    parser.add_argument("--dashboard", default="corvid-overview", help="dashboard uid or JSON file (default the overview)")
    parser.add_argument("--minutes", type=float, default=15, help="time range ending now (or --end)")
    parser.add_argument("--end", type=float, help="end of the range, Unix seconds (default now)")
    parser.add_argument("--step", type=float, help="query step in seconds (default range/240, at least 1)")
    parser.add_argument("--out", type=Path, default=Path("overview.png"), help="PNG to write")
    parser.add_argument("--require-data", action="store_true", help="exit 1 when a query returns no series")
    args = parser.parse_args()

    path = Path(args.dashboard)
    if not path.exists():
        matches = [p for p in queries.DASHBOARDS.glob("*.json") if json.loads(p.read_text()).get("uid") == args.dashboard]
        if not matches:
            parser.error(f"no dashboard with uid {args.dashboard} in {queries.DASHBOARDS}")
        path = matches[0]
    dashboard = json.loads(path.read_text())
    end = args.end or time.time()
    start = end - args.minutes * 60
    step = args.step or max(1.0, round(args.minutes * 60 / 240))
    results, empty = {}, 0
    for record in queries.dashboard_queries(path):
        try:
            series = run(args.prometheus, record, start, end, step)
            error = None
        except (RuntimeError, OSError) as failure:
            series, error = [], str(failure)
        results[(record["panel_id"], record["ref"])] = series
        empty += not series
        print(json.dumps({"panel": record["title"], "ref": record["ref"], "series": len(series), "query": record["query"],
                          **({"error": error} if error else {})}), flush=True)
    draw(dashboard, results, args.out, start, end)
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if args.require_data and empty else 0


if __name__ == "__main__":
    sys.exit(main())
