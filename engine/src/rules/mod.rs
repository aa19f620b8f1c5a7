//! Panther-format detections, run by the embedded CPython interpreter.
//!
//! A detection directory (by convention `rules/` at the repository top) holds
//! Panther's analysis files: YAML metadata beside a Python module with `rule(event)`
//! and optional `title`, `dedup`, `severity`, `alert_context`, `description`,
//! `reference`, `runbook` and `destinations`, plus global helpers that rules import
//! by `GlobalID`. [`RuleSet::load`] reads and imports all of it once at start-up;
//! [`RuleSet::evaluate`] runs it over batches of events; [`run_tests`] runs the unit
//! tests in the YAML.
//!
//! ```text
//!   rules/**/*.yml ─ metadata ─▶ Catalog ─ runtime::load ─▶ RuleSet (Arc, all workers)
//!                                                              │
//!   &[Event] ─▶ evaluate: one GIL acquisition per batch; per event the rules of its
//!               p_log_type, in RuleID order, each seeing one shared EventView
//!            ─▶ Vec<RuleOutcome>: a Match per rule() == True, an Error per rule()
//!               that raised or returned a non-bool (outcome: Panther's defaults)
//! ```
//!
//! Contract:
//! * **Fail fast.** A directory with an unreadable or malformed file, an unknown YAML
//!   key, a duplicate id, or a module that does not import is a [`RuleLoadError`]
//!   naming the file; nothing partial is returned. Disabled rules are validated but
//!   not imported by [`RuleSet::load`] (a disabled broken rule must not stop the
//!   engine); [`run_tests`] imports and tests them too.
//! * **Never a dead worker.** Whatever a rule does — raise, return the wrong type —
//!   becomes an outcome or a default; `evaluate` neither panics nor returns an error.
//! * **Deterministic order.** Outcomes follow the order of the events, and for one
//!   event the rules' `RuleID` order.
//! * **Shared, immutable.** A `RuleSet` is `Send + Sync` and never changes after
//!   loading; every timely worker of a process evaluates through the same `Arc`. The
//!   interpreter is per process, so Python work of different workers is serialised by
//!   the GIL: scale rules with processes (see DESIGN.md, "Scale").
//!
//! Not yet here (issue 4): `deep_walk`, `udm`, `lookup` and data models, `unique()`,
//! time budgets and the interruption of looping rules.

mod error;
mod event_view;
mod metadata;
mod outcome;
mod runtime;
mod testing;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use pyo3::prelude::*;

pub use error::RuleLoadError;
pub use event_view::EventView;
pub use outcome::{OutcomeKind, RuleOutcome};
pub use testing::{run_tests, TestSummary};

use crate::event::Event;
use runtime::PythonRule;

/// The loaded, enabled detections of one directory, ready to evaluate events.
pub struct RuleSet {
    /// Sorted by `RuleID`.
    rules: Vec<PythonRule>,
    /// `LogTypes` entry → indices into `rules`, ascending.
    by_log_type: HashMap<String, Vec<usize>>,
}

// The dataflow shares one rule set between worker threads.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<RuleSet>();
};

impl RuleSet {
    /// Loads and imports every enabled rule under `dir` (recursively).
    pub fn load(dir: &Path) -> Result<RuleSet, RuleLoadError> {
        RuleSet::load_selected(dir, false)
    }

    /// Loads disabled rules as well, for their unit tests.
    fn load_including_disabled(dir: &Path) -> Result<RuleSet, RuleLoadError> {
        RuleSet::load_selected(dir, true)
    }

    fn load_selected(dir: &Path, include_disabled: bool) -> Result<RuleSet, RuleLoadError> {
        let catalog = metadata::discover(dir)?;
        let rules = Python::attach(|py| runtime::load(py, catalog, include_disabled))?;
        let mut by_log_type: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, rule) in rules.iter().enumerate() {
            for log_type in &rule.meta.log_types {
                let indices = by_log_type.entry(log_type.clone()).or_default();
                // A rule listing a log type twice still runs once per event.
                if indices.last() != Some(&index) {
                    indices.push(index);
                }
            }
        }
        Ok(RuleSet { rules, by_log_type })
    }

    /// The number of rules that run.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The `RuleID`s of the rules that run, sorted.
    pub fn rule_ids(&self) -> Vec<String> {
        self.rules.iter().map(|rule| rule.meta.id.clone()).collect()
    }

    fn rules(&self) -> &[PythonRule] {
        &self.rules
    }

    /// Runs every rule of each event's log type over `events`.
    ///
    /// One GIL acquisition for the whole batch; dispatch by `event.log_type()` in Rust
    /// (only rules whose `LogTypes` contain it run). An event whose log type no rule
    /// declares costs no Python call at all.
    pub fn evaluate(&self, events: &[Event]) -> Vec<RuleOutcome> {
        let mut outcomes = Vec::new();
        if !events
            .iter()
            .any(|event| self.by_log_type.contains_key(event.log_type()))
        {
            return outcomes;
        }
        Python::attach(|py| {
            for event in events {
                let Some(indices) = self.by_log_type.get(event.log_type()) else {
                    continue;
                };
                let view = EventView::bind(py, event);
                for &index in indices {
                    let rule = &self.rules[index];
                    let view = match &view {
                        Ok(view) => view,
                        Err(err) => {
                            let failure = runtime::describe(py, err);
                            outcomes.push(RuleOutcome::failed(&rule.meta, event, &failure));
                            continue;
                        }
                    };
                    match rule.matches(py, view) {
                        Ok(true) => {
                            let auxiliaries = rule.auxiliaries(py, view);
                            outcomes.push(RuleOutcome::matched(&rule.meta, event, auxiliaries));
                        }
                        Ok(false) => {}
                        Err(failure) => {
                            outcomes.push(RuleOutcome::failed(&rule.meta, event, &failure));
                        }
                    }
                }
            }
        });
        outcomes
    }
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rule_ids())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Writes `<stem>.yml` (the common keys plus `extra`) and `<stem>.py` into `dir`.
    pub(super) fn write_rule(dir: &Path, stem: &str, id: &str, extra: &str, python: &str) {
        std::fs::create_dir_all(dir).expect("rule dir");
        let yaml = format!(
            "AnalysisType: rule\nRuleID: {id}\nFilename: {stem}.py\nEnabled: true\n\
             LogTypes: [Test.Log]\nSeverity: High\n{extra}"
        );
        std::fs::write(dir.join(format!("{stem}.yml")), yaml).expect("yaml");
        std::fs::write(dir.join(format!("{stem}.py")), python).expect("python");
    }

    fn event(fields: serde_json::Value) -> Event {
        let serde_json::Value::Object(mut fields) = fields else {
            panic!("fixture must be an object");
        };
        fields
            .entry("p_log_type")
            .or_insert_with(|| "Test.Log".into());
        Event::from_fields(fields)
    }

    fn load(dir: &Path) -> RuleSet {
        RuleSet::load(dir).unwrap_or_else(|err| panic!("load: {err}"))
    }

    #[test]
    fn a_match_without_auxiliary_functions_gets_panther_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "r",
            "Test.Match",
            "",
            "def rule(event):\n    return True\n",
        );
        let outcomes = load(dir.path()).evaluate(&[event(serde_json::json!({"a": 1}))]);
        assert_eq!(outcomes.len(), 1);
        let outcome = &outcomes[0];
        assert_eq!(outcome.kind, OutcomeKind::Match);
        assert_eq!(outcome.title, "Test.Match");
        assert_eq!(outcome.dedup, "defaultDedupString:Test.Match");
        assert_eq!(outcome.severity, "HIGH");
        assert_eq!(outcome.log_type, "Test.Log");
        assert_eq!(outcome.rule_version.len(), 16);
        assert_eq!((outcome.dedup_period_minutes, outcome.threshold), (60, 1));
        assert_eq!(outcome.error, None);
    }

    #[test]
    fn a_raising_rule_is_an_error_deduped_on_its_class() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "r",
            "Test.Raise",
            "",
            "def rule(event):\n    return event['missing'] == 1\n",
        );
        let outcomes = load(dir.path()).evaluate(&[event(serde_json::json!({}))]);
        assert_eq!(outcomes.len(), 1);
        let outcome = &outcomes[0];
        assert_eq!(outcome.kind, OutcomeKind::Error);
        assert_eq!(outcome.dedup, "KeyError");
        assert_eq!(outcome.title, "KeyError('missing')");
        assert_eq!(
            outcome.error.as_deref(),
            Some("KeyError: 'missing': r.py, line 2, in rule")
        );
    }

    #[test]
    fn a_non_bool_rule_result_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "r",
            "Test.Truthy",
            "",
            "def rule(event):\n    return 1\n",
        );
        let outcomes = load(dir.path()).evaluate(&[event(serde_json::json!({}))]);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].kind, OutcomeKind::Error);
        assert_eq!(outcomes[0].dedup, "FunctionReturnTypeError");
        assert_eq!(
            outcomes[0].error.as_deref(),
            Some(
                "FunctionReturnTypeError: detection [Test.Truthy] function [rule] \
                 returned [int], expected [bool]"
            )
        );
    }

    #[test]
    fn severity_function_overrides_only_with_a_valid_level() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "r",
            "Test.Severity",
            "",
            "def rule(event):\n    return True\n\ndef severity(event):\n    return event.get('sev')\n",
        );
        let events: Vec<Event> = [
            serde_json::json!("low"),
            serde_json::json!("DEFAULT"),
            serde_json::json!("default"),
            serde_json::json!("urgent"),
            serde_json::json!(5),
        ]
        .into_iter()
        .map(|sev| event(serde_json::json!({ "sev": sev })))
        .collect();
        let severities: Vec<String> = load(dir.path())
            .evaluate(&events)
            .into_iter()
            .map(|outcome| outcome.severity)
            .collect();
        assert_eq!(severities, ["LOW", "HIGH", "HIGH", "HIGH", "HIGH"]);
    }

    #[test]
    fn auxiliary_functions_shape_the_match() {
        let dir = tempfile::tempdir().expect("tempdir");
        let python = "\
def rule(event):
    return True

def title(event):
    return f\"User [{event.deep_get('columns', 'user')}]\"

def dedup(event):
    return event.get('dedup_key', '')

def description(event):
    return 1 / 0

def destinations(event):
    return []

def alert_context(event):
    if event.get('bad_context'):
        return {'not json': {1, 2}}
    return {'columns': event['columns'], 'n': 1}
";
        write_rule(
            dir.path(),
            "r",
            "Test.Aux",
            "Description: from yaml\nReference: https://example.com\n",
            python,
        );
        let rule_set = load(dir.path());
        let outcomes = rule_set.evaluate(&[
            event(serde_json::json!({"columns": {"user": "alice"}, "dedup_key": "k"})),
            event(serde_json::json!({"columns": {"user": "bob"}, "bad_context": true})),
        ]);
        assert_eq!(outcomes.len(), 2);
        let (first, second) = (&outcomes[0], &outcomes[1]);
        assert_eq!(first.title, "User [alice]");
        assert_eq!(first.dedup, "k");
        assert_eq!(second.dedup, "defaultDedupString:Test.Aux");
        assert_eq!(first.description, "");
        assert_eq!(first.reference, "https://example.com");
        assert_eq!(first.destinations, Some(vec!["SKIP".to_string()]));
        let context: serde_json::Value =
            serde_json::from_str(first.alert_context.as_deref().expect("context")).expect("json");
        assert_eq!(
            context,
            serde_json::json!({"columns": {"user": "alice"}, "n": 1})
        );
        let context: serde_json::Value =
            serde_json::from_str(second.alert_context.as_deref().expect("context")).expect("json");
        let error = context["_error"].as_str().expect("_error");
        assert!(error.starts_with("TypeError("), "{error}");
    }

    #[test]
    fn dispatch_is_by_log_type_in_event_then_rule_id_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let matches = "def rule(event):\n    return True\n";
        write_rule(&dir.path().join("b"), "r", "Test.B", "", matches);
        write_rule(&dir.path().join("a"), "r", "Test.A", "", matches);
        write_rule(
            dir.path(),
            "off",
            "Test.Off",
            "",
            "def rule(event):\n    return True\n",
        );
        let off = dir.path().join("off.yml");
        let yaml = std::fs::read_to_string(&off).expect("read");
        std::fs::write(&off, yaml.replace("Enabled: true", "Enabled: false")).expect("write");

        let rule_set = load(dir.path());
        assert_eq!(rule_set.rule_ids(), ["Test.A", "Test.B"]);
        assert_eq!(rule_set.len(), 2);
        let other = event(serde_json::json!({"p_log_type": "Other.Log", "n": 0}));
        let outcomes = rule_set.evaluate(&[
            event(serde_json::json!({"n": 1})),
            other,
            event(serde_json::json!({"n": 2})),
        ]);
        let seen: Vec<(String, i64)> = outcomes
            .iter()
            .map(|o| {
                let n = o.event.fields()["n"].as_i64().expect("n");
                (o.rule_id.clone(), n)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("Test.A".to_string(), 1),
                ("Test.B".to_string(), 1),
                ("Test.A".to_string(), 2),
                ("Test.B".to_string(), 2)
            ]
        );
    }

    #[test]
    fn rules_import_globals_and_same_stems_do_not_clash() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("corvid_test_helpers.yml"),
            "AnalysisType: global\nGlobalID: corvid_test_helpers\nFilename: helpers.py\n",
        )
        .expect("global yaml");
        std::fs::write(
            dir.path().join("helpers.py"),
            "def answer():\n    return 42\n",
        )
        .expect("global python");
        let python = |value: &str| {
            format!(
                "import corvid_test_helpers\nVALUE = {value}\n\ndef rule(event):\n    \
                 return corvid_test_helpers.answer() == 42\n\ndef title(event):\n    return VALUE\n"
            )
        };
        write_rule(
            &dir.path().join("one"),
            "same",
            "Test.One",
            "",
            &python("'one'"),
        );
        write_rule(
            &dir.path().join("two"),
            "same",
            "Test.Two",
            "",
            &python("'two'"),
        );
        let titles: Vec<String> = load(dir.path())
            .evaluate(&[event(serde_json::json!({}))])
            .into_iter()
            .map(|outcome| outcome.title)
            .collect();
        assert_eq!(titles, ["one", "two"]);
    }

    #[test]
    fn a_module_that_does_not_import_fails_the_load_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "broken",
            "Test.Broken",
            "",
            "def rule(event)\n    return True\n",
        );
        let message = RuleSet::load(dir.path())
            .expect_err("syntax error")
            .to_string();
        assert!(message.contains("broken.py"), "{message}");
        assert!(message.contains("SyntaxError"), "{message}");
    }

    #[test]
    fn one_rule_set_serves_several_threads() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "r",
            "Test.Threads",
            "",
            "def rule(event):\n    return event.get('n', 0) % 2 == 0\n",
        );
        let rule_set = Arc::new(load(dir.path()));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let rule_set = Arc::clone(&rule_set);
                std::thread::spawn(move || {
                    let events: Vec<Event> = (0..100)
                        .map(|n| event(serde_json::json!({ "n": n })))
                        .collect();
                    rule_set.evaluate(&events).len()
                })
            })
            .collect();
        for worker in workers {
            assert_eq!(worker.join().expect("worker"), 50);
        }
    }
}
