//! Enrichment: lookup tables joined into events as `p_enrichment`.
//!
//! ```text
//!  table topics ─▶ KafkaSource(table) ─▶ TableUpserts ─┐
//!  (compacted)                                         ├─▶ arrange_from_upsert ──┐
//!  events ─▶ learners ─▶ LatestByEventTime ────────────┘   (one arrangement,     │
//!     │                                                     sharded by key)      ▼
//!     └─▶ Tag(seq) ─┬─▶ probes ─┬─ exact: exchange by key ─────────────▶ Lookup (half-join)
//!                   │           └─ CIDR: broadcast ────────────────────▶      │
//!                   └─▶ AttachEnrichment ◀── answers, exchanged back to the event's worker
//! ```
//!
//! * **Tables** ([`config`], [`tables`]): topic-fed tables (key → JSON row, tombstones
//!   delete) and tables learned from other logs ([`learn`]); all live in one upsert
//!   arrangement keyed by (table, canonical key) ([`keys`]).
//! * **Time.** A probe reads the table as of its event's epoch, once the table's frontier
//!   has passed that epoch ([`lookup`]). Rows present in a table topic when the engine
//!   starts take the first epoch, so the first event already sees the whole table; later
//!   rows take their Kafka timestamp's epoch, and a caught-up table topic follows the wall
//!   clock, so a quiet table never holds events back.
//! * **Events are never stored** beyond their epoch: they wait in [`attach`] only until
//!   their epoch's answers are complete, and a table change never re-emits an event.

pub mod attach;
pub mod config;
pub mod feed;
pub mod keys;
pub mod learn;
pub mod lookup;
pub mod tables;

use std::sync::Arc;

use differential_dataflow::operators::arrange::upsert::arrange_from_upsert;
use differential_dataflow::Hashable;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::{Broadcast, Map};
use timely::dataflow::operators::{Concatenate, Exchange};
use timely::dataflow::{Scope, Stream};

use crate::event::Event;
use crate::source::kafka::{kafka_source, OwnedPartitions, SourceSettings};
use crate::source::Epoch;
use config::MatchKind;
use learn::latest_by_event_time;
pub use learn::LearnCheckpoint;
pub use learn::Upsert;
use lookup::{lookup, TableBuilder, TableSpine};
use tables::{Probe, TableKey};

pub use config::EnrichmentConfig;
pub use tables::Tables;

/// One worker's reader of one table topic.
pub struct TableFeed {
    pub settings: SourceSettings,
    pub partitions: OwnedPartitions,
}

/// Builds the enrichment stage of one worker. With no table configured the events pass
/// through untouched (and undelayed).
pub fn enrich<'scope>(
    scope: Scope<'scope, Epoch>,
    events: Stream<'scope, Epoch, Vec<Event>>,
    tables: Arc<Tables>,
    feeds: Vec<TableFeed>,
    checkpoint: Option<LearnCheckpoint>,
) -> Stream<'scope, Epoch, Vec<Event>> {
    if tables.is_empty() {
        return events;
    }
    let upserts: Vec<Stream<'scope, Epoch, Vec<Upsert>>> = feeds
        .into_iter()
        .map(|feed| {
            let records = kafka_source(scope, feed.settings, feed.partitions, None);
            feed::table_upserts(records, Arc::clone(&tables))
        })
        .collect();
    enrich_with(scope, events, tables, upserts, checkpoint)
}

/// The enrichment stage over given upsert streams of topic-fed tables (tests and
/// benchmarks feed them from input handles).
pub fn enrich_with<'scope>(
    scope: Scope<'scope, Epoch>,
    events: Stream<'scope, Epoch, Vec<Event>>,
    tables: Arc<Tables>,
    mut upserts: Vec<Stream<'scope, Epoch, Vec<Upsert>>>,
    checkpoint: Option<LearnCheckpoint>,
) -> Stream<'scope, Epoch, Vec<Event>> {
    if tables.is_empty() {
        return events;
    }
    let learners = tables.learners();
    if !learners.is_empty() {
        let learned = events.clone().flat_map(move |event| {
            let mut out = Vec::new();
            for learner in &learners {
                learner.learn(&event, &mut out);
            }
            out
        });
        let names = tables.specs.iter().map(|spec| spec.name.clone()).collect();
        upserts.push(latest_by_event_time(learned, names, checkpoint));
    }
    let upserts = scope.concatenate(upserts);
    let arranged =
        arrange_from_upsert::<TableBuilder, TableSpine, TableKey, String>(upserts, "LookupTables");

    let origin = scope.index() as u32;
    let tagged = events.unary(Pipeline, "TagEvents", move |_capability, _info| {
        let mut next_seq = 0u64;
        move |input, output| {
            input.for_each(|cap, data| {
                let mut session = output.session(&cap);
                for event in data.drain(..) {
                    session.give((next_seq, event));
                    next_seq += 1;
                }
            });
        }
    });
    let probe_tables = Arc::clone(&tables);
    let probes = tagged.clone().flat_map(move |(seq, event)| {
        let mut out = Vec::new();
        probe_tables.probes(origin, seq, &event, &mut out);
        out
    });
    let kinds = Arc::clone(&tables);
    let (cidr, exact) = probes.ok_err(move |probe: Probe| match kinds.kind(probe.key.0) {
        MatchKind::Cidr => Ok(probe),
        MatchKind::Exact => Err(probe),
    });
    // Exact probes go to the shard holding their key (the hash `arrange_from_upsert`
    // exchanges by); a CIDR probe's key is not known before masking, so every shard
    // answers for the ranges it holds.
    let probes = scope.concatenate([
        exact.exchange(|probe: &Probe| probe.key.hashed()),
        cidr.broadcast(),
    ]);
    let answers = lookup(probes, arranged, Arc::clone(&tables));
    attach::attach(tagged, answers, tables)
}

#[cfg(test)]
mod tests;
