//! The classifier: tries a source's declared log types and builds the events.
//!
//! Per source, the parser that succeeded last is tried first next time (Panther's
//! penalty queue), so a source that mostly carries one log type pays for one parse per
//! line. Per-stream parser state (a VPC flow header, a CSV header) is kept per
//! (stream, log type), so streams interleaved in one partition never see each other's
//! state. A parser must leave `state` untouched when it refuses a record.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::avro::{confluent_schema_id, AvroDecoding};
use super::native::ParseContext;
use super::registry::{LogTypeParser, LogTypeRegistry};
use super::row_id::row_id;
use super::{DeadLetter, DeadLetterKind, ParseOutcome, ParsedRecord};
use crate::event::{format_timestamp, Event};
use crate::source::RawRecord;

/// Classifies raw records of many sources and streams; one per worker.
pub struct Classifier {
    registry: Arc<LogTypeRegistry>,
    /// Per source id, per declared log types: the known log types in the order to try
    /// them. Nested so that a lookup borrows the record's strings instead of copying them.
    order: HashMap<String, HashMap<Vec<String>, Vec<Arc<LogTypeParser>>>>,
    /// Per stream, per log type: that parser's state for that stream (only parsers that
    /// keep state have entries).
    states: HashMap<String, HashMap<String, Value>>,
    /// Decodes Confluent-framed Avro records, when a schema registry is configured.
    avro: Option<Arc<AvroDecoding>>,
    /// The partition each stream with state was read from: a checkpoint's state moves
    /// with the partition to whichever worker owns it next.
    partitions: HashMap<String, i32>,
    /// Records were classified since the last snapshot.
    dirty: bool,
}

/// What a checkpoint keeps of a classifier.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClassifierState {
    /// Per stream: its partition and each stateful parser's state for it.
    pub streams: std::collections::BTreeMap<String, (i32, HashMap<String, Value>)>,
    /// (source id, declared log types, the order to try them in).
    pub order: Vec<(String, Vec<String>, Vec<String>)>,
}

impl Classifier {
    pub fn new(registry: Arc<LogTypeRegistry>) -> Self {
        Classifier {
            registry,
            order: HashMap::new(),
            states: HashMap::new(),
            avro: None,
            partitions: HashMap::new(),
            dirty: false,
        }
    }

    /// The parser state and orders, if anything changed since the last call.
    pub fn snapshot(&mut self) -> Option<ClassifierState> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        let streams = self
            .states
            .iter()
            .filter_map(|(stream, states)| {
                let partition = *self.partitions.get(stream)?;
                Some((stream.clone(), (partition, states.clone())))
            })
            .collect();
        let mut order: Vec<_> = self
            .order
            .iter()
            .flat_map(|(source, by_types)| {
                by_types.iter().map(move |(types, parsers)| {
                    let names = parsers.iter().map(|p| p.name().to_owned()).collect();
                    (source.clone(), types.clone(), names)
                })
            })
            .collect();
        order.sort();
        Some(ClassifierState { streams, order })
    }

    /// Takes over the streams of the partitions this worker owns (`owns`) and the
    /// parser orders from checkpointed states.
    pub fn restore(&mut self, states: Vec<ClassifierState>, owns: impl Fn(i32) -> bool) {
        for state in states {
            for (stream, (partition, parsers)) in state.streams {
                if owns(partition) {
                    self.partitions.insert(stream.clone(), partition);
                    self.states.insert(stream, parsers);
                }
            }
            for (source, types, names) in state.order {
                let parsers = names
                    .iter()
                    .filter_map(|name| self.registry.get(name).cloned())
                    .collect();
                self.order
                    .entry(source)
                    .or_default()
                    .entry(types)
                    .or_insert(parsers);
            }
        }
        // The first checkpoint after a restore writes this worker's whole share.
        self.dirty = true;
    }

    /// Decodes Confluent-framed Avro records with `avro` before parsing them.
    pub fn with_avro(mut self, avro: Arc<AvroDecoding>) -> Self {
        self.avro = Some(avro);
        self
    }

    /// Parses one raw record into events, or a dead letter with every parser's reason.
    pub fn classify(&mut self, record: &RawRecord, parse_time: DateTime<Utc>) -> Vec<ParseOutcome> {
        self.dirty = true;
        let meta = &record.meta;
        if !self
            .order
            .get(meta.source_id.as_str())
            .is_some_and(|by_types| by_types.contains_key(meta.log_types.as_slice()))
        {
            let known = meta
                .log_types
                .iter()
                .filter_map(|name| self.registry.get(name).cloned())
                .collect();
            self.order
                .entry(meta.source_id.clone())
                .or_default()
                .insert(meta.log_types.clone(), known);
        }
        let Some(order) = self
            .order
            .get_mut(meta.source_id.as_str())
            .and_then(|by_types| by_types.get_mut(meta.log_types.as_slice()))
        else {
            unreachable!("the order for this source and its log types was inserted just above");
        };
        if order.is_empty() {
            let declared = if record.meta.log_types.is_empty() {
                "none".to_owned()
            } else {
                record.meta.log_types.join(", ")
            };
            return vec![dead_letter(
                record,
                DeadLetterKind::UnknownLogType,
                format!("source declares no log type Corvid parses (declared: {declared})"),
            )];
        }
        let decoded;
        let payload: &[u8] = match (confluent_schema_id(&record.payload), &self.avro) {
            (None, _) => &record.payload,
            (Some(_), Some(avro)) => match avro.to_json(&record.payload) {
                Ok(json) => {
                    decoded = json;
                    &decoded
                }
                Err(refusal) => return vec![dead_letter(record, DeadLetterKind::NoParserAccepted, refusal.0)],
            },
            (Some(id), None) => {
                return vec![dead_letter(
                    record,
                    DeadLetterKind::NoParserAccepted,
                    format!("Confluent-framed Avro record (schema id {id}) but no schema_registry is configured"),
                )]
            }
        };
        let mut reasons = Vec::with_capacity(order.len());
        for position in 0..order.len() {
            let parser = Arc::clone(&order[position]);
            let mut state = self
                .states
                .get_mut(record.stream.as_str())
                .and_then(|by_type| by_type.remove(parser.name()));
            let result = parser.parse(payload, &mut state, &ParseContext { parse_time });
            if let Some(state) = state {
                if !self.partitions.contains_key(record.stream.as_str()) {
                    self.partitions
                        .insert(record.stream.clone(), record.partition);
                }
                self.states
                    .entry(record.stream.clone())
                    .or_default()
                    .insert(parser.name().to_owned(), state);
            }
            match result {
                Ok(parsed) => {
                    order[..=position].rotate_right(1);
                    return parsed
                        .into_iter()
                        .enumerate()
                        .map(|(index, parsed)| {
                            ParseOutcome::Event(build_event(
                                record,
                                index,
                                parser.name(),
                                parsed,
                                parse_time,
                            ))
                        })
                        .collect();
                }
                Err(refusal) => reasons.push(format!("{}: {refusal}", parser.name())),
            }
        }
        vec![dead_letter(
            record,
            DeadLetterKind::NoParserAccepted,
            reasons.join("; "),
        )]
    }
}

fn dead_letter(record: &RawRecord, kind: DeadLetterKind, reason: String) -> ParseOutcome {
    ParseOutcome::DeadLetter(Box::new(DeadLetter {
        record: record.clone(),
        kind,
        reason,
    }))
}

/// Adds the `p_` fields to a parsed record.
pub fn build_event(
    record: &RawRecord,
    index: usize,
    log_type: &str,
    parsed: ParsedRecord,
    parse_time: DateTime<Utc>,
) -> Event {
    let ParsedRecord {
        mut fields,
        event_time,
        indicators,
    } = parsed;
    let mut put = |name: &str, value: String| {
        fields.insert(name.to_owned(), Value::String(value));
    };
    put("p_log_type", log_type.to_owned());
    put(
        "p_row_id",
        row_id(&record.topic, record.partition, record.offset, index),
    );
    put(
        "p_event_time",
        format_timestamp(&event_time.unwrap_or(parse_time)),
    );
    put("p_parse_time", format_timestamp(&parse_time));
    if !record.meta.source_id.is_empty() {
        put("p_source_id", record.meta.source_id.clone());
    }
    if !record.meta.source_label.is_empty() {
        put("p_source_label", record.meta.source_label.clone());
    }
    indicators.write_into(&mut fields);
    Event::from_fields(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corvid_connectors::raw_record::SourceMeta;

    fn registry() -> Arc<LogTypeRegistry> {
        Arc::new(LogTypeRegistry::builtin().expect("built-in schemas"))
    }

    fn record(payload: &str, log_types: &[&str]) -> RawRecord {
        RawRecord {
            topic: "raw".into(),
            partition: 0,
            offset: 7,
            stream: "/var/log/osquery.log".into(),
            meta: SourceMeta {
                source_id: "src-1".into(),
                source_label: "Fleet".into(),
                log_types: log_types.iter().map(|s| s.to_string()).collect(),
            },
            payload: payload.as_bytes().to_vec(),
        }
    }

    const LINE: &str = r#"{"name":"pack_logged_in_users","hostIdentifier":"web-1","calendarTime":"Fri Nov 27 20:01:02 2026 UTC","columns":{"host":"203.0.113.7","user":"alice"},"action":"added"}"#;

    #[test]
    fn an_accepted_line_gets_every_core_p_field() {
        let parse_time = DateTime::from_timestamp(1_800_000_000, 5).expect("time");
        let outcomes = Classifier::new(registry())
            .classify(&record(LINE, &["Osquery.Differential"]), parse_time);
        let [ParseOutcome::Event(event)] = outcomes.as_slice() else {
            panic!("expected one event: {outcomes:?}");
        };
        let f = event.fields();
        assert_eq!(f["p_log_type"], "Osquery.Differential");
        assert_eq!(f["p_event_time"], "2026-11-27 20:01:02.000000000");
        assert_eq!(f["p_parse_time"], "2027-01-15 08:00:00.000000005");
        assert_eq!(f["p_row_id"], row_id("raw", 0, 7, 0).as_str());
        assert_eq!(f["p_source_id"], "src-1");
        assert_eq!(f["p_source_label"], "Fleet");
        assert_eq!(f["p_any_ip_addresses"], serde_json::json!(["203.0.113.7"]));
        assert_eq!(f["p_any_domain_names"], serde_json::json!(["web-1"]));
        assert_eq!(f["columns"]["user"], "alice");
    }

    #[test]
    fn a_refused_line_is_a_dead_letter_with_raw_bytes_and_reason() {
        let raw = record("garbage \u{1} line", &["Osquery.Differential"]);
        let outcomes = Classifier::new(registry()).classify(&raw, Utc::now());
        let [ParseOutcome::DeadLetter(dead)] = outcomes.as_slice() else {
            panic!("expected a dead letter: {outcomes:?}");
        };
        assert_eq!(dead.kind, DeadLetterKind::NoParserAccepted);
        assert_eq!(dead.record, raw);
        assert!(
            dead.reason.starts_with("Osquery.Differential: not JSON"),
            "{}",
            dead.reason
        );
    }

    #[test]
    fn unknown_or_missing_log_types_are_dead_letters_too() {
        for declared in [&["Nope.Never"][..], &[][..]] {
            let outcomes =
                Classifier::new(registry()).classify(&record(LINE, declared), Utc::now());
            let [ParseOutcome::DeadLetter(dead)] = outcomes.as_slice() else {
                panic!("expected a dead letter: {outcomes:?}");
            };
            assert_eq!(dead.kind, DeadLetterKind::UnknownLogType);
        }
    }

    #[test]
    fn framed_avro_without_a_registry_is_a_dead_letter_that_says_so() {
        let raw = record("\u{0}\u{0}\u{0}\u{0}\u{5}body", &["Osquery.Differential"]);
        let outcomes = Classifier::new(registry()).classify(&raw, Utc::now());
        let [ParseOutcome::DeadLetter(dead)] = outcomes.as_slice() else {
            panic!("expected a dead letter: {outcomes:?}");
        };
        assert!(
            dead.reason.contains("schema id 5") && dead.reason.contains("no schema_registry"),
            "{}",
            dead.reason
        );
    }

    #[test]
    fn unknown_log_types_beside_known_ones_are_skipped() {
        let outcomes = Classifier::new(registry()).classify(
            &record(LINE, &["Nope.Never", "Osquery.Differential"]),
            Utc::now(),
        );
        assert!(matches!(outcomes.as_slice(), [ParseOutcome::Event(_)]));
    }
}
