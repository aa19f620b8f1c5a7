//! `corvid alerts tail`: reads alerts back from the alerts topic.
//!
//! Reads every partition with `assign()` and `read_committed`, so it sees what a
//! downstream subscriber would see. Stops after `idle` without a new record once it has
//! reached the end of every partition, or after `max` alerts. Avro alerts (Confluent
//! framed, `alerts.encoding: avro`) are decoded through the registry and shown as JSON.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::Alert;
use crate::config::KafkaConfig;
use crate::kafka::{client_config, ConsumerLogContext};
use crate::parse::avro::{confluent_schema_id, AvroDecoding};
use corvid_connectors::topics::partition_ids;

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("Kafka error while reading {topic}: {source}")]
    Kafka { topic: String, source: KafkaError },
    #[error("topic {0} does not exist")]
    NoSuchTopic(String),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

pub struct TailOptions {
    pub topic: String,
    pub from_beginning: bool,
    pub idle: Duration,
    pub max: Option<usize>,
    pub json: bool,
    /// Registry to decode Avro alerts with.
    pub schema_registry_url: Option<String>,
}

/// One line per alert update: what a person reads first.
pub fn summary_line(alert: &Alert) -> String {
    format!(
        "ALERT {severity:<8} {title}  (rule {rule}, events {count}, alert {id})",
        severity = alert.severity,
        title = alert.title,
        rule = alert.rule_id,
        count = alert.event_count,
        id = alert.alert_id,
    )
}

/// Prints alerts; returns how many were read.
pub fn tail(
    kafka: &KafkaConfig,
    options: &TailOptions,
    out: &mut dyn Write,
) -> Result<usize, TailError> {
    let kafka_error = |source| TailError::Kafka {
        topic: options.topic.clone(),
        source,
    };
    let consumer: BaseConsumer<ConsumerLogContext> = client_config(kafka)
        .set("group.id", "corvid-alerts-tail")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create_with_context(ConsumerLogContext)
        .map_err(kafka_error)?;
    let partitions =
        partition_ids(&consumer, &options.topic, Duration::from_secs(30)).map_err(kafka_error)?;
    if partitions.is_empty() {
        return Err(TailError::NoSuchTopic(options.topic.clone()));
    }
    let start = if options.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    let mut assignment = TopicPartitionList::new();
    for &partition in &partitions {
        assignment
            .add_partition_offset(&options.topic, partition, start)
            .map_err(kafka_error)?;
    }
    consumer.assign(&assignment).map_err(kafka_error)?;

    let avro = options
        .schema_registry_url
        .as_deref()
        .map(AvroDecoding::new);
    let mut not_at_end: BTreeSet<i32> = partitions.into_iter().collect();
    let mut last_seen = Instant::now();
    let mut count = 0usize;
    loop {
        if options.max.is_some_and(|max| count >= max) {
            break;
        }
        if not_at_end.is_empty() && last_seen.elapsed() >= options.idle {
            break;
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                not_at_end.remove(&partition);
            }
            Some(Err(source)) => return Err(kafka_error(source)),
            Some(Ok(message)) => {
                last_seen = Instant::now();
                let raw = message.payload().unwrap_or_default();
                let decoded = match (&avro, confluent_schema_id(raw)) {
                    (Some(avro), Some(_)) => avro
                        .to_json(raw)
                        .unwrap_or_else(|refusal| refusal.to_string().into_bytes()),
                    _ => raw.to_vec(),
                };
                let payload = decoded.as_slice();
                match serde_json::from_slice::<Alert>(payload) {
                    Ok(alert) if !options.json => writeln!(out, "{}", summary_line(&alert))?,
                    _ => writeln!(out, "{}", String::from_utf8_lossy(payload))?,
                }
                out.flush()?;
                count += 1;
            }
        }
    }
    Ok(count)
}
