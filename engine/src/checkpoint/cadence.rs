//! How a stateful operator keeps pace with checkpoints.
//!
//! The operator processes epochs in order. Before it processes an epoch, and after it has
//! processed everything below its input frontier, it asks its [`Cadence`] to reach that
//! point: if a checkpoint boundary was crossed, the operator's state (which then is its
//! state as of that boundary) is written, and only then does the capability the cadence
//! holds move to the boundary. Downstream frontiers therefore reach a boundary only
//! after the state for it is stored, which is what lets worker 0 write the manifest
//! when the end of the dataflow reaches the boundary.

use std::sync::Arc;

use serde::Serialize;
use timely::dataflow::operators::Capability;

use super::{CheckpointError, Checkpoints};
use crate::source::Epoch;

pub struct Cadence {
    checkpoints: Arc<Checkpoints>,
    operator: &'static str,
    worker: usize,
    /// Held at the last boundary written; dropped when the input ends.
    hold: Option<Capability<Epoch>>,
    /// The last boundary reached.
    last: Epoch,
    /// The highest epoch processed, for the final checkpoint when the input ends.
    highest: Option<Epoch>,
}

impl Cadence {
    /// `hold` is the operator's initial capability (epoch 0). After a restore the first
    /// boundary already reached is the restored one.
    pub fn new(
        checkpoints: Arc<Checkpoints>,
        operator: &'static str,
        worker: usize,
        hold: Capability<Epoch>,
    ) -> Cadence {
        let last = checkpoints
            .restored()
            .map_or(0, |restored| restored.manifest.boundary);
        Cadence {
            checkpoints,
            operator,
            worker,
            hold: Some(hold),
            last,
            highest: None,
        }
    }

    /// The capability held at the last boundary (to emit restored state with).
    pub fn capability(&self) -> Option<&Capability<Epoch>> {
        self.hold.as_ref()
    }

    /// The checkpoints this cadence writes to.
    pub fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }

    /// Everything below `epoch` is processed (and nothing at or above it): writes the
    /// state for the newest boundary at or below `epoch` if one was crossed. `snapshot`
    /// returns None when nothing changed since the last file.
    pub fn reach<S: Serialize>(
        &mut self,
        epoch: Epoch,
        snapshot: impl FnOnce() -> Option<S>,
    ) -> Result<(), CheckpointError> {
        let boundary = self.checkpoints.boundary_at_or_below(epoch);
        if boundary > self.last {
            if let Some(state) = snapshot() {
                self.checkpoints
                    .write_state(self.operator, boundary, self.worker, &state)?;
            }
            self.last = boundary;
        }
        // Also below the last boundary (after a restore): the state for it is stored,
        // and holding the frontier back would stall the dataflow.
        if let Some(hold) = self.hold.as_mut() {
            if *hold.time() < boundary {
                hold.downgrade(&boundary);
            }
        }
        Ok(())
    }

    /// `epoch` is about to be processed.
    pub fn before<S: Serialize>(
        &mut self,
        epoch: Epoch,
        snapshot: impl FnOnce() -> Option<S>,
    ) -> Result<(), CheckpointError> {
        self.highest = Some(self.highest.map_or(epoch, |h| h.max(epoch)));
        self.reach(epoch, snapshot)
    }

    /// The input ended: the final state is written at the boundary above the highest
    /// epoch processed, and the capability is released.
    pub fn finish<S: Serialize>(
        &mut self,
        snapshot: impl FnOnce() -> Option<S>,
    ) -> Result<(), CheckpointError> {
        if self.hold.is_none() {
            return Ok(());
        }
        if let Some(highest) = self.highest {
            let end = self.checkpoints.boundary_above(highest);
            self.reach(end, snapshot)?;
        }
        self.hold = None;
        Ok(())
    }

    /// Follows the input frontier: `Some(epoch)` while epochs below it are all
    /// processed, None once the input has ended.
    pub fn follow<S: Serialize>(
        &mut self,
        frontier: Option<Epoch>,
        snapshot: impl FnOnce() -> Option<S>,
    ) -> Result<(), CheckpointError> {
        match frontier {
            Some(epoch) => self.reach(epoch, snapshot),
            None => self.finish(snapshot),
        }
    }
}
