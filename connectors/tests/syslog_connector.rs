//! `corvid connect syslog` against the real broker (issue 10, must-show 3): 10,000
//! messages over UDP, over TCP octet-counted and over TCP newline-framed, and a TLS run,
//! each compared byte for byte (as a multiset) with what Kafka holds, keyed by the
//! sender's IP. Each sender uses its own loopback address (127.0.0.x), so the key is
//! checked against a peer that differs per transport.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use corvid_connectors::syslog::{SyslogConfig, SyslogConnector, SyslogError, Transport};

use common::{brokers, read_exactly, self_signed, unique, Consumed, WAIT};

const PARTITIONS: i32 = 4;

struct Running {
    shutdown: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), SyslogError>>,
    addrs: Vec<(Transport, SocketAddr)>,
    metrics: String,
}

impl Running {
    fn start(topic: &str, listeners: &str, extra: &str) -> Running {
        let yaml = format!(
            "kafka: {{brokers: '{}', topic: '{topic}', partitions: {PARTITIONS}}}\n\
             metrics: {{listen: '127.0.0.1:0'}}\n{extra}\n\
             sources: [{{id: network, label: Network gear}}]\nlisteners:\n{listeners}",
            brokers()
        );
        let config = SyslogConfig::parse(&yaml).expect("valid config");
        let connector = SyslogConnector::bind(&config).expect("connector binds");
        let addrs = connector.local_addrs();
        let metrics = format!(
            "http://{}/metrics",
            connector.metrics_addr().expect("metrics served")
        );
        let shutdown = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&shutdown);
        let thread = std::thread::spawn(move || connector.run(flag));
        Running {
            shutdown,
            thread,
            addrs,
            metrics,
        }
    }

    fn addr(&self, transport: Transport) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(t, _)| *t == transport)
            .map(|(_, addr)| *addr)
            .expect("listener of that transport")
    }

    fn scrape(&self) -> String {
        reqwest::blocking::get(&self.metrics)
            .and_then(|response| response.text())
            .expect("scrape /metrics")
    }

    /// The value of the series of `name` whose labels include `labels`.
    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let body = self.scrape();
        find_metric(&body, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}:\n{body}"))
    }

    /// Waits until Kafka acknowledged `count` records of the source.
    fn wait_for_records(&self, count: f64) {
        let deadline = Instant::now() + WAIT;
        let labels = [("connector", "syslog"), ("source", "network")];
        loop {
            let acked = self.metric("corvid_connector_records_total", &labels);
            if acked >= count || Instant::now() > deadline {
                assert_eq!(acked, count, "records acknowledged");
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Raises the shutdown flag and expects a clean exit.
    fn stop(self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.thread
            .join()
            .expect("connector thread")
            .expect("graceful shutdown succeeds");
    }
}

fn find_metric(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .find(|line| {
            labels
                .iter()
                .all(|(key, value)| line.contains(&format!("{key}=\"{value}\"")))
        })
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

/// Compares Kafka's records with what `peer` sent: the same multiset of payloads, each
/// keyed by the peer, all in one partition, with the source's headers.
fn assert_delivered(records: &[Consumed], sent: &[Vec<u8>], peer: &str) {
    let mut got: Vec<&[u8]> = records.iter().map(|r| &r.value[..]).collect();
    let mut want: Vec<&[u8]> = sent.iter().map(|m| &m[..]).collect();
    got.sort_unstable();
    want.sort_unstable();
    if got != want {
        let missing = want
            .iter()
            .filter(|m| got.binary_search(m).is_err())
            .count();
        let extra = got
            .iter()
            .filter(|m| want.binary_search(m).is_err())
            .count();
        panic!("payloads differ: {missing} sent but not in Kafka, {extra} in Kafka but not sent");
    }
    assert!(
        records.iter().all(|r| r.key == peer),
        "keys: {:?}",
        records
            .iter()
            .map(|r| &r.key)
            .collect::<std::collections::BTreeSet<_>>()
    );
    assert!(records.iter().all(|r| r.partition == records[0].partition));
    let meta = &records[0].meta;
    assert_eq!(meta.source_id, "network");
    assert_eq!(meta.source_label, "Network gear");
    assert_eq!(meta.log_types, ["Syslog.RFC5424", "Syslog.RFC3164"]);
    assert!(records.iter().all(|r| &r.meta == meta));
}

/// `count` distinct messages: RFC 5424 (with structured data, brackets and runs of
/// spaces) and RFC 3164 alternating; with `newlines`, every seventh holds a LF.
fn messages(tag: &str, count: usize, newlines: bool) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let text = match i % 3 {
                0 => format!(
                    "<165>1 2026-11-28T09:{:02}:{:02}.{i:06}Z fw-{tag}.example.com corvid-test {i} ID47 \
                     [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"{i}\"][meta x=\"a b\"] \
                     BOM'su root' failed for lonvick on /dev/pts/8 [{tag}]",
                    i / 60 % 60,
                    i % 60
                ),
                1 => format!(
                    "<34>Nov 28 09:00:{:02} mymachine su[{i}]: 'su root' failed for {tag}  on /dev/pts/8  (try {i})",
                    i % 60
                ),
                _ => format!(
                    "<13>1 2026-11-28T09:00:00+01:00 host-{tag} sshd - - - Accepted publickey for [user {i}] from 198.51.100.{} port 22",
                    i % 256
                ),
            };
            let mut bytes = text.into_bytes();
            if newlines && i % 7 == 0 {
                bytes.extend_from_slice(format!("\n  continued line {i}\n\tand another").as_bytes());
            }
            bytes
        })
        .collect()
}

fn octet_counted(message: &[u8]) -> Vec<u8> {
    let mut frame = format!("{} ", message.len()).into_bytes();
    frame.extend_from_slice(message);
    frame
}

/// A TCP connection from `source` (a loopback address) to `to`.
fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from: SocketAddr = format!("{source}:0").parse().expect("address");
    socket.bind(&from.into()).expect("bind source address");
    socket.connect(&to.into()).expect("connect");
    socket.into()
}

/// Writes `bytes` in pieces of varying size (1 to ~3000 bytes), so frames straddle the
/// connector's reads in every way.
fn write_in_pieces(stream: &mut impl Write, bytes: &[u8], seed: u64) {
    let mut state = seed | 1;
    let mut at = 0;
    while at < bytes.len() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let size = 1 + (state >> 33) as usize % 3000;
        let end = (at + size).min(bytes.len());
        stream.write_all(&bytes[at..end]).expect("write");
        at = end;
    }
    stream.flush().expect("flush");
}

const TCP: &str = "  - {transport: tcp, listen: '127.0.0.1:0'}\n";

#[test]
fn ten_thousand_messages_over_udp_arrive_keyed_by_the_peer() {
    let topic = unique("syslog-udp");
    let running = Running::start(&topic, "  - {transport: udp, listen: '127.0.0.1:0'}\n", "");
    let sent = messages("udp", 10_000, false);
    let socket = UdpSocket::bind("127.0.0.4:0").expect("bind sender");
    let to = running.addr(Transport::Udp);
    let udp = [("transport", "udp"), ("source", "network")];
    // Paced by the connector: after each 200 datagrams the sender waits until all but
    // 50 were read, so at most 250 small datagrams wait in the socket buffer even where
    // net.core.rmem_max is the kernel default (~200 KiB). The test is about the
    // connector, not about overrunning a busy machine's UDP buffers.
    'sending: for (index, burst) in sent.chunks(200).enumerate() {
        for message in burst {
            socket.send_to(message, to).expect("send datagram");
        }
        let target = (index * 200 + burst.len()).saturating_sub(50) as f64;
        let deadline = Instant::now() + Duration::from_secs(10);
        while running.metric("corvid_syslog_messages_total", &udp) < target {
            // Datagrams lost before the connector: stop sending, the asserts tell.
            if Instant::now() > deadline {
                break 'sending;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // The kernel's drop count is read each second: a loss below the connector shows.
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(
        running.metric("corvid_syslog_kernel_drops_total", &udp),
        0.0
    );
    running.wait_for_records(10_000.0);
    assert_eq!(
        running.metric("corvid_syslog_messages_total", &udp),
        10_000.0
    );
    assert_eq!(running.metric("corvid_syslog_dropped_total", &udp), 0.0);
    running.stop();
    assert_delivered(&read_exactly(&topic, 10_000), &sent, "127.0.0.4");
}

#[test]
fn ten_thousand_octet_counted_messages_over_tcp_arrive_keyed_by_the_peer() {
    let topic = unique("syslog-tcp-octets");
    // A small in-flight bound: readers wait for acknowledgements all along.
    let running = Running::start(&topic, TCP, "max_in_flight: 64");
    let sent = messages("octets", 10_000, true);
    let to = running.addr(Transport::Tcp);
    let senders: Vec<_> = sent
        .chunks(2_500)
        .enumerate()
        .map(|(index, part)| {
            let bytes: Vec<u8> = part.iter().flat_map(|m| octet_counted(m)).collect();
            std::thread::spawn(move || {
                let mut stream = connect_from("127.0.0.2", to);
                write_in_pieces(&mut stream, &bytes, index as u64 + 7);
            })
        })
        .collect();
    for sender in senders {
        sender.join().expect("sender");
    }
    running.wait_for_records(10_000.0);
    let tcp = [("transport", "tcp"), ("source", "network")];
    assert_eq!(
        running.metric("corvid_syslog_messages_total", &tcp),
        10_000.0
    );
    assert_eq!(running.metric("corvid_syslog_connections_total", &tcp), 4.0);
    assert_eq!(
        running.metric("corvid_syslog_framing_errors_total", &tcp),
        0.0
    );
    assert_eq!(running.metric("corvid_syslog_truncated_total", &tcp), 0.0);
    running.stop();
    let records = read_exactly(&topic, 10_000);
    assert!(records.iter().filter(|r| r.value.contains(&b'\n')).count() > 1_000);
    assert_delivered(&records, &sent, "127.0.0.2");
}

#[test]
fn ten_thousand_newline_framed_messages_over_tcp_arrive_keyed_by_the_peer() {
    let topic = unique("syslog-tcp-lines");
    let running = Running::start(&topic, TCP, "");
    let sent = messages("lines", 10_000, false);
    let to = running.addr(Transport::Tcp);
    // LF, CRLF and NUL LF trailers; the connections stay open across the shutdown.
    let trailers: [&[u8]; 3] = [b"\n", b"\r\n", b"\0\n"];
    let mut streams = Vec::new();
    for (index, part) in sent.chunks(2_500).enumerate() {
        let bytes: Vec<u8> = part
            .iter()
            .enumerate()
            .flat_map(|(i, m)| [&m[..], trailers[i % 3]].concat())
            .collect();
        let mut stream = connect_from("127.0.0.3", to);
        write_in_pieces(&mut stream, &bytes, index as u64 + 11);
        streams.push(stream);
    }
    running.wait_for_records(10_000.0);
    let tcp = [("transport", "tcp"), ("source", "network")];
    assert_eq!(
        running.metric("corvid_syslog_messages_total", &tcp),
        10_000.0
    );
    assert_eq!(running.metric("corvid_syslog_open_connections", &tcp), 4.0);
    assert_eq!(
        running.metric("corvid_syslog_framing_errors_total", &tcp),
        0.0
    );
    running.stop();
    drop(streams);
    assert_delivered(&read_exactly(&topic, 10_000), &sent, "127.0.0.3");
}

#[test]
fn tls_delivers_both_framings_and_cuts_what_is_too_long() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = self_signed(dir.path());
    let topic = unique("syslog-tls");
    let listener = format!(
        "  - {{transport: tls, listen: '127.0.0.1:0', max_message_bytes: 1024, tls: {{cert: '{}', key: '{}'}}}}\n",
        cert.display(),
        key.display()
    );
    let running = Running::start(&topic, &listener, "");
    let to = running.addr(Transport::Tls);
    let tls = [("transport", "tls"), ("source", "network")];

    // Plain text at a TLS port is a failed handshake, counted; the listener goes on.
    let mut plain = TcpStream::connect(to).expect("connect");
    plain.write_all(b"<13>not TLS\n").expect("write");
    let deadline = Instant::now() + WAIT;
    while running.metric("corvid_syslog_tls_handshake_failures_total", &tls) < 1.0
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(plain);

    let root = native_tls::Certificate::from_pem(&std::fs::read(&cert).expect("cert"))
        .expect("certificate");
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(root)
        .build()
        .expect("TLS connector");
    let mut sent = messages("tls", 1_000, true);
    let mut defects = Vec::new();
    for (index, part) in sent.chunks(500).enumerate() {
        let bytes: Vec<u8> = part
            .iter()
            .enumerate()
            .flat_map(|(i, m)| {
                // Messages holding a LF can only be octet-counted.
                if i % 2 == 0 || m.contains(&b'\n') {
                    octet_counted(m)
                } else {
                    [&m[..], b"\n"].concat()
                }
            })
            .collect();
        let tcp = connect_from("127.0.0.5", to);
        let mut stream = connector.connect("localhost", tcp).expect("TLS handshake");
        write_in_pieces(&mut stream, &bytes, index as u64 + 3);
        if index == 1 {
            // Too long: cut to max_message_bytes, the rest skipped; then a line whose
            // digits are no length prefix, delivered as a line.
            let long = [b"<13>".as_slice(), &[b'z'; 3000]].concat();
            stream.write_all(&octet_counted(&long)).expect("write");
            stream.write_all(b"12ab <13>not a count\n").expect("write");
            defects.push(long[..1024].to_vec());
            defects.push(b"12ab <13>not a count".to_vec());
        }
        stream.shutdown().expect("close TLS");
    }
    sent.extend(defects);
    running.wait_for_records(1_002.0);
    assert_eq!(running.metric("corvid_syslog_truncated_total", &tls), 1.0);
    assert_eq!(
        running.metric("corvid_syslog_framing_errors_total", &tls),
        1.0
    );
    assert_eq!(
        running.metric("corvid_syslog_tls_handshake_failures_total", &tls),
        1.0
    );
    assert_eq!(running.metric("corvid_syslog_connections_total", &tls), 3.0);
    running.stop();
    assert_delivered(&read_exactly(&topic, 1_002), &sent, "127.0.0.5");
}

#[test]
fn connections_beyond_max_connections_are_closed_and_counted() {
    let topic = unique("syslog-limit");
    let running = Running::start(
        &topic,
        "  - {transport: tcp, listen: '127.0.0.1:0', max_connections: 2}\n",
        "",
    );
    let to = running.addr(Transport::Tcp);
    let tcp = [("transport", "tcp"), ("source", "network")];
    let mut first = connect_from("127.0.0.6", to);
    let mut second = connect_from("127.0.0.6", to);
    first.write_all(b"<13>first\n").expect("write");
    second.write_all(b"<13>second\n").expect("write");
    running.wait_for_records(2.0);
    // The connector's end of an accepted connection has TCP keepalive armed at 60 s (the
    // kernel's default would be 7,200 s, and no timer at all without SO_KEEPALIVE).
    let peer = second.local_addr().expect("client address");
    let (timer, expires_in) = tcp_timer(to, peer).expect("server socket in /proc/net/tcp");
    assert_eq!(timer, 2, "keepalive timer armed on the accepted connection");
    assert!(
        expires_in <= Duration::from_secs(60) && expires_in > Duration::from_secs(30),
        "first keepalive probe due in {expires_in:?}"
    );
    let mut third = connect_from("127.0.0.6", to);
    // The connector closes it unread: the read sees the end of the stream.
    let _ = third.write_all(b"<13>third\n");
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    let closed = matches!(std::io::Read::read(&mut third, &mut byte), Ok(0) | Err(_));
    assert!(closed, "the third connection was closed");
    assert_eq!(
        running.metric("corvid_syslog_connections_rejected_total", &tcp),
        1.0
    );
    assert_eq!(running.metric("corvid_syslog_open_connections", &tcp), 2.0);
    // A slot frees when a connection closes.
    drop(first);
    let deadline = Instant::now() + WAIT;
    while running.metric("corvid_syslog_open_connections", &tcp) > 1.0 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut fourth = connect_from("127.0.0.6", to);
    fourth.write_all(b"<13>fourth\n").expect("write");
    running.wait_for_records(3.0);
    running.stop();
    drop((second, fourth));
    let sent = [
        b"<13>first".to_vec(),
        b"<13>second".to_vec(),
        b"<13>fourth".to_vec(),
    ];
    assert_delivered(&read_exactly(&topic, 3), &sent, "127.0.0.6");
}

/// The timer of the IPv4 TCP socket `local` ↔ `remote` from `/proc/net/tcp`: its kind
/// (`tr`: 0 none, 1 retransmit, 2 keepalive, …) and when it fires (`tm->when`, in
/// USER_HZ ticks of 10 ms).
fn tcp_timer(local: SocketAddr, remote: SocketAddr) -> Option<(u8, Duration)> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("the test listens on IPv4"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) != Some(&local.as_str()) || fields.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let (kind, when) = fields.get(5)?.split_once(':')?;
        let ticks = u64::from_str_radix(when, 16).ok()?;
        Some((kind.parse().ok()?, Duration::from_millis(ticks * 10)))
    })
}

/// The `corvid connect syslog` command: a bad key fails naming it; SIGTERM delivers what
/// was read (the connection still open) and exits 0.
#[test]
fn the_command_names_a_bad_key_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "sources: [{id: a}]\nlisteners: [{transport: tcp, listen: '127.0.0.1:0', source: b}]\n",
    )
    .expect("write config");
    let output = Command::new(common::corvid_binary())
        .args(["connect", "syslog", "--config"])
        .arg(&bad)
        .output()
        .expect("run corvid");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("listeners[0].source: no source has the id \"b\""),
        "{stderr}"
    );

    let topic = unique("syslog-command");
    let listen = common::free_listen_address();
    let metrics = common::free_listen_address();
    let config = dir.path().join("syslog.yaml");
    std::fs::write(
        &config,
        format!(
            "kafka: {{brokers: '{}', topic: '{topic}', partitions: {PARTITIONS}}}\n\
             metrics: {{listen: '{metrics}'}}\n\
             sources: [{{id: network, label: Network gear}}]\n\
             listeners: [{{transport: tcp, listen: '{listen}'}}]\n",
            brokers()
        ),
    )
    .expect("write config");
    let config = config.to_str().expect("UTF-8 path");
    let corvid = common::Running::start(&["connect", "syslog", "--config", config]);
    let to: SocketAddr = listen.parse().expect("address");
    let deadline = Instant::now() + WAIT;
    let mut stream = loop {
        match TcpStream::connect(to) {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(error) => panic!("connector not listening: {error}\n{}", corvid.stderr_text()),
        }
    };
    let sent = messages("command", 300, true);
    let bytes: Vec<u8> = sent.iter().flat_map(|m| octet_counted(m)).collect();
    stream.write_all(&bytes).expect("write");
    let tcp = [("transport", "tcp"), ("source", "network")];
    let (read, exposition) = common::wait_for_sample(
        &metrics,
        "corvid_syslog_messages_total",
        &tcp,
        |value| value >= 300.0,
        WAIT,
    );
    assert_eq!(read, Some(300.0), "{exposition}");
    let (clean, stderr) = corvid.terminate();
    assert!(clean, "exit status after SIGTERM:\n{stderr}");
    drop(stream);
    assert_delivered(&read_exactly(&topic, 300), &sent, "127.0.0.1");
}
