//! Ingest epochs: the timely timestamp of the whole dataflow.
//!
//! An epoch is the start of an ingest tick in milliseconds since the Unix epoch, aligned
//! to the tick length. Epochs only ever move forward at a source; every record read
//! during a tick carries that tick's epoch.

/// The timely timestamp: the start of an ingest tick, in Unix milliseconds.
pub type Epoch = u64;

/// Aligns a wall-clock instant (Unix ms) down to the start of its tick.
pub fn epoch_of(unix_ms: u64, tick_ms: u64) -> Epoch {
    unix_ms - unix_ms % tick_ms.max(1)
}

/// Input held back by epoch until the frontier passes it, with a capability to emit it.
pub type Pending<D> =
    std::collections::BTreeMap<Epoch, (timely::dataflow::operators::Capability<Epoch>, Vec<D>)>;

/// Files one input message under its epoch in `pending` (stateful operators apply epochs
/// in order, once complete). A message without a time carries no data and is dropped.
pub fn stash<D>(
    pending: &mut Pending<D>,
    cap: &timely::dataflow::operators::InputCapability<Epoch>,
    data: &mut Vec<D>,
) {
    let (Some(&epoch), Some(held)) = (cap.least(), cap.retain_least(0)) else {
        return;
    };
    pending
        .entry(epoch)
        .or_insert_with(|| (held, Vec::new()))
        .1
        .append(data);
}

/// The current wall-clock time in Unix milliseconds.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_align_down_to_the_tick() {
        assert_eq!(epoch_of(1_700_000_000_999, 1000), 1_700_000_000_000);
        assert_eq!(epoch_of(1_700_000_001_000, 1000), 1_700_000_001_000);
        assert_eq!(epoch_of(5, 0), 5, "a zero tick must not divide by zero");
    }
}
