//! The YAML config of `corvid connect http` (docs/config.md, "`corvid connect http`").

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::alerts::secret::{expand_env, Secret};
use crate::ingest::config::{
    check_unique_ids, load_checked, ConnectorConfigError, KafkaTarget, SourceSpec,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `host:port` to accept requests on.
    pub listen: String,
    /// Serve HTTPS with this certificate instead of plain HTTP.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub kafka: KafkaTarget,
    #[serde(default)]
    pub metrics: corvid_telemetry::MetricsConfig,
    /// Sources clients post newline-delimited records to (`POST /ingest/{id}`).
    #[serde(default)]
    pub sources: Vec<IngestSource>,
    /// osquery's TLS enroll and logger endpoints, when set.
    #[serde(default)]
    pub osquery: Option<OsqueryConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8).
    pub key: PathBuf,
}

/// Bounds on what one request may cost.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request body as sent (compressed, when gzip), in KiB.
    pub max_body_kib: usize,
    /// Largest body after gzip decompression, in KiB.
    pub max_decompressed_kib: usize,
    /// Requests handled at once; more wait for a turn before their body is read.
    pub max_concurrent_requests: usize,
    /// How long a request waits for room in a full Kafka queue before answering 429.
    pub queue_full_wait_ms: u64,
    /// Longest single record (line, or osquery `data` element); a body holding a longer
    /// one is refused whole (413) rather than sent to a broker that would refuse it.
    pub max_record_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_kib: 10 * 1024,
            max_decompressed_kib: 64 * 1024,
            max_concurrent_requests: 64,
            queue_full_wait_ms: 1000,
            max_record_bytes: 1_000_000,
        }
    }
}

impl Limits {
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_kib.saturating_mul(1024)
    }

    pub fn max_decompressed_bytes(&self) -> usize {
        self.max_decompressed_kib.saturating_mul(1024)
    }

    pub fn queue_full_wait(&self) -> Duration {
        Duration::from_millis(self.queue_full_wait_ms)
    }
}

/// One ingest source: a [`SourceSpec`] plus the bearer tokens that may post to it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestSource {
    pub id: String,
    #[serde(default)]
    pub label: String,
    pub log_types: Vec<String>,
    /// Accepted bearer tokens (several while one is rotated out); `${ENV}` expanded.
    pub tokens: Vec<Secret>,
}

impl IngestSource {
    /// The source part (serde cannot flatten a [`SourceSpec`] and deny unknown keys).
    pub fn spec(&self) -> SourceSpec {
        SourceSpec {
            id: self.id.clone(),
            label: self.label.clone(),
            log_types: self.log_types.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsqueryConfig {
    /// Shared enroll secrets (several while one is rotated out); `${ENV}` expanded.
    pub enroll_secrets: Vec<Secret>,
    /// Signs node keys; a node key stays valid as long as this does. `${ENV}` expanded.
    pub node_key_secret: Secret,
    /// Where `log_type: result` records go.
    pub results: SourceSpec,
    /// Where `log_type: status` records go.
    pub status: SourceSpec,
}

impl HttpConfig {
    pub fn load(path: &Path) -> Result<HttpConfig, ConnectorConfigError> {
        let lookup = |name: &str| std::env::var(name).ok();
        load_checked(path, |config: &mut HttpConfig| config.prepare(&lookup))
    }

    /// Expands `${ENV}` in secrets and checks what serde cannot; the error names the key.
    pub fn prepare(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        if self.listen.trim().is_empty() {
            return Err("listen: must be host:port".into());
        }
        self.kafka.validate("kafka")?;
        let limits = &self.limits;
        if limits.max_body_kib == 0 {
            return Err("limits.max_body_kib: must be at least 1".into());
        }
        if limits.max_decompressed_kib < limits.max_body_kib {
            return Err("limits.max_decompressed_kib: must be at least limits.max_body_kib".into());
        }
        if limits.max_record_bytes < 1024 {
            return Err("limits.max_record_bytes: must be at least 1024".into());
        }
        if limits.max_concurrent_requests == 0 {
            return Err("limits.max_concurrent_requests: must be at least 1".into());
        }
        if self.sources.is_empty() && self.osquery.is_none() {
            return Err("sources: name at least one source (or configure osquery)".into());
        }
        for (index, ingest) in self.sources.iter_mut().enumerate() {
            let at = format!("sources[{index}]");
            ingest.spec().validate(&at)?;
            expand_all(&mut ingest.tokens, &format!("{at}.tokens"), lookup)?;
        }
        let mut ids: Vec<&str> = self.sources.iter().map(|s| s.id.as_str()).collect();
        if let Some(osquery) = &mut self.osquery {
            expand_all(
                &mut osquery.enroll_secrets,
                "osquery.enroll_secrets",
                lookup,
            )?;
            let key = expand_env(
                osquery.node_key_secret.expose(),
                "osquery.node_key_secret",
                lookup,
            )?;
            if key.len() < 16 {
                return Err("osquery.node_key_secret: must be at least 16 characters".into());
            }
            osquery.node_key_secret = Secret::new(key);
            osquery.results.validate("osquery.results")?;
            osquery.status.validate("osquery.status")?;
            ids.push(osquery.results.id.as_str());
            ids.push(osquery.status.id.as_str());
        }
        check_unique_ids(ids, "sources")?;
        Ok(())
    }
}

/// Expands every secret of a list, refusing an empty list or an empty secret.
fn expand_all(
    secrets: &mut [Secret],
    at: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if secrets.is_empty() {
        return Err(format!("{at}: must not be empty"));
    }
    for (index, secret) in secrets.iter_mut().enumerate() {
        let key = format!("{at}[{index}]");
        let value = expand_env(secret.expose(), &key, lookup)?;
        if value.trim().is_empty() {
            return Err(format!("{key}: must not be empty"));
        }
        *secret = Secret::new(value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::config::parse_yaml;

    fn prepared(text: &str) -> Result<HttpConfig, String> {
        let mut config: HttpConfig = parse_yaml(text)?;
        let lookup = |name: &str| (name == "TOKEN").then(|| "from-env".to_string());
        config.prepare(&lookup)?;
        Ok(config)
    }

    #[test]
    fn tokens_expand_from_the_environment() {
        let config = prepared(
            "listen: 127.0.0.1:0\nsources: [{id: web, log_types: [Nginx.Access], tokens: ['${TOKEN}', old]}]",
        )
        .unwrap();
        let tokens: Vec<&str> = config.sources[0]
            .tokens
            .iter()
            .map(|t| t.expose().as_str())
            .collect();
        assert_eq!(tokens, ["from-env", "old"]);
    }

    #[test]
    fn an_empty_token_list_is_named() {
        let error = prepared(
            "listen: 127.0.0.1:0\nsources: [{id: a, log_types: [X.Y], tokens: [t]}, {id: b, log_types: [X.Y], tokens: []}]",
        )
        .unwrap_err();
        assert_eq!(error, "sources[1].tokens: must not be empty");
    }

    #[test]
    fn osquery_sources_must_not_reuse_an_ingest_id() {
        let error = prepared(
            "listen: 127.0.0.1:0\nsources: [{id: osq, log_types: [X.Y], tokens: [t]}]\nosquery:\n  enroll_secrets: [s]\n  node_key_secret: 0123456789abcdef\n  results: {id: osq, log_types: [Osquery.Differential]}\n  status: {id: st, log_types: [Osquery.Status]}",
        )
        .unwrap_err();
        assert_eq!(error, "sources[1].id: \"osq\" is used twice");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let error = prepared("listen: x\nlimits: {max_body: 3}").unwrap_err();
        assert!(error.contains("max_body"), "{error}");
    }
}
