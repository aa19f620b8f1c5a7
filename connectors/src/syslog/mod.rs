//! `corvid connect syslog`: receives syslog over UDP, TCP and TLS and writes each message,
//! raw, to the Kafka raw topic (`docs/connect-syslog.md`).
//!
//! * Messages are RFC 3164 or RFC 5424 text; the connector strips the transport framing
//!   only ([`framing`]: RFC 6587 octet counting and newline framing, detected per
//!   frame) and never rewrites a message: the engine's parsers read it as sent.
//! * Records are keyed by the peer's IP address (no port), so one host's messages stay
//!   in one partition, in order, across reconnects and source ports.
//! * Every listener belongs to one source (id, label, log types; by default
//!   `Syslog.RFC5424`, `Syslog.RFC3164`), whose headers every record carries.
//! * Bounded: messages are cut at `max_message_bytes`, connections are capped at
//!   `max_connections`, a TCP reader waits while Kafka's queue or the listener's
//!   `max_in_flight` unacknowledged records are full; UDP datagrams that find the queue
//!   full are dropped and counted.
//! * Shutdown (SIGINT/SIGTERM): stop accepting, deliver the frames already read, wait
//!   for Kafka's acknowledgements, exit 0.

pub mod config;
pub mod framing;
pub mod metrics;
mod outlet;
mod stream;
mod udp;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::ingest::acked::{AckedProducer, AckedProducerError, Route};
use crate::ingest::config::ConnectorConfigError;
use crate::metrics::ConnectorMetrics;
use crate::producer::ProduceError;
use config::{Listener, TlsFiles};
pub use config::{SyslogConfig, Transport};
use metrics::SyslogMetrics;
use outlet::Outlet;
use stream::StreamListener;
use udp::DatagramListener;

/// How long shutdown waits for Kafka to acknowledge what was queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    #[error(transparent)]
    Config(#[from] ConnectorConfigError),
    #[error("invalid syslog config: {0}")]
    Invalid(String),
    #[error("listeners[{index}].listen: cannot listen on {transport} {listen}: {source}")]
    Bind {
        index: usize,
        transport: &'static str,
        listen: SocketAddr,
        source: std::io::Error,
    },
    #[error("listeners[{index}].tls.{key}: cannot read {path}: {source}")]
    TlsFile {
        index: usize,
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("listeners[{index}].tls: unusable certificate or key: {source}")]
    Tls {
        index: usize,
        source: native_tls::Error,
    },
    #[error(transparent)]
    Producer(#[from] AckedProducerError),
    #[error(transparent)]
    Metrics(#[from] corvid_telemetry::TelemetryError),
    #[error("cannot start the syslog connector's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("shutdown: {0}")]
    Flush(ProduceError),
}

/// `corvid connect syslog --config FILE`: runs until `shutdown` is raised.
pub fn run_from_file(config: &Path, shutdown: Arc<AtomicBool>) -> Result<(), SyslogError> {
    let config = SyslogConfig::load(config)?;
    SyslogConnector::bind(&config)?.run(shutdown)
}

/// The record key of a peer: its IP address, IPv4-mapped IPv6 addresses as IPv4.
pub fn peer_key(ip: IpAddr) -> String {
    ip.to_canonical().to_string()
}

enum Socket {
    Datagram(tokio::net::UdpSocket),
    Stream(
        tokio::net::TcpListener,
        Option<tokio_native_tls::TlsAcceptor>,
    ),
}

struct Bound {
    listener: Listener,
    socket: Socket,
    local: SocketAddr,
    outlet: Outlet,
    settling: JoinHandle<()>,
}

/// A connector whose sockets are bound (so a test can read the ports it got) but which
/// does not read them until [`SyslogConnector::run`].
pub struct SyslogConnector {
    runtime: tokio::runtime::Runtime,
    producer: AckedProducer,
    bound: Vec<Bound>,
    metrics_server: Option<corvid_telemetry::MetricsServer>,
}

impl SyslogConnector {
    /// Connects to Kafka (creating the topic if needed), binds every listener and the
    /// metrics endpoint; fails naming the key of whatever cannot be used.
    pub fn bind(config: &SyslogConfig) -> Result<SyslogConnector, SyslogError> {
        config.validate().map_err(SyslogError::Invalid)?;
        let listeners = config.listeners().map_err(SyslogError::Invalid)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("syslog")
            .build()
            .map_err(SyslogError::Runtime)?;
        // Certificates are checked before Kafka is, so a bad file fails at once.
        let mut acceptors = listeners
            .iter()
            .enumerate()
            .map(|(index, listener)| match &listener.tls {
                Some(files) => tls_acceptor(index, files).map(Some),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let producer = AckedProducer::new(&config.kafka)?;
        let connector_metrics = ConnectorMetrics::new();
        let syslog_metrics = SyslogMetrics::new();
        let metrics_server = corvid_telemetry::serve_configured(
            &config.metrics,
            "connect-syslog",
            vec![
                connector_metrics.registry().clone(),
                syslog_metrics.registry().clone(),
            ],
        )?;
        let _entered = runtime.enter();
        let mut bound = Vec::new();
        for (index, listener) in listeners.into_iter().enumerate() {
            let transport = listener.transport.name();
            let bind_error = |source| SyslogError::Bind {
                index,
                transport,
                listen: listener.listen,
                source,
            };
            let socket = match listener.transport {
                Transport::Udp => {
                    acceptors.next();
                    let (socket, granted) =
                        udp::bind(listener.listen, listener.receive_buffer_bytes)
                            .map_err(bind_error)?;
                    tracing::info!(listen = %listener.listen, receive_buffer_bytes = granted,
                        "UDP socket bound");
                    Socket::Datagram(socket)
                }
                Transport::Tcp | Transport::Tls => {
                    let tls = acceptors.next().flatten();
                    let socket = std::net::TcpListener::bind(listener.listen)
                        .and_then(|socket| {
                            socket.set_nonblocking(true)?;
                            tokio::net::TcpListener::from_std(socket)
                        })
                        .map_err(bind_error)?;
                    Socket::Stream(socket, tls)
                }
            };
            let local = match &socket {
                Socket::Datagram(socket) => socket.local_addr(),
                Socket::Stream(socket, _) => socket.local_addr(),
            }
            .map_err(bind_error)?;
            let counters = connector_metrics.source("syslog", &listener.source.id);
            let route = Route::new(&listener.source.meta(), counters.clone());
            let (outlet, settling) = Outlet::new(
                producer.clone(),
                route,
                counters,
                syslog_metrics.listener(listener.transport, &listener.source.id),
                config.max_in_flight,
                format!("{transport}://{local}"),
            );
            bound.push(Bound {
                listener,
                socket,
                local,
                outlet,
                settling,
            });
        }
        drop(_entered);
        Ok(SyslogConnector {
            runtime,
            producer,
            bound,
            metrics_server,
        })
    }

    /// Each listener's transport and the address it got (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<(Transport, SocketAddr)> {
        self.bound
            .iter()
            .map(|bound| (bound.listener.transport, bound.local))
            .collect()
    }

    /// Where `/metrics` is served, when `metrics.listen` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server
            .as_ref()
            .map(corvid_telemetry::MetricsServer::local_addr)
    }

    /// Serves every listener until `shutdown` is raised, then drains and flushes.
    pub fn run(self, shutdown: Arc<AtomicBool>) -> Result<(), SyslogError> {
        let SyslogConnector {
            runtime,
            producer,
            bound,
            metrics_server,
        } = self;
        let result = runtime.block_on(async move {
            let cancel = CancellationToken::new();
            let mut serving = Vec::new();
            let mut settling = Vec::new();
            for bound in bound {
                let name = format!("{}://{}", bound.listener.transport.name(), bound.local);
                tracing::info!(listener = %name, source = %bound.listener.source.id, "listening");
                let max_message_bytes = bound.listener.max_message_bytes;
                let task = match bound.socket {
                    Socket::Datagram(socket) => tokio::spawn(
                        DatagramListener {
                            socket,
                            outlet: bound.outlet,
                            max_message_bytes,
                            name,
                        }
                        .serve(cancel.clone()),
                    ),
                    Socket::Stream(listener, tls) => tokio::spawn(
                        StreamListener {
                            listener,
                            tls,
                            outlet: bound.outlet,
                            max_message_bytes,
                            max_connections: bound.listener.max_connections,
                            name,
                        }
                        .serve(cancel.clone()),
                    ),
                };
                serving.push(task);
                settling.push(bound.settling);
            }
            while !shutdown.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tracing::info!("shutting down: no new messages; delivering what was read");
            cancel.cancel();
            for task in serving {
                let _ = task.await;
            }
            // Every outlet is gone now: the settling tasks end with their last delivery.
            let flushing = producer.clone();
            let flushed = tokio::task::spawn_blocking(move || flushing.flush(FLUSH_TIMEOUT)).await;
            // After a flush every delivery is settled at once; after a failed one, the
            // unsettled records are counted by librdkafka's timeout, not waited for here.
            for task in settling {
                let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
            }
            match flushed {
                Ok(result) => result.map_err(SyslogError::Flush),
                Err(_) => Err(SyslogError::Flush(ProduceError::FlushTimeout(
                    FLUSH_TIMEOUT,
                ))),
            }
        });
        drop(metrics_server);
        if result.is_ok() {
            tracing::info!("syslog connector stopped; every record was acknowledged or counted");
        }
        result
    }
}

fn tls_acceptor(
    index: usize,
    files: &TlsFiles,
) -> Result<tokio_native_tls::TlsAcceptor, SyslogError> {
    let read = |key: &'static str, path: &PathBuf| {
        std::fs::read(path).map_err(|source| SyslogError::TlsFile {
            index,
            key,
            path: path.clone(),
            source,
        })
    };
    let cert = read("cert", &files.cert)?;
    let key = read("key", &files.key)?;
    let identity = native_tls::Identity::from_pkcs8(&cert, &key)
        .map_err(|source| SyslogError::Tls { index, source })?;
    // RFC 9662 (updating RFC 5425) asks for TLS 1.2 or later.
    let acceptor = native_tls::TlsAcceptor::builder(identity)
        .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
        .build()
        .map_err(|source| SyslogError::Tls { index, source })?;
    Ok(tokio_native_tls::TlsAcceptor::from(acceptor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_certificate_is_named_before_kafka_is_tried() {
        let config = SyslogConfig::parse(
            "kafka: {brokers: '127.0.0.1:1'}\nsources: [{id: a}]\nlisteners:\n\
             - {transport: udp, listen: '127.0.0.1:0'}\n\
             - {transport: tls, listen: '127.0.0.1:0', tls: {cert: /nonexistent/c.pem, key: k.pem}}",
        )
        .unwrap();
        let Err(error) = SyslogConnector::bind(&config) else {
            panic!("bound with a missing certificate");
        };
        let message = error.to_string();
        assert!(
            message.starts_with("listeners[1].tls.cert: cannot read /nonexistent/c.pem:"),
            "{message}"
        );
    }

    #[test]
    fn a_peer_is_keyed_by_its_address_alone() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(peer_key(mapped), "192.0.2.7");
        assert_eq!(peer_key("2001:db8::5".parse().unwrap()), "2001:db8::5");
    }
}
