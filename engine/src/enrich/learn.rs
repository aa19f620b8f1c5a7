//! Derived tables: rows learned from the log stream itself.
//!
//! A learner picks events of one log type (optionally only those whose fields hold given
//! values), finds row objects inside them (CloudTrail's `instancesSet.items`, or the
//! event itself), and turns each into keys (private IP, public IP, DNS name) and a row
//! (instance id, hostname, …). Learned rows then flow into the same upsert arrangement as
//! topic-fed rows.
//!
//! The latest value wins by *event* time, not by arrival: [`latest_by_event_time`] keeps,
//! per key, the event time of the row it last let through, and drops an older one that
//! arrives later. It works epoch by epoch in epoch order, so which row wins depends only
//! on the input.

use std::collections::HashMap;

use serde_json::{Map, Value};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::config::LearnConfig;
use super::keys::{exact_key, scalar_text};
use super::tables::TableKey;
use crate::checkpoint::{Cadence, Checkpoints};
use crate::event::Event;
use crate::metrics::metrics;
use crate::rules::jsonpath::JsonPath;
use crate::sinks::alerts::FatalSlot;
use crate::source::epoch::Pending;
use crate::source::Epoch;

/// One way to learn rows of one derived table.
#[derive(Clone, Debug)]
pub struct Learner {
    table: u32,
    log_type: String,
    when: Vec<(JsonPath, Vec<String>)>,
    rows: Option<JsonPath>,
    keys: Vec<JsonPath>,
    values: Vec<(String, JsonPath)>,
}

/// A row learned from one event.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Learned {
    pub key: TableKey,
    /// `p_event_time` of the teaching event (its layout sorts as time).
    pub event_time: String,
    pub row: String,
}

impl Learner {
    /// None when a path does not parse (the config check reports those first).
    pub fn new(table: u32, config: &LearnConfig) -> Option<Learner> {
        let parse = |path: &str| JsonPath::parse(path).ok();
        Some(Learner {
            table,
            log_type: config.log_type.clone(),
            when: config
                .when
                .iter()
                .map(|(path, values)| Some((parse(path)?, values.clone())))
                .collect::<Option<_>>()?,
            rows: match &config.rows {
                Some(rows) => Some(parse(rows)?),
                None => None,
            },
            keys: config
                .keys
                .iter()
                .map(|path| parse(path))
                .collect::<Option<_>>()?,
            values: config
                .values
                .iter()
                .map(|(column, path)| Some((column.clone(), parse(path)?)))
                .collect::<Option<_>>()?,
        })
    }

    /// Appends what `event` teaches.
    pub fn learn(&self, event: &Event, out: &mut Vec<Learned>) {
        if event.log_type() != self.log_type {
            return;
        }
        let fields = event.fields();
        let applies = self.when.iter().all(|(path, accepted)| {
            path.find(fields)
                .iter()
                .filter_map(|(_, value)| scalar_text(value))
                .any(|value| accepted.contains(&value))
        });
        if !applies {
            return;
        }
        let rows: Vec<&Map<String, Value>> = match &self.rows {
            None => vec![fields],
            Some(path) => path
                .find(fields)
                .into_iter()
                .filter_map(|(_, value)| value.as_object())
                .collect(),
        };
        let event_time = fields
            .get("p_event_time")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for row in rows {
            let mut columns = Map::new();
            for (column, path) in &self.values {
                if let Some((_, value)) = path.find(row).into_iter().next() {
                    if !value.is_null() {
                        columns.insert(column.clone(), value.clone());
                    }
                }
            }
            if columns.is_empty() {
                continue;
            }
            let row_text = Value::Object(columns).to_string();
            for path in &self.keys {
                for (_, value) in path.find(row) {
                    let values = match value {
                        Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
                        other => scalar_text(other).into_iter().collect::<Vec<_>>(),
                    };
                    for key in values.iter().filter_map(|raw| exact_key(raw)) {
                        out.push(Learned {
                            key: (self.table, key),
                            event_time: event_time.to_owned(),
                            row: row_text.clone(),
                        });
                    }
                }
            }
        }
    }
}

/// Upserts for the arrangement: `(key, Some(row), epoch)`.
pub type Upsert = (TableKey, Option<String>, Epoch);

/// Name of the learned tables' state in checkpoints.
pub const LEARNED_STATE: &str = "learned";

/// One learned row in a checkpoint: shard, key, event time, row.
type LearnedEntry = (u32, TableKey, String, String);

/// What the learned tables need to take part in checkpoints.
pub struct LearnCheckpoint {
    pub checkpoints: std::sync::Arc<Checkpoints>,
    pub worker: usize,
    pub fatal: FatalSlot,
}

/// Keeps, per key, only rows at least as recent (by event time) as the last one let
/// through. Exchanged by key, so each key's history lives on one worker; with
/// checkpoints by virtual shard, and the rows go into each checkpoint: a restore feeds
/// them back as upserts at the first epoch.
pub fn latest_by_event_time<'scope>(
    learned: Stream<'scope, Epoch, Vec<Learned>>,
    table_names: Vec<String>,
    checkpoint: Option<LearnCheckpoint>,
) -> Stream<'scope, Epoch, Vec<Upsert>> {
    use differential_dataflow::Hashable;
    let shards = checkpoint
        .as_ref()
        .map(|c| u64::from(c.checkpoints.shards()));
    let shard_count = shards.unwrap_or(1).max(1);
    let workers = learned.scope().peers();
    let exchange = Exchange::new(move |learned: &Learned| {
        let hash = learned.key.hashed();
        shards.map_or(hash, |shards| hash % shards)
    });
    learned.unary_frontier(exchange, "LatestByEventTime", move |capability, _info| {
        let mut pending: Pending<Learned> = Pending::new();
        // Per key: the event time and row last let through. A row equal to the current
        // one only moves the time: a busy log re-teaching the same asset does not churn
        // the arrangement.
        let mut latest: HashMap<TableKey, (String, String)> = HashMap::new();
        let mut dirty = false;
        let mut cadence = None;
        let mut fatal = None;
        let mut restored: Vec<Upsert> = Vec::new();
        if let Some(checkpoint) = checkpoint {
            match checkpoint
                .checkpoints
                .restored_states::<Vec<LearnedEntry>>(LEARNED_STATE)
            {
                Ok(files) => {
                    for (shard, key, time, row) in files.into_iter().flatten() {
                        if Checkpoints::owns_shard(shard, checkpoint.worker, workers) {
                            restored.push((key.clone(), Some(row.clone()), 0));
                            latest.insert(key, (time, row));
                        }
                    }
                    dirty = true;
                }
                Err(error) => checkpoint.fatal.set(error.to_string()),
            }
            cadence = Some(Cadence::new(
                checkpoint.checkpoints,
                LEARNED_STATE,
                checkpoint.worker,
                capability,
            ));
            fatal = Some(checkpoint.fatal);
        }
        let snapshot = move |latest: &HashMap<TableKey, (String, String)>, dirty: &mut bool| {
            if !std::mem::take(dirty) {
                return None;
            }
            let mut entries: Vec<LearnedEntry> = latest
                .iter()
                .map(|(key, (time, row))| {
                    let shard = (key.hashed() % shard_count) as u32;
                    (shard, key.clone(), time.clone(), row.clone())
                })
                .collect();
            entries.sort();
            Some(entries)
        };
        move |(input, frontier), output| {
            if !restored.is_empty() {
                if let Some(cap) = cadence.as_ref().and_then(|c: &Cadence| c.capability()) {
                    output.session(cap).give_iterator(restored.drain(..));
                }
            }
            input.for_each(|cap, data| {
                crate::source::epoch::stash(&mut pending, &cap, data);
            });
            while let Some(entry) = pending.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                let (epoch, (cap, mut rows)) = entry.remove_entry();
                if let Some(cadence) = cadence.as_mut() {
                    if let Err(error) = cadence.before(epoch, || snapshot(&latest, &mut dirty)) {
                        report(&fatal, error);
                    }
                }
                // Per key the last row in (event time, row) order: the latest, with a
                // deterministic tie-break.
                rows.sort_unstable();
                let mut session = output.session(&cap);
                let mut rows = rows.into_iter().peekable();
                while let Some(row) = rows.next() {
                    if rows.peek().is_some_and(|next| next.key == row.key) {
                        continue;
                    }
                    let seen = latest.get(&row.key);
                    if seen.is_some_and(|(time, _)| row.event_time < *time) {
                        continue;
                    }
                    let changed = seen.is_none_or(|(_, seen_row)| *seen_row != row.row);
                    dirty = true;
                    if changed {
                        if let Some(name) = table_names.get(row.key.0 as usize) {
                            metrics().table_updates.with_label_values(&[name]).inc();
                        }
                        session.give((row.key.clone(), Some(row.row.clone()), epoch));
                    }
                    latest.insert(row.key, (row.event_time, row.row));
                }
            }
            if let Some(cadence) = cadence.as_mut() {
                let frontier = frontier.frontier().first().copied();
                if let Err(error) = cadence.follow(frontier, || snapshot(&latest, &mut dirty)) {
                    report(&fatal, error);
                }
            }
        }
    })
}

fn report(fatal: &Option<FatalSlot>, error: crate::checkpoint::CheckpointError) {
    tracing::error!(%error, "checkpoint of learned table rows failed");
    if let Some(fatal) = fatal {
        fatal.set(error.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_instances() -> Event {
        let fields = serde_json::json!({
            "p_log_type": "AWS.CloudTrail",
            "p_event_time": "2026-11-28 10:00:00.000000000",
            "eventName": "RunInstances",
            "responseElements": {"instancesSet": {"items": [{
                "instanceId": "i-0abc",
                "privateIpAddress": "10.0.1.23",
                "privateDnsName": "ip-10-0-1-23.ec2.internal",
                "networkInterfaceSet": {"items": [{"association": {"publicIp": "54.1.2.3"}}]}
            }]}}
        });
        let serde_json::Value::Object(fields) = fields else {
            unreachable!("an object literal")
        };
        Event::from_fields(fields)
    }

    fn learner(when: &str) -> Learner {
        let config: LearnConfig = serde_yaml_ng::from_str(&format!(
            "log_type: AWS.CloudTrail\nwhen: {{eventName: [{when}]}}\nrows: $.responseElements.instancesSet.items[*]\nkeys: [privateIpAddress, 'networkInterfaceSet.items[*].association.publicIp', privateDnsName]\nvalues: {{instance_id: instanceId, hostname: privateDnsName}}\n"
        ))
        .expect("learn config");
        Learner::new(7, &config).expect("paths parse")
    }

    #[test]
    fn a_run_instances_response_teaches_every_address_of_the_instance() {
        let mut out = Vec::new();
        learner("RunInstances").learn(&run_instances(), &mut out);
        let keys: Vec<&str> = out.iter().map(|l| l.key.1.as_str()).collect();
        assert_eq!(keys, ["10.0.1.23", "54.1.2.3", "ip-10-0-1-23.ec2.internal"]);
        assert!(out.iter().all(|l| l.key.0 == 7));
        assert_eq!(
            out[0].row,
            r#"{"hostname":"ip-10-0-1-23.ec2.internal","instance_id":"i-0abc"}"#
        );
    }

    #[test]
    fn events_outside_the_when_filter_teach_nothing() {
        let mut out = Vec::new();
        learner("TerminateInstances").learn(&run_instances(), &mut out);
        assert!(out.is_empty());
    }
}
