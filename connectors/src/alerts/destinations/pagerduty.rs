//! PagerDuty Events API v2: `POST /v2/enqueue` with a `trigger` event.
//!
//! The routing key (an integration key) is in the body, not a header. `dedup_key` is the
//! alert id, so every update of one alert lands on the same PagerDuty incident and a
//! redelivery after a crash is absorbed. Corvid never sends `resolve`: alerts close in
//! PagerDuty, not here.

use serde_json::{json, Value};
use url::Url;

use super::{endpoint, Auth, HttpRequest};
use crate::alerts::alert::{truncate_chars, Alert, Severity};
use crate::alerts::secret::Secret;

pub const DEFAULT_BASE_URL: &str = "https://events.pagerduty.com";

#[derive(Debug)]
pub struct PagerDuty {
    pub base_url: Url,
    pub routing_key: Secret,
}

/// PagerDuty caps `summary` at 1024 characters.
const SUMMARY_MAX: usize = 1024;

impl PagerDuty {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        HttpRequest::json(
            endpoint(&self.base_url, &["v2", "enqueue"]),
            Auth::None,
            &self.event(alert),
        )
    }

    fn event(&self, alert: &Alert) -> Value {
        let mut payload = json!({
            "summary": truncate_chars(&alert.headline(), SUMMARY_MAX),
            "source": "corvid",
            "severity": severity(alert.severity_level()),
            "component": alert.rule_id,
            "group": alert.log_types.join(","),
            "class": alert.alert_type,
            "custom_details": custom_details(alert),
        });
        if let Some(timestamp) = iso_timestamp(&alert.creation_time) {
            payload["timestamp"] = Value::String(timestamp);
        }
        json!({
            "routing_key": self.routing_key.expose(),
            "event_action": "trigger",
            "dedup_key": alert.alert_id,
            "client": "Corvid",
            "payload": payload,
        })
    }
}

/// PagerDuty's four severities; an unknown one is treated as MEDIUM.
pub fn severity(severity: Option<Severity>) -> &'static str {
    match severity {
        Some(Severity::Critical) => "critical",
        Some(Severity::High) => "error",
        Some(Severity::Medium) | None => "warning",
        Some(Severity::Low | Severity::Info) => "info",
    }
}

fn custom_details(alert: &Alert) -> Value {
    let mut details = json!({
        "alertId": alert.alert_id,
        "ruleId": alert.rule_id,
        "severity": alert.severity,
        "eventCount": alert.event_count,
        "logTypes": alert.log_types,
        "firstEventTime": alert.first_event_time,
        "lastEventTime": alert.last_event_time,
        "description": alert.description,
        "runbook": alert.runbook,
        "reference": alert.reference,
        "tags": alert.tags,
        "reports": alert.reports,
    });
    if let Some(context) = &alert.alert_context {
        details["alertContext"] = context.clone();
    }
    if let Some(error) = &alert.error {
        details["error"] = Value::String(error.clone());
    }
    details
}

/// The engine's `2026-11-27 10:00:00.000000000` (UTC) as ISO 8601, which PagerDuty wants.
pub fn iso_timestamp(time: &str) -> Option<String> {
    let parsed = chrono::NaiveDateTime::parse_from_str(time, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    Some(
        parsed
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::{body, sample_alert};

    #[test]
    fn a_trigger_event_keyed_by_the_alert_id() {
        let pagerduty = PagerDuty {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("url"),
            routing_key: Secret::new("R0UT1NGKEY".into()),
        };
        let request = pagerduty.request(&sample_alert());
        assert_eq!(
            request.url.expose().as_str(),
            "https://events.pagerduty.com/v2/enqueue"
        );
        let event = body(&request);
        assert_eq!(event["routing_key"], "R0UT1NGKEY");
        assert_eq!(event["event_action"], "trigger");
        assert_eq!(event["dedup_key"], "0123456789abcdef0123456789abcdef");
        assert_eq!(event["payload"]["severity"], "error");
        assert_eq!(event["payload"]["timestamp"], "2026-11-27T10:00:00.000Z");
        assert_eq!(
            event["payload"]["summary"],
            "root logged in from 203.0.113.7"
        );
        assert_eq!(
            event["payload"]["custom_details"]["alertContext"]["ip"],
            "203.0.113.7"
        );
    }

    #[test]
    fn severities_map_onto_pagerdutys_four() {
        let mapped: Vec<&str> = Severity::ALL
            .into_iter()
            .map(|s| severity(Some(s)))
            .collect();
        assert_eq!(mapped, ["critical", "error", "warning", "info", "info"]);
        assert_eq!(severity(None), "warning");
        assert_eq!(iso_timestamp("yesterday"), None);
    }
}
