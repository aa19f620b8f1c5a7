//! Config sections every streaming connector's YAML file has: `kafka` (where records go)
//! and the `sources` it serves (id, label, allowed log types). Keys are documented in
//! `docs/config.md`, "Connectors".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdkafka::config::ClientConfig;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::producer::producer_config;
use crate::raw_record::SourceMeta;

#[derive(Debug, thiserror::Error)]
pub enum ConnectorConfigError {
    #[error("cannot read connector config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `message` names the key, e.g. `sources[1].log_types: must name at least one log type`.
    #[error("invalid connector config {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Reads and deserializes a YAML config file; serde's message names the unknown or
/// missing key and its line.
pub fn load_yaml<T: DeserializeOwned>(path: &Path) -> Result<T, ConnectorConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConnectorConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_yaml(&text).map_err(|message| ConnectorConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    })
}

/// [`load_yaml`], then `check` on the values serde cannot check (its message names the
/// key path, e.g. `listeners[0].listen: ...`).
pub fn load_checked<T: DeserializeOwned>(
    path: &Path,
    check: impl FnOnce(&mut T) -> Result<(), String>,
) -> Result<T, ConnectorConfigError> {
    let mut config: T = load_yaml(path)?;
    check(&mut config).map_err(|message| ConnectorConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    })?;
    Ok(config)
}

/// [`load_yaml`] on text already read (tests, inline configs).
pub fn parse_yaml<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|error| error.to_string())
}

/// The `kafka` section: where a connector's records go.
#[derive(Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaTarget {
    /// Bootstrap servers.
    pub brokers: String,
    /// The raw topic records are written to.
    pub topic: String,
    /// Partitions of `topic` if the connector has to create it.
    pub partitions: i32,
    /// Upper bound of librdkafka's local queue, in KiB: when the broker falls behind,
    /// the connector waits (or answers 429) instead of buffering more.
    pub max_buffered_kib: u32,
    /// Extra librdkafka properties (TLS, SASL, …).
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaTarget {
    fn default() -> Self {
        KafkaTarget {
            brokers: "127.0.0.1:9092".into(),
            topic: "corvid.raw".into(),
            partitions: 4,
            max_buffered_kib: 65536,
            client: BTreeMap::new(),
        }
    }
}

/// Names the client properties but not their values (`sasl.password` lives there).
impl std::fmt::Debug for KafkaTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTarget")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .field("max_buffered_kib", &self.max_buffered_kib)
            .field("client", &self.client.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KafkaTarget {
    /// Checks the values serde cannot; `at` is the section's key path (`kafka`).
    pub fn validate(&self, at: &str) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err(format!("{at}.brokers: must name at least one broker"));
        }
        if self.topic.trim().is_empty() {
            return Err(format!("{at}.topic: must not be empty"));
        }
        if self.partitions < 1 {
            return Err(format!("{at}.partitions: must be at least 1"));
        }
        if self.max_buffered_kib < 1024 {
            return Err(format!("{at}.max_buffered_kib: must be at least 1024"));
        }
        Ok(())
    }

    /// The shared producer settings plus the buffer bound and the `client` properties.
    pub fn producer_config(&self) -> ClientConfig {
        let mut config = producer_config(&self.brokers);
        config.set(
            "queue.buffering.max.kbytes",
            self.max_buffered_kib.to_string(),
        );
        for (key, value) in &self.client {
            config.set(key, value);
        }
        config
    }
}

/// One source a connector serves: it becomes `p_source_id`, `p_source_label` and the
/// log types the engine tries, in order.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub id: String,
    #[serde(default)]
    pub label: String,
    pub log_types: Vec<String>,
}

impl SourceSpec {
    /// Checks the values serde cannot; `at` is the source's key path (`sources[2]`).
    pub fn validate(&self, at: &str) -> Result<(), String> {
        if self.id.trim().is_empty() {
            return Err(format!("{at}.id: must not be empty"));
        }
        if self.log_types.iter().all(|name| name.trim().is_empty()) {
            return Err(format!("{at}.log_types: must name at least one log type"));
        }
        Ok(())
    }

    pub fn meta(&self) -> SourceMeta {
        SourceMeta {
            source_id: self.id.clone(),
            source_label: if self.label.is_empty() {
                self.id.clone()
            } else {
                self.label.clone()
            },
            log_types: self
                .log_types
                .iter()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect(),
        }
    }
}

/// Fails when two sources share an id: their metrics and `p_source_id` would merge.
pub fn check_unique_ids<'a>(
    ids: impl IntoIterator<Item = &'a str>,
    at: &str,
) -> Result<(), String> {
    let mut seen = std::collections::BTreeSet::new();
    for (index, id) in ids.into_iter().enumerate() {
        if !seen.insert(id) {
            return Err(format!("{at}[{index}].id: {id:?} is used twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Example {
        #[serde(default)]
        kafka: KafkaTarget,
        sources: Vec<SourceSpec>,
    }

    #[test]
    fn defaults_fill_the_kafka_section() {
        let example: Example =
            parse_yaml("sources: [{id: web, log_types: [Syslog.RFC5424]}]").unwrap();
        assert_eq!(example.kafka, KafkaTarget::default());
        assert_eq!(example.sources[0].meta().source_label, "web");
    }

    #[test]
    fn an_unknown_key_is_named() {
        let error = parse_yaml::<Example>("kafka: {brokerz: x}\nsources: []").unwrap_err();
        assert!(error.contains("brokerz"), "{error}");
    }

    #[test]
    fn a_source_without_log_types_is_named_by_its_path() {
        let source = SourceSpec {
            id: "web".into(),
            label: String::new(),
            log_types: vec![" ".into()],
        };
        assert_eq!(
            source.validate("sources[3]").unwrap_err(),
            "sources[3].log_types: must name at least one log type"
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        assert_eq!(
            check_unique_ids(["a", "b", "a"], "sources").unwrap_err(),
            "sources[2].id: \"a\" is used twice"
        );
    }
}
