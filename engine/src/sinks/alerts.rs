//! Alerts as Kafka records: key = alert id, value = the alert's JSON.

use super::KafkaRecord;
use crate::alerts::Alert;
use crate::metrics::metrics;

pub fn alert_record(alert: &Alert) -> KafkaRecord {
    metrics()
        .alerts_published
        .with_label_values(&[&alert.rule_id])
        .inc();
    KafkaRecord {
        key: alert.alert_id.clone().into_bytes(),
        // An Alert holds only strings, numbers and JSON values: serialization cannot fail.
        payload: serde_json::to_vec(alert).unwrap_or_default(),
        headers: None,
    }
}
