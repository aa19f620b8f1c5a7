//! The `/metrics` endpoint every Corvid process serves: the engine, each connector and
//! the alert forwarder. Prometheus scrapes it; names follow Prometheus conventions
//! (`_total`, `_seconds`, `_bytes`) and Vector's instrumentation spec for labels.
//!
//! The server runs on its own thread with a single-threaded runtime, so a busy dataflow
//! worker never delays a scrape and a scrape never takes a worker's time. It serves the
//! default registry (which holds `process_*` resident memory, CPU and file descriptors)
//! plus the registries the caller passes, and `corvid_build_info{component,version}` so
//! every component has at least one series from its first scrape.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::thread::JoinHandle;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, IntGaugeVec, Opts, Registry, TextEncoder};
use serde::Deserialize;

/// The `metrics` section of a config file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to serve `/metrics` on; unset: no endpoint.
    #[serde(default)]
    pub listen: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("metrics.listen: {addr:?} is not a host:port address")]
    Address { addr: String },
    // The OS error is in the message, not a `source`, so it is printed once.
    #[error("metrics.listen: cannot listen on {addr}: {error}")]
    Bind { addr: String, error: std::io::Error },
    #[error("metrics server: {0}")]
    Runtime(std::io::Error),
}

/// A running `/metrics` endpoint; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// The address actually bound (port 0 in the config picks a free one).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the metrics of `component` if the config names an address.
pub fn serve_configured(
    config: &MetricsConfig,
    component: &str,
    registries: Vec<Registry>,
) -> Result<Option<MetricsServer>, TelemetryError> {
    match &config.listen {
        Some(listen) => serve(listen, component, registries).map(Some),
        None => Ok(None),
    }
}

/// Binds `listen` now (so a taken port fails start-up, naming the key) and serves
/// `/metrics` and `/healthz` from a background thread.
pub fn serve(
    listen: &str,
    component: &str,
    registries: Vec<Registry>,
) -> Result<MetricsServer, TelemetryError> {
    let address = listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| TelemetryError::Address {
            addr: listen.to_owned(),
        })?;
    let listener = TcpListener::bind(address).map_err(|error| TelemetryError::Bind {
        addr: listen.to_owned(),
        error,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(TelemetryError::Runtime)?;
    let addr = listener.local_addr().map_err(TelemetryError::Runtime)?;
    let build = Registry::new();
    let info = IntGaugeVec::new(
        Opts::new(
            "corvid_build_info",
            "Always 1; labels name the component and its version",
        ),
        &["component", "version"],
    )
    .expect("static metric definition");
    info.with_label_values(&[component, env!("CARGO_PKG_VERSION")])
        .set(1);
    build
        .register(Box::new(info))
        .expect("one metric in a fresh registry");
    let mut sources = vec![build];
    sources.extend(registries);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(TelemetryError::Runtime)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let component = component.to_owned();
    let thread = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::error!(%error, "metrics endpoint could not start");
                        return;
                    }
                };
                let app = Router::new()
                    .route(
                        "/metrics",
                        get(move || {
                            let sources = sources.clone();
                            async move { exposition(&sources) }
                        }),
                    )
                    .route("/healthz", get(|| async { "ok\n" }));
                let server = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = stopped.await;
                });
                if let Err(error) = server.await {
                    tracing::error!(%error, "metrics endpoint stopped");
                }
            })
        })
        .map_err(TelemetryError::Runtime)?;
    tracing::info!(%addr, component, "serving /metrics");
    Ok(MetricsServer {
        addr,
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// The text exposition of the default registry and `sources`.
fn exposition(sources: &[Registry]) -> impl IntoResponse {
    let mut families = prometheus::gather();
    for registry in sources {
        families.extend(registry.gather());
    }
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(error) = encoder.encode(&families, &mut body) {
        tracing::warn!(%error, "metrics encoding failed");
    }
    ([(CONTENT_TYPE, encoder.format_type().to_owned())], body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::IntCounter;

    fn get(url: &str) -> String {
        reqwest::blocking::get(url)
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.text())
            .expect("GET")
    }

    #[test]
    fn serves_the_given_registries_process_metrics_and_build_info() {
        let registry = Registry::new();
        let counter = IntCounter::new("corvid_test_things_total", "things").expect("counter");
        registry
            .register(Box::new(counter.clone()))
            .expect("register");
        counter.inc_by(7);
        let server = serve("127.0.0.1:0", "test", vec![registry]).expect("serve");
        let body = get(&format!("http://{}/metrics", server.local_addr()));
        assert!(body.contains("corvid_test_things_total 7"), "{body}");
        assert!(
            body.contains("corvid_build_info{component=\"test\",version=\""),
            "{body}"
        );
        assert!(body.contains("process_resident_memory_bytes "), "{body}");
        assert_eq!(
            get(&format!("http://{}/healthz", server.local_addr())),
            "ok\n"
        );
        let addr = server.local_addr();
        drop(server);
        assert!(
            reqwest::blocking::get(format!("http://{addr}/metrics")).is_err(),
            "still serving after drop"
        );
    }

    #[test]
    fn a_bad_or_taken_address_names_the_key() {
        let error = serve("no-port-here", "test", Vec::new())
            .err()
            .expect("no port");
        assert!(error.to_string().starts_with("metrics.listen: "), "{error}");
        let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = taken.local_addr().expect("addr").to_string();
        let error = serve(&addr, "test", Vec::new()).err().expect("taken");
        assert!(
            error
                .to_string()
                .contains(&format!("cannot listen on {addr}")),
            "{error}"
        );
    }

    #[test]
    fn the_config_section_rejects_unknown_keys() {
        let config: MetricsConfig =
            serde_yaml_ng::from_str("listen: 0.0.0.0:9464").expect("config");
        assert_eq!(config.listen.as_deref(), Some("0.0.0.0:9464"));
        assert!(serde_yaml_ng::from_str::<MetricsConfig>("listne: x").is_err());
    }
}
