#!/usr/bin/env python3
"""Corvid's log connectors against kcat, producing the same lines into the real broker.

Generates N deterministic syslog lines once, then, each into a fresh topic of the same
partition count:

* kcat -P -l (the baseline: librdkafka's own command-line producer, same settings as the
  connectors: idempotence, lz4, linger.ms=5, one key and the three source headers);
* each connector of the release `corvid` binary, fed the same lines by a separate feeder
  (the connector's own process is measured, never the feeder).

A case is done when the topic's high watermarks sum to exactly N; fewer (stalled) or more
(duplicates) fails the case loudly and the run exits non-zero, as does a record read back
(after the timing) that is not one of the lines, each once, with the source headers. CPU time is the
connector's (or kcat's) utime+stime: from wait4 for one-shot processes, from
/proc/<pid>/stat just before stopping a long-running connector. records per CPU-second
is records/s per core; each connector's ratio is to kcat's figure in the same run.

Run from the project venv (confluent-kafka, boto3, requests):
    .venv/bin/python loadtest/connectors_bench/bench.py --lines 300000
"""

import argparse
import gzip
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")
SOURCE = {"source_id": "bench", "source_label": "bench", "log_types": "Syslog.RFC5424"}
# The connectors' producer settings (connectors/src/producer.rs, producer_config), given
# to kcat too so both sides batch and compress alike.
KCAT_SETTINGS = {
    "enable.idempotence": "true",
    "compression.type": "lz4",
    "linger.ms": "5",
}
HTTP_BATCH = 1000
HTTP_CLIENTS = 4
S3_OBJECTS = 10
STALL_SECS = 60


class NotAvailable(Exception):
    """The connector is not built in this binary (or lacks what the case needs)."""


class ShortCount(Exception):
    """The topic did not reach exactly N records: a failure, never a figure."""


# ---------------------------------------------------------------- lines and topics


def generate_lines(count, seed=10):
    """RFC 5424 sshd lines of ~250 bytes; the same count and seed give the same bytes."""
    rng = random.Random(seed)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    lines = []
    for i in range(count):
        seconds = i * 86400 // max(count, 1)
        stamp = "2026-11-28T%02d:%02d:%02d.%03dZ" % (
            seconds // 3600, seconds // 60 % 60, seconds % 60, rng.randrange(1000))
        fingerprint = "".join(rng.choice(alphabet) for _ in range(43))
        lines.append(
            f"<38>1 {stamp} web-{rng.randrange(200):03d}.corp.example.com sshd "
            f"{rng.randrange(1000, 65536)} AUTH [origin ip=\"10.0.{rng.randrange(256)}.{rng.randrange(256)}\"]"
            f"[meta sequenceId=\"{i}\"] Accepted publickey for user{rng.randrange(5000)} from "
            f"198.51.100.{rng.randrange(256)} port {rng.randrange(1024, 65536)} ssh2: "
            f"ED25519 SHA256:{fingerprint}")
    return lines


class Broker:
    def __init__(self, brokers, partitions):
        self.brokers = brokers
        self.partitions = partitions
        self.admin = AdminClient({"bootstrap.servers": brokers})
        self.consumer = Consumer({
            "bootstrap.servers": brokers, "group.id": "corvid-connectors-bench",
            "enable.auto.commit": "false"})

    def fresh_topic(self, name):
        futures = self.admin.create_topics([NewTopic(name, self.partitions, 1)])
        futures[name].result(30)
        return name

    def drop(self, topic):
        """Deletes a case's topics once counted (the broker is shared and long-lived)."""
        present = set(self.admin.list_topics(timeout=10).topics)
        names = [name for name in (topic, f"{topic}.cursor") if name in present]
        for name, future in self.admin.delete_topics(names).items() if names else ():
            try:
                future.result(30)
            except Exception as error:
                print(f"  (could not delete topic {name}: {error})", flush=True)

    def count(self, topic):
        """Sum of the partitions' high watermarks: records written (no compaction here)."""
        return sum(
            self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(self.partitions))

    def check_contents(self, topic, lines):
        """Reads the topic back: every line exactly once as a record's value (in any
        order across partitions), each record with the source headers."""
        reader = Consumer({
            "bootstrap.servers": self.brokers, "group.id": "corvid-connectors-bench-check",
            "enable.auto.commit": "false", "enable.partition.eof": "false"})
        reader.assign([TopicPartition(topic, p, 0) for p in range(self.partitions)])
        seen, wrong_headers = [], 0
        deadline = time.monotonic() + 300
        try:
            while len(seen) < len(lines) and time.monotonic() < deadline:
                for message in reader.consume(10000, 1.0):
                    if message.error():
                        raise ShortCount(f"{topic}: reading back: {message.error()}")
                    seen.append(message.value())
                    headers = dict(message.headers() or [])
                    if headers.get("source_id") != SOURCE["source_id"].encode():
                        wrong_headers += 1
        finally:
            reader.close()
        if sorted(seen) != sorted(line.encode() for line in lines):
            raise ShortCount(f"{topic}: the {len(seen)} records read back are not the "
                             f"{len(lines)} lines, each once")
        if wrong_headers:
            raise ShortCount(f"{topic}: {wrong_headers} records without source_id "
                             f"{SOURCE['source_id']!r}")

    def wait_for(self, topic, expected, alive=lambda: True, timeout=900):
        """Polls until the topic holds `expected` records; returns the monotonic time it
        did. Raises ShortCount on a stall, a dead producer with too few, or too many."""
        start = last_change = time.monotonic()
        last = -1
        while True:
            now = time.monotonic()
            got = self.count(topic)
            if got > expected:
                raise ShortCount(f"{topic}: {got} records for {expected} lines (duplicates)")
            if got == expected:
                # A late duplicate would still show: look once more after a moment.
                time.sleep(0.5)
                again = self.count(topic)
                if again != expected:
                    raise ShortCount(f"{topic}: {again} records for {expected} lines (duplicates)")
                return now
            if got != last:
                last, last_change = got, now
            if not alive():
                time.sleep(1)
                got = self.count(topic)
                if got != expected:
                    raise ShortCount(f"{topic}: producer exited with {got} of {expected} records")
                return time.monotonic()
            if now - last_change > STALL_SECS or now - start > timeout:
                raise ShortCount(f"{topic}: stuck at {got} of {expected} records")
            time.sleep(0.05)


# ---------------------------------------------------------------- processes


def proc_cpu_secs(pid):
    """utime+stime of every thread of `pid` so far (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss(pid):
    """VmHWM of `pid`: the peak resident memory of the program it runs now (0 once gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_to_exit(argv, stderr_path, timeout=900):
    """Runs a one-shot producer; returns (exit code, wall secs, CPU secs from wait4, peak
    RSS bytes). wait4's ru_maxrss would count this Python process, whose memory the child
    shared until exec (vfork), so the peak is VmHWM sampled every 20 ms instead."""
    with open(stderr_path, "wb") as stderr:
        start = time.monotonic()
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
        timer = threading.Timer(timeout, child.kill)
        timer.start()
        peak = [0]
        exited = threading.Event()

        def sample():
            while not exited.wait(0.02):
                peak[0] = max(peak[0], peak_rss(child.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            timer.cancel()
            exited.set()
        wall = time.monotonic() - start
        sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, wall, usage.ru_utime + usage.ru_stime, peak[0]


def tail(path, lines=15):
    text = Path(path).read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])


def not_built(stderr_path):
    """The binary's placeholder (or a binary older than the subcommand) answered."""
    text = Path(stderr_path).read_text(errors="replace")
    return any(sign in text for sign in (
        "not built yet", "unrecognized subcommand", "unexpected argument '--config'"))


class Connector:
    """A long-running `corvid connect …`: started, measured, stopped with SIGTERM."""

    def __init__(self, argv, stderr_path):
        self.stderr_path = stderr_path
        self.stderr = open(stderr_path, "wb")
        self.child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.stderr)

    def alive(self):
        return self.child.poll() is None

    def fail_if_exited(self, what):
        if not self.alive():
            if not_built(self.stderr_path):
                raise NotAvailable("not built in this binary")
            raise ShortCount(f"{what} exited with {self.child.returncode}:\n{tail(self.stderr_path)}")

    def wait_for_port(self, port, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.fail_if_exited(what)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ShortCount(f"{what}: nothing listens on 127.0.0.1:{port} after {timeout} s")

    def cpu_secs(self):
        return proc_cpu_secs(self.child.pid)

    def peak_rss(self):
        return peak_rss(self.child.pid)

    def stop(self):
        if self.alive():
            self.child.send_signal(signal.SIGTERM)
            try:
                self.child.wait(60)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self.stderr.close()
        return self.child.returncode


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- cases
# Each returns (wall secs, CPU secs, peak RSS bytes) of the producer for exactly N records
# in its topic.


def case_kcat(bench, topic):
    argv = ["kcat", "-P", "-q", "-b", bench.broker.brokers, "-t", topic, "-k", "bench",
            "-z", KCAT_SETTINGS["compression.type"], "-l", str(bench.lines_path)]
    for key, value in SOURCE.items():
        argv += ["-H", f"{key}={value}"]
    for key, value in KCAT_SETTINGS.items():
        argv += ["-X", f"{key}={value}"]
    print("  kcat:", " ".join(argv), flush=True)
    stderr = bench.work / f"{topic}.stderr"
    code, wall, cpu, rss = run_to_exit(argv, stderr)
    if code != 0:
        raise ShortCount(f"kcat exited with {code}:\n{tail(stderr)}")
    bench.broker.wait_for(topic, bench.count, alive=lambda: False)
    return wall, cpu, rss


def case_file_once(bench, topic):
    """`corvid connect file --path`: one file read once, returning after every ack."""
    stderr = bench.work / f"{topic}.stderr"
    argv = [bench.corvid, "connect", "file", "--path", str(bench.lines_path),
            "--source-id", SOURCE["source_id"], "--log-types", SOURCE["log_types"],
            "--brokers", bench.broker.brokers, "--topic", topic,
            "--partitions", str(bench.broker.partitions)]
    code, wall, cpu, rss = run_to_exit(argv, stderr)
    if code != 0:
        raise ShortCount(f"connect file exited with {code}:\n{tail(stderr)}")
    bench.broker.wait_for(topic, bench.count, alive=lambda: False)
    return wall, cpu, rss


def streaming(bench, name, topic, config_yaml, port=None, feed=None):
    """Starts `corvid connect <name> --config` (file-tail: file, syslog-tcp: syslog),
    feeds it from a thread (or not, when the input is already in place), waits for
    exactly N records, reads the CPU, stops it."""
    config = bench.work / f"{topic}.yml"
    config.write_text(config_yaml)
    stderr = bench.work / f"{topic}.stderr"
    command = {"file-tail": "file", "syslog-tcp": "syslog"}.get(name, name)
    connector = Connector([bench.corvid, "connect", command, "--config", str(config)], stderr)
    try:
        if port is not None:
            connector.wait_for_port(port, f"connect {name}")
        start = time.monotonic()
        errors = []
        if feed is not None:
            def run_feed():
                try:
                    feed()
                except Exception as error:  # reported below: the count will fall short
                    errors.append(error)
            threading.Thread(target=run_feed, daemon=True).start()
        else:
            time.sleep(0.2)
            connector.fail_if_exited(f"connect {name}")
        try:
            done = bench.broker.wait_for(
                topic, bench.count, alive=lambda: connector.alive() and not errors)
        except ShortCount as why:
            connector.fail_if_exited(f"connect {name}")
            if errors:
                raise ShortCount(f"connect {name}: feeder failed: {errors[0]}")
            raise ShortCount(f"{why}; connect {name} said:\n{tail(stderr)}")
        cpu = connector.cpu_secs()
        return done - start, cpu, connector.peak_rss()
    finally:
        code = connector.stop()
        if code not in (0, None, -signal.SIGTERM):
            print(f"  connect {name} exited with {code} on SIGTERM:\n{tail(stderr)}", flush=True)


def kafka_yaml(bench, topic):
    return (f"kafka:\n  brokers: {bench.broker.brokers}\n  topic: {topic}\n"
            f"  partitions: {bench.broker.partitions}\n")


def source_yaml(indent):
    pad = " " * indent
    return (f"{pad}id: {SOURCE['source_id']}\n{pad}label: {SOURCE['source_label']}\n"
            f"{pad}log_types: [{SOURCE['log_types']}]\n")


def case_file_tail(bench, topic):
    """`corvid connect file --config`: tails the lines file, already whole when it starts
    (`start_at: beginning`), with positions of its own (a round's positions file would
    start the next round at the end)."""
    config = (kafka_yaml(bench, topic) +
              f"positions: {bench.work / (topic + '.positions')}\nstart_at: beginning\n"
              f"files:\n  - paths: [{bench.lines_path}]\n    source:\n" + source_yaml(6))
    return streaming(bench, "file-tail", topic, config)


def case_syslog_tcp(bench, topic):
    """`corvid connect syslog`: one TCP listener; a sender writes the lines file,
    newline-framed (RFC 6587 non-transparent framing), over one connection."""
    port = free_port()
    config = (kafka_yaml(bench, topic) +
              f"listeners:\n  - transport: tcp\n    listen: 127.0.0.1:{port}\n"
              f"sources:\n  - " + source_yaml(4).lstrip())

    def feed():
        data = bench.lines_path.read_bytes()
        with socket.create_connection(("127.0.0.1", port), timeout=120) as sender:
            for start in range(0, len(data), 1 << 20):
                sender.sendall(data[start:start + (1 << 20)])
            sender.shutdown(socket.SHUT_WR)

    return streaming(bench, "syslog", topic, config, port=port, feed=feed)


def case_http(bench, topic):
    """`corvid connect http`: HTTP_CLIENTS clients POST batches of HTTP_BATCH lines as text
    to /ingest/<source> with the source's bearer token; a 2xx means Kafka acknowledged the
    batch, a 429 (Kafka backed up) is retried after a pause, anything else fails."""
    import requests

    port = free_port()
    token = "bench-token"
    config = (f"listen: 127.0.0.1:{port}\n" + kafka_yaml(bench, topic) +
              f"sources:\n  - id: {SOURCE['source_id']}\n    label: {SOURCE['source_label']}\n"
              f"    log_types: [{SOURCE['log_types']}]\n    tokens: [{token}]\n")
    batches = [("\n".join(bench.lines[i:i + HTTP_BATCH]) + "\n").encode()
               for i in range(0, len(bench.lines), HTTP_BATCH)]
    url = f"http://127.0.0.1:{port}/ingest/{SOURCE['source_id']}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}

    failures = []

    def client(mine):
        try:
            post_all(mine)
        except Exception as error:
            failures.append(error)

    def post_all(mine):
        with requests.Session() as session:
            for body in mine:
                while True:
                    answer = session.post(url, data=body, headers=headers, timeout=120)
                    if answer.status_code != 429:
                        break
                    time.sleep(0.05)
                if not 200 <= answer.status_code < 300:
                    raise RuntimeError(f"POST {url}: {answer.status_code} {answer.text[:200]}")

    def feed():
        threads = [threading.Thread(target=client, args=(batches[i::HTTP_CLIENTS],))
                   for i in range(HTTP_CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    return streaming(bench, "http", topic, config, port=port, feed=feed)


def case_s3(bench, topic):
    """`corvid connect s3 --once`: the lines as S3_OBJECTS gzip objects under a fresh
    prefix of the moto bucket, uploaded before the connector starts; it exits once every
    object is read and acknowledged."""
    import boto3

    prefix = f"connectors-bench/{topic}"
    s3 = boto3.client("s3", endpoint_url=bench.args.s3_endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")
    per_object = -(-len(bench.lines) // S3_OBJECTS)
    try:
        for number, start in enumerate(range(0, len(bench.lines), per_object)):
            body = gzip.compress(("\n".join(bench.lines[start:start + per_object]) + "\n").encode(), 6)
            s3.put_object(Bucket=bench.args.bucket, Key=f"{prefix}/{number:03d}.log.gz", Body=body)
    except Exception as error:
        raise ShortCount(f"cannot upload to {bench.args.s3_endpoint} bucket {bench.args.bucket} "
                         f"(scripts/s3.sh up): {error}")
    config = bench.work / f"{topic}.yml"
    config.write_text(
        kafka_yaml(bench, topic) +
        f"store:\n  url: s3://{bench.args.bucket}\n  endpoint: {bench.args.s3_endpoint}\n"
        f"  region: us-east-1\n  allow_http: true\n  access_key_id: bench\n"
        f"  secret_access_key: bench\n"
        f"cursor_topic: {topic}.cursor\n"
        f"sources:\n  - id: {SOURCE['source_id']}\n    label: {SOURCE['source_label']}\n"
        f"    log_types: [{SOURCE['log_types']}]\n    prefix: {prefix}\n")
    stderr = bench.work / f"{topic}.stderr"
    try:
        code, wall, cpu, rss = run_to_exit(
            [bench.corvid, "connect", "s3", "--config", str(config), "--once"], stderr)
    finally:
        # moto keeps objects in memory: leave nothing behind.
        listed = s3.list_objects_v2(Bucket=bench.args.bucket, Prefix=prefix + "/")
        keys = [{"Key": item["Key"]} for item in listed.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bench.args.bucket, Delete={"Objects": keys})
    if code != 0:
        if not_built(stderr):
            raise NotAvailable("not built in this binary")
        raise ShortCount(f"connect s3 --once exited with {code}:\n{tail(stderr)}")
    bench.broker.wait_for(topic, bench.count, alive=lambda: False)
    return wall, cpu, rss


CASES = {
    "kcat": case_kcat,
    "file": case_file_once,
    "file-tail": case_file_tail,
    "syslog-tcp": case_syslog_tcp,
    "http": case_http,
    "s3": case_s3,
}


# ---------------------------------------------------------------- the run


class Bench:
    pass


def binary_info(path):
    """Which build was measured: its modification time and the checkout's commit then
    (the binary is built from the working tree, which may hold more)."""
    try:
        built = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(path).st_mtime))
    except OSError:
        built = None
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    return {"path": path, "built": built, "head_at_run": head}


def measure(bench, name, topic):
    """One round of one case: its figures, or why there are none."""
    result = {"topic": topic}
    try:
        wall, cpu, rss = CASES[name](bench, topic)
        result.update(status="ok", wall_secs=round(wall, 3), cpu_secs=round(cpu, 3),
                      peak_rss_mib=round(rss / 2**20, 1))
    except NotAvailable as why:
        result.update(status="not available", reason=str(why))
    except ShortCount as why:
        result.update(status="FAILED", reason=str(why))
    print(f"  {name}: {result['status']}: " + (result.get("reason") or
          f"{result['wall_secs']} s wall, {result['cpu_secs']} s CPU, "
          f"{result['peak_rss_mib']} MiB peak RSS"), flush=True)
    return result


def summarize(name, rounds, lines):
    """A case's figures over its rounds: the median CPU and wall time; any failed round
    fails the case."""
    summary = {"case": name, "records": lines, "rounds": rounds}
    bad = [r for r in rounds if r["status"] != "ok"]
    if bad:
        summary.update(status=bad[0]["status"], reason=bad[0]["reason"])
        return summary
    cpu = statistics.median(r["cpu_secs"] for r in rounds)
    wall = statistics.median(r["wall_secs"] for r in rounds)
    summary.update(status="ok", cpu_secs=round(cpu, 3), wall_secs=round(wall, 3),
                   records_per_cpu_sec=round(lines / cpu) if cpu > 0 else None,
                   records_per_sec=round(lines / wall) if wall > 0 else None,
                   peak_rss_mib=max(r["peak_rss_mib"] for r in rounds))
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of every case, interleaved; figures are the medians")
    parser.add_argument("--corvid", default=str(ROOT / "target/release/corvid"))
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--s3-endpoint", default="http://127.0.0.1:9000")
    parser.add_argument("--bucket", default="corvid-lake")
    parser.add_argument("--cases", default=",".join(CASES),
                        help="comma-separated, in order (default: %(default)s)")
    parser.add_argument("--no-check-contents", dest="check_contents", action="store_false",
                        help="skip reading every record back (after the timing) to check "
                             "each line arrived once, with its source headers")
    parser.add_argument("--out", default=str(ROOT / "target/connectors-bench.json"),
                        help="JSON result file (default: %(default)s)")
    args = parser.parse_args()
    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = [name for name in cases if name not in CASES]
    if unknown or "kcat" not in cases:
        parser.error(f"--cases: unknown {unknown}" if unknown else "--cases: kcat is the baseline")
    if args.lines < 1 or args.rounds < 1:
        parser.error("--lines and --rounds must be at least 1")

    bench = Bench()
    bench.count = args.lines
    bench.corvid = args.corvid
    bench.args = args
    bench.broker = Broker(args.brokers, args.partitions)
    run_id = f"{int(time.time())}-{os.getpid()}"
    rounds = {name: [] for name in cases}
    with tempfile.TemporaryDirectory(prefix="connectors-bench-") as work:
        bench.work = Path(work)
        bench.lines = generate_lines(args.lines)
        bench.lines_path = bench.work / "lines.log"
        bench.lines_path.write_text("\n".join(bench.lines) + "\n")
        size = bench.lines_path.stat().st_size
        print(f"{args.lines} lines, {size / 1e6:.1f} MB (mean {size / args.lines:.0f} bytes a line); "
              f"topics of {args.partitions} partitions on {args.brokers}; {os.cpu_count()} cores; "
              f"load {os.getloadavg()[0]:.2f}; corvid {binary_info(args.corvid)}", flush=True)
        load_before = os.getloadavg()
        for round_number in range(args.rounds):
            print(f"round {round_number + 1} of {args.rounds}", flush=True)
            for name in cases:
                if any(r["status"] == "not available" for r in rounds[name]):
                    continue
                topic = bench.broker.fresh_topic(f"bench-{name}-{run_id}-{round_number}")
                result = measure(bench, name, topic)
                if result["status"] == "ok" and args.check_contents:
                    try:
                        bench.broker.check_contents(topic, bench.lines)
                    except ShortCount as why:
                        result.update(status="FAILED", reason=str(why))
                        print(f"  {name}: FAILED: {why}", flush=True)
                rounds[name].append(result)
                bench.broker.drop(topic)
        load_after = os.getloadavg()

    results = [summarize(name, rounds[name], args.lines) for name in cases]
    baseline = results[cases.index("kcat")]
    for result in results:
        if result.get("records_per_cpu_sec") and baseline.get("records_per_cpu_sec"):
            result["ratio_to_kcat"] = round(
                result["records_per_cpu_sec"] / baseline["records_per_cpu_sec"], 3)
    report = {
        "corvid_binary": binary_info(args.corvid),
        "lines": args.lines, "line_bytes": size, "partitions": args.partitions,
        "rounds": args.rounds, "brokers": args.brokers, "cores": os.cpu_count(),
        "kcat_settings": KCAT_SETTINGS, "load_before": load_before, "load_after": load_after,
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"{'case':<12}{'status':<15}{'records/CPU-s':>14}{'vs kcat':>9}{'records/s':>11}"
          f"{'CPU s':>9}{'wall s':>9}{'RSS MiB':>9}")
    for r in results:
        if r["status"] == "ok":
            print(f"{r['case']:<12}{r['status']:<15}{r['records_per_cpu_sec'] or '-':>14}"
                  f"{r.get('ratio_to_kcat', '-'):>9}{r['records_per_sec']:>11}"
                  f"{r['cpu_secs']:>9.3f}{r['wall_secs']:>9.3f}{r['peak_rss_mib']:>9}")
        else:
            print(f"{r['case']:<12}{r['status']:<15}{r['reason'].splitlines()[0]}")
    print(f"{args.lines} lines x {args.rounds} round(s); load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after; result: {args.out}")
    failed = [r["case"] for r in results if r["status"] == "FAILED"]
    if failed:
        print(f"FAILED: {', '.join(failed)} (count or contents; see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
