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
        Err(err) => return (Err(super::runtime::describe(py, &err).to_string()), String::new()),
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
        Ok(actual) if actual != test.expected_result => Err(format!(
            "expected {}, got {actual}",
            test.expected_result
        )),
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
