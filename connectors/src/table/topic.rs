//! The table's topic: its live rows read up to where it ended when the load began, and
//! the load's changes written with acknowledgements.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::plan::{Change, LiveRows};
use super::TableError;
use crate::producer::{producer_config, DeliveryTally, ProduceError, TallyContext};
use crate::topics::partition_ids;

/// Reads every partition of `topic` from its beginning up to the high watermark it had
/// when this call fetched it; records produced later are not part of the live rows.
///
/// Only committed records count (`read_committed`), so a transaction another writer
/// aborted never looks live. Records without a key cannot be table rows and are skipped.
pub(crate) fn read_live(
    brokers: &str,
    topic: &str,
    timeout: Duration,
) -> Result<LiveRows, TableError> {
    let kafka_error = |source| TableError::Kafka {
        topic: topic.to_owned(),
        source,
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // Partitions are assigned, never subscribed, and no offset is committed: the
        // group id only satisfies librdkafka.
        .set("group.id", "corvid-table-loader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .map_err(kafka_error)?;
    let started = Instant::now();
    // The caller has just ensured the topic, and a broker may not list a topic it created
    // a moment ago; reading no partition would leave every live key untombstoned.
    let partitions = loop {
        let partitions = partition_ids(&consumer, topic, timeout).map_err(kafka_error)?;
        if !partitions.is_empty() {
            break partitions;
        }
        if started.elapsed() > timeout {
            return Err(TableError::NoPartitions {
                topic: topic.to_owned(),
                waited: timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut assignment = TopicPartitionList::new();
    // Partitions not read to their end yet, with the high watermark to reach.
    let mut unread: BTreeMap<i32, i64> = BTreeMap::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(kafka_error)?;
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(kafka_error)?;
            unread.insert(partition, high);
        }
    }
    let mut live = LiveRows::default();
    if unread.is_empty() {
        return Ok(live);
    }
    consumer.assign(&assignment).map_err(kafka_error)?;
    let mut keyless = 0_u64;
    while !unread.is_empty() {
        if started.elapsed() > timeout {
            return Err(TableError::ReadTimeout {
                topic: topic.to_owned(),
                waited: timeout,
            });
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(message)) => {
                let partition = message.partition();
                let Some(&high) = unread.get(&partition) else {
                    continue;
                };
                if message.offset() < high {
                    match message.key() {
                        Some(key) => live.apply(partition, key, message.payload()),
                        None => keyless += 1,
                    }
                }
                // Offsets have gaps (compaction, transaction markers), so the last record
                // below the watermark may never come; end-of-partition covers that case.
                if message.offset() + 1 >= high {
                    unread.remove(&partition);
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                unread.remove(&partition);
            }
            Some(Err(error)) => return Err(kafka_error(error)),
        }
    }
    if keyless > 0 {
        tracing::warn!(
            topic,
            keyless,
            "records without a key are not table rows; ignored"
        );
    }
    Ok(live)
}

/// Produces `changes` to `topic` and waits until the broker acknowledged every one.
pub(crate) fn write_changes(
    brokers: &str,
    topic: &str,
    changes: &[Change<'_>],
    timeout: Duration,
) -> Result<(), ProduceError> {
    if changes.is_empty() {
        return Ok(());
    }
    let acks = Arc::new(DeliveryTally::default());
    let mut config = producer_config(brokers);
    // The Java clients' default: a key new to the table lands where Kafka Connect or a
    // Java producer would put it too.
    config.set("partitioner", "murmur2_random");
    let producer: ThreadedProducer<TallyContext> = config
        .create_with_context(TallyContext(Arc::clone(&acks)))
        .map_err(|source| ProduceError::Create {
            brokers: brokers.to_owned(),
            source,
        })?;
    for change in changes {
        let record = match *change {
            Change::Put {
                key,
                value,
                partition,
            } => {
                let record = BaseRecord::to(topic).key(key).payload(value);
                match partition {
                    Some(partition) => record.partition(partition),
                    None => record,
                }
            }
            Change::Tombstone { key, partition } => {
                BaseRecord::to(topic).key(key).partition(partition)
            }
        };
        send(&producer, topic, record)?;
    }
    producer
        .flush(timeout)
        .map_err(|_| ProduceError::FlushTimeout(timeout))?;
    let sent = changes.len() as u64;
    let acknowledged = acks.acknowledged();
    if acknowledged != sent {
        let first_error = acks
            .first_error()
            .unwrap_or_else(|| format!("{acknowledged} acknowledged"));
        return Err(ProduceError::Unacknowledged {
            topic: topic.to_owned(),
            sent,
            failed: sent.saturating_sub(acknowledged),
            first_error,
        });
    }
    Ok(())
}

/// Queues one record; waits while librdkafka's queue is full.
fn send(
    producer: &ThreadedProducer<TallyContext>,
    topic: &str,
    mut record: BaseRecord<'_, [u8], [u8]>,
) -> Result<(), ProduceError> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((source, _)) => {
                return Err(ProduceError::Queue {
                    topic: topic.to_owned(),
                    source,
                })
            }
        }
    }
}
