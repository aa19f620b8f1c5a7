//! An acknowledged, bounded producer for connectors that run on tokio (HTTP, syslog,
//! S3): every queued record gives a [`Delivery`] to await, so a connector can answer its
//! client, or record its cursor, only once Kafka has the records.
//!
//! The bound is librdkafka's local queue (`kafka.max_buffered_kib`). When it is full,
//! [`AckedProducer::try_queue`] says so at once ([`QueueError::Full`], an HTTP 429) and
//! [`AckedProducer::queue`] waits for room (backpressure on a socket or a reader).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot::Canceled;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::future_producer::OwnedDeliveryResult;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use super::config::KafkaTarget;
use crate::producer::{DeliveryCounters, ProduceError};
use crate::raw_record::SourceMeta;
use crate::topics::{ensure_topics, TopicError};

/// How long a sender waits before trying a full queue again.
const FULL_RETRY: Duration = Duration::from_millis(5);

/// Where one source's records go: its headers, built once, and its delivery counters
/// (shared with every [`Delivery`], so queueing a record clones one `Arc`).
#[derive(Clone)]
pub struct Route {
    headers: Option<OwnedHeaders>,
    counters: Option<Arc<DeliveryCounters>>,
}

impl Route {
    pub fn new(meta: &SourceMeta, counters: DeliveryCounters) -> Route {
        Route {
            headers: Some(meta.to_headers()),
            counters: Some(Arc::new(counters)),
        }
    }

    /// For a connector's own bookkeeping records (the S3 cursor), which are not log
    /// records: no source headers, and not counted in the connector's series.
    pub fn bookkeeping() -> Route {
        Route {
            headers: None,
            counters: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// librdkafka's local queue is at `kafka.max_buffered_kib`: the broker is behind.
    #[error("the Kafka producer queue is full")]
    Full,
    #[error(transparent)]
    Failed(#[from] ProduceError),
}

#[derive(Debug, thiserror::Error)]
pub enum AckedProducerError {
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// A producer shared by every task of a connector (it is cheap to clone).
#[derive(Clone)]
pub struct AckedProducer {
    producer: FutureProducer,
    topic: String,
}

impl AckedProducer {
    /// Creates the topic when missing and connects.
    pub fn new(target: &KafkaTarget) -> Result<AckedProducer, AckedProducerError> {
        let config = target.producer_config();
        ensure_topics(&config, &[(&target.topic, target.partitions)])?;
        let producer = config.create().map_err(|source| ProduceError::Create {
            brokers: target.brokers.clone(),
            source,
        })?;
        Ok(AckedProducer {
            producer,
            topic: target.topic.clone(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Queues one record without waiting; [`QueueError::Full`] when the queue is full.
    pub fn try_queue(
        &self,
        route: &Route,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Delivery, QueueError> {
        let mut record = FutureRecord::to(&self.topic).key(key).payload(payload);
        if let Some(headers) = &route.headers {
            record = record.headers(headers.clone());
        }
        match self.producer.send_result(record) {
            Ok(future) => Ok(Delivery {
                future,
                counters: route.counters.clone(),
                bytes: payload.len() as u64,
            }),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                Err(QueueError::Full)
            }
            Err((source, _)) => Err(QueueError::Failed(ProduceError::Queue {
                topic: self.topic.clone(),
                source,
            })),
        }
    }

    /// Queues one record, waiting while the queue is full.
    pub async fn queue(
        &self,
        route: &Route,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Delivery, ProduceError> {
        loop {
            match self.try_queue(route, key, payload) {
                Ok(delivery) => return Ok(delivery),
                Err(QueueError::Full) => tokio::time::sleep(FULL_RETRY).await,
                Err(QueueError::Failed(error)) => return Err(error),
            }
        }
    }

    /// Queues one record, waiting at most `wait` for room in a full queue;
    /// [`QueueError::Full`] once that has passed (an HTTP client is told to back off).
    pub async fn queue_within(
        &self,
        route: &Route,
        key: &[u8],
        payload: &[u8],
        wait: Duration,
    ) -> Result<Delivery, QueueError> {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_queue(route, key, payload) {
                Err(QueueError::Full) if Instant::now() < deadline => {
                    tokio::time::sleep(FULL_RETRY).await
                }
                outcome => return outcome,
            }
        }
    }

    /// [`AckedProducer::queue`] for threads that are not on a runtime.
    pub fn queue_blocking(
        &self,
        route: &Route,
        key: &[u8],
        payload: &[u8],
    ) -> Result<Delivery, ProduceError> {
        loop {
            match self.try_queue(route, key, payload) {
                Ok(delivery) => return Ok(delivery),
                Err(QueueError::Full) => std::thread::sleep(FULL_RETRY),
                Err(QueueError::Failed(error)) => return Err(error),
            }
        }
    }

    /// Waits until librdkafka's queue is empty (every record acknowledged or failed).
    pub fn flush(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.producer
            .flush(timeout)
            .map_err(|_| ProduceError::FlushTimeout(timeout))
    }
}

/// One queued record; await [`Delivery::acked`] to learn whether Kafka has it.
pub struct Delivery {
    future: DeliveryFuture,
    counters: Option<Arc<DeliveryCounters>>,
    bytes: u64,
}

type Outcome = Result<OwnedDeliveryResult, Canceled>;

impl Delivery {
    /// Resolves once the broker acknowledged (Ok) or refused the record; counts it.
    pub async fn acked(self) -> Result<(), ProduceError> {
        let outcome = self.future.await;
        settle(self.counters.as_deref(), self.bytes, outcome)
    }

    /// [`Delivery::acked`] for threads that are not on a runtime.
    pub fn acked_blocking(self) -> Result<(), ProduceError> {
        let outcome = futures::executor::block_on(self.future);
        settle(self.counters.as_deref(), self.bytes, outcome)
    }
}

fn settle(
    counters: Option<&DeliveryCounters>,
    bytes: u64,
    outcome: Outcome,
) -> Result<(), ProduceError> {
    let reason = match outcome {
        Ok(Ok(_)) => {
            if let Some(counters) = counters {
                counters.records.inc();
                if let Some(counter) = &counters.bytes {
                    counter.inc_by(bytes);
                }
            }
            return Ok(());
        }
        Ok(Err((error, _))) => error.to_string(),
        Err(Canceled) => "the producer was dropped before the broker answered".to_owned(),
    };
    if let Some(counters) = counters {
        counters.failures.inc();
    }
    Err(ProduceError::Refused { reason })
}
