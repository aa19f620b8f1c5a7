//! The Kafka source: raw records enter the dataflow here, stamped with ingest epochs.
//!
//! ```text
//!   raw topic partitions ──assign()──▶ worker owning them ──▶ Stream<Epoch, RawRecord>
//! ```
//!
//! * **Ownership.** Each worker owns a fixed set of partitions ([`partitions`]) and reads
//!   them with `assign()`; consumer-group rebalancing never moves data between workers.
//!   A worker that owns nothing drops its capability at once, so it never holds back the
//!   frontier.
//! * **Time.** The timely timestamp is an [`Epoch`]: the record's Kafka timestamp (when it
//!   was produced or appended), aligned down to the tick, in milliseconds since the Unix
//!   epoch. It is stored with the record, so a replay puts every record into the same
//!   epoch ([`clock`]). Event time is data (`p_event_time`), never the timely time.
//! * **Group offsets.** The raw source commits the positions it has read to
//!   `kafka.group_id` (every few seconds and when it closes) so that lag stays
//!   observable from outside, also while the engine is stopped. Only for that: partitions
//!   are assigned at the checkpoint's positions or at `kafka.start_offset`, never at the
//!   group's. Its consumer lag comes from librdkafka's statistics ([`lag`]).
//! * **Ends.** In follow mode the source runs until shutdown is requested; with
//!   `stop_at_end` it stops at the end offsets each partition had at start-up, which is
//!   how the demo and batch replays finish.

pub mod clock;
pub mod epoch;
pub mod kafka;
pub mod lag;
pub mod ledger;
pub mod partitions;

pub use epoch::Epoch;

use corvid_connectors::raw_record::SourceMeta;

/// One raw record as read from Kafka, with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The record key: the stream (file, connection, host) the line belongs to.
    pub stream: String,
    pub meta: SourceMeta,
    pub payload: Vec<u8>,
}
