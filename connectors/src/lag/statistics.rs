//! A group member's own lag, from librdkafka's statistics.
//!
//! With `statistics.interval.ms` set, librdkafka hands the client context a
//! [`Statistics`] snapshot at that interval (served by `poll`). Each partition it knows
//! reports `consumer_lag`: the high watermark (the last stable offset under
//! `read_committed`) minus the consumer's position or committed offset, whichever is
//! further. It is `-1` while unknown (no position or committed offset yet), and
//! librdkafka lists an internal partition `-1` per topic; neither is a lag. Only the
//! partitions assigned to this member (`desired`) count: a subscribed consumer knows
//! every partition of its topics, and one it gave up in a rebalance may still carry
//! offsets from when it was its own.

use std::collections::BTreeMap;

use rdkafka::statistics::Statistics;

use super::gauge::LagLabels;

/// Known lags by `[topic, partition]`, the labels of `corvid_kafka_consumer_lag`.
pub fn consumer_lags(statistics: &Statistics) -> BTreeMap<LagLabels, i64> {
    statistics
        .topics
        .iter()
        .flat_map(|(topic, stats)| {
            stats
                .partitions
                .iter()
                .filter(|(&partition, partition_stats)| {
                    partition >= 0 && partition_stats.desired && partition_stats.consumer_lag >= 0
                })
                .map(move |(partition, partition_stats)| {
                    (
                        vec![topic.clone(), partition.to_string()],
                        partition_stats.consumer_lag,
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rdkafka::statistics::{Partition, Topic};

    use super::*;

    #[test]
    fn only_assigned_partitions_with_a_known_lag_count() {
        let partition = |partition: i32, desired: bool, consumer_lag: i64| {
            let stats = Partition {
                partition,
                desired,
                consumer_lag,
                ..Partition::default()
            };
            (partition, stats)
        };
        let topic = Topic {
            topic: "corvid.alerts".into(),
            partitions: HashMap::from([
                partition(0, true, 12),
                partition(1, true, 0),
                partition(2, true, -1),
                partition(3, false, 8),
                partition(-1, true, 3),
            ]),
            ..Topic::default()
        };
        let statistics = Statistics {
            topics: HashMap::from([("corvid.alerts".to_string(), topic)]),
            ..Statistics::default()
        };
        let expected = BTreeMap::from([
            (vec!["corvid.alerts".to_string(), "0".to_string()], 12),
            (vec!["corvid.alerts".to_string(), "1".to_string()], 0),
        ]);
        assert_eq!(consumer_lags(&statistics), expected);
    }
}
