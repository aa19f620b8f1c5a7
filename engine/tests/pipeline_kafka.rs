//! End to end against a real Kafka broker (`scripts/kafka.sh up`, or `make test`):
//! osquery lines go through `corvid connect file`, the `corvid run` engine follows the raw
//! topic, and the alerts and dead letters are read back from their topics.
//!
//! The broker address comes from `CORVID_TEST_BROKERS` (default 127.0.0.1:9092). Each test
//! uses topics of its own, so runs never see each other's records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);

fn brokers() -> String {
    std::env::var("CORVID_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn corvid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corvid"))
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn login(user: &str, from: &str, action: &str, host: &str) -> String {
    serde_json::json!({
        "name": "pack_incident-response_logged_in_users",
        "hostIdentifier": host,
        "calendarTime": "Fri Nov 27 20:01:02 2026 UTC",
        "unixTime": 1795809662,
        "columns": {"host": from, "pid": "1", "time": "1795809662", "tty": "pts/0", "type": "user", "user": user},
        "action": action,
    })
    .to_string()
}

/// A `corvid run` child that is killed if the test fails before stopping it.
struct Engine {
    child: Option<Child>,
    log: PathBuf,
}

impl Engine {
    fn start(config: &Path, log: PathBuf) -> Engine {
        let stderr = std::fs::File::create(&log).expect("engine log file");
        let child = corvid()
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start corvid run");
        Engine {
            child: Some(child),
            log,
        }
    }

    fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("engine started");
        if let Some(status) = child.try_wait().expect("poll engine") {
            panic!("engine exited early ({status}); log:\n{}", self.log_text());
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("engine started");
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().expect("poll engine") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "engine ignored SIGTERM; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads a topic from the beginning, accumulating what it has seen.
struct TopicReader {
    consumer: BaseConsumer,
    records: Vec<(String, Vec<u8>, BTreeMap<String, String>)>,
}

impl TopicReader {
    fn new(topic: &str) -> TopicReader {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers())
            .set("group.id", "corvid-it")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .expect("consumer");
        let deadline = Instant::now() + WAIT;
        let partitions = loop {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(10))
                .expect("metadata");
            let found: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if !found.is_empty() {
                break found;
            }
            assert!(Instant::now() < deadline, "topic {topic} never appeared");
            std::thread::sleep(Duration::from_millis(200));
        };
        let mut assignment = TopicPartitionList::new();
        for partition in partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .expect("assignment");
        }
        consumer.assign(&assignment).expect("assign");
        TopicReader {
            consumer,
            records: Vec::new(),
        }
    }

    fn poll_for(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            if let Some(result) = self.consumer.poll(Duration::from_millis(100)) {
                let message = result.expect("consume");
                let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
                let mut headers = BTreeMap::new();
                if let Some(hs) = message.headers() {
                    for h in hs.iter() {
                        headers.insert(
                            h.key.to_owned(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                self.records
                    .push((key, message.payload().unwrap_or_default().to_vec(), headers));
            }
        }
    }

    /// Polls until `done` holds for what has been read, or panics after [`WAIT`].
    fn wait_until(
        &mut self,
        what: &str,
        engine: &mut Engine,
        done: impl Fn(&[(String, Vec<u8>, BTreeMap<String, String>)]) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.records) {
            engine.assert_running();
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; read {:?}; engine log:\n{}",
                self.records
                    .iter()
                    .map(|r| String::from_utf8_lossy(&r.1).into_owned())
                    .collect::<Vec<_>>(),
                engine.log_text()
            );
            self.poll_for(Duration::from_millis(300));
        }
    }

    fn alerts(&self) -> Vec<(String, Value)> {
        self.records
            .iter()
            .map(|(key, payload, _)| {
                (
                    key.clone(),
                    serde_json::from_slice(payload).expect("alert JSON"),
                )
            })
            .collect()
    }
}

/// The newest version of each alert, by key.
fn latest(alerts: &[(String, Value)]) -> BTreeMap<String, Value> {
    alerts.iter().cloned().collect()
}

fn send_file(dir: &Path, name: &str, topic: &str, lines: &[String]) {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write log file");
    let status = corvid()
        .args(["connect", "file", "--path"])
        .arg(&path)
        .args(["--topic", topic, "--brokers", &brokers()])
        .args([
            "--source-id",
            "it-osquery",
            "--source-label",
            "IT osquery",
            "--log-types",
            "Osquery.Differential",
        ])
        .status()
        .expect("run corvid connect file");
    assert!(status.success(), "connect file failed: {status}");
}

#[test]
fn out_of_office_logins_alert_once_per_user_and_updates_reuse_the_alert() {
    let run = unique("it-pipeline");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("corvid.yml");
    let (raw, alerts_topic, dead_topic) = (
        format!("{run}.raw"),
        format!("{run}.alerts"),
        format!("{run}.dead"),
    );
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: {}\ntopics:\n  raw: {raw}\n  alerts: {alerts_topic}\n  dead_letters: {dead_topic}\n  partitions: 3\nrules_dir: {}\nstate_dir: {}\nworkers: 2\nepoch_ms: 200\n",
            brokers(),
            repo_root().join("rules").display(),
            dir.path().join("data").display()
        ),
    )
    .expect("write config");
    let not_json = "osqueryd: this line is not JSON \u{00e9}";

    // Phase 1: two users log in from outside, two from the office, one logs out from
    // outside, and one line is not JSON at all.
    send_file(
        dir.path(),
        "phase1.log",
        &raw,
        &[
            login("alice", "203.0.113.7", "added", "web-1"),
            login("carol", "192.0.1.5", "added", "web-1"),
            not_json.to_owned(),
            login("bob", "198.51.100.9", "added", "db-1"),
            login("dave", "192.0.1.200", "added", "db-1"),
            login("erin", "198.51.100.10", "removed", "db-1"),
        ],
    );
    let mut engine = Engine::start(&config, dir.path().join("engine.log"));
    let mut alerts = TopicReader::new(&alerts_topic);
    alerts.wait_until("alerts for alice and bob", &mut engine, |records| {
        records.len() >= 2
    });
    // Anything else the engine would emit for phase 1 has had time to arrive.
    alerts.poll_for(Duration::from_secs(2));
    let first = latest(&alerts.alerts());
    let by_user: BTreeMap<String, Value> = first
        .values()
        .map(|alert| {
            (
                alert["dedupString"]
                    .as_str()
                    .expect("dedupString")
                    .to_owned(),
                alert.clone(),
            )
        })
        .collect();
    assert_eq!(
        by_user.keys().collect::<Vec<_>>(),
        vec!["alice", "bob"],
        "alerts: {first:#?}"
    );
    for (user, ip) in [("alice", "203.0.113.7"), ("bob", "198.51.100.9")] {
        let alert = &by_user[user];
        assert_eq!(alert["eventCount"], 1);
        assert_eq!(alert["type"], "RULE");
        assert_eq!(alert["ruleId"], "Osquery.OutsideOfficeLogin");
        assert_eq!(alert["severity"], "HIGH");
        let title = alert["title"].as_str().expect("title");
        assert!(
            title.contains(user) && title.contains(ip),
            "title {title:?}"
        );
        let sample = &alert["samples"][0];
        assert_eq!(sample["p_log_type"], "Osquery.Differential");
        assert_eq!(sample["p_source_id"], "it-osquery");
        assert_eq!(sample["p_any_ip_addresses"], serde_json::json!([ip]));
    }

    // The line that is not JSON is on the dead-letter topic, bytes intact, with a reason.
    let mut dead = TopicReader::new(&dead_topic);
    dead.wait_until("the dead letter", &mut engine, |records| {
        !records.is_empty()
    });
    dead.poll_for(Duration::from_millis(500));
    assert_eq!(dead.records.len(), 1, "exactly one dead letter");
    let (_, payload, headers) = &dead.records[0];
    assert_eq!(payload.as_slice(), not_json.as_bytes());
    assert!(headers["reason"].contains("not JSON"), "{headers:?}");
    assert_eq!(headers["reason_kind"], "no_parser_accepted");
    assert_eq!(headers["source_id"], "it-osquery");
    assert_eq!(headers["source_topic"], raw);

    // Phase 2: alice logs in from outside again within the dedup period: her alert is
    // updated (same key, higher count), no new alert appears.
    let alice_id = by_user["alice"]["alertId"]
        .as_str()
        .expect("alertId")
        .to_owned();
    send_file(
        dir.path(),
        "phase2.log",
        &raw,
        &[login("alice", "203.0.113.99", "added", "web-2")],
    );
    alerts.wait_until("alice's updated alert", &mut engine, |records| {
        records.iter().any(|(key, payload, _)| {
            key == &alice_id
                && serde_json::from_slice::<Value>(payload).is_ok_and(|a| a["eventCount"] == 2)
        })
    });
    alerts.poll_for(Duration::from_secs(2));
    let second = latest(&alerts.alerts());
    assert_eq!(second.len(), 2, "still one alert per user: {second:#?}");
    assert_eq!(second[&alice_id]["eventCount"], 2);
    assert_eq!(second[&alice_id]["dedupString"], "alice");
    let bob = by_user["bob"]["alertId"].as_str().expect("alertId");
    assert_eq!(second[bob]["eventCount"], 1, "bob's alert is untouched");

    engine.assert_running();
    let status = engine.stop();
    assert!(status.success(), "engine exit status {status}");
}
