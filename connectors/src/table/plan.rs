//! The changes that turn a table's live rows into its new contents.
//!
//! [`plan`] is pure: given the rows the topic holds ([`LiveRows`]) and the rows of the
//! file, it lists the records to produce. Its contract, for every key:
//!
//! - in the file, live nowhere: one put, left to the partitioner;
//! - in the file, live with a byte-identical value in some partition: no put; that copy
//!   stays;
//! - in the file, live only with other values: one put to the lowest partition holding
//!   it, so it overwrites a copy compaction will then drop;
//! - every other live copy of a key (the file no longer has the key, or the key is live
//!   in more than one partition): one tombstone to its partition.
//!
//! After the changes are applied, each key of the file is live in exactly one partition
//! with its new value, and no other key is live.

use std::collections::BTreeMap;

/// A table as its topic holds it: each live key with, per partition, the value of the
/// latest record when that record is not a tombstone.
#[derive(Debug, Default)]
pub(crate) struct LiveRows {
    keys: BTreeMap<Vec<u8>, BTreeMap<i32, Vec<u8>>>,
}

impl LiveRows {
    /// Applies one record; records of a partition must come in offset order.
    pub fn apply(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) {
        match value {
            Some(value) => {
                self.keys
                    .entry(key.to_vec())
                    .or_default()
                    .insert(partition, value.to_vec());
            }
            None => {
                if let Some(copies) = self.keys.get_mut(key) {
                    copies.remove(&partition);
                    if copies.is_empty() {
                        self.keys.remove(key);
                    }
                }
            }
        }
    }

    /// Live keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
}

/// One record to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change<'a> {
    /// The row's new value; `partition: None` lets the producer's partitioner choose.
    Put {
        key: &'a [u8],
        value: &'a [u8],
        partition: Option<i32>,
    },
    Tombstone {
        key: &'a [u8],
        partition: i32,
    },
}

/// The records of one load, and what they amount to.
#[derive(Debug, Default)]
pub(crate) struct Plan<'a> {
    pub changes: Vec<Change<'a>>,
    /// Keys put because they were new or changed.
    pub written: u64,
    /// Keys of the file already live with the same value.
    pub unchanged: u64,
    /// Tombstones among the changes.
    pub tombstoned: u64,
}

impl<'a> Plan<'a> {
    fn tombstone_except(
        &mut self,
        key: &'a [u8],
        copies: &'a BTreeMap<i32, Vec<u8>>,
        keep: Option<i32>,
    ) {
        for partition in copies.keys().filter(|p| Some(**p) != keep) {
            self.changes.push(Change::Tombstone {
                key,
                partition: *partition,
            });
            self.tombstoned += 1;
        }
    }
}

/// The changes that make `live` hold exactly `desired` (key → row value).
pub(crate) fn plan<'a>(desired: &'a BTreeMap<String, Vec<u8>>, live: &'a LiveRows) -> Plan<'a> {
    let mut plan = Plan::default();
    for (key, value) in desired {
        let key_bytes = key.as_bytes();
        let Some(copies) = live.keys.get(key_bytes) else {
            plan.changes.push(Change::Put {
                key: key_bytes,
                value,
                partition: None,
            });
            plan.written += 1;
            continue;
        };
        let identical = copies
            .iter()
            .find(|(_, live_value)| *live_value == value)
            .map(|(partition, _)| *partition);
        let keep = match identical {
            Some(partition) => {
                plan.unchanged += 1;
                partition
            }
            None => {
                // `copies` is never empty: `LiveRows::apply` drops a key with its last copy.
                let home = copies.keys().next().copied().unwrap_or_default();
                plan.changes.push(Change::Put {
                    key: key_bytes,
                    value,
                    partition: Some(home),
                });
                plan.written += 1;
                home
            }
        };
        plan.tombstone_except(key_bytes, copies, Some(keep));
    }
    for (key, copies) in &live.keys {
        let kept = std::str::from_utf8(key).is_ok_and(|key| desired.contains_key(key));
        if !kept {
            plan.tombstone_except(key, copies, None);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(rows: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        rows.iter()
            .map(|(key, value)| (key.to_string(), value.as_bytes().to_vec()))
            .collect()
    }

    fn live(records: &[(i32, &str, Option<&str>)]) -> LiveRows {
        let mut live = LiveRows::default();
        for (partition, key, value) in records {
            live.apply(*partition, key.as_bytes(), value.map(str::as_bytes));
        }
        live
    }

    fn put<'a>(key: &'a str, value: &'a str, partition: Option<i32>) -> Change<'a> {
        Change::Put {
            key: key.as_bytes(),
            value: value.as_bytes(),
            partition,
        }
    }

    fn tombstone(key: &str, partition: i32) -> Change<'_> {
        Change::Tombstone {
            key: key.as_bytes(),
            partition,
        }
    }

    #[test]
    fn tombstones_and_later_values_decide_what_is_live() {
        let live = live(&[
            (0, "a", Some("1")),
            (0, "a", None),
            (0, "b", Some("1")),
            (0, "b", Some("2")),
            (1, "c", None),
        ]);
        assert_eq!(live.len(), 1);
        assert_eq!(
            live.keys[b"b".as_slice()],
            BTreeMap::from([(0, b"2".to_vec())])
        );
    }

    #[test]
    fn new_changed_unchanged_and_removed_keys() {
        let rows = desired(&[("new", "n"), ("same", "s"), ("changed", "c2")]);
        let live = live(&[
            (0, "same", Some("s")),
            (2, "changed", Some("c1")),
            (1, "gone", Some("g")),
        ]);
        let plan = plan(&rows, &live);
        assert_eq!(
            plan.changes,
            [
                put("changed", "c2", Some(2)),
                put("new", "n", None),
                tombstone("gone", 1),
            ]
        );
        assert_eq!((plan.written, plan.unchanged, plan.tombstoned), (2, 1, 1));
    }

    #[test]
    fn a_key_live_in_two_partitions_keeps_one_copy() {
        let rows = desired(&[("same", "s"), ("changed", "c2")]);
        let live = live(&[
            (0, "same", Some("old")),
            (3, "same", Some("s")),
            (1, "changed", Some("c0")),
            (2, "changed", Some("c1")),
        ]);
        let plan = plan(&rows, &live);
        assert_eq!(
            plan.changes,
            [
                put("changed", "c2", Some(1)),
                tombstone("changed", 2),
                tombstone("same", 0),
            ]
        );
        assert_eq!((plan.written, plan.unchanged, plan.tombstoned), (1, 1, 2));
    }

    #[test]
    fn a_live_key_that_is_not_utf8_is_removed() {
        let mut live = LiveRows::default();
        live.apply(0, &[0xff, 0xfe], Some(b"{}"));
        let empty = BTreeMap::new();
        let plan = plan(&empty, &live);
        assert_eq!(
            plan.changes,
            [Change::Tombstone {
                key: &[0xff, 0xfe],
                partition: 0
            }]
        );
    }
}
