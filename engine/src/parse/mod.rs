//! Parsing and classification: raw records become normalized [`Event`]s or dead letters.
//!
//! Log types are declared as schemas ([`schema`], Panther's custom log schema format):
//! a framing (JSON lines, CSV, regex, or a [`native`] parser for formats that need code)
//! plus typed fields. The [`registry`] holds the built-in log types and the user's.
//!
//! Classification is per source ([`classifier`]): only the log types the record's source
//! declares are tried, the one that succeeded last first. A record no parser accepts
//! becomes a [`DeadLetter`] carrying its raw bytes, where it came from and every
//! parser's reason — nothing is dropped silently.
//!
//! Every event gets the core `p_` fields (`p_log_type`, `p_event_time`, `p_parse_time`,
//! `p_row_id`, `p_source_id`, `p_source_label`) and the sorted, de-duplicated `p_any_*`
//! indicator arrays ([`indicators`]).

pub mod avro;
pub mod classifier;
pub mod indicators;
pub mod native;
pub mod registry;
pub mod row_id;
pub mod schema;
pub mod stdin;
pub mod text;

pub use classifier::Classifier;
pub use registry::LogTypeRegistry;

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
    /// Each tried parser's reason, e.g. `Osquery.Differential: not JSON: expected value …`.
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
    /// `None` when the record has no event time; `p_event_time` is then the parse time.
    pub event_time: Option<chrono::DateTime<chrono::Utc>>,
    pub indicators: indicators::Indicators,
}
