//! `corvid connect table`: loads a lookup table's whole contents onto its compacted topic.
//!
//! A lookup table lives in a compacted Kafka topic (`corvid.table.<name>` by default): the
//! record key is a row's primary key (UTF-8), the value is the row as a JSON object, and a
//! tombstone (no value) deletes the key. Compaction keeps the newest record per key, so
//! the topic's live rows are exactly what a reader that applies every record in offset
//! order ends up with.
//!
//! ```text
//!  file (.csv | .jsonl) ─▶ rows ─────────┐
//!  (validated whole, before             ├─▶ plan ─▶ topic: puts and tombstones,
//!   anything is produced)               │   (diff)  acknowledged by the broker
//!  topic up to its high watermarks ─▶ live rows ┘
//! ```
//!
//! ## Replace semantics
//!
//! The file is the table's new contents. A load produces a record for every key that is
//! new or whose value changed, nothing for a key whose value is byte-identical to the live
//! one, and a tombstone for every live key the file no longer holds. Running the same load
//! twice therefore produces nothing the second time. A CSV file with only its header, or
//! a JSON lines file without rows, empties the table.
//!
//! ## Rows
//!
//! [`rows`] reads CSV (header row = column names, every cell a JSON string, an empty cell
//! kept as `""`) or JSON lines (one object per non-blank line). The key column is
//! [`TableLoad::key`], for CSV by default its first column. A row without a usable key
//! fails the whole load before anything is produced; when a key appears twice, the later
//! row wins. The value produced is the whole row object, key column included.
//!
//! ## Partitions
//!
//! Changing or deleting a key goes to the partition its live value was read from, so a
//! topic written by another client's partitioner, or whose partition count grew, is still
//! replaced exactly. A key found live in more than one partition keeps one copy and the
//! others get tombstones. New keys use the `murmur2_random` partitioner, the Java
//! clients' default, so Kafka Connect or a Java producer agrees with us on where a key
//! lives.
//!
//! ## Delivery
//!
//! Records go through an idempotent producer; [`load_table`] returns only after the
//! broker acknowledged every one and fails if any was refused. A failed load may have
//! applied part of its changes; running it again completes them.

mod plan;
mod rows;
mod topic;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rdkafka::error::KafkaError;

use crate::producer::{producer_config, ProduceError};
use crate::topics::{ensure_topics_with, TopicError};

pub use rows::RowProblem;

/// The prefix of a table's default topic name: `corvid.table.<name>`.
pub const DEFAULT_TOPIC_PREFIX: &str = "corvid.table.";

/// How long reading the topic's current contents may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the broker has to acknowledge every record of a load.
const ACK_TIMEOUT: Duration = Duration::from_secs(120);

/// A lookup table's name: ASCII letters, digits and `_`, never empty, so it is safe in a
/// topic name and as an identifier in rules.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName(String);

/// A table name with a character outside `[A-Za-z0-9_]`, or an empty one.
#[derive(Debug, thiserror::Error)]
#[error("table name {0:?} is invalid: use only ASCII letters, digits and _ (at least one)")]
pub struct InvalidTableName(pub String);

impl TableName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `corvid.table.<name>`.
    pub fn default_topic(&self) -> String {
        format!("{DEFAULT_TOPIC_PREFIX}{}", self.0)
    }
}

impl FromStr for TableName {
    type Err = InvalidTableName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        if !name.is_empty()
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        {
            Ok(TableName(name.to_owned()))
        } else {
            Err(InvalidTableName(name.to_owned()))
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One load of a table: which file replaces which table's contents, and where.
#[derive(Clone, Debug)]
pub struct TableLoad {
    pub name: TableName,
    /// `.csv`, `.jsonl` or `.ndjson`.
    pub file: PathBuf,
    /// The key column; `None` takes a CSV file's first column and is an error for JSON
    /// lines.
    pub key: Option<String>,
    /// `None` means [`TableName::default_topic`].
    pub topic: Option<String>,
    pub brokers: String,
    /// Partitions of the topic if this load has to create it; an existing topic keeps
    /// its own.
    pub partitions: i32,
}

impl TableLoad {
    /// A load of `file` into `name`'s default topic (one partition) on `brokers`.
    pub fn new(name: TableName, file: impl Into<PathBuf>, brokers: impl Into<String>) -> Self {
        TableLoad {
            name,
            file: file.into(),
            key: None,
            topic: None,
            brokers: brokers.into(),
            partitions: 1,
        }
    }

    /// The topic this load writes.
    pub fn topic(&self) -> String {
        self.topic
            .clone()
            .unwrap_or_else(|| self.name.default_topic())
    }
}

/// What a load did. `written + unchanged` is the number of distinct keys in the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableReport {
    pub topic: String,
    /// Rows in the file, duplicates of a key included.
    pub rows_read: u64,
    /// Rows produced because their key was new or their value changed.
    pub written: u64,
    /// Rows not produced because the live value was byte-identical.
    pub unchanged: u64,
    /// Tombstones produced: one per live key the file no longer holds, plus one per
    /// extra copy of a key that was live in more than one partition.
    pub tombstoned: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(transparent)]
    Name(#[from] InvalidTableName),
    #[error("--partitions must be at least 1, got {0}")]
    Partitions(i32),
    #[error("{}: unsupported file type; a table is read from .csv, .jsonl or .ndjson", path.display())]
    UnsupportedFormat { path: PathBuf },
    #[error("{}: JSON lines have no header to take a key column from; name it with --key", path.display())]
    KeyRequired { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {source}", path.display(), line.map(|line| format!(":{line}")).unwrap_or_default())]
    Csv {
        path: PathBuf,
        line: Option<u64>,
        source: csv::Error,
    },
    #[error("{}: no header row", path.display())]
    NoHeader { path: PathBuf },
    #[error("{}: column {column:?} appears twice in the header", path.display())]
    DuplicateColumn { path: PathBuf, column: String },
    #[error("{}: the header has no key column {column:?} (--key)", path.display())]
    NoKeyColumn { path: PathBuf, column: String },
    #[error("{}:{line}: {problem}", path.display())]
    Row {
        path: PathBuf,
        line: u64,
        problem: RowProblem,
    },
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error("cannot read table topic {topic}: {source}")]
    Kafka { topic: String, source: KafkaError },
    #[error("table topic {topic} has no partitions in the broker's metadata after {waited:?}")]
    NoPartitions { topic: String, waited: Duration },
    #[error("table topic {topic} not read to its high watermarks within {waited:?}")]
    ReadTimeout { topic: String, waited: Duration },
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// Replaces the table's contents on its topic with the rows of `load.file`.
///
/// The file is read and validated whole before the topic is touched: a file that fails
/// to read leaves the topic as it was. The topic is created (compacted, with
/// `load.partitions`) when missing. Returns once every produced record is acknowledged.
pub fn load_table(load: &TableLoad) -> Result<TableReport, TableError> {
    if load.partitions < 1 {
        return Err(TableError::Partitions(load.partitions));
    }
    let topic = load.topic();
    let rows = rows::read_rows(&load.file, load.key.as_deref())?;
    if rows.duplicates > 0 {
        tracing::warn!(
            file = %load.file.display(),
            duplicates = rows.duplicates,
            "rows repeat a key; the last row of each key wins"
        );
    }
    ensure_topics_with(
        &producer_config(&load.brokers),
        &[(&topic, load.partitions)],
        &[("cleanup.policy", "compact")],
    )?;
    let live = topic::read_live(&load.brokers, &topic, READ_TIMEOUT)?;
    let plan = plan::plan(&rows.rows, &live);
    tracing::debug!(
        topic,
        live = live.len(),
        changes = plan.changes.len(),
        "table diffed against its topic"
    );
    topic::write_changes(&load.brokers, &topic, &plan.changes, ACK_TIMEOUT)?;
    Ok(TableReport {
        topic,
        rows_read: rows.read,
        written: plan.written,
        unchanged: plan.unchanged,
        tombstoned: plan.tombstoned,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_letters_digits_and_underscores() {
        for good in ["assets", "Known_IPs", "t1", "_"] {
            assert!(good.parse::<TableName>().is_ok(), "{good}");
        }
        for bad in ["", "bad-name", "a.b", "a b", "é", "a/b"] {
            assert!(bad.parse::<TableName>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_topic_is_prefixed_with_corvid_table() {
        let name: TableName = "assets".parse().expect("valid name");
        assert_eq!(
            TableLoad::new(name, "a.csv", "b").topic(),
            "corvid.table.assets"
        );
    }
}
