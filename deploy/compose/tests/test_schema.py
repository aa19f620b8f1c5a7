"""docker-compose.yml validates against the Compose Specification's JSON schema (the one
Debian's docker-compose ships), and the validation rejects planted mistakes."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

COMPOSE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(COMPOSE_DIR))

import compose_schema  # noqa: E402
import launcher  # noqa: E402


@pytest.fixture(scope="module")
def schema():
    try:
        return json.loads(compose_schema.find_schema().read_text())
    except FileNotFoundError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def document():
    return launcher.load_compose(launcher.DEFAULT_COMPOSE)[0]


def test_compose_file_validates(schema, document):
    assert compose_schema.errors(document, schema) == []


def test_docker_compose_config_output_validates(schema):
    assert compose_schema.errors(compose_schema.docker_compose_config(launcher.DEFAULT_COMPOSE), schema) == []


@pytest.mark.parametrize("plant, expected", [
    (lambda d: d["services"]["engine"]["deploy"].update(replicas="two"), "services/engine/deploy/replicas"),
    (lambda d: d["services"]["engine"].update(comand=["run"]), "'comand' does not match"),
    (lambda d: d["services"]["kafka"].update(ports=[{"target": "nine"}]), "services/kafka/ports/0"),
    (lambda d: d["services"]["engine"].update(depends_on={"kafka": {"condition": "healthy"}}), "services/engine/depends_on"),
])
def test_planted_mistakes_are_rejected(schema, document, plant, expected):
    broken = copy.deepcopy(document)
    plant(broken)
    found = compose_schema.errors(broken, schema)
    assert any(expected in error for error in found), found


def test_interpolation_matches_compose_rules():
    used = {}
    env = {"SET": "x", "EMPTY": ""}
    assert launcher.interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $SET $$SET", env, "t", used) == "x d  d x $SET"
    with pytest.raises(launcher.LaunchError, match="UNSET is required: give it"):
        launcher.interpolate("${UNSET:?give it}", env, "t", used)
