#!/usr/bin/env python3
"""Joins the per-test verdicts of `pat test` and `corvid rules test` over one corpus.

Usage: compare.py CORPUS --pat-out F --pat-err F --corvid-out F --corvid-err F [--cwd DIR]

Prints a table `detection | test | pat | corvid | same?` and a summary line. Exits 0 when
both tools ran to their summary and every test has the same verdict on both sides, 1
otherwise (a difference, a test only one side reports, a tool that did not finish).

The tests each corpus should have come from its YAML files, which resolves what the
text alone leaves ambiguous (test names containing ': ', a detection header vs. a line a
rule printed) and accounts for detections a tool refused to load.

Verdicts: PASS, FAIL, `load error` (the detection did not load, so none of its tests ran)
and `missing` (the tool said nothing about the test).

pat's output (panther_analysis_tool/main.py, 1.11):
    <DetectionID>                          one block per detection, in load order
    \t[PASS] <test name>                   or [FAIL]
    \t\t[FAIL] [title] <error or output>   per-function results under a test
    \tNo tests configured for <id>
    --------------------------
    Failed Tests Summary                   \t<id> / \t\t<python list: names, 'name:function'>
    Invalid Tests Summary                  \t<spec file> / \t\t<error>   (detection not loaded)
    Test Summary                           \tPassed/Skipped/Failed/Invalid counts, per detection
A test whose run raised before it could be judged gets no [PASS]/[FAIL] line, only an
entry in the Failed Tests Summary (and a logged warning on stderr); it counts as FAIL.

corvid's output (engine/src/rules/testing.rs):
    FAIL [<RuleID>] (load): <error> (<file>:<line>)   a detection that did not load
    PASS [<RuleID>] <test name>
    FAIL [<RuleID>] <test name>: <why>
        | <what the test printed>
    <N> passed, <M> failed
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from dataclasses import dataclass, field

import yaml

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Correlation rules are left out: pat can only test them against a Panther backend and
# skips them without one.
TESTED_TYPES = {"rule", "policy", "scheduled_rule"}

PASS, FAIL, LOAD_ERROR, ABSENT = "PASS", "FAIL", "load error", "missing"


@dataclass
class Detection:
    id: str
    spec_file: str  # real path of the YAML
    py_file: str | None  # real path of the Python file, if any
    tests: list[str] = field(default_factory=list)  # keys, see test_keys()


@dataclass
class Side:
    """One tool's reading of the corpus."""

    name: str
    verdicts: dict[tuple[str, str], str] = field(default_factory=dict)
    details: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    load_errors: dict[str, str] = field(default_factory=dict)  # detection id -> message
    finished: bool = False
    problems: list[str] = field(default_factory=list)  # make the comparison fail
    notes: list[str] = field(default_factory=list)  # shown, e.g. warnings on stderr


def test_keys(names: list[str]) -> list[str]:
    """Test names, with ` (#2)`, ` (#3)`, ... appended to repeats so each key is unique."""
    seen: dict[str, int] = {}
    keys = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        keys.append(name if seen[name] == 1 else f"{name} (#{seen[name]})")
    return keys


def load_corpus(corpus: str) -> tuple[list[Detection], list[str]]:
    """The detections (with tests) under `corpus`, and YAML files that could not be read."""
    detections, unreadable = [], []
    for dirpath, dirnames, filenames in os.walk(corpus):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in sorted(filenames):
            if filename.startswith(".") or not filename.endswith((".yml", ".yaml")):
                continue
            path = os.path.join(dirpath, filename)
            try:
                with open(path, encoding="utf-8") as f:
                    spec = yaml.safe_load(f)
            except (OSError, yaml.YAMLError) as err:
                unreadable.append(f"{path}: {err}")
                continue
            if not isinstance(spec, dict):
                continue
            if str(spec.get("AnalysisType", "")).lower() not in TESTED_TYPES:
                continue
            detection_id = spec.get("RuleID") or spec.get("PolicyID")
            if not detection_id:
                continue
            tests = spec.get("Tests") or []
            names = [str(t.get("Name", "")) for t in tests if isinstance(t, dict)]
            py_file = spec.get("Filename")
            detections.append(
                Detection(
                    id=str(detection_id),
                    spec_file=os.path.realpath(path),
                    py_file=os.path.realpath(os.path.join(dirpath, py_file)) if py_file else None,
                    tests=test_keys(names),
                )
            )
    detections.sort(key=lambda d: d.id)
    return detections, unreadable


def read(path: str) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [ANSI.sub("", line.rstrip("\n")) for line in f]


class KeyAssigner:
    """Turns the n-th report of test `name` of a detection into its unique key."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], int] = {}

    def key(self, detection_id: str, name: str) -> tuple[str, str]:
        n = self.seen[(detection_id, name)] = self.seen.get((detection_id, name), 0) + 1
        return (detection_id, name if n == 1 else f"{name} (#{n})")


def parse_pat(
    out: list[str], err: list[str], detections: list[Detection], cwd: str
) -> Side:
    side = Side("pat")
    by_id = {d.id: d for d in detections}
    by_file = {d.spec_file: d for d in detections}
    names = {d.id: set(d.tests) for d in detections}
    header = re.compile(r"^\t\[(PASS|FAIL)\] (.*)$")
    function = re.compile(r"^\t\t\[(PASS|FAIL)\] \[([^\]]*)\] ?(.*)$")
    keys = KeyAssigner()

    current: str | None = None
    last: tuple[str, str] | None = None
    section = "tests"
    summary_entry: str | None = None
    failed_summary: dict[str, list[str]] = {}
    invalid_summary: list[tuple[str, list[str]]] = []
    for line in out:
        if line == "--------------------------":
            section = "title"
            continue
        if section == "title":
            section = {
                "Failed Tests Summary": "failed",
                "Invalid Tests Summary": "invalid",
                "Skipped Tests Summary": "skipped",
                "Test Summary": "summary",
            }.get(line.strip(), "other")
            if section == "summary":
                side.finished = True
            continue
        if section == "tests":
            if line and not line[0].isspace():
                # A detection's header; other unindented lines are what a test printed.
                if line in by_id:
                    current, last = line, None
                continue
            if current is None:
                continue
            if m := header.match(line):
                last = keys.key(current, m.group(2))
                side.verdicts[last] = m.group(1)
                side.details.setdefault(last, [])
            elif last and (m := function.match(line)):
                if m.group(1) == FAIL:
                    side.details[last].append(f"[{m.group(2)}] {m.group(3)}")
        elif section == "failed":
            if line.startswith("\t\t") and summary_entry is not None:
                try:
                    failed_summary[summary_entry] = [str(x) for x in ast.literal_eval(line.strip())]
                except (ValueError, SyntaxError):
                    failed_summary[summary_entry] = [line.strip()]
            elif line.startswith("\t"):
                summary_entry = line.strip()
        elif section == "invalid":
            if line.startswith("\t") and not line.startswith("\t\t"):
                invalid_summary.append((line.strip(), []))
            elif invalid_summary and line.strip():
                invalid_summary[-1][1].append(line.strip())

    # Tests that raised before being judged: only in the Failed Tests Summary, by bare name
    # (function failures are listed as `name:function` and have their [FAIL] line).
    for detection_id, entries in failed_summary.items():
        for entry in entries:
            key = (detection_id, entry)
            if entry in names.get(detection_id, set()) and key not in side.verdicts:
                side.verdicts[key] = FAIL
                side.details[key] = ["raised before it could be judged (see pat's stderr)"]

    for spec_file, message in invalid_summary:
        detection = by_file.get(os.path.realpath(os.path.join(cwd, spec_file)))
        text = " ".join(message)
        if detection is None:
            side.problems.append(f"invalid spec outside the known detections: {spec_file}: {text}")
        else:
            side.load_errors[detection.id] = text

    # pat always ends by logging its invalid specs, `ERROR: []` when there are none.
    warnings = [
        l for l in err if l.startswith(("WARNING", "ERROR", "CRITICAL")) and l != "ERROR: []"
    ]
    # On failure pat logs `ERROR: <spec file> <error>` for (the last of) its invalid specs;
    # when no spec at all is valid that is the only trace of them, with no stdout.
    for line in list(warnings):
        if not line.startswith("ERROR: "):
            continue
        spec_file, _, message = line[len("ERROR: ") :].partition(" ")
        detection = by_file.get(os.path.realpath(os.path.join(cwd, spec_file)))
        if detection is not None:
            side.load_errors.setdefault(detection.id, message)
            warnings.remove(line)

    if warnings:
        side.notes.extend(f"stderr: {w}" for w in warnings)
    return side


def parse_corvid(
    out: list[str], err: list[str], detections: list[Detection], cwd: str
) -> Side:
    side = Side("corvid")
    known = {d.id: sorted(d.tests, key=len, reverse=True) for d in detections}
    ids = sorted(known, key=len, reverse=True)
    keys = KeyAssigner()
    last: tuple[str, str] | None = None
    reported = (0, 0)
    load_lines = 0  # `FAIL [id] (load): ...`, counted as failures in the summary
    other: list[str] = []
    for line in out:
        m = re.match(r"^(PASS|FAIL) \[", line)
        if m:
            verdict, rest = m.group(1), line[len(m.group(0)) :]
            detection_id = next((i for i in ids if rest.startswith(i + "] ")), None)
            if detection_id is None:
                detection_id, _, rest = rest.partition("] ")
            else:
                rest = rest[len(detection_id) + 2 :]
            name, why = rest, ""
            if verdict == FAIL and rest.startswith("(load): ") and "(load)" not in known.get(
                detection_id, []
            ):
                side.load_errors[detection_id] = rest[len("(load): ") :]
                load_lines += 1
                last = None
                continue
            if verdict == FAIL:
                name = next(
                    (t for t in known.get(detection_id, []) if rest == t or rest.startswith(t + ":")),
                    None,
                )
                if name is None:
                    name, _, why = rest.partition(": ")
                else:
                    why = rest[len(name) + 1 :].strip()
            last = keys.key(detection_id, name)
            side.verdicts[last] = verdict
            side.details[last] = [why] if why else []
        elif m := re.match(r"^(\d+) passed, (\d+) failed$", line):
            side.finished = True
            reported = (int(m.group(1)), int(m.group(2)))
        elif line.startswith("    | ") and last is not None:
            side.details[last].append("printed: " + line[6:])
        elif line.strip():
            other.append(line)

    passed = sum(1 for v in side.verdicts.values() if v == PASS)
    failed = sum(1 for v in side.verdicts.values() if v == FAIL) + load_lines
    if side.finished and reported != (passed, failed):
        side.problems.append(
            f"summary says {reported[0]} passed, {reported[1]} failed; the lines say {passed}, {failed}"
        )

    # Detections corvid reports it could not load: their files are named in its messages.
    messages = other + [l for l in err if l.strip()]
    for detection in detections:
        if detection.id in side.load_errors or any(k[0] == detection.id for k in side.verdicts):
            continue
        names = {detection.spec_file, os.path.relpath(detection.spec_file, cwd)}
        if detection.py_file:
            names |= {detection.py_file, os.path.relpath(detection.py_file, cwd)}
        hits = [m for m in messages if any(n in m for n in names)]
        if hits:
            side.load_errors[detection.id] = " ".join(hits)
    if not side.finished:
        side.notes.extend(f"output: {m}" for m in messages[-20:])
    return side


def verdict(side: Side, key: tuple[str, str]) -> str:
    if key in side.verdicts:
        return side.verdicts[key]
    if key[0] in side.load_errors:
        return LOAD_ERROR
    return ABSENT


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("--pat-out", required=True)
    parser.add_argument("--pat-err", required=True)
    parser.add_argument("--corvid-out", required=True)
    parser.add_argument("--corvid-err", required=True)
    parser.add_argument("--cwd", default=os.getcwd(), help="where both tools ran")
    args = parser.parse_args()

    detections, unreadable = load_corpus(os.path.join(args.cwd, args.corpus))
    pat = parse_pat(read(args.pat_out), read(args.pat_err), detections, args.cwd)
    corvid = parse_corvid(read(args.corvid_out), read(args.corvid_err), detections, args.cwd)

    keys: list[tuple[str, str]] = [(d.id, t) for d in detections for t in d.tests]
    for side in (pat, corvid):
        keys += [k for k in side.verdicts if k not in keys]

    rows = [["detection", "test", "pat", "corvid", "same?"]]
    differing = []
    for key in keys:
        a, b = verdict(pat, key), verdict(corvid, key)
        same = a == b and a != ABSENT
        if not same:
            differing.append(key)
        rows.append([key[0], key[1], a, b, "yes" if same else "NO"])

    print(f"== {args.corpus}: {len(detections)} detections, {len(keys)} tests")
    if len(rows) > 1:
        print(table(rows))
    else:
        print("(no tests)")

    for key in differing:
        if LOAD_ERROR in (verdict(pat, key), verdict(corvid, key)):
            continue  # the reason is under "Detections that did not load"
        print(f"\nDIFFERENCE [{key[0]}] {key[1]}")
        for side in (pat, corvid):
            print(f"  {side.name}: {verdict(side, key)}")
            for line in side.details.get(key, []):
                print(f"    {line}")

    not_loaded = sorted(set(pat.load_errors) | set(corvid.load_errors))
    if not_loaded:
        print("\nDetections that did not load:")
        for detection_id in not_loaded:
            for side in (pat, corvid):
                message = side.load_errors.get(detection_id, "(loaded)")
                if len(message) > 400:
                    message = message[:400] + " [...]"
                print(f"  [{detection_id}] {side.name}: {message}")

    ok = not differing
    for side in (pat, corvid):
        if not side.finished:
            print(f"\n{side.name} did not finish (no closing summary); see its output")
            ok = False
        for problem in side.problems:
            print(f"{side.name}: {problem}")
            ok = False
        for note in side.notes:
            print(f"{side.name} (note): {note}")
    for entry in unreadable:
        print(f"unreadable YAML: {entry}")

    def tally(side: Side) -> str:
        counts = [verdict(side, key) for key in keys]
        return ", ".join(
            f"{counts.count(v)} {label}"
            for v, label in ((PASS, "passed"), (FAIL, "failed"), (LOAD_ERROR, "not loaded"))
        )

    print(
        f"\n{args.corpus}: {len(keys) - len(differing)} of {len(keys)} tests with the same verdict, "
        f"{len(differing)} different | pat: {tally(pat)} | corvid: {tally(corvid)} "
        f"=> {'OK' if ok else 'MISMATCH'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
