"""The compose topology started natively (`launch up --engines 2`) against the real Kafka,
schema registry and S3 server, scraped by a real Prometheus (Debian's) every second.

Faults are planted first, then measured through Prometheus's HTTP API:
  - a rule that raises on every CloudTrail event, added while the engines run (a reload),
    and a rule file whose id repeats another's (a reload that fails), then removed;
  - a forwarder destination on a closed local port, with quick retries (retries, failures);
  - a record on the threat_intel table topic whose value is not a JSON object (a rejected row);
  - N unparsable lines into the raw topic: the dead-letter count rises by exactly N;
  - the engines stopped, then M records produced: the group lag rises by exactly M.
Beside them, what a syslog device and a log shipper send through the stack's published ports
(syslog over TCP in both framings and UDP, an HTTP ingest batch with the .env token and one
with a wrong token) is counted exactly by the connectors and parsed by the engines as the
log types their sources name.
Between them, the intrusion scenario's load, so every panel's and alerting rule's
expression (queries.py) has series to return, and the overview dashboard is rendered from
this Prometheus. `launch down` always runs at the end and stops only what `up` started.

Run by deploy/compose/check-live.sh (scripts/test.sh). CORVID_BIN names the corvid binary
(default target/debug/corvid, which must exist); CORVID_LIVE_SCREENSHOT=PATH also writes the
rendered overview there (how docs/overview.png was made).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

COMPOSE_DIR = Path(__file__).resolve().parents[1]
ROOT = COMPOSE_DIR.parents[1]
sys.path.insert(0, str(COMPOSE_DIR))

import launcher  # noqa: E402
import queries  # noqa: E402
import render_dashboard  # noqa: E402

ENGINES = 2
SCRAPE = "1s"
RAW_TOPIC = "corvid.raw"  # config/engine.yml's topics.raw
TABLE_TOPIC = "corvid.table.threat_intel"  # the load-tables service's table, on connect table's default topic
DEAD_LETTER_LINES = 37  # planted unparsable raw records
LAG_RECORDS = 1500  # produced while the engines are stopped (> the 1000 of CorvidConsumerGroupLag)
RAISING_RULE = "Live.RaisesOnCloudTrail"

# Alerts whose whole expression (threshold included) must return a series: the test
# plants what fires them. Every other alert's operands are checked without their
# thresholds (they need a longer or sicker run than this one to fire).
FIRING_WHILE_RUNNING = {"CorvidDeadLettersRising", "CorvidRuleErrors", "CorvidDestinationFailures",
                        "CorvidDestinationRetries", "CorvidRuleReloadFailed"}
FIRING_WHILE_ENGINES_STOPPED = {"CorvidEngineDown"}
# An operand that stays empty without a fault the test cannot plant: the series it reads
# must exist with any label value instead.
UNPLANTABLE = {
    "CorvidAlertTransactionsAborted": "only Kafka aborting an alerts transaction creates result=\"aborted\"",
}

SAMPLE = ROOT / "loadtest" / "samples" / "osquery_differential.log"
# Prometheus's jobs (prometheus/prometheus.yml); engine has one target per process.
JOBS = ["engine", "connect-file", "connect-syslog", "connect-http", "forwarder", "lag-exporter", "prometheus"]


def unparsable(lines: list[str]) -> int:
    """Lines that are no JSON object (the sample logs hold one: a dead letter)."""
    def is_object(line):
        try:
            return isinstance(json.loads(line), dict)
        except ValueError:
            return False
    return sum(not is_object(line) for line in lines)


CORVID = Path(os.environ.get("CORVID_BIN") or ROOT / "target" / "debug" / "corvid")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check, timeout: float, interval: float = 0.5):
    """Polls `check` until it returns something truthy; fails naming `what` and the last value."""
    deadline = time.time() + timeout
    last = None
    while True:
        try:
            last = check()
        except (OSError, RuntimeError) as error:  # Prometheus not answering yet
            last = error
        if last and not isinstance(last, Exception):
            return last
        if time.time() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f} s (last: {last!r})")
        time.sleep(interval)


# ---- the rules directory the engines run: the repository's detections plus the test's


UPDATING_RULE_YML = """\
AnalysisType: rule
Filename: live_every_osquery_event.py
RuleID: Live.EveryOsqueryEvent
DisplayName: Every osquery event (the live test's)
Enabled: true
LogTypes: [Osquery.Differential]
Severity: Info
DedupPeriodMinutes: 60
Threshold: 1
"""

# One alert per test run (its dedup string is the run's token), updated by every later
# epoch with osquery events: alerts created and updated, whatever earlier runs left in
# the checkpoint's dedup state.
UPDATING_RULE_PY = """\
def rule(event):
    return True


def dedup(event):
    return "live-test-TOKEN"
"""

RAISING_RULE_YML = f"""\
AnalysisType: rule
Filename: live_raises.py
RuleID: {RAISING_RULE}
DisplayName: Raises on every CloudTrail event (the live test's)
Enabled: true
LogTypes: [AWS.CloudTrail]
Severity: Low
"""

RAISING_RULE_PY = """\
def rule(event):
    raise ValueError("the live test's rule raises on purpose")
"""


def forwarder_config(closed_port: int) -> str:
    """config/forwarder.yml plus a destination nobody listens on, retried quickly."""
    config = yaml.safe_load((COMPOSE_DIR / "config" / "forwarder.yml").read_text())
    config["retry"] = {"attempts": 2, "initial_backoff_ms": 50, "max_backoff_ms": 100, "timeout_ms": 2000}
    config["destinations"].append({"id": "closed-port", "name": "Nobody listens here", "type": "webhook",
                                   "notify": "every", "url": f"http://127.0.0.1:{closed_port}/alerts"})
    for severity in ("INFO", "LOW"):  # the test rules' alerts, not the intrusion's
        config["severity_routes"][severity] = config["severity_routes"].get(severity, []) + ["closed-port"]
    return yaml.safe_dump(config, sort_keys=False)


# ---- Prometheus


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def get(self, path: str, **params) -> dict:
        return render_dashboard.prometheus(self.url, path, params)

    def query(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def value(self, expr: str) -> float | None:
        """The single value of a one-series expression (None when it has no series)."""
        result = self.query(expr)
        assert len(result) <= 1, f"{expr}: {len(result)} series"
        return float(result[0]["value"][1]) if result else None

    def targets(self) -> list[dict]:
        return self.get("/api/v1/targets", state="active")["activeTargets"]

    def settled(self, expr: str, quiet: float, timeout: float, at_least: float | None = None) -> float:
        """The value of `expr` once it has not changed for `quiet` seconds (and reached `at_least`)."""
        deadline = time.time() + timeout
        last, since = None, time.time()
        while True:
            value = self.value(expr)
            if value != last:
                last, since = value, time.time()
            elif value is not None and (at_least is None or value >= at_least) and time.time() - since >= quiet:
                return value
            if time.time() > deadline:
                pytest.fail(f"{expr} did not settle{f' at or above {at_least}' if at_least is not None else ''} "
                            f"within {timeout:.0f} s (last {last})")
            time.sleep(0.5)


# ---- the stack


class Stack:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.run_dir = tmp / "run"
        self.rules = tmp / "rules"
        self.token = uuid.uuid4().hex[:12]
        self.prometheus_port = free_port()
        self.prom = Prometheus(f"http://127.0.0.1:{self.prometheus_port}")
        self.started = time.time()
        self.garbage_source = f"live-garbage-{self.token}"
        self.sample_source = f"live-sample-{self.token}"
        self.clock = time.time()

    def phase(self, what: str):
        now = time.time()
        print(f"[{now - self.started:6.1f} s] {what} ({now - self.clock:.1f} s)", flush=True)
        self.clock = now

    def launch(self, verb: str, *args, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        answer = subprocess.run([sys.executable, str(COMPOSE_DIR / "launcher.py"), verb, "--run-dir", str(self.run_dir), *args],
                                capture_output=True, text=True, timeout=timeout)
        if check:
            assert answer.returncode == 0, f"launch {verb} failed:\n{answer.stderr}"
        return answer

    def plan(self) -> dict:
        return json.loads((self.run_dir / "plan.json").read_text())

    def engine_config(self) -> Path:
        process = self.plan()["services"]["engine"]["processes"][0]
        return Path(next(f["path"] for f in process["files"] if f["target"] == "/etc/corvid/engine.yml"))

    def corvid(self, *args, timeout: float = 120) -> str:
        answer = subprocess.run([str(CORVID), *args], capture_output=True, text=True, timeout=timeout)
        assert answer.returncode == 0, f"corvid {' '.join(args)}:\n{answer.stdout}\n{answer.stderr}"
        return answer.stdout + answer.stderr

    def produce_lines(self, lines: list[str], source: str, log_type: str = "Osquery.Differential"):
        """The lines into the raw topic with the file connector, one record each."""
        path = self.tmp / f"{source}.log"
        path.write_text("".join(line + "\n" for line in lines))
        self.corvid("connect", "file", "--path", str(path), "--topic", RAW_TOPIC, "--source-id", source,
                    "--log-types", log_type, "--brokers", "127.0.0.1:9092", "--partitions", "8")

    def logs(self) -> str:
        out = []
        for path in sorted((self.run_dir / "logs").glob("*.log")):
            out.append(f"--- {path.name} (last lines)\n" + "".join(path.read_text(errors="replace").splitlines(True)[-12:]))
        return "\n".join(out)


def reloads(stack: Stack, result: str) -> float:
    return stack.prom.value(f'sum(corvid_rule_reloads_total{{result="{result}"}})') or 0


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    if not CORVID.exists():
        pytest.fail(f"{CORVID} does not exist: cargo build --bin corvid (or set CORVID_BIN)")
    tmp = tmp_path_factory.mktemp("live")
    s = Stack(tmp)
    shutil.copytree(ROOT / "rules", s.rules, ignore=shutil.ignore_patterns("__pycache__"))
    live = s.rules / "live_test"
    live.mkdir()
    (live / "live_every_osquery_event.yml").write_text(UPDATING_RULE_YML)
    (live / "live_every_osquery_event.py").write_text(UPDATING_RULE_PY.replace("TOKEN", s.token))
    forwarder = tmp / "forwarder.yml"
    forwarder.write_text(forwarder_config(free_port()))
    try:
        s.launch("up", "--engines", str(ENGINES), "--no-build", "--corvid", str(CORVID), "--scrape-interval", SCRAPE,
                 "-e", f"PROMETHEUS_PORT={s.prometheus_port}", "-e", f"CORVID_RULES_DIR={s.rules}",
                 "-e", f"CORVID_FORWARDER_CONFIG={forwarder}")
        s.started = s.clock = time.time()
        s.phase("up")
        wait_for("every target up", lambda: (t := s.prom.targets()) and len(t) >= len(JOBS) + ENGINES - 1
                 and all(x["health"] == "up" for x in t), timeout=90)
        wait_for("the engines reading the sample logs",
                 lambda: (s.prom.value("sum(corvid_records_received_total)") or 0) > 0, timeout=90)
        s.phase("every target up, the engines reading")

        # A rule added while the engines run (a reload), one file whose id repeats it (a
        # reload that fails), then that file removed (a reload again).
        ok = reloads(s, "ok")
        (live / "live_raises.py").write_text(RAISING_RULE_PY)  # the module first: the YAML makes it a rule
        (live / "live_raises.yml").write_text(RAISING_RULE_YML)
        wait_for("both engines reloading the raising rule", lambda: reloads(s, "ok") >= ok + ENGINES, timeout=60)
        wait_for("the raising rule running", lambda: s.prom.query(f'corvid_rule_timeouts_total{{rule_id="{RAISING_RULE}"}}'),
                 timeout=30)
        ok = reloads(s, "ok")
        # Twice, so the failed count rises after its first scrape (increase() > 0).
        (live / "live_raises_again.yml").write_text(RAISING_RULE_YML)
        wait_for("both engines failing to reload a repeated rule id", lambda: reloads(s, "failed") >= ENGINES, timeout=60)
        (live / "live_raises_again.yml").write_text(RAISING_RULE_YML + "# changed\n")
        wait_for("both engines failing again", lambda: reloads(s, "failed") >= 2 * ENGINES, timeout=60)
        (live / "live_raises_again.yml").unlink()
        wait_for("both engines reloading after the repeat was removed", lambda: reloads(s, "ok") >= ok + ENGINES, timeout=60)
        s.phase("rule reloads planted")

        # A lookup-table record whose value is not a JSON object.
        from confluent_kafka import Producer
        producer = Producer({"bootstrap.servers": "127.0.0.1:9092"})
        producer.produce(TABLE_TOPIC, key=f"live-test-{s.token}".encode(), value=b"not a JSON object")
        assert producer.flush(30) == 0, "the bad table record was not delivered"

        # The load: the intrusion scenario's three log types and a first unparsable line.
        s.corvid("loadtest", "scenario", "intrusion", "--events", "20000", "--config", str(s.engine_config()))
        s.produce_lines(["the first unparsable line {"], s.garbage_source)
        s.phase("scenario produced")
        # A counter appears at its first increment, so rate() and increase() see only what
        # comes after that scrape: once the planted faults' series are there, a second wave
        # (CloudTrail for the raising rule, osquery for alert updates and destinations, and
        # one more unparsable line) moves them again.
        for expr in [f'corvid_rule_errors_total{{rule_id="{RAISING_RULE}"}}', "corvid_destination_retries_total",
                     "corvid_destination_failures_total", f'corvid_dead_letters_total{{source="{s.garbage_source}"}}',
                     'corvid_table_rows_rejected_total{table="threat_intel"}']:
            wait_for(f"{expr} scraped", lambda: s.prom.query(expr), timeout=90)
        time.sleep(2)
        scenario = tmp / "scenario"
        s.corvid("loadtest", "scenario", "intrusion", "--events", "300", "--seed", "2", "--write-to", str(scenario))
        cloudtrail = (scenario / "AWS.CloudTrail.log").read_text().splitlines()
        s.produce_lines(cloudtrail[:50], "live-test-cloudtrail", "AWS.CloudTrail")
        s.produce_lines(SAMPLE.read_text().splitlines(), s.sample_source)
        s.produce_lines(["the second unparsable line {"], s.garbage_source)
        s.phase("second wave produced")
        yield s
    finally:
        if sys.exc_info()[0] is not None or request.session.testsfailed:
            print(s.logs(), file=sys.stderr)
        answer = s.launch("down", check=False)
        assert answer.returncode == 0, answer.stderr


# ---- the tests, in the order they run (the last one stops the engines)


def test_every_component_is_scraped(stack):
    targets = stack.prom.targets()
    jobs = sorted(t["labels"]["job"] for t in targets)
    assert jobs == sorted(["engine"] * ENGINES + [j for j in JOBS if j != "engine"]), jobs
    down = [(t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"]
    assert not down, down
    components = {r["metric"]["component"]: int(r["value"][1])
                  for r in stack.prom.query("count by (component) (corvid_build_info)")}
    assert components == {"engine": ENGINES, "connect-file": 1, "connect-syslog": 1, "connect-http": 1,
                          "forwarder": 1, "lag-exporter": 1}
    # The tailer sent the sample logs once and keeps running (no one-shot exit).
    assert stack.prom.value('sum(corvid_connector_records_total{connector="file", source="osquery-fleet"})') == \
        len(SAMPLE.read_text().splitlines())
    assert stack.prom.value('sum(corvid_file_tail_files_watched{source="osquery-fleet"})') == 1


# ---- the log connectors, through the stack's published ports


SYSLOG_TCP = [  # newline-framed, then octet-counted (RFC 6587)
    "<34>1 2026-11-28T10:00:00.000Z fw-1.corp.example sshd 4242 ID47 - Failed password for root from 203.0.113.9",
    "<165>1 2026-11-28T10:00:01.000Z fw-1.corp.example kernel - - - link eth0 down",
    "<13>Nov 28 10:00:02 switch-3 sshd[99]: Accepted publickey for ops from 198.51.100.7",
]
SYSLOG_UDP = ["<14>Nov 28 10:00:03 ap-7 hostapd: station 02:00:00:00:00:01 associated"]


def syslog_and_http_batch(stack: Stack) -> tuple[int, int]:
    """What a syslog device and a log shipper would send: syslog over TCP (both framings) and
    UDP to the published SYSLOG_PORT, an NDJSON batch to POST /ingest/http-ingest with the
    .env token (and one with a wrong token, refused)."""
    env = dotenv()
    port = int(env["SYSLOG_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as tcp:
        framed = [(line + "\n").encode() for line in SYSLOG_TCP[:2]]
        framed += [f"{len(line.encode())} {line}".encode() for line in SYSLOG_TCP[2:]]
        tcp.sendall(b"".join(framed))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for line in SYSLOG_UDP:
            udp.sendto(line.encode(), ("127.0.0.1", port))
    lines = [line for line in SAMPLE.read_text().splitlines() if not unparsable([line])] + SYSLOG_TCP[:1]
    url = f"http://127.0.0.1:{env['HTTP_INGEST_PORT']}/ingest/http-ingest"
    body = ("\n".join(lines) + "\n").encode()
    assert http_post(url, body, env["HTTP_INGEST_TOKEN"]) == 200
    assert http_post(url, b"refused line\n", "not-the-token") == 401
    return len(SYSLOG_TCP) + len(SYSLOG_UDP), len(lines)


def osquery_enroll_and_log(stack: Stack, results: list[str]) -> None:
    """osqueryd's TLS enroll and logger conversation (over the default stack's plain HTTP),
    with .env's enroll secret: a node key, then one result log."""
    env = dotenv()
    base = f"http://127.0.0.1:{env['HTTP_INGEST_PORT']}/osquery"
    host = f"live-{stack.token}.corp.example"
    status, answer = http_post_json(f"{base}/enroll", {"enroll_secret": "wrong", "host_identifier": host})
    assert (status, answer) == (200, {"node_invalid": True})
    status, answer = http_post_json(f"{base}/enroll", {"enroll_secret": env["OSQUERY_ENROLL_SECRET"],
                                                       "host_identifier": host, "host_details": {}})
    assert status == 200 and answer.get("node_invalid") is False and answer.get("node_key"), answer
    status, answer = http_post_json(f"{base}/log", {"node_key": answer["node_key"], "log_type": "result",
                                                    "data": [json.loads(line) for line in results]})
    assert (status, answer) == (200, {}), answer


def http_post(url: str, body: bytes, token: str | None = None) -> int:
    return _post(url, body, {"Authorization": f"Bearer {token}"} if token else {})[0]


def http_post_json(url: str, document: dict) -> tuple[int, dict]:
    status, body = _post(url, json.dumps(document).encode(), {"Content-Type": "application/json"})
    return status, json.loads(body or b"null")


def _post(url: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def dotenv() -> dict:
    """.env's values, read as the launcher (and compose) read them."""
    return launcher.read_env_file(COMPOSE_DIR / ".env")


def test_syslog_http_ingest_and_osquery_reach_kafka_and_the_engine(stack):
    parsed = lambda source, log_type: stack.prom.value(  # noqa: E731
        f'sum(corvid_events_parsed_total{{source="{source}", log_type="{log_type}"}})') or 0
    sample = [line for line in SAMPLE.read_text().splitlines() if not unparsable([line])]
    osquery_results = sample[:3]
    expected = {("syslog", "Syslog.RFC5424"): 2, ("syslog", "Syslog.RFC3164"): 2,
                ("http-ingest", "Osquery.Differential"): len(sample), ("http-ingest", "Syslog.RFC5424"): 1,
                ("osquery", "Osquery.Differential"): len(osquery_results)}
    before = {key: parsed(*key) for key in expected}
    syslog_count, http_count = syslog_and_http_batch(stack)
    osquery_enroll_and_log(stack, osquery_results)
    records = lambda connector, source: stack.prom.value(  # noqa: E731
        f'sum(corvid_connector_records_total{{connector="{connector}", source="{source}"}})')
    # Acknowledged by Kafka, counted by the connectors, scraped: exactly what was sent.
    wait_for("the syslog, HTTP and osquery records counted",
             lambda: records("syslog", "syslog") == syslog_count and records("http", "http-ingest") == http_count
             and records("http", "osquery") == len(osquery_results), timeout=20, interval=0.3)
    messages = {r["metric"]["transport"]: int(float(r["value"][1]))
                for r in stack.prom.query('sum by (transport) (corvid_syslog_messages_total{source="syslog"})')}
    assert messages == {"tcp": len(SYSLOG_TCP), "udp": len(SYSLOG_UDP)}
    codes = {r["metric"]["code"]: int(float(r["value"][1]))
             for r in stack.prom.query('sum by (code) (corvid_http_requests_total{source="http-ingest"})')}
    assert codes == {"200": 1, "401": 1}, codes
    osquery = {(r["metric"]["source"], r["metric"]["code"]): int(float(r["value"][1])) for r in stack.prom.query(
        'sum by (source, code) (corvid_http_requests_total{source=~"osquery.*"})')}
    assert osquery == {("osquery-enroll", "200"): 2, ("osquery", "200"): 1}, osquery
    # ... and parsed by the engines as the log types their sources name.
    wait_for("the engines parsing them", lambda: all(parsed(*k) - before[k] >= n for k, n in expected.items()),
             timeout=30, interval=0.5)
    time.sleep(2)  # two more scrapes: nothing beyond
    got = {k: parsed(*k) - before[k] for k in expected}
    print(f"syslog {syslog_count}, HTTP {http_count} and osquery {len(osquery_results)} records counted; events parsed {got}")
    stack.phase("syslog, HTTP ingest and osquery counted and parsed")
    assert got == expected


def test_dead_letters_rise_by_exactly_the_unparsable_lines(stack):
    total = "sum(corvid_dead_letters_total)"
    # Everything produced so far counted: the fixture's last dead letters (its two
    # unparsable lines, the sample's one), nothing left behind the group, the count still.
    count = lambda source: stack.prom.value(f'sum(corvid_dead_letters_total{{source="{source}"}})')  # noqa: E731
    wait_for("the fixture's dead letters counted",
             lambda: count(stack.garbage_source) == 2
             and count(stack.sample_source) == unparsable(SAMPLE.read_text().splitlines()), timeout=120)
    wait_for("the engines caught up", lambda: stack.prom.value("sum(corvid_consumer_group_lag)") == 0, timeout=120)
    before = stack.prom.settled(total, quiet=6, timeout=60)
    stack.produce_lines([f"garbage line {i} of the live test, not JSON {{" for i in range(DEAD_LETTER_LINES)],
                        stack.garbage_source)
    after = stack.prom.settled(total, quiet=5, timeout=90, at_least=before + DEAD_LETTER_LINES)
    print(f"dead letters: planted {DEAD_LETTER_LINES}, sum(corvid_dead_letters_total) {before:.0f} -> {after:.0f}")
    stack.phase("dead letters counted")
    assert after - before == DEAD_LETTER_LINES
    assert count(stack.garbage_source) == 2 + DEAD_LETTER_LINES


def test_the_raising_rule_counts_its_errors(stack):
    errors = stack.prom.settled(f'sum(corvid_rule_errors_total{{rule_id="{RAISING_RULE}"}})', quiet=3, timeout=60)
    evaluations = stack.prom.value(f'sum(corvid_rule_evaluations_total{{rule_id="{RAISING_RULE}"}})')
    print(f"rule errors: {RAISING_RULE} {errors:.0f} of {evaluations:.0f} evaluations")
    assert errors > 0 and errors == evaluations
    others = stack.prom.query(f'sum by (rule_id) (corvid_rule_errors_total{{rule_id!="{RAISING_RULE}"}}) > 0')
    assert others == [], f"other rules raised: {others}"
    assert stack.prom.value(f'sum(corvid_rule_matches_total{{rule_id="{RAISING_RULE}"}})') in (None, 0)


def _operands(expr: str) -> list[str]:
    """An alert expression's `and` operands without their comparison with a constant, and
    absent(X) as X: what must have series for the alert to be able to fire."""
    parts, depth, start = [], 0, 0
    for match in re.finditer(r"[()]|\band(\s+on\s*\([^)]*\))?\s", expr):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            parts.append(expr[start:match.start()])
            start = match.end()
    parts.append(expr[start:])
    operands = []
    for part in parts:
        part = re.sub(r"\s*(==|!=|>=|<=|>|<)\s*(bool\s+)?[-+]?[0-9.]+(e[-+]?\d+)?\s*$", "", part.strip())
        absent = re.fullmatch(r"absent\((.*)\)", part, re.S)
        operands.append(absent.group(1) if absent else part)
    return operands


def test_operands_split_alert_expressions():
    assert _operands("max by (operator) (x) > 120 and max by (operator) (delta(x[2m])) >= 0") == \
        ["max by (operator) (x)", "max by (operator) (delta(x[2m]))"]
    assert _operands("sum(increase(c[10m])) == 0 and on () count(b{component=\"engine\"}) > 0") == \
        ["sum(increase(c[10m]))", "count(b{component=\"engine\"})"]
    assert _operands('absent(b{component="engine"})') == ['b{component="engine"}']


def _missing(stack: Stack) -> list[str]:
    missing = []
    for record in queries.all_queries():
        where = (f"{record['dashboard']} / {record['title']} [{record['ref']}]" if record["kind"] == "panel"
                 else f"alert {record['title']}")
        if record["kind"] == "panel" or record["title"] in FIRING_WHILE_RUNNING:
            if not stack.prom.query(record["query"]):
                missing.append(f"{where}: {record['query']}")
            continue
        if record["title"] in UNPLANTABLE:
            checks = [f'count({{__name__="{name}"}})' for name in record["metrics"]]
        else:
            checks = _operands(record["query"])
        missing += [f"{where}: {check}" for check in checks if not stack.prom.query(check)]
    return missing


def test_every_panel_and_alert_expression_returns_series(stack):
    # Counters appear at their first increment, rates need two scrapes: give them time.
    deadline = time.time() + 90
    while (missing := _missing(stack)) and time.time() < deadline:
        time.sleep(2)
    assert stack.prom.query("corvid_no_such_metric_total") == []  # the check can tell
    stack.phase("every expression has series" if not missing else "expressions without series")
    assert not missing, "expressions without a series:\n" + "\n".join(missing)
    assert set(FIRING_WHILE_RUNNING | FIRING_WHILE_ENGINES_STOPPED | set(UNPLANTABLE)) <= \
        {r["title"] for r in queries.alert_queries()}


def test_the_overview_renders_from_live_data(stack, tmp_path):
    out = tmp_path / "overview.png"
    minutes = (time.time() - stack.started) / 60 + 0.25
    answer = subprocess.run([sys.executable, str(COMPOSE_DIR / "render_dashboard.py"), "--prometheus", stack.prom.url,
                             "--dashboard", "corvid-overview", "--minutes", f"{minutes:.2f}", "--step", "2",
                             "--out", str(out), "--require-data"], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    lines = [json.loads(line) for line in answer.stdout.splitlines()]
    assert len(lines) == len(queries.dashboard_queries(queries.DASHBOARDS / "overview.json"))
    assert all(line["series"] > 0 for line in lines), lines
    stack.phase(f"overview rendered ({out.stat().st_size} bytes)")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000
    if os.environ.get("CORVID_LIVE_SCREENSHOT"):
        shutil.copyfile(out, os.environ["CORVID_LIVE_SCREENSHOT"])


def test_stopped_engines_grow_the_group_lag_by_what_is_produced(stack):
    lag = "sum(corvid_consumer_group_lag)"
    stack.launch("stop", "engine")
    stack.phase("engines stopped")
    status = stack.launch("status", check=False).stdout
    assert re.search(r"^engine-0 .*stopped", status, re.M) and re.search(r"^engine-1 .*stopped", status, re.M), status
    engine_down = next(r for r in queries.alert_queries() if r["title"] == "CorvidEngineDown")
    wait_for("CorvidEngineDown's expression while the engines are stopped",
             lambda: stack.prom.query(engine_down["query"]), timeout=30)
    # The engines' last commits, read by the exporter (every 5 s) and scraped.
    before = stack.prom.settled(lag, quiet=8, timeout=60)
    sample = SAMPLE.read_text().splitlines()
    stack.produce_lines([sample[i % len(sample)] for i in range(LAG_RECORDS)], f"live-lag-{stack.token}")
    after = stack.prom.settled(lag, quiet=8, timeout=60, at_least=before + LAG_RECORDS)
    print(f"consumer group lag with the engines stopped: {before:.0f} -> {after:.0f} after {LAG_RECORDS} records")
    stack.phase("lag measured")
    assert after - before == LAG_RECORDS
    assert stack.prom.query('sum by (group, topic) (corvid_consumer_group_lag{group="corvid-engine"}) > 1000')
