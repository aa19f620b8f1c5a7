//! How a stateful operator keeps pace with checkpoints.
//!
//! The operator processes epochs in order. Its state changes only when it processes an
//! epoch, so after epoch `p` (and before the next one, `n`) its state is the state "as of"
//! every boundary in `(p, n]`. The cadence writes that state labelled with the *first*
//! such boundary, `boundary_above(p)`: a manifest for boundary `B` takes, per operator and
//! worker, the newest file labelled at or below `B`, which is then exactly the state
//! after the epochs below `B`, however far the frontier jumped.
//!
//! The capability the cadence holds moves to a boundary only after the state for it is
//! written, so the end of the dataflow reaches a boundary only when every state file for
//! it is stored; that is when worker 0 writes the manifest.

use std::sync::Arc;

use serde::Serialize;
use timely::dataflow::operators::Capability;

use super::{CheckpointError, Checkpoints};
use crate::source::Epoch;

pub struct Cadence {
    checkpoints: Arc<Checkpoints>,
    operator: &'static str,
    worker: usize,
    /// Held at the last boundary reached; dropped when the input ends.
    hold: Option<Capability<Epoch>>,
    /// The last epoch processed (the restored boundary's predecessor before any).
    processed: Option<Epoch>,
    /// The label of the last file written.
    written: Epoch,
}

impl Cadence {
    /// `hold` is the operator's initial capability (epoch 0).
    pub fn new(
        checkpoints: Arc<Checkpoints>,
        operator: &'static str,
        worker: usize,
        hold: Capability<Epoch>,
    ) -> Cadence {
        let restored = checkpoints.restored_boundary();
        Cadence {
            checkpoints,
            operator,
            worker,
            hold: Some(hold),
            // The restored state holds until the first epoch processed: its first file
            // goes at the boundary after the restored one (which the old manifest covers).
            processed: (restored > 0).then_some(restored),
            written: restored,
        }
    }

    /// The capability held at the last boundary (to emit restored state with).
    pub fn capability(&self) -> Option<&Capability<Epoch>> {
        self.hold.as_ref()
    }

    /// The first boundary the current state is the state of.
    fn label(&self) -> Epoch {
        match self.processed {
            Some(epoch) => self.checkpoints.boundary_above(epoch),
            None => 0,
        }
    }

    /// Writes the state if a boundary lies at or below `upto` that the current state is
    /// the state of, then moves the hold to the newest boundary at or below `upto`.
    fn reach<S: Serialize>(
        &mut self,
        upto: Epoch,
        snapshot: impl FnOnce() -> Option<S>,
    ) -> Result<(), CheckpointError> {
        let label = self.label();
        if label <= upto && label > self.written {
            if let Some(state) = snapshot() {
                self.checkpoints
                    .write_state(self.operator, label, self.worker, &state)?;
                self.written = label;
            }
        }
        let boundary = self.checkpoints.boundary_at_or_below(upto);
        if let Some(hold) = self.hold.as_mut() {
            if *hold.time() < boundary {
                hold.downgrade(&boundary);
            }
        }
        Ok(())
    }

    /// `epoch` is about to be processed (epochs come in increasing order).
    pub fn before<S: Serialize>(
        &mut self,
        epoch: Epoch,
        snapshot: impl FnOnce() -> Option<S>,
    ) -> Result<(), CheckpointError> {
        self.reach(epoch, snapshot)?;
        self.processed = Some(epoch);
        Ok(())
    }

    /// Follows the input frontier: `Some(epoch)` while the epochs below it are all
    /// processed; None once the input has ended (the final state is written and the
    /// capability released).
    pub fn follow<S: Serialize>(
        &mut self,
        frontier: Option<Epoch>,
        snapshot: impl FnOnce() -> Option<S>,
    ) -> Result<(), CheckpointError> {
        match frontier {
            Some(epoch) => self.reach(epoch, snapshot),
            None => {
                if self.hold.is_some() {
                    self.reach(Epoch::MAX, snapshot)?;
                    self.hold = None;
                }
                Ok(())
            }
        }
    }
}
