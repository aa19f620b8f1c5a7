"""docker-compose.yml and the native launcher's plan describe the same topology: every
service's command, ports and volumes (plan_compare.py), the generated configs, and planted
mismatches that the comparison must catch."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
COMPOSE_DIR = HERE.parent
ROOT = COMPOSE_DIR.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(COMPOSE_DIR))

import launcher  # noqa: E402
import plan_compare  # noqa: E402

FAKE_CORVID = "/opt/corvid-test/bin/corvid"


def clean_env(**extra) -> dict:
    """The tests' environment: no stray ENGINE_REPLICAS or CORVID_* from the caller's shell."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_CACHE_HOME", "CORVID_CACHE")}
    env.update(extra)
    return env


def docker_compose_config(compose_file: Path, **variables) -> dict:
    program = shutil.which("docker-compose")
    if program is None:
        pytest.fail("docker-compose is missing: scripts/ensure-debian.sh docker-compose")
    answer = subprocess.run([program, "-f", str(compose_file), "--project-directory", str(compose_file.parent), "config"],
                            capture_output=True, text=True, env=clean_env(**variables))
    assert answer.returncode == 0, answer.stderr
    return yaml.safe_load(answer.stdout)


def launch(verb: str, compose_file: Path, run_dir: Path, *args, check=True, **variables) -> subprocess.CompletedProcess:
    answer = subprocess.run([sys.executable, str(COMPOSE_DIR / "launcher.py"), verb, "-f", str(compose_file),
                             "--run-dir", str(run_dir), "--corvid", FAKE_CORVID, *args],
                            capture_output=True, text=True, env=clean_env(**variables))
    if check:
        assert answer.returncode == 0, answer.stderr
    return answer


def plan_of(compose_file: Path, run_dir: Path, *args, **variables) -> dict:
    return json.loads(launch("plan", compose_file, run_dir, *args, **variables).stdout)


@pytest.fixture
def compose_copy(tmp_path):
    """deploy/compose copied into tmp/deploy/compose, with the repository paths its bind
    mounts reach (../tables, ../../rules, ../../loadtest) linked, to plant changes in."""
    copy_dir = tmp_path / "repo" / "deploy" / "compose"
    shutil.copytree(COMPOSE_DIR, copy_dir, ignore=shutil.ignore_patterns(".run", "tests", "__pycache__"))
    (tmp_path / "repo" / "deploy" / "tables").symlink_to(ROOT / "deploy" / "tables")
    for name in ("rules", "loadtest"):
        (tmp_path / "repo" / name).symlink_to(ROOT / name)
    return copy_dir / "docker-compose.yml"


def edit(compose_file: Path, old: str, new: str):
    text = compose_file.read_text()
    assert old in text, old
    compose_file.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("engines", [1, 2, 3])
def test_compose_and_plan_agree(tmp_path, engines):
    compose = docker_compose_config(COMPOSE_DIR / "docker-compose.yml", ENGINE_REPLICAS=str(engines))
    plan = plan_of(COMPOSE_DIR / "docker-compose.yml", tmp_path / "run", "--engines", str(engines))
    assert plan_compare.compare(compose, plan) == []
    # the engine cluster: N processes, -p 0..N-1, one hostfile with N distinct addresses
    processes = plan["services"]["engine"]["processes"]
    assert [p["argv"][p["argv"].index("-p") + 1] for p in processes] == [str(i) for i in range(engines)]
    assert len(set(processes[0]["hostfile"]["lines"])) == engines
    assert compose["services"]["engine"]["deploy"]["replicas"] == engines


def test_every_service_is_accounted_for(tmp_path):
    plan = plan_of(COMPOSE_DIR / "docker-compose.yml", tmp_path / "run")
    kinds = {name: s["kind"] for name, s in plan["services"].items()}
    assert kinds == {
        "kafka": "script", "schema-registry": "script", "s3": "script", "s3-init": "covered",
        "load-tables": "exec", "engine": "exec", "connect-file": "exec", "connect-syslog": "exec",
        "connect-http": "exec", "webhook-sink": "exec", "forwarder": "exec", "lag-exporter": "exec",
        "prometheus": "exec", "grafana": "none",
    }
    # dependencies first: infrastructure, the table, then the engine
    order = plan["order"]
    assert order.index("kafka") < order.index("load-tables") < order.index("engine")
    assert order.index("s3") < order.index("engine")


def test_log_connectors_run_from_their_configs(tmp_path):
    """The three log connectors: the published syslog port serves UDP and TCP on one native
    port, the HTTP token and osquery secrets come from .env through the environment (the
    config names them as ${NAME}, expanded by the connector), the tailer's positions are on
    its named volume, and Prometheus scrapes each under its own job."""
    compose_file = COMPOSE_DIR / "docker-compose.yml"
    run_dir = tmp_path / "run"
    launch("prepare", compose_file, run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    services = plan["services"]
    syslog_ports = {p["container"]: p for p in services["connect-syslog"]["ports"]}
    assert syslog_ports[5514] == {"container": 5514, "published": 5514, "protocols": ["udp", "tcp"], "native": [5514]}
    assert {p["container"]: p["native"] for p in services["connect-http"]["ports"]} == {8088: [8088], 9493: [9493]}

    def config(service):
        process = services[service]["processes"][0]
        assert process["argv"][1:4] == ["connect", service.split("-")[1], "--config"]
        return process, yaml.safe_load(Path(process["argv"][4]).read_text())

    process, syslog = config("connect-syslog")
    assert [(l["transport"], l["listen"]) for l in syslog["listeners"]] == [("udp", "127.0.0.1:5514"), ("tcp", "127.0.0.1:5514")]
    process, http = config("connect-http")
    env = read_dotenv()
    assert http["sources"][0]["tokens"] == ["${HTTP_INGEST_TOKEN}"]
    assert http["osquery"]["enroll_secrets"] == ["${OSQUERY_ENROLL_SECRET}"]
    for name in ("HTTP_INGEST_TOKEN", "OSQUERY_ENROLL_SECRET", "OSQUERY_NODE_KEY_SECRET"):
        assert process["env"][name] == env[name] and "demo" in env[name]
    assert len(env["OSQUERY_NODE_KEY_SECRET"]) >= 16  # the connector's minimum
    process, tail = config("connect-file")
    assert tail["positions"] == str(run_dir / "volumes" / "connect-file-data" / "connect-file.positions.json")
    assert tail["files"][0]["paths"] == [str(ROOT / "loadtest" / "samples" / "osquery_differential.log")]
    assert tail["files"][0]["source"]["id"] == "osquery-fleet"
    prometheus = yaml.safe_load((COMPOSE_DIR / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in prometheus["scrape_configs"]
            if job["job_name"].startswith("connect-")}
    assert jobs == {"connect-file": ["connect-file:9491"], "connect-syslog": ["connect-syslog:9492"],
                    "connect-http": ["connect-http:9493"]}


def read_dotenv() -> dict:
    """.env's values, read as the launcher (and compose) read them."""
    return launcher.read_env_file(COMPOSE_DIR / ".env")


def test_http_secrets_are_required(compose_copy, tmp_path):
    # No demo fallback in the compose file: without .env's values, both refuse to start.
    env_file = compose_copy.parent / ".env"
    env_file.write_text("\n".join(l for l in env_file.read_text().splitlines() if not l.startswith("HTTP_INGEST_TOKEN=")))
    answer = launch("plan", compose_copy, tmp_path / "run", check=False)
    assert answer.returncode == 1 and "HTTP_INGEST_TOKEN is required" in answer.stderr, answer.stderr
    program = shutil.which("docker-compose")
    answer = subprocess.run([program, "-f", str(compose_copy), "--project-directory", str(compose_copy.parent), "config", "-q"],
                            capture_output=True, text=True, env=clean_env())
    assert answer.returncode != 0 and "HTTP_INGEST_TOKEN" in answer.stderr, answer.stderr


def test_generated_configs_match_the_compose_ones(tmp_path):
    compose_file = COMPOSE_DIR / "docker-compose.yml"
    compose = docker_compose_config(compose_file)
    run_dir = tmp_path / "run"
    launch("prepare", compose_file, run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    comparison = plan_compare.Comparison(compose, plan)
    checked = 0
    for name, service in plan["services"].items():
        for process in service["processes"]:
            for item in process.get("files", []):
                source = Path(item["from"])
                native = Path(item["path"])
                assert native.is_file(), native
                if item["prometheus"]:
                    problems = plan_compare.compare_prometheus(source, native, compose, plan)
                    assert problems == [], problems
                    # and the rule files it names are the generated copies
                    rule_files = yaml.safe_load(native.read_text())["rule_files"]
                    assert all(Path(f).is_file() and Path(f).is_relative_to(run_dir) for f in rule_files), rule_files
                else:
                    expected = comparison.rewrite(source.read_text(), name, process["replica"], process["paths"])
                    assert native.read_text() == expected, f"{native} differs from {source} rewritten"
                    text = native.read_text()
                    assert not re.search(r"\b(kafka|s3|schema-registry|webhook-sink):\d", text), text
                    assert "0.0.0.0:" not in text
                checked += 1
    assert checked >= 5  # engine.yml per replica, forwarder.yml, prometheus.yml, alerts.yml
    engine_configs = [yaml.safe_load(Path(f["path"]).read_text())
                      for p in plan["services"]["engine"]["processes"] for f in p["files"]]
    assert len({c["metrics"]["listen"] for c in engine_configs}) == len(engine_configs)
    assert len({c["state_dir"] for c in engine_configs}) == len(engine_configs)
    hosts = (run_dir / "engine.hosts").read_text().split("\n")
    assert [h for h in hosts if h and not h.startswith("#")] == plan["services"]["engine"]["processes"][0]["hostfile"]["lines"]


# ---- the comparison must be able to fail


def test_planted_published_port_mismatch_fails(compose_copy, tmp_path):
    # Compose publishes the broker on 29092, but natively scripts/kafka.sh listens on 9092.
    edit(compose_copy, '- "9092:9092"', '- "29092:9092"')
    compose = docker_compose_config(compose_copy)
    plan = plan_of(compose_copy, tmp_path / "run")
    problems = plan_compare.compare(compose, plan)
    assert any("kafka" in p and "29092" in p for p in problems), problems


def test_planted_protocol_mismatch_fails(tmp_path):
    # The plan's syslog port lost its UDP half: devices sending datagrams would reach nothing.
    compose = docker_compose_config(COMPOSE_DIR / "docker-compose.yml")
    plan = plan_of(COMPOSE_DIR / "docker-compose.yml", tmp_path / "run")
    broken = copy.deepcopy(plan)
    for port in broken["services"]["connect-syslog"]["ports"]:
        if port["container"] == 5514:
            port["protocols"] = ["tcp"]
    problems = plan_compare.compare(compose, broken)
    assert problems == ["connect-syslog: port 5514 is udp+tcp, the plan says ['tcp']"], problems


def test_udp_and_tcp_on_different_host_ports_are_refused(compose_copy, tmp_path):
    # Natively one process binds both protocols on one port: it cannot publish two.
    edit(compose_copy, '- "${SYSLOG_PORT:-5514}:5514/tcp"', '- "5515:5514/tcp"')
    answer = launch("plan", compose_copy, tmp_path / "run", check=False)
    assert answer.returncode == 1 and "container port 5514 is published on 5514 and 5515" in answer.stderr, answer.stderr


def test_planted_native_port_label_mismatch_fails(compose_copy, tmp_path):
    # The label claims scripts/s3.sh listens on 9100; the script says 9000.
    edit(compose_copy, 'corvid.native.port: "9000"', 'corvid.native.port: "9100"')
    compose = docker_compose_config(compose_copy)
    plan = plan_of(compose_copy, tmp_path / "run")
    problems = plan_compare.compare(compose, plan)
    assert any("s3" in p and "listens on 9000" in p for p in problems), problems


def test_planted_command_mismatch_fails(tmp_path):
    compose = docker_compose_config(COMPOSE_DIR / "docker-compose.yml")
    plan = plan_of(COMPOSE_DIR / "docker-compose.yml", tmp_path / "run")
    broken = copy.deepcopy(plan)
    argv = broken["services"]["engine"]["processes"][1]["argv"]
    argv[argv.index("-w") + 1] = "3"
    problems = plan_compare.compare(compose, broken)
    assert len(problems) == 1 and problems[0].startswith("engine-1: runs"), problems

    broken = copy.deepcopy(plan)
    argv = broken["services"]["forwarder"]["processes"][0]["argv"]
    argv.append("--max-idle-secs=5")
    assert any(p.startswith("forwarder: runs") for p in plan_compare.compare(compose, broken))


def test_planted_volume_mismatch_fails(tmp_path):
    compose = docker_compose_config(COMPOSE_DIR / "docker-compose.yml")
    plan = plan_of(COMPOSE_DIR / "docker-compose.yml", tmp_path / "run")
    broken = copy.deepcopy(plan)
    broken["services"]["engine"]["volumes"] = [v for v in broken["services"]["engine"]["volumes"]
                                               if v["target"] != "/etc/corvid/rules"]
    problems = plan_compare.compare(compose, broken)
    assert any("engine: volume /etc/corvid/rules is not in the plan" == p for p in problems), problems

    broken = copy.deepcopy(plan)
    for volume in broken["services"]["prometheus"]["volumes"]:
        if volume["source"] == "prometheus-data":
            volume["native"] = [str(tmp_path / "elsewhere")]
    assert any("prometheus" in p for p in plan_compare.compare(compose, broken))


def test_planted_compose_command_change_the_launcher_does_not_follow_fails(compose_copy, tmp_path):
    # Compose now finds engine peers on another port, but the comparison is against a plan made
    # from the original file: a stale plan is caught.
    plan = plan_of(COMPOSE_DIR / "docker-compose.yml", tmp_path / "run")
    edit(compose_copy, '"--peers-dns", "engine:2101"', '"--peers-dns", "engine:2201"')
    edit(compose_copy, '- "2101"   # timely', '- "2201"   # timely')
    compose = docker_compose_config(compose_copy)
    problems = plan_compare.compare(compose, plan)
    assert any("engine" in p and "2201" in p for p in problems), problems


def test_planted_prometheus_job_mismatch_fails(tmp_path):
    compose_file = COMPOSE_DIR / "docker-compose.yml"
    compose = docker_compose_config(compose_file)
    run_dir = tmp_path / "run"
    launch("prepare", compose_file, run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    native = Path(next(f["path"] for f in plan["services"]["prometheus"]["processes"][0]["files"] if f["prometheus"]))
    config = yaml.safe_load(native.read_text())
    config["scrape_configs"][0]["job_name"] = "engines"
    config["scrape_configs"][0]["static_configs"][0]["targets"].pop()
    native.write_text(yaml.safe_dump(config))
    problems = plan_compare.compare_prometheus(COMPOSE_DIR / "prometheus" / "prometheus.yml", native, compose, plan)
    assert "job engine: missing from" in problems[0] and any("engines" in p for p in problems), problems


def test_service_without_a_native_counterpart_is_refused(compose_copy, tmp_path):
    edit(compose_copy, "\nvolumes:\n", "\n  cache:\n    image: redis:7\n\nvolumes:\n")
    answer = launch("plan", compose_copy, tmp_path / "run", check=False)
    assert answer.returncode == 1
    assert "services.cache: give the entrypoint explicitly" in answer.stderr


def test_config_naming_a_scaled_service_is_refused(compose_copy, tmp_path):
    # A multi-replica service cannot be named by host:port in a config (only --peers-dns / DNS discovery).
    (compose_copy.parent / "config" / "forwarder.yml").write_text(
        (COMPOSE_DIR / "config" / "forwarder.yml").read_text().replace("http://webhook-sink:8099/alerts", "http://engine:9464/x"))
    answer = launch("plan", compose_copy, tmp_path / "run", check=False)
    assert answer.returncode == 1 and "a service of 2 replicas" in answer.stderr, answer.stderr


def test_rules_and_forwarder_config_from_elsewhere(tmp_path):
    """CORVID_RULES_DIR and CORVID_FORWARDER_CONFIG (.env) move the two mounts, for compose
    and the launcher alike; the launcher rewrites the forwarder file it is given."""
    rules = tmp_path / "my-rules"
    rules.mkdir()
    forwarder = tmp_path / "my-forwarder.yml"
    forwarder.write_text((COMPOSE_DIR / "config" / "forwarder.yml").read_text())
    variables = {"CORVID_RULES_DIR": str(rules), "CORVID_FORWARDER_CONFIG": str(forwarder)}
    compose = docker_compose_config(COMPOSE_DIR / "docker-compose.yml", **variables)
    plan = plan_of(COMPOSE_DIR / "docker-compose.yml", tmp_path / "run",
                   *[arg for name, value in variables.items() for arg in ("-e", f"{name}={value}")])
    assert plan_compare.compare(compose, plan) == []
    engine = plan["services"]["engine"]["processes"][0]
    assert engine["paths"]["/etc/corvid/rules"] == str(rules)
    files = plan["services"]["forwarder"]["processes"][0]["files"]
    assert [f["from"] for f in files] == [str(forwarder)]


def test_scrape_interval_option(tmp_path):
    """--scrape-interval sets the generated Prometheus config's scrape and evaluation
    interval (the live test's 1 s), keeps its jobs and targets, and passes promtool."""
    compose_file = COMPOSE_DIR / "docker-compose.yml"

    def generated(run_dir, *args):
        launch("prepare", compose_file, run_dir, *args)
        plan = json.loads((run_dir / "plan.json").read_text())
        return Path(next(f["path"] for f in plan["services"]["prometheus"]["processes"][0]["files"] if f["prometheus"]))

    default = yaml.safe_load(generated(tmp_path / "default").read_text())
    path = generated(tmp_path / "fast", "--scrape-interval", "1s")
    fast = yaml.safe_load(path.read_text())
    assert default["global"]["scrape_interval"] == "5s"
    assert fast["global"]["scrape_interval"] == "1s" and fast["global"]["evaluation_interval"] == "1s"
    assert fast["scrape_configs"] == default["scrape_configs"] and fast["rule_files"] != []
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: scripts/ensure-debian.sh prometheus")
    check = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    bad = launch("prepare", compose_file, tmp_path / "bad", "--scrape-interval", "fast", check=False)
    assert bad.returncode == 1 and "--scrape-interval fast" in bad.stderr
