//! What a rule produced for one event, with Panther's defaults applied.
//!
//! A rule's Python functions are called by `runtime`; their raw results — a value, or
//! the exception they raised — arrive here as [`Auxiliaries`], and this module turns them
//! into a [`RuleOutcome`] exactly as Panther's engine does in production ("batch mode",
//! where an auxiliary function that raises never fails the event: its default is used):
//!
//! | field | defined and succeeded | not defined | raised or wrong type |
//! |---|---|---|---|
//! | title | its value, cut to 1000 characters ending `... (truncated)` | `DisplayName`, else `RuleID` | `RuleID` |
//! | dedup | its value, cut to 1000 characters; falsy ⇒ default | title() output if non-empty, else `defaultDedupString:<RuleID>` | `defaultDedupString:<RuleID>` |
//! | severity | case-insensitive `INFO`…`CRITICAL`; `DEFAULT` ⇒ YAML `Severity` | YAML `Severity` | YAML `Severity` |
//! | description, reference, runbook | its value, truncated like title | the YAML value | `""` |
//! | destinations | the list (first 10; `[]` ⇒ `["SKIP"]`); `None` ⇒ as if not defined | YAML `OutputIds` if any, else none | as if not defined |
//! | alert_context | JSON text (over 200 KiB ⇒ a `_error` object) | none | `{"_error": repr(exception)}` |
//! | unique | its value, truncated like title | `None` | `None` |
//!
//! `create_alert` is the rule's `CreateAlert` (default true) for matches, always true
//! for errors.
//!
//! Folding `OutputIds` into `destinations` is Corvid's choice: it is what Panther's alert
//! delivery does with a rule's destination overrides when `destinations()` gives none.
//!
//! A rule whose `rule()` raises or returns anything but a `bool` gives an
//! [`OutcomeKind::Error`] outcome instead: title `repr(exception)`, dedup the exception
//! class name (so one broken rule raises one error alert per class, not one per event),
//! and `error` the message with the last traceback frame. A call that ran past the rule
//! timeout is such an error too, with class `RuleTimeout`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::metadata::{RuleMeta, Severity};
use crate::event::Event;

/// Longest title, dedup string, description, reference or runbook Panther keeps.
pub(crate) const MAX_GENERATED_FIELD_CHARS: usize = 1000;
/// Longest serialised `alert_context` Panther keeps, in characters.
pub(crate) const MAX_ALERT_CONTEXT_CHARS: usize = 204_800;
/// Most destinations one alert may name.
const MAX_DESTINATIONS: usize = 10;
const TRUNCATION_SUFFIX: &str = "... (truncated)";

/// Whether the rule matched the event or failed on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutcomeKind {
    /// `rule(event)` returned `True`.
    Match,
    /// `rule(event)` raised or returned something other than a `bool`.
    Error,
}

/// One rule's verdict on one event: the input of dedup, thresholds and alerting.
///
/// Only matches and errors exist; an event a rule does not match yields no outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    pub kind: OutcomeKind,
    pub rule_id: String,
    /// Short SHA-256 of the rule's YAML and Python sources.
    pub rule_version: String,
    pub log_type: String,
    /// Upper-case `INFO`, `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub severity: String,
    /// Match: see the module table. Error: `repr(exception)`.
    pub title: String,
    /// Match: see the module table. Error: the exception class name.
    pub dedup: String,
    pub dedup_period_minutes: u64,
    pub threshold: u64,
    pub display_name: String,
    pub description: String,
    pub reference: String,
    pub runbook: String,
    pub tags: Vec<String>,
    pub reports: BTreeMap<String, Vec<String>>,
    /// Destination overrides; `None` means the default routing by severity.
    pub destinations: Option<Vec<String>>,
    /// JSON text of `alert_context(event)`, when the rule defines it.
    pub alert_context: Option<String>,
    /// Error only: `<ExcClass>: <str(exc)>: <file>.py, line N, in <func>`.
    pub error: Option<String>,
    /// `unique(event)`: the value whose distinct count drives `Threshold`; `None` when
    /// the rule defines no `unique` or it failed.
    #[serde(default)]
    pub unique: Option<String>,
    /// `CreateAlert` of the rule: `false` for "signal" rules whose matches are recorded
    /// but raise no alert. Errors always create alerts.
    #[serde(default = "default_true")]
    pub create_alert: bool,
    pub event: Event,
}

fn default_true() -> bool {
    true
}

/// An exception raised by (or a return-type violation of) one Python call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PythonFailure {
    /// The exception class name, e.g. `KeyError`.
    pub(crate) class: String,
    /// `str(exception)`.
    pub(crate) message: String,
    /// `repr(exception)`.
    pub(crate) repr: String,
    /// Where it was raised, when known.
    pub(crate) location: Option<Box<Location>>,
}

/// The class of the failure a call becomes when it runs past the rule timeout.
pub(crate) const RULE_TIMEOUT: &str = "RuleTimeout";

impl PythonFailure {
    /// The call ran past the rule timeout and was interrupted.
    pub(crate) fn is_timeout(&self) -> bool {
        self.class == RULE_TIMEOUT
    }
}

/// Where an exception was raised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    /// `<file>.py, line N, in <func>` of the last traceback frame, when there is one.
    pub(crate) text: Option<String>,
    /// The file and line of that frame (of the offending line for a `SyntaxError`).
    pub(crate) path: Option<std::path::PathBuf>,
    pub(crate) line: Option<u32>,
}

impl PythonFailure {
    /// The `<file>.py, line N, in <func>` text, when known.
    pub(crate) fn location_text(&self) -> Option<&str> {
        self.location.as_ref().and_then(|at| at.text.as_deref())
    }
}

impl fmt::Display for PythonFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.class, self.message)?;
        if let Some(location) = self.location_text() {
            write!(f, ": {location}")?;
        }
        Ok(())
    }
}

/// One auxiliary function's raw result: `None` when the rule does not define it.
pub(crate) type Aux<T> = Option<Result<T, PythonFailure>>;

/// What the auxiliary functions returned for one event, before defaults.
#[derive(Debug, Default)]
pub(crate) struct Auxiliaries {
    pub(crate) title: Aux<String>,
    pub(crate) dedup: Aux<String>,
    /// `Ok(None)` is the literal `DEFAULT`.
    pub(crate) severity: Aux<Option<Severity>>,
    pub(crate) alert_context: Aux<String>,
    pub(crate) description: Aux<String>,
    pub(crate) reference: Aux<String>,
    pub(crate) runbook: Aux<String>,
    /// `Ok(None)` is a returned `None` (normal routing).
    pub(crate) destinations: Aux<Option<Vec<String>>>,
    pub(crate) unique: Aux<String>,
}

impl Auxiliaries {
    /// The functions that raised, by name, in Panther's order of evaluation.
    pub(crate) fn failures(&self) -> Vec<(&'static str, &PythonFailure)> {
        fn failed<'a, T>(
            name: &'static str,
            aux: &'a Aux<T>,
        ) -> Option<(&'static str, &'a PythonFailure)> {
            match aux {
                Some(Err(failure)) => Some((name, failure)),
                _ => None,
            }
        }
        [
            failed("title", &self.title),
            failed("dedup", &self.dedup),
            failed("severity", &self.severity),
            failed("alert_context", &self.alert_context),
            failed("description", &self.description),
            failed("reference", &self.reference),
            failed("runbook", &self.runbook),
            failed("destinations", &self.destinations),
            failed("unique", &self.unique),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

impl RuleOutcome {
    /// The outcome of `rule(event)` returning `True`.
    pub(crate) fn matched(meta: &RuleMeta, event: &Event, aux: Auxiliaries) -> RuleOutcome {
        let title_output = match aux.title {
            None => None,
            Some(Ok(title)) => Some(truncate_with_suffix(title)),
            Some(Err(_)) => Some(meta.id.clone()),
        };
        let default_dedup = || format!("defaultDedupString:{}", meta.id);
        let dedup = match aux.dedup {
            Some(Ok(dedup)) if !dedup.is_empty() => truncate(dedup),
            Some(_) => default_dedup(),
            None => match &title_output {
                Some(title) if !title.is_empty() => truncate(title.clone()),
                _ => default_dedup(),
            },
        };
        let title = title_output.unwrap_or_else(|| {
            if meta.display_name.is_empty() {
                meta.id.clone()
            } else {
                meta.display_name.clone()
            }
        });
        let severity = match aux.severity {
            Some(Ok(Some(severity))) => severity,
            _ => meta.severity,
        };
        let text = |aux: Aux<String>, yaml: &str| match aux {
            None => yaml.to_string(),
            Some(Ok(value)) => truncate_with_suffix(value),
            Some(Err(_)) => String::new(),
        };
        let destinations = match aux.destinations {
            Some(Ok(Some(mut names))) => {
                if names.is_empty() {
                    names.push("SKIP".to_string());
                }
                names.truncate(MAX_DESTINATIONS);
                Some(names)
            }
            _ => (!meta.output_ids.is_empty()).then(|| meta.output_ids.clone()),
        };
        let unique = match aux.unique {
            Some(Ok(unique)) => Some(truncate_with_suffix(unique)),
            _ => None,
        };
        let alert_context = aux.alert_context.map(|context| match context {
            Ok(json) => json,
            Err(failure) => serde_json::json!({ "_error": failure.repr }).to_string(),
        });
        RuleOutcome {
            kind: OutcomeKind::Match,
            title,
            dedup,
            severity: severity.as_str().to_string(),
            description: text(aux.description, &meta.description),
            reference: text(aux.reference, &meta.reference),
            runbook: text(aux.runbook, &meta.runbook),
            destinations,
            alert_context,
            error: None,
            unique,
            ..RuleOutcome::base(meta, event)
        }
    }

    /// The outcome of `rule(event)` raising (or returning a non-`bool`).
    pub(crate) fn failed(meta: &RuleMeta, event: &Event, failure: &PythonFailure) -> RuleOutcome {
        RuleOutcome {
            kind: OutcomeKind::Error,
            title: failure.repr.clone(),
            dedup: failure.class.clone(),
            error: Some(failure.to_string()),
            create_alert: true,
            ..RuleOutcome::base(meta, event)
        }
    }

    /// The fields taken from the rule's YAML and the event alone.
    fn base(meta: &RuleMeta, event: &Event) -> RuleOutcome {
        RuleOutcome {
            kind: OutcomeKind::Match,
            rule_id: meta.id.clone(),
            rule_version: meta.version.clone(),
            log_type: event.log_type().to_string(),
            severity: meta.severity.as_str().to_string(),
            title: String::new(),
            dedup: String::new(),
            dedup_period_minutes: meta.dedup_period_minutes,
            threshold: meta.threshold,
            display_name: meta.display_name.clone(),
            description: meta.description.clone(),
            reference: meta.reference.clone(),
            runbook: meta.runbook.clone(),
            tags: meta.tags.clone(),
            reports: meta.reports.clone(),
            destinations: (!meta.output_ids.is_empty()).then(|| meta.output_ids.clone()),
            alert_context: None,
            error: None,
            unique: None,
            create_alert: meta.create_alert,
            event: event.clone(),
        }
    }
}

/// Cuts `text` to [`MAX_GENERATED_FIELD_CHARS`] characters, the last of them
/// `... (truncated)`, as Panther does for titles and the other generated texts.
fn truncate_with_suffix(text: String) -> String {
    if text.chars().count() <= MAX_GENERATED_FIELD_CHARS {
        return text;
    }
    let keep = MAX_GENERATED_FIELD_CHARS - TRUNCATION_SUFFIX.chars().count();
    let mut cut: String = text.chars().take(keep).collect();
    cut.push_str(TRUNCATION_SUFFIX);
    cut
}

/// Cuts a dedup string to [`MAX_GENERATED_FIELD_CHARS`] characters, without a suffix.
fn truncate(text: String) -> String {
    if text.chars().count() <= MAX_GENERATED_FIELD_CHARS {
        return text;
    }
    text.chars().take(MAX_GENERATED_FIELD_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::super::metadata::DetectionKind;
    use super::*;
    use std::path::PathBuf;

    fn meta() -> RuleMeta {
        RuleMeta {
            id: "Test.Rule".into(),
            version: "0123456789abcdef".into(),
            enabled: true,
            log_types: vec!["Test.Log".into()],
            severity: Severity::High,
            dedup_period_minutes: 60,
            threshold: 1,
            display_name: String::new(),
            description: "from yaml".into(),
            reference: String::new(),
            runbook: String::new(),
            tags: vec![],
            reports: BTreeMap::new(),
            output_ids: vec![],
            create_alert: true,
            filters: None,
            kind: DetectionKind::Rule,
            python_path: PathBuf::from("r.py"),
        }
    }

    fn event() -> Event {
        let mut fields = serde_json::Map::new();
        fields.insert("p_log_type".into(), "Test.Log".into());
        Event::from_fields(fields)
    }

    fn failure() -> PythonFailure {
        PythonFailure {
            class: "KeyError".into(),
            message: "'x'".into(),
            repr: "KeyError('x')".into(),
            location: None,
        }
    }

    #[test]
    fn no_functions_give_rule_id_title_and_default_dedup() {
        let outcome = RuleOutcome::matched(&meta(), &event(), Auxiliaries::default());
        assert_eq!(outcome.title, "Test.Rule");
        assert_eq!(outcome.dedup, "defaultDedupString:Test.Rule");
        assert_eq!(outcome.severity, "HIGH");
        assert_eq!(outcome.description, "from yaml");
        assert_eq!(outcome.log_type, "Test.Log");
        assert_eq!(outcome.destinations, None);
        assert_eq!(outcome.alert_context, None);

        let mut named = meta();
        named.display_name = "Shown".into();
        let outcome = RuleOutcome::matched(&named, &event(), Auxiliaries::default());
        assert_eq!(outcome.title, "Shown");
        assert_eq!(outcome.dedup, "defaultDedupString:Test.Rule");
    }

    #[test]
    fn title_feeds_dedup_and_failures_fall_back() {
        let aux = Auxiliaries {
            title: Some(Ok("T".into())),
            ..Auxiliaries::default()
        };
        assert_eq!(RuleOutcome::matched(&meta(), &event(), aux).dedup, "T");

        let aux = Auxiliaries {
            title: Some(Err(failure())),
            dedup: Some(Ok(String::new())),
            description: Some(Err(failure())),
            alert_context: Some(Err(failure())),
            ..Auxiliaries::default()
        };
        let outcome = RuleOutcome::matched(&meta(), &event(), aux);
        assert_eq!(outcome.title, "Test.Rule");
        assert_eq!(outcome.dedup, "defaultDedupString:Test.Rule");
        assert_eq!(outcome.description, "");
        let context: serde_json::Value =
            serde_json::from_str(outcome.alert_context.as_deref().expect("context")).expect("json");
        assert_eq!(context["_error"], "KeyError('x')");
    }

    #[test]
    fn severity_default_and_failure_use_yaml() {
        for severity in [Some(Ok(None)), Some(Err(failure())), None] {
            let aux = Auxiliaries {
                severity,
                ..Auxiliaries::default()
            };
            assert_eq!(
                RuleOutcome::matched(&meta(), &event(), aux).severity,
                "HIGH"
            );
        }
        let aux = Auxiliaries {
            severity: Some(Ok(Some(Severity::Low))),
            ..Auxiliaries::default()
        };
        assert_eq!(RuleOutcome::matched(&meta(), &event(), aux).severity, "LOW");
    }

    #[test]
    fn long_titles_are_truncated_with_suffix() {
        let aux = Auxiliaries {
            title: Some(Ok("é".repeat(1500))),
            ..Auxiliaries::default()
        };
        let outcome = RuleOutcome::matched(&meta(), &event(), aux);
        assert_eq!(outcome.title.chars().count(), MAX_GENERATED_FIELD_CHARS);
        assert!(outcome.title.ends_with("... (truncated)"));
        assert_eq!(outcome.dedup.chars().count(), MAX_GENERATED_FIELD_CHARS);
    }

    #[test]
    fn destinations_follow_panther() {
        let with = |destinations| Auxiliaries {
            destinations,
            ..Auxiliaries::default()
        };
        let mut overridden = meta();
        overridden.output_ids = vec!["slack".into()];
        let names = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
        let cases = [
            (with(Some(Ok(Some(vec![])))), Some(vec!["SKIP".to_string()])),
            (with(Some(Ok(Some(names(12))))), Some(names(10))),
            (with(Some(Ok(None))), Some(vec!["slack".to_string()])),
            (with(Some(Err(failure()))), Some(vec!["slack".to_string()])),
        ];
        for (aux, expected) in cases {
            let outcome = RuleOutcome::matched(&overridden, &event(), aux);
            assert_eq!(outcome.destinations, expected);
        }
    }

    #[test]
    fn errors_carry_class_repr_and_location() {
        let failure = PythonFailure {
            class: "KeyError".into(),
            message: "'user'".into(),
            repr: "KeyError('user')".into(),
            location: Some(Box::new(Location {
                text: Some("r.py, line 2, in rule".into()),
                path: None,
                line: Some(2),
            })),
        };
        let outcome = RuleOutcome::failed(&meta(), &event(), &failure);
        assert_eq!(outcome.kind, OutcomeKind::Error);
        assert_eq!(outcome.title, "KeyError('user')");
        assert_eq!(outcome.dedup, "KeyError");
        assert_eq!(
            outcome.error.as_deref(),
            Some("KeyError: 'user': r.py, line 2, in rule")
        );
    }
}
