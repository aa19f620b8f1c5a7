//! TCP and TLS listeners (RFC 6587 framing, RFC 5425 TLS): one task per connection,
//! at most `max_connections` per listener.
//!
//! A connection's reader pauses while the producer is full (it awaits
//! [`Outlet::send`]), so a fast sender is slowed by TCP flow control instead of growing
//! a buffer here. On shutdown each connection stops reading, delivers the complete
//! frames already read, and closes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_native_tls::TlsAcceptor;
use tokio_util::codec::{Decoder, FramedRead};
use tokio_util::sync::CancellationToken;

use super::framing::SyslogDecoder;
use super::outlet::Outlet;
use super::peer_key;

/// A TLS client gets this long to finish its handshake before its slot is freed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes asked of the socket per read.
const READ_CAPACITY: usize = 16 * 1024;
/// TCP keepalive on every accepted connection: a peer that vanished without closing
/// (rebooted switch, NAT entry expired) is noticed after about two minutes of silence
/// instead of holding one of the `max_connections` slots forever.
const KEEPALIVE: socket2::TcpKeepalive = socket2::TcpKeepalive::new()
    .with_time(Duration::from_secs(60))
    .with_interval(Duration::from_secs(10))
    .with_retries(6);

pub struct StreamListener {
    pub listener: TcpListener,
    pub tls: Option<TlsAcceptor>,
    pub outlet: Outlet,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub name: String,
}

impl StreamListener {
    /// Accepts until `cancel`, then waits for every connection to drain.
    pub async fn serve(self, cancel: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.max_connections));
        let mut connections = JoinSet::new();
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                accepted = self.listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(listener = %self.name, %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                self.outlet.metrics.rejected.inc();
                tracing::warn!(listener = %self.name, %peer, max_connections = self.max_connections,
                    "too many connections: closing the new one");
                continue;
            };
            let _ = socket.set_nodelay(true);
            if let Err(error) = socket2::SockRef::from(&socket).set_tcp_keepalive(&KEEPALIVE) {
                tracing::warn!(listener = %self.name, %peer, %error, "setting TCP keepalive failed");
            }
            let outlet = self.outlet.clone();
            outlet.metrics.connections.inc();
            outlet.metrics.open_connections.inc();
            let tls = self.tls.clone();
            let cancel = cancel.clone();
            let max = self.max_message_bytes;
            let name = self.name.clone();
            connections.spawn(async move {
                match tls {
                    None => read_frames(socket, peer, &outlet, max, &cancel).await,
                    Some(acceptor) => {
                        let handshake = tokio::select! {
                            _ = cancel.cancelled() => None,
                            done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)) => Some(done),
                        };
                        match handshake {
                            None => {}
                            Some(Ok(Ok(stream))) => {
                                read_frames(stream, peer, &outlet, max, &cancel).await
                            }
                            Some(Ok(Err(error))) => {
                                outlet.metrics.handshake_failures.inc();
                                tracing::warn!(listener = %name, %peer, %error, "TLS handshake failed");
                            }
                            Some(Err(_)) => {
                                outlet.metrics.handshake_failures.inc();
                                tracing::warn!(listener = %name, %peer, "TLS handshake timed out");
                            }
                        }
                    }
                }
                outlet.metrics.open_connections.dec();
                drop(slot);
            });
        }
        while connections.join_next().await.is_some() {}
    }
}

async fn read_frames<S: AsyncRead + Unpin>(
    stream: S,
    peer: SocketAddr,
    outlet: &Outlet,
    max_message_bytes: usize,
    cancel: &CancellationToken,
) {
    let key = peer_key(peer.ip());
    let mut frames =
        FramedRead::with_capacity(stream, SyslogDecoder::new(max_message_bytes), READ_CAPACITY);
    loop {
        let next = tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            next = frames.next() => next,
        };
        match next {
            Some(Ok(frame)) => outlet.send(key.as_bytes(), &frame).await,
            Some(Err(error)) => {
                tracing::warn!(%peer, %error, "reading a syslog connection failed");
                return;
            }
            None => {
                if frames.decoder().cut_short() {
                    outlet.metrics.framing_errors.inc();
                    tracing::warn!(%peer, "the peer closed inside an octet-counted frame");
                }
                return;
            }
        }
    }
    // Shutting down: what was read is delivered; a partial frame is not a message yet.
    let mut parts = frames.into_parts();
    while let Ok(Some(frame)) = parts.codec.decode(&mut parts.read_buf) {
        outlet.send(key.as_bytes(), &frame).await;
    }
    if !parts.read_buf.is_empty() {
        tracing::info!(%peer, bytes = parts.read_buf.len(),
            "closing for shutdown with a partial frame unread");
    }
}
