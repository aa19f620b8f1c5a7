#!/usr/bin/env python3
"""Validates docker-compose.yml against the Compose Specification's JSON schema.

    .venv/bin/python deploy/compose/compose_schema.py [-f FILE] [--schema compose_spec.json]

The schema is the one Debian's docker-compose package ships (compose/config/compose_spec.json,
found with `dpkg -L docker-compose`). The file is validated as interpolated with .env, as the
launcher and compose read it, and also as `docker-compose config` prints it when docker-compose
is installed. Exit 1 with each error's path when it does not validate.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import launcher  # noqa: E402


def find_schema() -> Path:
    candidates = []
    try:
        listing = subprocess.run(["dpkg", "-L", "docker-compose"], capture_output=True, text=True, check=False).stdout
        candidates += [Path(line) for line in listing.splitlines() if line.endswith("/compose_spec.json")]
    except FileNotFoundError:
        pass
    candidates += sorted(Path("/usr/lib/python3/dist-packages/compose/config").glob("compose_spec.json"))
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError("compose_spec.json not found: install Debian's docker-compose "
                            "(scripts/ensure-debian.sh docker-compose)")


def errors(document: dict, schema: dict) -> list[str]:
    declared = str(schema.get("$schema", ""))
    if "2019-09" in declared:  # Debian's file names the draft by an id jsonschema does not know
        validator_class = jsonschema.Draft201909Validator
    elif "draft-07" in declared:
        validator_class = jsonschema.Draft7Validator
    else:
        validator_class = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    found = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        found.append(f"{where}: {error.message}")
    return found


def docker_compose_config(compose_file: Path, env: dict | None = None) -> dict:
    """`docker-compose config` of the file: compose's own interpolation and normalization."""
    program = shutil.which("docker-compose")
    if program is None:
        raise FileNotFoundError("docker-compose not found (scripts/ensure-debian.sh docker-compose)")
    answer = subprocess.run(
        [program, "-f", str(compose_file), "--project-directory", str(compose_file.parent), "config"],
        capture_output=True, text=True, env=env, check=False)
    if answer.returncode != 0:
        raise RuntimeError(f"docker-compose config failed: {answer.stderr.strip()}")
    return yaml.safe_load(answer.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-f", "--file", type=Path, default=launcher.DEFAULT_COMPOSE)
    parser.add_argument("--schema", type=Path, help="compose_spec.json (default: the one docker-compose ships)")
    args = parser.parse_args()
    schema_path = args.schema or find_schema()
    schema = json.loads(schema_path.read_text())
    document, _ = launcher.load_compose(args.file)
    failed = 0
    views = [("interpolated with .env", document)]
    if shutil.which("docker-compose"):
        views.append(("as `docker-compose config` prints it", docker_compose_config(args.file)))
    for name, view in views:
        found = errors(view, schema)
        for error in found:
            print(f"{args.file} ({name}): {error}", file=sys.stderr)
        failed += bool(found)
        if not found:
            print(f"{args.file} ({name}) validates against {schema_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
