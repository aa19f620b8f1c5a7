//! The alerts sink's progress records: the last epoch whose alerts are committed.
//!
//! Each transaction of the alerts sink ends with one record on the (compacted) progress
//! topic, keyed by the sink's `transactional.id`, in the same transaction as the alerts
//! (Materialize's Kafka sink design). A `read_committed` reader therefore sees the progress
//! record exactly when it sees the alerts it covers, and a restarted engine that reads its
//! latest progress knows which epochs it must not publish again.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::config::KafkaConfig;
use crate::kafka::{client_config, ConsumerLogContext};
use crate::source::Epoch;
use corvid_connectors::topics::partition_ids;

const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What one committed transaction of the alerts sink covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Every epoch up to and including this one is committed.
    pub epoch: Epoch,
    pub alerts_topic: String,
    /// Alert records in this transaction.
    pub alert_records: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    #[error("cannot read the progress topic {topic}: {source}")]
    Kafka { topic: String, source: KafkaError },
    #[error(
        "progress topic {topic} not read to its end within {0:?}",
        READ_TIMEOUT
    )]
    Timeout { topic: String },
}

/// The newest committed progress record of `transactional_id`, if any.
pub fn read_progress(
    kafka: &KafkaConfig,
    topic: &str,
    transactional_id: &str,
) -> Result<Option<Progress>, ProgressError> {
    let kafka_error = |source| ProgressError::Kafka {
        topic: topic.to_owned(),
        source,
    };
    let mut config = client_config(kafka);
    config
        .set("group.id", "corvid-alerts-progress")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true");
    let consumer: BaseConsumer<ConsumerLogContext> = config
        .create_with_context(ConsumerLogContext)
        .map_err(kafka_error)?;
    let partitions = partition_ids(&consumer, topic, READ_TIMEOUT).map_err(kafka_error)?;
    let mut assignment = TopicPartitionList::new();
    let mut unfinished = Vec::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, READ_TIMEOUT)
            .map_err(kafka_error)?;
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(kafka_error)?;
            unfinished.push(partition);
        }
    }
    if unfinished.is_empty() {
        return Ok(None);
    }
    consumer.assign(&assignment).map_err(kafka_error)?;
    let started = Instant::now();
    let mut latest: Option<Progress> = None;
    while !unfinished.is_empty() {
        if started.elapsed() > READ_TIMEOUT {
            return Err(ProgressError::Timeout {
                topic: topic.to_owned(),
            });
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(message)) => {
                if message.key() != Some(transactional_id.as_bytes()) {
                    continue;
                }
                match message.payload().map(serde_json::from_slice::<Progress>) {
                    Some(Ok(progress))
                        if latest.as_ref().is_none_or(|l| progress.epoch >= l.epoch) =>
                    {
                        latest = Some(progress);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(topic, offset = message.offset(), %error, "unreadable progress record skipped");
                    }
                    None => {}
                }
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                unfinished.retain(|p| *p != partition);
            }
            Some(Err(error)) => return Err(kafka_error(error)),
        }
    }
    Ok(latest)
}
