//! The alert record published on the alerts topic (Panther's alert fields).
//!
//! Keyed by [`Alert::alert_id`]; each update of an alert is a new record with the same
//! key and a higher `eventCount`, so a compacted topic keeps the latest version.
//! `creationTime` and `updateTime` are the ingest epochs of the window's first match and
//! of this update, not wall-clock instants, so a replay reproduces them exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertType {
    Rule,
    RuleError,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub alert_id: String,
    #[serde(rename = "type")]
    pub alert_type: AlertType,
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub destinations: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub alert_context: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Up to `MAX_SAMPLES` matched events of the window, in match order.
    pub samples: Vec<Value>,
}

impl Alert {
    /// This record creates the alert rather than updating it: the first version is the
    /// one of the epoch the alert was created in (its threshold was reached), and every
    /// later version has a later `updateTime`.
    pub fn is_first_version(&self) -> bool {
        self.creation_time == self.update_time
    }
}
