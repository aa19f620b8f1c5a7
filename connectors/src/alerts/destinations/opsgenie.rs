//! Opsgenie Alert API: `POST /v2/alerts` with `Authorization: GenieKey <api key>`.
//!
//! `alias` is the alert id: Opsgenie de-duplicates open alerts by alias, so updates and
//! redeliveries add to one Opsgenie alert. Opsgenie answers 202 and creates the alert
//! asynchronously; a 202 is a delivery.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use url::Url;

use super::render::plain_text;
use super::{endpoint, Auth, HttpRequest};
use crate::alerts::alert::{truncate_chars, Alert, Severity};
use crate::alerts::secret::Secret;

/// The US instance; EU accounts use `https://api.eu.opsgenie.com`.
pub const DEFAULT_BASE_URL: &str = "https://api.opsgenie.com";

#[derive(Debug)]
pub struct Opsgenie {
    pub base_url: Url,
    pub api_key: Secret,
}

/// Opsgenie's field limits.
const MESSAGE_MAX: usize = 130;
const DESCRIPTION_MAX: usize = 15_000;
const TAG_MAX: usize = 50;
const DETAIL_VALUE_MAX: usize = 8_000;

impl Opsgenie {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        let key = Secret::new(format!("GenieKey {}", self.api_key.expose()));
        HttpRequest::json(
            endpoint(&self.base_url, &["v2", "alerts"]),
            Auth::Authorization(key),
            &body(alert),
        )
    }
}

/// CRITICAL is P1 down to INFO as P5; an unknown severity is P3.
pub fn priority(severity: Option<Severity>) -> &'static str {
    match severity {
        Some(Severity::Critical) => "P1",
        Some(Severity::High) => "P2",
        Some(Severity::Medium) | None => "P3",
        Some(Severity::Low) => "P4",
        Some(Severity::Info) => "P5",
    }
}

fn body(alert: &Alert) -> Value {
    let tags: Vec<String> = alert
        .tags
        .iter()
        .map(|tag| truncate_chars(tag, TAG_MAX))
        .collect();
    let mut details: BTreeMap<&str, String> = BTreeMap::from([
        ("alertId", alert.alert_id.clone()),
        ("ruleId", alert.rule_id.clone()),
        ("severity", alert.severity.clone()),
        ("eventCount", alert.event_count.to_string()),
        ("logTypes", alert.log_types.join(",")),
        ("firstEventTime", alert.first_event_time.clone()),
        ("lastEventTime", alert.last_event_time.clone()),
    ]);
    if let Some(context) = &alert.alert_context {
        details.insert("alertContext", context.to_string());
    }
    details.retain(|_, value| !value.is_empty());
    for value in details.values_mut() {
        *value = truncate_chars(value, DETAIL_VALUE_MAX);
    }
    json!({
        "message": truncate_chars(&alert.headline(), MESSAGE_MAX),
        "alias": alert.alert_id,
        "description": truncate_chars(&plain_text(alert), DESCRIPTION_MAX),
        "priority": priority(alert.severity_level()),
        "tags": tags,
        "details": details,
        "entity": alert.rule_id,
        "source": "Corvid",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::{body, sample_alert};

    #[test]
    fn an_alert_aliased_by_the_alert_id_with_a_genie_key() {
        let opsgenie = Opsgenie {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("url"),
            api_key: Secret::new("k-123".into()),
        };
        let request = opsgenie.request(&sample_alert());
        assert_eq!(
            request.url.expose().as_str(),
            "https://api.opsgenie.com/v2/alerts"
        );
        assert!(
            matches!(&request.auth, Auth::Authorization(value) if value.expose() == "GenieKey k-123")
        );
        let alert = body(&request);
        assert_eq!(alert["alias"], "0123456789abcdef0123456789abcdef");
        assert_eq!(alert["priority"], "P2");
        assert_eq!(alert["tags"], json!(["Initial Access", "osquery"]));
        assert_eq!(alert["details"]["eventCount"], "3");
        assert!(alert["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("A login outside office hours.")));
    }

    #[test]
    fn priorities_run_from_p1_to_p5() {
        let mapped: Vec<&str> = Severity::ALL
            .into_iter()
            .map(|s| priority(Some(s)))
            .collect();
        assert_eq!(mapped, ["P1", "P2", "P3", "P4", "P5"]);
    }
}
