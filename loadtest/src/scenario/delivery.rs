//! Delivering a [`Scenario`]: to files, or to the raw topic as the connectors would.
//!
//! Kafka delivery follows the connector contract (`corvid_connectors::raw_record`):
//! each log type is its own source, every record of it carries that source's headers
//! and is keyed by the log's stream, and [`produce`] returns only once the broker has
//! acknowledged every record. The raw topic is created when missing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use corvid_connectors::producer::{producer_config, ProduceError, RawProducer};
use corvid_connectors::topics::{ensure_topics, TopicError};

use super::Scenario;

/// How long to wait for the broker to acknowledge one log's records.
const ACK_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("producing {log_type} (source {source_id}): {source}")]
    Produce {
        log_type: String,
        source_id: String,
        // Boxed: a Kafka error is large, and this error travels through every `?`.
        source: Box<ProduceError>,
    },
}

/// Where to produce a scenario.
#[derive(Clone, Debug)]
pub struct KafkaTarget {
    pub brokers: String,
    pub topic: String,
    /// Partitions of the topic if it has to be created.
    pub partitions: i32,
}

/// Writes `dir/<log type>.log` for each log, one line each (creating `dir`); returns
/// the paths in the scenario's log order.
pub fn write_files(scenario: &Scenario, dir: &Path) -> Result<Vec<PathBuf>, DeliveryError> {
    std::fs::create_dir_all(dir).map_err(|source| DeliveryError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    scenario
        .logs
        .iter()
        .map(|log| {
            let path = dir.join(&log.file_name);
            let write_error = |source| DeliveryError::Write {
                path: path.clone(),
                source,
            };
            let file = std::fs::File::create(&path).map_err(write_error)?;
            let mut out = std::io::BufWriter::new(file);
            for line in &log.lines {
                writeln!(out, "{line}").map_err(write_error)?;
            }
            out.flush().map_err(write_error)?;
            Ok(path)
        })
        .collect()
}

/// Produces every log to the target topic (created when missing), keyed by its stream
/// with its source's headers; returns the records acknowledged per log.
pub fn produce(scenario: &Scenario, target: &KafkaTarget) -> Result<Vec<u64>, DeliveryError> {
    ensure_topics(
        &producer_config(&target.brokers),
        &[(&target.topic, target.partitions)],
    )?;
    scenario
        .logs
        .iter()
        .map(|log| {
            let produce_error = |source| DeliveryError::Produce {
                log_type: log.log_type.to_owned(),
                source_id: log.meta.source_id.clone(),
                source: Box::new(source),
            };
            let mut producer = RawProducer::new(&target.brokers, &target.topic, &log.meta)
                .map_err(produce_error)?;
            for line in &log.lines {
                producer
                    .send(&log.stream, line.as_bytes())
                    .map_err(produce_error)?;
            }
            producer.finish(ACK_TIMEOUT).map_err(produce_error)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::intrusion::{generate, IntrusionSpec};

    #[test]
    fn files_hold_the_lines_of_each_log() {
        let scenario = generate(&IntrusionSpec {
            day: "2026-11-27".parse().expect("valid day"),
            background_events: 40,
            seed: 3,
        });
        let dir = std::env::temp_dir().join(format!(
            "corvid-scenario-files-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let paths = write_files(&scenario, &dir.join("nested")).expect("written");
        assert_eq!(paths.len(), scenario.logs.len());
        for (path, log) in paths.iter().zip(&scenario.logs) {
            assert_eq!(path.file_name(), Some(log.file_name.as_ref()));
            let text = std::fs::read_to_string(path).expect("readable");
            assert_eq!(text, log.lines.join("\n") + "\n");
        }
        std::fs::remove_dir_all(&dir).expect("cleaned up");
    }
}
