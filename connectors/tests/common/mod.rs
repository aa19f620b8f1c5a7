//! Helpers for the connectors' integration tests: a real Kafka broker
//! (`CORVID_TEST_BROKERS`, default 127.0.0.1:9092), unique topics, a recording HTTP
//! receiver, and the `corvid` binary.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use corvid_connectors::producer::producer_config;
use corvid_connectors::topics::ensure_topics;

pub const WAIT: Duration = Duration::from_secs(60);

pub fn brokers() -> String {
    std::env::var("CORVID_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Creates `topic` with one partition and writes `records` (key, value) to it.
pub fn produce(topic: &str, records: &[(&str, Vec<u8>)]) {
    ensure_topics(&producer_config(&brokers()), &[(topic, 1)]).expect("create topic");
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(&brokers()).create().expect("producer");
    for (key, value) in records {
        producer
            .send(BaseRecord::to(topic).key(*key).payload(value))
            .map_err(|(error, _)| error)
            .expect("queue record");
    }
    producer.flush(WAIT).expect("records acknowledged");
}

/// Reads `topic` from the beginning until `count` records came or `wait` passed.
pub fn read_topic(topic: &str, count: usize, wait: Duration) -> Vec<(String, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + wait;
    let mut records = Vec::new();
    while records.len() < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            records.push((
                String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                message.payload().unwrap_or_default().to_vec(),
            ));
        }
    }
    records
}

/// One alert as the engine writes it, with `extra` fields merged in.
pub fn alert_json(alert_id: &str, severity: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut alert = serde_json::json!({
        "alertId": alert_id,
        "type": "RULE",
        "ruleId": "Osquery.OutOfOfficeLogin",
        "ruleVersion": "v1",
        "title": "root logged in from 203.0.113.7",
        "severity": severity,
        "dedupString": "root",
        "dedupPeriodMinutes": 60,
        "threshold": 1,
        "eventCount": 1,
        "creationTime": "2026-11-27 10:00:00.000000000",
        "updateTime": "2026-11-27 10:00:00.000000000",
        "firstEventTime": "2026-11-27 09:59:58.000000000",
        "lastEventTime": "2026-11-27 09:59:58.000000000",
        "logTypes": ["Osquery.Differential"],
        "displayName": "Out of office login",
        "description": "A login outside office hours.",
        "reference": "https://wiki.example.com/ooo",
        "runbook": "Call the user.",
        "tags": ["Initial Access"],
        "reports": {"MITRE ATT&CK": ["TA0001:T1078"]},
        "alertContext": {"ip": "203.0.113.7"},
        "samples": [{"user": "root"}],
    });
    if let (Some(base), Some(extra)) = (alert.as_object_mut(), extra.as_object()) {
        base.extend(extra.clone());
    }
    alert
}

/// A 32-hex-digit alert id unique to this run.
pub fn alert_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{:016x}{nanos:016x}", std::process::id())[..32].to_owned()
}

/// One HTTP request the receiver read, and the status it answered (0 until answered).
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lower-cased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub status: u16,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON request body")
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What the receiver answers: status and body, given the request's index and itself.
pub type Answer = Box<dyn FnMut(usize, &Recorded) -> (u16, String) + Send>;

/// A local HTTP/1.1 server that records every request: the vendors' stand-in.
pub struct Receiver {
    pub base: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Receiver {
    /// Answers every request with `status` and an empty JSON object.
    pub fn answering(status: u16) -> Receiver {
        Receiver::start(Box::new(move |_, _| (status, "{}".into())))
    }

    pub fn start(mut answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                // Recorded as soon as read, so a slow answer still counts as asked.
                let index = match recorded.lock() {
                    Ok(mut all) => {
                        all.push(request.clone());
                        all.len() - 1
                    }
                    Err(_) => continue,
                };
                let (status, body) = answer(index, &request);
                if let Ok(mut all) = recorded.lock() {
                    if let Some(asked) = all.get_mut(index) {
                        asked.status = status;
                    }
                }
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Receiver { base, requests }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("receiver lock").clone()
    }

    /// Waits until at least `count` requests came; returns them all.
    pub fn wait_for(&self, count: usize, wait: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + wait;
        loop {
            let requests = self.requests();
            if requests.len() >= count || Instant::now() >= deadline {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn read_request(stream: &TcpStream) -> Option<Recorded> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = BTreeMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body,
        status: 0,
    })
}

/// An address nothing listens on: a port bound and released.
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}")
}

/// The `corvid` binary, built once per test run so it has the current forwarder.
///
/// `CORVID_BIN` names a prebuilt one instead; else the one a workspace build put in the
/// target directory; else `cargo build` for the engine's binary (the connectors crate
/// cannot name another package's binary).
pub fn corvid_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Ok(path) = std::env::var("CORVID_BIN") {
                return PathBuf::from(path);
            }
            // `cargo test --workspace` has built it beside this test's `deps/` folder; a
            // nested `cargo build -p corvid-engine` there could resolve other features and
            // rebuild half the workspace.
            let built = std::env::current_exe().ok().and_then(|exe| {
                let dir = exe.parent()?.parent()?;
                Some(dir.join(format!("corvid{}", std::env::consts::EXE_SUFFIX)))
            });
            if let Some(path) = built.filter(|path| path.exists()) {
                return path;
            }
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let output = Command::new(cargo)
                .args([
                    "build",
                    "-p",
                    "corvid-engine",
                    "--bin",
                    "corvid",
                    "--message-format=json-render-diagnostics",
                ])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .expect("run cargo build");
            assert!(
                output.status.success(),
                "cargo build -p corvid-engine --bin corvid failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .filter(|message| message["target"]["name"] == "corvid")
                .find_map(|message| message["executable"].as_str().map(PathBuf::from))
                .expect("cargo reported the corvid executable")
        })
        .clone()
}

/// A `127.0.0.1:port` nothing listens on now, for a child process's `/metrics`.
pub fn free_listen_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

/// The text of `GET http://<address>/metrics`, or `None` while nothing answers.
pub fn scrape(address: &str) -> Option<String> {
    reqwest::blocking::get(format!("http://{address}/metrics"))
        .and_then(|response| response.error_for_status())
        .and_then(|response| response.text())
        .ok()
}

/// The value of the series `name{labels…}` in a text exposition (other labels allowed).
pub fn sample(exposition: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((series_name, rest)) => (series_name, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        let matches = series_name == name
            && labels
                .iter()
                .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")));
        matches.then(|| value.parse().ok()).flatten()
    })
}

/// Scrapes `address` until `name{labels…}` satisfies `done` or `wait` passes; returns
/// the last value seen and the last exposition.
pub fn wait_for_sample(
    address: &str,
    name: &str,
    labels: &[(&str, &str)],
    done: impl Fn(f64) -> bool,
    wait: Duration,
) -> (Option<f64>, String) {
    let deadline = Instant::now() + wait;
    loop {
        let exposition = scrape(address).unwrap_or_default();
        let value = sample(&exposition, name, labels);
        if value.is_some_and(&done) || Instant::now() >= deadline {
            return (value, exposition);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `corvid` child process, killed if the test ends without stopping it; its stderr
/// goes to a file (a pipe nobody reads could fill and block it).
pub struct Running {
    child: std::process::Child,
    stderr: tempfile::NamedTempFile,
}

impl Running {
    pub fn start(args: &[&str]) -> Running {
        let stderr = tempfile::NamedTempFile::new().expect("stderr file");
        let child = Command::new(corvid_binary())
            .args(args)
            .stderr(stderr.reopen().expect("stderr file"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start corvid");
        Running { child, stderr }
    }

    /// Sends SIGTERM and waits for the exit; returns whether it succeeded, and stderr.
    pub fn terminate(mut self) -> (bool, String) {
        let signalled = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(signalled.success(), "kill -TERM failed");
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for corvid") {
                break status;
            }
            assert!(Instant::now() < deadline, "corvid ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        };
        (status.success(), self.stderr_text())
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(self.stderr.path()).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One record read back from a topic.
#[derive(Debug)]
pub struct Consumed {
    pub partition: i32,
    pub key: String,
    pub value: Vec<u8>,
    pub meta: corvid_connectors::raw_record::SourceMeta,
}

/// Every record of `topic`, all partitions, up to the ends they have now.
pub fn read_to_end(topic: &str) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
            .expect("watermarks");
        if high > low {
            ends.insert(partition.id(), high);
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Beginning)
                .expect("partition");
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return records;
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ends.is_empty() {
        assert!(
            Instant::now() < deadline,
            "topic {topic} not read to its end"
        );
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("consume");
        records.push(Consumed {
            partition: message.partition(),
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            value: message.payload().unwrap_or_default().to_vec(),
            meta: corvid_connectors::raw_record::SourceMeta::from_headers(message.headers()),
        });
        if ends
            .get(&message.partition())
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            ends.remove(&message.partition());
        }
    }
    records
}

/// [`read_to_end`], after waiting until the topic holds `count` records; fails on fewer
/// or more.
pub fn read_exactly(topic: &str, count: usize) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("consumer");
    let deadline = Instant::now() + WAIT;
    let total = || -> usize {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions())
            .map(|partition| {
                let (low, high) = consumer
                    .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
                    .expect("watermarks");
                (high - low) as usize
            })
            .sum()
    };
    let mut seen = total();
    while seen < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        seen = total();
    }
    assert_eq!(seen, count, "records in {topic}");
    let records = read_to_end(topic);
    assert_eq!(records.len(), count, "records read from {topic}");
    records
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made with the openssl CLI:
/// (certificate, key) PEM files in `dir`.
pub fn self_signed(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let output = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}
