//! The source operator: each worker reads the partitions it owns with `assign()`.
//!
//! The consumer is built before the operator (set-up errors surface as [`SourceError`]
//! instead of a panic inside timely). Each activation drains up to [`POLL_BUDGET`] records
//! without blocking, so a busy partition cannot starve the other operators of the worker,
//! places each record in the epoch of its Kafka timestamp ([`PartitionClocks`]), and then
//! advances the capability to the least bound over the owned partitions, so a quiet
//! partition still lets the frontier move every tick.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{ProbeHandle, Scope, Stream};

use super::clock::PartitionClocks;
use super::epoch::now_unix_ms;
use super::lag::{SourceContext, STATISTICS_INTERVAL_MS};
use super::ledger::{restored_positions, Ledger};
use super::partitions::owned_partitions;
use super::{Epoch, RawRecord};
use crate::checkpoint::{CheckpointError, Checkpoints};
use crate::config::{KafkaConfig, StartOffset};
use crate::kafka::client_config;
use crate::metrics::metrics;
use crate::sinks::alerts::FatalSlot;
use corvid_connectors::raw_record::SourceMeta;
use corvid_connectors::topics::partition_ids;

/// Most records one activation emits before yielding to other operators.
pub const POLL_BUDGET: usize = 4096;
/// Longest one activation spends polling.
const POLL_TIME_BUDGET: Duration = Duration::from_millis(20);
/// How soon an idle source looks again.
const IDLE_RECHECK: Duration = Duration::from_millis(25);
const METADATA_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the raw source commits its read positions to `kafka.group_id`.
const AUTO_COMMIT_INTERVAL_MS: &str = "5000";

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot create the Kafka consumer for {brokers}: {source}")]
    Consumer { brokers: String, source: KafkaError },
    #[error("cannot read metadata of topic {topic}: {source}")]
    Metadata { topic: String, source: KafkaError },
    #[error("topic {topic} does not exist")]
    NoSuchTopic { topic: String },
    #[error("cannot assign partitions of {topic}: {source}")]
    Assign { topic: String, source: KafkaError },
    #[error("cannot restore source positions: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// What one worker's source needs.
#[derive(Clone)]
pub struct SourceSettings {
    pub kafka: KafkaConfig,
    pub topic: String,
    pub tick_ms: u64,
    /// How long after its timestamp a record may still reach a caught-up partition and
    /// keep its own epoch ([`PartitionClocks`]).
    pub grace_ms: u64,
    /// Stop at the end offsets the partitions had at start-up instead of following.
    pub stop_at_end: bool,
    /// Set by the signal handler: stop reading and let the dataflow drain.
    pub shutdown: Arc<AtomicBool>,
    /// A lookup table's compacted topic: read from the beginning whatever
    /// `kafka.start_offset` says, and every record present at start-up takes the first
    /// epoch, so the whole table is in place before any event is looked up.
    pub table: bool,
    /// Resume from and write to these checkpoints (the raw topic's source only).
    pub checkpoints: Option<Arc<Checkpoints>>,
    /// Where a failed checkpoint write is reported.
    pub fatal: FatalSlot,
}

/// A worker's assigned consumer, ready to be moved into the operator.
pub struct OwnedPartitions {
    consumer: Option<BaseConsumer<SourceContext>>,
    /// The partitions this worker owns.
    pub owned: Vec<i32>,
    topic: String,
    /// Owned partitions not yet read to their end (only tracked with `stop_at_end`).
    unfinished: BTreeSet<i32>,
    /// Table partitions not yet read to their end once: their records join the first
    /// epoch instead of their timestamp's.
    bootstrapping: BTreeSet<i32>,
    clocks: PartitionClocks,
    /// Checkpoint bookkeeping, when checkpoints are on.
    ledger: Option<Ledger>,
}

impl OwnedPartitions {
    /// Connects and assigns the partitions `worker` owns among `workers`.
    pub fn assign(
        settings: &SourceSettings,
        worker: usize,
        workers: usize,
    ) -> Result<Self, SourceError> {
        let topic = settings.topic.clone();
        let mut config = client_config(&settings.kafka);
        config
            .set("group.id", &settings.kafka.group_id)
            // Every record handed to the engine stores its offset: the read position,
            // which the statistics turn into consumer lag (see `lag`).
            .set("enable.auto.offset.store", "true")
            .set("statistics.interval.ms", STATISTICS_INTERVAL_MS)
            // The raw source commits its read positions to the group every few seconds
            // and when it closes, so an external lag exporter sees the lag, and sees it
            // grow while the engine is stopped. Only for monitoring: partitions are
            // assigned at explicit offsets (the checkpoint's or `kafka.start_offset`),
            // never at the committed ones. Table topics are always read from the
            // beginning; their positions are nobody's business.
            .set(
                "enable.auto.commit",
                if settings.table { "false" } else { "true" },
            )
            .set("auto.commit.interval.ms", AUTO_COMMIT_INTERVAL_MS)
            // End-of-partition events tell the clocks a partition is caught up.
            .set("enable.partition.eof", "true");
        let consumer: BaseConsumer<SourceContext> = config
            .create_with_context(SourceContext)
            .map_err(|source| SourceError::Consumer {
                brokers: settings.kafka.brokers.clone(),
                source,
            })?;
        let partition_count = partition_ids(&consumer, &topic, METADATA_TIMEOUT)
            .map_err(|source| SourceError::Metadata {
                topic: topic.clone(),
                source,
            })?
            .len() as i32;
        if partition_count == 0 {
            return Err(SourceError::NoSuchTopic { topic });
        }
        let owned = owned_partitions(&topic, partition_count, worker, workers);
        tracing::info!(worker, topic, ?owned, "assigning partitions");
        let mut clocks = PartitionClocks::new(settings.tick_ms, settings.grace_ms, owned.clone());
        if owned.is_empty() {
            return Ok(OwnedPartitions {
                consumer: None,
                owned,
                topic,
                unfinished: BTreeSet::new(),
                bootstrapping: BTreeSet::new(),
                clocks,
                ledger: None,
            });
        }
        let checkpoints = settings.checkpoints.as_ref().filter(|_| !settings.table);
        let restored = match checkpoints {
            Some(checkpoints) => restored_positions(checkpoints, &topic)?,
            None => BTreeMap::new(),
        };
        let mut positions = BTreeMap::new();
        let start_offset = match settings.table {
            true => StartOffset::Earliest,
            false => settings.kafka.start_offset,
        };
        let start = match start_offset {
            StartOffset::Earliest => Offset::Beginning,
            StartOffset::Latest => Offset::End,
        };
        let mut assignment = TopicPartitionList::new();
        let mut unfinished = BTreeSet::new();
        let mut bootstrapping = BTreeSet::new();
        for &partition in &owned {
            let (low, high) = consumer
                .fetch_watermarks(&topic, partition, METADATA_TIMEOUT)
                .map_err(|source| SourceError::Metadata {
                    topic: topic.clone(),
                    source,
                })?;
            let (start, position) = match restored.get(&partition) {
                Some(state) => {
                    clocks.restore(partition, state.bound);
                    (Offset::Offset(state.offset), state.offset)
                }
                None if start_offset == StartOffset::Latest => (start, high),
                None => (start, low),
            };
            positions.insert(partition, position);
            assignment
                .add_partition_offset(&topic, partition, start)
                .map_err(|source| SourceError::Assign {
                    topic: topic.clone(),
                    source,
                })?;
            let empty = high <= position.max(low);
            if empty {
                clocks.caught_up(partition);
            } else {
                if settings.stop_at_end {
                    unfinished.insert(partition);
                }
                if settings.table {
                    bootstrapping.insert(partition);
                }
            }
        }
        consumer
            .assign(&assignment)
            .map_err(|source| SourceError::Assign {
                topic: topic.clone(),
                source,
            })?;
        Ok(OwnedPartitions {
            consumer: Some(consumer),
            owned: owned.clone(),
            topic,
            unfinished,
            bootstrapping,
            clocks,
            ledger: checkpoints.map(|checkpoints| {
                Ledger::new(
                    Arc::clone(checkpoints),
                    worker,
                    settings.topic.clone(),
                    positions,
                    settings.fatal.clone(),
                    Arc::clone(&settings.shutdown),
                )
            }),
        })
    }
}

/// Builds the source operator for one worker.
///
/// With `ahead` (the probe at the end of the dataflow and a span of epochs), the source
/// stops reading while its capability is that far ahead of what the dataflow has
/// finished: a backlog is taken in slices, so memory stays bounded and checkpoints keep
/// being written while it drains.
pub fn kafka_source<'scope>(
    scope: Scope<'scope, Epoch>,
    settings: SourceSettings,
    partitions: OwnedPartitions,
    ahead: Option<(ProbeHandle<Epoch>, u64)>,
) -> Stream<'scope, Epoch, Vec<RawRecord>> {
    source(scope, "KafkaSource", move |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut capability = Some(capability);
        let OwnedPartitions {
            mut consumer,
            owned: _,
            topic,
            mut unfinished,
            mut bootstrapping,
            mut clocks,
            mut ledger,
        } = partitions;
        let stop_at_end = settings.stop_at_end;
        let received = (!settings.table).then(|| {
            metrics()
                .records_received
                .with_label_values(&[settings.topic.as_str()])
        });
        if consumer.is_none() || (stop_at_end && unfinished.is_empty()) {
            // Nothing to read: never hold back the frontier.
            capability = None;
        }
        move |output| {
            let Some(cap) = capability.as_mut() else {
                return;
            };
            if settings.shutdown.load(Ordering::Acquire) {
                tracing::info!(topic, "source stopping on shutdown request");
                if let Some(ledger) = ledger.as_mut() {
                    ledger.finish();
                }
                capability = None;
                consumer = None;
                return;
            }
            let Some(reader) = consumer.as_ref() else {
                return;
            };
            if let Some((probe, span)) = &ahead {
                let done = probe.with_frontier(|frontier| frontier.first().copied());
                if done.is_some_and(|done| cap.time().saturating_sub(done) >= *span) {
                    activator.activate_after(IDLE_RECHECK);
                    return;
                }
            }
            let started = Instant::now();
            let mut emitted = 0usize;
            let mut late = 0u64;
            let mut by_epoch: BTreeMap<Epoch, Vec<RawRecord>> = BTreeMap::new();
            while emitted < POLL_BUDGET && started.elapsed() < POLL_TIME_BUDGET {
                match reader.poll(Duration::ZERO) {
                    None => break,
                    Some(Ok(message)) => {
                        emitted += 1;
                        // A bootstrapping partition's bound stays at the first epoch
                        // until its end: placed without a timestamp, records join it.
                        let timestamp = match bootstrapping.contains(&message.partition()) {
                            true => None,
                            false => message
                                .timestamp()
                                .to_millis()
                                .and_then(|ms| u64::try_from(ms).ok()),
                        };
                        let placement = clocks.place(message.partition(), timestamp);
                        late += u64::from(placement.clamped);
                        if let Some(ledger) = ledger.as_mut() {
                            ledger.record(message.partition(), message.offset(), placement.epoch);
                        }
                        let record = RawRecord {
                            topic: message.topic().to_owned(),
                            partition: message.partition(),
                            offset: message.offset(),
                            stream: message
                                .key()
                                .map(|key| String::from_utf8_lossy(key).into_owned())
                                .unwrap_or_default(),
                            meta: SourceMeta::from_headers(message.headers()),
                            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                        };
                        by_epoch.entry(placement.epoch).or_default().push(record);
                    }
                    Some(Err(KafkaError::PartitionEOF(partition))) => {
                        clocks.caught_up(partition);
                        bootstrapping.remove(&partition);
                        unfinished.remove(&partition);
                    }
                    Some(Err(error)) => {
                        tracing::warn!(topic, %error, "Kafka consumer error; librdkafka retries");
                        break;
                    }
                }
            }
            // Every placed epoch is at or above the partition's earlier bound, hence at or
            // above the capability, which is the least such bound.
            for (epoch, mut records) in by_epoch {
                output
                    .session(&cap.delayed(&epoch))
                    .give_container(&mut records);
            }
            if let Some(received) = &received {
                received.inc_by(emitted as u64);
            }
            if late > 0 {
                metrics().records_late.inc_by(late);
            }
            if stop_at_end && unfinished.is_empty() {
                tracing::info!(topic, "source reached the end of its partitions");
                if let Some(ledger) = ledger.as_mut() {
                    ledger.finish();
                }
                capability = None;
                consumer = None;
                return;
            }
            if let Some(bound) = clocks.advance(now_unix_ms()) {
                if bound > *cap.time() {
                    if let Some(ledger) = ledger.as_mut() {
                        ledger.reach(bound);
                    }
                    cap.downgrade(&bound);
                }
            }
            if emitted > 0 {
                activator.activate();
            } else {
                activator.activate_after(IDLE_RECHECK);
            }
        }
    })
}
