//! The lake sink: every event, rule match and rule error as Parquet on object storage.
//!
//! ```text
//!  events ───────────────▶ LakeRow(panther_logs) ─┐
//!  rule matches / errors ▶ LakeRow(rule dbs) ─────┴▶ LakeSink (per worker: LakeWriter)
//! ```
//!
//! Each worker writes the rows it holds (events where they were parsed, rule outcomes
//! where their alert window lives) into its own files, shard = worker index, so no
//! exchange is needed and file names never collide. Rows are applied an epoch at a time
//! once the frontier has passed it ([`writer`] explains why that makes files a function
//! of the input). Layout and columns: the `corvid-lake` crate; schemas: [`schema`].

pub mod rows;
pub mod schema;
pub mod staging;
pub mod writer;

pub use writer::{LakeRow, LakeWriter, RollPolicy};

use std::collections::BTreeMap;
use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Probe;
use timely::dataflow::{ProbeHandle, Stream};

use crate::alerts::AlertedOutcome;
use crate::checkpoint::{Cadence, Checkpoints};
use crate::event::Event;
use crate::rules::OutcomeKind;
use crate::sinks::alerts::FatalSlot;
use crate::sinks::rule_matches::rule_outcome_fields;
use crate::source::Epoch;
use corvid_lake::Database;

impl LakeRow {
    pub fn event(event: &Event) -> LakeRow {
        LakeRow {
            database: Database::Logs,
            log_type: event.log_type().to_owned(),
            fields: event.shared_fields(),
        }
    }

    pub fn outcome(alerted: &AlertedOutcome) -> LakeRow {
        LakeRow {
            database: match alerted.outcome.kind {
                OutcomeKind::Match => Database::RuleMatches,
                OutcomeKind::Error => Database::RuleErrors,
            },
            log_type: alerted.outcome.log_type.clone(),
            fields: Arc::new(rule_outcome_fields(alerted)),
        }
    }
}

/// Writes `rows` to the lake; `probe` sees an epoch pass once its rows are written or
/// buffered in an open file.
pub fn lake_sink<'scope>(
    rows: Stream<'scope, Epoch, Vec<LakeRow>>,
    mut writer: LakeWriter,
    fatal: FatalSlot,
    checkpoints: Option<(Arc<Checkpoints>, usize)>,
    probe: &ProbeHandle<Epoch>,
) {
    let mut pending: BTreeMap<Epoch, Vec<LakeRow>> = BTreeMap::new();
    let mut failed = false;
    rows.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
        Pipeline,
        "LakeSink",
        move |capability, _info| {
            // Holds the frontier at the last checkpoint boundary until the files below
            // the next one are staged; the writer keeps no state a checkpoint needs.
            let mut cadence = checkpoints
                .map(|(checkpoints, worker)| Cadence::new(checkpoints, "lake", worker, capability));
            move |(input, frontier), _output| {
                input.for_each(|cap, data| {
                    if let Some(&epoch) = cap.least() {
                        pending.entry(epoch).or_default().append(data);
                    }
                });
                if failed {
                    pending.clear();
                    cadence = None;
                    return;
                }
                let frontier = frontier.frontier();
                while let Some(entry) = pending.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (epoch, rows) = entry.remove_entry();
                    if let Err(error) = writer.write_epoch(epoch, rows) {
                        failed = true;
                        tracing::error!(%error, "lake sink stopped");
                        fatal.set(error.to_string());
                        return;
                    }
                }
                if let Err(error) = writer.advance(frontier.first().copied()) {
                    failed = true;
                    tracing::error!(%error, "lake sink stopped");
                    fatal.set(error.to_string());
                    return;
                }
                if let Some(cadence) = cadence.as_mut() {
                    let nothing = || None::<()>;
                    if let Err(error) = cadence.follow(frontier.first().copied(), nothing) {
                        failed = true;
                        fatal.set(error.to_string());
                    }
                }
            }
        },
    )
    .probe_with(probe);
}
