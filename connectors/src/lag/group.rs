//! A consumer group's lag, read from outside the group.
//!
//! The group's committed offsets come from its coordinator (OffsetFetch) and each
//! partition's watermarks from its leader (ListOffsets). The reader is a consumer
//! configured with the group's id that never subscribes and never commits: it does not
//! join the group, so it cannot trigger a rebalance of the members or move their
//! positions, and it reads the same numbers whether the members run or not.
//!
//! The watermarks are read uncommitted: on a topic written in transactions the high
//! watermark includes commit markers, so a caught-up group can show a lag of up to one
//! per partition there. The topics Corvid's engine reads are not transactional.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

/// A partition's offsets on the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watermarks {
    /// The oldest offset still stored.
    pub low: i64,
    /// The offset the next record will get.
    pub high: i64,
}

/// Records the group has still to read in a partition: `high − committed`, or
/// `high − low` without a committed offset (a new group reads everything stored).
///
/// A committed offset outside the stored range counts from its nearer end: below `low`
/// (records deleted by retention before the group read them) the group can read only
/// from `low`; above `high` (a topic deleted and created again) nothing is left.
pub fn group_lag(watermarks: Watermarks, committed: Option<i64>) -> i64 {
    let Watermarks { low, high } = watermarks;
    let from = committed.map_or(low, |offset| offset.clamp(low, high.max(low)));
    (high - from).max(0)
}

/// One partition's lag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: i32,
    pub lag: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupReadError {
    #[error("cannot create a Kafka client for group {group}: {source}")]
    Create { group: String, source: KafkaError },
    #[error("topic {topic}: {source}")]
    Kafka { topic: String, source: KafkaError },
    #[error("topic {topic} does not exist ({error})")]
    NoTopic { topic: String, error: String },
}

/// Reads one group's committed offsets and the watermarks of its topics.
pub struct GroupReader {
    group: String,
    consumer: BaseConsumer,
    timeout: Duration,
}

impl GroupReader {
    /// `client`: extra librdkafka properties (TLS, SASL, …).
    pub fn new(
        brokers: &str,
        group: &str,
        client: &BTreeMap<String, String>,
        timeout: Duration,
    ) -> Result<GroupReader, GroupReadError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", brokers);
        for (key, value) in client {
            config.set(key, value);
        }
        // Set after the extras: the reader must never commit on the group's behalf.
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("allow.auto.create.topics", "false");
        let consumer = config.create().map_err(|source| GroupReadError::Create {
            group: group.to_owned(),
            source,
        })?;
        Ok(GroupReader {
            group: group.to_owned(),
            consumer,
            timeout,
        })
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// The group's lag on every partition of `topic`, in partition order. A partition
    /// whose offsets cannot be read is left out (logged); a topic whose partitions
    /// cannot be listed is an error.
    pub fn topic_lags(&self, topic: &str) -> Result<Vec<PartitionLag>, GroupReadError> {
        let kafka = |source| GroupReadError::Kafka {
            topic: topic.to_owned(),
            source,
        };
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), self.timeout)
            .map_err(kafka)?;
        let Some(described) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Err(GroupReadError::NoTopic {
                topic: topic.to_owned(),
                error: "not in the metadata".into(),
            });
        };
        if let Some(error) = described.error() {
            return Err(GroupReadError::NoTopic {
                topic: topic.to_owned(),
                error: RDKafkaErrorCode::from(error).to_string(),
            });
        }
        let mut partitions: Vec<i32> = described.partitions().iter().map(|p| p.id()).collect();
        partitions.sort_unstable();
        let mut wanted = TopicPartitionList::new();
        for &partition in &partitions {
            wanted
                .add_partition_offset(topic, partition, Offset::Invalid)
                .map_err(kafka)?;
        }
        let committed = self
            .consumer
            .committed_offsets(wanted, self.timeout)
            .map_err(kafka)?;
        let mut lags = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let committed = match committed.find_partition(topic, partition) {
                Some(element) => match (element.error(), element.offset()) {
                    (Err(error), _) => {
                        tracing::warn!(
                            group = %self.group, topic, partition, %error,
                            "cannot read the committed offset; partition skipped"
                        );
                        continue;
                    }
                    (Ok(()), Offset::Offset(offset)) => Some(offset),
                    (Ok(()), _) => None,
                },
                None => None,
            };
            let watermarks = match self
                .consumer
                .fetch_watermarks(topic, partition, self.timeout)
            {
                Ok((low, high)) => Watermarks { low, high },
                Err(error) => {
                    tracing::warn!(
                        group = %self.group, topic, partition, %error,
                        "cannot read the watermarks; partition skipped"
                    );
                    continue;
                }
            };
            lags.push(PartitionLag {
                partition,
                lag: group_lag(watermarks, committed),
            });
        }
        Ok(lags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_from_the_committed_offset_or_the_oldest_record() {
        let stored = Watermarks { low: 10, high: 50 };
        assert_eq!(group_lag(stored, Some(20)), 30);
        assert_eq!(group_lag(stored, Some(50)), 0);
        assert_eq!(group_lag(stored, None), 40);
        // Retention deleted records the group never read: only what is stored counts.
        assert_eq!(group_lag(stored, Some(3)), 40);
        // The topic was created again behind the group's back: nothing to read.
        assert_eq!(group_lag(stored, Some(70)), 0);
        let empty = Watermarks { low: 0, high: 0 };
        assert_eq!(group_lag(empty, None), 0);
    }
}
