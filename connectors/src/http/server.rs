//! Accepting connections, plain or TLS, and serving the router until shutdown.
//!
//! TLS handshakes run in tasks of their own (at most [`MAX_HANDSHAKES`] at once, each
//! within [`HANDSHAKE_TIMEOUT`]), so a slow or silent client does not hold up accepting
//! others; finished handshakes reach the server through a bounded channel.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_native_tls::TlsStream;
use tracing::debug;

use super::config::TlsFiles;

const MAX_HANDSHAKES: usize = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's address (the `ConnectInfo` of both listeners).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read tls.{key} {path}: {error}")]
    Read {
        key: &'static str,
        path: String,
        error: std::io::Error,
    },
    #[error("tls: the certificate and key do not make a TLS identity: {0}")]
    Identity(native_tls::Error),
}

/// Builds the TLS acceptor from the PEM files of `tls`.
pub fn acceptor(files: &TlsFiles) -> Result<tokio_native_tls::TlsAcceptor, TlsSetupError> {
    let read = |key: &'static str, path: &Path| {
        std::fs::read(path).map_err(|error| TlsSetupError::Read {
            key,
            path: path.display().to_string(),
            error,
        })
    };
    let cert = read("cert", &files.cert)?;
    let key = read("key", &files.key)?;
    let identity =
        native_tls::Identity::from_pkcs8(&cert, &key).map_err(TlsSetupError::Identity)?;
    let acceptor = native_tls::TlsAcceptor::new(identity).map_err(TlsSetupError::Identity)?;
    Ok(tokio_native_tls::TlsAcceptor::from(acceptor))
}

/// Plain HTTP.
pub struct PlainListener(pub TcpListener);

impl Listener for PlainListener {
    type Io = TcpStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (TcpStream, Peer) {
        loop {
            match self.0.accept().await {
                Ok((stream, peer)) => return (stream, Peer(peer)),
                Err(error) => accept_failed(error).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        self.0.local_addr().map(Peer)
    }
}

impl Connected<IncomingStream<'_, PlainListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, PlainListener>) -> Peer {
        *stream.remote_addr()
    }
}

/// HTTPS: handshakes happen in background tasks.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, Peer)>,
}

impl TlsListener {
    /// Starts accepting on `listener` (needs a tokio runtime).
    pub fn new(listener: TcpListener, acceptor: tokio_native_tls::TlsAcceptor) -> TlsListener {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (sender, ready) = mpsc::channel(64);
        let acceptor = Arc::new(acceptor);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        accept_failed(error).await;
                        continue;
                    }
                };
                if sender.is_closed() {
                    return;
                }
                let acceptor = Arc::clone(&acceptor);
                let sender = sender.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = sender.send((tls, Peer(peer))).await;
                        }
                        Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { local, ready }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = Peer;

    async fn accept(&mut self) -> (TlsStream<TcpStream>, Peer) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task only ends when the server is going away.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer(self.local))
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Peer {
        *stream.remote_addr()
    }
}

/// Out of file descriptors and the like: wait a little instead of spinning.
async fn accept_failed(error: std::io::Error) {
    debug!(%error, "accept failed");
    tokio::time::sleep(Duration::from_millis(50)).await;
}
