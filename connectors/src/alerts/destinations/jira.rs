//! Jira REST API v2: `POST /rest/api/2/issue` with basic auth (user and API token).
//!
//! Jira has no global endpoint: every site has its own base URL, so it is required.
//! API v2 takes the description as wiki-markup text (v3 would need Atlassian Document
//! Format). Jira labels cannot contain spaces, so tags are joined with `-`.

use serde_json::json;
use url::Url;

use super::render::{context, facts};
use super::{endpoint, Auth, HttpRequest};
use crate::alerts::alert::{truncate_chars, Alert};
use crate::alerts::secret::Secret;

pub const DEFAULT_ISSUE_TYPE: &str = "Task";

#[derive(Debug)]
pub struct Jira {
    pub base_url: Url,
    pub user: String,
    pub api_token: Secret,
    pub project_key: String,
    pub issue_type: String,
    /// Labels on every issue, beside the alert's tags.
    pub labels: Vec<String>,
}

/// Jira's limits: a one-line summary of 255 characters, a description of 32767.
const SUMMARY_MAX: usize = 255;
const DESCRIPTION_MAX: usize = 32_767;

impl Jira {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        let mut labels: Vec<String> = Vec::new();
        for label in self.labels.iter().chain(&alert.tags).map(|l| label(l)) {
            if !label.is_empty() && !labels.contains(&label) {
                labels.push(label);
            }
        }
        let summary = alert.headline().replace(['\r', '\n'], " ");
        let issue = json!({
            "fields": {
                "project": {"key": self.project_key},
                "summary": truncate_chars(&summary, SUMMARY_MAX),
                "description": truncate_chars(&description(alert), DESCRIPTION_MAX),
                "issuetype": {"name": self.issue_type},
                "labels": labels,
            }
        });
        HttpRequest::json(
            endpoint(&self.base_url, &["rest", "api", "2", "issue"]),
            Auth::Basic {
                user: self.user.clone(),
                password: self.api_token.clone(),
            },
            &issue,
        )
    }
}

fn label(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join("-")
}

/// Wiki markup: bold labels, the context in a `{noformat}` block so braces in the JSON
/// are not read as macros.
fn description(alert: &Alert) -> String {
    let mut text = String::new();
    if !alert.description.is_empty() {
        text.push_str(&alert.description);
        text.push_str("\n\n");
    }
    for (label, value) in facts(alert) {
        text.push_str(&format!("*{label}:* {value}\n"));
    }
    if let Some(context) = context(alert) {
        text.push_str(&format!(
            "\n*Alert context:*\n{{noformat}}\n{context}\n{{noformat}}\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::{body, sample_alert};

    #[test]
    fn an_issue_in_the_project_with_labels_from_the_tags() {
        let jira = Jira {
            base_url: Url::parse("https://example.atlassian.net").expect("url"),
            user: "bot@example.com".into(),
            api_token: Secret::new("t".into()),
            project_key: "SEC".into(),
            issue_type: "Bug".into(),
            labels: vec!["corvid".into(), "osquery".into()],
        };
        let request = jira.request(&sample_alert());
        assert_eq!(
            request.url.expose().as_str(),
            "https://example.atlassian.net/rest/api/2/issue"
        );
        assert!(matches!(&request.auth, Auth::Basic { user, .. } if user == "bot@example.com"));
        let fields = &body(&request)["fields"];
        assert_eq!(fields["project"]["key"], "SEC");
        assert_eq!(fields["issuetype"]["name"], "Bug");
        assert_eq!(fields["summary"], "root logged in from 203.0.113.7");
        assert_eq!(
            fields["labels"],
            json!(["corvid", "osquery", "Initial-Access"])
        );
        assert!(fields["description"]
            .as_str()
            .is_some_and(|d| d.contains("*Severity:* HIGH\n") && d.contains("{noformat}")));
    }
}
