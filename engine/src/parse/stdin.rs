//! `corvid parse`: the engine's parsing path over lines of a reader, without Kafka.
//!
//! Each non-empty line becomes a raw record of one stream (offset = line number from 0)
//! and goes through the same [`Classifier`] the engine runs; each result is printed as
//! one JSON line: the normalized event, or `{"dead_letter": {…}}` with every tried
//! parser's reason. Golden tests drive this same function with a fixed parse time.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{Classifier, ParseOutcome};
use crate::source::RawRecord;
use corvid_connectors::raw_record::SourceMeta;

/// Where the lines claim to come from.
#[derive(Clone, Debug)]
pub struct LineSource {
    pub topic: String,
    pub stream: String,
    pub meta: SourceMeta,
}

/// The JSON form of one parse outcome.
pub fn outcome_json(outcome: &ParseOutcome) -> Value {
    match outcome {
        ParseOutcome::Event(event) => Value::Object(event.fields().clone()),
        ParseOutcome::DeadLetter(dead) => json!({
            "dead_letter": {
                "kind": dead.kind.as_str(),
                "reason": dead.reason,
                "stream": dead.record.stream,
                "offset": dead.record.offset,
                "raw": String::from_utf8_lossy(&dead.record.payload),
            }
        }),
    }
}

/// Parses every line of `input`; `parse_time` fixes `p_parse_time` (tests), else now.
pub fn parse_lines(
    classifier: &mut Classifier,
    source: &LineSource,
    input: impl BufRead,
    parse_time: Option<DateTime<Utc>>,
    mut emit: impl FnMut(&ParseOutcome) -> std::io::Result<()>,
) -> std::io::Result<(u64, u64)> {
    let (mut events, mut dead) = (0u64, 0u64);
    for (offset, line) in input.split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.is_empty() {
            continue;
        }
        let record = RawRecord {
            topic: source.topic.clone(),
            partition: 0,
            offset: offset as i64,
            stream: source.stream.clone(),
            meta: source.meta.clone(),
            payload: line,
        };
        for outcome in classifier.classify(&record, parse_time.unwrap_or_else(Utc::now)) {
            match outcome {
                ParseOutcome::Event(_) => events += 1,
                ParseOutcome::DeadLetter(_) => dead += 1,
            }
            emit(&outcome)?;
        }
    }
    Ok((events, dead))
}

/// `corvid parse`: prints one JSON line per outcome to `out`.
pub fn print_parsed(
    classifier: &mut Classifier,
    source: &LineSource,
    input: impl BufRead,
    out: &mut dyn Write,
) -> std::io::Result<(u64, u64)> {
    parse_lines(classifier, source, input, None, |outcome| {
        writeln!(out, "{}", outcome_json(outcome))
    })
}
