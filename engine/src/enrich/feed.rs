//! Topic-fed tables: records of a compacted topic become upserts.
//!
//! The record key is the row's key, the value the row as a JSON object; an empty value
//! (a tombstone) deletes the key. A record with a key the table cannot use (a CIDR table
//! key that is no range) or a value that is not a JSON object is counted and logged, and
//! the key keeps its previous row: a bad row must not erase a good one.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::keys::table_key;
use super::learn::Upsert;
use super::tables::Tables;
use crate::metrics::metrics;
use crate::source::{Epoch, RawRecord};

/// Turns table topic records into upserts stamped with their epoch.
pub fn table_upserts<'scope>(
    records: Stream<'scope, Epoch, Vec<RawRecord>>,
    tables: Arc<Tables>,
) -> Stream<'scope, Epoch, Vec<Upsert>> {
    let by_topic: HashMap<String, u32> = tables
        .topics()
        .into_iter()
        .map(|(index, topic)| (topic, index))
        .collect();
    records.unary(Pipeline, "TableUpserts", move |_capability, _info| {
        move |input, output| {
            input.for_each(|cap, data| {
                let Some(&epoch) = cap.least() else {
                    return;
                };
                let mut session = output.session(&cap);
                for record in data.drain(..) {
                    let Some(&table) = by_topic.get(&record.topic) else {
                        continue;
                    };
                    let name = tables.name(table);
                    match upsert(&tables, table, &record) {
                        Ok((key, row)) => {
                            metrics().table_updates.with_label_values(&[name]).inc();
                            session.give(((table, key), row, epoch));
                        }
                        Err(reason) => {
                            metrics()
                                .table_rows_rejected
                                .with_label_values(&[name])
                                .inc();
                            tracing::warn!(
                                table = name,
                                partition = record.partition,
                                offset = record.offset,
                                key = record.stream,
                                reason,
                                "lookup table record ignored"
                            );
                        }
                    }
                }
            });
        }
    })
}

fn upsert(
    tables: &Tables,
    table: u32,
    record: &RawRecord,
) -> Result<(String, Option<String>), &'static str> {
    let (key, _) = table_key(tables.kind(table), &record.stream)
        .ok_or("the key is empty, or not an IP address or CIDR range in a CIDR table")?;
    if record.payload.is_empty() {
        return Ok((key, None));
    }
    match serde_json::from_slice::<Value>(&record.payload) {
        // Re-serialized: one compact form, whatever the producer's spacing.
        Ok(row @ Value::Object(_)) => Ok((key, Some(row.to_string()))),
        Ok(_) => Err("the value is not a JSON object"),
        Err(_) => Err("the value is not JSON"),
    }
}
