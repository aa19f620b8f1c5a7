//! Consumer lag of the source: how many records each owned partition still holds beyond
//! what the engine has read, from librdkafka's statistics.
//!
//! ```text
//!  librdkafka (every statistics.interval.ms) ──stats JSON──▶ SourceContext::stats
//!      topics[t].partitions[p]: end offset − stored offset ──▶ corvid_kafka_consumer_lag{t,p}
//! ```
//!
//! The source consumer stores the offset of every record it hands to the engine
//! (`enable.auto.offset.store`), so the statistics' `consumer_lag_stored` is the distance
//! from the engine's read position to the partition's end (the last stable offset under
//! `read_committed`, else the high watermark), up to date at every report. Before the
//! first record of a run is read there is no stored offset yet; the committed one (what
//! the previous run last committed, `consumer_lag`) stands in.
//!
//! Only partitions this consumer was assigned (`desired`) are reported, so the workers'
//! consumers, which all know every partition of the topic, never overwrite each other's
//! values with their own unknowns. The pseudo-partition -1 (librdkafka's unassigned
//! queue) and negative lags (unknown offsets) are skipped.

use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, TopicPartitionList};

use corvid_connectors::lag::statistics::consumer_lags;

use crate::kafka::ConsumerLogContext;
use crate::metrics::metrics;

/// How often librdkafka reports statistics to the source consumers.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// The source consumers' rdkafka context: errors are logged as for every consumer,
/// statistics become `corvid_kafka_consumer_lag`, failed position commits are logged.
pub struct SourceContext;

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        // Set, never replaced: every worker's consumer reports its own partitions into
        // the one gauge of the process.
        let gauge = &metrics().kafka_consumer_lag;
        for (labels, lag) in consumer_lags(&statistics) {
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            gauge.with_label_values(&labels).set(lag);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        ConsumerLogContext.error(error, reason);
    }
}

impl ConsumerContext for SourceContext {
    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        // The positions are only committed for lag monitoring: a failure costs the
        // monitoring an update, never data, and the next commit tries again.
        if let Err(error) = result {
            let partitions: Vec<(String, i32)> = offsets
                .elements()
                .iter()
                .map(|element| (element.topic().to_owned(), element.partition()))
                .collect();
            tracing::warn!(%error, ?partitions, "could not commit read positions to the consumer group");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trimmed librdkafka statistics report (STATISTICS.md's example, fields the
    /// statistics struct requires kept): partition 0 has read records (stored offset),
    /// 1 has only a committed offset from an earlier run, 2 belongs to another worker,
    /// -1 is librdkafka's internal partition.
    fn report() -> String {
        let partition = |id: i32, desired: bool, lag: i64, lag_stored: i64| {
            format!(
                r#""{id}": {{"partition": {id}, "broker": 1, "leader": 1, "desired": {desired},
                "unknown": false, "msgq_cnt": 0, "msgq_bytes": 0, "xmit_msgq_cnt": 0,
                "xmit_msgq_bytes": 0, "fetchq_cnt": 0, "fetchq_size": 0,
                "fetch_state": "active", "query_offset": -1001, "next_offset": 0,
                "app_offset": -1001, "stored_offset": -1001, "stored_leader_epoch": -1,
                "commited_offset": -1001, "committed_offset": -1001,
                "committed_leader_epoch": -1, "eof_offset": -1001, "lo_offset": 0,
                "hi_offset": 100, "ls_offset": 100, "consumer_lag": {lag},
                "consumer_lag_stored": {lag_stored}, "leader_epoch": 0, "txmsgs": 0,
                "txbytes": 0, "rxmsgs": 0, "rxbytes": 0, "msgs": 0, "rx_ver_drops": 0,
                "msgs_inflight": 0, "next_ack_seq": 0, "next_err_seq": 0, "acked_msgid": 0}}"#
            )
        };
        let window = r#"{"min": 0, "max": 0, "avg": 0, "sum": 0, "stddev": 0, "p50": 0,
            "p75": 0, "p90": 0, "p95": 0, "p99": 0, "p99_99": 0, "outofrange": 0,
            "hdrsize": 0, "cnt": 0}"#;
        let partitions = [
            partition(0, true, 60, 25),
            partition(1, true, 40, -1),
            partition(2, false, -1, -1),
            partition(-1, false, 7, 7),
        ]
        .join(",");
        format!(
            r#"{{"name": "rdkafka#consumer-1", "client_id": "rdkafka", "type": "consumer",
            "ts": 1, "time": 1, "age": 1, "replyq": 0, "msg_cnt": 0, "msg_size": 0,
            "msg_max": 0, "msg_size_max": 0, "simple_cnt": 0, "metadata_cache_cnt": 1,
            "tx": 0, "tx_bytes": 0, "rx": 0, "rx_bytes": 0, "txmsgs": 0, "txmsg_bytes": 0,
            "rxmsgs": 0, "rxmsg_bytes": 0, "brokers": {{}},
            "topics": {{"corvid.raw": {{"topic": "corvid.raw", "age": 1, "metadata_age": 1,
                "batchsize": {window}, "batchcnt": {window},
                "partitions": {{{partitions}}}}}}}}}"#
        )
    }

    #[test]
    fn lags_come_from_the_stored_offset_else_the_committed_one_for_owned_partitions() {
        let statistics: Statistics = serde_json::from_str(&report()).expect("statistics");
        let lag = |partition: &str| vec!["corvid.raw".to_string(), partition.to_string()];
        assert_eq!(
            consumer_lags(&statistics),
            std::collections::BTreeMap::from([(lag("0"), 25), (lag("1"), 40)])
        );
    }

    #[test]
    fn a_statistics_report_sets_the_lag_gauge() {
        SourceContext.stats_raw(report().as_bytes());
        let gauge = |partition: &str| {
            metrics()
                .kafka_consumer_lag
                .with_label_values(&["corvid.raw", partition])
                .get()
        };
        assert_eq!((gauge("0"), gauge("1")), (25, 40));
        let families = metrics().registry.gather();
        let series: Vec<String> = families
            .iter()
            .filter(|family| family.name() == "corvid_kafka_consumer_lag")
            .flat_map(|family| family.get_metric().iter())
            .flat_map(|metric| metric.get_label().iter())
            .filter(|label| label.name() == "partition")
            .map(|label| label.value().to_owned())
            .collect();
        assert!(!series.iter().any(|p| p == "-1" || p == "2"), "{series:?}");
    }
}
