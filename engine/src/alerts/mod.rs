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

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use std::sync::Arc;

use crate::checkpoint::{Cadence, Checkpoints};
use crate::metrics::{FrontierLag, OperatorName};
use crate::rules::RuleOutcome;
use crate::sinks::alerts::FatalSlot;
use crate::source::epoch::Pending;
use crate::source::Epoch;
use dedup::key_hash;

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
    checkpoint: Option<DedupCheckpoint>,
) -> DedupStreams<'scope> {
    // A fixed hash, so every process routes a key alike; with checkpoints by virtual
    // shard, so a restore with another worker count finds each window where its key goes.
    let shards = checkpoint
        .as_ref()
        .map(|c| u64::from(c.checkpoints.shards()));
    let workers = outcomes.scope().peers();
    let route = Exchange::new(move |outcome: &RuleOutcome| {
        let hash = key_hash(&outcome.rule_id, &outcome.dedup);
        shards.map_or(hash, |shards| hash % shards)
    });
    let combined = outcomes.unary_frontier::<timely::container::CapacityContainerBuilder<
        Vec<Result<Alert, AlertedOutcome>>,
    >, _, _, _>(route, "DedupAlerts", move |capability, _info| {
        let mut windows = DedupWindows::new(max_samples);
        let shard_count = shards.unwrap_or(1).max(1);
        let shard_of = move |hash: u64| (hash % shard_count) as u32;
        let mut cadence = None;
        let mut fatal = None;
        if let Some(checkpoint) = checkpoint {
            match checkpoint
                .checkpoints
                .restored_states::<Vec<(u32, DedupKey, dedup::Window)>>(DEDUP_STATE)
            {
                Ok(files) => windows.restore(files.into_iter().flatten().collect(), |shard| {
                    Checkpoints::owns_shard(shard, checkpoint.worker, workers)
                }),
                Err(error) => checkpoint.fatal.set(error.to_string()),
            }
            cadence = Some(Cadence::new(
                checkpoint.checkpoints,
                DEDUP_STATE,
                checkpoint.worker,
                capability,
            ));
            fatal = Some(checkpoint.fatal);
        }
        let mut pending: Pending<RuleOutcome> = Pending::new();
        let lag = FrontierLag::of(OperatorName::Dedup);
        move |(input, frontier), output| {
            input.for_each(|cap, data| {
                crate::source::epoch::stash(&mut pending, &cap, data);
            });
            let frontier = frontier.frontier();
            lag.observe(frontier.first().copied());
            while let Some(entry) = pending.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (epoch, (cap, batch)) = entry.remove_entry();
                if let Some(cadence) = cadence.as_mut() {
                    if let Err(error) = cadence.before(epoch, || windows.snapshot(shard_of)) {
                        report(&fatal, error);
                    }
                }
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
            if let Some(cadence) = cadence.as_mut() {
                let snapshot = || windows.snapshot(shard_of);
                if let Err(error) = cadence.follow(frontier.first().copied(), snapshot) {
                    report(&fatal, error);
                }
            }
        }
    });
    combined.ok_err(|item| item)
}

/// Name of the dedup windows' state in checkpoints.
pub const DEDUP_STATE: &str = "dedup";

/// What the dedup stage needs to take part in checkpoints.
pub struct DedupCheckpoint {
    pub checkpoints: Arc<Checkpoints>,
    pub worker: usize,
    pub fatal: FatalSlot,
}

fn report(fatal: &Option<FatalSlot>, error: crate::checkpoint::CheckpointError) {
    tracing::error!(%error, "checkpoint of dedup windows failed");
    if let Some(fatal) = fatal {
        fatal.set(error.to_string());
    }
}
