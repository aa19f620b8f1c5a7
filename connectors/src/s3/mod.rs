//! `corvid connect s3`: streams the objects under configured prefixes of an S3 (or
//! S3-compatible, or local) store into Kafka, one record per log event, keyed by the
//! object's URL so each object's records stay ordered in one partition
//! (`docs/connect-s3.md`).
//!
//! * [`config`]: the YAML file;
//! * [`store`]: the `object_store` client;
//! * [`decode`]: decompression by content and record splitting while reading;
//! * [`cursor`]: the completed objects, in a compacted topic;
//! * [`run`]: the listing passes and per-object delivery.

pub mod config;
pub mod cursor;
pub mod decode;
pub mod metrics;
pub mod run;
pub mod store;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;

use crate::ingest::acked::{AckedProducer, AckedProducerError, Route};
use crate::ingest::config::ConnectorConfigError;
use crate::metrics::ConnectorMetrics;
use config::S3Config;
use cursor::{Cursor, CursorError};
use run::{Connector, SourceRun};
use store::{open_store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error(transparent)]
    Config(#[from] ConnectorConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("kafka: {0}")]
    Producer(Box<AckedProducerError>),
    #[error(transparent)]
    Cursor(Box<CursorError>),
    #[error(transparent)]
    Metrics(#[from] corvid_telemetry::TelemetryError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("listing failed: {}", .0.join("; "))]
    Listing(Vec<String>),
}

impl From<AckedProducerError> for S3Error {
    fn from(error: AckedProducerError) -> Self {
        S3Error::Producer(Box::new(error))
    }
}

impl From<CursorError> for S3Error {
    fn from(error: CursorError) -> Self {
        S3Error::Cursor(Box::new(error))
    }
}

/// Runs the connector from its config file until `shutdown` is raised, or for one pass
/// with `once`.
pub fn run_from_file(config: &Path, once: bool, shutdown: Arc<AtomicBool>) -> Result<(), S3Error> {
    let config = S3Config::load(config)?;
    run(config, once, shutdown)
}

pub fn run(config: S3Config, once: bool, shutdown: Arc<AtomicBool>) -> Result<(), S3Error> {
    let (store, url) = open_store(&config.store)?;
    let metrics = ConnectorMetrics::new();
    let _server = match &config.metrics.listen {
        Some(listen) => Some(metrics.serve(listen, "connect-s3")?),
        None => None,
    };
    let producer = AckedProducer::new(&config.kafka)?;
    let cursor = Arc::new(Cursor::load(&config.kafka, &config.cursor_topic)?);
    tracing::info!(
        %url,
        cursor_topic = %config.cursor_topic,
        cursor_entries = cursor.len(),
        "s3 connector started"
    );
    let s3 = metrics::s3_metrics();
    let sources = config
        .sources
        .iter()
        .map(|source| {
            let id = source.id.as_str();
            // The series exist (at 0) from start-up on.
            s3.objects_completed.with_label_values(&[id]);
            s3.bytes_read.with_label_values(&[id]);
            s3.records_oversized.with_label_values(&[id]);
            let prefix = source.prefix.trim_matches('/');
            SourceRun {
                spec: source.clone(),
                prefix: (!prefix.is_empty()).then(|| ObjectPath::from(prefix)),
                route: Route::new(&source.spec().meta(), metrics.source("s3", id)),
            }
        })
        .collect();
    let connector = Connector {
        store,
        url,
        producer,
        cursor,
        sources,
        concurrency: config.concurrency,
        max_record_bytes: config.max_record_bytes,
        shutdown,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(S3Error::Runtime)?;
    let summary =
        runtime.block_on(connector.run(once, Duration::from_secs(config.poll_interval_secs)));
    if once && !summary.listing_errors.is_empty() {
        return Err(S3Error::Listing(summary.listing_errors));
    }
    Ok(())
}
