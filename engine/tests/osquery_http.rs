//! osqueryd's TLS logger → `corvid connect http` → raw topic → `corvid run` → events:
//! an osquery conversation (enroll, then result and status logs) reaches the engine as
//! Osquery.Differential and Osquery.Status events.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::{brokers, corvid, run_to_end, summary, unique, write_config, TopicReader, WAIT};

/// A `corvid connect http` child, killed if the test fails before stopping it.
struct HttpConnector {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl HttpConnector {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM: stop accepting, flush, exit 0.
    fn stop(mut self) {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + WAIT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll connector") {
                break status;
            }
            assert!(Instant::now() < deadline, "connect http ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{status}; log:\n{}", self.log_text());
    }
}

impl Drop for HttpConnector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

/// The conversation is the one osquery's remote API documents
/// (<https://osquery.readthedocs.io/en/stable/deployment/remote/>): POST the enroll
/// secret and host identifier to the enroll endpoint, keep the `node_key` it answers,
/// then POST `{"node_key", "log_type": "result"|"status", "data": [...]}` to the logger
/// endpoint (gzip-compressed, as with `--logger_tls_compress`).
#[test]
fn an_osquery_tls_logger_conversation_reaches_the_engine_as_osquery_events() {
    let run = unique("it-osquery-http");
    let dir = tempfile::tempdir().expect("tempdir");
    let engine_config = write_config(dir.path(), &run, None, "");
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let connector_config = dir.path().join("connect-http.yml");
    std::fs::write(
        &connector_config,
        format!(
            "listen: 127.0.0.1:{port}\nkafka:\n  brokers: {}\n  topic: {run}.raw\n  partitions: 3\nosquery:\n  enroll_secrets: [fleet-enroll-secret]\n  node_key_secret: signing-key-of-this-test\n  results:\n    id: osquery-fleet\n    label: Osquery fleet\n    log_types: [Osquery.Differential, Osquery.Snapshot, Osquery.Batch]\n  status:\n    id: osquery-status\n    log_types: [Osquery.Status]\n",
            brokers()
        ),
    )
    .expect("write connector config");
    let log = dir.path().join("connect-http.log");
    let child = corvid()
        .args(["connect", "http", "--config"])
        .arg(&connector_config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start corvid connect http");
    let connector = HttpConnector { child, log };

    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::builder()
        .timeout(WAIT)
        .build()
        .expect("client");
    let host = "db-7.prod.example.com";
    let enroll = json!({
        "enroll_secret": "fleet-enroll-secret",
        "host_identifier": host,
        "platform_type": "9",
        "host_details": {"system_info": {"hostname": host}, "osquery_info": {"version": "5.12.1"}}
    });
    // The connector is up once it answers.
    let deadline = Instant::now() + WAIT;
    let enrolled: Value = loop {
        match client
            .post(format!("{base}/osquery/enroll"))
            .json(&enroll)
            .send()
        {
            Ok(response) => {
                assert_eq!(response.status().as_u16(), 200);
                break response.json().expect("enroll answer");
            }
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "connect http never answered ({error}); log:\n{}",
                    connector.log_text()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let node_key = enrolled["node_key"].as_str().expect("a node key");

    let login = |action: &str, time: &str, unix: u64| {
        json!({
            "name": "pack_incident-response_logged_in_users",
            "hostIdentifier": host,
            "calendarTime": time,
            "unixTime": unix,
            "epoch": 0,
            "counter": 3,
            "numerics": false,
            "decorations": {"host_uuid": "4740D59F-699E-5B29-960B-979AAF9BBEEB"},
            "columns": {"host": "203.0.113.7", "pid": "4242", "tty": "pts/0", "type": "user", "user": "root"},
            "action": action
        })
    };
    let results = json!({
        "node_key": node_key,
        "log_type": "result",
        "data": [
            login("added", "Fri Nov 27 20:01:02 2026 UTC", 1795809662),
            login("removed", "Fri Nov 27 20:31:02 2026 UTC", 1795811462),
        ]
    });
    let status = json!({
        "node_key": node_key,
        "log_type": "status",
        "data": [{
            "hostIdentifier": host,
            "calendarTime": "Fri Nov 27 20:00:00 2026 UTC",
            "unixTime": "1795809600",
            "severity": "0",
            "filename": "scheduler.cpp",
            "line": "83",
            "message": "Executing scheduled query pack_incident-response_logged_in_users: SELECT * FROM logged_in_users",
            "version": "5.12.1"
        }]
    });
    for body in [&results, &status] {
        let response = client
            .post(format!("{base}/osquery/log"))
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(&serde_json::to_vec(body).expect("JSON")))
            .send()
            .expect("POST /osquery/log");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(response.json::<Value>().expect("answer"), json!({}));
    }
    connector.stop();

    let counts = summary(&run_to_end(&engine_config));
    assert_eq!(
        (counts.read, counts.parsed, counts.events, counts.dead),
        (3, 3, 3, 0),
        "{counts:?}"
    );
    let mut events = TopicReader::new(&format!("{run}.events"));
    events.read_at_least(3);
    assert_eq!(events.records.len(), 3);
    let mut events: Vec<Value> = events
        .records
        .iter()
        .map(|(_, payload, _)| serde_json::from_slice(payload).expect("event JSON"))
        .collect();
    events.sort_by_key(|event| event["p_event_time"].as_str().map(str::to_owned));

    let status_event = &events[0];
    assert_eq!(status_event["p_log_type"], "Osquery.Status");
    assert_eq!(status_event["p_source_id"], "osquery-status");
    assert_eq!(status_event["severity"], 0);
    assert_eq!(status_event["filename"], "scheduler.cpp");

    for (event, action, time) in [
        (&events[1], "added", "2026-11-27 20:01:02.000000000"),
        (&events[2], "removed", "2026-11-27 20:31:02.000000000"),
    ] {
        assert_eq!(event["p_log_type"], "Osquery.Differential", "{event}");
        assert_eq!(event["p_source_id"], "osquery-fleet");
        assert_eq!(event["p_source_label"], "Osquery fleet");
        assert_eq!(event["p_event_time"], time);
        assert_eq!(event["action"], action);
        assert_eq!(event["hostIdentifier"], host);
        assert_eq!(event["name"], "pack_incident-response_logged_in_users");
        assert_eq!(event["columns"]["user"], "root");
        assert_eq!(event["columns"]["host"], "203.0.113.7");
    }
}
