//! Scenarios: a planted attack story, mixed into background traffic of the same log
//! types, for the pipeline, its rules and SQL over the lake to find.
//!
//! ```text
//!  spec (day, background events, seed)
//!        │  generate (pure, deterministic)
//!        ▼
//!  Scenario ── one ScenarioLog per log type: source meta, stream, lines
//!        │
//!        ├─▶ write_files: DIR/<log type>.log, one per log type (no Kafka)
//!        └─▶ produce: the raw topic, keyed by stream, source headers per log type
//! ```
//!
//! A scenario is a pure function of its spec: the same spec gives the same lines, byte
//! for byte. The story's lines depend on the day alone (never on the seed or the amount
//! of background), and no background line mentions the story's addresses, instance or
//! host, so every query for them finds the story and nothing else. Every event falls on
//! the spec's UTC [`Day`].
//!
//! Each log type is its own source (`source_id`, one entry in `log_types`) and its own
//! stream: the lines of one log type are one ordered stream, as one file would be, which
//! stateful framing needs (a VPC flow log header names the columns of the lines after
//! it in the same stream).
//!
//! * [`day`]: the UTC day and the time layouts of the sources;
//! * [`intrusion`]: the intrusion story (`corvid loadtest scenario intrusion`);
//! * [`delivery`]: writing a scenario to files or producing it to Kafka.

pub mod day;
pub mod delivery;
pub mod intrusion;

pub use day::{Day, DayError};

use corvid_connectors::raw_record::SourceMeta;

/// The lines of one log type, as one source would send them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioLog {
    /// The log type of every line, and the source's only `log_types` entry.
    pub log_type: &'static str,
    /// The source's headers (`source_id`, `source_label`, `log_types`).
    pub meta: SourceMeta,
    /// The file name under `--write-to`, `<log type>.log`.
    pub file_name: String,
    /// The record key on Kafka: one stream per log type, so its lines stay in order.
    pub stream: String,
    /// The raw lines, in the order a source would send them (by event time, framing
    /// lines such as a VPC flow header first).
    pub lines: Vec<String>,
    /// Events the lines hold: a header line holds none, a CloudTrail envelope several.
    pub events: u64,
    /// Of those, the story's.
    pub story_events: u64,
}

impl ScenarioLog {
    /// A log of `log_type` from source `source_id`, with its stream named after the
    /// scenario and day.
    pub fn new(scenario: &str, day: Day, log_type: &'static str, source: (&str, &str)) -> Self {
        let file_name = format!("{log_type}.log");
        ScenarioLog {
            log_type,
            meta: SourceMeta {
                source_id: source.0.to_owned(),
                source_label: source.1.to_owned(),
                log_types: vec![log_type.to_owned()],
            },
            stream: format!("scenario/{scenario}/{day}/{file_name}"),
            file_name,
            lines: Vec::new(),
            events: 0,
            story_events: 0,
        }
    }
}

/// A generated scenario: its day, one log per log type and the story's key values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub name: &'static str,
    pub day: Day,
    pub logs: Vec<ScenarioLog>,
    /// What a query should look for: (what, value), in story order.
    pub story: Vec<(&'static str, String)>,
}

impl Scenario {
    /// The log of `log_type`, if the scenario has one.
    pub fn log(&self, log_type: &str) -> Option<&ScenarioLog> {
        self.logs.iter().find(|log| log.log_type == log_type)
    }

    /// A short summary: the day, records per log type, the story's key values.
    pub fn render(&self) -> String {
        let mut out = format!("scenario: {} on {} (UTC)\n", self.name, self.day);
        for log in &self.logs {
            out.push_str(&format!(
                "  {:<22} {:>8} events ({} of the story) in {} lines, source {}, stream {}\n",
                log.log_type,
                log.events,
                log.story_events,
                log.lines.len(),
                log.meta.source_id,
                log.stream,
            ));
        }
        out.push_str("story:\n");
        for (what, value) in &self.story {
            out.push_str(&format!("  {what:<22} {value}\n"));
        }
        out
    }
}
