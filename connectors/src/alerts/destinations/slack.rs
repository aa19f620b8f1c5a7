//! Slack incoming webhooks: `POST <webhook URL>` with `text` and Block Kit `blocks`.
//!
//! The webhook URL is the credential. `text` is what notifications and clients without
//! blocks show; the blocks carry the facts. Slack's mrkdwn needs `&`, `<` and `>`
//! escaped, and refuses (rather than truncates) over-long blocks.

use serde_json::{json, Value};
use url::Url;

use super::render::{context, facts};
use super::{Auth, HttpRequest};
use crate::alerts::alert::{truncate_chars, Alert};
use crate::alerts::secret::Secret;

#[derive(Debug)]
pub struct Slack {
    pub url: Secret<Url>,
}

/// Block Kit limits: header text 150, a section's text 3000, a field 2000, 10 fields.
const HEADER_MAX: usize = 150;
const TEXT_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const FIELDS_MAX: usize = 10;

impl Slack {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        HttpRequest::json(self.url.expose().clone(), Auth::None, &message(alert))
    }
}

fn message(alert: &Alert) -> Value {
    let headline = alert.headline();
    let fields: Vec<Value> = facts(alert)
        .into_iter()
        .filter(|(label, _)| !matches!(*label, "Runbook" | "Reference" | "Error"))
        .take(FIELDS_MAX)
        .map(|(label, value)| {
            json!({"type": "mrkdwn", "text": truncate_chars(&format!("*{label}*\n{}", escape(&value)), FIELD_MAX)})
        })
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": truncate_chars(&headline, HEADER_MAX)}}),
        json!({"type": "section", "fields": fields}),
    ];
    let mut details = Vec::new();
    if !alert.description.is_empty() {
        details.push(escape(&alert.description));
    }
    if let Some(error) = &alert.error {
        details.push(format!("*Error*\n```{}```", escape(error)));
    }
    if !alert.runbook.is_empty() {
        details.push(format!("*Runbook*\n{}", escape(&alert.runbook)));
    }
    if !alert.reference.is_empty() {
        details.push(format!("*Reference*\n{}", escape(&alert.reference)));
    }
    if let Some(context) = context(alert) {
        details.push(format!("*Alert context*\n```{}```", escape(&context)));
    }
    for detail in details {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": truncate_chars(&detail, TEXT_MAX)}}));
    }
    json!({
        "text": truncate_chars(&format!("[{}] {}", alert.severity, headline), TEXT_MAX),
        "blocks": blocks,
    })
}

/// Slack's three control characters in mrkdwn.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::{body, sample_alert};

    #[test]
    fn the_message_has_fallback_text_a_header_and_escaped_fields() {
        let slack = Slack {
            url: Secret::new(Url::parse("https://hooks.slack.com/services/T/B/X").expect("url")),
        };
        let request = slack.request(&sample_alert());
        assert_eq!(
            request.url.expose().as_str(),
            "https://hooks.slack.com/services/T/B/X"
        );
        assert!(matches!(request.auth, Auth::None));
        let message = body(&request);
        assert_eq!(message["text"], "[HIGH] root logged in from 203.0.113.7");
        assert_eq!(message["blocks"][0]["type"], "header");
        let fields = message["blocks"][1]["fields"].as_array().expect("fields");
        assert!(fields.len() <= FIELDS_MAX);
        assert!(fields
            .iter()
            .any(|f| f["text"] == "*Reports*\nMITRE ATT&amp;CK: TA0001:T1078"));
    }
}
