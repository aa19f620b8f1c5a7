//! Parsing and classification: raw records become normalized [`Event`]s or dead letters.
//!
//! Classification is per source: only the log types the record's source declares are
//! tried, in the declared order. The first parser that accepts the line wins. A record no
//! parser accepts becomes a [`DeadLetter`] carrying its raw bytes, where it came from and
//! every parser's reason — nothing is dropped silently.
//!
//! Every event gets the core `p_` fields (`p_log_type`, `p_event_time`, `p_parse_time`,
//! `p_row_id`, `p_source_id`, `p_source_label`) and the sorted, de-duplicated `p_any_*`
//! indicator arrays its log type declares ([`indicators`]).

pub mod classifier;
pub mod indicators;
pub mod osquery;
pub mod row_id;
pub mod time;

pub use classifier::Classifier;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::source::RawRecord;

/// Why a record became a dead letter, as a bounded label for metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadLetterKind {
    /// The source declared no log type Corvid can parse.
    UnknownLogType,
    /// Every declared log type's parser refused the record.
    NoParserAccepted,
}

impl DeadLetterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterKind::UnknownLogType => "unknown_log_type",
            DeadLetterKind::NoParserAccepted => "no_parser_accepted",
        }
    }
}

/// A raw record no parser accepted, with everything needed to find and replay it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub record: RawRecord,
    pub kind: DeadLetterKind,
    /// Each tried parser's reason, e.g. `Osquery.Differential: expected value at line 1 column 1`.
    pub reason: String,
}

/// What parsing one raw record produced: one record may hold several events
/// (a CloudTrail `Records` envelope), or none that any parser accepts.
#[derive(Clone, Debug, PartialEq)]
pub enum ParseOutcome {
    Event(Event),
    /// Boxed: dead letters are rare and large, events are common and small.
    DeadLetter(Box<DeadLetter>),
}

/// Why one parser refused a record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseRefusal(pub String);

impl ParseRefusal {
    pub fn new(reason: impl Into<String>) -> Self {
        ParseRefusal(reason.into())
    }
}

/// What a log type's parser extracts from one accepted record, before the `p_` fields.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedRecord {
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub event_time: chrono::DateTime<chrono::Utc>,
    pub indicators: indicators::Indicators,
}
