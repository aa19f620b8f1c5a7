//! Delivering one request's records: queue them all, then wait until Kafka acknowledged
//! every one, so the client hears 2xx only for records the broker has.
//!
//! A request that finds the producer queue full for longer than
//! `limits.queue_full_wait_ms` gets 429. The records it queued before that stay queued
//! (they cannot be taken back), so a client that retries may deliver some twice:
//! delivery is at-least-once.

use std::time::Duration;

use futures::future::join_all;
use tracing::warn;

use crate::ingest::acked::{AckedProducer, Delivery, QueueError, Route};

/// Why a batch was not (wholly) acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The producer queue stayed full: the broker is behind (HTTP 429).
    #[error("the Kafka producer queue stayed full for {0:?}")]
    Backpressure(Duration),
    /// Kafka refused records or could not take them (HTTP 503).
    #[error("{failed} of {total} records were not acknowledged by Kafka: {first}")]
    Refused {
        failed: usize,
        total: usize,
        first: String,
    },
}

/// Queues every `(key, payload)` and waits for all acknowledgements.
pub async fn deliver<'a>(
    producer: &AckedProducer,
    route: &Route,
    records: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    queue_full_wait: Duration,
) -> Result<usize, DeliverError> {
    let mut deliveries: Vec<Delivery> = Vec::new();
    let mut outcome = Ok(());
    for (key, payload) in records {
        match queue_one(producer, route, key, payload, queue_full_wait).await {
            Ok(delivery) => deliveries.push(delivery),
            Err(error) => {
                outcome = Err(error);
                break;
            }
        }
    }
    if let Err(error) = outcome {
        // The queued part still settles (and counts in the metrics) in the background;
        // the client is told now, so it can back off.
        tokio::spawn(async move {
            join_all(deliveries.into_iter().map(Delivery::acked)).await;
        });
        return Err(error);
    }
    let total = deliveries.len();
    let results = join_all(deliveries.into_iter().map(Delivery::acked)).await;
    let mut failed = 0;
    let mut first = None;
    for result in results {
        if let Err(error) = result {
            failed += 1;
            first.get_or_insert_with(|| error.to_string());
        }
    }
    match first {
        None => Ok(total),
        Some(first) => Err(DeliverError::Refused {
            failed,
            total,
            first,
        }),
    }
}

async fn queue_one(
    producer: &AckedProducer,
    route: &Route,
    key: &[u8],
    payload: &[u8],
    queue_full_wait: Duration,
) -> Result<Delivery, DeliverError> {
    match producer
        .queue_within(route, key, payload, queue_full_wait)
        .await
    {
        Ok(delivery) => Ok(delivery),
        Err(QueueError::Full) => Err(DeliverError::Backpressure(queue_full_wait)),
        Err(QueueError::Failed(error)) => {
            warn!(%error, "cannot queue a record");
            Err(DeliverError::Refused {
                failed: 1,
                total: 1,
                first: error.to_string(),
            })
        }
    }
}
