//! Dead letters as Kafka records: the raw bytes untouched, the rest in headers.
//!
//! key = the stream; value = the record's raw bytes exactly as read; headers:
//! `reason` (every parser's refusal), `reason_kind` (a metric-friendly label),
//! `source_id`, `source_label`, `log_types`, and `source_topic`, `source_partition`,
//! `source_offset` to find the original.

use rdkafka::message::{Header, OwnedHeaders};

use super::KafkaRecord;
use crate::parse::DeadLetter;

pub fn dead_letter_record(dead: &DeadLetter) -> KafkaRecord {
    let raw = &dead.record;
    let log_types = raw.meta.log_types.join(",");
    let partition = raw.partition.to_string();
    let offset = raw.offset.to_string();
    let headers = [
        ("reason", dead.reason.as_str()),
        ("reason_kind", dead.kind.as_str()),
        ("source_id", raw.meta.source_id.as_str()),
        ("source_label", raw.meta.source_label.as_str()),
        ("log_types", log_types.as_str()),
        ("source_topic", raw.topic.as_str()),
        ("source_partition", partition.as_str()),
        ("source_offset", offset.as_str()),
    ]
    .into_iter()
    .fold(
        OwnedHeaders::new_with_capacity(8),
        |headers, (key, value)| {
            headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            })
        },
    );
    KafkaRecord {
        key: raw.stream.clone().into_bytes(),
        payload: raw.payload.clone(),
        headers: Some(headers),
    }
}
