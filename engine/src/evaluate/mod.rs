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

pub mod reload;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, Stream};

use crate::event::Event;
use crate::metrics::metrics;
use crate::rules::{OutcomeKind, RuleOutcome};
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
    events.unary::<timely::container::CapacityContainerBuilder<Vec<RuleOutcome>>, _, _, _>(
        Pipeline,
        "Rules",
        move |_capability, info| {
            let activator = scope.activator_for(info.address);
            let mut pending: VecDeque<(Capability<Epoch>, VecDeque<Event>)> = VecDeque::new();
            move |input, output| {
                input.for_each(|cap, data| {
                    if let Some(cap) = cap.retain_least(0) {
                        pending.push_back((cap, data.drain(..).collect()));
                    }
                });
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
