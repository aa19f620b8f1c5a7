//! Alerts: rule outcomes grouped into alerts by dedup window and threshold.
//!
//! ```text
//!  outcomes ──exchange by (rule_id, dedup)──▶ DedupWindows (per worker) ─┬─▶ Alert updates
//!                                                                       └─▶ outcomes with
//!                                                           their window (rule_matches/errors)
//! ```
//!
//! Outcomes of one epoch are applied only once the input frontier has passed that epoch,
//! in a fixed order, so the alerts are a deterministic function of the input whatever the
//! interleaving of workers. Windows whose end the frontier has passed are dropped: state
//! stays bounded by the matches of the last `DedupPeriodMinutes`.

pub mod avro;
pub mod dedup;
pub mod record;
pub mod tail;

pub use dedup::{AlertedOutcome, DedupKey, DedupWindows, WindowRef};
pub use record::{Alert, AlertType};

use std::collections::BTreeMap;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use crate::rules::RuleOutcome;
use crate::source::partitions::topic_hash;
use crate::source::Epoch;

/// Alert updates, and every rule outcome with the alert window it joined.
pub type DedupStreams<'scope> = (
    Stream<'scope, Epoch, Vec<Alert>>,
    Stream<'scope, Epoch, Vec<AlertedOutcome>>,
);

/// Groups rule outcomes into alert updates; alerts carry at most `max_samples` events.
// `Result` is timely's two-way split here, not an error path; each value moves once.
#[allow(clippy::result_large_err)]
pub fn dedup_alerts<'scope>(
    outcomes: Stream<'scope, Epoch, Vec<RuleOutcome>>,
    max_samples: usize,
) -> DedupStreams<'scope> {
    // The same fixed hash as partition ownership: every process routes a key alike.
    let route = Exchange::new(|outcome: &RuleOutcome| {
        topic_hash(&outcome.rule_id) ^ topic_hash(&outcome.dedup).rotate_left(1)
    });
    let combined = outcomes.unary_frontier::<timely::container::CapacityContainerBuilder<
        Vec<Result<Alert, AlertedOutcome>>,
    >, _, _, _>(route, "DedupAlerts", move |_capability, _info| {
        let mut windows = DedupWindows::new(max_samples);
        let mut pending: BTreeMap<Epoch, (Capability<Epoch>, Vec<RuleOutcome>)> = BTreeMap::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                let Some(epoch) = cap.least().copied() else {
                    return;
                };
                let Some(held) = cap.retain_least(0) else {
                    return;
                };
                pending
                    .entry(epoch)
                    .or_insert_with(|| (held, Vec::new()))
                    .1
                    .append(data);
            });
            let frontier = frontier.frontier();
            while let Some(entry) = pending.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (epoch, (cap, batch)) = entry.remove_entry();
                let result = windows.observe_epoch(epoch, batch);
                output.session(&cap).give_iterator(
                    result
                        .alerts
                        .into_iter()
                        .map(Ok)
                        .chain(result.outcomes.into_iter().map(Err)),
                );
            }
            match frontier.first() {
                Some(&epoch) => windows.expire_before(epoch),
                None => windows.expire_before(Epoch::MAX),
            }
        }
    });
    combined.ok_err(|item| item)
}
