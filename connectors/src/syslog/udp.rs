//! The UDP listener (RFC 5426): one datagram is one message.
//!
//! UDP cannot be slowed down, so the socket is read as fast as it fills: each datagram
//! is offered to the producer without waiting, and one that finds librdkafka's queue
//! full is dropped and counted (`corvid_syslog_dropped_total`). A large socket receive
//! buffer (`receive_buffer_bytes`) absorbs bursts; what the kernel itself drops when
//! even that overflows is read from `/proc/net/udp` (`corvid_syslog_kernel_drops_total`).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::framing::{Frame, Framing};
use super::outlet::{Offered, Outlet};
use super::peer_key;

/// Larger than any UDP payload (65,507 bytes over IPv4).
const DATAGRAM_BUFFER: usize = 65_536;
/// On shutdown, the datagrams already in the socket buffer are read for at most this long.
const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Binds `listen` with the receive buffer asked for; returns the socket and the size the
/// kernel granted (Linux caps it at twice `net.core.rmem_max`).
pub fn bind(
    listen: SocketAddr,
    receive_buffer_bytes: usize,
) -> std::io::Result<(UdpSocket, usize)> {
    let socket = Socket::new(
        Domain::for_address(listen),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    if let Err(error) = socket.set_recv_buffer_size(receive_buffer_bytes) {
        tracing::warn!(%listen, %error, receive_buffer_bytes, "could not enlarge the UDP receive buffer");
    }
    socket.bind(&listen.into())?;
    socket.set_nonblocking(true)?;
    let granted = socket.recv_buffer_size().unwrap_or(0);
    let socket = UdpSocket::from_std(socket.into())?;
    Ok((socket, granted))
}

pub struct DatagramListener {
    pub socket: UdpSocket,
    pub outlet: Outlet,
    pub max_message_bytes: usize,
    pub name: String,
}

impl DatagramListener {
    /// Reads until `cancel`, then takes what is still in the socket buffer.
    pub async fn serve(self, cancel: CancellationToken) {
        let mut buffer = vec![0u8; DATAGRAM_BUFFER];
        let mut keys = KeyCache::default();
        let mut dropped = 0u64;
        let mut kernel = KernelDrops::new(&self.socket);
        let mut every_second = tokio::time::interval(KERNEL_DROPS_INTERVAL);
        loop {
            let received = tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = every_second.tick() => {
                    kernel.update(&self.outlet.metrics.kernel_drops);
                    continue;
                }
                received = self.socket.recv_from(&mut buffer) => received,
            };
            match received {
                Ok((length, peer)) => {
                    self.deliver(&buffer[..length], peer, &mut keys, &mut dropped)
                        .await
                }
                // On Linux an ICMP error for an earlier send can surface here; the
                // socket stays usable.
                Err(error) => tracing::debug!(listener = %self.name, %error, "UDP receive error"),
            }
        }
        // Bounded in time: a sender that never pauses must not hold the shutdown.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_DRAIN;
        while tokio::time::Instant::now() < deadline {
            let Ok((length, peer)) = self.socket.try_recv_from(&mut buffer) else {
                break;
            };
            self.deliver(&buffer[..length], peer, &mut keys, &mut dropped)
                .await;
        }
        kernel.update(&self.outlet.metrics.kernel_drops);
    }

    async fn deliver(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        keys: &mut KeyCache,
        dropped: &mut u64,
    ) {
        let Some(frame) = datagram_frame(datagram, self.max_message_bytes) else {
            return;
        };
        let key = keys.key(peer.ip());
        if let Offered::Dropped = self.outlet.offer(key.as_bytes(), &frame).await {
            *dropped += 1;
            if *dropped % 1000 == 1 {
                tracing::warn!(listener = %self.name, dropped = *dropped,
                    "the Kafka producer queue is full: dropping UDP datagrams");
            }
        }
    }
}

/// How often the kernel's drop count of the socket is read.
const KERNEL_DROPS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// The datagrams the kernel dropped because the socket buffer was full, read from
/// `/proc/net/udp` and `/proc/net/udp6` (Linux; elsewhere the counter stays at 0).
struct KernelDrops {
    inode: Option<u64>,
    seen: u64,
}

impl KernelDrops {
    fn new(socket: &UdpSocket) -> KernelDrops {
        KernelDrops {
            inode: socket_inode(socket),
            seen: 0,
        }
    }

    fn update(&mut self, counter: &prometheus::IntCounter) {
        let Some(drops) = self.inode.and_then(kernel_drops) else {
            return;
        };
        if drops > self.seen {
            counter.inc_by(drops - self.seen);
            self.seen = drops;
        }
    }
}

#[cfg(target_os = "linux")]
fn socket_inode(socket: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let path = format!("/proc/self/fd/{}", socket.as_raw_fd());
    std::fs::metadata(path).ok().map(|metadata| metadata.ino())
}

#[cfg(not(target_os = "linux"))]
fn socket_inode(_socket: &UdpSocket) -> Option<u64> {
    None
}

/// The `drops` column of the socket's line: `sl local rem st tx:rx tr:tm retrnsmt uid
/// timeout inode ref pointer drops`.
fn kernel_drops(inode: u64) -> Option<u64> {
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(9).and_then(|field| field.parse().ok()) == Some(inode) {
                return fields.get(12).and_then(|field| field.parse().ok());
            }
        }
    }
    None
}

/// A datagram's message: a trailing LF, CRLF or NUL some senders add is stripped (as
/// for TCP), the rest kept as sent; empty datagrams are no message.
fn datagram_frame(datagram: &[u8], max_message_bytes: usize) -> Option<Frame> {
    let mut end = datagram.len();
    if end > 0 && datagram[end - 1] == b'\n' {
        end -= 1;
    }
    while end > 0 && matches!(datagram[end - 1], b'\r' | b'\0') {
        end -= 1;
    }
    if end == 0 {
        return None;
    }
    let kept = end.min(max_message_bytes);
    Some(Frame {
        message: Bytes::copy_from_slice(&datagram[..kept]),
        framing: Framing::NonTransparent,
        truncated: kept < end,
        framing_error: false,
    })
}

/// The last peer's key: a busy sender's datagrams do not each format its address.
#[derive(Default)]
struct KeyCache {
    last: Option<(IpAddr, String)>,
}

impl KeyCache {
    fn key(&mut self, ip: IpAddr) -> &str {
        if self.last.as_ref().map(|(last, _)| *last) != Some(ip) {
            self.last = Some((ip, peer_key(ip)));
        }
        match &self.last {
            Some((_, key)) => key,
            None => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trailer_is_stripped_from_a_datagram() {
        let frame = datagram_frame(b"<13>a [b] c\r\n", 1024).unwrap();
        assert_eq!(&frame.message[..], b"<13>a [b] c");
        let frame = datagram_frame(b"<13>x\ny\0", 1024).unwrap();
        assert_eq!(&frame.message[..], b"<13>x\ny");
        assert!(datagram_frame(b"\n", 1024).is_none());
        let frame = datagram_frame(&[b'a'; 600], 480).unwrap();
        assert_eq!(frame.message.len(), 480);
        assert!(frame.truncated);
    }
}
