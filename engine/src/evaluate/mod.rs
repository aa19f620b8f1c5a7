//! Rule evaluation in the dataflow.
//!
//! ```text
//!  events ─▶ Rules (per worker, pipeline) ─▶ outcomes ─┬─▶ DedupAlerts
//!                 ▲                                   └─▶ rule-error records
//!           LiveRules (hot reload)
//! ```
//!
//! Each activation evaluates pending events in chunks of [`CHUNK`] until
//! [`TIME_BUDGET`] is spent, then yields and asks to run again: a burst of events or a
//! slow rule delays the next epoch's events, never the other operators of the worker,
//! and the held capabilities keep the frontier honest about the work still pending.
//! Each chunk is evaluated by one rule set, taken from [`LiveRules`] as the chunk starts.
//!
//! Rules that failed to load are reported once per loaded set, by worker 0 only, as
//! rule-error outcomes (dedup on the exception class, so `RULE_ERROR` alerts follow)
//! carrying a stand-in event that names the file: there is no event to blame.

pub mod reload;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

use crate::event::{format_timestamp, Event};
use crate::metrics::{metrics, FrontierLag, OperatorName};
use crate::rules::{LoadFailure, OutcomeKind, RuleOutcome};
use crate::source::Epoch;
use reload::LiveRules;

/// Events handed to the rule set at once: one GIL acquisition, one call per rule each.
pub const CHUNK: usize = 1024;
/// How long one activation may evaluate before yielding.
pub const TIME_BUDGET: Duration = Duration::from_millis(50);

/// Runs the live rule set over the events.
pub fn evaluate_rules<'scope>(
    scope: Scope<'scope, Epoch>,
    events: Stream<'scope, Epoch, Vec<Event>>,
    rules: Arc<LiveRules>,
) -> Stream<'scope, Epoch, Vec<RuleOutcome>> {
    let reports_load_failures = scope.index() == 0;
    events.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<RuleOutcome>>, _, _, _>(
        Pipeline,
        "Rules",
        move |capability, info| {
            let activator = scope.activator_for(info.address);
            let mut pending: VecDeque<(Capability<Epoch>, VecDeque<Event>)> = VecDeque::new();
            // Held at the input frontier, to report load failures of a newly loaded set.
            let mut held = reports_load_failures.then_some(capability);
            let mut reported_generation = None;
            let lag = FrontierLag::of(OperatorName::Rules);
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    if let Some(cap) = cap.retain_least(0) {
                        pending.push_back((cap, data.drain(..).collect()));
                    }
                });
                lag.observe(frontier.frontier().first().copied());
                if let Some(cap) = held.as_mut() {
                    let generation = rules.generation();
                    if reported_generation != Some(generation) {
                        reported_generation = Some(generation);
                        let (_, rule_set) = rules.current();
                        let outcomes: Vec<RuleOutcome> = rule_set
                            .load_failures()
                            .iter()
                            .map(load_failure_outcome)
                            .collect();
                        count(&outcomes);
                        output.session(&*cap).give_iterator(outcomes.into_iter());
                    }
                    match frontier.frontier().first() {
                        Some(time) if time > cap.time() => cap.downgrade(time),
                        Some(_) => {}
                        None => held = None,
                    }
                }
                let started = Instant::now();
                while let Some((cap, events)) = pending.front_mut() {
                    let take = events.len().min(CHUNK);
                    let chunk: Vec<Event> = events.drain(..take).collect();
                    let (_, rule_set) = rules.current();
                    let outcomes = rule_set.evaluate(&chunk);
                    count(&outcomes);
                    output.session(&*cap).give_iterator(outcomes.into_iter());
                    if events.is_empty() {
                        pending.pop_front();
                    }
                    if started.elapsed() >= TIME_BUDGET && !pending.is_empty() {
                        activator.activate();
                        break;
                    }
                }
            }
        },
    )
}

/// A rule that did not load, as a rule-error outcome on a stand-in event.
pub fn load_failure_outcome(failure: &LoadFailure) -> RuleOutcome {
    let location = match failure.line {
        Some(line) => format!("{}:{line}", failure.file.display()),
        None => failure.file.display().to_string(),
    };
    let now = format_timestamp(&chrono::Utc::now());
    let mut fields = Map::new();
    fields.insert("p_log_type".into(), Value::from(""));
    fields.insert("p_row_id".into(), Value::from(""));
    fields.insert("p_event_time".into(), Value::from(now.clone()));
    fields.insert("p_parse_time".into(), Value::from(now));
    fields.insert("file".into(), Value::from(location.clone()));
    RuleOutcome {
        kind: OutcomeKind::Error,
        rule_id: failure.rule_id.clone(),
        rule_version: String::new(),
        log_type: String::new(),
        severity: "INFO".into(),
        title: format!("{}: {}", failure.error_type, failure.message),
        dedup: failure.error_type.clone(),
        dedup_period_minutes: 60,
        threshold: 1,
        display_name: String::new(),
        description: format!("The rule could not be loaded ({location})."),
        reference: String::new(),
        runbook: String::new(),
        tags: Vec::new(),
        reports: Default::default(),
        destinations: None,
        alert_context: None,
        error: Some(format!(
            "{}: {}: {location}",
            failure.error_type, failure.message
        )),
        unique: None,
        create_alert: true,
        event: Event::from_fields(fields),
    }
}

fn count(outcomes: &[RuleOutcome]) {
    for outcome in outcomes {
        let counter = match outcome.kind {
            OutcomeKind::Match => &metrics().rule_matches,
            OutcomeKind::Error => {
                tracing::warn!(rule = outcome.rule_id, error = ?outcome.error, "rule error");
                &metrics().rule_errors
            }
        };
        counter.with_label_values(&[&outcome.rule_id]).inc();
    }
}
