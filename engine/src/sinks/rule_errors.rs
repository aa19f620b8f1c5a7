//! Rule-error records: the event a rule failed on, with the failure, keyed by `p_row_id`.

use serde_json::Value;

use super::KafkaRecord;
use crate::rules::RuleOutcome;

pub fn rule_error_record(outcome: &RuleOutcome) -> KafkaRecord {
    let mut fields = outcome.event.fields().clone();
    let mut put = |name: &str, value: &str| {
        fields.insert(name.to_owned(), Value::String(value.to_owned()));
    };
    put("p_rule_id", &outcome.rule_id);
    put("p_rule_version", &outcome.rule_version);
    put("p_rule_error_type", &outcome.dedup);
    put("p_rule_error", outcome.error.as_deref().unwrap_or_default());
    KafkaRecord {
        key: outcome.event.row_id().as_bytes().to_vec(),
        // A map of JSON values always serializes.
        payload: serde_json::to_vec(&fields).unwrap_or_default(),
        headers: None,
    }
}
