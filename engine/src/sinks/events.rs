//! Normalized events as Kafka records: key = `p_row_id`, value = the event's JSON.

use super::KafkaRecord;
use crate::event::Event;

pub fn event_record(event: &Event) -> KafkaRecord {
    KafkaRecord {
        key: event.row_id().as_bytes().to_vec(),
        payload: event.to_json().into_bytes(),
        headers: None,
    }
}
