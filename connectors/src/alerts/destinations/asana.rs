//! Asana tasks: `POST /api/1.0/tasks` with a bearer (personal access) token and the task
//! under `data`, in the projects named by their gids.

use serde_json::json;
use url::Url;

use super::render::plain_text;
use super::{endpoint, Auth, HttpRequest};
use crate::alerts::alert::Alert;
use crate::alerts::secret::Secret;

pub const DEFAULT_BASE_URL: &str = "https://app.asana.com";

#[derive(Debug)]
pub struct Asana {
    pub base_url: Url,
    pub token: Secret,
    /// Project gids the task is added to; Asana needs at least one (or a workspace).
    pub project_gids: Vec<String>,
}

impl Asana {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        let task = json!({
            "data": {
                "name": format!("[{}] {}", alert.severity, alert.headline()),
                "notes": plain_text(alert),
                "projects": self.project_gids,
            }
        });
        HttpRequest::json(
            endpoint(&self.base_url, &["api", "1.0", "tasks"]),
            Auth::Bearer(self.token.clone()),
            &task,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::{body, sample_alert};

    #[test]
    fn a_task_in_the_projects() {
        let asana = Asana {
            base_url: Url::parse(DEFAULT_BASE_URL).expect("url"),
            token: Secret::new("1/abc".into()),
            project_gids: vec!["1200000000000001".into()],
        };
        let request = asana.request(&sample_alert());
        assert_eq!(
            request.url.expose().as_str(),
            "https://app.asana.com/api/1.0/tasks"
        );
        let task = body(&request);
        assert_eq!(
            task["data"]["name"],
            "[HIGH] root logged in from 203.0.113.7"
        );
        assert_eq!(task["data"]["projects"], json!(["1200000000000001"]));
        assert!(task["data"]["notes"]
            .as_str()
            .is_some_and(|n| n.contains("Alert ID: 0123456789abcdef0123456789abcdef")));
    }
}
