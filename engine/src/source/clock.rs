//! Per-partition ingest clocks: which epoch a record falls into, and how far each
//! partition lets the frontier advance.
//!
//! A record's epoch comes from its Kafka timestamp (the producer's `CreateTime` or the
//! broker's `LogAppendTime`), which is stored in the log: reading the same partition again
//! from offset zero puts every record into the same epoch, so alert ids, windows and
//! counts are a function of the input alone. Wall-clock time only decides how far an idle
//! partition lets the frontier move.
//!
//! Rules, per partition:
//! * A record's epoch is its timestamp aligned down to the tick, but never below the
//!   partition's *bound* (the epoch of its previous record): timestamps are not strictly
//!   ordered in a partition (several producers, clock steps), and epochs handed out by
//!   one partition must not go back. The clamp depends only on the partition's own
//!   records, so it too replays identically.
//! * A partition read to its end (caught up) promises nothing older than `now − grace`:
//!   its bound follows the wall clock minus the grace, so a quiet partition never stalls
//!   the frontier, while a record written just before it was read still gets its own
//!   timestamp's epoch. Only a record that reaches the engine more than `grace` after its
//!   timestamp is clamped up to the wall-clock bound; that is the one case where a replay
//!   can differ, and it is counted.
//! * The worker's capability is the least bound over its partitions.

use std::collections::BTreeMap;

use super::epoch::epoch_of;
use super::Epoch;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PartitionClock {
    /// No record of this partition can take an epoch below this one.
    bound: Epoch,
    /// Read up to the partition's end; its bound follows the wall clock.
    caught_up: bool,
}

/// The clocks of the partitions one worker owns.
#[derive(Clone, Debug)]
pub struct PartitionClocks {
    tick_ms: u64,
    grace_ms: u64,
    partitions: BTreeMap<i32, PartitionClock>,
}

/// Where a record was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub epoch: Epoch,
    /// The record's own timestamp epoch was below the partition's bound.
    pub clamped: bool,
}

impl PartitionClocks {
    pub fn new(tick_ms: u64, grace_ms: u64, partitions: impl IntoIterator<Item = i32>) -> Self {
        PartitionClocks {
            tick_ms: tick_ms.max(1),
            grace_ms,
            partitions: partitions
                .into_iter()
                .map(|partition| (partition, PartitionClock::default()))
                .collect(),
        }
    }

    /// Places a record of `partition` with Kafka timestamp `timestamp_ms` (None when the
    /// record has none: it joins the partition's current epoch).
    pub fn place(&mut self, partition: i32, timestamp_ms: Option<u64>) -> Placement {
        let clock = self.partitions.entry(partition).or_default();
        clock.caught_up = false;
        let own = timestamp_ms.map(|ms| epoch_of(ms, self.tick_ms));
        let epoch = own.map_or(clock.bound, |own| own.max(clock.bound));
        let clamped = own.is_some_and(|own| own < clock.bound);
        clock.bound = epoch;
        Placement { epoch, clamped }
    }

    /// The partition has been read to its current end.
    pub fn caught_up(&mut self, partition: i32) {
        self.partitions.entry(partition).or_default().caught_up = true;
    }

    /// Moves the bounds of caught-up partitions to `now − grace` and returns the least
    /// bound: the epoch the worker's capability may advance to. None when no partition is
    /// owned.
    pub fn advance(&mut self, now_ms: u64) -> Option<Epoch> {
        let idle_bound = epoch_of(now_ms.saturating_sub(self.grace_ms), self.tick_ms);
        for clock in self.partitions.values_mut() {
            if clock.caught_up && idle_bound > clock.bound {
                clock.bound = idle_bound;
            }
        }
        self.partitions.values().map(|clock| clock.bound).min()
    }

    /// Resumes a partition from a checkpoint: nothing below `bound` any more.
    pub fn restore(&mut self, partition: i32, bound: Epoch) {
        self.partitions.entry(partition).or_default().bound = bound;
    }

    /// Stops tracking a partition (read to the end in a batch run).
    pub fn remove(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_take_their_timestamp_epoch() {
        let mut clocks = PartitionClocks::new(1000, 2000, [0, 1]);
        assert_eq!(clocks.place(0, Some(10_500)).epoch, 10_000);
        assert_eq!(clocks.place(1, Some(7_200)).epoch, 7_000);
        // The least bound over both partitions.
        assert_eq!(clocks.advance(1_000_000), Some(7_000));
    }

    #[test]
    fn epochs_never_go_back_within_a_partition() {
        let mut clocks = PartitionClocks::new(1000, 0, [0]);
        clocks.place(0, Some(10_000));
        let late = clocks.place(0, Some(3_000));
        assert_eq!(
            late,
            Placement {
                epoch: 10_000,
                clamped: true
            }
        );
        assert_eq!(
            clocks.place(0, None),
            Placement {
                epoch: 10_000,
                clamped: false
            }
        );
    }

    #[test]
    fn a_caught_up_partition_follows_the_wall_clock_minus_grace() {
        let mut clocks = PartitionClocks::new(1000, 2000, [0, 1]);
        clocks.place(0, Some(5_000));
        clocks.place(1, Some(6_000));
        // Partition 0 is at its end: it no longer holds the frontier at 5 s.
        clocks.caught_up(0);
        assert_eq!(clocks.advance(20_500), Some(6_000));
        clocks.caught_up(1);
        assert_eq!(clocks.advance(20_500), Some(18_000));
        // A record written just before (within the grace) keeps its own epoch.
        assert_eq!(clocks.place(0, Some(19_100)).epoch, 19_000);
        // One older than the grace is clamped up to the bound.
        assert!(clocks.place(1, Some(1_000)).clamped);
    }

    #[test]
    fn a_partition_with_records_again_stops_following_the_clock() {
        let mut clocks = PartitionClocks::new(1000, 0, [0]);
        clocks.caught_up(0);
        assert_eq!(clocks.advance(50_000), Some(50_000));
        clocks.place(0, Some(51_000));
        assert_eq!(clocks.advance(90_000), Some(51_000));
    }

    #[test]
    fn no_partitions_no_bound() {
        let mut clocks = PartitionClocks::new(1000, 0, [3]);
        clocks.remove(3);
        assert_eq!(clocks.advance(1), None);
    }
}
