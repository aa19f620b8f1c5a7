//! The engine's Prometheus metrics, declared in one place (Vector's instrumentation habit):
//! operators call these, they never create metrics of their own.
//!
//! Label sets stay bounded: log types, rule ids, source ids, topics and partitions come
//! from configuration, dead-letter reasons and operators from fixed lists. Never an event
//! value.
//!
//! Per-event instruments are cheap on the hot path: the operators that count per record,
//! per event or per rule evaluation hold label handles they looked up once
//! ([`ParseInstruments`], [`RuleInstruments`], [`FrontierLag`]) instead of resolving
//! labels for every event. `docs/metrics.md` is the contract for every name and label.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::source::Epoch;

pub struct EngineMetrics {
    pub registry: Registry,
    pub records_received: IntCounterVec,
    pub records_late: IntCounter,
    pub records_parsed: IntCounter,
    pub events_parsed: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub parse_duration: HistogramVec,
    pub kafka_consumer_lag: IntGaugeVec,
    pub frontier_lag: GaugeVec,
    pub rule_evaluations: IntCounterVec,
    pub rule_matches: IntCounterVec,
    pub rule_errors: IntCounterVec,
    pub rule_timeouts: IntCounterVec,
    pub rule_evaluation_seconds: HistogramVec,
    pub alerts_created: IntCounterVec,
    pub alerts_updated: IntCounterVec,
    pub rule_reloads: IntCounterVec,
    pub sink_records: IntCounterVec,
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
    pub checkpoints: IntCounter,
    pub checkpoint_duration: Histogram,
    pub checkpoint_bytes: IntGauge,
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

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let gauge = GaugeVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry
        .register(Box::new(gauge.clone()))
        .expect("metric registered once");
    gauge
}

fn int_gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry
        .register(Box::new(gauge.clone()))
        .expect("metric registered once");
    gauge
}

fn int_gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let gauge = IntGauge::new(name, help).expect("static metric definition");
    registry
        .register(Box::new(gauge.clone()))
        .expect("metric registered once");
    gauge
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let histogram = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("static metric definition");
    registry
        .register(Box::new(histogram.clone()))
        .expect("metric registered once");
    histogram
}

/// `count` buckets from `start`, each `factor` times the one before (`start` and `factor`
/// are constants here, so the prometheus crate's checks cannot fail).
fn buckets(start: f64, factor: f64, count: usize) -> Vec<f64> {
    prometheus::exponential_buckets(start, factor, count).unwrap_or_default()
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
        records_received: counter_vec(
            &registry,
            "corvid_records_received_total",
            "Raw records read from Kafka, per topic",
            &["topic"],
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
            "Events produced by parsing, per source and log type",
            &["source", "log_type"],
        ),
        dead_letters: counter_vec(
            &registry,
            "corvid_dead_letters_total",
            "Raw records no parser accepted, per source and reason kind",
            &["source", "reason"],
        ),
        parse_duration: histogram_vec(
            &registry,
            "corvid_parse_duration_seconds",
            "Time to classify and parse one raw record, per source",
            &["source"],
            // 1 µs … 1 s: a syslog line takes microseconds, a CloudTrail envelope more.
            buckets(0.000_001, 4.0, 11),
        ),
        kafka_consumer_lag: int_gauge_vec(
            &registry,
            "corvid_kafka_consumer_lag",
            "Records between the engine's read position and the partition's end (librdkafka statistics)",
            &["topic", "partition"],
        ),
        frontier_lag: gauge_vec(
            &registry,
            "corvid_frontier_lag_seconds",
            "Wall clock minus the operator's input frontier (epochs are Kafka timestamps)",
            &["operator"],
        ),
        rule_evaluations: counter_vec(
            &registry,
            "corvid_rule_evaluations_total",
            "Events a rule was evaluated on",
            &["rule_id"],
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
            "Rule evaluations that raised (timeouts included)",
            &["rule_id"],
        ),
        rule_timeouts: counter_vec(
            &registry,
            "corvid_rule_timeouts_total",
            "Rule evaluations interrupted by rule_timeout",
            &["rule_id"],
        ),
        rule_evaluation_seconds: histogram_vec(
            &registry,
            "corvid_rule_evaluation_seconds",
            "Time of one rule's evaluation of one event (filters, rule() and, on a match, the auxiliary functions)",
            &["rule_id"],
            // 5 µs … 5 s: a plain rule() call is microseconds; the default rule timeout is 5 s.
            buckets(0.000_005, 4.0, 11),
        ),
        alerts_created: counter_vec(
            &registry,
            "corvid_alerts_created_total",
            "New alerts published (the first version of an alert)",
            &["rule_id", "severity"],
        ),
        alerts_updated: counter_vec(
            &registry,
            "corvid_alerts_updated_total",
            "Updates of existing alerts published",
            &["rule_id", "severity"],
        ),
        rule_reloads: counter_vec(
            &registry,
            "corvid_rule_reloads_total",
            "Reloads of the rules directory, by result (ok, failed)",
            &["result"],
        ),
        sink_records: counter_vec(
            &registry,
            "corvid_sink_records_total",
            "Records sinks delivered to Kafka (acknowledged, or committed for alerts), per topic",
            &["topic"],
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
            buckets(0.005, 2.0, 12),
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
        checkpoints: counter(
            &registry,
            "corvid_checkpoints_total",
            "Checkpoints completed (manifest written, lake files committed)",
        ),
        checkpoint_duration: histogram(
            &registry,
            "corvid_checkpoint_duration_seconds",
            "Manifest write plus lake commit of one checkpoint",
            buckets(0.01, 2.0, 12),
        ),
        checkpoint_bytes: int_gauge(
            &registry,
            "corvid_checkpoint_bytes",
            "Size of the state files the newest manifest names",
        ),
        registry,
    }
});

pub fn metrics() -> &'static EngineMetrics {
    &METRICS
}

/// The operators whose input frontier `corvid_frontier_lag_seconds` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorName {
    Parse,
    Rules,
    Dedup,
    LakeSink,
    AlertsSink,
    /// The probe after every sink: what the whole dataflow has finished.
    End,
}

impl OperatorName {
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorName::Parse => "parse",
            OperatorName::Rules => "rules",
            OperatorName::Dedup => "dedup",
            OperatorName::LakeSink => "lake_sink",
            OperatorName::AlertsSink => "alerts_sink",
            OperatorName::End => "end",
        }
    }
}

/// `corvid_frontier_lag_seconds` of one operator: how far behind the wall clock the
/// epochs it still waits for are. Every worker sees the same (global) frontier, so each
/// worker's operator may set it.
#[derive(Clone)]
pub struct FrontierLag(Gauge);

impl FrontierLag {
    pub fn of(operator: OperatorName) -> FrontierLag {
        FrontierLag(
            metrics()
                .frontier_lag
                .with_label_values(&[operator.as_str()]),
        )
    }

    /// The operator's input frontier is `frontier`. An empty frontier (the input ended)
    /// and epoch 0 (the initial time, before the source placed any record) leave the
    /// gauge as it was: neither is a lag. A frontier ahead of the wall clock (producer
    /// clocks ahead of ours) is no lag either.
    pub fn observe(&self, frontier: Option<Epoch>) {
        if let Some(epoch) = frontier.filter(|&epoch| epoch > 0) {
            let lag_ms = crate::source::epoch::now_unix_ms().saturating_sub(epoch);
            self.0.set(lag_ms as f64 / 1000.0);
        }
    }
}

/// One rule's instruments, looked up when its rule set loads: evaluating it then costs
/// no label lookup.
#[derive(Clone)]
pub struct RuleInstruments {
    evaluations: IntCounter,
    timeouts: IntCounter,
    seconds: Histogram,
}

impl RuleInstruments {
    pub fn of(rule_id: &str) -> RuleInstruments {
        let m = metrics();
        RuleInstruments {
            evaluations: m.rule_evaluations.with_label_values(&[rule_id]),
            timeouts: m.rule_timeouts.with_label_values(&[rule_id]),
            seconds: m.rule_evaluation_seconds.with_label_values(&[rule_id]),
        }
    }

    /// The rule was evaluated on one event, in `elapsed`.
    pub fn evaluated(&self, elapsed: Duration) {
        self.evaluations.inc();
        self.seconds.observe(elapsed.as_secs_f64());
    }

    /// That evaluation was interrupted by the rule timeout.
    pub fn timed_out(&self) {
        self.timeouts.inc();
    }
}

/// The parse stage's instruments on one worker, with handles cached per source id and
/// log type: a worker sees few of each, and its own map costs less than the registry's
/// locked lookup for every record.
#[derive(Default)]
pub struct ParseInstruments {
    sources: HashMap<String, SourceInstruments>,
}

/// The parse instruments of one source.
pub struct SourceInstruments {
    source: String,
    duration: Histogram,
    events: HashMap<String, IntCounter>,
}

impl ParseInstruments {
    pub fn source(&mut self, source: &str) -> &mut SourceInstruments {
        if !self.sources.contains_key(source) {
            let instruments = SourceInstruments {
                source: source.to_owned(),
                duration: metrics().parse_duration.with_label_values(&[source]),
                events: HashMap::new(),
            };
            self.sources.insert(source.to_owned(), instruments);
        }
        self.sources
            .get_mut(source)
            .expect("the source's instruments were inserted above")
    }
}

impl SourceInstruments {
    /// One raw record took `elapsed` to classify and parse.
    pub fn parsed(&self, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Parsing produced one event of `log_type`.
    pub fn event(&mut self, log_type: &str) {
        if let Some(counter) = self.events.get(log_type) {
            counter.inc();
            return;
        }
        let counter = metrics()
            .events_parsed
            .with_label_values(&[self.source.as_str(), log_type]);
        counter.inc();
        self.events.insert(log_type.to_owned(), counter);
    }
}

/// An alert version was published: its first (`new`) or an update.
pub fn alert_published(rule_id: &str, severity: &str, new: bool) {
    let counter = match new {
        true => &metrics().alerts_created,
        false => &metrics().alerts_updated,
    };
    counter.with_label_values(&[rule_id, severity]).inc();
}

/// A checkpoint completed in `elapsed`; its manifest names `state_bytes` of state.
pub fn checkpoint_completed(elapsed: Duration, state_bytes: u64) {
    let m = metrics();
    m.checkpoints.inc();
    m.checkpoint_duration.observe(elapsed.as_secs_f64());
    m.checkpoint_bytes
        .set(i64::try_from(state_bytes).unwrap_or(i64::MAX));
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
        total("corvid_alerts_created_total") + total("corvid_alerts_updated_total"),
    )
}
