//! The engine's Prometheus metrics, declared in one place (Vector's instrumentation habit):
//! operators call these, they never create metrics of their own.
//!
//! Label sets stay bounded: log types and rule ids come from configuration, dead-letter
//! reasons from a fixed list of kinds.

use std::sync::LazyLock;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};

pub struct EngineMetrics {
    pub registry: Registry,
    pub records_received: IntCounter,
    pub records_late: IntCounter,
    pub records_parsed: IntCounter,
    pub events_parsed: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub rule_matches: IntCounterVec,
    pub rule_errors: IntCounterVec,
    pub alerts_published: IntCounterVec,
    pub rule_reloads: IntCounterVec,
    pub sink_delivery_failures: IntCounterVec,
    pub sink_transactions: IntCounterVec,
    pub sink_transaction_seconds: Histogram,
    pub alerts_skipped: IntCounter,
    pub lake_files: IntCounterVec,
    pub lake_rows: IntCounterVec,
    pub lake_bytes: IntCounterVec,
    pub lake_rows_rejected: IntCounter,
    pub table_updates: IntCounterVec,
    pub table_rows_rejected: IntCounterVec,
    pub enrichment_hits: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let counter = IntCounter::new(name, help).expect("static metric definition");
    registry
        .register(Box::new(counter.clone()))
        .expect("metric registered once");
    counter
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter =
        IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry
        .register(Box::new(counter.clone()))
        .expect("metric registered once");
    counter
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let histogram = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("static metric definition");
    registry
        .register(Box::new(histogram.clone()))
        .expect("metric registered once");
    histogram
}

static METRICS: LazyLock<EngineMetrics> = LazyLock::new(|| {
    let registry = Registry::new();
    EngineMetrics {
        records_received: counter(
            &registry,
            "corvid_records_received_total",
            "Raw records read from Kafka",
        ),
        records_late: counter(
            &registry,
            "corvid_records_late_total",
            "Records whose Kafka timestamp fell behind their partition's epoch and were placed in a later epoch",
        ),
        records_parsed: counter(
            &registry,
            "corvid_records_parsed_total",
            "Raw records a parser accepted (each yields zero or more events)",
        ),
        events_parsed: counter_vec(
            &registry,
            "corvid_events_parsed_total",
            "Events produced by parsing, per log type",
            &["log_type"],
        ),
        dead_letters: counter_vec(
            &registry,
            "corvid_dead_letters_total",
            "Raw records no parser accepted, per source and reason kind",
            &["source", "reason"],
        ),
        rule_matches: counter_vec(
            &registry,
            "corvid_rule_matches_total",
            "Events a rule matched",
            &["rule_id"],
        ),
        rule_errors: counter_vec(
            &registry,
            "corvid_rule_errors_total",
            "Rule evaluations that raised",
            &["rule_id"],
        ),
        alerts_published: counter_vec(
            &registry,
            "corvid_alert_updates_total",
            "Alert records (new alerts and updates) sent to the alerts topic, per rule",
            &["rule_id"],
        ),
        rule_reloads: counter_vec(
            &registry,
            "corvid_rule_reloads_total",
            "Reloads of the rules directory, by result (ok, failed)",
            &["result"],
        ),
        sink_delivery_failures: counter_vec(
            &registry,
            "corvid_sink_delivery_failures_total",
            "Records a sink could not deliver to Kafka, per topic",
            &["topic"],
        ),
        sink_transactions: counter_vec(
            &registry,
            "corvid_sink_transactions_total",
            "Alerts sink transactions, by result (committed, aborted)",
            &["result"],
        ),
        sink_transaction_seconds: histogram(
            &registry,
            "corvid_sink_transaction_seconds",
            "Time from begin to commit of a committed alerts transaction",
            prometheus::exponential_buckets(0.005, 2.0, 12).unwrap_or_default(),
        ),
        alerts_skipped: counter(
            &registry,
            "corvid_alert_updates_skipped_total",
            "Alert updates of epochs an earlier run had already committed, not published again",
        ),
        lake_files: counter_vec(
            &registry,
            "corvid_lake_files_total",
            "Parquet files written to the lake, per database",
            &["database"],
        ),
        lake_rows: counter_vec(
            &registry,
            "corvid_lake_rows_total",
            "Rows written to the lake, per database",
            &["database"],
        ),
        lake_bytes: counter_vec(
            &registry,
            "corvid_lake_bytes_total",
            "Bytes of Parquet written to the lake, per database",
            &["database"],
        ),
        lake_rows_rejected: counter(
            &registry,
            "corvid_lake_rows_rejected_total",
            "Rows that fit no lake table (unknown log type or a value the column cannot hold)",
        ),
        table_updates: counter_vec(
            &registry,
            "corvid_table_updates_total",
            "Rows and tombstones read into lookup tables (topic-fed) or learned from events (derived), per table",
            &["table"],
        ),
        table_rows_rejected: counter_vec(
            &registry,
            "corvid_table_rows_rejected_total",
            "Lookup table records ignored because the key or the JSON row was invalid, per table",
            &["table"],
        ),
        enrichment_hits: counter_vec(
            &registry,
            "corvid_enrichment_hits_total",
            "Events that gained at least one row of the table in p_enrichment, per table",
            &["table"],
        ),
        registry,
    }
});

pub fn metrics() -> &'static EngineMetrics {
    &METRICS
}

/// The metrics in Prometheus text format.
pub fn render() -> String {
    let encoder = prometheus::TextEncoder::new();
    encoder
        .encode_to_string(&metrics().registry.gather())
        .unwrap_or_else(|e| format!("# metrics encoding failed: {e}\n"))
}

/// The sum over labels of the counter `name` (0 when it has no series yet).
pub fn total(name: &str) -> u64 {
    metrics()
        .registry
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .map(|metric| metric.get_counter().value() as u64)
        .sum()
}

/// One line a person reads when the engine stops.
pub fn summary() -> String {
    format!(
        "{} records read, {} records parsed into {} events, {} dead letters, {} rule matches, {} rule errors, {} alert updates published",
        total("corvid_records_received_total"),
        total("corvid_records_parsed_total"),
        total("corvid_events_parsed_total"),
        total("corvid_dead_letters_total"),
        total("corvid_rule_matches_total"),
        total("corvid_rule_errors_total"),
        total("corvid_alert_updates_total"),
    )
}
