//! The forwarder's configuration: its own YAML file, every key documented in
//! `docs/config.md` ("Alert forwarder").
//!
//! Unknown keys are errors, and every check names the key it failed on, e.g.
//! `destinations[2].url: must be an http(s) URL`. Secret values (webhook URLs, tokens,
//! routing keys, signing keys) may be written in the file or as `${ENV_VAR}` references,
//! expanded here at load time; no message ever quotes a secret's value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use corvid_telemetry::MetricsConfig;
use serde::Deserialize;
use url::Url;

use super::alert::Severity;
use super::delivery::RetryPolicy;
use super::destinations::{
    asana::{self, Asana},
    github::{self, Github},
    jira::{self, Jira},
    opsgenie::{self, Opsgenie},
    pagerduty::{self, PagerDuty},
    slack::Slack,
    teams::Teams,
    webhook::Webhook,
    Destination, DestinationKind, DestinationType, Notify,
};
use super::routing::RoutingTable;
use super::secret::{expand_env, Secret};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read forwarder config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid forwarder config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The validated configuration the forwarder runs with.
#[derive(Debug)]
pub struct ForwarderConfig {
    pub kafka: KafkaSettings,
    /// The alerts topic.
    pub topic: String,
    pub group_id: String,
    pub dead_letter_topic: String,
    /// Partitions of the dead-letter topic when the forwarder has to create it.
    pub partitions: i32,
    pub schema_registry_url: Option<String>,
    pub retry: RetryPolicy,
    pub destinations: Vec<Destination>,
    pub routing: RoutingTable,
    /// Where `/metrics` is served; unset: nowhere.
    pub metrics: MetricsConfig,
}

#[derive(Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSettings {
    pub brokers: String,
    /// Extra librdkafka properties for the consumer and the dead-letter producer.
    pub client: BTreeMap<String, String>,
    /// Where a consumer group with no committed offset starts.
    pub start_offset: StartOffset,
}

/// Names the client properties but not their values: `sasl.password`,
/// `ssl.key.password` and the like live there.
impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("client", &self.client.keys().collect::<Vec<_>>())
            .field("start_offset", &self.start_offset)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartOffset {
    Earliest,
    Latest,
}

impl StartOffset {
    pub fn as_str(self) -> &'static str {
        match self {
            StartOffset::Earliest => "earliest",
            StartOffset::Latest => "latest",
        }
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        KafkaSettings {
            brokers: "127.0.0.1:9092".into(),
            client: BTreeMap::new(),
            start_offset: StartOffset::Earliest,
        }
    }
}

/// The file as written.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileConfig {
    kafka: KafkaSettings,
    topic: String,
    group_id: String,
    dead_letter_topic: String,
    partitions: i32,
    schema_registry_url: Option<String>,
    retry: RetrySettings,
    destinations: Vec<DestinationEntry>,
    severity_routes: SeverityRoutes,
    metrics: MetricsConfig,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            kafka: KafkaSettings::default(),
            topic: "corvid.alerts".into(),
            group_id: "corvid-alert-forwarder".into(),
            dead_letter_topic: "corvid.alerts.dead-letters".into(),
            partitions: 4,
            schema_registry_url: None,
            retry: RetrySettings::default(),
            destinations: Vec::new(),
            severity_routes: SeverityRoutes::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RetrySettings {
    attempts: u32,
    initial_backoff_ms: u64,
    max_backoff_ms: u64,
    timeout_ms: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        let policy = RetryPolicy::default();
        RetrySettings {
            attempts: policy.attempts,
            initial_backoff_ms: policy.initial_backoff.as_millis() as u64,
            max_backoff_ms: policy.max_backoff.as_millis() as u64,
            timeout_ms: policy.timeout.as_millis() as u64,
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SeverityRoutes {
    #[serde(rename = "CRITICAL")]
    critical: Vec<String>,
    #[serde(rename = "HIGH")]
    high: Vec<String>,
    #[serde(rename = "MEDIUM")]
    medium: Vec<String>,
    #[serde(rename = "LOW")]
    low: Vec<String>,
    #[serde(rename = "INFO")]
    info: Vec<String>,
}

/// One destination as written: every type's keys, checked against its type afterwards
/// so a key of the wrong type is an error naming it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationEntry {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(rename = "type")]
    kind: DestinationType,
    #[serde(default)]
    notify: Notify,
    url: Option<Secret>,
    secret: Option<Secret>,
    routing_key: Option<Secret>,
    api_key: Option<Secret>,
    api_token: Option<Secret>,
    token: Option<Secret>,
    base_url: Option<String>,
    user: Option<String>,
    project_key: Option<String>,
    issue_type: Option<String>,
    labels: Option<Vec<String>>,
    owner: Option<String>,
    repo: Option<String>,
    project_gids: Option<Vec<String>>,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ForwarderConfig {
    /// Reads and validates a config file; `${VAR}` references read the process
    /// environment.
    pub fn from_file(path: &Path) -> Result<ForwarderConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        ForwarderConfig::from_yaml(&text, &|name| std::env::var(name).ok()).map_err(|message| {
            ConfigError::Invalid {
                path: path.to_owned(),
                message,
            }
        })
    }

    /// Parses YAML text with `env` for `${VAR}` references; the error names the key.
    pub fn from_yaml(text: &str, env: Env<'_>) -> Result<ForwarderConfig, String> {
        let file: FileConfig = if text.trim().is_empty() {
            FileConfig::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?
        };
        file.validate(env)
    }
}

impl FileConfig {
    fn validate(self, env: Env<'_>) -> Result<ForwarderConfig, String> {
        let not_empty = [
            (self.kafka.brokers.trim().is_empty(), "kafka.brokers"),
            (self.topic.trim().is_empty(), "topic"),
            (self.group_id.trim().is_empty(), "group_id"),
            (
                self.dead_letter_topic.trim().is_empty(),
                "dead_letter_topic",
            ),
        ];
        if let Some((_, key)) = not_empty.iter().find(|(empty, _)| *empty) {
            return Err(format!("{key}: must not be empty"));
        }
        if self
            .metrics
            .listen
            .as_deref()
            .is_some_and(|listen| listen.trim().is_empty())
        {
            return Err("metrics.listen: must not be empty (leave it out for no endpoint)".into());
        }
        if self.dead_letter_topic == self.topic {
            return Err("dead_letter_topic: must differ from topic".into());
        }
        if self.partitions < 1 {
            return Err("partitions: must be at least 1".into());
        }
        if let Some(url) = &self.schema_registry_url {
            http_url(url, "schema_registry_url")?;
        }
        let retry = self.retry.policy()?;
        if self.destinations.is_empty() {
            return Err("destinations: at least one destination is required".into());
        }
        let destinations = self
            .destinations
            .into_iter()
            .enumerate()
            .map(|(index, entry)| entry.destination(&format!("destinations[{index}]"), env))
            .collect::<Result<Vec<_>, _>>()?;
        check_unambiguous(&destinations)?;
        let routes = BTreeMap::from([
            (Severity::Critical, self.severity_routes.critical),
            (Severity::High, self.severity_routes.high),
            (Severity::Medium, self.severity_routes.medium),
            (Severity::Low, self.severity_routes.low),
            (Severity::Info, self.severity_routes.info),
        ]);
        let routing = RoutingTable::new(&destinations, &routes)?;
        Ok(ForwarderConfig {
            kafka: self.kafka,
            topic: self.topic,
            group_id: self.group_id,
            dead_letter_topic: self.dead_letter_topic,
            partitions: self.partitions,
            schema_registry_url: self.schema_registry_url,
            retry,
            destinations,
            routing,
            metrics: self.metrics,
        })
    }
}

impl RetrySettings {
    fn policy(&self) -> Result<RetryPolicy, String> {
        if self.attempts == 0 {
            return Err("retry.attempts: must be at least 1".into());
        }
        if self.timeout_ms == 0 {
            return Err("retry.timeout_ms: must be at least 1".into());
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            return Err("retry.max_backoff_ms: must be at least retry.initial_backoff_ms".into());
        }
        Ok(RetryPolicy {
            attempts: self.attempts,
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            timeout: Duration::from_millis(self.timeout_ms),
        })
    }
}

/// A rule names destinations by id or name, so no id or name may mean two of them.
fn check_unambiguous(destinations: &[Destination]) -> Result<(), String> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, destination) in destinations.iter().enumerate() {
        for (key, value) in [("id", &destination.id), ("name", &destination.name)] {
            match seen.get(value.as_str()) {
                Some(&other) if other != index => {
                    return Err(format!(
                        "destinations[{index}].{key}: {value:?} is already the id or name of destinations[{other}]"
                    ))
                }
                _ => {
                    seen.insert(value, index);
                }
            }
        }
    }
    Ok(())
}

impl DestinationEntry {
    /// The keys this entry sets beyond the common ones.
    fn present_keys(&self) -> Vec<&'static str> {
        let present = [
            ("url", self.url.is_some()),
            ("secret", self.secret.is_some()),
            ("routing_key", self.routing_key.is_some()),
            ("api_key", self.api_key.is_some()),
            ("api_token", self.api_token.is_some()),
            ("token", self.token.is_some()),
            ("base_url", self.base_url.is_some()),
            ("user", self.user.is_some()),
            ("project_key", self.project_key.is_some()),
            ("issue_type", self.issue_type.is_some()),
            ("labels", self.labels.is_some()),
            ("owner", self.owner.is_some()),
            ("repo", self.repo.is_some()),
            ("project_gids", self.project_gids.is_some()),
        ];
        present
            .into_iter()
            .filter_map(|(key, set)| set.then_some(key))
            .collect()
    }

    fn destination(self, at: &str, env: Env<'_>) -> Result<Destination, String> {
        if self.id.trim().is_empty() {
            return Err(format!("{at}.id: must not be empty"));
        }
        if self.id == crate::alerts::routing::SKIP {
            return Err(format!(
                "{at}.id: SKIP is reserved: rules use it to send nowhere"
            ));
        }
        let allowed: &[&str] = match self.kind {
            DestinationType::Slack | DestinationType::Teams => &["url"],
            DestinationType::Webhook => &["url", "secret"],
            DestinationType::Pagerduty => &["routing_key", "base_url"],
            DestinationType::Opsgenie => &["api_key", "base_url"],
            DestinationType::Jira => &[
                "base_url",
                "user",
                "api_token",
                "project_key",
                "issue_type",
                "labels",
            ],
            DestinationType::Github => &["base_url", "token", "owner", "repo", "labels"],
            DestinationType::Asana => &["base_url", "token", "project_gids"],
        };
        if let Some(key) = self
            .present_keys()
            .into_iter()
            .find(|key| !allowed.contains(key))
        {
            return Err(format!(
                "{at}.{key}: not a setting of a {} destination",
                self.kind
            ));
        }
        let key = |name: &str| format!("{at}.{name}");
        let secret = |value: Option<&Secret>, name: &str| -> Result<Secret, String> {
            let value = value.ok_or_else(|| format!("{}: required", key(name)))?;
            let expanded = expand_env(value.expose(), &key(name), env)?;
            if expanded.trim().is_empty() {
                return Err(format!("{}: must not be empty", key(name)));
            }
            if expanded.chars().any(char::is_control) {
                return Err(format!(
                    "{}: must not contain control characters",
                    key(name)
                ));
            }
            Ok(Secret::new(expanded))
        };
        let secret_url = |name: &str| -> Result<Secret<Url>, String> {
            let text = secret(self.url.as_ref(), name)?;
            Ok(Secret::new(http_url(text.expose(), &key(name))?))
        };
        let base_url = |default: Option<&str>| -> Result<Url, String> {
            match (self.base_url.as_deref(), default) {
                (Some(url), _) | (None, Some(url)) => http_url(url, &key("base_url")),
                (None, None) => Err(format!("{}: required", key("base_url"))),
            }
        };
        let text = |value: &Option<String>, name: &str| -> Result<String, String> {
            match value.as_deref().map(str::trim) {
                Some(text) if !text.is_empty() => Ok(text.to_owned()),
                _ => Err(format!("{}: required", key(name))),
            }
        };
        let kind = match self.kind {
            DestinationType::Slack => DestinationKind::Slack(Slack {
                url: secret_url("url")?,
            }),
            DestinationType::Teams => DestinationKind::Teams(Teams {
                url: secret_url("url")?,
            }),
            DestinationType::Webhook => DestinationKind::Webhook(Webhook {
                url: secret_url("url")?,
                secret: match &self.secret {
                    Some(_) => Some(secret(self.secret.as_ref(), "secret")?),
                    None => None,
                },
            }),
            DestinationType::Pagerduty => DestinationKind::Pagerduty(PagerDuty {
                base_url: base_url(Some(pagerduty::DEFAULT_BASE_URL))?,
                routing_key: secret(self.routing_key.as_ref(), "routing_key")?,
            }),
            DestinationType::Opsgenie => DestinationKind::Opsgenie(Opsgenie {
                base_url: base_url(Some(opsgenie::DEFAULT_BASE_URL))?,
                api_key: secret(self.api_key.as_ref(), "api_key")?,
            }),
            DestinationType::Jira => DestinationKind::Jira(Jira {
                base_url: base_url(None)?,
                user: text(&self.user, "user")?,
                api_token: secret(self.api_token.as_ref(), "api_token")?,
                project_key: text(&self.project_key, "project_key")?,
                issue_type: match &self.issue_type {
                    Some(_) => text(&self.issue_type, "issue_type")?,
                    None => jira::DEFAULT_ISSUE_TYPE.to_owned(),
                },
                labels: self.labels.clone().unwrap_or_default(),
            }),
            DestinationType::Github => DestinationKind::Github(Github {
                base_url: base_url(Some(github::DEFAULT_BASE_URL))?,
                token: secret(self.token.as_ref(), "token")?,
                owner: github_name(&text(&self.owner, "owner")?, &key("owner"))?,
                repo: github_name(&text(&self.repo, "repo")?, &key("repo"))?,
                labels: self.labels.clone().unwrap_or_default(),
            }),
            DestinationType::Asana => {
                let gids = self.project_gids.clone().unwrap_or_default();
                if gids.is_empty() {
                    return Err(format!(
                        "{}: at least one project gid is required",
                        key("project_gids")
                    ));
                }
                if let Some(position) = gids
                    .iter()
                    .position(|gid| gid.is_empty() || !gid.chars().all(|c| c.is_ascii_digit()))
                {
                    return Err(format!(
                        "{}[{position}]: a gid is a string of digits",
                        key("project_gids")
                    ));
                }
                DestinationKind::Asana(Asana {
                    base_url: base_url(Some(asana::DEFAULT_BASE_URL))?,
                    token: secret(self.token.as_ref(), "token")?,
                    project_gids: gids,
                })
            }
        };
        let name = self.name.unwrap_or_else(|| self.id.clone());
        Ok(Destination {
            id: self.id,
            name,
            notify: self.notify,
            kind,
        })
    }
}

/// An http(s) URL; the message never quotes it, since it may be a secret.
fn http_url(text: &str, key: &str) -> Result<Url, String> {
    match Url::parse(text.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err(format!("{key}: must be an http(s) URL")),
    }
}

/// GitHub owner and repository names: letters, digits, `-`, `_`, `.`.
fn github_name(name: &str, key: &str) -> Result<String, String> {
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid && name != "." && name != ".." {
        Ok(name.to_owned())
    } else {
        Err(format!("{key}: not a GitHub owner or repository name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn load(text: &str) -> Result<ForwarderConfig, String> {
        ForwarderConfig::from_yaml(text, &no_env)
    }

    const FULL: &str = r#"
kafka:
  brokers: kafka:9092
  client: {security.protocol: SASL_SSL, sasl.password: kafka-password}
  start_offset: latest
topic: alerts
group_id: fwd
dead_letter_topic: alerts.dlq
partitions: 2
schema_registry_url: http://registry:8081
retry: {attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 100, timeout_ms: 500}
destinations:
  - {id: slack-soc, name: SOC Slack, type: slack, url: "https://hooks.slack.com/services/T/B/X"}
  - {id: pd, type: pagerduty, notify: every, routing_key: "${PD_KEY}"}
  - {id: teams, type: teams, url: "https://example.webhook.office.com/w"}
  - {id: og, type: opsgenie, api_key: k, base_url: "https://api.eu.opsgenie.com"}
  - {id: jira, type: jira, base_url: "https://acme.atlassian.net", user: bot@acme.com, api_token: t, project_key: SEC, labels: [corvid]}
  - {id: gh, type: github, token: t, owner: acme, repo: soc}
  - {id: asana, type: asana, token: t, project_gids: ["1200000000000001"]}
  - {id: hook, type: webhook, url: "http://127.0.0.1:8080/alerts", secret: s}
severity_routes:
  CRITICAL: [pd, SOC Slack]
  HIGH: [slack-soc]
metrics: {listen: "0.0.0.0:9465"}
"#;

    #[test]
    fn every_key_loads_with_env_references_expanded() {
        let env = |name: &str| (name == "PD_KEY").then(|| "pd-routing-key".to_owned());
        let config = ForwarderConfig::from_yaml(FULL, &env).expect("valid");
        assert_eq!(config.kafka.start_offset, StartOffset::Latest);
        assert_eq!(config.metrics.listen.as_deref(), Some("0.0.0.0:9465"));
        assert_eq!(config.topic, "alerts");
        assert_eq!(config.retry.attempts, 3);
        assert_eq!(config.destinations.len(), 8);
        let DestinationKind::Pagerduty(pd) = &config.destinations[1].kind else {
            panic!("pagerduty");
        };
        assert_eq!(pd.routing_key.expose(), "pd-routing-key");
        assert_eq!(pd.base_url.as_str(), "https://events.pagerduty.com/");
        assert_eq!(config.destinations[1].notify, Notify::Every);
        assert_eq!(config.destinations[0].notify, Notify::First);
        assert_eq!(config.destinations[1].name, "pd");
        let DestinationKind::Jira(jira) = &config.destinations[4].kind else {
            panic!("jira");
        };
        assert_eq!(jira.issue_type, "Task");
        // Nothing secret in the Debug form of the whole config.
        let debug = format!("{config:?}");
        for secret in [
            "pd-routing-key",
            "services/T/B/X",
            "office.com/w",
            "127.0.0.1:8080",
            "kafka-password",
        ] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
    }

    #[test]
    fn the_example_file_loads() {
        let example = include_str!("../../../deploy/forwarder.example.yaml");
        let env = |name: &str| Some(format!("https://secrets.example.com/{name}"));
        let config = ForwarderConfig::from_yaml(example, &env).expect("example is valid");
        assert_eq!(config.destinations.len(), 8);
        assert_eq!(config.retry, RetryPolicy::default());
        assert_eq!(config.metrics.listen.as_deref(), Some("0.0.0.0:9465"));
    }

    #[test]
    fn defaults_fill_everything_but_destinations() {
        let config = load("destinations: [{id: h, type: webhook, url: 'https://x.example/h'}]")
            .expect("valid");
        assert_eq!(config.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(config.topic, "corvid.alerts");
        assert_eq!(config.group_id, "corvid-alert-forwarder");
        assert_eq!(config.dead_letter_topic, "corvid.alerts.dead-letters");
        assert_eq!(config.retry, RetryPolicy::default());
        assert_eq!(config.metrics.listen, None);
        assert_eq!(
            load("").err().as_deref(),
            Some("destinations: at least one destination is required")
        );
    }

    #[test]
    fn errors_name_the_key_and_never_the_secret() {
        let cases = [
            (
                "destinations: [{id: a, type: webhook, url: 'ftp://secret-host/x'}]",
                "destinations[0].url: must be an http(s) URL",
            ),
            (
                "destinations: [{id: a, type: slack, url: 'https://h.example/x'}, {id: b, type: webhook, url: 'not a url secret'}]",
                "destinations[1].url: must be an http(s) URL",
            ),
            (
                "destinations: [{id: a, type: slack, url: 'https://h.example/x', routing_key: k}]",
                "destinations[0].routing_key: not a setting of a slack destination",
            ),
            (
                "destinations: [{id: a, type: pagerduty}]",
                "destinations[0].routing_key: required",
            ),
            (
                "destinations: [{id: a, type: pagerduty, routing_key: '${NOPE}'}]",
                "destinations[0].routing_key: environment variable NOPE is not set",
            ),
            (
                "destinations: [{id: a, type: jira, user: u, api_token: t, project_key: K}]",
                "destinations[0].base_url: required",
            ),
            (
                "destinations: [{id: a, type: github, token: t, owner: 'a/b', repo: r}]",
                "destinations[0].owner: not a GitHub owner or repository name",
            ),
            (
                "destinations: [{id: a, type: asana, token: t, project_gids: []}]",
                "destinations[0].project_gids: at least one project gid is required",
            ),
            (
                "destinations: [{id: a, type: webhook, url: 'https://x.example'}, {id: b, name: a, type: webhook, url: 'https://x.example'}]",
                "destinations[1].name: \"a\" is already the id or name of destinations[0]",
            ),
            (
                "destinations: [{id: a, type: webhook, url: 'https://x.example'}]\nseverity_routes: {HIGH: [b]}",
                "severity_routes.HIGH[0]: no destination has the id or name \"b\"",
            ),
            (
                "retry: {attempts: 0}\ndestinations: [{id: a, type: webhook, url: 'https://x.example'}]",
                "retry.attempts: must be at least 1",
            ),
            (
                "metrics: {listen: ''}\ndestinations: [{id: a, type: webhook, url: 'https://x.example'}]",
                "metrics.listen: must not be empty (leave it out for no endpoint)",
            ),
            (
                "topic: t\ndead_letter_topic: t\ndestinations: [{id: a, type: webhook, url: 'https://x.example'}]",
                "dead_letter_topic: must differ from topic",
            ),
        ];
        for (yaml, expected) in cases {
            let error = load(yaml).expect_err(yaml);
            assert_eq!(error, expected, "{yaml}");
        }
    }

    #[test]
    fn unknown_keys_and_types_are_refused_by_name() {
        let error =
            load("destinations: [{id: a, type: webhook, url: 'https://x.example', colour: red}]")
                .expect_err("unknown key");
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error =
            load("destinations: [{id: a, type: carrier-pigeon}]").expect_err("unknown type");
        assert!(
            error.contains("unknown variant `carrier-pigeon`"),
            "{error}"
        );
        let error = load("severity_routes: {SEVERE: [a]}").expect_err("unknown severity");
        assert!(error.contains("unknown field `SEVERE`"), "{error}");
        let error = load("retyr: {}").expect_err("typo");
        assert!(error.contains("unknown field `retyr`"), "{error}");
        let error = load("metrics: {listne: x}").expect_err("typo in metrics");
        assert!(error.contains("unknown field `listne`"), "{error}");
    }
}
