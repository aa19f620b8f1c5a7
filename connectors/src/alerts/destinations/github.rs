//! GitHub issues: `POST /repos/{owner}/{repo}/issues` with a bearer token.
//!
//! GitHub refuses requests without a `User-Agent` (the client sets one) and documents the
//! `Accept` and `X-GitHub-Api-Version` headers sent here. The base URL is the API root:
//! `https://api.github.com`, or `https://HOST/api/v3` for GitHub Enterprise Server.

use serde_json::json;
use url::Url;

use super::render::markdown;
use super::{endpoint, Auth, HttpRequest};
use crate::alerts::alert::{truncate_chars, Alert};
use crate::alerts::secret::Secret;

pub const DEFAULT_BASE_URL: &str = "https://api.github.com";
const API_VERSION: &str = "2022-11-28";

#[derive(Debug)]
pub struct Github {
    pub base_url: Url,
    pub token: Secret,
    pub owner: String,
    pub repo: String,
    /// Labels on every issue, beside the alert's severity.
    pub labels: Vec<String>,
}

/// GitHub caps an issue title at 256 characters and a body at 65536.
const TITLE_MAX: usize = 256;
const BODY_MAX: usize = 65_536;

impl Github {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        let mut labels = self.labels.clone();
        if !alert.severity.is_empty() {
            labels.push(format!("severity:{}", alert.severity.to_lowercase()));
        }
        let issue = json!({
            "title": truncate_chars(&alert.headline(), TITLE_MAX),
            "body": truncate_chars(&markdown(alert), BODY_MAX),
            "labels": labels,
        });
        let mut request = HttpRequest::json(
            endpoint(
                &self.base_url,
                &["repos", &self.owner, &self.repo, "issues"],
            ),
            Auth::Bearer(self.token.clone()),
            &issue,
        );
        request.headers = vec![
            ("Accept", "application/vnd.github+json".to_owned()),
            ("X-GitHub-Api-Version", API_VERSION.to_owned()),
        ];
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::{body, sample_alert};

    #[test]
    fn an_issue_in_the_repository_with_a_markdown_body() {
        let github = Github {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("url"),
            token: Secret::new("ghp_x".into()),
            owner: "acme".into(),
            repo: "soc".into(),
            labels: vec!["corvid".into()],
        };
        let request = github.request(&sample_alert());
        assert_eq!(
            request.url.expose().as_str(),
            "https://api.github.com/repos/acme/soc/issues"
        );
        assert!(matches!(&request.auth, Auth::Bearer(token) if token.expose() == "ghp_x"));
        let issue = body(&request);
        assert_eq!(issue["title"], "root logged in from 203.0.113.7");
        assert_eq!(issue["labels"], json!(["corvid", "severity:high"]));
        assert!(issue["body"]
            .as_str()
            .is_some_and(|b| b.contains("| **Severity** | HIGH |")));
    }
}
