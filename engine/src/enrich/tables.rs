//! The configured tables, compiled: what each is called, how it matches, which event
//! fields probe it, and where its rows come from.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::config::{EnrichmentConfig, MatchKind};
use super::keys::{exact_key, Selector};
use super::learn::Learner;
use crate::event::Event;

/// A key of the combined table arrangement: the table's index and the canonical key.
pub type TableKey = (u32, String);

/// One probe of one event value into one table.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Probe {
    /// The table and the canonical value (for a CIDR table, the address to mask).
    pub key: TableKey,
    /// Which event asks: its worker and its sequence number there.
    pub origin: u32,
    pub seq: u64,
    pub selector: u16,
    /// The value's position among the selector's values (orders listed rows).
    pub slot: u32,
    pub listed: bool,
}

/// A row found for a probe.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Answer {
    pub origin: u32,
    pub seq: u64,
    pub table: u32,
    pub selector: u16,
    pub slot: u32,
    /// A CIDR match's prefix length: the longest range wins when several hold the address.
    pub rank: u8,
    pub listed: bool,
    /// The row as JSON text.
    pub row: String,
}

/// Where a table's rows come from.
#[derive(Clone, Debug)]
pub enum RowSource {
    /// A compacted topic.
    Topic(String),
    /// Events of other log types.
    Learned(Vec<Learner>),
}

#[derive(Clone, Debug)]
pub struct TableSpec {
    pub name: String,
    pub kind: MatchKind,
    pub selectors: Vec<Selector>,
    /// Empty: every log type is probed.
    pub log_types: BTreeSet<String>,
    pub source: RowSource,
}

impl TableSpec {
    fn probes_log_type(&self, log_type: &str) -> bool {
        self.log_types.is_empty() || self.log_types.contains(log_type)
    }
}

/// Every table of the engine; a table's index is its position.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    pub specs: Vec<TableSpec>,
}

impl Tables {
    pub fn from_config(config: &EnrichmentConfig) -> Tables {
        let selectors =
            |fields: &[String]| fields.iter().flat_map(|f| Selector::expand(f)).collect();
        let log_types = |types: &[String]| types.iter().cloned().collect();
        let mut specs: Vec<TableSpec> = config
            .tables
            .iter()
            .map(|table| TableSpec {
                name: table.name.clone(),
                kind: table.match_kind,
                selectors: selectors(&table.fields),
                log_types: log_types(&table.log_types),
                source: RowSource::Topic(table.topic()),
            })
            .collect();
        for table in &config.derived {
            let index = specs.len() as u32;
            specs.push(TableSpec {
                name: table.name.clone(),
                kind: MatchKind::Exact,
                selectors: selectors(&table.fields),
                log_types: log_types(&table.log_types),
                source: RowSource::Learned(
                    table
                        .learn
                        .iter()
                        .filter_map(|learn| Learner::new(index, learn))
                        .collect(),
                ),
            });
        }
        Tables { specs }
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    pub fn name(&self, table: u32) -> &str {
        self.specs
            .get(table as usize)
            .map_or("", |spec| spec.name.as_str())
    }

    pub fn kind(&self, table: u32) -> MatchKind {
        self.specs
            .get(table as usize)
            .map_or(MatchKind::Exact, |spec| spec.kind)
    }

    /// The topic-fed tables: (index, topic).
    pub fn topics(&self) -> Vec<(u32, String)> {
        self.specs
            .iter()
            .enumerate()
            .filter_map(|(index, spec)| match &spec.source {
                RowSource::Topic(topic) => Some((index as u32, topic.clone())),
                RowSource::Learned(_) => None,
            })
            .collect()
    }

    /// Every learner of every derived table.
    pub fn learners(&self) -> Vec<Learner> {
        self.specs
            .iter()
            .flat_map(|spec| match &spec.source {
                RowSource::Learned(learners) => learners.clone(),
                RowSource::Topic(_) => Vec::new(),
            })
            .collect()
    }

    /// Appends the probes `event` makes, each distinct (table, selector, value) once.
    pub fn probes(&self, origin: u32, seq: u64, event: &Event, out: &mut Vec<Probe>) {
        let log_type = event.log_type();
        for (table, spec) in self.specs.iter().enumerate() {
            if !spec.probes_log_type(log_type) {
                continue;
            }
            for (selector, select) in spec.selectors.iter().enumerate() {
                let selected = select.select(event.fields());
                let mut seen = BTreeSet::new();
                for raw in selected.values {
                    let Some(key) = probe_key(spec.kind, &raw) else {
                        continue;
                    };
                    if !seen.insert(key.clone()) {
                        continue;
                    }
                    out.push(Probe {
                        key: (table as u32, key),
                        origin,
                        seq,
                        selector: selector as u16,
                        slot: (seen.len() - 1) as u32,
                        listed: selected.listed,
                    });
                }
            }
        }
    }
}

/// The canonical probe value: for a CIDR table only an IP address can fall in a range.
fn probe_key(kind: MatchKind, raw: &str) -> Option<String> {
    let key = exact_key(raw)?;
    match kind {
        MatchKind::Exact => Some(key),
        MatchKind::Cidr => key.parse::<std::net::IpAddr>().ok().map(|_| key),
    }
}
