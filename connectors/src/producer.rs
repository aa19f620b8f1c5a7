//! An acknowledged producer of raw records.
//!
//! [`RawProducer::send`] queues a record; [`RawProducer::finish`] waits until the broker
//! has acknowledged every queued record and fails if any was refused. Idempotence is on,
//! so librdkafka's retries neither reorder a stream's lines nor write them twice.
//!
//! When librdkafka's local queue is full, `send` waits for deliveries to drain instead of
//! buffering without bound: backpressure reaches the reader of the input.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::IntCounter;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::raw_record::SourceMeta;

#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("cannot create a Kafka producer for {brokers}: {source}")]
    Create { brokers: String, source: KafkaError },
    #[error("cannot queue a record for topic {topic}: {source}")]
    Queue { topic: String, source: KafkaError },
    #[error(
        "{failed} of {sent} records to {topic} were not acknowledged; first error: {first_error}"
    )]
    Unacknowledged {
        topic: String,
        sent: u64,
        failed: u64,
        first_error: String,
    },
    /// One record the broker refused (or librdkafka gave up on).
    #[error("Kafka did not acknowledge a record: {reason}")]
    Refused { reason: String },
    #[error("timed out after {0:?} waiting for the broker to acknowledge records")]
    FlushTimeout(Duration),
}

/// Counts delivery reports; the first failure is kept for the error message.
#[derive(Default)]
pub struct DeliveryTally {
    acknowledged: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
    counters: Option<DeliveryCounters>,
}

/// Prometheus counters that delivery reports feed as they arrive, so a scrape sees a
/// long send progress instead of one jump at the end.
#[derive(Clone, Debug)]
pub struct DeliveryCounters {
    /// Records the broker acknowledged.
    pub records: IntCounter,
    /// Payload bytes of those records, where they are counted.
    pub bytes: Option<IntCounter>,
    /// Records the broker refused (or that timed out in librdkafka's queue).
    pub failures: IntCounter,
}

impl DeliveryTally {
    /// A tally that also feeds `counters`.
    pub fn counting(counters: DeliveryCounters) -> DeliveryTally {
        DeliveryTally {
            counters: Some(counters),
            ..DeliveryTally::default()
        }
    }

    pub fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::Acquire)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    /// The first refusal, with the key of the record it refused.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|first| first.clone())
    }
}

/// The rdkafka context that feeds a [`DeliveryTally`].
pub struct TallyContext(pub Arc<DeliveryTally>);

impl ClientContext for TallyContext {}

impl ProducerContext for TallyContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _opaque: ()) {
        match result {
            Ok(message) => {
                self.0.acknowledged.fetch_add(1, Ordering::AcqRel);
                if let Some(counters) = &self.0.counters {
                    counters.records.inc();
                    if let Some(bytes) = &counters.bytes {
                        bytes.inc_by(message.payload_len() as u64);
                    }
                }
            }
            Err((err, message)) => {
                self.0.failed.fetch_add(1, Ordering::AcqRel);
                if let Some(counters) = &self.0.counters {
                    counters.failures.inc();
                }
                if let Ok(mut first) = self.0.first_error.lock() {
                    first.get_or_insert_with(|| {
                        let key = String::from_utf8_lossy(
                            rdkafka::message::Message::key(message).unwrap_or_default(),
                        );
                        format!("key {key:?}: {err}")
                    });
                }
            }
        }
    }
}

/// The largest record Corvid produces, in bytes (16 MiB).
pub const MAX_RECORD_BYTES: &str = "16777216";

/// Producer settings every Corvid producer shares: idempotent, ordered, compressed.
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "60000")
        // One record may be a whole CloudTrail envelope; the brokers we start accept
        // the same size (scripts/kafka/server.properties).
        .set("message.max.bytes", MAX_RECORD_BYTES);
    config
}

/// Produces raw records for one source to one topic, with acknowledgements.
pub struct RawProducer {
    producer: ThreadedProducer<TallyContext>,
    tally: Arc<DeliveryTally>,
    topic: String,
    headers: rdkafka::message::OwnedHeaders,
    sent: u64,
}

impl RawProducer {
    pub fn new(brokers: &str, topic: &str, meta: &SourceMeta) -> Result<Self, ProduceError> {
        RawProducer::with_tally(brokers, topic, meta, DeliveryTally::default())
    }

    /// A producer whose delivery reports also feed `counters`.
    pub fn counted(
        brokers: &str,
        topic: &str,
        meta: &SourceMeta,
        counters: DeliveryCounters,
    ) -> Result<Self, ProduceError> {
        RawProducer::with_tally(brokers, topic, meta, DeliveryTally::counting(counters))
    }

    fn with_tally(
        brokers: &str,
        topic: &str,
        meta: &SourceMeta,
        tally: DeliveryTally,
    ) -> Result<Self, ProduceError> {
        let tally = Arc::new(tally);
        let producer = producer_config(brokers)
            .create_with_context(TallyContext(Arc::clone(&tally)))
            .map_err(|source| ProduceError::Create {
                brokers: brokers.to_owned(),
                source,
            })?;
        Ok(RawProducer {
            producer,
            tally,
            topic: topic.to_owned(),
            headers: meta.to_headers(),
            sent: 0,
        })
    }

    /// Queues one record of `stream`; waits while librdkafka's queue is full.
    pub fn send(&mut self, stream: &str, payload: &[u8]) -> Result<(), ProduceError> {
        loop {
            let record = BaseRecord::to(&self.topic)
                .key(stream)
                .payload(payload)
                .headers(self.headers.clone());
            match self.producer.send(record) {
                Ok(()) => {
                    self.sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((source, _)) => {
                    return Err(ProduceError::Queue {
                        topic: self.topic.clone(),
                        source,
                    })
                }
            }
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Waits until every queued record is acknowledged; returns how many were sent.
    pub fn finish(self, timeout: Duration) -> Result<u64, ProduceError> {
        self.producer
            .flush(timeout)
            .map_err(|_| ProduceError::FlushTimeout(timeout))?;
        let failed = self.tally.failed();
        let acknowledged = self.tally.acknowledged();
        if failed > 0 || acknowledged != self.sent {
            let first_error = self
                .tally
                .first_error
                .lock()
                .ok()
                .and_then(|first| first.clone())
                .unwrap_or_else(|| format!("{acknowledged} acknowledged"));
            return Err(ProduceError::Unacknowledged {
                topic: self.topic,
                sent: self.sent,
                failed: self.sent - acknowledged,
                first_error,
            });
        }
        Ok(self.sent)
    }
}
