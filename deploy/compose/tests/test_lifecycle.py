"""launch up / status / stop / start / down on a small stand-in topology (no Kafka): a script
service, a one-shot another service waits for, and a long-running process; `down` stops only
what `up` started, a failed `up` stops what it had started, and `stop` / `start` one service."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

COMPOSE_DIR = Path(__file__).resolve().parents[1]

STUB = r"""#!/usr/bin/env bash
# A stand-in for scripts/kafka.sh: up/down/status of a python http.server on $1's port.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
port=PORT
echo "$1" >>"$dir/calls"
alive() { [[ -f $dir/pid ]] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }
case $1 in
  up) alive && exit 0
      setsid nohup python3 -m http.server "$port" --bind 127.0.0.1 >"$dir/log" 2>&1 </dev/null &
      echo $! >"$dir/pid"
      for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && exit 0; sleep 0.1; done; exit 1 ;;
  down) alive && kill "$(cat "$dir/pid")"; rm -f "$dir/pid" ;;
  status) alive ;;
esac
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def stack(tmp_path):
    store_port, sink_port = free_port(), free_port()
    stub = tmp_path / "stub" / "service.sh"
    stub.parent.mkdir()
    stub.write_text(STUB.replace("PORT", str(store_port)))
    stub.chmod(0o755)
    compose = tmp_path / "docker-compose.yml"

    def write(once_exit=0):
        compose.write_text(textwrap.dedent(f"""\
            services:
              store:
                image: stub
                labels:
                  corvid.native: script
                  corvid.native.script: {stub}
                  corvid.native.port: "{store_port}"
                ports: ["{store_port}:80"]
              once:
                image: corvid:dev
                entrypoint: ["python3", "-c"]
                command: ["import sys; open('/data/once', 'w').write('done'); sys.exit({once_exit})"]
                volumes: ["data:/data"]
              sink:
                image: corvid:dev
                entrypoint: ["python3", "/app/webhook_sink.py"]
                command: ["--listen", "0.0.0.0:8099"]
                ports: ["{sink_port}:8099"]
                volumes: ["{COMPOSE_DIR / 'webhook_sink.py'}:/app/webhook_sink.py:ro", "data:/data"]
                restart: unless-stopped
                depends_on:
                  store: {{condition: service_healthy}}
                  once: {{condition: service_completed_successfully}}
            volumes:
              data:
            """))

    write()
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}

    def launch(verb, *args):
        extra = ["-f", str(compose)] if verb in ("up", "plan", "prepare") else []
        return subprocess.run([sys.executable, str(COMPOSE_DIR / "launcher.py"), verb, "--run-dir", str(run_dir),
                               *extra, *args], capture_output=True, text=True, env=env, timeout=120)

    class Stack:
        pass

    s = Stack()
    s.launch, s.write, s.run_dir, s.stub, s.store_port, s.sink_port = launch, write, run_dir, stub, store_port, sink_port
    s.calls = lambda: (stub.parent / "calls").read_text().split() if (stub.parent / "calls").exists() else []
    yield s
    launch("down")
    subprocess.run([str(stub), "down"], check=False)


def post(port: int) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/alerts", data=json.dumps({"alertId": "a1"}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status


def test_up_status_down(stack):
    answer = stack.launch("up")
    assert answer.returncode == 0, answer.stderr
    assert stack.calls() == ["status", "up"]
    assert (stack.run_dir / "volumes" / "data" / "once").read_text() == "done"
    assert post(stack.sink_port) == 200
    status = stack.launch("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "exited 0" in status.stdout and "started by launch" in status.stdout
    state = json.loads((stack.run_dir / "state.json").read_text())
    groups = [p["pgid"] for p in state["processes"]]

    answer = stack.launch("down")
    assert answer.returncode == 0, answer.stderr
    assert stack.calls()[-1] == "down"
    for pgid in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
    assert stack.launch("status").returncode == 1
    assert stack.launch("down").returncode == 0  # idempotent


def test_a_running_script_service_is_reused_and_left_running(stack):
    subprocess.run([str(stack.stub), "up"], check=True)
    answer = stack.launch("up")
    assert answer.returncode == 0, answer.stderr
    assert "already running; using it" in answer.stderr
    assert stack.launch("up").returncode == 1  # already up
    stack.launch("down")
    assert stack.calls() == ["up", "status"]  # launch asked, and never stopped it
    assert subprocess.run([str(stack.stub), "status"]).returncode == 0


def test_a_failed_up_stops_what_it_started(stack):
    stack.write(once_exit=3)
    answer = stack.launch("up")
    assert answer.returncode == 1
    assert "once exited with 3" in answer.stderr
    assert stack.calls() == ["status", "up", "down"]
    state = json.loads((stack.run_dir / "state.json").read_text())
    assert state["processes"] == [] and state["scripts_started"] == []
    time.sleep(0.2)
    with pytest.raises(OSError):
        post(stack.sink_port)


def test_stop_and_start_one_service(stack):
    assert stack.launch("up").returncode == 0
    state = json.loads((stack.run_dir / "state.json").read_text())
    sink = next(p for p in state["processes"] if p["name"] == "sink")
    assert post(stack.sink_port) == 200

    answer = stack.launch("stop", "sink")
    assert answer.returncode == 0, answer.stderr
    with pytest.raises(ProcessLookupError):
        os.killpg(sink["pgid"], 0)
    with pytest.raises(OSError):
        post(stack.sink_port)
    assert subprocess.run([str(stack.stub), "status"]).returncode == 0  # the rest runs on
    status = stack.launch("status")
    assert status.returncode == 1 and "stopped by `launch stop`" in status.stdout, status.stdout
    for wrong in ("store", "nothing-like-it"):  # a script service; no such service
        answer = stack.launch("stop", wrong)
        assert answer.returncode == 1 and wrong in answer.stderr

    answer = stack.launch("start", "sink")
    assert answer.returncode == 0, answer.stderr
    deadline = time.time() + 10
    while True:
        try:
            assert post(stack.sink_port) == 200
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    status = stack.launch("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert [c for c in stack.calls() if c != "status"] == ["up"]  # stop and start left the script service alone
    assert stack.launch("down").returncode == 0
    assert stack.calls()[-1] == "down"
