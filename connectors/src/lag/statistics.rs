//! A consumer's own lag, from librdkafka's statistics.
//!
//! With `statistics.interval.ms` set, librdkafka hands the client context a
//! [`Statistics`] snapshot at that interval (served by `poll`). Each partition it knows
//! reports two lags from its end (the high watermark, the last stable offset under
//! `read_committed`): `consumer_lag_stored`, from the offset the application last stored
//! (up to date at every report when the consumer stores what it reads, as the engine's
//! source does), and `consumer_lag`, from the position or committed offset, whichever is
//! further (it moves only as commits land). The stored one is used when known, else the
//! other. Both are `-1` while unknown, and librdkafka lists an internal partition `-1`
//! per topic; neither is a lag. Only the partitions assigned to this consumer
//! (`desired`) count: a consumer knows every partition of its topics, and one it gave up
//! in a rebalance (or that another engine worker reads) may still carry offsets.

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
                .filter(|(&partition, stats)| partition >= 0 && stats.desired)
                .filter_map(move |(partition, stats)| {
                    let lag = match stats.consumer_lag_stored {
                        stored if stored >= 0 => stored,
                        _ => stats.consumer_lag,
                    };
                    (lag >= 0).then(|| (vec![topic.clone(), partition.to_string()], lag))
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
                consumer_lag_stored: -1,
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
                (
                    4,
                    Partition {
                        partition: 4,
                        desired: true,
                        consumer_lag: 30,
                        consumer_lag_stored: 5,
                        ..Partition::default()
                    },
                ),
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
            // The stored offset's lag wins over the committed one's.
            (vec!["corvid.alerts".to_string(), "4".to_string()], 5),
        ]);
        assert_eq!(consumer_lags(&statistics), expected);
    }
}
