//! The alerts benchmark: alert records/s through `corvid run`'s dedup stage and its
//! transactional alerts sink, on a real broker, with many distinct dedup keys open; and
//! the resident memory those open windows cost.
//!
//! Baseline, measured in the same run: a plain idempotent producer (no transaction, no
//! dedup state) writing the same alert records as JSON, serialization included. The
//! figure that matters is the ratio; absolute rates depend on the shared machine.
//!
//! Input: `keys` distinct dedup strings, each matched `matches_per_key` times, one match
//! per key per epoch, so every epoch updates every window: `keys × matches_per_key` alert
//! records. Windows last 60 minutes of epochs and the input stays open while memory is
//! read, so all `keys` windows are open at that moment.

use std::time::{Duration, Instant};

use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Input;
use timely::dataflow::{InputHandle, ProbeHandle};

use crate::alerts::{dedup_alerts, DedupWindows};
use crate::config::EngineConfig;
use crate::event::Event;
use crate::kafka::client_config;
use crate::rules::{OutcomeKind, RuleOutcome};
use crate::sinks::alerts::{alerts_sink, AlertsSink, AlertsSinkError, FatalSlot};
use crate::source::Epoch;
use corvid_connectors::producer::{producer_config, DeliveryTally, TallyContext};
use corvid_connectors::topics::{ensure_topics, ensure_topics_with, TopicError};

const EPOCH_MS: Epoch = 1000;
const START: Epoch = 1_795_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum AlertsBenchError {
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error(transparent)]
    Sink(#[from] AlertsSinkError),
    #[error("alerts sink failed: {0}")]
    SinkFailed(String),
    #[error("baseline producer: {0}")]
    Baseline(rdkafka::error::KafkaError),
    #[error("baseline producer: {0} records not acknowledged")]
    BaselineUnacknowledged(u64),
}

#[derive(Clone, Debug)]
pub struct Options {
    pub brokers: String,
    pub keys: usize,
    pub matches_per_key: usize,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub keys: usize,
    pub alert_records: u64,
    pub engine_seconds: f64,
    pub baseline_seconds: f64,
    /// The dedup state alone (no dataflow, no Kafka) on the same matches.
    pub dedup_state_seconds: f64,
    pub rss_before_bytes: u64,
    pub rss_open_bytes: u64,
    /// Resident size with the windows open after freed heap went back to the OS: the
    /// windows' own cost, without the transient batches, alerts and producer buffers.
    pub rss_open_trimmed_bytes: u64,
    pub transactions: u64,
}

impl Report {
    fn rate(records: u64, seconds: f64) -> f64 {
        records as f64 / seconds.max(1e-9)
    }

    pub fn render(&self) -> String {
        let engine = Report::rate(self.alert_records, self.engine_seconds);
        let baseline = Report::rate(self.alert_records, self.baseline_seconds);
        let grown = self.rss_open_bytes.saturating_sub(self.rss_before_bytes);
        let held = self
            .rss_open_trimmed_bytes
            .saturating_sub(self.rss_before_bytes);
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        format!(
            "alerts benchmark: {keys} distinct dedup keys, {records} alert records ({per} epochs updating every window), {tx} transactions\n\
             \x20 dedup + transactional sink : {engine:>10.0} alert records/s ({es:.2} s)\n\
             \x20 baseline, plain producer   : {baseline:>10.0} records/s ({bs:.2} s)\n\
             \x20 ratio (engine / baseline)  : {ratio:.2}\n\
             \x20 of which dedup state alone : {dedup:>10.0} alert records/s ({ds:.2} s, no dataflow, no Kafka)\n\
             \x20 resident memory            : {before:.1} MiB before, {open:.1} MiB with {keys} windows open (+{grown:.1} MiB, transient buffers included)\n\
             \x20 held by the open windows   : +{held_mib:.1} MiB after freed heap is returned ({per_window} bytes per open window)\n",
            keys = self.keys,
            records = self.alert_records,
            per = self.alert_records / self.keys.max(1) as u64,
            tx = self.transactions,
            es = self.engine_seconds,
            bs = self.baseline_seconds,
            ratio = engine / baseline.max(1e-9),
            dedup = Report::rate(self.alert_records, self.dedup_state_seconds),
            ds = self.dedup_state_seconds,
            before = mib(self.rss_before_bytes),
            open = mib(self.rss_open_bytes),
            grown = mib(grown),
            held_mib = mib(held),
            per_window = held / self.keys.max(1) as u64,
        )
    }
}

/// The process's resident set size, from `/proc/self/status` (0 where unavailable).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Returns freed heap to the OS (glibc keeps it otherwise), so RSS shows live memory.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One synthetic match of `key` in epoch `round`.
fn outcome(key: usize, round: usize) -> RuleOutcome {
    let mut fields = serde_json::Map::new();
    fields.insert("p_log_type".into(), "AWS.CloudTrail".into());
    fields.insert("p_row_id".into(), format!("row-{key}-{round}").into());
    fields.insert(
        "p_event_time".into(),
        format!("2026-11-27 10:{:02}:00.000000000", round % 60).into(),
    );
    fields.insert(
        "sourceIPAddress".into(),
        format!("10.{}.{}.{}", key >> 16, (key >> 8) & 255, key & 255).into(),
    );
    fields.insert("eventName".into(), "ConsoleLogin".into());
    RuleOutcome {
        kind: OutcomeKind::Match,
        rule_id: "Bench.ManyKeys".into(),
        rule_version: "bench".into(),
        log_type: "AWS.CloudTrail".into(),
        severity: "MEDIUM".into(),
        title: format!("console login from key {key}"),
        dedup: format!("key-{key}"),
        dedup_period_minutes: 60,
        threshold: 1,
        display_name: "Many keys".into(),
        description: "Benchmark rule".into(),
        reference: String::new(),
        runbook: String::new(),
        tags: vec!["bench".into()],
        reports: Default::default(),
        destinations: None,
        alert_context: Some(format!(r#"{{"key":{key}}}"#)),
        error: None,
        unique: None,
        create_alert: true,
        event: Event::from_fields(fields),
    }
}

fn round_of(keys: usize, round: usize) -> Vec<RuleOutcome> {
    (0..keys).map(|key| outcome(key, round)).collect()
}

/// Runs the benchmark on the broker in `options` (topics are created per run).
pub fn run(options: &Options) -> Result<Report, AlertsBenchError> {
    let run_id = format!(
        "corvid.bench-alerts.{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let mut config = EngineConfig::default();
    config.kafka.brokers = options.brokers.clone();
    config.topics.alerts = format!("{run_id}.alerts");
    config.alerts.progress_topic = format!("{run_id}.progress");
    config.alerts.max_samples = 1;
    let client = client_config(&config.kafka);
    ensure_topics(
        &client,
        &[
            (config.topics.alerts.as_str(), 4),
            (&format!("{run_id}.baseline"), 4),
        ],
    )?;
    ensure_topics_with(
        &client,
        &[(config.alerts.progress_topic.as_str(), 1)],
        &[("cleanup.policy", "compact")],
    )?;

    let (engine_seconds, rss_before, rss_open, rss_trimmed) = engine_pass(&config, options)?;
    let transactions = crate::metrics::metrics()
        .sink_transactions
        .with_label_values(&["committed"])
        .get();
    let records = (options.keys * options.matches_per_key) as u64;
    let (baseline_seconds, dedup_state_seconds) =
        baseline_pass(&config, &format!("{run_id}.baseline"), options)?;
    Ok(Report {
        keys: options.keys,
        alert_records: records,
        engine_seconds,
        baseline_seconds,
        dedup_state_seconds,
        rss_before_bytes: rss_before,
        rss_open_bytes: rss_open,
        rss_open_trimmed_bytes: rss_trimmed,
        transactions,
    })
}

/// Dedup + sink; returns (seconds, rss before, rss with every window open, the same
/// after trimming the heap). Only the dataflow's work is timed, not making the input.
fn engine_pass(
    config: &EngineConfig,
    options: &Options,
) -> Result<(f64, u64, u64, u64), AlertsBenchError> {
    let sink = AlertsSink::connect(config)?;
    let fatal = FatalSlot::default();
    let shutdown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keys = options.keys;
    let rounds = options.matches_per_key;
    let max_samples = config.alerts.max_samples;
    let slot = fatal.clone();
    let result = timely::execute_directly(move |worker| {
        let probe = ProbeHandle::new();
        let mut input = InputHandle::<Epoch, CapacityContainerBuilder<Vec<RuleOutcome>>>::new();
        let mut sink = Some(sink);
        worker.dataflow(|scope| {
            let outcomes = scope.input_from(&mut input);
            let (alerts, _matched) = dedup_alerts(outcomes, max_samples, None);
            alerts_sink(alerts, sink.take(), shutdown, slot, &probe);
        });
        input.advance_to(START);
        trim_heap();
        let rss_before = resident_bytes();
        let mut busy = Duration::ZERO;
        for round in 0..rounds {
            let mut batch = round_of(keys, round);
            let started = Instant::now();
            input.send_batch(&mut batch);
            let next = START + (round as Epoch + 1) * EPOCH_MS;
            input.advance_to(next);
            while probe.less_than(&next) {
                worker.step();
            }
            busy += started.elapsed();
        }
        // Every window is still open: the frontier is far from their 60-minute ends.
        let rss_open = resident_bytes();
        trim_heap();
        let rss_trimmed = resident_bytes();
        input.close();
        while worker.step() {}
        (busy.as_secs_f64(), rss_before, rss_open, rss_trimmed)
    });
    match fatal.take() {
        Some(message) => Err(AlertsBenchError::SinkFailed(message)),
        None => Ok(result),
    }
}

/// The same alert records, produced as JSON by a plain idempotent producer.
fn baseline_pass(
    config: &EngineConfig,
    topic: &str,
    options: &Options,
) -> Result<(f64, f64), AlertsBenchError> {
    // The records themselves, from the same pure dedup state (timed apart).
    let mut windows = DedupWindows::new(config.alerts.max_samples);
    let mut alerts = Vec::with_capacity(options.keys * options.matches_per_key);
    let mut dedup_only = Duration::ZERO;
    for round in 0..options.matches_per_key {
        let epoch = START + round as Epoch * EPOCH_MS;
        let batch = round_of(options.keys, round);
        let started = Instant::now();
        alerts.extend(windows.observe_epoch(epoch, batch).alerts);
        dedup_only += started.elapsed();
    }
    drop(windows);
    let tally = std::sync::Arc::new(DeliveryTally::default());
    let producer: ThreadedProducer<TallyContext> = producer_config(&config.kafka.brokers)
        .set("linger.ms", "20")
        .create_with_context(TallyContext(std::sync::Arc::clone(&tally)))
        .map_err(AlertsBenchError::Baseline)?;
    let started = Instant::now();
    for alert in &alerts {
        let payload = serde_json::to_vec(alert).unwrap_or_default();
        loop {
            match producer.send(
                BaseRecord::to(topic)
                    .key(alert.alert_id.as_bytes())
                    .payload(&payload),
            ) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                    _,
                )) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => return Err(AlertsBenchError::Baseline(error)),
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(AlertsBenchError::Baseline)?;
    let seconds = started.elapsed().as_secs_f64();
    if tally.failed() > 0 {
        return Err(AlertsBenchError::BaselineUnacknowledged(tally.failed()));
    }
    Ok((seconds, dedup_only.as_secs_f64()))
}
