//! The `corvid connect s3` config file (`docs/config.md`, "corvid connect s3"): where the
//! objects are (`store`), which prefixes map to which sources, where the cursor lives.

use std::path::Path;

use serde::Deserialize;

use crate::ingest::config::{
    check_unique_ids, load_checked, ConnectorConfigError, KafkaTarget, SourceSpec,
};
use corvid_telemetry::MetricsConfig;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    #[serde(default)]
    pub kafka: KafkaTarget,
    #[serde(default)]
    pub metrics: MetricsConfig,
    pub store: StoreConfig,
    /// Compacted topic holding one record per completed (or corrupt) object.
    #[serde(default = "default_cursor_topic")]
    pub cursor_topic: String,
    /// Seconds between listing passes (ignored with `--once`).
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    /// Objects read at the same time.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// A record (line or envelope element) longer than this is skipped, logged and
    /// counted: Kafka would refuse it.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: usize,
    pub sources: Vec<S3Source>,
}

fn default_cursor_topic() -> String {
    "corvid.s3-cursor".into()
}
fn default_poll_interval_secs() -> u64 {
    60
}
fn default_concurrency() -> usize {
    4
}
fn default_max_record_bytes() -> usize {
    1_000_000
}

/// The object store: `s3://bucket` (any S3-compatible server) or `file:///dir`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub url: String,
    /// S3 endpoint for S3-compatible servers (MinIO, moto, …); unset: AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// Allow a plain `http://` endpoint.
    #[serde(default)]
    pub allow_http: bool,
    /// Unset: the standard AWS environment variables (AWS_ACCESS_KEY_ID, …).
    #[serde(default)]
    pub access_key_id: Option<String>,
    #[serde(default)]
    pub secret_access_key: Option<String>,
}

/// Hides the secret key.
impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("allow_http", &self.allow_http)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

/// One prefix of the store and the source its objects belong to.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct S3Source {
    pub id: String,
    #[serde(default)]
    pub label: String,
    pub log_types: Vec<String>,
    /// Path prefix inside the bucket, matched on `/`-separated segments
    /// (`AWSLogs/123/CloudTrail` lists `AWSLogs/123/CloudTrail/...`); empty: everything.
    #[serde(default)]
    pub prefix: String,
}

impl S3Source {
    pub fn spec(&self) -> SourceSpec {
        SourceSpec {
            id: self.id.clone(),
            label: self.label.clone(),
            log_types: self.log_types.clone(),
        }
    }
}

impl S3Config {
    pub fn load(path: &Path) -> Result<S3Config, ConnectorConfigError> {
        load_checked(path, |config: &mut S3Config| config.validate())
    }

    /// Checks the values serde cannot, naming the key path.
    pub fn validate(&self) -> Result<(), String> {
        self.kafka.validate("kafka")?;
        let url = self.store.url.trim();
        if !(url.starts_with("s3://") || url.starts_with("file://")) {
            return Err(format!(
                "store.url: {url:?} must be s3://bucket or file:///directory"
            ));
        }
        if url.starts_with("s3://") && url.trim_start_matches("s3://").trim_matches('/').is_empty()
        {
            return Err("store.url: must name a bucket (s3://bucket)".into());
        }
        if self.store.access_key_id.is_some() != self.store.secret_access_key.is_some() {
            return Err(
                "store.access_key_id: set both access_key_id and secret_access_key, or neither"
                    .into(),
            );
        }
        if self.cursor_topic.trim().is_empty() {
            return Err("cursor_topic: must not be empty".into());
        }
        if self.cursor_topic == self.kafka.topic {
            return Err("cursor_topic: must differ from kafka.topic".into());
        }
        if self.poll_interval_secs == 0 {
            return Err("poll_interval_secs: must be at least 1".into());
        }
        if self.concurrency == 0 {
            return Err("concurrency: must be at least 1".into());
        }
        if self.max_record_bytes < 1024 {
            return Err("max_record_bytes: must be at least 1024".into());
        }
        if self.sources.is_empty() {
            return Err("sources: must name at least one source".into());
        }
        for (index, source) in self.sources.iter().enumerate() {
            source.spec().validate(&format!("sources[{index}]"))?;
        }
        check_unique_ids(self.sources.iter().map(|s| s.id.as_str()), "sources")?;
        // An object under two sources would be read for whichever lists it first: its
        // source, and so its log types, would be a race.
        for (index, source) in self.sources.iter().enumerate() {
            for (earlier, other) in self.sources[..index].iter().enumerate() {
                if prefixes_overlap(&source.prefix, &other.prefix) {
                    return Err(format!(
                        "sources[{index}].prefix: {:?} overlaps sources[{earlier}].prefix {:?}",
                        source.prefix, other.prefix
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether one prefix lists objects of the other (segment-wise, as object stores list).
fn prefixes_overlap(a: &str, b: &str) -> bool {
    let a = a.trim_matches('/');
    let b = b.trim_matches('/');
    let under = |inner: &str, outer: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"))
    };
    under(a, b) || under(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::config::parse_yaml;

    const MINIMAL: &str = "store: {url: s3://logs}\nsources: [{id: ct, prefix: AWSLogs, log_types: [AWS.CloudTrail]}]";

    #[test]
    fn defaults_fill_a_minimal_file() {
        let config: S3Config = parse_yaml(MINIMAL).unwrap();
        config.validate().unwrap();
        assert_eq!(config.cursor_topic, "corvid.s3-cursor");
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.poll_interval_secs, 60);
    }

    #[test]
    fn bad_values_name_their_key() {
        let config: S3Config = parse_yaml(&MINIMAL.replace("s3://logs", "http://x")).unwrap();
        assert!(config.validate().unwrap_err().starts_with("store.url:"));
        let mut config: S3Config = parse_yaml(MINIMAL).unwrap();
        config.concurrency = 0;
        assert!(config.validate().unwrap_err().starts_with("concurrency:"));
        let config: S3Config = parse_yaml(&MINIMAL.replace("[AWS.CloudTrail]", "[]")).unwrap();
        assert_eq!(
            config.validate().unwrap_err(),
            "sources[0].log_types: must name at least one log type"
        );
        assert!(parse_yaml::<S3Config>(&format!("{MINIMAL}\nconcurency: 2"))
            .unwrap_err()
            .contains("concurency"));
    }

    #[test]
    fn overlapping_prefixes_are_refused() {
        assert!(prefixes_overlap("AWSLogs", "AWSLogs/123/"));
        assert!(prefixes_overlap("", "x"));
        assert!(!prefixes_overlap("logs/a", "logs/ab"));
        let text = "store: {url: s3://logs}\nsources: [{id: a, prefix: x/, log_types: [A.B]}, {id: b, prefix: x/y, log_types: [A.B]}]";
        let config: S3Config = parse_yaml(text).unwrap();
        assert_eq!(
            config.validate().unwrap_err(),
            "sources[1].prefix: \"x/y\" overlaps sources[0].prefix \"x/\""
        );
    }

    #[test]
    fn the_secret_is_not_printed() {
        let store = StoreConfig {
            url: "s3://b".into(),
            endpoint: None,
            region: None,
            allow_http: false,
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some("hunter2".into()),
        };
        assert!(!format!("{store:?}").contains("hunter2"));
    }
}
