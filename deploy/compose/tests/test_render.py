"""render_dashboard.py against a stand-in Prometheus HTTP API: every overview query is asked
for, the PNG is drawn, --require-data fails on a query without series."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

COMPOSE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(COMPOSE_DIR))

import queries  # noqa: E402


class FakePrometheus(BaseHTTPRequestHandler):
    asked: list[str] = []
    empty: set[str] = set()

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        params = dict(urllib.parse.parse_qsl(url.query))
        query = params["query"]
        type(self).asked.append(query)
        if url.path == "/api/v1/query_range":
            start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
            points = [[start + i * step, str(i % 7)] for i in range(int((end - start) / step) + 1)]
            result = [{"metric": {"topic": "corvid.raw", "operator": "end", "job": "engine"}, "values": points}]
            kind = "matrix"
        else:
            result = [{"metric": {"rule_id": "Osquery.OutsideOfficeLogin"}, "value": [float(params["time"]), "0.25"]}]
            kind = "vector"
        if query in type(self).empty:
            result = []
        body = json.dumps({"status": "success", "data": {"resultType": kind, "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def prometheus():
    FakePrometheus.asked = []
    FakePrometheus.empty = set()
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakePrometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def render(url, out, *args):
    return subprocess.run([sys.executable, str(COMPOSE_DIR / "render_dashboard.py"), "--prometheus", url,
                           "--out", str(out), "--minutes", "5", *args], capture_output=True, text=True)


def test_renders_every_overview_panel(prometheus, tmp_path):
    out = tmp_path / "overview.png"
    answer = render(prometheus, out, "--require-data")
    assert answer.returncode == 0, answer.stderr
    expected = [r["query"] for r in queries.dashboard_queries(queries.DASHBOARDS / "overview.json")]
    assert FakePrometheus.asked == expected
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
    lines = [json.loads(line) for line in answer.stdout.splitlines()]
    assert [line["series"] for line in lines] == [1] * len(expected)


def test_require_data_fails_on_an_empty_panel(prometheus, tmp_path):
    FakePrometheus.empty = {"sum by (source, reason) (rate(corvid_dead_letters_total[5m]))"}
    answer = render(prometheus, tmp_path / "overview.png", "--require-data")
    assert answer.returncode == 1
    empty = [json.loads(line) for line in answer.stdout.splitlines() if json.loads(line)["series"] == 0]
    assert [line["panel"] for line in empty] == ["Dead letters"]


def test_renders_the_rules_dashboard_with_its_table(prometheus, tmp_path):
    answer = render(prometheus, tmp_path / "rules.png", "--dashboard", "corvid-rules")
    assert answer.returncode == 0, answer.stderr
    assert (tmp_path / "rules.png").stat().st_size > 20_000
