//! `corvid connect http`: an HTTP(S) endpoint that writes what clients post into Kafka
//! (docs/connect-http.md).
//!
//! * [`config`]: the YAML config;
//! * [`routes`]: `POST /ingest/{source_id}` and osquery's enroll and log endpoints;
//! * [`osquery`]: osquery's TLS protocol and the stateless node keys;
//! * [`body`]: reading bodies within the size limits (gzip included);
//! * [`deliver`]: queueing a request's records and awaiting Kafka's acknowledgements;
//! * [`server`]: plain and TLS listeners.
//!
//! A request is answered 2xx only once Kafka acknowledged every record of its body.

pub mod body;
pub mod config;
pub mod deliver;
pub mod osquery;
pub mod routes;
pub mod server;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus::Registry;
use tracing::{info, warn};

pub use config::HttpConfig;

use crate::ingest::acked::{AckedProducer, AckedProducerError};
use crate::ingest::config::ConnectorConfigError;
use crate::metrics::ConnectorMetrics;
use crate::producer::ProduceError;
use routes::Service;
use server::{Peer, PlainListener, TlsListener, TlsSetupError};

/// The `component` label of this connector's `/metrics`.
pub const COMPONENT: &str = "connect-http";

/// How long shutdown waits for Kafka to acknowledge what is still queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Config(#[from] ConnectorConfigError),
    #[error(transparent)]
    Kafka(#[from] AckedProducerError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("cannot listen on {listen}: {error}")]
    Bind {
        listen: String,
        error: std::io::Error,
    },
    #[error("cannot serve metrics")]
    Metrics(#[from] corvid_telemetry::TelemetryError),
    #[error("cannot register the HTTP metrics")]
    Registry(#[from] prometheus::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("records still queued at shutdown")]
    Flush(#[from] ProduceError),
}

/// `corvid connect http --config <path>`: serves until `shutdown` is raised, then stops
/// accepting, finishes the requests in flight and flushes.
pub fn run_from_file(config: &Path, shutdown: Arc<AtomicBool>) -> Result<(), HttpError> {
    let config = HttpConfig::load(config)?;
    run(config, shutdown, |_| {})
}

/// Runs a prepared config; `bound` learns the listening address (port 0 in tests).
pub fn run(
    mut config: HttpConfig,
    shutdown: Arc<AtomicBool>,
    bound: impl FnOnce(SocketAddr),
) -> Result<(), HttpError> {
    let metrics = ConnectorMetrics::new();
    let registry = Registry::new();
    let _metrics_server = match &config.metrics.listen {
        Some(listen) => Some(corvid_telemetry::serve(
            listen,
            COMPONENT,
            vec![metrics.registry().clone(), registry.clone()],
        )?),
        None => None,
    };
    let acceptor = config.tls.as_ref().map(server::acceptor).transpose()?;
    let producer = AckedProducer::new(&config.kafka)?;
    let listen = config.listen.clone();
    let service = Arc::new(Service::new(
        &mut config,
        producer.clone(),
        &metrics,
        &registry,
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("connect-http")
        .build()
        .map_err(HttpError::Runtime)?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|error| HttpError::Bind {
                listen: listen.clone(),
                error,
            })?;
        let local = listener.local_addr().map_err(HttpError::Serve)?;
        info!(%local, tls = acceptor.is_some(), "connect http: listening");
        bound(local);
        let app = service.router();
        let stop = stopped(shutdown);
        match acceptor {
            Some(acceptor) => {
                let listener = TlsListener::new(listener, acceptor);
                axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
                    .with_graceful_shutdown(stop)
                    .await
            }
            None => {
                axum::serve(
                    PlainListener(listener),
                    app.into_make_service_with_connect_info::<Peer>(),
                )
                .with_graceful_shutdown(stop)
                .await
            }
        }
        .map_err(HttpError::Serve)
    })?;
    info!("connect http: stopped accepting; flushing");
    // Requests answered 429 may have left records queued: they go out before exit.
    if let Err(error) = producer.flush(FLUSH_TIMEOUT) {
        warn!(%error, "connect http: flush at shutdown failed");
        return Err(error.into());
    }
    info!("connect http: flushed, exiting");
    Ok(())
}

/// Resolves once `shutdown` is raised.
async fn stopped(shutdown: Arc<AtomicBool>) {
    while !shutdown.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
