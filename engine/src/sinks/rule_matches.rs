//! `rule_matches` and `rule_errors` records: the event a rule matched (or failed on) with
//! Panther's `p_rule_*` / `p_alert_*` columns, keyed by `p_row_id`, for the lake.
//!
//! | field | value |
//! |---|---|
//! | `p_rule_id`, `p_rule_version`, `p_rule_severity` | the rule, its source hash, the outcome's severity |
//! | `p_alert_id` | the alert window the outcome joined (also below the threshold; absent for signal rules) |
//! | `p_alert_creation_time`, `p_alert_update_time` | the window's first epoch, this outcome's epoch |
//! | `p_alert_context` | `alert_context()` as JSON text |
//! | `p_rule_tags` | sorted; `p_rule_reports` values sorted |
//! | `p_rule_error`, `p_rule_error_type` | errors only: the message and the exception class |

use serde_json::{Map, Value};

use super::KafkaRecord;
use crate::alerts::AlertedOutcome;
use crate::event::epoch_timestamp;
use crate::lake::LakeRow;
use crate::rules::OutcomeKind;

/// The event with the rule and alert columns, as a JSON object.
pub fn rule_outcome_fields(alerted: &AlertedOutcome) -> Map<String, Value> {
    let outcome = &alerted.outcome;
    let mut fields = outcome.event.fields().clone();
    let mut put = |name: &str, value: Value| {
        fields.insert(name.to_owned(), value);
    };
    put("p_rule_id", outcome.rule_id.clone().into());
    put("p_rule_version", outcome.rule_version.clone().into());
    put("p_rule_severity", outcome.severity.clone().into());
    if let Some(window) = &alerted.window {
        put("p_alert_id", window.alert_id.clone().into());
        put(
            "p_alert_creation_time",
            epoch_timestamp(window.created).into(),
        );
        put(
            "p_alert_update_time",
            epoch_timestamp(window.updated).into(),
        );
    }
    if let Some(context) = &outcome.alert_context {
        put("p_alert_context", context.clone().into());
    }
    let mut tags = outcome.tags.clone();
    tags.sort();
    put("p_rule_tags", tags.into());
    let reports: Map<String, Value> = outcome
        .reports
        .iter()
        .map(|(framework, values)| {
            let mut values = values.clone();
            values.sort();
            (framework.clone(), values.into())
        })
        .collect();
    put("p_rule_reports", Value::Object(reports));
    if outcome.kind == OutcomeKind::Error {
        put(
            "p_rule_error",
            outcome.error.clone().unwrap_or_default().into(),
        );
        put("p_rule_error_type", outcome.dedup.clone().into());
    }
    fields
}

/// A match's or error's record for its topic: key `p_row_id`, value the row's JSON.
pub fn rule_row_record(row: &LakeRow) -> KafkaRecord {
    let row_id = row
        .fields
        .get("p_row_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    KafkaRecord {
        key: row_id.as_bytes().to_vec(),
        // A map of JSON values always serializes.
        payload: serde_json::to_vec(row.fields.as_ref()).unwrap_or_default(),
        headers: None,
    }
}
