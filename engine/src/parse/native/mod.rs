//! Native framings: formats that need code to become named values.
//!
//! A native parser only *frames*: it turns one raw record into zero or more JSON objects
//! (zero for a header line it consumed, several for an envelope), keeping whatever
//! per-stream state it needs in `state`. The log type's schema then types the values,
//! picks the event time and extracts indicators, exactly as for JSON log types.
//!
//! `state` is one JSON value per (stream, log type), owned by the classifier and
//! checkpointed with it, so a parser's state survives streams interleaving in one
//! partition and, later, restarts.

pub mod aws;
pub mod syslog;
pub mod text_formats;
pub mod vendors;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::indicators::Indicators;
use super::ParseRefusal;

/// What a native parser may know about a record beyond its bytes.
#[derive(Clone, Copy, Debug)]
pub struct ParseContext {
    /// When the record is parsed (`p_parse_time`): the "now" against which year-less
    /// timestamps are resolved, so a golden run or a replay with the same parse time
    /// gets the same answer.
    pub parse_time: DateTime<Utc>,
}

/// Frames raw records of one native log type.
pub trait NativeParser: Send + Sync + std::fmt::Debug {
    /// Turns one raw record into zero or more JSON objects for the schema to normalize.
    /// Must leave `state` untouched when it refuses the record. By default one JSON
    /// object a line, for parsers that only add [`NativeParser::extra_indicators`].
    fn split(
        &self,
        line: &[u8],
        _state: &mut Option<Value>,
        _context: &ParseContext,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal> {
        Ok(vec![json_object(line)?])
    }

    /// Indicators a schema's per-field scanners cannot express, because they depend on
    /// more than one field (a DNS answer is an IP or a name according to its record
    /// type), taken from one framed object before normalization. None by default.
    fn extra_indicators(&self, _framed: &Map<String, Value>, _found: &mut Indicators) {}
}

/// A context at the current time, for unit tests of native parsers.
#[cfg(test)]
pub fn test_context() -> ParseContext {
    ParseContext {
        parse_time: Utc::now(),
    }
}

/// The native parser called `name` in a schema's `parser.native.name`.
pub fn lookup(name: &str) -> Option<Box<dyn NativeParser>> {
    aws::lookup(name)
        .or_else(|| syslog::lookup(name))
        .or_else(|| text_formats::lookup(name))
        .or_else(|| vendors::lookup(name))
}

/// Decodes a line as one JSON object.
pub fn json_object(line: &[u8]) -> Result<Map<String, Value>, ParseRefusal> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParseRefusal::new("not a JSON object")),
        Err(e) => Err(ParseRefusal::new(format!("not JSON: {e}"))),
    }
}
