//! `corvid rules test`: the unit tests written in each rule's YAML `Tests`.
//!
//! Semantics of `panther_analysis_tool test` (panther-core `testing.py`):
//! * every rule is tested, enabled or not;
//! * a test's `Log` is the event; its `Mocks` replace module-level names of the
//!   detection with `MagicMock(return_value=…)` for that test only;
//! * a test passes when `rule()` returns exactly `ExpectedResult`, and — when
//!   `ExpectedResult` is true — every auxiliary function the rule defines (`title`,
//!   `dedup`, `severity`, `alert_context`, `description`, `reference`, `runbook`,
//!   `destinations`) also runs without raising or returning the wrong type. Unlike
//!   production, a failing auxiliary function fails the test instead of falling back;
//! * what a test prints is captured and shown only when it fails.
//!
//! The report is one line per test, `PASS [RuleID] name` or `FAIL [RuleID] name: why`,
//! then `N passed, M failed` alone on the last line.

use std::io::Write;
use std::path::Path;

use pyo3::prelude::*;

use super::event_view::EventView;
use super::metadata::TestSpec;
use super::outcome::PythonFailure;
use super::runtime::{PythonRule, TestIsolation};
use super::{RuleLoadError, RuleSet};
use crate::event::Event;

/// How many rule unit tests passed and failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestSummary {
    pub passed: usize,
    pub failed: usize,
}

/// Runs the unit tests of every rule under `path`, writing the report to `out`.
///
/// A directory that does not load (see [`RuleSet::load`]; here disabled rules are
/// imported too) is an error before any test runs; failing tests are not errors,
/// they are counted in the summary.
pub fn run_tests(path: &Path, out: &mut dyn Write) -> Result<TestSummary, RuleLoadError> {
    let rule_set = RuleSet::load_including_disabled(path)?;
    let report = |err| RuleLoadError::Report { source: err };
    let mut summary = TestSummary::default();
    Python::attach(|py| {
        for rule in rule_set.rules() {
            for test in &rule.tests {
                let (verdict, output) = run_test(py, rule, test);
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

/// Runs one test: `Err` says why it failed; the string is what the test printed.
fn run_test(py: Python<'_>, rule: &PythonRule, test: &TestSpec) -> (Result<(), String>, String) {
    let serde_json::Value::Object(fields) = &test.log else {
        return (Err("Log is not a mapping".to_string()), String::new());
    };
    let event = Event::from_fields(fields.clone());
    let view = match EventView::bind(py, &event) {
        Ok(view) => view,
        Err(err) => {
            return (
                Err(super::runtime::describe(py, &err).to_string()),
                String::new(),
            )
        }
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
    let matched = rule.matches(py, &view);
    let auxiliaries = rule.auxiliaries(py, &view);
    let output = match isolation.exit(py) {
        Ok(output) => output,
        Err(failure) => return (Err(format!("cannot undo Mocks: {failure}")), String::new()),
    };

    let verdict = match matched {
        Err(failure) => Err(failure.to_string()),
        Ok(actual) if actual != test.expected_result => {
            Err(format!("expected {}, got {actual}", test.expected_result))
        }
        Ok(_) if test.expected_result => {
            let failures = auxiliaries.failures();
            if failures.is_empty() {
                Ok(())
            } else {
                Err(failures
                    .iter()
                    .map(|(function, failure): &(&str, &PythonFailure)| {
                        format!("{function}() failed: {failure}")
                    })
                    .collect::<Vec<_>>()
                    .join("; "))
            }
        }
        Ok(_) => Ok(()),
    };
    (verdict, output)
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
    fn a_directory_that_does_not_load_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(dir.path(), "r", "Test.Unit", "Tets: []\n", PYTHON);
        let mut out = Vec::new();
        let message = run_tests(dir.path(), &mut out)
            .expect_err("typo")
            .to_string();
        assert!(
            message.contains("Tets") && message.contains("r.yml"),
            "{message}"
        );
    }
}
