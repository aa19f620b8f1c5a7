//! Panther-format detections, run by the embedded CPython interpreter.
//!
//! A detection directory (by convention `rules/` at the repository top) holds
//! Panther's analysis files: YAML metadata beside a Python module with `rule(event)`
//! and optional `title`, `dedup`, `severity`, `alert_context`, `description`,
//! `reference`, `runbook`, `destinations` and `unique`; global helpers that rules import
//! by `GlobalID`; data models that give `event.udm()` its unified field names; policies
//! and scheduled rules (unit-tested, not run on the stream). [`RuleSet::load`] reads and
//! imports all of it; [`RuleSet::evaluate`] runs it over batches of events;
//! [`run_tests`] runs the unit tests in the YAML, as `panther_analysis_tool test` does.
//!
//! ```text
//!   rules/**/*.yml ─ metadata ─▶ Catalog ─ runtime::load ─▶ RuleSet (Arc, all workers)
//!                      │                       │              + load_failures()
//!                      └── broken files ───────┴──▶ LoadFailure (the rest load)
//!
//!   &[Event] ─▶ evaluate: one GIL acquisition per batch; per event the rules of its
//!               p_log_type, in RuleID order, each seeing one shared EventView;
//!               InlineFilters first (in Rust), then rule() under the rule timeout
//!            ─▶ Vec<RuleOutcome>: a Match per rule() == True, an Error per rule()
//!               that raised, returned a non-bool or ran too long (outcome: Panther's defaults)
//! ```
//!
//! Contract:
//! * **Tolerant loading.** A file that does not load (YAML that does not parse or fit
//!   the schema, a Python syntax error, a failed import, no `rule()`) is a
//!   [`LoadFailure`] with file and line, listed by [`RuleSet::load_failures`]; every
//!   other detection loads and runs. Only a directory that cannot be read or two files
//!   declaring the same id are a [`RuleLoadError`]. Disabled rules are validated but not
//!   imported by [`RuleSet::load`]; [`run_tests`] imports and tests them too.
//! * **Fresh loads.** Every load imports the files as they are now, globals included,
//!   while rule sets loaded earlier keep working with what they imported (hot reload).
//! * **Never a dead worker.** Whatever a rule does — raise, return the wrong type, loop
//!   — becomes an outcome or a default; `evaluate` neither panics nor returns an error.
//!   A call running longer than [`LoadOptions::rule_timeout`] is interrupted.
//! * **Deterministic order.** Outcomes follow the order of the events, and for one
//!   event the rules' `RuleID` order.
//! * **Shared, immutable.** A `RuleSet` is `Send + Sync` and never changes after
//!   loading; every timely worker of a process evaluates through the same `Arc`. The
//!   interpreter is per process, so Python work of different workers is serialised by
//!   the GIL: scale rules with processes (see DESIGN.md, "Scale").
//!
//! Not yet here: scheduled and correlation rules on the stream, YAML-only `Detection`
//! rules, time budgets per activation.

mod error;
mod event_view;
mod filters;
pub(crate) mod jsonpath;
mod metadata;
mod outcome;
mod runtime;
mod testing;
mod watchdog;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

pub use error::{LoadFailure, RuleLoadError};
pub use event_view::EventView;
pub use outcome::{OutcomeKind, RuleOutcome};
pub use testing::{run_tests, run_tests_filtered, TestSummary};

use crate::event::Event;
use crate::metrics::RuleInstruments;
use event_view::ViewContext;
use metadata::DetectionKind;
use runtime::PythonRule;

/// How a rule set is loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// The longest one call of a detection function (`rule`, `title`, …) may run before
    /// it is interrupted and reported as a `RuleTimeout` error.
    pub rule_timeout: Duration,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            rule_timeout: Duration::from_secs(5),
        }
    }
}

/// The loaded, enabled detections of one directory, ready to evaluate events.
pub struct RuleSet {
    /// Sorted by id. Streaming rules only, unless loaded for unit tests.
    rules: Vec<PythonRule>,
    /// `LogTypes` entry → indices into `rules` of enabled streaming rules, ascending.
    by_log_type: HashMap<String, Vec<usize>>,
    /// `LogTypes` entry → the view context carrying its data model.
    contexts: HashMap<String, Arc<ViewContext>>,
    /// Contexts of unit tests (test mode: mocked lookups), by log type.
    test_contexts: HashMap<String, Arc<ViewContext>>,
    failures: Vec<LoadFailure>,
    /// The metrics of `rules[i]`, looked up once here instead of per evaluation.
    instruments: Vec<RuleInstruments>,
}

// The dataflow shares one rule set between worker threads.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<RuleSet>();
};

impl RuleSet {
    /// Loads and imports every enabled rule under `dir` (recursively), with the default
    /// [`LoadOptions`].
    pub fn load(dir: &Path) -> Result<RuleSet, RuleLoadError> {
        RuleSet::load_with(dir, LoadOptions::default())
    }

    /// Loads and imports every enabled rule under `dir` (recursively).
    pub fn load_with(dir: &Path, options: LoadOptions) -> Result<RuleSet, RuleLoadError> {
        RuleSet::load_selected(dir, false, options)
    }

    /// Loads disabled rules, scheduled rules and policies as well, for their unit tests.
    fn load_for_tests(dir: &Path) -> Result<RuleSet, RuleLoadError> {
        RuleSet::load_selected(dir, true, LoadOptions::default())
    }

    fn load_selected(
        dir: &Path,
        everything: bool,
        options: LoadOptions,
    ) -> Result<RuleSet, RuleLoadError> {
        let catalog = metadata::discover(dir)?;
        let loaded =
            Python::attach(|py| runtime::load(py, catalog, everything, options.rule_timeout))?;
        for failure in &loaded.failures {
            tracing::warn!(%failure, "detection not loaded");
        }
        let mut by_log_type: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, rule) in loaded.rules.iter().enumerate() {
            if !(rule.meta.enabled && rule.meta.kind == DetectionKind::Rule) {
                continue;
            }
            for log_type in &rule.meta.log_types {
                let indices = by_log_type.entry(log_type.clone()).or_default();
                // A rule listing a log type twice still runs once per event.
                if indices.last() != Some(&index) {
                    indices.push(index);
                }
            }
        }
        let context = |test_mode: bool| {
            loaded
                .data_models
                .iter()
                .map(|(log_type, model)| {
                    let context = ViewContext {
                        data_model: Some(Arc::clone(model)),
                        test_mode,
                    };
                    (log_type.clone(), Arc::new(context))
                })
                .collect::<HashMap<_, _>>()
        };
        let instruments = loaded
            .rules
            .iter()
            .map(|rule| RuleInstruments::of(&rule.meta.id))
            .collect();
        Ok(RuleSet {
            contexts: context(false),
            test_contexts: context(true),
            instruments,
            rules: loaded.rules,
            by_log_type,
            failures: loaded.failures,
        })
    }

    /// The files under the directory that did not load, in the order they were found.
    pub fn load_failures(&self) -> &[LoadFailure] {
        &self.failures
    }

    /// The number of rules that run.
    pub fn len(&self) -> usize {
        self.rule_ids().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `RuleID`s of the rules that run on events, sorted.
    pub fn rule_ids(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|rule| rule.meta.enabled && rule.meta.kind == DetectionKind::Rule)
            .map(|rule| rule.meta.id.clone())
            .collect()
    }

    fn rules(&self) -> &[PythonRule] {
        &self.rules
    }

    /// The view context for an event of `log_type` (its data model, if any).
    fn context(&self, log_type: &str, test_mode: bool) -> Option<&Arc<ViewContext>> {
        if test_mode {
            self.test_contexts.get(log_type)
        } else {
            self.contexts.get(log_type)
        }
    }

    /// Runs every rule of each event's log type over `events`.
    ///
    /// One GIL acquisition for the whole batch; dispatch by `event.log_type()` in Rust
    /// (only rules whose `LogTypes` contain it run). An event whose log type no rule
    /// declares costs no Python call at all, nor does one a rule's `InlineFilters` reject.
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
                let mut view = None;
                for &index in indices {
                    let rule = &self.rules[index];
                    let instruments = &self.instruments[index];
                    let started = Instant::now();
                    let outcome = 'evaluation: {
                        if let Some(filters) = &rule.meta.filters {
                            if !filters.matches(event.fields()) {
                                break 'evaluation None;
                            }
                        }
                        // Bound once per event, by the first rule that needs it (its
                        // evaluation time includes the binding).
                        let view = view.get_or_insert_with(|| {
                            match self.context(event.log_type(), false) {
                                Some(context) => EventView::bind_with(py, event, context),
                                None => EventView::bind(py, event),
                            }
                        });
                        let view = match view {
                            Ok(view) => view.as_any(),
                            Err(err) => {
                                let failure = runtime::describe(py, err);
                                break 'evaluation Some(RuleOutcome::failed(
                                    &rule.meta, event, &failure,
                                ));
                            }
                        };
                        match rule.matches(py, view) {
                            Ok(true) => {
                                let auxiliaries = rule.auxiliaries(py, view);
                                Some(RuleOutcome::matched(&rule.meta, event, auxiliaries))
                            }
                            Ok(false) => None,
                            Err(failure) => {
                                if failure.is_timeout() {
                                    instruments.timed_out();
                                }
                                Some(RuleOutcome::failed(&rule.meta, event, &failure))
                            }
                        }
                    };
                    instruments.evaluated(started.elapsed());
                    outcomes.extend(outcome);
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
            .field("failures", &self.failures)
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
    fn a_broken_file_is_a_load_failure_and_the_others_still_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = "def rule(event):\n    return True\n";
        write_rule(dir.path(), "good", "Test.Good", "", good);
        write_rule(
            dir.path(),
            "syntax",
            "Test.Syntax",
            "",
            "def rule(event):\n    return True\n\ndef title(event)\n    return 'x'\n",
        );
        write_rule(
            dir.path(),
            "imports",
            "Test.Import",
            "",
            "import corvid_no_such_module\n\ndef rule(event):\n    return True\n",
        );
        write_rule(
            dir.path(),
            "norule",
            "Test.NoRule",
            "",
            "def title(event):\n    return 'x'\n",
        );
        std::fs::write(
            dir.path().join("yaml.yml"),
            "AnalysisType: rule\nRuleID: [unclosed\n",
        )
        .expect("yaml");
        write_rule(dir.path(), "schema", "Test.Schema", "Sevrity: Low\n", good);

        let rule_set = load(dir.path());
        assert_eq!(rule_set.rule_ids(), ["Test.Good"]);
        let failures: Vec<(&str, &str, Option<u32>, String)> = rule_set
            .load_failures()
            .iter()
            .map(|f| {
                let file = f
                    .file
                    .file_name()
                    .expect("file")
                    .to_string_lossy()
                    .into_owned();
                (f.rule_id.as_str(), f.error_type.as_str(), f.line, file)
            })
            .collect();
        assert!(
            failures.contains(&("Test.Syntax", "SyntaxError", Some(4), "syntax.py".into())),
            "{failures:?}"
        );
        assert!(
            failures.contains(&(
                "Test.Import",
                "ModuleNotFoundError",
                Some(1),
                "imports.py".into()
            )),
            "{failures:?}"
        );
        assert!(
            failures.contains(&("Test.NoRule", "AssertionError", None, "norule.py".into())),
            "{failures:?}"
        );
        assert!(
            failures
                .iter()
                .any(|f| f.0 == "yaml" && f.1 == "YAMLError" && f.2.is_some()),
            "{failures:?}"
        );
        let schema = rule_set
            .load_failures()
            .iter()
            .find(|f| f.rule_id == "Test.Schema")
            .expect("schema failure");
        assert_eq!(schema.error_type, "SchemaError");
        assert!(schema.message.contains("Sevrity"), "{schema}");
        assert_eq!(failures.len(), 5, "{failures:?}");
        assert_eq!(rule_set.evaluate(&[event(serde_json::json!({}))]).len(), 1);
    }

    #[test]
    fn duplicate_ids_are_fatal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = "def rule(event):\n    return True\n";
        write_rule(dir.path(), "a", "Test.Same", "", good);
        write_rule(dir.path(), "b", "Test.Same", "", good);
        let message = RuleSet::load(dir.path())
            .expect_err("duplicate")
            .to_string();
        assert!(message.contains("Test.Same"), "{message}");
    }

    #[test]
    fn every_load_imports_the_current_files_and_older_sets_keep_theirs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let global = |value: &str| {
            std::fs::write(
                dir.path().join("corvid_fresh_helper.yml"),
                "AnalysisType: global\nGlobalID: corvid_fresh_helper\nFilename: corvid_fresh_helper.py\n",
            )
            .expect("global yaml");
            std::fs::write(
                dir.path().join("corvid_fresh_helper.py"),
                format!("def version():\n    return '{value}'\n"),
            )
            .expect("global python");
        };
        let rule = |value: &str| {
            write_rule(
                dir.path(),
                "r",
                "Test.Fresh",
                "",
                &format!(
                    "import corvid_fresh_helper\n\ndef rule(event):\n    return True\n\n\
                     def title(event):\n    return '{value}:' + corvid_fresh_helper.version()\n"
                ),
            );
        };
        global("g1");
        rule("r1");
        let first = load(dir.path());
        // Same sizes, same second: only a load that reads the text sees the change.
        global("g2");
        rule("r2");
        let second = load(dir.path());
        let title = |set: &RuleSet| {
            set.evaluate(&[event(serde_json::json!({}))])[0]
                .title
                .clone()
        };
        assert_eq!(title(&second), "r2:g2");
        assert_eq!(title(&first), "r1:g1");
    }

    #[test]
    fn a_looping_rule_is_interrupted_and_evaluation_goes_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "loop",
            "Test.Loop",
            "",
            "def rule(event):\n    if event.get('loop'):\n        while True:\n            pass\n    return True\n",
        );
        write_rule(
            dir.path(),
            "stubborn",
            "Test.Stubborn",
            "",
            "def rule(event):\n    return True\n\ndef title(event):\n    \
             if event.get('loop'):\n        try:\n            while True:\n                pass\n        \
             except Exception:\n            while True:\n                pass\n    return 'ok'\n",
        );
        let timeout = Duration::from_millis(200);
        let rule_set = RuleSet::load_with(
            dir.path(),
            LoadOptions {
                rule_timeout: timeout,
            },
        )
        .expect("load");
        let started = std::time::Instant::now();
        let outcomes = rule_set.evaluate(&[
            event(serde_json::json!({"loop": true})),
            event(serde_json::json!({"loop": false})),
        ]);
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        let summary: Vec<(&str, &OutcomeKind, &str)> = outcomes
            .iter()
            .map(|o| (o.rule_id.as_str(), &o.kind, o.dedup.as_str()))
            .collect();
        assert_eq!(
            summary[0],
            ("Test.Loop", &OutcomeKind::Error, "RuleTimeout")
        );
        // A title that swallows the interruption is interrupted again; the match falls back.
        assert_eq!(summary[1].0, "Test.Stubborn");
        assert_eq!(outcomes[1].title, "Test.Stubborn");
        assert_eq!(
            summary[2],
            (
                "Test.Loop",
                &OutcomeKind::Match,
                "defaultDedupString:Test.Loop"
            )
        );
        assert_eq!(outcomes[3].title, "ok");
        let error = outcomes[0].error.as_deref().expect("error");
        assert!(
            error.contains("Test.Loop") && error.contains("loop.py"),
            "{error}"
        );
        assert!(error.contains("200ms"), "{error}");
    }

    #[test]
    fn every_evaluation_is_timed_per_rule_and_timeouts_are_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Rule ids of their own: the metrics are the process's, shared with other tests.
        write_rule(
            dir.path(),
            "plain",
            "Test.Metered",
            "",
            "def rule(event):\n    return event.get('n') == 1\n",
        );
        write_rule(
            dir.path(),
            "filtered",
            "Test.MeteredFiltered",
            "InlineFilters:\n  - KeyPath: n\n    Condition: IsIn\n    Values: [1]\n",
            "def rule(event):\n    return True\n",
        );
        write_rule(
            dir.path(),
            "slow",
            "Test.MeteredSlow",
            "",
            "def rule(event):\n    while event.get('loop'):\n        pass\n    return False\n",
        );
        let rule_set = RuleSet::load_with(
            dir.path(),
            LoadOptions {
                rule_timeout: Duration::from_millis(100),
            },
        )
        .expect("load");
        let outcomes = rule_set.evaluate(&[
            event(serde_json::json!({"n": 1})),
            event(serde_json::json!({"n": 2})),
            event(serde_json::json!({"n": 3, "loop": true})),
        ]);
        assert_eq!(outcomes.len(), 3, "{outcomes:#?}");
        let m = crate::metrics::metrics();
        for id in ["Test.Metered", "Test.MeteredFiltered", "Test.MeteredSlow"] {
            let seconds = m.rule_evaluation_seconds.with_label_values(&[id]);
            assert_eq!(
                (
                    m.rule_evaluations.with_label_values(&[id]).get(),
                    seconds.get_sample_count()
                ),
                (3, 3),
                "{id}: each event evaluated and timed once (filtered ones too)"
            );
        }
        let timeouts = |id: &str| m.rule_timeouts.with_label_values(&[id]).get();
        assert_eq!(timeouts("Test.MeteredSlow"), 1);
        assert_eq!(timeouts("Test.Metered"), 0);
        let slow = m
            .rule_evaluation_seconds
            .with_label_values(&["Test.MeteredSlow"]);
        assert!(slow.get_sample_sum() >= 0.1, "{}", slow.get_sample_sum());
    }

    #[test]
    fn inline_filters_create_alert_and_unique() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_rule(
            dir.path(),
            "r",
            "Test.Filtered",
            "CreateAlert: false\nInlineFilters:\n  - KeyPath: user.type\n    Condition: IsIn\n    \
             Values: [Root]\n",
            "def rule(event):\n    return True\n\ndef unique(event):\n    return event.deep_get('user', 'name')\n",
        );
        let outcomes = load(dir.path()).evaluate(&[
            event(serde_json::json!({"user": {"type": "Root", "name": "a"}})),
            event(serde_json::json!({"user": {"type": "IAMUser", "name": "b"}})),
        ]);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].unique.as_deref(), Some("a"));
        assert!(!outcomes[0].create_alert);
    }

    #[test]
    fn udm_follows_the_data_model_of_the_log_type() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("model.yml"),
            "AnalysisType: datamodel\nDataModelID: Test.Model\nEnabled: true\nFilename: model.py\n\
             LogTypes: [Test.Log]\nMappings:\n  - Name: actor\n    Path: $.who.name\n  \
             - Name: ip\n    Method: get_ip\n  - Name: many\n    Path: $..n\n",
        )
        .expect("model yaml");
        std::fs::write(
            dir.path().join("model.py"),
            "def get_ip(event):\n    return event.get('addr', '0.0.0.0')\n",
        )
        .expect("model python");
        write_rule(
            dir.path(),
            "r",
            "Test.Udm",
            "",
            "def rule(event):\n    return True\n\ndef alert_context(event):\n    \
             return {'actor': event.udm('actor'), 'ip': event.udm('ip'), \
             'missing': event.udm('nothing', default='d'), 'raw': event.udm('who', 'name'), \
             'walk': event.deep_walk('items', 'n'), 'first': event.deep_walk('items', 'n', return_val='first'), \
             'lookup': event.lookup('t', 'k'), 'epoch': event.event_time_epoch()}\n",
        );
        let outcomes = load(dir.path()).evaluate(&[event(serde_json::json!({
            "who": {"name": "alice"},
            "addr": "10.0.0.1",
            "items": [{"n": 1}, {"n": 2}, {"n": 1}],
            "p_enrichment": {"t": {"k": "v"}},
            "p_event_time": "2024-01-02 03:04:05.000000000"
        }))]);
        let context: serde_json::Value =
            serde_json::from_str(outcomes[0].alert_context.as_deref().expect("context"))
                .expect("json");
        assert_eq!(
            context,
            serde_json::json!({
                "actor": "alice", "ip": "10.0.0.1", "missing": "d", "raw": "alice",
                "walk": [1, 2], "first": 1, "lookup": "v", "epoch": 1704164645
            })
        );
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
