//! The alerts sink: exactly-once alert versions through one Kafka transaction per epoch.
//!
//! ```text
//!  alert updates ──exchange to worker 0──▶ AlertsSink: once the frontier passes epoch E:
//!                                            begin; alerts of epochs ≤ E (sorted by id);
//!                                            progress {epoch: E}; commit
//! ```
//!
//! One producer with a stable `transactional.id` (Materialize's sink design): at start-up
//! `init_transactions` fences any older instance and aborts its open transaction, then the
//! sink reads its last committed progress record and skips epochs it already committed.
//! Epochs come from the records' Kafka timestamps, so a replay from the same offsets
//! rebuilds the same windows and the same alert versions for those epochs: a
//! `read_committed` consumer sees each alert version once. Alert volume is small next to
//! events, so one worker writing them costs little and keeps one producer per engine.
//!
//! A transaction that fails is aborted and retried (the alerts are still in memory); a
//! fatal producer error (fenced by a newer instance) stops the engine with that error.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Probe;
use timely::dataflow::{ProbeHandle, Stream};

use super::progress::{read_progress, Progress, ProgressError};
use crate::alerts::avro::AlertAvroEncoder;
use crate::alerts::Alert;
use crate::config::{AlertEncodingName, EngineConfig};
use crate::metrics::{alert_published, metrics, FrontierLag, OperatorName};
use crate::source::Epoch;
use corvid_connectors::producer::producer_config;

const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AlertsSinkError {
    #[error("cannot create the transactional alerts producer ({transactional_id}): {source}")]
    Producer {
        transactional_id: String,
        source: KafkaError,
    },
    #[error(transparent)]
    Progress(#[from] ProgressError),
    #[error("cannot set up Avro alerts: {0}")]
    Avro(String),
}

/// How alerts are written on the topic.
pub enum AlertEncoder {
    Json,
    /// Confluent wire format, schema registered under `<topic>-value`.
    Avro(Box<AlertAvroEncoder>),
}

impl AlertEncoder {
    fn encode(&self, alert: &Alert) -> Result<Vec<u8>, String> {
        match self {
            AlertEncoder::Json => serde_json::to_vec(alert).map_err(|e| e.to_string()),
            AlertEncoder::Avro(encoder) => encoder.encode(alert).map_err(|e| e.to_string()),
        }
    }
}

/// Where a sink that cannot go on reports why; `run` returns it as the engine's error.
#[derive(Clone, Default)]
pub struct FatalSlot(Arc<Mutex<Option<String>>>);

impl FatalSlot {
    pub fn set(&self, message: String) {
        if let Ok(mut slot) = self.0.lock() {
            slot.get_or_insert(message);
        }
    }

    pub fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// The connected transactional producer (worker 0 only).
pub struct AlertsSink {
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: String,
    progress_topic: String,
    transactional_id: String,
    encoder: AlertEncoder,
    /// Epochs up to this one were committed by an earlier run.
    committed: Option<Epoch>,
}

/// Why one transaction attempt failed.
enum Attempt {
    Retry(String),
    Fatal(String),
}

impl AlertsSink {
    /// Connects, fences older instances and reads the last committed progress.
    pub fn connect(config: &EngineConfig) -> Result<AlertsSink, AlertsSinkError> {
        let transactional_id = config.alerts_transactional_id();
        let producer_error = |source| AlertsSinkError::Producer {
            transactional_id: transactional_id.clone(),
            source,
        };
        let mut client = producer_config(&config.kafka.brokers);
        for (key, value) in &config.kafka.client {
            client.set(key, value);
        }
        client
            .set("transactional.id", &transactional_id)
            .set(
                "transaction.timeout.ms",
                TRANSACTION_TIMEOUT.as_millis().to_string(),
            )
            .set("linger.ms", "20");
        let producer: ThreadedProducer<DefaultProducerContext> =
            client.create().map_err(producer_error)?;
        producer
            .init_transactions(TRANSACTION_TIMEOUT)
            .map_err(producer_error)?;
        let progress = read_progress(
            &config.kafka,
            &config.alerts.progress_topic,
            &transactional_id,
        )?;
        let encoder = match config.alerts.encoding {
            AlertEncodingName::Json => AlertEncoder::Json,
            AlertEncodingName::Avro => {
                let url = config.schema_registry_url.as_deref().unwrap_or_default();
                let encoder = AlertAvroEncoder::new(url, &config.topics.alerts)
                    .map_err(|e| AlertsSinkError::Avro(e.to_string()))?;
                AlertEncoder::Avro(Box::new(encoder))
            }
        };
        if let Some(progress) = &progress {
            tracing::info!(
                transactional_id,
                epoch = progress.epoch,
                "alerts sink resumes after its last committed epoch"
            );
        }
        Ok(AlertsSink {
            producer,
            topic: config.topics.alerts.clone(),
            progress_topic: config.alerts.progress_topic.clone(),
            transactional_id,
            encoder,
            committed: progress.map(|p| p.epoch),
        })
    }

    /// Commits the alerts of `epochs` (all ≤ `through`) and a progress record for
    /// `through` in one transaction, retrying until it succeeds, the error is fatal, or
    /// shutdown is requested during a retry.
    fn commit(
        &self,
        through: Epoch,
        alerts: &[&Alert],
        shutdown: &AtomicBool,
    ) -> Result<(), String> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            match self.try_commit(through, alerts) {
                Ok(()) => {
                    let m = metrics();
                    m.sink_transactions.with_label_values(&["committed"]).inc();
                    m.sink_transaction_seconds
                        .observe(started.elapsed().as_secs_f64());
                    m.sink_records
                        .with_label_values(&[self.topic.as_str()])
                        .inc_by(alerts.len() as u64);
                    for alert in alerts {
                        alert_published(&alert.rule_id, &alert.severity, alert.is_first_version());
                    }
                    return Ok(());
                }
                Err(Attempt::Fatal(message)) => return Err(message),
                Err(Attempt::Retry(message)) => {
                    metrics()
                        .sink_transactions
                        .with_label_values(&["aborted"])
                        .inc();
                    if shutdown.load(Ordering::Acquire) {
                        return Err(format!(
                            "alerts through epoch {through} not committed at shutdown: {message}"
                        ));
                    }
                    tracing::warn!(
                        topic = self.topic,
                        through,
                        error = message,
                        retry_in_ms = backoff.as_millis() as u64,
                        "alerts transaction aborted; retrying"
                    );
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    fn try_commit(&self, through: Epoch, alerts: &[&Alert]) -> Result<(), Attempt> {
        self.producer.begin_transaction().map_err(classify)?;
        let result = self.produce_all(through, alerts).and_then(|()| {
            // Records are sent, the transaction is open: a crash here must leave nothing
            // visible to read_committed consumers.
            crate::fail_point!(crate::checkpoint::failpoints::IN_TRANSACTION);
            self.producer
                .commit_transaction(TRANSACTION_TIMEOUT)
                .map_err(classify)
        });
        if let Err(Attempt::Retry(_)) = &result {
            if let Err(error) = self.producer.abort_transaction(TRANSACTION_TIMEOUT) {
                if let Attempt::Fatal(message) = classify(error) {
                    return Err(Attempt::Fatal(message));
                }
            }
        }
        result
    }

    fn produce_all(&self, through: Epoch, alerts: &[&Alert]) -> Result<(), Attempt> {
        for alert in alerts {
            let payload = self.encoder.encode(alert).map_err(|e| {
                Attempt::Retry(format!("cannot encode alert {}: {e}", alert.alert_id))
            })?;
            self.send(&self.topic, alert.alert_id.as_bytes(), &payload)?;
        }
        let progress = Progress {
            epoch: through,
            alerts_topic: self.topic.clone(),
            alert_records: alerts.len() as u64,
        };
        let payload = serde_json::to_vec(&progress).map_err(|e| Attempt::Fatal(e.to_string()))?;
        self.send(
            &self.progress_topic,
            self.transactional_id.as_bytes(),
            &payload,
        )
    }

    fn send(&self, topic: &str, key: &[u8], payload: &[u8]) -> Result<(), Attempt> {
        loop {
            match self
                .producer
                .send(BaseRecord::to(topic).key(key).payload(payload))
            {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, _)) => return Err(classify(error)),
            }
        }
    }
}

fn classify(error: KafkaError) -> Attempt {
    let fatal = match &error {
        KafkaError::Transaction(inner) => inner.is_fatal(),
        _ => false,
    };
    if fatal {
        Attempt::Fatal(format!("alerts producer: {error}"))
    } else {
        Attempt::Retry(error.to_string())
    }
}

/// Publishes alert updates exactly once. `sink` is `Some` on worker 0 only; every other
/// worker sends its alerts there.
pub fn alerts_sink<'scope>(
    stream: Stream<'scope, Epoch, Vec<Alert>>,
    sink: Option<AlertsSink>,
    shutdown: Arc<AtomicBool>,
    fatal: FatalSlot,
    probe: &ProbeHandle<Epoch>,
) {
    let mut pending: BTreeMap<Epoch, Vec<Alert>> = BTreeMap::new();
    let mut failed = false;
    stream
        .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
            Exchange::new(|_alert: &Alert| 0u64),
            "AlertsSink",
            move |_capability, _info| {
                let lag = FrontierLag::of(OperatorName::AlertsSink);
                move |(input, frontier), _output| {
                    input.for_each(|cap, data| {
                        if let Some(&epoch) = cap.least() {
                            pending.entry(epoch).or_default().append(data);
                        }
                    });
                    let frontier = frontier.frontier();
                    lag.observe(frontier.first().copied());
                    let ready: Vec<Epoch> = pending
                        .keys()
                        .copied()
                        .take_while(|epoch| !frontier.less_equal(epoch))
                        .collect();
                    let Some(&through) = ready.last() else {
                        return;
                    };
                    let mut batch: Vec<(Epoch, Vec<Alert>)> = ready
                        .iter()
                        .filter_map(|epoch| pending.remove_entry(epoch))
                        .collect();
                    let Some(sink) = sink.as_ref() else {
                        // Exchange routes every alert to worker 0; nothing can land here.
                        return;
                    };
                    if failed {
                        return;
                    }
                    let skipped: usize = batch
                        .iter()
                        .filter(|(epoch, _)| sink.committed.is_some_and(|c| *epoch <= c))
                        .map(|(_, alerts)| alerts.len())
                        .sum();
                    if skipped > 0 {
                        metrics().alerts_skipped.inc_by(skipped as u64);
                    }
                    batch.retain(|(epoch, _)| sink.committed.is_none_or(|c| *epoch > c));
                    // A fixed order inside the transaction: the topic's content is then a
                    // function of the input too.
                    for (_, alerts) in batch.iter_mut() {
                        alerts.sort_by(|a, b| a.alert_id.cmp(&b.alert_id));
                    }
                    let alerts: Vec<&Alert> =
                        batch.iter().flat_map(|(_, alerts)| alerts.iter()).collect();
                    if alerts.is_empty() {
                        return;
                    }
                    if let Err(message) = sink.commit(through, &alerts, &shutdown) {
                        tracing::error!(error = message, "alerts sink stopped");
                        failed = true;
                        fatal.set(message);
                        shutdown.store(true, Ordering::Release);
                    }
                }
            },
        )
        .probe_with(probe);
}
