//! Alert destinations: one module per vendor, each turning an [`Alert`] into the one HTTP
//! request that vendor documents for "open an alert" (or an issue, or a task).
//!
//! A vendor module is pure: config in, [`HttpRequest`] out, no I/O, so the request shape
//! is tested without a network. Sending, retries and dead letters are the same for every
//! vendor and live in [`crate::alerts::delivery`].
//!
//! Every secret a destination holds (a webhook URL, a token, a routing key, a signing
//! key) is a [`Secret`], and [`Destination::redactor`] lists every form of them so that
//! text from outside (errors, response bodies) is scrubbed before it is logged.

pub mod asana;
pub mod github;
pub mod jira;
pub mod opsgenie;
pub mod pagerduty;
mod render;
pub mod slack;
pub mod teams;
pub mod webhook;

use std::fmt;

use serde::Deserialize;
use url::Url;

use super::alert::Alert;
use super::secret::{Redactor, Secret};

/// The kinds of destination, as the config's `type` spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DestinationType {
    Slack,
    Pagerduty,
    Teams,
    Opsgenie,
    Jira,
    Github,
    Asana,
    Webhook,
}

impl DestinationType {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationType::Slack => "slack",
            DestinationType::Pagerduty => "pagerduty",
            DestinationType::Teams => "teams",
            DestinationType::Opsgenie => "opsgenie",
            DestinationType::Jira => "jira",
            DestinationType::Github => "github",
            DestinationType::Asana => "asana",
            DestinationType::Webhook => "webhook",
        }
    }
}

impl fmt::Display for DestinationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which versions of an alert a destination receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Notify {
    /// Only the record that opens the alert (Panther notifies on creation).
    #[default]
    First,
    /// Every update: each later record with a higher event count.
    Every,
}

/// One configured destination.
#[derive(Debug)]
pub struct Destination {
    /// The stable id rules and routes name.
    pub id: String,
    /// A human name, also accepted where rules name destinations.
    pub name: String,
    pub notify: Notify,
    pub kind: DestinationKind,
}

/// The vendor and its settings.
#[derive(Debug)]
pub enum DestinationKind {
    Slack(slack::Slack),
    Pagerduty(pagerduty::PagerDuty),
    Teams(teams::Teams),
    Opsgenie(opsgenie::Opsgenie),
    Jira(jira::Jira),
    Github(github::Github),
    Asana(asana::Asana),
    Webhook(webhook::Webhook),
}

impl Destination {
    pub fn destination_type(&self) -> DestinationType {
        match &self.kind {
            DestinationKind::Slack(_) => DestinationType::Slack,
            DestinationKind::Pagerduty(_) => DestinationType::Pagerduty,
            DestinationKind::Teams(_) => DestinationType::Teams,
            DestinationKind::Opsgenie(_) => DestinationType::Opsgenie,
            DestinationKind::Jira(_) => DestinationType::Jira,
            DestinationKind::Github(_) => DestinationType::Github,
            DestinationKind::Asana(_) => DestinationType::Asana,
            DestinationKind::Webhook(_) => DestinationType::Webhook,
        }
    }

    /// Whether this version of the alert goes to this destination at all.
    pub fn wants(&self, alert: &Alert) -> bool {
        self.notify == Notify::Every || alert.is_first_version()
    }

    /// The request that delivers `alert`.
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        match &self.kind {
            DestinationKind::Slack(slack) => slack.request(alert),
            DestinationKind::Pagerduty(pagerduty) => pagerduty.request(alert),
            DestinationKind::Teams(teams) => teams.request(alert),
            DestinationKind::Opsgenie(opsgenie) => opsgenie.request(alert),
            DestinationKind::Jira(jira) => jira.request(alert),
            DestinationKind::Github(github) => github.request(alert),
            DestinationKind::Asana(asana) => asana.request(alert),
            DestinationKind::Webhook(webhook) => webhook.request(alert),
        }
    }

    /// Every form of this destination's secrets, to scrub from foreign text.
    pub fn redactor(&self) -> Redactor {
        let mut redactor = Redactor::default();
        match &self.kind {
            DestinationKind::Slack(slack) => redactor.add_url(slack.url.expose()),
            DestinationKind::Teams(teams) => redactor.add_url(teams.url.expose()),
            DestinationKind::Webhook(webhook) => {
                redactor.add_url(webhook.url.expose());
                if let Some(secret) = &webhook.secret {
                    redactor.add(secret.expose().as_str());
                }
            }
            DestinationKind::Pagerduty(pagerduty) => {
                redactor.add(pagerduty.routing_key.expose().as_str())
            }
            DestinationKind::Opsgenie(opsgenie) => redactor.add(opsgenie.api_key.expose().as_str()),
            DestinationKind::Jira(jira) => {
                redactor.add(jira.api_token.expose().as_str());
                redactor.add(basic_credentials(&jira.user, jira.api_token.expose()));
            }
            DestinationKind::Github(github) => redactor.add(github.token.expose().as_str()),
            DestinationKind::Asana(asana) => redactor.add(asana.token.expose().as_str()),
        }
        redactor
    }
}

/// How a request proves who sends it.
#[derive(Debug)]
pub enum Auth {
    None,
    Bearer(Secret),
    Basic {
        user: String,
        password: Secret,
    },
    /// A whole `Authorization` header value, e.g. Opsgenie's `GenieKey <key>`.
    Authorization(Secret),
}

/// One POST with a JSON body.
#[derive(Debug)]
pub struct HttpRequest {
    /// A secret itself for webhooks; never printed for any destination, so one rule
    /// covers all: URLs are not logged.
    pub url: Secret<Url>,
    pub auth: Auth,
    /// Extra headers; `Content-Type: application/json` is always sent.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn json(url: Url, auth: Auth, body: &serde_json::Value) -> HttpRequest {
        HttpRequest {
            url: Secret::new(url),
            auth,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }
}

/// `base` with `segments` appended to its path, so a base URL with a path prefix (a
/// GitHub Enterprise `/api/v3`, a reverse proxy) keeps it.
pub fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The base64 `user:password` of HTTP basic auth: a form a server may echo back.
fn basic_credentials(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A HIGH alert with every field a vendor maps.
    pub(crate) fn sample_alert() -> Alert {
        Alert::from_json(json!({
            "alertId": "0123456789abcdef0123456789abcdef",
            "type": "RULE",
            "ruleId": "Osquery.OutOfOfficeLogin",
            "ruleVersion": "v1",
            "title": "root logged in from 203.0.113.7",
            "severity": "HIGH",
            "dedupString": "root",
            "dedupPeriodMinutes": 60,
            "threshold": 1,
            "eventCount": 3,
            "creationTime": "2026-11-27 10:00:00.000000000",
            "updateTime": "2026-11-27 10:00:00.000000000",
            "firstEventTime": "2026-11-27 09:59:58.000000000",
            "lastEventTime": "2026-11-27 09:59:59.000000000",
            "logTypes": ["Osquery.Differential"],
            "displayName": "Out of office login",
            "description": "A login outside office hours.",
            "reference": "https://wiki.example.com/ooo",
            "runbook": "Call the user.",
            "tags": ["Initial Access", "osquery"],
            "reports": {"MITRE ATT&CK": ["TA0001:T1078"]},
            "alertContext": {"ip": "203.0.113.7"},
            "samples": [{"user": "root"}],
        }))
        .expect("sample alert")
    }

    pub(crate) fn body(request: &HttpRequest) -> Value {
        serde_json::from_slice(&request.body).expect("JSON body")
    }

    #[test]
    fn endpoints_keep_a_base_path_and_encode_segments() {
        let base = Url::parse("https://ghe.example.com/api/v3/").expect("url");
        assert_eq!(
            endpoint(&base, &["repos", "o", "r w", "issues"]).as_str(),
            "https://ghe.example.com/api/v3/repos/o/r%20w/issues"
        );
        let root = Url::parse("https://events.pagerduty.com").expect("url");
        assert_eq!(
            endpoint(&root, &["v2", "enqueue"]).as_str(),
            "https://events.pagerduty.com/v2/enqueue"
        );
    }

    #[test]
    fn basic_credentials_are_standard_base64() {
        assert_eq!(
            basic_credentials("Aladdin", "open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic_credentials("a", "b"), "YTpi");
        assert_eq!(basic_credentials("ab", "c"), "YWI6Yw==");
    }

    #[test]
    fn the_redactor_covers_every_secret_of_a_destination() {
        let jira = Destination {
            id: "j".into(),
            name: "j".into(),
            notify: Notify::First,
            kind: DestinationKind::Jira(jira::Jira {
                base_url: Url::parse("https://example.atlassian.net").expect("url"),
                user: "bot@example.com".into(),
                api_token: Secret::new("jira-token-123".into()),
                project_key: "SEC".into(),
                issue_type: "Task".into(),
                labels: vec![],
            }),
        };
        let redactor = jira.redactor();
        let echoed = format!(
            "bad token jira-token-123 in Basic {}",
            basic_credentials("bot@example.com", "jira-token-123")
        );
        assert_eq!(
            redactor.scrub(&echoed),
            "bad token [redacted] in Basic [redacted]"
        );
    }
}
