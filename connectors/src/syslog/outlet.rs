//! Where a listener's messages go: the shared producer, the listener's source route, and
//! a bounded queue of deliveries whose acknowledgements one background task awaits.
//!
//! Syslog has no acknowledgement to give the sender, so a refused record can only be
//! counted (`corvid_connector_delivery_failures_total`) and logged. The bounded queue is
//! what keeps the number of unacknowledged records per listener at `max_in_flight`: a
//! TCP reader waits for room in it as it waits for room in librdkafka's queue.

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::framing::Frame;
use super::metrics::ListenerMetrics;
use crate::ingest::acked::{AckedProducer, Delivery, QueueError, Route};
use crate::producer::{DeliveryCounters, ProduceError};

#[derive(Clone)]
pub struct Outlet {
    producer: AckedProducer,
    route: Route,
    counters: DeliveryCounters,
    deliveries: mpsc::Sender<Delivery>,
    pub metrics: ListenerMetrics,
}

/// What became of a UDP datagram offered without waiting.
pub enum Offered {
    Queued,
    /// The producer queue was full: the datagram is dropped (and counted).
    Dropped,
}

impl Outlet {
    /// The outlet and the task awaiting its acknowledgements; the task ends once every
    /// clone of the outlet is dropped and the last delivery is settled.
    pub fn new(
        producer: AckedProducer,
        route: Route,
        counters: DeliveryCounters,
        metrics: ListenerMetrics,
        max_in_flight: usize,
        name: String,
    ) -> (Outlet, JoinHandle<()>) {
        let (deliveries, pending) = mpsc::channel(max_in_flight);
        let settling = tokio::spawn(settle(pending, name));
        let outlet = Outlet {
            producer,
            route,
            counters,
            deliveries,
            metrics,
        };
        (outlet, settling)
    }

    /// Queues one framed message, waiting while Kafka's queue or the in-flight bound is
    /// full (backpressure on the connection). Counts the message and its defects.
    pub async fn send(&self, key: &[u8], frame: &Frame) {
        self.count(frame);
        match self.producer.queue(&self.route, key, &frame.message).await {
            Ok(delivery) => self.track(delivery).await,
            Err(error) => self.refused(&error),
        }
    }

    /// Queues one datagram without waiting: UDP cannot be paused, so a full queue means
    /// a drop, which is counted.
    pub async fn offer(&self, key: &[u8], frame: &Frame) -> Offered {
        self.count(frame);
        match self.producer.try_queue(&self.route, key, &frame.message) {
            Ok(delivery) => {
                self.track(delivery).await;
                Offered::Queued
            }
            Err(QueueError::Full) => {
                self.metrics.dropped.inc();
                Offered::Dropped
            }
            Err(QueueError::Failed(error)) => {
                self.refused(&error);
                Offered::Queued
            }
        }
    }

    fn count(&self, frame: &Frame) {
        self.metrics.messages.inc();
        if frame.truncated {
            self.metrics.truncated.inc();
        }
        if frame.framing_error {
            self.metrics.framing_errors.inc();
        }
    }

    async fn track(&self, delivery: Delivery) {
        // The receiver lives until every outlet clone is gone, so this only fails while
        // the runtime is being torn down; the record is then librdkafka's to flush.
        let _ = self.deliveries.send(delivery).await;
    }

    /// librdkafka would not even queue the record (e.g. larger than `message.max.bytes`).
    fn refused(&self, error: &ProduceError) {
        self.counters.failures.inc();
        tracing::warn!(%error, "a syslog message could not be queued to Kafka");
    }
}

async fn settle(mut pending: mpsc::Receiver<Delivery>, name: String) {
    let mut refused = 0u64;
    while let Some(delivery) = pending.recv().await {
        if let Err(error) = delivery.acked().await {
            refused += 1;
            // The first refusal and then one in a thousand: a dead broker must not
            // flood the log; the counter has the exact number.
            if refused % 1000 == 1 {
                tracing::warn!(listener = %name, %error, refused, "Kafka refused syslog records");
            }
        }
    }
}
