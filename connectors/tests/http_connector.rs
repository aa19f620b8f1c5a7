//! `corvid connect http` against the real broker: every 2xx means Kafka has the batch,
//! Kafka trouble never gets a 2xx, tokens and size limits are enforced, and osquery's
//! TLS enroll/log conversation is accepted over HTTPS.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use corvid_connectors::http::{self, HttpConfig};
use corvid_connectors::ingest::config::parse_yaml;
use corvid_connectors::producer::producer_config;
use reqwest::blocking::Client;
use serde_json::{json, Value};

use common::{brokers, gzip, read_exactly, read_topic, sample, scrape, self_signed, unique, WAIT};

const TOKEN: &str = "t0ken-current";
const OLD_TOKEN: &str = "t0ken-rotating-out";

/// A connector running in this process on a free port.
struct Connector {
    base: String,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), http::HttpError>>>,
}

impl Connector {
    fn start(yaml: &str) -> Connector {
        Connector::start_with(yaml, "http")
    }

    fn start_with(yaml: &str, scheme: &str) -> Connector {
        let mut config: HttpConfig = parse_yaml(yaml).expect("config parses");
        let lookup = |name: &str| std::env::var(name).ok();
        config.prepare(&lookup).expect("config is valid");
        let shutdown = Arc::new(AtomicBool::new(false));
        let (sender, bound) = mpsc::channel::<SocketAddr>();
        let stop = Arc::clone(&shutdown);
        let thread = std::thread::spawn(move || {
            http::run(config, stop, move |address| {
                let _ = sender.send(address);
            })
        });
        let address = bound
            .recv_timeout(WAIT)
            .expect("the connector started listening");
        Connector {
            base: format!("{scheme}://localhost:{}", address.port()),
            shutdown,
            thread: Some(thread),
        }
    }

    /// Raises the shutdown flag and waits for a clean exit.
    fn stop(mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("running");
        thread
            .join()
            .expect("connector thread")
            .expect("clean shutdown");
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }
}

fn config(topic: &str, extra: &str) -> String {
    config_with(topic, "", extra)
}

/// `kafka_extra`: more keys of the `kafka` section, each line indented by two spaces.
fn config_with(topic: &str, kafka_extra: &str, extra: &str) -> String {
    format!(
        "listen: 127.0.0.1:0\nkafka:\n  brokers: {}\n  topic: {topic}\n  partitions: 1\n{kafka_extra}sources:\n  - id: web\n    label: Web servers\n    log_types: [Custom.Web]\n    tokens: ['{TOKEN}', '{OLD_TOKEN}']\n{extra}",
        brokers()
    )
}

fn post(client: &Client, url: &str, token: Option<&str>, body: Vec<u8>, gzipped: bool) -> u16 {
    let mut request = client.post(url).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if gzipped {
        request = request.header("content-encoding", "gzip");
    }
    match request.send() {
        Ok(response) => response.status().as_u16(),
        Err(error) => panic!("POST {url}: {error}"),
    }
}

#[test]
fn a_hundred_thousand_lines_in_a_hundred_batches_are_each_acknowledged_and_all_in_the_topic() {
    let topic = unique("http-100k");
    let metrics = common::free_listen_address();
    let connector = Connector::start(&config(&topic, &format!("metrics: {{listen: {metrics}}}")));
    let url = format!("{}/ingest/web", connector.base);
    let batches: Vec<Vec<String>> = (0..100)
        .map(|batch| {
            (0..1000)
                .map(|line| {
                    let n = batch * 1000 + line;
                    json!({"seq": n, "message": format!("GET /item/{n} 200")}).to_string()
                })
                .collect()
        })
        .collect();
    // Four clients at once, each batch once; even batches gzip-compressed, odd plain; the
    // old token on every tenth batch (rotation).
    let batches = Arc::new(batches);
    let clients: Vec<JoinHandle<Vec<(usize, u16)>>> = (0..4)
        .map(|client_index| {
            let batches = Arc::clone(&batches);
            let url = url.clone();
            std::thread::spawn(move || {
                let client = Client::builder().timeout(WAIT).build().expect("client");
                (client_index..100)
                    .step_by(4)
                    .map(|index| {
                        let body = (batches[index].join("\n") + "\n").into_bytes();
                        let token = if index % 10 == 0 { OLD_TOKEN } else { TOKEN };
                        let gzipped = index % 2 == 0;
                        let body = if gzipped { gzip(&body) } else { body };
                        (index, post(&client, &url, Some(token), body, gzipped))
                    })
                    .collect()
            })
        })
        .collect();
    let mut answers: Vec<(usize, u16)> = clients
        .into_iter()
        .flat_map(|client| client.join().expect("client thread"))
        .collect();
    answers.sort();
    assert_eq!(answers.len(), 100);
    assert!(
        answers.iter().all(|(_, status)| *status == 200),
        "every batch acknowledged: {answers:?}"
    );

    let records = read_topic(&topic, 100_000, WAIT);
    assert_eq!(records.len(), 100_000, "exactly the posted lines");
    let mut found: Vec<&[u8]> = records.iter().map(|(_, value)| value.as_slice()).collect();
    found.sort();
    let mut expected: Vec<&[u8]> = batches.iter().flatten().map(|l| l.as_bytes()).collect();
    expected.sort();
    assert!(
        found == expected,
        "the topic holds exactly the posted lines"
    );
    // No stream header: the client's address is the stream.
    assert!(records.iter().all(|(key, _)| key == "127.0.0.1"));

    let exposition = scrape(&metrics).expect("metrics served");
    let series = |name: &str, labels: &[(&str, &str)]| sample(&exposition, name, labels);
    assert_eq!(
        series(
            "corvid_connector_records_total",
            &[("connector", "http"), ("source", "web")]
        ),
        Some(100_000.0)
    );
    assert_eq!(
        series(
            "corvid_http_requests_total",
            &[("source", "web"), ("code", "200")]
        ),
        Some(100.0)
    );
    connector.stop();
}

/// Kafka cannot acknowledge: the topic is deleted under the running connector (the
/// broker has `auto.create.topics.enable=false`), so librdkafka cannot deliver and gives
/// up after `message.timeout.ms`. (A closed `kafka.brokers` port cannot show this: the
/// connector creates its topic at start, so it would not start.)
#[test]
fn when_kafka_cannot_acknowledge_no_request_gets_a_2xx() {
    let topic = unique("http-stuck");
    let connector = Connector::start(&config_with(
        &topic,
        "  max_buffered_kib: 1024\n  client: {message.timeout.ms: '3000'}\n",
        "limits: {queue_full_wait_ms: 300}",
    ));
    let url = format!("{}/ingest/web", connector.base);
    let client = Client::builder().timeout(WAIT).build().expect("client");
    assert_eq!(
        post(&client, &url, Some(TOKEN), b"before\n".to_vec(), false),
        200,
        "the connector works while the topic exists"
    );
    delete_topic(&topic);

    // A small batch fits the queue but is never acknowledged: 503 once it timed out.
    let small = (0..10).map(|n| format!("small {n}\n")).collect::<String>();
    assert_eq!(
        post(&client, &url, Some(TOKEN), small.into_bytes(), false),
        503
    );
    // 1,500 lines of 1 KiB do not fit the 1 MiB queue that nothing drains: 429.
    let line = "x".repeat(1023);
    let big = (0..1500).map(|_| format!("{line}\n")).collect::<String>();
    assert_eq!(
        post(&client, &url, Some(TOKEN), big.into_bytes(), false),
        429
    );
    // Several clients at once: none gets a 2xx.
    let statuses: Vec<u16> = (0..4)
        .map(|n| {
            let url = url.clone();
            std::thread::spawn(move || {
                let client = Client::builder().timeout(WAIT).build().expect("client");
                let body = (0..400).map(|i| format!("{n} {i} {}\n", "y".repeat(900)));
                post(
                    &client,
                    &url,
                    Some(TOKEN),
                    body.collect::<String>().into_bytes(),
                    false,
                )
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|client| client.join().expect("client"))
        .collect();
    assert!(
        statuses.iter().all(|status| [429, 503].contains(status)),
        "{statuses:?}"
    );
    connector.shutdown.store(true, Ordering::Relaxed);
}

fn delete_topic(topic: &str) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> =
        producer_config(&brokers()).create().expect("admin client");
    let results = futures::executor::block_on(
        admin.delete_topics(&[topic], &AdminOptions::new().operation_timeout(Some(WAIT))),
    )
    .expect("delete topic");
    for result in results {
        result.expect("topic deleted");
    }
}

#[test]
fn tokens_sources_and_size_limits_are_enforced() {
    let topic = unique("http-refuse");
    let connector = Connector::start(&config(
        &topic,
        "limits: {max_body_kib: 64, max_decompressed_kib: 256, max_record_bytes: 2048}",
    ));
    let url = format!("{}/ingest/web", connector.base);
    let client = Client::builder().timeout(WAIT).build().expect("client");
    let refused = b"refused line\n".to_vec();

    assert_eq!(post(&client, &url, None, refused.clone(), false), 401);
    assert_eq!(
        post(&client, &url, Some("wrong"), refused.clone(), false),
        401
    );
    let basic = client
        .post(&url)
        .basic_auth("web", Some(TOKEN))
        .body(refused.clone())
        .send()
        .expect("POST");
    assert_eq!(basic.status().as_u16(), 401, "only bearer tokens");
    let unknown = format!("{}/ingest/nope", connector.base);
    assert_eq!(
        post(&client, &unknown, Some(TOKEN), refused.clone(), false),
        404
    );

    // 100 KiB as sent: over max_body_kib.
    let plain = "z".repeat(1000) + "\n";
    let oversized = plain.repeat(100).into_bytes();
    assert_eq!(post(&client, &url, Some(TOKEN), oversized, false), 413);
    // A gzip bomb: 16 MiB of one byte is ~16 KiB compressed, under max_body_kib, but
    // over max_decompressed_kib once inflated.
    let bomb = gzip(&vec![b'a'; 16 << 20]);
    assert!(bomb.len() < 64 << 10, "the bomb is small when sent");
    assert_eq!(post(&client, &url, Some(TOKEN), bomb, true), 413);
    // One line over max_record_bytes: the whole body is refused, its short line too.
    let long_line = format!("short line\n{}\n", "w".repeat(3000));
    assert_eq!(
        post(&client, &url, Some(TOKEN), long_line.into_bytes(), false),
        413
    );
    // A body that claims gzip and is not.
    assert_eq!(post(&client, &url, Some(TOKEN), refused, true), 400);

    // A good batch after all that, with a stream header: exactly its lines arrive.
    let response = client
        .post(&url)
        .bearer_auth(TOKEN)
        .header("x-corvid-stream", "web-7")
        .body("first\r\n\nsecond\n")
        .send()
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200);
    let records = read_topic(&topic, 3, Duration::from_secs(5));
    let values: Vec<(&str, &[u8])> = records
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    assert_eq!(values, [("web-7", &b"first"[..]), ("web-7", b"second")]);
    connector.stop();
}

/// Every record of `topic`, after checking it holds exactly `count`: key, JSON value and
/// the source headers by name.
fn read_with_headers(topic: &str, count: usize) -> Vec<(String, Value, BTreeMap<String, String>)> {
    read_exactly(topic, count)
        .into_iter()
        .map(|record| {
            let headers = BTreeMap::from([
                ("source_id".to_owned(), record.meta.source_id),
                ("source_label".to_owned(), record.meta.source_label),
                ("log_types".to_owned(), record.meta.log_types.join(",")),
            ]);
            let value = serde_json::from_slice(&record.value).expect("JSON record");
            (record.key, value, headers)
        })
        .collect()
}

/// The conversation of osquery's TLS enroll and logger plugins, as documented at
/// <https://osquery.readthedocs.io/en/stable/deployment/remote/> ("Simple shared secret
/// enrollment", "Remote logging buffering" / the `/log` request shape): an enroll request
/// with the shared secret and the host identifier, a node key in the answer, then
/// `{"node_key", "log_type", "data": [...]}` POSTs (gzip with `--logger_tls_compress`);
/// an unknown node key is answered `{"node_invalid": true}` so osqueryd enrolls again.
#[test]
fn an_osquery_tls_logger_conversation_over_https() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = self_signed(dir.path());
    let topic = unique("http-osquery");
    std::env::set_var("CORVID_TEST_OSQUERY_SECRET", "enroll-s3cret");
    let yaml = config(
        &topic,
        &format!(
            "tls: {{cert: {}, key: {}}}\nosquery:\n  enroll_secrets: ['${{CORVID_TEST_OSQUERY_SECRET}}']\n  node_key_secret: node-key-signing-secret\n  results: {{id: osquery-results, label: Osquery fleet, log_types: [Osquery.Differential, Osquery.Snapshot, Osquery.Batch]}}\n  status: {{id: osquery-status, log_types: [Osquery.Status]}}",
            cert.display(),
            key.display()
        ),
    );
    let connector = Connector::start_with(&yaml, "https");
    let pem = std::fs::read(&cert).expect("cert");
    let client = Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("PEM"))
        .timeout(WAIT)
        .build()
        .expect("client");
    let call = |path: &str, body: &Value, gzipped: bool| -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("JSON");
        let mut request = client
            .post(format!("{}{path}", connector.base))
            .header("content-type", "application/json");
        request = if gzipped {
            request
                .header("content-encoding", "gzip")
                .body(gzip(&bytes))
        } else {
            request.body(bytes)
        };
        let response = request.send().expect("HTTPS request");
        let status = response.status().as_u16();
        (status, response.json().expect("JSON answer"))
    };

    let host = "osquery-host-01.example.com";
    let (status, answer) = call(
        "/osquery/enroll",
        &json!({"enroll_secret": "wrong", "host_identifier": host}),
        false,
    );
    assert_eq!((status, &answer["node_invalid"]), (200, &json!(true)));
    assert!(answer.get("node_key").is_none());

    let (status, answer) = call(
        "/osquery/enroll",
        &json!({
            "enroll_secret": "enroll-s3cret",
            "host_identifier": host,
            "platform_type": "9",
            "host_details": {"os_version": {"name": "Ubuntu"}, "osquery_info": {"version": "5.12.1"}}
        }),
        false,
    );
    assert_eq!(status, 200);
    let node_key = answer["node_key"].as_str().expect("a node key").to_owned();

    let added = json!({
        "name": "pack_incident-response_logged_in_users",
        "hostIdentifier": host,
        "calendarTime": "Fri Nov 27 20:01:02 2026 UTC",
        "unixTime": 1795809662,
        "epoch": 0,
        "counter": 1,
        "numerics": false,
        "decorations": {"host_uuid": "4740D59F-699E-5B29-960B-979AAF9BBEEB"},
        "columns": {"host": "203.0.113.7", "user": "root", "tty": "pts/0", "type": "user"},
        "action": "added"
    });
    let removed = json!({
        "name": "pack_incident-response_logged_in_users",
        "hostIdentifier": host,
        "calendarTime": "Fri Nov 27 20:11:02 2026 UTC",
        "unixTime": 1795810262,
        "epoch": 0,
        "counter": 2,
        "columns": {"host": "203.0.113.7", "user": "root", "tty": "pts/0", "type": "user"},
        "action": "removed"
    });
    let (status, answer) = call(
        "/osquery/log",
        &json!({"node_key": node_key, "log_type": "result", "data": [added, removed]}),
        true,
    );
    assert_eq!((status, answer.clone()), (200, json!({})), "{answer}");
    let status_log = json!({
        "hostIdentifier": host,
        "calendarTime": "Fri Nov 27 20:00:00 2026 UTC",
        "unixTime": "1795809600",
        "severity": "0",
        "filename": "scheduler.cpp",
        "line": "83",
        "message": "Executing scheduled query pack_incident-response_logged_in_users",
        "version": "5.12.1"
    });
    let (status, _) = call(
        "/osquery/log",
        &json!({"node_key": node_key, "log_type": "status", "data": [status_log]}),
        false,
    );
    assert_eq!(status, 200);
    // A forged node key: osqueryd is told to enroll again, and nothing is written.
    let (status, answer) = call(
        "/osquery/log",
        &json!({"node_key": format!("{node_key}0"), "log_type": "result", "data": [added]}),
        false,
    );
    assert_eq!((status, answer), (200, json!({"node_invalid": true})));

    let records = read_with_headers(&topic, 3);
    assert_eq!(records.len(), 3);
    let source = |record: &(String, Value, BTreeMap<String, String>)| {
        record.2.get("source_id").cloned().unwrap_or_default()
    };
    assert!(
        records.iter().all(|record| record.0 == host),
        "keyed by host"
    );
    assert_eq!(
        records.iter().map(source).collect::<Vec<_>>(),
        ["osquery-results", "osquery-results", "osquery-status"]
    );
    assert_eq!(records[0].1, added);
    assert_eq!(records[1].1, removed);
    assert_eq!(records[2].1, status_log);
    assert_eq!(
        records[0].2.get("log_types").map(String::as_str),
        Some("Osquery.Differential,Osquery.Snapshot,Osquery.Batch")
    );
    assert_eq!(
        records[2].2.get("log_types").map(String::as_str),
        Some("Osquery.Status")
    );
    connector.stop();
}

/// A request body fed from a channel: the test decides when each part is sent.
struct ChannelBody(mpsc::Receiver<Vec<u8>>, Vec<u8>);

impl std::io::Read for ChannelBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1.is_empty() {
            match self.0.recv() {
                Ok(chunk) => self.1 = chunk,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.1.len());
        buf[..n].copy_from_slice(&self.1[..n]);
        self.1.drain(..n);
        Ok(n)
    }
}

/// Shutdown raised while a request's body is still arriving: the request is finished
/// (acknowledged, 200), then the connector flushes and exits cleanly.
#[test]
fn shutdown_finishes_the_requests_in_flight() {
    let topic = unique("http-shutdown");
    let connector = Connector::start(&config(&topic, ""));
    let url = format!("{}/ingest/web", connector.base);
    let (parts, receiver) = mpsc::channel::<Vec<u8>>();
    let (warm, warmed) = mpsc::channel::<()>();
    let client = std::thread::spawn(move || {
        let client = Client::builder().timeout(WAIT).build().expect("client");
        // A first request opens the (keep-alive) connection the streamed one reuses, so
        // the connector is surely serving that connection when the flag goes up.
        let first = post(
            &client,
            &url,
            Some(TOKEN),
            b"in flight -1\n".to_vec(),
            false,
        );
        assert_eq!(first, 200);
        let _ = warm.send(());
        let body = reqwest::blocking::Body::new(ChannelBody(receiver, Vec::new()));
        let response = client
            .post(&url)
            .bearer_auth(TOKEN)
            .body(body)
            .send()
            .expect("POST");
        response.status().as_u16()
    });
    let part = |range: std::ops::Range<usize>| -> Vec<u8> {
        range
            .map(|n| format!("in flight {n}\n"))
            .collect::<String>()
            .into_bytes()
    };
    warmed
        .recv_timeout(WAIT)
        .expect("the first request was answered");
    parts.send(part(0..500)).expect("first half");
    std::thread::sleep(Duration::from_millis(500));
    connector.shutdown.store(true, Ordering::Relaxed);
    // The connector has seen the flag (it polls every 100 ms) and stopped accepting.
    std::thread::sleep(Duration::from_millis(500));
    parts.send(part(500..1000)).expect("second half");
    drop(parts);
    assert_eq!(client.join().expect("client"), 200);
    connector.stop();

    let records = read_topic(&topic, 1001, WAIT);
    let values: Vec<String> = records
        .iter()
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
        .collect();
    let expected: Vec<String> = (-1..1000).map(|n| format!("in flight {n}")).collect();
    assert_eq!(values, expected, "all of it, in order");
}
