//! Alerts: rule outcomes grouped into alerts by dedup window and threshold.
//!
//! ```text
//!  outcomes ──exchange by (rule_id, dedup)──▶ DedupWindows (per worker) ──▶ Alert updates
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

pub use dedup::{DedupKey, DedupWindows};
pub use record::{Alert, AlertType};

use std::collections::BTreeMap;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use crate::rules::{OutcomeKind, RuleOutcome};
use crate::source::partitions::topic_hash;
use crate::source::Epoch;

/// Groups rule outcomes into alert updates.
pub fn dedup_alerts<'scope>(
    outcomes: Stream<'scope, Epoch, Vec<RuleOutcome>>,
) -> Stream<'scope, Epoch, Vec<Alert>> {
    // The same fixed hash as partition ownership: every process routes a key alike.
    let route = Exchange::new(|outcome: &RuleOutcome| {
        topic_hash(&outcome.rule_id) ^ topic_hash(&outcome.dedup).rotate_left(1)
    });
    outcomes.unary_frontier(route, "DedupAlerts", |_capability, _info| {
        let mut windows = DedupWindows::default();
        let mut pending: BTreeMap<Epoch, (Capability<Epoch>, Vec<RuleOutcome>)> = BTreeMap::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                let Some(epoch) = cap.least().copied() else {
                    return;
                };
                let Some(held) = cap.retain_least(0) else {
                    return;
                };
                // Signal rules (`CreateAlert: false`) are recorded, never alerted on.
                data.retain(|outcome| outcome.kind == OutcomeKind::Error || outcome.create_alert);
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
                let alerts = windows.observe_epoch(epoch, batch);
                if !alerts.is_empty() {
                    output.session(&cap).give_iterator(alerts.into_iter());
                }
            }
            match frontier.first() {
                Some(&epoch) => windows.expire_before(epoch),
                None => windows.expire_before(Epoch::MAX),
            }
        }
    })
}
