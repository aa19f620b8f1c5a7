//! `corvid rules test`: the unit tests written in each detection's YAML `Tests`.
//!
//! Semantics of `panther_analysis_tool test` (PAT 1.11 with panther-core 0.16, run
//! without a Panther backend):
//! * every rule, scheduled rule and policy is tested, enabled or not; correlation rules
//!   need a backend and are skipped;
//! * a rule test's `Log` is the event, seen through the data model of its `p_log_type`
//!   (none for scheduled rules); `event.lookup()` reads the test's `_mocked_lookup_data_`;
//!   a policy test's `Resource` is handed to `policy()` as a plain `dict`;
//! * `Mocks` replace module-level names of the detection with
//!   `MagicMock(return_value=…)` for that test only; what a test prints is captured and
//!   shown when it fails;
//! * `InlineFilters` are not applied (PAT skips them without a backend);
//! * every auxiliary function runs whatever the result. A test passes when the matcher
//!   returns exactly `ExpectedResult`, and — when `ExpectedResult` is the alerting value
//!   (`true` for rules, `false` for policies) — no function (`title`, `dedup`,
//!   `severity`, `alert_context`, `description`, `reference`, `runbook`, `destinations`,
//!   `unique`) raised or returned the wrong type. Unlike production, a failing auxiliary
//!   function fails the test instead of falling back;
//! * `ExpectedDestinations` must equal what `destinations()` routes to (`[]`: `SKIP`);
//!   names the test does not list are unknown destinations and, like a name repeated,
//!   make the whole result route nowhere (panther-core's behaviour);
//! * a detection that does not load is one failed line, `FAIL [id] (load): …`.
//!
//! The report is one line per test, `PASS [RuleID] name` or `FAIL [RuleID] name: why`,
//! then `N passed, M failed` alone on the last line.

use std::io::Write;
use std::path::Path;

use pyo3::prelude::*;

use super::event_view::{plain_to_py, EventView};
use super::metadata::{DetectionKind, TestSpec};
use super::outcome::{Auxiliaries, PythonFailure};
use super::runtime::{PythonRule, TestIsolation};
use super::{RuleLoadError, RuleSet};
use crate::event::Event;

/// How many unit tests passed and failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestSummary {
    pub passed: usize,
    pub failed: usize,
}

/// Runs the unit tests of every detection under `path`, writing the report to `out`.
///
/// Only a directory that cannot be loaded at all (see [`RuleSet::load`]) is an error;
/// a file that does not load counts as one failed test, and failing tests are counted
/// in the summary.
pub fn run_tests(path: &Path, out: &mut dyn Write) -> Result<TestSummary, RuleLoadError> {
    run_tests_filtered(path, &[], out)
}

/// [`run_tests`] for the detections whose YAML matches every `(key, value)` filter, as
/// `pat test --filter KEY=VALUE`: the YAML value of `key` (or any element, when it is a
/// list) equals one of the comma-separated values, ignoring case. `KEY!` as the key
/// (from `KEY!=VALUE`) inverts the filter. Load failures are filtered by their id when
/// the key is `RuleID` or `PolicyID`, and always reported otherwise.
pub fn run_tests_filtered(
    path: &Path,
    filters: &[(String, String)],
    out: &mut dyn Write,
) -> Result<TestSummary, RuleLoadError> {
    let rule_set = RuleSet::load_for_tests(path)?;
    let report = |err| RuleLoadError::Report { source: err };
    let mut summary = TestSummary::default();
    for failure in rule_set.load_failures() {
        let id = serde_json::json!({ "RuleID": failure.rule_id, "PolicyID": failure.rule_id });
        let relevant = filters
            .iter()
            .filter(|(key, _)| matches!(key.trim_end_matches('!'), "RuleID" | "PolicyID"))
            .all(|filter| passes(&id, filter));
        if !relevant {
            continue;
        }
        summary.failed += 1;
        let place = match failure.line {
            Some(line) => format!("{}:{line}", failure.file.display()),
            None => failure.file.display().to_string(),
        };
        writeln!(
            out,
            "FAIL [{}] (load): {}: {} ({place})",
            failure.rule_id, failure.error_type, failure.message
        )
        .map_err(report)?;
    }
    Python::attach(|py| {
        for rule in rule_set.rules() {
            if !filters.iter().all(|filter| passes(&rule.spec, filter)) {
                continue;
            }
            for test in &rule.tests {
                let (verdict, output) = run_test(py, &rule_set, rule, test);
                match verdict {
                    Ok(()) => {
                        summary.passed += 1;
                        writeln!(out, "PASS [{}] {}", rule.meta.id, test.name).map_err(report)?;
                    }
                    Err(why) => {
                        summary.failed += 1;
                        writeln!(out, "FAIL [{}] {}: {why}", rule.meta.id, test.name)
                            .map_err(report)?;
                        for line in output.lines() {
                            writeln!(out, "    | {line}").map_err(report)?;
                        }
                    }
                }
            }
        }
        Ok::<_, RuleLoadError>(())
    })?;
    writeln!(out, "{} passed, {} failed", summary.passed, summary.failed).map_err(report)?;
    Ok(summary)
}

/// Whether a detection's YAML (as JSON) passes one `--filter`.
fn passes(spec: &serde_json::Value, (key, values): &(String, String)) -> bool {
    let (key, inverted) = match key.strip_suffix('!') {
        Some(key) => (key, true),
        None => (key.as_str(), false),
    };
    let normalise = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.to_lowercase(),
        other => other.to_string().to_lowercase(),
    };
    let present: Vec<String> = match spec.get(key) {
        Some(serde_json::Value::Array(items)) => items.iter().map(normalise).collect(),
        Some(value) => vec![normalise(value)],
        None => vec![String::new()],
    };
    let hit = values
        .split(',')
        .map(|value| value.trim().to_lowercase())
        .any(|value| present.contains(&value));
    hit != inverted
}

/// Runs one test: `Err` says why it failed; the string is what the test printed.
fn run_test(
    py: Python<'_>,
    rule_set: &RuleSet,
    rule: &PythonRule,
    test: &TestSpec,
) -> (Result<(), String>, String) {
    let input = match bind_input(py, rule_set, rule, test) {
        Ok(input) => input,
        Err(why) => return (Err(why), String::new()),
    };
    let mocks: Vec<(String, String)> = test
        .mocks
        .iter()
        .map(|mock| (mock.object_name.clone(), mock.return_value.to_string()))
        .collect();
    let isolation = match TestIsolation::enter(py, rule, &mocks) {
        Ok(isolation) => isolation,
        Err(failure) => {
            // The location would point into unittest.mock, not at the test.
            let why = format!("cannot apply Mocks: {}: {}", failure.class, failure.message);
            return (Err(why), String::new());
        }
    };
    let matched = rule.matches(py, &input);
    let auxiliaries = rule.auxiliaries(py, &input);
    let output = match isolation.exit(py) {
        Ok(output) => output,
        Err(failure) => return (Err(format!("cannot undo Mocks: {failure}")), String::new()),
    };
    (
        verdict(rule.meta.kind, test, &matched, &auxiliaries),
        output,
    )
}

/// The Python value a test hands the detection.
fn bind_input<'py>(
    py: Python<'py>,
    rule_set: &RuleSet,
    rule: &PythonRule,
    test: &TestSpec,
) -> Result<Bound<'py, PyAny>, String> {
    let input = test.input();
    if rule.meta.kind == DetectionKind::Policy {
        return plain_to_py(py, input)
            .map_err(|err| super::runtime::describe(py, &err).to_string());
    }
    let serde_json::Value::Object(fields) = input else {
        return Err("Log is not a mapping".to_string());
    };
    let event = Event::from_fields(fields.clone());
    let log_type = fields
        .get("p_log_type")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let context = match rule.meta.kind {
        DetectionKind::ScheduledRule => None,
        _ => rule_set.context(log_type, true),
    };
    let view = match context {
        Some(context) => EventView::bind_with(py, &event, context),
        None => EventView::bind_with(py, &event, super::event_view::test_context()),
    };
    view.map(Bound::into_any)
        .map_err(|err| super::runtime::describe(py, &err).to_string())
}

fn verdict(
    kind: DetectionKind,
    test: &TestSpec,
    matched: &Result<bool, PythonFailure>,
    auxiliaries: &Auxiliaries,
) -> Result<(), String> {
    let alert_value = kind.alert_value();
    let function = kind.matcher();
    match matched {
        Err(failure) => return Err(format!("{function}() failed: {failure}")),
        Ok(actual) if *actual != test.expected_result => {
            return Err(format!("expected {}, got {actual}", test.expected_result))
        }
        Ok(_) => {}
    }
    if test.expected_result == alert_value {
        let failures = auxiliaries.failures();
        if !failures.is_empty() {
            return Err(failures
                .iter()
                .map(|(function, failure)| format!("{function}() failed: {failure}"))
                .collect::<Vec<_>>()
                .join("; "));
        }
    }
    if let Some(expected) = &test.expected_destinations {
        let actual = routed_destinations(expected, auxiliaries);
        let mut wanted = if expected.is_empty() {
            vec!["SKIP".to_string()]
        } else {
            expected.clone()
        };
        wanted.sort();
        if actual != wanted {
            return Err(format!("expected destinations {wanted:?}, got {actual:?}"));
        }
    }
    Ok(())
}

/// Where `destinations()` routes in a test whose known destinations are `known`,
/// sorted: `[]` is `SKIP`; an unknown or repeated name voids the whole result; at most
/// ten.
fn routed_destinations(known: &[String], auxiliaries: &Auxiliaries) -> Vec<String> {
    let Some(Ok(Some(names))) = &auxiliaries.destinations else {
        return Vec::new();
    };
    if names.is_empty() {
        return vec!["SKIP".to_string()];
    }
    let mut routed: Vec<String> = Vec::new();
    for name in names {
        // panther-core's quirk: a name seen before no longer resolves, so it voids the
        // result like an unknown one.
        if !known.contains(name) || routed.contains(name) {
            return Vec::new();
        }
        routed.push(name.clone());
    }
    routed.truncate(10);
    routed.sort();
    routed
}

#[cfg(test)]
mod tests {
    use super::super::tests::write_rule;
    use super::*;

    const PYTHON: &str = "\
def lookup(name):
    return 'real'

def rule(event):
    print('looked at', event.get('user'))
    return event.get('user') == 'root' or lookup(event.get('user')) == 'mocked'

def title(event):
    return event['user']
";

    /// The mocked test comes before an unmocked one that a leaked mock would break.
    fn tests_yaml(first_expected: bool) -> String {
        format!(
            "Tests:
  - Name: root matches
    ExpectedResult: {first_expected}
    Log:
      user: root
  - Name: mocked lookup matches
    ExpectedResult: true
    Log:
      user: bob
    Mocks:
      - objectName: lookup
        returnValue: mocked
  - Name: others do not
    ExpectedResult: false
    Log:
      user: alice
  - Name: aux errors fail expected matches
    ExpectedResult: true
    Log:
      User2: root
    Mocks:
      - objectName: lookup
        returnValue: mocked
"
        )
    }

    fn run(dir: &Path) -> (TestSummary, String) {
        let mut out = Vec::new();
        let summary = run_tests(dir, &mut out).unwrap_or_else(|err| panic!("run: {err}"));
        (summary, String::from_utf8(out).expect("utf-8 report"))
    }

    #[test]
    fn reports_each_test_mocks_only_its_own_and_summarises() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(dir.path(), "r", "Test.Unit", &tests_yaml(true), PYTHON);
        let (summary, report) = run(dir.path());
        assert_eq!(
            summary,
            TestSummary {
                passed: 3,
                failed: 1
            },
            "{report}"
        );
        let lines: Vec<&str> = report.lines().collect();
        assert_eq!(lines[0], "PASS [Test.Unit] root matches");
        assert_eq!(lines[1], "PASS [Test.Unit] mocked lookup matches");
        assert_eq!(lines[2], "PASS [Test.Unit] others do not");
        assert!(
            lines[3].starts_with(
                "FAIL [Test.Unit] aux errors fail expected matches: \
                 title() failed: KeyError: 'user': r.py, line 9, in title"
            ),
            "{report}"
        );
        assert_eq!(lines[4], "    | looked at None");
        assert_eq!(lines[5..], ["3 passed, 1 failed"]);
    }

    #[test]
    fn a_wrong_expectation_fails_and_disabled_rules_are_tested() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(dir.path(), "r", "Test.Unit", &tests_yaml(false), PYTHON);
        let file = dir.path().join("r.yml");
        let text = std::fs::read_to_string(&file).expect("read");
        std::fs::write(&file, text.replace("Enabled: true", "Enabled: false")).expect("write");
        let (summary, report) = run(dir.path());
        assert_eq!(
            summary,
            TestSummary {
                passed: 2,
                failed: 2
            },
            "{report}"
        );
        assert!(
            report.starts_with("FAIL [Test.Unit] root matches: expected false, got true\n"),
            "{report}"
        );
        assert!(report.ends_with("\n2 passed, 2 failed\n"), "{report}");
    }

    #[test]
    fn a_file_that_does_not_load_is_one_failed_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(dir.path(), "r", "Test.Unit", &tests_yaml(true), PYTHON);
        write_rule(
            dir.path(),
            "bad",
            "Test.Bad",
            "",
            "def rule(event)\n    return True\n",
        );
        let (summary, report) = run(dir.path());
        assert_eq!(
            summary,
            TestSummary {
                passed: 3,
                failed: 2
            },
            "{report}"
        );
        let line = report.lines().next().expect("first line");
        assert!(
            line.starts_with("FAIL [Test.Bad] (load): SyntaxError: ")
                && line.ends_with("bad.py:1)"),
            "{report}"
        );
    }

    #[test]
    fn filters_select_detections_like_pat() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(dir.path(), "r", "Test.Unit", &tests_yaml(true), PYTHON);
        write_rule(
            dir.path(),
            "bad",
            "Test.Bad",
            "",
            "def rule(event)\n    return True\n",
        );
        let filtered = |filters: &[(&str, &str)]| {
            let filters: Vec<(String, String)> = filters
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let mut out = Vec::new();
            run_tests_filtered(dir.path(), &filters, &mut out).expect("run")
        };
        assert_eq!(filtered(&[("RuleID", "test.unit")]).passed, 3);
        assert_eq!(filtered(&[("RuleID", "test.unit")]).failed, 1);
        assert_eq!(filtered(&[("Severity", "Low,Medium")]).passed, 0);
        assert_eq!(
            filtered(&[("LogTypes", "Test.Log"), ("Severity", "high")]).passed,
            3
        );
        assert_eq!(filtered(&[("RuleID!", "Test.Unit")]).passed, 0);
        assert_eq!(filtered(&[("RuleID!", "Test.Unit")]).failed, 1);
    }
}
