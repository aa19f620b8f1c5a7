//! Joins answers back to the events that asked: `p_enrichment.<table>.<field>`.
//!
//! Events wait here, tagged with their sequence number, until both their own epoch and
//! the answers for it are complete; then each event gains the rows found for it, in
//! Panther's shape: one row for a single-valued field, a list of rows (in the order of
//! the field's values) for an array such as `p_any_ip_addresses`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::tables::{Answer, Tables};
use crate::event::Event;
use crate::metrics::metrics;
use crate::source::epoch::Pending;
use crate::source::Epoch;

/// Attaches each event's answers; answers are routed to the worker that holds the event.
pub fn attach<'scope>(
    tagged: Stream<'scope, Epoch, Vec<(u64, Event)>>,
    answers: Stream<'scope, Epoch, Vec<Answer>>,
    tables: Arc<Tables>,
) -> Stream<'scope, Epoch, Vec<Event>> {
    let to_origin = Exchange::new(|answer: &Answer| u64::from(answer.origin));
    tagged.binary_frontier(
        answers,
        Pipeline,
        to_origin,
        "AttachEnrichment",
        move |_capability, _info| {
            // Events of each epoch wait for their answers.
            let mut events: Pending<(u64, Event)> = Pending::new();
            let mut found: BTreeMap<Epoch, Vec<Answer>> = BTreeMap::new();
            move |(events_in, events_frontier), (answers_in, answers_frontier), output| {
                events_in.for_each(|cap, data| {
                    crate::source::epoch::stash(&mut events, &cap, data);
                });
                answers_in.for_each(|cap, data| {
                    if let Some(&epoch) = cap.least() {
                        found.entry(epoch).or_default().append(data);
                    }
                });
                while let Some(entry) = events.first_entry() {
                    let epoch = *entry.key();
                    if events_frontier.less_equal(&epoch) || answers_frontier.less_equal(&epoch) {
                        break;
                    }
                    let (cap, mut tagged) = entry.remove();
                    tagged.sort_unstable_by_key(|(seq, _)| *seq);
                    let mut answers = found.remove(&epoch).unwrap_or_default();
                    answers.sort_unstable_by(|a, b| {
                        (a.seq, a.table, a.selector, a.slot, a.rank)
                            .cmp(&(b.seq, b.table, b.selector, b.slot, b.rank))
                    });
                    let mut session = output.session(&cap);
                    let mut answers = answers.into_iter().peekable();
                    for (seq, event) in tagged {
                        let mut mine = Vec::new();
                        while let Some(answer) = answers.next_if(|answer| answer.seq <= seq) {
                            if answer.seq == seq {
                                mine.push(answer);
                            }
                        }
                        session.give(enriched(event, mine, &tables));
                    }
                }
                // Answers for epochs with no event of this worker left (none expected).
                let done = |epoch: &Epoch| {
                    !events_frontier.less_equal(epoch) && !answers_frontier.less_equal(epoch)
                };
                found.retain(|epoch, _| !done(epoch) || events.contains_key(epoch));
            }
        },
    )
}

/// The event with its answers (sorted by table, selector, slot, rank) as `p_enrichment`.
fn enriched(event: Event, answers: Vec<Answer>, tables: &Tables) -> Event {
    if answers.is_empty() {
        return event;
    }
    // Per (table, selector): the rows, one per slot; for a CIDR table the longest range
    // (highest rank, last in order) wins.
    let mut by_field: BTreeMap<(u32, u16), (bool, BTreeMap<u32, String>)> = BTreeMap::new();
    for answer in answers {
        let entry = by_field
            .entry((answer.table, answer.selector))
            .or_insert_with(|| (answer.listed, BTreeMap::new()));
        entry.1.insert(answer.slot, answer.row);
    }
    let mut enrichment = match event.fields().get("p_enrichment") {
        Some(Value::Object(existing)) => existing.clone(),
        _ => Map::new(),
    };
    let mut hit_tables = Vec::new();
    for ((table, selector), (listed, rows)) in by_field {
        let Some(spec) = tables.specs.get(table as usize) else {
            continue;
        };
        let Some(select) = spec.selectors.get(selector as usize) else {
            continue;
        };
        let mut rows: Vec<Value> = rows
            .into_values()
            .filter_map(|row| serde_json::from_str(&row).ok())
            .collect();
        let value = if listed || rows.len() > 1 {
            Value::Array(rows)
        } else {
            match rows.pop() {
                Some(row) => row,
                None => continue,
            }
        };
        let table_entry = enrichment
            .entry(spec.name.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(fields) = table_entry {
            fields.insert(select.name.clone(), value);
        }
        if hit_tables.last() != Some(&table) {
            hit_tables.push(table);
        }
    }
    for table in hit_tables {
        metrics()
            .enrichment_hits
            .with_label_values(&[tables.name(table)])
            .inc();
    }
    event.with_field("p_enrichment", Value::Object(enrichment))
}
