//! Engine configuration: one YAML file, every key documented in `docs/config.md`.
//!
//! Without a file the defaults run on one machine (broker 127.0.0.1:9092, rules from
//! `./rules`, state under `./data`). Unknown keys are errors that name the key: a typo
//! must fail at start-up, not silently fall back to a default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The whole engine configuration.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    /// Directory of Panther-format detections.
    pub rules_dir: PathBuf,
    /// How long one rule function may run on one event before it is interrupted.
    pub rule_timeout_ms: u64,
    /// Seconds between checks of `rules_dir` for changes (hot reload); 0 turns it off.
    pub rules_reload_secs: f64,
    /// Directory of custom log type schemas, added to the built-in ones.
    pub schemas_dir: Option<PathBuf>,
    /// Schema registry for Confluent-framed Avro raw records (e.g. `http://127.0.0.1:8081`).
    pub schema_registry_url: Option<String>,
    /// Directory for local state (checkpoints, the embedded lake).
    pub state_dir: PathBuf,
    /// Timely worker threads in this process.
    pub workers: usize,
    /// Length of an ingest epoch in milliseconds.
    pub epoch_ms: u64,
    /// How late (after its Kafka timestamp) a record may reach a caught-up partition and
    /// still keep its own epoch; also how far a quiet partition holds the frontier back.
    pub epoch_grace_ms: u64,
    pub alerts: AlertsConfig,
    pub lake: LakeConfig,
    /// Lookup tables and tables learned from the logs, joined in as `p_enrichment`.
    pub enrichment: crate::enrich::EnrichmentConfig,
    /// Checkpoints of the dataflow's state, for restarts without loss or duplicates.
    pub checkpoint: crate::checkpoint::CheckpointConfig,
    /// Where `/metrics` is served (`docs/metrics.md`); unset: nowhere.
    pub metrics: corvid_telemetry::MetricsConfig,
}

/// The data lake: where it is and how files are cut.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LakeConfig {
    /// Write every event, rule match and rule error to the lake.
    pub enabled: bool,
    /// A directory, `file:///dir` or `s3://bucket/prefix`; default `<state_dir>/lake`.
    pub url: Option<String>,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: bool,
    /// A file spans at most this many seconds of epochs.
    pub roll_secs: f64,
    /// A file is cut once its Parquet size reaches this many MiB.
    pub max_file_mib: u64,
}

impl Default for LakeConfig {
    fn default() -> Self {
        LakeConfig {
            enabled: true,
            url: None,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
            roll_secs: 300.0,
            max_file_mib: 128,
        }
    }
}

impl std::fmt::Debug for LakeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeConfig")
            .field("enabled", &self.enabled)
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("roll_secs", &self.roll_secs)
            .field("max_file_mib", &self.max_file_mib)
            .finish_non_exhaustive()
    }
}

impl LakeConfig {
    /// Where checkpoints live: `checkpoint.url` with the lake's endpoint and credentials,
    /// else `_corvid/checkpoints` beside the lake's tables.
    pub fn checkpoint_location(
        &self,
        state_dir: &Path,
        checkpoint_url: Option<&str>,
    ) -> corvid_lake::LakeLocation {
        let mut location = self.location(state_dir);
        location.url = match checkpoint_url {
            Some(url) => url.to_owned(),
            None => format!("{}/_corvid/checkpoints", location.url.trim_end_matches('/')),
        };
        location
    }

    /// The lake's location, the URL defaulting to `<state_dir>/lake`.
    pub fn location(&self, state_dir: &Path) -> corvid_lake::LakeLocation {
        corvid_lake::LakeLocation {
            url: self
                .url
                .clone()
                .unwrap_or_else(|| state_dir.join("lake").display().to_string()),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            allow_http: self.allow_http,
        }
    }
}

/// The alerts topic's encoding and transactional sink.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    pub encoding: AlertEncodingName,
    /// The sink's stable `transactional.id`; default `corvid-alerts.<topics.alerts>`.
    /// Keep it across restarts: a restarted engine fences its predecessor with it.
    pub transactional_id: Option<String>,
    /// Compacted topic of the sink's progress records (last committed epoch).
    pub progress_topic: String,
    /// Matched events an alert carries as samples.
    pub max_samples: usize,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AlertEncodingName {
    Json,
    Avro,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            encoding: AlertEncodingName::Json,
            transactional_id: None,
            progress_topic: "corvid.alerts.progress".into(),
            max_samples: 10,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
    /// Where a partition with no recorded position starts.
    pub start_offset: StartOffset,
    /// Consumer group the raw source commits its read positions to, for lag monitoring
    /// only: where the engine resumes is decided by checkpoints, never by this group.
    pub group_id: String,
    /// Extra librdkafka properties for every client (e.g. TLS or SASL settings).
    pub client: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartOffset {
    Earliest,
    Latest,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    pub raw: String,
    pub alerts: String,
    pub dead_letters: String,
    /// When set, every normalized event is also published here (JSON, keyed by
    /// `p_row_id`), for downstream consumers and for inspecting the parsers.
    pub events: Option<String>,
    /// Rule errors (the event, the rule, the exception), keyed by `p_row_id`.
    pub rule_errors: String,
    /// Rule matches (the event plus the `p_rule_*` / `p_alert_*` fields), keyed by
    /// `p_row_id`.
    pub rule_matches: String,
    /// Partitions for topics the engine creates when they do not exist.
    pub partitions: i32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            kafka: KafkaConfig::default(),
            topics: TopicsConfig::default(),
            rules_dir: PathBuf::from("rules"),
            rule_timeout_ms: 5000,
            rules_reload_secs: 2.0,
            schemas_dir: None,
            schema_registry_url: None,
            state_dir: PathBuf::from("data"),
            workers: 2,
            epoch_ms: 1000,
            epoch_grace_ms: 2000,
            alerts: AlertsConfig::default(),
            lake: LakeConfig::default(),
            enrichment: crate::enrich::EnrichmentConfig::default(),
            checkpoint: crate::checkpoint::CheckpointConfig::default(),
            metrics: corvid_telemetry::MetricsConfig::default(),
        }
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            start_offset: StartOffset::Earliest,
            group_id: "corvid-engine".into(),
            client: BTreeMap::new(),
        }
    }
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            raw: "corvid.raw".into(),
            alerts: "corvid.alerts".into(),
            dead_letters: "corvid.dead-letters".into(),
            events: None,
            rule_errors: "corvid.rule-errors".into(),
            rule_matches: "corvid.rule-matches".into(),
            partitions: 4,
        }
    }
}

impl EngineConfig {
    /// The alerts sink's `transactional.id`.
    pub fn alerts_transactional_id(&self) -> String {
        self.alerts
            .transactional_id
            .clone()
            .unwrap_or_else(|| format!("corvid-alerts.{}", self.topics.alerts))
    }

    /// Reads and validates a config file.
    pub fn from_file(path: &Path) -> Result<EngineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        EngineConfig::from_yaml(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses YAML text; the error message names the offending key.
    pub fn from_yaml(text: &str) -> Result<EngineConfig, String> {
        // An empty file means "all defaults", which serde_yaml_ng reads as a unit value.
        if text.trim().is_empty() {
            return Ok(EngineConfig::default());
        }
        let config: EngineConfig = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        let checks = [
            (self.workers == 0, "workers: must be at least 1"),
            (self.epoch_ms == 0, "epoch_ms: must be at least 1"),
            (
                self.rule_timeout_ms == 0,
                "rule_timeout_ms: must be at least 1",
            ),
            (
                !(self.rules_reload_secs.is_finite() && self.rules_reload_secs >= 0.0),
                "rules_reload_secs: must be a non-negative number",
            ),
            (
                self.topics.rule_errors.is_empty(),
                "topics.rule_errors: must not be empty",
            ),
            (
                self.topics.rule_matches.is_empty(),
                "topics.rule_matches: must not be empty",
            ),
            (
                !(self.lake.roll_secs.is_finite() && self.lake.roll_secs > 0.0),
                "lake.roll_secs: must be a positive number",
            ),
            (
                self.lake.max_file_mib == 0,
                "lake.max_file_mib: must be at least 1",
            ),
            (
                self.lake
                    .url
                    .as_deref()
                    .is_some_and(|url| url.trim().is_empty()),
                "lake.url: must not be empty",
            ),
            (
                self.alerts.progress_topic.is_empty(),
                "alerts.progress_topic: must not be empty",
            ),
            (
                self.alerts.transactional_id.as_deref() == Some(""),
                "alerts.transactional_id: must not be empty",
            ),
            (
                self.alerts.encoding == AlertEncodingName::Avro
                    && self.schema_registry_url.is_none(),
                "alerts.encoding: avro needs schema_registry_url",
            ),
            (
                self.topics.partitions < 1,
                "topics.partitions: must be at least 1",
            ),
            (
                self.kafka.brokers.trim().is_empty(),
                "kafka.brokers: must not be empty",
            ),
            (
                self.kafka.group_id.trim().is_empty(),
                "kafka.group_id: must not be empty",
            ),
            (
                self.metrics
                    .listen
                    .as_deref()
                    .is_some_and(|listen| listen.trim().is_empty()),
                "metrics.listen: must not be empty (leave it out for no endpoint)",
            ),
            (self.topics.raw.is_empty(), "topics.raw: must not be empty"),
            (
                self.topics.alerts.is_empty(),
                "topics.alerts: must not be empty",
            ),
            (
                self.topics.dead_letters.is_empty(),
                "topics.dead_letters: must not be empty",
            ),
        ];
        match checks.iter().find(|(failed, _)| *failed) {
            Some((_, message)) => Err((*message).to_owned()),
            None => self
                .enrichment
                .validate()
                .and_then(|()| self.checkpoint.validate()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_gives_the_one_machine_defaults() {
        let config = EngineConfig::from_yaml("").expect("defaults");
        assert_eq!(config, EngineConfig::default());
        assert_eq!(config.kafka.brokers, "127.0.0.1:9092");
        assert_eq!(config.rules_dir, PathBuf::from("rules"));
        assert_eq!(config.state_dir, PathBuf::from("data"));
    }

    #[test]
    fn partial_sections_keep_other_defaults() {
        let config =
            EngineConfig::from_yaml("topics:\n  raw: my.raw\nworkers: 3\n").expect("parse");
        assert_eq!(config.topics.raw, "my.raw");
        assert_eq!(config.topics.alerts, "corvid.alerts");
        assert_eq!(config.workers, 3);
    }

    #[test]
    fn unknown_keys_fail_naming_the_key() {
        let err = EngineConfig::from_yaml("topics:\n  alert: x\n").expect_err("typo");
        assert!(err.contains("alert"), "{err}");
        let err = EngineConfig::from_yaml("kafka:\n  brokerz: x\n").expect_err("typo");
        assert!(err.contains("brokerz"), "{err}");
    }

    #[test]
    fn avro_alerts_need_a_registry() {
        let err = EngineConfig::from_yaml("alerts:\n  encoding: avro\n").expect_err("no registry");
        assert!(err.starts_with("alerts.encoding:"), "{err}");
        let config = EngineConfig::from_yaml(
            "schema_registry_url: http://127.0.0.1:8081\nalerts:\n  encoding: avro\n",
        )
        .expect("avro with a registry");
        assert_eq!(config.alerts.encoding, AlertEncodingName::Avro);
        assert_eq!(
            config.alerts_transactional_id(),
            "corvid-alerts.corvid.alerts"
        );
    }

    #[test]
    fn metrics_and_group_keys_parse_and_default() {
        let config = EngineConfig::from_yaml("").expect("defaults");
        assert_eq!(config.metrics.listen, None);
        assert_eq!(config.kafka.group_id, "corvid-engine");
        let config = EngineConfig::from_yaml(
            "metrics:\n  listen: 127.0.0.1:9464\nkafka:\n  group_id: corvid-engine-b\n",
        )
        .expect("parse");
        assert_eq!(config.metrics.listen.as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(config.kafka.group_id, "corvid-engine-b");
        let err = EngineConfig::from_yaml("metrics:\n  listne: x\n").expect_err("typo");
        assert!(err.contains("listne"), "{err}");
        let err = EngineConfig::from_yaml("kafka:\n  group_id: ''\n").expect_err("empty group");
        assert!(err.starts_with("kafka.group_id:"), "{err}");
    }

    #[test]
    fn invalid_values_fail_naming_the_key() {
        let err = EngineConfig::from_yaml("workers: 0\n").expect_err("zero workers");
        assert!(err.starts_with("workers:"), "{err}");
        let err =
            EngineConfig::from_yaml("kafka:\n  start_offset: middle\n").expect_err("bad enum");
        assert!(
            err.contains("start_offset") || err.contains("middle"),
            "{err}"
        );
    }
}
