//! The connector's passes: list every source's prefix, read each object not in the
//! cursor (several at a time), send its records, and record it in the cursor once Kafka
//! acknowledged them all.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{future, StreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio_util::io::{StreamReader, SyncIoBridge};

use super::config::S3Source;
use super::cursor::{Cursor, CursorEntry, ObjectState};
use super::decode::{decode_object, DecodeError, Decoded};
use super::metrics::{s3_metrics, CORRUPT, DELIVERY, READ};
use crate::ingest::acked::{AckedProducer, Delivery, Route};

/// Records of one object queued but not yet known acknowledged; the oldest is awaited
/// before another is queued past it. librdkafka's own queue bounds the bytes.
const ACK_WINDOW: usize = 8192;
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// One configured source, ready to read.
pub struct SourceRun {
    pub spec: S3Source,
    pub prefix: Option<ObjectPath>,
    pub route: Route,
}

pub struct Connector {
    pub store: Arc<dyn ObjectStore>,
    /// `s3://bucket` or `file:///dir`: object keys are `{url}/{path}`.
    pub url: String,
    pub producer: AckedProducer,
    pub cursor: Arc<Cursor>,
    pub sources: Vec<SourceRun>,
    pub concurrency: usize,
    pub max_record_bytes: usize,
    pub shutdown: Arc<AtomicBool>,
}

/// What one pass saw.
#[derive(Debug, Default)]
pub struct PassSummary {
    pub completed: u64,
    pub failed: u64,
    pub listing_errors: Vec<String>,
}

enum Outcome {
    Completed,
    Failed,
    Abandoned,
}

/// Why the callback stopped an object.
#[derive(Debug)]
enum Stop {
    Shutdown,
    Refused(String),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::Shutdown => f.write_str("shutting down"),
            Stop::Refused(reason) => write!(f, "Kafka refused a record: {reason}"),
        }
    }
}

struct ObjectRead {
    decoded: Result<Decoded, DecodeError<Stop>>,
    acked: u64,
    refused: Option<String>,
}

impl Connector {
    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::Relaxed)
    }

    /// Passes until shutdown (or one pass with `once`), then flushes.
    pub async fn run(&self, once: bool, poll_interval: Duration) -> PassSummary {
        loop {
            let last = self.pass().await;
            let cursor_entries = self.cursor.len();
            if last.completed + last.failed > 0 || !last.listing_errors.is_empty() {
                tracing::info!(
                    completed = last.completed,
                    failed = last.failed,
                    listing_errors = last.listing_errors.len(),
                    cursor_entries,
                    "s3 pass done"
                );
            } else {
                tracing::debug!(cursor_entries, "s3 pass done: nothing new");
            }
            if once || self.stopping() {
                self.flush();
                return last;
            }
            let step = Duration::from_millis(100);
            let mut waited = Duration::ZERO;
            while waited < poll_interval && !self.stopping() {
                tokio::time::sleep(step).await;
                waited += step;
            }
            if self.stopping() {
                self.flush();
                return last;
            }
        }
    }

    fn flush(&self) {
        if let Err(error) = self.producer.flush(FLUSH_TIMEOUT) {
            tracing::warn!(%error, "records still unacknowledged at exit");
        }
        if let Err(error) = self.cursor.flush(FLUSH_TIMEOUT) {
            tracing::warn!(%error, "cursor entries still unacknowledged at exit");
        }
    }

    /// One pass over every source's objects not in the cursor.
    pub async fn pass(&self) -> PassSummary {
        let mut summary = PassSummary::default();
        let listing_errors = std::sync::Mutex::new(Vec::new());
        {
            let candidates = futures::stream::iter(self.sources.iter()).flat_map(|source| {
                self.store
                    .list(source.prefix.as_ref())
                    .map(move |listed| (source, listed))
            });
            let outcomes = candidates
            .take_while(|_| future::ready(!self.stopping()))
            .filter_map(|(source, listed)| {
                let wanted = match listed {
                    Ok(meta) => {
                        let key = self.object_key(&meta.location);
                        (!self.cursor.is_done(&key, &meta)).then_some((source, meta, key))
                    }
                    Err(error) => {
                        tracing::error!(source = %source.spec.id, prefix = %source.spec.prefix, %error, "listing failed");
                        if let Ok(mut errors) = listing_errors.lock() {
                            errors.push(format!("sources {:?}: {error}", source.spec.id));
                        }
                        None
                    }
                };
                future::ready(wanted)
            })
            .map(|(source, meta, key)| self.process(source, meta, key))
            .buffer_unordered(self.concurrency);
            futures::pin_mut!(outcomes);
            while let Some(outcome) = outcomes.next().await {
                match outcome {
                    Outcome::Completed => summary.completed += 1,
                    Outcome::Failed => summary.failed += 1,
                    Outcome::Abandoned => {}
                }
            }
        }
        summary.listing_errors = listing_errors.into_inner().unwrap_or_default();
        summary
    }

    fn object_key(&self, location: &ObjectPath) -> String {
        format!("{}/{}", self.url, location)
    }

    async fn process(&self, source: &SourceRun, listed: ObjectMeta, key: String) -> Outcome {
        let id = source.spec.id.as_str();
        let metrics = s3_metrics();
        let failed = |reason: &str| {
            metrics
                .objects_failed
                .with_label_values(&[id, reason])
                .inc();
            Outcome::Failed
        };
        if self.stopping() {
            return Outcome::Abandoned;
        }
        let got = match self.store.get(&listed.location).await {
            Ok(got) => got,
            Err(error) => {
                tracing::warn!(%key, %error, "cannot open object; retried next pass");
                return failed(READ);
            }
        };
        // The version actually read is the one the cursor records.
        let meta = got.meta.clone();
        let bytes_read = metrics.bytes_read.with_label_values(&[id]);
        let chunks = got.into_stream().map(move |chunk| {
            if let Ok(bytes) = &chunk {
                bytes_read.inc_by(bytes.len() as u64);
            }
            chunk.map_err(io::Error::other)
        });
        let reader = SyncIoBridge::new(StreamReader::new(chunks));
        let producer = self.producer.clone();
        let route = source.route.clone();
        let shutdown = Arc::clone(&self.shutdown);
        let limit = self.max_record_bytes;
        let record_key = key.clone();
        tracing::debug!(%key, size = meta.size, "reading object");
        let read = tokio::task::spawn_blocking(move || {
            read_object(reader, &producer, &route, &record_key, limit, &shutdown)
        })
        .await;
        let read = match read {
            Ok(read) => read,
            Err(error) => {
                tracing::error!(%key, %error, "object reader panicked");
                return failed(READ);
            }
        };
        if let Some(reason) = &read.refused {
            tracing::error!(%key, %reason, acked = read.acked, "Kafka refused records; object retried next pass");
            return failed(DELIVERY);
        }
        let (state, error) = match read.decoded {
            Ok(decoded) => {
                if decoded.oversized > 0 {
                    metrics
                        .records_oversized
                        .with_label_values(&[id])
                        .inc_by(decoded.oversized);
                    tracing::warn!(%key, skipped = decoded.oversized, max_record_bytes = limit, "records over max_record_bytes skipped");
                }
                (ObjectState::Completed, None)
            }
            Err(DecodeError::Corrupt { reason, records }) => {
                tracing::error!(%key, %reason, records_sent = records, "corrupt object: records before the damage were sent; marked corrupt in the cursor");
                (ObjectState::Corrupt, Some(reason))
            }
            Err(DecodeError::Source { reason, records }) => {
                tracing::warn!(%key, %reason, records_sent = records, "reading the object failed; retried next pass");
                return failed(READ);
            }
            Err(DecodeError::Stopped(Stop::Shutdown)) => {
                tracing::info!(%key, "shutting down: object abandoned, not in the cursor");
                return Outcome::Abandoned;
            }
            Err(DecodeError::Stopped(Stop::Refused(reason))) => {
                tracing::error!(%key, %reason, "Kafka refused a record; object retried next pass");
                return failed(DELIVERY);
            }
        };
        let entry = CursorEntry::new(&meta, state, read.acked, error);
        if let Err(error) = self.cursor.record(&key, entry).await {
            tracing::error!(%key, %error, "cursor entry not written; object read again next pass");
            return failed(DELIVERY);
        }
        match state {
            ObjectState::Completed => {
                metrics.objects_completed.with_label_values(&[id]).inc();
                tracing::info!(%key, records = read.acked, "object completed");
                Outcome::Completed
            }
            ObjectState::Corrupt => failed(CORRUPT),
        }
    }
}

/// Reads one object on a blocking thread, queueing each record and waiting for every
/// acknowledgement before it returns (except when shutting down).
fn read_object(
    reader: impl io::Read,
    producer: &AckedProducer,
    route: &Route,
    key: &str,
    limit: usize,
    shutdown: &AtomicBool,
) -> ObjectRead {
    let mut pending: VecDeque<Delivery> = VecDeque::with_capacity(ACK_WINDOW);
    let mut acked = 0u64;
    let decoded = decode_object(reader, limit, |record| {
        if shutdown.load(Ordering::Relaxed) {
            return Err(Stop::Shutdown);
        }
        let delivery = producer
            .queue_blocking(route, key.as_bytes(), record)
            .map_err(|error| Stop::Refused(error.to_string()))?;
        pending.push_back(delivery);
        if pending.len() >= ACK_WINDOW {
            if let Some(oldest) = pending.pop_front() {
                oldest
                    .acked_blocking()
                    .map_err(|error| Stop::Refused(error.to_string()))?;
                acked += 1;
            }
        }
        Ok(())
    });
    let mut refused = None;
    if !matches!(decoded, Err(DecodeError::Stopped(Stop::Shutdown))) {
        for delivery in pending.drain(..) {
            match delivery.acked_blocking() {
                Ok(()) => acked += 1,
                Err(error) => {
                    refused.get_or_insert(error.to_string());
                }
            }
        }
    }
    if let Err(DecodeError::Stopped(Stop::Refused(reason))) = &decoded {
        refused.get_or_insert(reason.clone());
    }
    ObjectRead {
        decoded,
        acked,
        refused,
    }
}
