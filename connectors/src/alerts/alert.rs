//! The alert as the forwarder reads it from the alerts topic.
//!
//! The engine's `Alert` (engine/src/alerts/record.rs) is the producer side; this is a
//! lenient reader of the same camelCase JSON: unknown fields are ignored and missing or
//! `null` ones take their defaults, so an older or newer engine's alerts still forward.
//! Only `alertId` is required, because it keys dedup at every vendor and the dead letters.
//!
//! The JSON the alert was read from is kept beside the typed fields: the custom webhook
//! sends it unchanged and the dead letters carry it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::Value;

/// Panther's severities, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// Case-insensitive, as rules spell severities either way (`High`, `HIGH`).
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str().eq_ignore_ascii_case(text.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert record: one version of an alert.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Alert {
    pub alert_id: String,
    /// `RULE` or `RULE_ERROR`.
    #[serde(rename = "type")]
    pub alert_type: String,
    pub rule_id: String,
    pub rule_version: String,
    pub title: String,
    pub severity: String,
    pub dedup_string: String,
    pub dedup_period_minutes: u64,
    pub threshold: u64,
    pub event_count: u64,
    pub creation_time: String,
    pub update_time: String,
    pub first_event_time: String,
    pub last_event_time: String,
    pub log_types: Vec<String>,
    pub display_name: String,
    pub description: String,
    pub reference: String,
    pub runbook: String,
    pub tags: Vec<String>,
    pub reports: BTreeMap<String, Vec<String>>,
    /// The rule's `destinations()` override, when it has one.
    pub destinations: Option<Vec<String>>,
    /// Destinations named in the rule's metadata (Panther's `OutputIds`).
    pub output_ids: Option<Vec<String>>,
    pub alert_context: Option<Value>,
    /// The exception of a `RULE_ERROR` alert.
    pub error: Option<String>,
    pub samples: Vec<Value>,
    /// The JSON this alert was read from.
    #[serde(skip)]
    pub json: Value,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AlertError {
    #[error("not an alert object: {0}")]
    Shape(String),
    #[error("alert has no alertId")]
    NoId,
}

impl Alert {
    /// Reads an alert from its JSON.
    pub fn from_json(json: Value) -> Result<Alert, AlertError> {
        let mut lenient = json.clone();
        let Value::Object(fields) = &mut lenient else {
            return Err(AlertError::Shape(format!(
                "expected a JSON object, got {}",
                json_kind(&json)
            )));
        };
        // serde's `default` covers missing fields only; Avro unions and other producers
        // write absent optional fields as null.
        fields.retain(|_, value| !value.is_null());
        let mut alert =
            Alert::deserialize(lenient).map_err(|error| AlertError::Shape(error.to_string()))?;
        if alert.alert_id.is_empty() {
            return Err(AlertError::NoId);
        }
        alert.json = json;
        Ok(alert)
    }

    pub fn severity_level(&self) -> Option<Severity> {
        Severity::parse(&self.severity)
    }

    /// Whether this record is the alert's first version: the engine stamps
    /// `updateTime` with `creationTime` on the record that opens the alert, and later
    /// updates with their own, later epoch.
    pub fn is_first_version(&self) -> bool {
        self.update_time == self.creation_time
    }

    /// The title, or a stand-in for an alert without one.
    pub fn headline(&self) -> String {
        if self.title.trim().is_empty() {
            format!("Alert from rule {}", self.rule_id)
        } else {
            self.title.clone()
        }
    }

    /// The rule's display name, or its id.
    pub fn rule_name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.rule_id
        } else {
            &self.display_name
        }
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut: vendors refuse
/// (not truncate) fields over their limits.
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_ignored_and_missing_or_null_ones_default() {
        let alert = Alert::from_json(json!({
            "alertId": "a1", "severity": "high", "title": null, "tags": null,
            "somethingNew": {"x": 1}, "outputIds": ["o1"],
        }))
        .expect("lenient");
        assert_eq!(alert.alert_id, "a1");
        assert_eq!(alert.severity_level(), Some(Severity::High));
        assert!(alert.tags.is_empty());
        assert_eq!(alert.destinations, None);
        assert_eq!(alert.output_ids, Some(vec!["o1".to_owned()]));
        assert_eq!(alert.json["somethingNew"]["x"], 1);
        assert_eq!(alert.headline(), "Alert from rule ");
    }

    #[test]
    fn an_alert_needs_an_id_and_an_object() {
        assert_eq!(
            Alert::from_json(json!({"title": "t"})),
            Err(AlertError::NoId)
        );
        assert!(matches!(
            Alert::from_json(json!([1])),
            Err(AlertError::Shape(_))
        ));
        assert!(matches!(
            Alert::from_json(json!({"alertId": "a", "eventCount": "many"})),
            Err(AlertError::Shape(_))
        ));
    }

    #[test]
    fn only_the_record_whose_update_is_its_creation_is_the_first_version() {
        let first = Alert::from_json(json!({
            "alertId": "a", "creationTime": "2026-11-27 10:00:00.000000000",
            "updateTime": "2026-11-27 10:00:00.000000000",
        }))
        .expect("alert");
        let update = Alert::from_json(json!({
            "alertId": "a", "creationTime": "2026-11-27 10:00:00.000000000",
            "updateTime": "2026-11-27 10:05:00.000000000",
        }))
        .expect("alert");
        assert!(first.is_first_version());
        assert!(!update.is_first_version());
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("héllo", 3), "hé…");
    }
}
