"""Compares docker-compose.yml, as `docker-compose config` resolves it, with the native
launcher's plan: every service's command, ports and volumes. Written apart from launcher.py
(simpler rules, compose's own interpolation) so that a launcher bug or a compose edit the
launcher cannot follow shows up as a difference.

compare(compose, plan) returns the differences as sentences; [] means they agree.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
NATIVE = "127.0.0.1"


def script_port(script: str) -> int:
    """The port a scripts/*.sh service listens on, read from the script itself."""
    text = (ROOT / script).read_text()
    match = re.search(r"^port=(?:\$\{\w+:-)?(\d+)\}?\s*$", text, re.M)
    if not match:
        raise ValueError(f"{script}: no port= line")
    return int(match.group(1))


def _argv(value) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _volume(spec) -> tuple[str, str | None, str]:
    """(type, source, target) of a volume as `docker-compose config` prints it."""
    if isinstance(spec, dict):
        source = spec.get("source")
        vtype = spec.get("type", "volume")
        return ("anonymous" if vtype == "volume" and not source else vtype, source, spec["target"])
    parts = str(spec).split(":")
    if len(parts) == 1:
        return ("anonymous", None, parts[0])
    source, target = parts[0], parts[1]
    return ("bind" if source.startswith("/") else "volume", source, target)


def _ports(service: dict) -> list[tuple[int, int | None, list[str]]]:
    """(container, published, protocols): a port published for udp and tcp is one entry."""
    ports: dict[int, tuple[int, int | None, list[str]]] = {}
    for spec in service.get("ports") or []:
        if isinstance(spec, dict):
            published = spec.get("published")
            port = (int(spec["target"]), int(published) if published not in (None, "") else None,
                    str(spec.get("protocol") or "tcp"))
        else:
            text, _, protocol = str(spec).partition("/")
            parts = text.split(":")
            port = (int(parts[-1]), int(parts[-2]) if len(parts) > 1 else None, protocol or "tcp")
        known = ports.setdefault(port[0], (port[0], port[1], []))
        if known[1] != port[1]:
            raise ValueError(f"port {port[0]} published on {known[1]} and {port[1]}")
        known[2].append(port[2])
    for spec in service.get("expose") or []:
        port = int(str(spec).split("/")[0])
        ports.setdefault(port, (port, None, ["tcp"]))
    return list(ports.values())


def _replicas(service: dict) -> int:
    return int((service.get("deploy") or {}).get("replicas", service.get("scale", 1)))


def _kind(service: dict) -> str:
    return (service.get("labels") or {}).get("corvid.native", "exec")


class Comparison:
    def __init__(self, compose: dict, plan: dict):
        self.compose = compose["services"]
        self.plan = plan
        self.services = plan["services"]
        self.run_dir = Path(plan["run_dir"])
        self.problems: list[str] = []
        # (service, replica) -> {container port: native port}, from the plan's port table
        self.ports: dict[tuple[str, int], dict[int, int]] = {}
        for name, service in self.services.items():
            for entry in service["ports"]:
                for replica, native in enumerate(entry["native"] or []):
                    self.ports.setdefault((name, replica), {})[entry["container"]] = native

    def problem(self, text: str):
        self.problems.append(text)

    # ---- the rewriting a native process needs, by the plan's own port and volume tables

    def rewrite(self, text: str, own: str, replica: int, paths: dict[str, str]) -> str:
        for name, service in self.compose.items():
            if _kind(service) in ("none", "covered") or (_kind(service) == "exec" and _replicas(service) != 1):
                continue
            for container, native in self.ports.get((name, 0), {}).items():
                text = re.sub(rf"(?<![\w.\-]){re.escape(name)}:{container}(?!\d)", f"{NATIVE}:{native}", text)
        for container, native in self.ports.get((own, replica), {}).items():
            text = re.sub(rf"(?<![\w.\-])(0\.0\.0\.0|localhost):{container}(?!\d)", f"{NATIVE}:{native}", text)
        for target in sorted(paths, key=len, reverse=True):
            text = re.sub(rf"(?<![\w.\-]){re.escape(target)}(?=$|[/\s\"',\]}}:;])", lambda _m, t=target: "\0" + t + "\0", text)
        return re.sub("\0([^\0]*)\0", lambda m: paths[m.group(1)], text)

    def program(self, argv0: str, native: str, where: str):
        expected = {"corvid": lambda p: p == self.plan["corvid"],
                    "/bin/prometheus": lambda p: Path(p).name == "prometheus",
                    "python3": lambda p: Path(p).name.startswith("python")}
        if argv0 not in expected or not expected[argv0](native):
            self.problem(f"{where}: program {argv0!r} runs as {native!r}")

    def expected_argv(self, name: str, replica: int, process: dict) -> list[str]:
        compose = self.compose[name]
        argv = _argv(compose.get("entrypoint")) + _argv(compose.get("command"))
        where = process["name"]
        self.program(argv[0], process["argv"][0], where)
        out, i = [process["argv"][0]], 1
        while i < len(argv):
            arg = argv[i]
            if arg == "--peers-dns":
                peers, _, port = argv[i + 1].rpartition(":")
                count = _replicas(self.compose[peers])
                hostfile = str(self.run_dir / f"{peers}.hosts")
                out += ["-p", str(replica), "--hostfile", hostfile]
                lines = [f"{NATIVE}:{self.ports.get((peers, r), {}).get(int(port))}" for r in range(count)]
                if (process.get("hostfile") or {}).get("lines") != lines or process["hostfile"]["path"] != hostfile:
                    self.problem(f"{where}: hostfile {process.get('hostfile')} is not {hostfile} with {lines}")
                flags = argv[argv.index("-n") + 1] if "-n" in argv else None
                if flags is None or int(flags) != count:
                    self.problem(f"{where}: -n {flags} but service {peers} has {count} replicas")
                i += 2
                continue
            out.append(self.rewrite(arg, name, replica, process["paths"]))
            i += 1
        return out

    # ---- per service

    def compare(self) -> list[str]:
        for name in set(self.services) - set(self.compose):
            self.problem(f"{name}: in the plan, not in the compose file")
        natives: dict[int, str] = {}
        for name, compose in self.compose.items():
            if name not in self.services:
                self.problem(f"{name}: in the compose file, not in the plan")
                continue
            self.service(name, compose, self.services[name], natives)
        return self.problems

    def service(self, name: str, compose: dict, plan: dict, natives: dict[int, str]):
        kind, replicas = _kind(compose), _replicas(compose)
        labels = compose.get("labels") or {}
        if plan["kind"] != kind:
            self.problem(f"{name}: kind {plan['kind']} in the plan, {kind} by its labels")
        if plan["replicas"] != replicas:
            self.problem(f"{name}: {plan['replicas']} replicas in the plan, {replicas} in the compose file")
        if kind == "exec" and len(plan["processes"]) != replicas:
            self.problem(f"{name}: {len(plan['processes'])} processes for {replicas} replicas")

        # ports
        planned = {entry["container"]: entry for entry in plan["ports"]}
        for container, published, protocols in _ports(compose):
            entry = planned.pop(container, None)
            if entry is None:
                self.problem(f"{name}: port {container} has no native port in the plan")
                continue
            if entry["published"] != published:
                self.problem(f"{name}: port {container} published on {published}, the plan says {entry['published']}")
            if sorted(entry.get("protocols") or []) != sorted(protocols):
                self.problem(f"{name}: port {container} is {'+'.join(protocols)}, the plan says {entry.get('protocols')}")
            if kind == "script":
                port = script_port(labels["corvid.native.script"])
                if entry["native"] != [port]:
                    self.problem(f"{name}: port {container} is native {entry['native']}, but "
                                 f"{labels['corvid.native.script']} listens on {port}")
                if published is not None and published != port:
                    self.problem(f"{name}: publishes {published}:{container}, but natively "
                                 f"{labels['corvid.native.script']} listens on {port}: clients would need another address")
            elif kind == "exec":
                if len(entry["native"] or []) != replicas:
                    self.problem(f"{name}: port {container} has {entry['native']} for {replicas} replicas")
                if published is not None and entry["native"] != [published]:
                    self.problem(f"{name}: publishes {published}:{container}, natively on {entry['native']}")
            elif entry["native"] is not None:
                self.problem(f"{name}: not run natively, yet port {container} has native {entry['native']}")
            owner = labels.get("corvid.native.script", name)
            for native in entry["native"] or []:
                if natives.setdefault(native, owner) != owner and kind == "exec":
                    self.problem(f"{name}: native port {native} is also {natives[native]}'s")
                natives.setdefault(native, owner)
        for container in planned:
            self.problem(f"{name}: the plan has port {container}, the compose file does not")

        # volumes
        volumes = {v["target"]: v for v in plan["volumes"]}
        for vtype, source, target in (_volume(v) for v in compose.get("volumes") or []):
            volume = volumes.pop(target, None)
            if volume is None:
                self.problem(f"{name}: volume {target} is not in the plan")
                continue
            if (volume["type"], volume["source"]) != (vtype, source):
                self.problem(f"{name}: volume {target} is {vtype} {source}, the plan has {volume['type']} {volume['source']}")
            native = volume["native"]
            if kind != "exec":
                if native is not None and kind != "script":
                    self.problem(f"{name}: volume {target} has a native path but the service does not run natively")
                if not volume.get("note"):
                    self.problem(f"{name}: volume {target}: the plan says nothing of where its data goes")
                continue
            if not isinstance(native, list) or len(native) != replicas:
                self.problem(f"{name}: volume {target} has {native} for {replicas} replicas")
                continue
            for replica, process in enumerate(plan["processes"]):
                if process["paths"].get(target) != native[replica]:
                    self.problem(f"{process['name']}: {target} is {process['paths'].get(target)} in its paths, {native[replica]} in the volumes")
            if vtype == "bind" and Path(source).is_dir():
                if any(n != source for n in native):
                    self.problem(f"{name}: directory {source} is mounted at {target}, natively {native}")
            elif vtype == "bind":
                for replica, process in enumerate(plan["processes"]):
                    files = [f for f in process["files"] if f["target"] == target]
                    where = self.run_dir / process["name"]
                    if files and files[0]["from"] == source and files[0]["path"] == native[replica] \
                            and Path(native[replica]).is_relative_to(where):
                        continue
                    if not files and native[replica] == source:
                        continue  # not a config file: used in place
                    self.problem(f"{process['name']}: file {source} at {target} is {native[replica]} ({files})")
            elif vtype == "volume":
                if any(n != str(self.run_dir / "volumes" / source) for n in native):
                    self.problem(f"{name}: named volume {source} is {native}, not {self.run_dir / 'volumes' / source}")
            else:
                if len(set(native)) != replicas or not all(Path(n).is_relative_to(self.run_dir) for n in native):
                    self.problem(f"{name}: anonymous volume {target} must be one directory per replica in the run dir: {native}")
        for target in volumes:
            self.problem(f"{name}: the plan has volume {target}, the compose file does not")

        # command and environment
        if kind == "exec":
            for replica, process in enumerate(plan["processes"]):
                expected = self.expected_argv(name, replica, process)
                if process["argv"] != expected:
                    self.problem(f"{process['name']}: runs {shlex.join(process['argv'])}\n"
                                 f"    expected {shlex.join(expected)}")
                environment = {k: self.rewrite(str(v), name, replica, process["paths"])
                               for k, v in (compose.get("environment") or {}).items()}
                if process["env"] != environment:
                    self.problem(f"{process['name']}: environment {process['env']} is not {environment}")
        elif kind == "script":
            script = str(ROOT / labels["corvid.native.script"])
            if [p["argv"] for p in plan["processes"]] != [[script, "up"]]:
                self.problem(f"{name}: runs {[p['argv'] for p in plan['processes']]}, not {script} up")
        elif plan["processes"]:
            self.problem(f"{name}: not run natively, yet the plan has processes")


def compare(compose: dict, plan: dict) -> list[str]:
    return Comparison(compose, plan).compare()


def compare_prometheus(compose_config: Path, native_config: Path, compose: dict, plan: dict) -> list[str]:
    """The native Prometheus config scrapes the same jobs, each at its services' native ports."""
    comparison = Comparison(compose, plan)
    source = yaml.safe_load(compose_config.read_text())
    native = yaml.safe_load(native_config.read_text())
    problems = []
    jobs = {job["job_name"]: job for job in native.get("scrape_configs") or []}
    prometheus = next(n for n, s in plan["services"].items() for p in s["processes"]
                      if any(f["path"] == str(native_config) for f in p.get("files", [])))
    for job in source.get("scrape_configs") or []:
        name = job["job_name"]
        if name not in jobs:
            problems.append(f"job {name}: missing from {native_config}")
            continue
        expected = []
        for sd in job.get("dns_sd_configs") or []:
            for service in sd["names"]:
                expected += [f"{NATIVE}:{comparison.ports[(service, r)][sd['port']]}"
                             for r in range(_replicas(compose["services"][service]))]
        for static in job.get("static_configs") or []:
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                service = prometheus if host in ("localhost", "127.0.0.1") else host
                expected.append(f"{NATIVE}:{comparison.ports[(service, 0)][int(port)]}")
        got = [t for static in jobs[name].get("static_configs") or [] for t in static["targets"]]
        if sorted(got) != sorted(expected):
            problems.append(f"job {name}: native targets {got}, expected {expected}")
        if jobs[name].get("dns_sd_configs"):
            problems.append(f"job {name}: still uses DNS discovery natively")
    for name in set(jobs) - {job["job_name"] for job in source.get("scrape_configs") or []}:
        problems.append(f"job {name}: only in the native config")
    return problems
