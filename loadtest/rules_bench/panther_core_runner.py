"""panther-core's side of `corvid loadtest rules`.

Loads a directory of Panther-format detections with panther-core's own classes (globals
imported under their GlobalID, each rule a `panther_core.rule.Rule` built from its YAML),
then runs them over a JSON-lines file of events the way Panther's log analysis does: each
event wrapped in a `PantherEvent`, and `Rule.run(event, {}, {}, batch_mode=True)` for every
enabled rule whose `LogTypes` holds the event's `p_log_type` (title, dedup, alert context
and the other auxiliary functions run only on a match, as in batch mode).

Prints one JSON object on stdout:

    {"panther_core": "0.16.3", "python": "3.11.7", "rules": 68, "events": 100000,
     "seconds": ..., "rules_seconds": ..., "matches": {"RuleID": n, ...}, "errors": n,
     "tests": {"passed": n, "failed": n}}

* `seconds`: the best of `--rounds` passes of decode + wrap + run: each line is
  `json.loads`-ed, wrapped in a `PantherEvent`, and run through its rules.
* `rules_seconds`: the best of `--rounds` passes over events `json.loads`-ed before the
  clock starts: wrapping in a `PantherEvent` and running the rules (rule evaluation, as
  Corvid's binding of its event view is part of its rule evaluation).
* Loading (imports, YAML) and reading the file are never timed.
* `tests`: with `--check-tests`, every rule's YAML `Tests` run through panther-core
  (`batch_mode=False`, so a raising title/dedup/alert_context fails the test), proving the
  benchmark's rules mean the same on both engines.
"""

import argparse
import gc
import importlib.util
import json
import os
import platform
import sys
import time
from importlib import metadata

import yaml
from panther_core.enriched_event import PantherEvent
from panther_core.rule import Rule


def load_analysis(root):
    """(globals, rules): the YAML specs under `root`, each with `_dir` set."""
    global_specs, rule_specs = [], []
    for directory, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            if not name.endswith((".yml", ".yaml")):
                continue
            with open(os.path.join(directory, name), encoding="utf-8") as handle:
                spec = yaml.safe_load(handle)
            if not isinstance(spec, dict):
                continue
            spec["_dir"] = directory
            kind = spec.get("AnalysisType")
            if kind == "global":
                global_specs.append(spec)
            elif kind == "rule":
                rule_specs.append(spec)
    return global_specs, rule_specs


def import_globals(global_specs):
    for spec in global_specs:
        path = os.path.join(spec["_dir"], spec["Filename"])
        module_spec = importlib.util.spec_from_file_location(spec["GlobalID"], path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[spec["GlobalID"]] = module
        module_spec.loader.exec_module(module)


def build_rule(spec):
    config = {
        "id": spec["RuleID"],
        "analysisType": "RULE",
        "versionId": "benchmark",
        "path": os.path.join(spec["_dir"], spec["Filename"]),
        "severity": str(spec.get("Severity", "INFO")).upper(),
        "dedupPeriodMinutes": spec.get("DedupPeriodMinutes", 60),
        "tags": list(spec.get("Tags", [])),
        "reports": {k: list(map(str, v)) for k, v in (spec.get("Reports") or {}).items()},
    }
    rule = Rule(config)
    if rule.setup_exception is not None:
        raise SystemExit(f"{config['path']}: {rule.setup_exception!r}")
    return rule


def rules_by_log_type(rule_specs):
    index = {}
    for spec in sorted(rule_specs, key=lambda s: s["RuleID"]):
        if not spec.get("Enabled", False):
            continue
        rule = build_rule(spec)
        for log_type in spec.get("LogTypes", []):
            index.setdefault(log_type, []).append(rule)
    return index


def check_tests(rule_specs, index):
    rules = {rule.detection_id: rule for rules in index.values() for rule in rules}
    passed = failed = 0
    for spec in rule_specs:
        rule = rules.get(spec["RuleID"]) or build_rule(spec)
        for test in spec.get("Tests", []):
            result = rule.run(PantherEvent(test.get("Log", {})), {}, {}, batch_mode=False)
            aux_errors = [
                getattr(result, name)
                for name in (
                    "title_exception",
                    "dedup_exception",
                    "alert_context_exception",
                    "description_exception",
                    "reference_exception",
                    "severity_exception",
                    "runbook_exception",
                    "destinations_exception",
                )
                if getattr(result, name) is not None
            ]
            ok = (
                result.fatal_error is None
                and bool(result.detection_output) == bool(test["ExpectedResult"])
                and not (test["ExpectedResult"] and aux_errors)
            )
            if ok:
                passed += 1
            else:
                failed += 1
                print(
                    f"FAIL [{spec['RuleID']}] {test.get('Name')}: output "
                    f"{result.detection_output!r}, error {result.fatal_error!r}, aux {aux_errors!r}",
                    file=sys.stderr,
                )
    return {"passed": passed, "failed": failed}


def evaluate(events, index, decode):
    """One pass; returns (seconds, matches, errors).

    `decode`: the items are JSON text to `json.loads` first; otherwise decoded dicts."""
    matches, errors = {}, 0
    empty = []
    loads = json.loads
    started = time.perf_counter()
    for item in events:
        event = PantherEvent(loads(item) if decode else item)
        for rule in index.get(event.get("p_log_type"), empty):
            result = rule.run(event, {}, {}, True)
            if result.trigger_alert:
                matches[rule.detection_id] = matches.get(rule.detection_id, 0) + 1
            elif result.fatal_error is not None:
                errors += 1
    return time.perf_counter() - started, matches, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", required=True, help="directory of detections")
    parser.add_argument("--events", required=True, help="JSON lines, one event a line")
    parser.add_argument("--rounds", type=int, default=1, help="passes per measure; best counts")
    parser.add_argument("--check-tests", action="store_true", help="also run the rules' Tests")
    args = parser.parse_args()

    global_specs, rule_specs = load_analysis(args.rules)
    import_globals(global_specs)
    index = rules_by_log_type(rule_specs)
    tests = check_tests(rule_specs, index) if args.check_tests else None

    with open(args.events, encoding="utf-8") as handle:
        lines = [line for line in handle if line.strip()]

    best_total = best_rules = float("inf")
    matches, errors = {}, 0
    for _ in range(max(1, args.rounds)):
        seconds, matches, errors = evaluate(lines, index, decode=True)
        best_total = min(best_total, seconds)
        decoded = [json.loads(line) for line in lines]
        # The decoded events stay alive for the whole pass, which a streaming engine never
        # has; kept out of the collector's way so that its full collections do not walk
        # them (that would charge panther-core for a cost of the benchmark, not its own).
        gc.collect()
        gc.freeze()
        seconds, rules_matches, rules_errors = evaluate(decoded, index, decode=False)
        gc.unfreeze()
        best_rules = min(best_rules, seconds)
        if (rules_matches, rules_errors) != (matches, errors):
            raise SystemExit("the two passes disagree on the outcomes")
        del decoded

    json.dump(
        {
            "panther_core": metadata.version("panther-core"),
            "python": platform.python_version(),
            "rules": len({rule.detection_id for rules in index.values() for rule in rules}),
            "events": len(lines),
            "seconds": best_total,
            "rules_seconds": best_rules,
            "matches": matches,
            "errors": errors,
            "tests": tests,
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()
