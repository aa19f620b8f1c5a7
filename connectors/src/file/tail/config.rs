//! The YAML file of `corvid connect file --config` (keys documented in `docs/config.md`,
//! "`corvid connect file --config` (tailing)").

use std::path::{Path, PathBuf};

use corvid_telemetry::MetricsConfig;
use serde::Deserialize;

use crate::ingest::config::{check_unique_ids, KafkaTarget, SourceSpec};

/// The largest `max_line_bytes`: a record plus its headers must fit the 16 MiB the
/// producer and our brokers accept.
pub const MAX_LINE_BYTES_LIMIT: u64 = 16 * 1024 * 1024 - 64 * 1024;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TailConfig {
    /// The files to tail, each group with the source its lines belong to.
    pub files: Vec<FileGroup>,
    /// The durable positions file (one position per file identity).
    pub positions: PathBuf,
    /// How often globs are re-scanned and idle files re-checked.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// Where a file found at the first scan, with no stored position, starts.
    #[serde(default)]
    pub start_at: StartAt,
    /// Lines longer than this are split into records of at most this many bytes.
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: u64,
    /// How long a rotated-away (renamed or deleted) file must stay unchanged before it
    /// counts as drained: its partial last line is sent and the new file at its path
    /// starts.
    #[serde(default = "default_rotate_wait_ms")]
    pub rotate_wait_ms: u64,
    /// Records queued before the connector waits for their acknowledgements.
    #[serde(default = "default_max_batch_records")]
    pub max_batch_records: usize,
    /// Least time between two writes of the positions file while lines flow.
    #[serde(default = "default_positions_interval_ms")]
    pub positions_interval_ms: u64,
    #[serde(default)]
    pub kafka: KafkaTarget,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// One `files` entry: the globs it tails and the source of their lines.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileGroup {
    pub paths: Vec<String>,
    pub source: SourceSpec,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    #[default]
    Beginning,
    End,
}

fn default_poll_interval_ms() -> u64 {
    250
}
fn default_max_line_bytes() -> u64 {
    1024 * 1024
}
fn default_rotate_wait_ms() -> u64 {
    5000
}
fn default_max_batch_records() -> usize {
    10_000
}
fn default_positions_interval_ms() -> u64 {
    1000
}

impl TailConfig {
    /// Checks what serde cannot; the message names the key path.
    pub fn validate(&self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("files: must name at least one entry".into());
        }
        for (index, group) in self.files.iter().enumerate() {
            let at = format!("files[{index}]");
            if group.paths.is_empty() {
                return Err(format!("{at}.paths: must name at least one path or glob"));
            }
            for (p, pattern) in group.paths.iter().enumerate() {
                // Relative globs would depend on the directory the service starts in.
                if !Path::new(pattern).is_absolute() {
                    return Err(format!(
                        "{at}.paths[{p}]: {pattern:?} must be an absolute path"
                    ));
                }
                if let Err(error) = glob::Pattern::new(pattern) {
                    return Err(format!(
                        "{at}.paths[{p}]: {pattern:?} is not a glob: {error}"
                    ));
                }
            }
            group.source.validate(&format!("{at}.source"))?;
        }
        check_unique_ids(
            self.files.iter().map(|group| group.source.id.as_str()),
            "files",
        )
        .map_err(|message| message.replacen("].id", "].source.id", 1))?;
        if self.positions.as_os_str().is_empty() {
            return Err("positions: must name a file".into());
        }
        if self.poll_interval_ms < 10 {
            return Err("poll_interval_ms: must be at least 10".into());
        }
        if self.max_line_bytes < 1 || self.max_line_bytes > MAX_LINE_BYTES_LIMIT {
            return Err(format!(
                "max_line_bytes: must be between 1 and {MAX_LINE_BYTES_LIMIT}"
            ));
        }
        if self.max_batch_records < 1 {
            return Err("max_batch_records: must be at least 1".into());
        }
        self.kafka.validate("kafka")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::config::parse_yaml;

    const MINIMAL: &str = "
files:
  - paths: [/var/log/app/*.log]
    source: {id: app, log_types: [Syslog.RFC5424]}
positions: /var/lib/corvid/positions.json
";

    #[test]
    fn defaults_fill_a_minimal_file() {
        let config: TailConfig = parse_yaml(MINIMAL).unwrap();
        config.validate().unwrap();
        assert_eq!(config.start_at, StartAt::Beginning);
        assert_eq!(config.poll_interval_ms, 250);
        assert_eq!(config.max_line_bytes, 1 << 20);
        assert_eq!(config.kafka, KafkaTarget::default());
    }

    #[test]
    fn an_unknown_key_is_named() {
        let text = format!("{MINIMAL}start_from: end\n");
        let error = parse_yaml::<TailConfig>(&text).unwrap_err();
        assert!(error.contains("start_from"), "{error}");
        let error = parse_yaml::<TailConfig>(&MINIMAL.replace("paths", "path")).unwrap_err();
        assert!(error.contains("path"), "{error}");
    }

    #[test]
    fn bad_values_are_named_by_their_key_path() {
        let mut config: TailConfig = parse_yaml(MINIMAL).unwrap();
        config.files[0].paths.push("logs/*.log".into());
        assert_eq!(
            config.validate().unwrap_err(),
            "files[0].paths[1]: \"logs/*.log\" must be an absolute path"
        );
        config.files[0].paths[1] = "/logs/[.log".into();
        assert!(config
            .validate()
            .unwrap_err()
            .starts_with("files[0].paths[1]: \"/logs/[.log\" is not a glob"));
        config.files[0].paths.pop();
        config.files.push(config.files[0].clone());
        assert_eq!(
            config.validate().unwrap_err(),
            "files[1].source.id: \"app\" is used twice"
        );
        config.files.pop();
        config.files[0].source.log_types.clear();
        assert_eq!(
            config.validate().unwrap_err(),
            "files[0].source.log_types: must name at least one log type"
        );
        let mut config: TailConfig = parse_yaml(MINIMAL).unwrap();
        config.max_line_bytes = 0;
        assert!(config
            .validate()
            .unwrap_err()
            .starts_with("max_line_bytes:"));
    }
}
