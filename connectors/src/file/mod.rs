//! `corvid connect file`: reads a file of log lines into a raw topic.
//!
//! One record per line (the trailing `\n` or `\r\n` removed, empty lines skipped), keyed
//! by the file's canonical path so the whole file stays ordered in one partition. The
//! connector returns only after the broker acknowledged every record. Tailing files and
//! globs across rotation, with a durable position per file, is [`tail`]
//! (`corvid connect file --config`).
//!
//! Delivery reports feed [`ConnectorMetrics`] as they arrive, labelled
//! `connector="file"` and `source=<source id>`.

pub mod tail;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::metrics::ConnectorMetrics;
use crate::producer::{producer_config, ProduceError, RawProducer};
use crate::raw_record::SourceMeta;
use crate::topics::{ensure_topics, TopicError};

/// What `corvid connect file` needs to know.
#[derive(Clone, Debug)]
pub struct FileSourceConfig {
    pub path: PathBuf,
    pub brokers: String,
    pub topic: String,
    /// Partitions of the topic if this connector has to create it.
    pub partitions: i32,
    pub meta: SourceMeta,
}

#[derive(Debug, thiserror::Error)]
pub enum FileSourceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("source for {path} declares no log types (--log-types)")]
    NoLogTypes { path: PathBuf },
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// The stream name of a file: its canonical path, so two spellings of one file agree.
pub fn stream_name(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// The `connector` label of this connector's metrics.
pub const CONNECTOR: &str = "file";

/// The `component` of this connector's `corvid_build_info`.
pub const COMPONENT: &str = "connect-file";

/// Sends every line of the file, counting deliveries in `metrics`; returns the number
/// of records acknowledged.
pub fn send_file(
    config: &FileSourceConfig,
    metrics: &ConnectorMetrics,
) -> Result<u64, FileSourceError> {
    if config.meta.log_types.is_empty() {
        return Err(FileSourceError::NoLogTypes {
            path: config.path.clone(),
        });
    }
    let read_error = |source| FileSourceError::Read {
        path: config.path.clone(),
        source,
    };
    let file = File::open(&config.path).map_err(read_error)?;
    let stream = stream_name(&config.path);
    ensure_topics(
        &producer_config(&config.brokers),
        &[(&config.topic, config.partitions)],
    )?;
    let mut producer = RawProducer::counted(
        &config.brokers,
        &config.topic,
        &config.meta,
        metrics.source(CONNECTOR, &config.meta.source_id),
    )?;
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(read_error)? == 0 {
            break;
        }
        let record = trim_line_end(&line);
        if !record.is_empty() {
            producer.send(&stream, record)?;
        }
    }
    tracing::debug!(
        stream,
        sent = producer.sent(),
        "file read; waiting for acknowledgements"
    );
    Ok(producer.finish(Duration::from_secs(120))?)
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_are_removed_but_content_kept() {
        assert_eq!(trim_line_end(b"a b\r\n"), b"a b");
        assert_eq!(trim_line_end(b"a b\n"), b"a b");
        assert_eq!(trim_line_end(b"a b"), b"a b");
        assert_eq!(trim_line_end(b" \t\n"), b" \t");
    }

    #[test]
    fn a_source_without_log_types_is_refused_before_connecting() {
        let config = FileSourceConfig {
            path: PathBuf::from("/nonexistent"),
            brokers: "127.0.0.1:1".into(),
            topic: "t".into(),
            partitions: 1,
            meta: SourceMeta::default(),
        };
        assert!(matches!(
            send_file(&config, &ConnectorMetrics::new()),
            Err(FileSourceError::NoLogTypes { .. })
        ));
    }
}
