//! Microsoft Teams incoming webhooks: `POST <webhook URL>` with a message holding one
//! Adaptive Card attachment.
//!
//! Teams Workflows webhooks accept only Adaptive Cards, and the retiring Office 365
//! connectors accept them too, so one shape serves both. Version 1.4 is the newest that
//! every Teams client renders.

use serde_json::{json, Value};
use url::Url;

use super::render::{context, facts};
use super::{Auth, HttpRequest};
use crate::alerts::alert::{Alert, Severity};
use crate::alerts::secret::Secret;

#[derive(Debug)]
pub struct Teams {
    pub url: Secret<Url>,
}

impl Teams {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        HttpRequest::json(self.url.expose().clone(), Auth::None, &message(alert))
    }
}

fn message(alert: &Alert) -> Value {
    let color = match alert.severity_level() {
        Some(Severity::Critical | Severity::High) => "Attention",
        Some(Severity::Medium) => "Warning",
        _ => "Default",
    };
    let mut body = vec![json!({
        "type": "TextBlock", "text": alert.headline(), "weight": "Bolder",
        "size": "Medium", "wrap": true, "color": color,
    })];
    if !alert.description.is_empty() {
        body.push(json!({"type": "TextBlock", "text": alert.description, "wrap": true}));
    }
    let facts: Vec<Value> = facts(alert)
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    if let Some(context) = context(alert) {
        body.push(
            json!({"type": "TextBlock", "text": context, "wrap": true, "fontType": "Monospace"}),
        );
    }
    let actions: Vec<Value> = Url::parse(&alert.reference)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .map(|url| json!({"type": "Action.OpenUrl", "title": "Reference", "url": url.as_str()}))
        .into_iter()
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
                "actions": actions,
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::{body, sample_alert};

    #[test]
    fn the_message_is_one_adaptive_card_with_the_facts() {
        let teams = Teams {
            url: Secret::new(Url::parse("https://example.webhook.office.com/x").expect("url")),
        };
        let message = body(&teams.request(&sample_alert()));
        assert_eq!(message["type"], "message");
        let attachment = &message["attachments"][0];
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachment["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["body"][0]["text"], "root logged in from 203.0.113.7");
        assert_eq!(card["body"][0]["color"], "Attention");
        assert_eq!(
            card["body"][2]["facts"][0],
            json!({"title": "Severity", "value": "HIGH"})
        );
        assert_eq!(card["actions"][0]["url"], "https://wiki.example.com/ooo");
    }
}
