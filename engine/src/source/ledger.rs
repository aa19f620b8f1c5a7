//! The source's part of a checkpoint: where each owned partition resumes.
//!
//! For a boundary `B` a partition resumes at its first record placed at or above `B`
//! (records below it are all in the checkpoint's state), with that record's epoch as
//! its clock bound, so the replayed record lands in the epoch it had. A partition with
//! no such record yet resumes at its read position, bound `B`.
//!
//! Positions change only at the boundary just above an epoch that has records, so the
//! ledger writes a file at each such boundary the capability passes (and once after a
//! restore): a manifest's newest source file at or below its boundary then holds the
//! positions for exactly that boundary. Each position carries the boundary it was
//! written for; after a rescale the newest one of a partition wins.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Epoch;
use crate::checkpoint::{CheckpointError, Checkpoints};
use crate::sinks::alerts::FatalSlot;

pub const OPERATOR: &str = "source";

/// Where one partition resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub bound: Epoch,
    /// The boundary these positions were written for.
    #[serde(default)]
    pub written_for: Epoch,
}

/// Restored positions of `topic`'s partitions, from every worker's file.
pub fn restored_positions(
    checkpoints: &Checkpoints,
    topic: &str,
) -> Result<BTreeMap<i32, PartitionState>, CheckpointError> {
    let files: Vec<Vec<PartitionState>> = checkpoints.restored_states(OPERATOR)?;
    let mut positions: BTreeMap<i32, PartitionState> = BTreeMap::new();
    for state in files.into_iter().flatten().filter(|s| s.topic == topic) {
        let newer = positions
            .get(&state.partition)
            .is_none_or(|seen| state.written_for > seen.written_for);
        if newer {
            positions.insert(state.partition, state);
        }
    }
    Ok(positions)
}

/// A worker's source bookkeeping between checkpoints.
pub struct Ledger {
    checkpoints: Arc<Checkpoints>,
    worker: usize,
    topic: String,
    fatal: FatalSlot,
    shutdown: Arc<AtomicBool>,
    last: Epoch,
    /// Next offset to read, per owned partition.
    positions: BTreeMap<i32, i64>,
    /// First offset of each epoch read since the last boundary written, per partition.
    starts: BTreeMap<i32, BTreeMap<Epoch, i64>>,
    highest: Option<Epoch>,
    failed: bool,
    /// A boundary to write at even without new records (the first after a restore).
    forced: Option<Epoch>,
}

impl Ledger {
    pub fn new(
        checkpoints: Arc<Checkpoints>,
        worker: usize,
        topic: String,
        positions: BTreeMap<i32, i64>,
        fatal: FatalSlot,
        shutdown: Arc<AtomicBool>,
    ) -> Ledger {
        let last = checkpoints.restored_boundary();
        // After a restore the first file covers the next boundary, so a manifest never
        // mixes this run's positions with an older run's for the same worker.
        let forced = (last > 0).then(|| checkpoints.boundary_above(last));
        Ledger {
            checkpoints,
            worker,
            topic,
            fatal,
            shutdown,
            last,
            positions,
            starts: BTreeMap::new(),
            highest: None,
            failed: false,
            forced,
        }
    }

    /// A record was read and placed.
    pub fn record(&mut self, partition: i32, offset: i64, epoch: Epoch) {
        self.positions.insert(partition, offset + 1);
        self.starts
            .entry(partition)
            .or_default()
            .entry(epoch)
            .or_insert(offset);
        self.highest = Some(self.highest.map_or(epoch, |h| h.max(epoch)));
    }

    /// The source's capability is about to move to `epoch`: writes the positions for
    /// every boundary at or below it where they changed.
    pub fn reach(&mut self, epoch: Epoch) {
        let mut labels: std::collections::BTreeSet<Epoch> = self
            .starts
            .values()
            .flat_map(|starts| starts.keys())
            .map(|&start| self.checkpoints.boundary_above(start))
            .filter(|&label| label > self.last && label <= epoch)
            .collect();
        if let Some(forced) = self.forced.filter(|&forced| forced <= epoch) {
            labels.insert(forced);
            self.forced = None;
        }
        for label in labels {
            self.write(label);
        }
    }

    /// The source stops: positions for the boundary above everything read.
    pub fn finish(&mut self) {
        if let Some(highest) = self.highest {
            self.write(self.checkpoints.boundary_above(highest));
        }
    }

    fn write(&mut self, boundary: Epoch) {
        if self.failed || boundary <= self.last {
            return;
        }
        let states: Vec<PartitionState> = self
            .positions
            .iter()
            .map(|(&partition, &position)| {
                let first_at_or_above = self
                    .starts
                    .get(&partition)
                    .and_then(|starts| starts.range(boundary..).next());
                let (offset, bound) = match first_at_or_above {
                    Some((&epoch, &offset)) => (offset, epoch),
                    None => (position, boundary),
                };
                PartitionState {
                    topic: self.topic.clone(),
                    partition,
                    offset,
                    bound,
                    written_for: boundary,
                }
            })
            .collect();
        if let Err(error) = self.write_states(boundary, &states) {
            self.failed = true;
            tracing::error!(%error, "checkpoint of source positions failed; stopping");
            self.fatal.set(error.to_string());
            self.shutdown.store(true, Ordering::Release);
            return;
        }
        for starts in self.starts.values_mut() {
            *starts = starts.split_off(&boundary);
        }
        self.last = boundary;
    }

    fn write_states(
        &self,
        boundary: Epoch,
        states: &[PartitionState],
    ) -> Result<(), CheckpointError> {
        self.checkpoints
            .write_state(OPERATOR, boundary, self.worker, &states)
    }
}
