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

use serde_json::{Map, Value};

use super::ParseRefusal;

/// Frames raw records of one native log type.
pub trait NativeParser: Send + Sync + std::fmt::Debug {
    fn split(
        &self,
        line: &[u8],
        state: &mut Option<Value>,
    ) -> Result<Vec<Map<String, Value>>, ParseRefusal>;
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
