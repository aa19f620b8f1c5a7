//! The half-join: probes read the table arrangement as of their own epoch.
//!
//! Probes wait until the table's frontier has passed their epoch (every upsert up to it
//! is in the trace), then look their key up and emit the row that was live at that
//! epoch. Only probes are held, never events, and a table change touches nothing already
//! answered: an update is visible to probes of its epoch and later, and never re-emits
//! an earlier event (the difference to a differential `join`).
//!
//! CIDR tables are probed at every prefix length the table has held, with the address
//! masked to it ([`super::keys`]); the longest matching range wins in [`super::attach`].
//! Lengths are collected from the batches this worker's shard receives, and CIDR probes
//! are broadcast to every shard, so each answers for the ranges it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::cursor::{cursor_list, Cursor, Navigable};
use differential_dataflow::trace::implementations::{ValBuilder, ValSpine};
use differential_dataflow::trace::TraceReader;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;
use timely::progress::Antichain;
use timely::PartialOrder;

use super::config::MatchKind;
use super::keys::{cidr_key, masked_key};
use super::tables::{Answer, Probe, TableKey, Tables};
use crate::source::epoch::Pending;
use crate::source::Epoch;

/// The arrangement of every table: (table, key) → row JSON.
pub type TableSpine = ValSpine<TableKey, String, Epoch, isize>;
pub type TableBuilder = ValBuilder<TableKey, String, Epoch, isize>;
pub type TableTrace = TraceAgent<TableSpine>;

/// Answers each probe with the row(s) its key had at the probe's epoch.
pub fn lookup<'scope>(
    probes: Stream<'scope, Epoch, Vec<Probe>>,
    table: Arranged<'scope, TableTrace>,
    tables: Arc<Tables>,
) -> Stream<'scope, Epoch, Vec<Answer>> {
    let mut trace = table.trace;
    let has_cidr = tables.specs.iter().any(|spec| spec.kind == MatchKind::Cidr);
    probes.binary_frontier(
        table.stream,
        Pipeline,
        Pipeline,
        "Lookup",
        move |_capability, _info| {
            let mut pending: Pending<Probe> = Pending::new();
            // Prefix lengths each CIDR table has held on this shard (never shrinks: a
            // range deleted later may still answer probes of earlier epochs).
            let mut lengths: BTreeMap<u32, BTreeSet<u8>> = BTreeMap::new();
            let mut compacted_to = Antichain::from_elem(0);
            move |(probes_in, probes_frontier), (spans_in, table_frontier), output| {
                probes_in.for_each(|cap, data| {
                    crate::source::epoch::stash(&mut pending, &cap, data);
                });
                spans_in.for_each(|_cap, spans| {
                    // Only CIDR tables need the lengths; exact-only tables skip the walk.
                    if !has_cidr {
                        return;
                    }
                    for batch in spans.iter().filter_map(|span| span.inner.as_ref()) {
                        let mut cursor = batch.cursor();
                        while let Some((table, key)) = cursor.get_key(batch) {
                            if tables.kind(*table) == MatchKind::Cidr {
                                if let Some((_, length)) = cidr_key(key) {
                                    lengths.entry(*table).or_default().insert(length);
                                }
                            }
                            cursor.step_key(batch);
                        }
                    }
                });
                let ready: Vec<Epoch> = pending
                    .keys()
                    .copied()
                    .take_while(|epoch| !table_frontier.less_equal(epoch))
                    .collect();
                if !ready.is_empty() {
                    let Some(batches) = trace.batches_through(Antichain::new().borrow()) else {
                        tracing::error!("lookup table trace unreadable; probes left waiting");
                        return;
                    };
                    let (mut cursor, storage) = cursor_list(batches);
                    for epoch in ready {
                        let Some((cap, probes)) = pending.remove(&epoch) else {
                            continue;
                        };
                        let mut keys = lookup_keys(&probes, &tables, &lengths);
                        keys.sort_unstable();
                        cursor.rewind_keys(&storage);
                        let mut session = output.session(&cap);
                        for (key, index, rank) in keys {
                            cursor.seek_key(&storage, &key);
                            if cursor.get_key(&storage) != Some(&key) {
                                continue;
                            }
                            cursor.rewind_vals(&storage);
                            while let Some(row) = cursor.get_val(&storage) {
                                let mut count = 0isize;
                                cursor.map_times(&storage, |time, diff| {
                                    if *time <= epoch {
                                        count += *diff;
                                    }
                                });
                                if count > 0 {
                                    let probe = &probes[index];
                                    session.give(Answer {
                                        origin: probe.origin,
                                        seq: probe.seq,
                                        table: probe.key.0,
                                        selector: probe.selector,
                                        slot: probe.slot,
                                        rank,
                                        listed: probe.listed,
                                        row: row.clone(),
                                    });
                                }
                                cursor.step_val(&storage);
                            }
                        }
                    }
                }
                // The trace may forget history no probe can still ask about.
                let mut lower = probes_frontier.frontier().to_owned();
                if let Some(first) = pending.keys().next() {
                    lower.insert(*first);
                }
                if lower != compacted_to && PartialOrder::less_equal(&compacted_to, &lower) {
                    trace.set_logical_compaction(lower.borrow());
                    trace.set_physical_compaction(lower.borrow());
                    compacted_to = lower;
                }
            }
        },
    )
}

/// The keys to look up for a batch of probes: (key, probe index, rank).
fn lookup_keys(
    probes: &[Probe],
    tables: &Tables,
    lengths: &BTreeMap<u32, BTreeSet<u8>>,
) -> Vec<(TableKey, usize, u8)> {
    let mut keys = Vec::with_capacity(probes.len());
    for (index, probe) in probes.iter().enumerate() {
        let table = probe.key.0;
        match tables.kind(table) {
            MatchKind::Exact => keys.push((probe.key.clone(), index, 0)),
            MatchKind::Cidr => {
                let Ok(ip) = probe.key.1.parse::<IpAddr>() else {
                    continue;
                };
                for &length in lengths.get(&table).into_iter().flatten() {
                    if let Some(masked) = masked_key(ip, length) {
                        keys.push(((table, masked), index, length));
                    }
                }
            }
        }
    }
    keys
}
