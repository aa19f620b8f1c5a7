#!/usr/bin/env python3
"""Starts the compose stack's topology as native processes, from docker-compose.yml itself.

    ./launch plan   [--engines N] [-e VAR=VALUE] [--run-dir D]   # resolved processes as JSON
    ./launch prepare [...]                                        # write configs, no start
    ./launch up     [--engines N] [-e VAR=VALUE] [--no-build]    # start; reuses running services
                    [--scrape-interval 1s]                        # Prometheus's, instead of the config's
    ./launch status [--run-dir D]
    ./launch stop   [--run-dir D] SERVICE|PROCESS...             # stop some (`start` them again)
    ./launch down   [--run-dir D]                                 # stops only what `up` started

docker-compose.yml (with .env, the shell's environment and -e overrides, interpolated as
compose does) is the single source of truth. Each service's `corvid.native` label says what
stands in for it here:

  exec (default)  its entrypoint + command run as processes, one per replica: `corvid` is the
                  cargo-built binary, `/bin/prometheus` Debian's prometheus, `python3` this
                  interpreter. Container paths become directories of the run directory (named
                  volumes: volumes/NAME; anonymous ones and mounted config files: per process),
                  service host names and listen addresses become 127.0.0.1 with a native port
                  per replica, `--peers-dns NAME:PORT` becomes `-p I --hostfile F` (no DNS here),
                  and a mounted Prometheus config gets static targets with the same job names.
  script          `corvid.native.script` (scripts/kafka.sh, ...) up/down/status, on
                  `corvid.native.port`; one already running is reused and left running.
  covered         done by the script of service `corvid.native.by` (s3-init: s3.sh makes the bucket).
  none            not started (`corvid.native.reason`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

COMPOSE_DIR = Path(__file__).resolve().parent
ROOT = COMPOSE_DIR.parent.parent
DEFAULT_COMPOSE = COMPOSE_DIR / "docker-compose.yml"
DEFAULT_RUN_DIR = COMPOSE_DIR / ".run"

# Files mounted into a container that are rewritten for the native processes (addresses,
# paths); other mounted files and directories are used in place.
CONFIG_SUFFIXES = (".yml", ".yaml", ".json", ".conf", ".properties", ".toml")
LOCAL_HOSTS = ("0.0.0.0", "localhost", "127.0.0.1", "::", "[::]")
NATIVE_HOST = "127.0.0.1"


class LaunchError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# .env and interpolation (compose's rules: ${VAR}, ${VAR:-default}, ${VAR-default},
# ${VAR:?error}, ${VAR?error}, $VAR, $$ for a literal $)


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        name, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name.strip()):
            raise LaunchError(f"{path}:{number}: expected NAME=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        values[name.strip()] = value
    return values


_VAR = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?|\?)(.*))?", re.S)


def interpolate(text: str, env: dict[str, str], where: str, used: dict[str, str | None]) -> str:
    def substitute(match: re.Match) -> str:
        if match.group("dollar"):
            return "$"
        if match.group("named"):
            name = match.group("named")
            used[name] = env.get(name)
            return env.get(name, "")
        braced = _BRACED.fullmatch(match.group("braced"))
        if not braced:
            raise LaunchError(f"{where}: invalid interpolation ${{{match.group('braced')}}}")
        name, op, arg = braced.groups()
        value = env.get(name)
        used[name] = value
        if op is None:
            return value or ""
        if op == ":-":
            return value if value else interpolate(arg, env, where, used)
        if op == "-":
            return value if value is not None else interpolate(arg, env, where, used)
        if (op == ":?" and not value) or (op == "?" and value is None):
            raise LaunchError(f"{where}: {name} is required: {arg or 'not set'}")
        return value

    return _VAR.sub(substitute, text)


# Fields compose converts to numbers after interpolation (the ones this file may use).
_INT_FIELDS = {("deploy", "replicas"), ("scale",), ("healthcheck", "retries")}


def interpolate_tree(node, env, used, path=()):
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env, used, path + (str(key),)) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env, used, path + ("[]",)) for value in node]
    if isinstance(node, str):
        value = interpolate(node, env, ".".join(path), used)
        if len(path) >= 3 and path[0] == "services" and tuple(path[2:]) in _INT_FIELDS:
            try:
                return int(value)
            except ValueError:
                raise LaunchError(f"{'.'.join(path)}: {value!r} is not an integer") from None
        return value
    return node


def load_compose(compose_file: Path, overrides: dict[str, str] | None = None, env_file: Path | None = None):
    """The compose file interpolated like compose does: shell environment over .env, and
    `overrides` over both. Returns (document, variables the file used)."""
    env_file = env_file or compose_file.parent / ".env"
    env = read_env_file(env_file)
    env.update(os.environ)
    env.update(overrides or {})
    try:
        raw = yaml.safe_load(compose_file.read_text())
    except yaml.YAMLError as error:
        raise LaunchError(f"{compose_file}: {error}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), dict):
        raise LaunchError(f"{compose_file}: no services")
    used: dict[str, str | None] = {}
    document = interpolate_tree(raw, env, used)
    return document, used


# --------------------------------------------------------------------------------------------
# Services


@dataclass
class Port:
    container: int
    published: int | None
    protocols: list[str] = field(default_factory=lambda: ["tcp"])


@dataclass
class Volume:
    type: str  # bind | volume | anonymous
    source: str | None  # absolute path (bind), volume name (volume)
    target: str
    read_only: bool


@dataclass
class Service:
    name: str
    image: str
    labels: dict[str, str]
    entrypoint: list[str] | None
    command: list[str] | None
    environment: dict[str, str]
    ports: list[Port]
    expose: list[int]
    volumes: list[Volume]
    depends_on: dict[str, str]
    replicas: int
    restart: str
    stop_grace_seconds: float
    kind: str = "exec"
    container_ports: list[int] = field(default_factory=list)


def _argv(value, where) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    if isinstance(value, list):
        return [str(item) for item in value]
    raise LaunchError(f"{where}: expected a string or a list")


def _mapping(value, where) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    if isinstance(value, list):
        result = {}
        for item in value:
            key, _, val = str(item).partition("=")
            result[key] = val
        return result
    raise LaunchError(f"{where}: expected a mapping or a list")


def _port(spec, where) -> Port:
    if isinstance(spec, dict):
        published = spec.get("published")
        return Port(int(spec["target"]), int(published) if published not in (None, "") else None,
                    [str(spec.get("protocol") or "tcp")])
    text, _, protocol = str(spec).partition("/")
    parts = text.rsplit(":", 2)
    if any("-" in part for part in parts):
        raise LaunchError(f"{where}: port ranges are not supported: {spec}")
    if len(parts) == 1:
        return Port(int(parts[0]), None, [protocol or "tcp"])
    return Port(int(parts[-1]), int(parts[-2]) if parts[-2] else None, [protocol or "tcp"])


def _merge_ports(ports: list[Port], where) -> list[Port]:
    """One entry per container port: `5514:5514/udp` and `5514:5514/tcp` are one native port
    (a process binds both protocols on it), so they must publish the same host port."""
    merged: dict[int, Port] = {}
    for port in ports:
        known = merged.get(port.container)
        if known is None:
            merged[port.container] = Port(port.container, port.published, list(port.protocols))
            continue
        if known.published != port.published:
            raise LaunchError(f"{where}: container port {port.container} is published on {known.published} and "
                              f"{port.published}; natively one port serves every protocol, so publish the same one")
        known.protocols += [p for p in port.protocols if p not in known.protocols]
    return list(merged.values())


def _volume(spec, compose_dir: Path, named: set[str], where) -> Volume:
    if isinstance(spec, dict):
        vtype = spec.get("type", "volume")
        source = spec.get("source")
        target = spec["target"]
        read_only = bool(spec.get("read_only", False))
    else:
        parts = str(spec).split(":")
        if len(parts) == 1:
            source, target, mode = None, parts[0], ""
        elif len(parts) == 2:
            source, target, mode = parts[0], parts[1], ""
        else:
            source, target, mode = parts[0], parts[1], parts[2]
        read_only = "ro" in mode.split(",")
        if source is None:
            vtype = "volume"
        elif source.startswith((".", "/", "~")):
            vtype = "bind"
        else:
            vtype = "volume"
    if vtype == "bind":
        source = str((compose_dir / os.path.expanduser(source)).resolve())
        return Volume("bind", source, target, read_only)
    if vtype == "volume" and not source:
        return Volume("anonymous", None, target, read_only)
    if vtype == "volume":
        if source not in named:
            raise LaunchError(f"{where}: volume {source!r} is not declared under top-level volumes")
        return Volume("volume", source, target, read_only)
    raise LaunchError(f"{where}: volume type {vtype!r} is not supported natively")


def _duration(text, default: float) -> float:
    if text is None:
        return default
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text)):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total or default


def parse_services(document: dict, compose_dir: Path) -> dict[str, Service]:
    named = set((document.get("volumes") or {}).keys())
    services: dict[str, Service] = {}
    for name, spec in document["services"].items():
        where = f"services.{name}"
        spec = spec or {}
        depends = spec.get("depends_on") or {}
        if isinstance(depends, list):
            depends = {dep: "service_started" for dep in depends}
        else:
            depends = {dep: (cond or {}).get("condition", "service_started") for dep, cond in depends.items()}
        replicas = (spec.get("deploy") or {}).get("replicas", spec.get("scale", 1))
        service = Service(
            name=name,
            image=str(spec.get("image", "")),
            labels=_mapping(spec.get("labels"), f"{where}.labels"),
            entrypoint=_argv(spec.get("entrypoint"), f"{where}.entrypoint"),
            command=_argv(spec.get("command"), f"{where}.command"),
            environment=_mapping(spec.get("environment"), f"{where}.environment"),
            ports=_merge_ports([_port(p, f"{where}.ports") for p in spec.get("ports") or []], f"{where}.ports"),
            expose=[int(str(p).split("/")[0]) for p in spec.get("expose") or []],
            volumes=[_volume(v, compose_dir, named, f"{where}.volumes") for v in spec.get("volumes") or []],
            depends_on=depends,
            replicas=int(replicas),
            restart=str(spec.get("restart", "no")),
            stop_grace_seconds=_duration(spec.get("stop_grace_period"), 10.0),
        )
        service.kind = service.labels.get("corvid.native", "exec")
        if service.kind not in ("exec", "script", "covered", "none"):
            raise LaunchError(f"{where}: unknown corvid.native label {service.kind!r}")
        for dep in depends:
            if dep not in document["services"]:
                raise LaunchError(f"{where}.depends_on: no service {dep!r}")
        seen = []
        for port in [p.container for p in service.ports] + service.expose:
            if port not in seen:
                seen.append(port)
        service.container_ports = seen
        services[name] = service
    return services


def start_order(services: dict[str, Service]) -> list[str]:
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name):
        if name in order:
            return
        if name in visiting:
            raise LaunchError(f"depends_on has a cycle through {name}")
        visiting.add(name)
        for dep in services[name].depends_on:
            visit(dep)
        visiting.discard(name)
        order.append(name)

    for name in services:
        visit(name)
    return order


# --------------------------------------------------------------------------------------------
# The plan: every native process with its argv, environment, ports, volumes and files


def process_name(service: Service, replica: int) -> str:
    return service.name if service.replicas == 1 else f"{service.name}-{replica}"


def corvid_default() -> Path:
    if os.environ.get("CORVID_BIN"):
        return Path(os.environ["CORVID_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
    return target / "debug" / "corvid"


def cache_dir() -> Path:
    if os.environ.get("CORVID_CACHE"):
        return Path(os.environ["CORVID_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "corvid"


# Where the scripts keep their data (scripts/*.sh: $cache/<name>-run), for the plan's volumes.
SCRIPT_DATA = {
    "scripts/kafka.sh": ("kafka-run/data", "formatted afresh by every `scripts/kafka.sh up`"),
    "scripts/schema-registry.sh": (None, "in memory"),
    "scripts/s3.sh": (None, "moto keeps objects in memory"),
}


class Planner:
    def __init__(self, compose_file: Path, run_dir: Path, overrides: dict[str, str], corvid: Path,
                 scrape_interval: str | None = None):
        if scrape_interval is not None and not re.fullmatch(r"(\d+(ms|s|m|h))+", scrape_interval):
            raise LaunchError(f"--scrape-interval {scrape_interval}: expected a Prometheus duration like 1s or 500ms")
        self.scrape_interval = scrape_interval
        self.compose_file = compose_file.resolve()
        self.compose_dir = self.compose_file.parent
        self.run_dir = run_dir.resolve()
        self.corvid = corvid
        self.document, self.variables = load_compose(self.compose_file, overrides)
        self.services = parse_services(self.document, self.compose_dir)
        self.order = start_order(self.services)
        self.programs = {
            "corvid": str(corvid),
            "/bin/prometheus": shutil.which("prometheus") or "/usr/bin/prometheus",
            "prometheus": shutil.which("prometheus") or "/usr/bin/prometheus",
            "python3": sys.executable,
            "python": sys.executable,
        }
        self.native_ports: dict[tuple[str, int], dict[int, int]] = {}
        self._allocate_ports()

    # ---- ports

    def _allocate_ports(self):
        used: dict[int, str] = {}

        def take(port: int, owner: str):
            if port in used:
                raise LaunchError(f"native port {port} is wanted by {used[port]} and {owner}")
            used[port] = owner

        for service in self.services.values():
            if service.kind == "script":
                if service.replicas != 1:
                    raise LaunchError(f"services.{service.name}: a script service has one replica")
                try:
                    port = int(service.labels["corvid.native.port"])
                    script = service.labels["corvid.native.script"]
                except (KeyError, ValueError):
                    raise LaunchError(f"services.{service.name}: corvid.native: script needs the labels "
                                      "corvid.native.script and corvid.native.port (a number)") from None
                if not (ROOT / script).is_file():
                    raise LaunchError(f"services.{service.name}: {script} does not exist")
                take(port, service.name)
                self.native_ports[(service.name, 0)] = {p: port for p in service.container_ports}
            elif service.kind == "covered":
                by = service.labels.get("corvid.native.by")
                if by not in self.services or self.services[by].kind != "script":
                    raise LaunchError(f"services.{service.name}: corvid.native.by must name a script service")
        # Published ports keep their host port, so clients use the same address either way.
        for service in self.services.values():
            if service.kind != "exec":
                continue
            for port in service.ports:
                if port.published is None:
                    continue
                if service.replicas != 1:
                    raise LaunchError(f"services.{service.name}: publishes {port.published} with {service.replicas} replicas")
                take(port.published, service.name)
                self.native_ports.setdefault((service.name, 0), {})[port.container] = port.published
        # The others: the container port plus the replica index, or the next free one.
        for service in self.services.values():
            if service.kind != "exec":
                continue
            for replica in range(service.replicas):
                ports = self.native_ports.setdefault((service.name, replica), {})
                for container in service.container_ports:
                    if container in ports:
                        continue
                    candidate = container + replica
                    while candidate in used:
                        candidate += 1
                    take(candidate, process_name(service, replica))
                    ports[container] = candidate

    def native_port(self, service: str, replica: int, container: int, where: str) -> int:
        ports = self.native_ports.get((service, replica), {})
        if container not in ports:
            raise LaunchError(f"{where}: {service}:{container} is not a port of service {service} "
                              "(list it under its ports or expose)")
        return ports[container]

    # ---- rewriting

    def _address(self, host: str, port: int, own: tuple[str, int], where: str) -> str | None:
        if host in LOCAL_HOSTS:
            if port in self.services[own[0]].container_ports:
                return f"{NATIVE_HOST}:{self.native_port(own[0], own[1], port, where)}"
            return None
        target = self.services.get(host)
        if target is None:
            return None
        if target.kind in ("none", "covered"):
            raise LaunchError(f"{where}: refers to {host}:{port}, which does not run natively")
        if target.replicas != 1:
            raise LaunchError(f"{where}: refers to {host}:{port}, a service of {target.replicas} replicas; "
                              "only --peers-dns and Prometheus service discovery can name those")
        return f"{NATIVE_HOST}:{self.native_port(host, 0, port, where)}"

    _HOST_PORT = re.compile(r"(?<![\w.\-])(\[::\]|[A-Za-z0-9][\w.\-]*):(\d{1,5})(?![\d])")

    def rewrite(self, text: str, own: tuple[str, int], paths: dict[str, str], where: str) -> str:
        def address(match: re.Match) -> str:
            replaced = self._address(match.group(1), int(match.group(2)), own, where)
            return replaced if replaced is not None else match.group(0)

        text = self._HOST_PORT.sub(address, text)
        if paths:
            targets = sorted(paths, key=len, reverse=True)
            pattern = re.compile(r"(?<![\w.\-])(" + "|".join(re.escape(t) for t in targets) + r")(?=$|[/\s\"',\]}:;])")
            text = pattern.sub(lambda m: paths[m.group(1)], text)
        return text

    def _prometheus_config(self, config: dict, own: tuple[str, int], where: str) -> dict:
        def targets_of(host: str, port: int) -> list[str]:
            if host in LOCAL_HOSTS:
                return [f"{NATIVE_HOST}:{self.native_port(own[0], own[1], port, where)}"]
            service = self.services.get(host)
            if service is None or service.kind in ("none", "covered"):
                raise LaunchError(f"{where}: scrape target {host}:{port} has no native process")
            return [f"{NATIVE_HOST}:{self.native_port(host, r, port, where)}"
                    for r in range(service.replicas if service.kind == "exec" else 1)]

        for scrape in config.get("scrape_configs") or []:
            statics = []
            for static in scrape.get("static_configs") or []:
                targets = []
                for target in static.get("targets") or []:
                    host, _, port = str(target).rpartition(":")
                    targets += targets_of(host, int(port))
                statics.append({**static, "targets": targets})
            for sd in scrape.pop("dns_sd_configs", None) or []:
                if sd.get("type", "SRV") != "A" or "port" not in sd:
                    raise LaunchError(f"{where}: job {scrape.get('job_name')}: only A-record DNS discovery with a port maps to native targets")
                targets = []
                for name in sd.get("names") or []:
                    targets += targets_of(name, int(sd["port"]))
                statics.append({"targets": targets})
            if statics:
                scrape["static_configs"] = statics
        if self.scrape_interval:
            # Every scrape and rule evaluation at this interval (a test's short one); a
            # timeout longer than the interval would be a config error.
            interval = self.scrape_interval
            settings = config.get("global") or {}
            config["global"] = settings
            for section in [settings] + list(config.get("scrape_configs") or []):
                if section is settings or "scrape_interval" in section:
                    section["scrape_interval"] = interval
                if "scrape_timeout" in section and _duration(section["scrape_timeout"], 0) > _duration(interval, 0):
                    section["scrape_timeout"] = interval
            settings["evaluation_interval"] = interval
        return config

    # ---- processes

    def _volumes(self, service: Service, replica: int, proc_dir: Path):
        """(container path -> native path, plan entries, files to generate)."""
        paths: dict[str, str] = {}
        entries, files = [], []
        for volume in service.volumes:
            if volume.type == "bind":
                source = Path(volume.source)
                if source.is_file() and source.suffix in CONFIG_SUFFIXES:
                    native = proc_dir / "root" / volume.target.lstrip("/")
                    files.append({"target": volume.target, "from": str(source), "path": str(native)})
                else:
                    native = source
            elif volume.type == "volume":
                native = self.run_dir / "volumes" / volume.source
            else:
                native = proc_dir / "root" / volume.target.lstrip("/")
            paths[volume.target] = str(native)
            entries.append({"type": volume.type, "source": volume.source, "target": volume.target,
                            "read_only": volume.read_only, "native": str(native)})
        return paths, entries, files

    def _peers(self, argv: list[str], service: Service, replica: int, where: str) -> tuple[list[str], dict | None]:
        """--peers-dns NAME:PORT -> -p I --hostfile F (and -n N when absent)."""
        out, hostfile = [], None
        i = 0
        while i < len(argv):
            arg = argv[i]
            if arg == "--peers-dns" or arg.startswith("--peers-dns="):
                value = arg.split("=", 1)[1] if "=" in arg else (argv[i + 1] if i + 1 < len(argv) else "")
                i += 1 if "=" in arg else 2
                name, _, port = value.rpartition(":")
                peers = self.services.get(name)
                if peers is None or peers.kind != "exec" or not port.isdigit():
                    raise LaunchError(f"{where}: --peers-dns {value}: expected SERVICE:PORT of a service here")
                path = self.run_dir / f"{name}.hosts"
                lines = [f"{NATIVE_HOST}:{self.native_port(name, r, int(port), where)}" for r in range(peers.replicas)]
                hostfile = {"path": str(path), "lines": lines, "service": name}
                out += ["-p", str(replica), "--hostfile", str(path)]
                if not any(a in ("-n", "--processes") or a.startswith("--processes=") for a in argv):
                    out += ["-n", str(peers.replicas)]
                continue
            out.append(arg)
            i += 1
        return out, hostfile

    def plan(self) -> dict:
        services = {}
        for name in self.order:
            service = self.services[name]
            entry = {
                "kind": service.kind,
                "image": service.image,
                "replicas": service.replicas,
                "restart": service.restart,
                "stop_grace_seconds": service.stop_grace_seconds,
                "depends_on": service.depends_on,
                "compose": {
                    "entrypoint": service.entrypoint,
                    "command": service.command,
                    "environment": service.environment,
                    "ports": [{"container": p.container, "published": p.published, "protocols": p.protocols}
                              for p in service.ports],
                    "expose": service.expose,
                    "volumes": [vars(v) for v in service.volumes],
                },
                "ports": [],
                "volumes": [],
                "processes": [],
            }
            if service.kind == "script":
                script = service.labels["corvid.native.script"]
                port = int(service.labels["corvid.native.port"])
                data, note = SCRIPT_DATA.get(script, (None, f"kept by {script}"))
                entry["script"] = script
                entry["port"] = port
                entry["ports"] = [{"container": p, "published": self._published(service, p),
                                   "protocols": self._protocols(service, p), "native": [port]}
                                  for p in service.container_ports]
                entry["volumes"] = [{**vars(v), "native": [str(cache_dir() / data)] if data else None,
                                     "note": f"{script}: {note}"} for v in service.volumes]
                entry["processes"] = [{"name": name, "replica": 0, "script": script,
                                       "argv": [str(ROOT / script), "up"], "ports": {str(p): port for p in service.container_ports}}]
            elif service.kind == "covered":
                entry["by"] = service.labels["corvid.native.by"]
                entry["ports"] = [{"container": p, "published": self._published(service, p),
                                   "protocols": self._protocols(service, p), "native": None}
                                  for p in service.container_ports]
                entry["volumes"] = [{**vars(v), "native": None, "note": f"done by {entry['by']}"} for v in service.volumes]
            elif service.kind == "none":
                entry["reason"] = service.labels.get("corvid.native.reason", "not run natively")
                entry["ports"] = [{"container": p, "published": self._published(service, p),
                                   "protocols": self._protocols(service, p), "native": None}
                                  for p in service.container_ports]
                entry["volumes"] = [{**vars(v), "native": None, "note": entry["reason"]} for v in service.volumes]
            else:
                self._plan_exec(service, entry)
            services[name] = entry
        return {
            "compose_file": str(self.compose_file),
            "env_file": str(self.compose_dir / ".env"),
            "variables": self.variables,
            "run_dir": str(self.run_dir),
            "corvid": str(self.corvid),
            "order": self.order,
            "services": services,
        }

    def _published(self, service: Service, container: int) -> int | None:
        for port in service.ports:
            if port.container == container:
                return port.published
        return None

    def _protocols(self, service: Service, container: int) -> list[str]:
        for port in service.ports:
            if port.container == container:
                return port.protocols
        return ["tcp"]  # only exposed: compose's default

    def _plan_exec(self, service: Service, entry: dict):
        argv0 = (service.entrypoint or [None])[0]
        if argv0 is None:
            raise LaunchError(f"services.{service.name}: give the entrypoint explicitly: the launcher cannot read images")
        if argv0 not in self.programs:
            raise LaunchError(f"services.{service.name}: no native program for {argv0!r} (known: {', '.join(sorted(self.programs))})")
        container_argv = (service.entrypoint or []) + (service.command or [])
        entry["ports"] = [{"container": p, "published": self._published(service, p), "protocols": self._protocols(service, p),
                           "native": [self.native_ports[(service.name, r)][p] for r in range(service.replicas)]}
                          for p in service.container_ports]
        for replica in range(service.replicas):
            pname = process_name(service, replica)
            where = f"services.{service.name} ({pname})"
            proc_dir = self.run_dir / pname
            paths, volumes, files = self._volumes(service, replica, proc_dir)
            own = (service.name, replica)
            argv, hostfile = self._peers(container_argv, service, replica, where)
            argv = [self.programs[argv0]] + [self.rewrite(a, own, paths, where) for a in argv[1:]]
            env = {k: self.rewrite(v, own, paths, where) for k, v in service.environment.items()}
            for item in files:
                item["prometheus"] = False
                text = Path(item["from"]).read_text()
                if item["from"].endswith((".yml", ".yaml")):
                    try:
                        parsed = yaml.safe_load(text)
                    except yaml.YAMLError as error:
                        raise LaunchError(f"{item['from']}: {error}") from None
                    if isinstance(parsed, dict) and "scrape_configs" in parsed:
                        item["prometheus"] = True
                        header = (f"# Generated by deploy/compose/launch from {item['from']}: native targets"
                                  + (f", scrape interval {self.scrape_interval}" if self.scrape_interval else "") + ".\n")
                        text = header + yaml.safe_dump(self._prometheus_config(parsed, own, f"{where} {item['from']}"), sort_keys=False)
                item["content"] = self.rewrite(text, own, paths, f"{where} {item['from']}")
            entry["processes"].append({
                "name": pname,
                "replica": replica,
                "argv": argv,
                "env": env,
                "cwd": str(proc_dir),
                "log": str(self.run_dir / "logs" / f"{pname}.log"),
                "ports": {str(p): n for p, n in self.native_ports[(service.name, replica)].items()},
                "paths": paths,
                "files": files,
                "hostfile": hostfile,
            })
        entry["volumes"] = [
            {**vars(v), "native": [p["paths"][v.target] for p in entry["processes"]]} for v in service.volumes
        ]


def public_plan(plan: dict) -> dict:
    """The plan without generated file contents (what `plan` prints)."""
    result = json.loads(json.dumps(plan))
    for service in result["services"].values():
        for process in service["processes"]:
            for item in process.get("files", []):
                item.pop("content", None)
    return result


# --------------------------------------------------------------------------------------------
# Running it


def prepare(plan: dict):
    run_dir = Path(plan["run_dir"])
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    for service in plan["services"].values():
        for process in service["processes"]:
            if "cwd" not in process:
                continue
            Path(process["cwd"]).mkdir(parents=True, exist_ok=True)
            generated = {item["path"] for item in process["files"]}
            for native in process["paths"].values():
                if native not in generated and not Path(native).exists():
                    Path(native).mkdir(parents=True, exist_ok=True)
            for item in process["files"]:
                Path(item["path"]).parent.mkdir(parents=True, exist_ok=True)
                Path(item["path"]).write_text(item["content"])
            if process.get("hostfile"):
                hostfile = process["hostfile"]
                Path(hostfile["path"]).write_text(
                    f"# {hostfile['service']}: written by deploy/compose/launch, line i is process i\n"
                    + "\n".join(hostfile["lines"]) + "\n")
    (run_dir / "plan.json").write_text(json.dumps(public_plan(plan), indent=2) + "\n")


def state_path(run_dir: Path) -> Path:
    return run_dir / "state.json"


def load_state(run_dir: Path) -> dict:
    path = state_path(run_dir)
    if path.exists():
        return json.loads(path.read_text())
    return {"scripts_started": [], "processes": []}


def save_state(run_dir: Path, state: dict):
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_path(run_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(state_path(run_dir))


def group_alive(pgid: int) -> bool:
    try:  # reap the group's leader if it is our own exited child (`up` started it), or it counts as alive
        os.waitpid(pgid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def exit_code(process: dict) -> int | None:
    path = Path(process["exit_file"])
    if path.exists():
        text = path.read_text().strip()
        return int(text) if text.lstrip("-").isdigit() else None
    return None


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((NATIVE_HOST, port)) == 0


def udp_port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((NATIVE_HOST, port))
            return True
        except OSError:
            return False


def script_running(script: str) -> bool:
    return subprocess.run([str(ROOT / script), "status"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def log(message: str):
    print(f"launch: {message}", file=sys.stderr, flush=True)


def ensure_programs(plan: dict, build: bool):
    for service in plan["services"].values():
        for process in service["processes"]:
            program = process["argv"][0]
            if process.get("script"):
                continue
            if program == plan["corvid"]:
                if build:
                    log("cargo build --bin corvid")
                    subprocess.run(["cargo", "build", "-q", "--bin", "corvid"], cwd=ROOT, check=True)
                if not Path(program).exists():
                    raise LaunchError(f"{program} does not exist: run `cargo build --bin corvid` or give --corvid")
                build = False
            elif Path(program).name == "prometheus" and not Path(program).exists():
                subprocess.run([str(ROOT / "scripts/ensure-debian.sh"), "prometheus"], check=True)
            elif not Path(program).exists():
                raise LaunchError(f"{process['name']}: {program} does not exist")


def start_process(process: dict, service_env: dict) -> dict:
    exit_file = Path(process["cwd"]) / "exit-code"
    exit_file.unlink(missing_ok=True)
    env = dict(os.environ)
    env.update(service_env)
    with open(process["log"], "ab") as out:
        out.write(f"==> {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(process['argv'])}\n".encode())
        out.flush()
        # bash records the exit code; the group (setsid) is what `down` signals.
        child = subprocess.Popen(
            ["bash", "-c", '"$@"; echo $? >"$0"', str(exit_file), *process["argv"]],
            cwd=process["cwd"], env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    return {"name": process["name"], "pgid": child.pid, "exit_file": str(exit_file), "log": process["log"],
            "argv": process["argv"]}


def wait_completed(state: dict, names: list[str], timeout: float, what: str):
    deadline = time.time() + timeout
    for record in [p for p in state["processes"] if p["name"] in names]:
        while True:
            code = exit_code(record)
            if code is not None:
                if code != 0:
                    raise LaunchError(f"{record['name']} exited with {code} ({what} needs it to succeed); see {record['log']}")
                break
            if not group_alive(record["pgid"]):
                raise LaunchError(f"{record['name']} stopped without an exit code; see {record['log']}")
            if time.time() > deadline:
                raise LaunchError(f"{record['name']} did not finish within {timeout:.0f} s; see {record['log']}")
            time.sleep(0.3)


def up(planner: Planner, build: bool, timeout: float):
    plan = planner.plan()
    run_dir = Path(plan["run_dir"])
    state = load_state(run_dir)
    live = [p["name"] for p in state["processes"] if group_alive(p["pgid"])]
    if live:
        raise LaunchError(f"already up ({', '.join(live)} running from {run_dir}): `launch down` first")
    state = {"scripts_started": [], "processes": [], "compose_file": plan["compose_file"],
             "stop_grace_seconds": max(s.stop_grace_seconds for s in planner.services.values())}
    save_state(run_dir, state)
    try:
        ensure_programs(plan, build)
        prepare(plan)
        for name in plan["order"]:
            service = plan["services"][name]
            if service["kind"] == "script":
                script = service["script"]
                if script_running(script):
                    log(f"{name}: {script} is already running; using it")
                else:
                    log(f"{name}: {script} up")
                    state["scripts_started"].append(script)
                    save_state(run_dir, state)
                    subprocess.run([str(ROOT / script), "up"], check=True)
                if not port_open(service["port"]):
                    raise LaunchError(f"{name}: {script} runs, but nothing answers on {NATIVE_HOST}:{service['port']} "
                                      "(its corvid.native.port label)")
            elif service["kind"] == "covered":
                log(f"{name}: done by {service['by']}")
            elif service["kind"] == "none":
                log(f"{name}: not started natively ({service['reason']})")
            else:
                completed = [dep for dep, condition in service["depends_on"].items()
                             if condition == "service_completed_successfully"
                             and plan["services"][dep]["kind"] == "exec"]
                names = [p["name"] for dep in completed for p in plan["services"][dep]["processes"]]
                wait_completed(state, names, timeout, name)
                udp = {str(p["container"]) for p in service["ports"] if "udp" in p.get("protocols", [])}
                for process in service["processes"]:
                    for container, port in process["ports"].items():
                        if port_open(port) or (container in udp and not udp_port_free(port)):
                            raise LaunchError(f"{process['name']}: port {port} (its {container}) is taken by another process")
                for process in service["processes"]:
                    log(f"{process['name']}: {shlex.join(process['argv'])}")
                    state["processes"].append(start_process(process, process["env"]))
                    save_state(run_dir, state)
        time.sleep(2)
        failed = [p for p in state["processes"] if (exit_code(p) or 0) != 0]
        for record in failed:
            log(f"{record['name']} exited with {exit_code(record)}; last lines of {record['log']}:")
            print("".join(Path(record["log"]).read_text(errors="replace").splitlines(True)[-15:]), file=sys.stderr)
        if failed:
            raise LaunchError(f"{len(failed)} process(es) failed at start-up")
    except (LaunchError, subprocess.CalledProcessError) as error:
        log(f"up failed: {error}; stopping what it started")
        down(run_dir)
        raise LaunchError(str(error)) from None
    prom = [p for p in plan["services"].values() for p in p["processes"] if Path(p["argv"][0]).name == "prometheus"]
    log(f"up: {len(state['processes'])} processes, logs in {run_dir / 'logs'}"
        + (f"; Prometheus on http://{NATIVE_HOST}:{next(iter(prom[0]['ports'].values()))}" if prom and prom[0]["ports"] else ""))


def stop_groups(records: list[dict], grace: float):
    """SIGTERM to each record's process group, SIGKILL to those still there after `grace` s."""
    live = [p for p in records if group_alive(p["pgid"])]
    for record in live:
        log(f"stopping {record['name']} (process group {record['pgid']})")
        try:
            os.killpg(record["pgid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.time() + grace
    while any(group_alive(p["pgid"]) for p in live) and time.time() < deadline:
        time.sleep(0.2)
    for record in live:
        if group_alive(record["pgid"]):
            log(f"{record['name']} ignored SIGTERM; killing it")
            try:
                os.killpg(record["pgid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def down(run_dir: Path):
    state = load_state(run_dir)
    stop_groups(state["processes"], float(state.get("stop_grace_seconds", 10)))
    for script in reversed(state["scripts_started"]):
        log(f"{script} down")
        subprocess.run([str(ROOT / script), "down"], check=False)
    state["processes"] = []
    state["scripts_started"] = []
    save_state(run_dir, state)


def _selected(run_dir: Path, names: list[str]) -> tuple[dict, list[dict]]:
    """The plan of the last `up` and its processes that `names` (services or processes) name."""
    if not (run_dir / "plan.json").exists():
        raise LaunchError(f"nothing was started from {run_dir} (no plan.json)")
    plan = json.loads((run_dir / "plan.json").read_text())
    processes = {p["name"]: (name, p) for name, s in plan["services"].items() if s["kind"] == "exec"
                 for p in s["processes"]}
    selected = []
    for name in names:
        service = plan["services"].get(name)
        if service is not None and service["kind"] != "exec":
            raise LaunchError(f"{name} is a {service['kind']} service: launch starts and stops only the processes "
                              f"it runs itself ({', '.join(sorted(processes))})")
        if service is not None:
            selected += [p for p in service["processes"] if p not in selected]
        elif name in processes:
            if processes[name][1] not in selected:
                selected.append(processes[name][1])
        else:
            raise LaunchError(f"no service or process {name!r} in {run_dir / 'plan.json'}")
    return plan, selected


def stop(run_dir: Path, names: list[str]):
    """Stops some of the processes `up` started (`start` or `down` and `up` bring them back)."""
    plan, selected = _selected(run_dir, names)
    state = load_state(run_dir)
    wanted = {p["name"] for p in selected}
    records = [r for r in state["processes"] if r["name"] in wanted]
    grace = max(service.get("stop_grace_seconds", 10.0) for service in plan["services"].values()
                if any(p["name"] in wanted for p in service["processes"]))
    stop_groups(records, grace)
    for record in records:
        record["stopped"] = True
    save_state(run_dir, state)


def start(run_dir: Path, names: list[str]):
    """Starts again processes of the last `up` that are not running (after `stop`, or that exited)."""
    _, selected = _selected(run_dir, names)
    state = load_state(run_dir)
    if not state.get("processes"):
        raise LaunchError(f"{run_dir} is down: `launch up` first")
    for process in selected:
        records = [r for r in state["processes"] if r["name"] == process["name"]]
        if records and group_alive(records[-1]["pgid"]) and exit_code(records[-1]) is None:
            log(f"{process['name']} is running (process group {records[-1]['pgid']})")
            continue
        log(f"{process['name']}: {shlex.join(process['argv'])}")
        record = start_process(process, process["env"])
        state["processes"] = [r for r in state["processes"] if r["name"] != process["name"]] + [record]
        save_state(run_dir, state)


def status(run_dir: Path) -> int:
    """What runs of the topology the last `up` (or `prepare`) of this run directory wrote."""
    if not (run_dir / "plan.json").exists():
        raise LaunchError(f"nothing was started from {run_dir} (no plan.json)")
    plan = json.loads((run_dir / "plan.json").read_text())
    state = load_state(run_dir)
    records = {p["name"]: p for p in state["processes"]}
    bad = 0
    rows = []
    for name in plan["order"]:
        service = plan["services"][name]
        if service["kind"] == "script":
            running = script_running(service["script"])
            who = "started by launch" if service["script"] in state["scripts_started"] else "not started by launch"
            rows.append((name, service["script"], "running" if running else "not running", who))
            bad += not running
        elif service["kind"] != "exec":
            rows.append((name, "-", service["kind"], service.get("by") or service.get("reason", "")))
        for process in service["processes"] if service["kind"] == "exec" else []:
            record = records.get(process["name"])
            ports = " ".join(f"{port}{'' if port_open(port) else '(closed)'}" for port in process["ports"].values())
            if record is None:
                rows.append((process["name"], "-", "not started", ports))
                bad += 1
                continue
            code = exit_code(record)
            if group_alive(record["pgid"]) and code is None:
                state_text = f"running (pgid {record['pgid']})"
            elif code is not None:
                state_text = f"exited {code}"
                bad += code != 0 or service["restart"] in ("always", "unless-stopped")
            else:
                state_text = "stopped by `launch stop`" if record.get("stopped") else "stopped"
                bad += 1
            rows.append((process["name"], "corvid" if process["argv"][0] == plan["corvid"] else Path(process["argv"][0]).name, state_text, ports))
    widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(str(cell).ljust(widths[i]) if i < 3 else str(cell) for i, cell in enumerate(row)))
    return 1 if bad else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="launch", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    for verb, text in [("plan", "print the resolved native processes as JSON"),
                       ("prepare", "write the generated configs and directories, start nothing"),
                       ("up", "start the stack natively"),
                       ("status", "what runs"),
                       ("stop", "stop some services or processes `up` started"),
                       ("start", "start again services or processes of the last `up` that do not run"),
                       ("down", "stop what `up` started")]:
        p = sub.add_parser(verb, help=text)
        p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="generated files, logs, volumes, state (default deploy/compose/.run)")
        if verb in ("stop", "start"):
            p.add_argument("names", nargs="+", metavar="NAME", help="a service (all its processes) or a process (engine-1)")
        if verb in ("down", "status", "stop", "start"):
            continue
        p.add_argument("-f", "--file", type=Path, default=DEFAULT_COMPOSE, help="compose file (default: docker-compose.yml beside this launcher)")
        p.add_argument("--engines", type=int, help="engine processes: sets ENGINE_REPLICAS (replicas and -n)")
        p.add_argument("-e", "--env", action="append", default=[], metavar="VAR=VALUE", help="interpolation variable, over .env and the environment")
        p.add_argument("--corvid", type=Path, help="the corvid binary (default: $CORVID_BIN or target/debug/corvid, built by up)")
        p.add_argument("--scrape-interval", metavar="DURATION",
                       help="Prometheus scrape and rule evaluation interval of the generated config (e.g. 1s; default the compose config's)")
        if verb == "up":
            p.add_argument("--no-build", action="store_true", help="do not run `cargo build --bin corvid` first")
            p.add_argument("--timeout", type=float, default=180, help="seconds to wait for one-shot services others depend on")
    args = parser.parse_args(argv)
    try:
        if args.verb == "down":
            down(args.run_dir.resolve())
            return 0
        if args.verb == "status":
            return status(args.run_dir.resolve())
        if args.verb == "stop":
            stop(args.run_dir.resolve(), args.names)
            return 0
        if args.verb == "start":
            start(args.run_dir.resolve(), args.names)
            return 0
        overrides = {}
        for item in args.env:
            name, sep, value = item.partition("=")
            if not sep:
                raise LaunchError(f"-e {item}: expected VAR=VALUE")
            overrides[name] = value
        if args.engines is not None:
            if args.engines < 1:
                raise LaunchError("--engines: at least 1")
            overrides["ENGINE_REPLICAS"] = str(args.engines)
        planner = Planner(args.file, args.run_dir, overrides, (args.corvid or corvid_default()).resolve(),
                          scrape_interval=args.scrape_interval)
        if args.verb == "plan":
            json.dump(public_plan(planner.plan()), sys.stdout, indent=2)
            print()
        elif args.verb == "prepare":
            plan = planner.plan()
            prepare(plan)
            print(Path(plan["run_dir"]) / "plan.json")
        elif args.verb == "up":
            up(planner, build=not args.no_build and args.corvid is None and not os.environ.get("CORVID_BIN"), timeout=args.timeout)
        return 0
    except LaunchError as error:
        print(f"launch: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
