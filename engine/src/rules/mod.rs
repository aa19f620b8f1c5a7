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
