//! The destination dead-letter topic: alerts a destination refused or that ran out of
//! retries, and records that are not alerts at all.
//!
//! Value: one JSON object — `reason` (`rejected`, `retries_exhausted`, `undecodable`),
//! the destination's `destination_id`, `destination_name` and `type`, the last HTTP
//! `status`, the scrubbed and truncated `response_body` or transport `error`,
//! `attempts`, the `alert_id` and the `alert` itself, and where the record was read
//! (`source`). Key: the alert id. A dead letter never holds a URL, token or signing key:
//! the texts in it were scrubbed by the destination's [`Redactor`] and the destination
//! is named only by id, name and type.
//!
//! [`DeadLetterSink::send`] returns only once the broker has acknowledged the record,
//! because the forwarder commits the alert's offset right after.
//!
//! [`Redactor`]: super::secret::Redactor

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Serialize;
use serde_json::Value;

use super::config::KafkaSettings;
use crate::producer::producer_config;

/// Why a record is a dead letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterReason {
    /// The destination answered in a way retrying cannot change (a 4xx other than 429).
    Rejected,
    /// Every attempt failed with a 5xx, a 429, a timeout or a connection error.
    RetriesExhausted,
    /// The record is not an alert (not JSON, not an object, no `alertId`, bad Avro).
    Undecodable,
}

/// Where the dead record was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourcePosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One dead letter, as written to the topic.
#[derive(Debug, Serialize)]
pub struct DeadLetter<'a> {
    pub reason: DeadLetterReason,
    pub destination_id: Option<&'a str>,
    pub destination_name: Option<&'a str>,
    #[serde(rename = "type")]
    pub destination_type: Option<&'static str>,
    pub status: Option<u16>,
    pub response_body: Option<&'a str>,
    pub error: Option<&'a str>,
    pub attempts: u32,
    pub alert_id: Option<&'a str>,
    pub alert: Option<&'a Value>,
    /// An undecodable record's bytes, base64, since they may not be text.
    pub record_base64: Option<String>,
    pub source: SourcePosition,
}

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot create the dead-letter producer: {0}")]
    Create(KafkaError),
    #[error("dead letter for {key} was not acknowledged: {source}")]
    Produce { key: String, source: KafkaError },
    #[error("dead letter for {key} was dropped before acknowledgement")]
    Dropped { key: String },
}

/// Produces dead letters with acknowledgement.
pub struct DeadLetterSink {
    producer: FutureProducer,
    topic: String,
}

/// A full local queue is waited out this long before the send fails.
const QUEUE_WAIT: Duration = Duration::from_secs(30);

impl DeadLetterSink {
    pub fn new(kafka: &KafkaSettings, topic: &str) -> Result<DeadLetterSink, DeadLetterError> {
        let mut config = producer_config(&kafka.brokers);
        for (key, value) in &kafka.client {
            config.set(key, value);
        }
        Ok(DeadLetterSink {
            producer: config.create().map_err(DeadLetterError::Create)?,
            topic: topic.to_owned(),
        })
    }

    /// Writes one dead letter keyed by `key`; returns once the broker acknowledged it.
    pub fn send(&self, key: &str, letter: &DeadLetter<'_>) -> Result<(), DeadLetterError> {
        // Borrowed strings, numbers and JSON values: serialization cannot fail.
        let payload = serde_json::to_vec(letter).expect("a dead letter serializes");
        let error = |source| DeadLetterError::Produce {
            key: key.to_owned(),
            source,
        };
        let deadline = Instant::now() + QUEUE_WAIT;
        let delivery = loop {
            let record = FutureRecord::to(&self.topic).key(key).payload(&payload);
            match self.producer.send_result(record) {
                Ok(delivery) => break delivery,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err((source, _)) => return Err(error(source)),
            }
        };
        match futures::executor::block_on(delivery) {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((source, _))) => Err(error(source)),
            Err(_) => Err(DeadLetterError::Dropped {
                key: key.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dead_letter_names_the_destination_and_carries_the_alert() {
        let alert = json!({"alertId": "a1", "title": "t"});
        let letter = DeadLetter {
            reason: DeadLetterReason::Rejected,
            destination_id: Some("pd"),
            destination_name: Some("On-call"),
            destination_type: Some("pagerduty"),
            status: Some(400),
            response_body: Some("{\"status\":\"invalid event\"}"),
            error: None,
            attempts: 1,
            alert_id: Some("a1"),
            alert: Some(&alert),
            record_base64: None,
            source: SourcePosition {
                topic: "corvid.alerts".into(),
                partition: 0,
                offset: 7,
            },
        };
        let value = serde_json::to_value(&letter).expect("json");
        assert_eq!(value["reason"], "rejected");
        assert_eq!(value["type"], "pagerduty");
        assert_eq!(value["status"], 400);
        assert_eq!(value["alert"]["alertId"], "a1");
        assert_eq!(value["source"]["offset"], 7);
    }
}
