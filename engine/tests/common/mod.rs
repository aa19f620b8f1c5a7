//! Helpers shared by the integration tests: the `corvid` binary, a real Kafka broker
//! (`CORVID_TEST_BROKERS`, default 127.0.0.1:9092), unique topics, topic readers.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

pub const WAIT: Duration = Duration::from_secs(120);

pub fn brokers() -> String {
    std::env::var("CORVID_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn corvid() -> Command {
    Command::new(env!("CARGO_BIN_EXE_corvid"))
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub fn login(user: &str, from: &str, action: &str, host: &str) -> String {
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
pub struct Engine {
    pub child: Option<Child>,
    pub log: PathBuf,
}

impl Engine {
    pub fn start(config: &Path, log: PathBuf) -> Engine {
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

    pub fn assert_running(&mut self) {
        let child = self.child.as_mut().expect("engine started");
        if let Some(status) = child.try_wait().expect("poll engine") {
            panic!("engine exited early ({status}); log:\n{}", self.log_text());
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
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
pub struct TopicReader {
    consumer: BaseConsumer,
    pub records: Vec<(String, Vec<u8>, BTreeMap<String, String>)>,
}

impl TopicReader {
    pub fn new(topic: &str) -> TopicReader {
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

    pub fn poll_for(&mut self, duration: Duration) {
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
    pub fn wait_until(
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

    /// Polls until at least `count` records were read (or [`WAIT`] passed), then a
    /// little longer so that a surplus would show.
    pub fn read_at_least(&mut self, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.records.len() < count && Instant::now() < deadline {
            self.poll_for(Duration::from_millis(300));
        }
        self.poll_for(Duration::from_millis(500));
    }

    pub fn alerts(&self) -> Vec<(String, Value)> {
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

/// Writes an engine config for topics `<run>.raw`, `<run>.alerts`, `<run>.dead`,
/// `<run>.events`, `<run>.rule-errors` and `<run>.rule-matches`, with the repository's
/// rules unless `rules` is given.
pub fn write_config(dir: &Path, run: &str, rules: Option<&Path>, extra: &str) -> PathBuf {
    let config = dir.join("corvid.yml");
    let rules = rules
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo_root().join("rules"));
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: {}\ntopics:\n  raw: {run}.raw\n  alerts: {run}.alerts\n  dead_letters: {run}.dead\n  events: {run}.events\n  rule_errors: {run}.rule-errors\n  rule_matches: {run}.rule-matches\n  partitions: 3\nrules_dir: {}\nstate_dir: {}\nworkers: 2\nepoch_ms: 200\n{extra}",
            brokers(),
            rules.display(),
            dir.join("data").display()
        ),
    )
    .expect("write config");
    config
}

/// Runs `corvid run --stop-at-end`; returns its stderr, panicking if it fails.
pub fn run_to_end(config: &Path) -> String {
    let output = corvid()
        .args(["run", "--stop-at-end", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run corvid");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "corvid run failed ({}):\n{stderr}",
        output.status
    );
    stderr
}

/// The counts in the engine's closing summary line.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub read: u64,
    pub parsed: u64,
    pub events: u64,
    pub dead: u64,
}

pub fn summary(stderr: &str) -> Summary {
    let line = stderr
        .lines()
        .find(|l| l.contains("engine stopped:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let number = |label: &str| -> u64 {
        let before = line.split(label).next().unwrap_or_default();
        before
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} count in {line:?}"))
    };
    Summary {
        read: number(" records read"),
        parsed: number(" records parsed into"),
        events: number(" events,"),
        dead: number(" dead letters"),
    }
}

/// Writes `lines` to `dir/name`, one per line.
pub fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write log file");
    path
}

/// Sends a file through `corvid connect file` and waits for its acknowledgement.
pub fn connect_file(path: &Path, topic: &str, source_id: &str, log_types: &str) {
    let status = corvid()
        .args(["connect", "file", "--path"])
        .arg(path)
        .args(["--topic", topic, "--brokers", &brokers()])
        .args([
            "--source-id",
            source_id,
            "--source-label",
            &format!("{source_id} label"),
        ])
        .args(["--log-types", log_types])
        .status()
        .expect("run corvid connect file");
    assert!(status.success(), "connect file failed: {status}");
}

/// The registry `scripts/schema-registry.sh` starts (Apicurio's Confluent API), or
/// `CORVID_TEST_SCHEMA_REGISTRY`.
pub fn test_schema_registry() -> String {
    std::env::var("CORVID_TEST_SCHEMA_REGISTRY")
        .unwrap_or_else(|_| "http://127.0.0.1:8081/apis/ccompat/v6".into())
}

/// The project venv's interpreter (`$VENV`, else `.venv` at the repository root); panics,
/// saying to run `make venv`, when it is missing: a test that needs it must not skip.
pub fn venv_python() -> PathBuf {
    let venv = std::env::var_os("VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv"));
    let python = venv.join("bin").join("python");
    assert!(
        python.exists(),
        "no Python venv at {}: run `make venv` (it installs requirements-dev.txt)",
        venv.display()
    );
    python
}

/// Produces `(key, payload)` records to `topic` and waits until the broker acknowledged
/// every one.
pub fn produce_acknowledged(topic: &str, records: &[(String, Vec<u8>)]) {
    use corvid_connectors::producer::{producer_config, DeliveryTally, TallyContext};
    use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
    use std::sync::Arc;

    let tally = Arc::new(DeliveryTally::default());
    let producer: ThreadedProducer<TallyContext> = producer_config(&brokers())
        .create_with_context(TallyContext(Arc::clone(&tally)))
        .expect("producer");
    for (key, payload) in records {
        producer
            .send(BaseRecord::to(topic).key(key).payload(payload))
            .map_err(|(error, _)| error)
            .expect("queue a record");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    assert_eq!(
        (tally.acknowledged(), tally.failed()),
        (records.len() as u64, 0),
        "every record to {topic} acknowledged"
    );
}

/// Every alert version on `topic` (read_committed) as (alert id, event count), sorted:
/// a version written twice shows up twice. Reads until at least `at_least` records and
/// then until a second passes with nothing new.
pub fn alert_versions(topic: &str, at_least: usize) -> Vec<(String, u64)> {
    let mut reader = TopicReader::new(topic);
    reader.read_at_least(at_least.max(1));
    loop {
        let before = reader.records.len();
        reader.poll_for(Duration::from_secs(1));
        if reader.records.len() == before {
            break;
        }
    }
    let mut versions: Vec<(String, u64)> = reader
        .alerts()
        .into_iter()
        .map(|(_, alert)| {
            (
                alert["alertId"].as_str().unwrap_or_default().to_owned(),
                alert["eventCount"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    versions.sort();
    versions
}

/// The visible Parquet files below `dir` (not under `_corvid/`, where staged files and
/// checkpoints live).
pub fn lake_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(current) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|name| name == "_corvid") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("parquet") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every non-null value of the string `column` in one Parquet file.
pub fn file_values(path: &Path, column: &str) -> Vec<String> {
    use arrow::array::{Array, AsArray};
    let file = std::fs::File::open(path).expect("open parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut values = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let array = batch
            .column_by_name(column)
            .unwrap_or_else(|| panic!("no {column} in {}", path.display()))
            .as_string::<i32>();
        values.extend(
            (0..array.len())
                .filter(|&i| !array.is_null(i))
                .map(|i| array.value(i).to_owned()),
        );
    }
    values
}

/// Every non-null value of the string `column` in the visible Parquet files below `dir`,
/// each with its table: the first two path components below `dir`
/// (`logs/osquery_differential`).
pub fn lake_values(dir: &Path, column: &str) -> Vec<(String, String)> {
    let mut values = Vec::new();
    for path in lake_files(dir) {
        let table = path
            .strip_prefix(dir)
            .ok()
            .map(|p| {
                p.iter()
                    .take(2)
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default();
        values.extend(
            file_values(&path, column)
                .into_iter()
                .map(|value| (table.clone(), value)),
        );
    }
    values
}

/// The visible lake files that hold `row_id` (to say where a doubled row came from).
pub fn files_holding_row(lake: &Path, row_id: &str) -> Vec<PathBuf> {
    lake_files(lake)
        .into_iter()
        .filter(|path| file_values(path, "p_row_id").iter().any(|id| id == row_id))
        .collect()
}

/// Every (table, p_row_id) in the visible files of a local lake, with how many times
/// it occurs.
pub fn lake_row_ids(lake: &Path) -> BTreeMap<(String, String), usize> {
    let mut rows = BTreeMap::new();
    for row in lake_values(lake, "p_row_id") {
        *rows.entry(row).or_insert(0) += 1;
    }
    rows
}

/// Rules with many alerts, updates and a threshold, so alert versions are plentiful.
const BUSY_RULES: &[(&str, &str)] = &[
    (
        "vpc_rejects.yml",
        "AnalysisType: rule\nRuleID: Test.VPCRejects\nEnabled: true\nFilename: vpc_rejects.py\nLogTypes: [AWS.VPCFlow]\nSeverity: Low\nDedupPeriodMinutes: 60\n",
    ),
    (
        "vpc_rejects.py",
        "def rule(event):\n    return event.get('action') == 'REJECT'\n\ndef dedup(event):\n    return str(event.get('dstPort'))\n",
    ),
    (
        "host_logins.yml",
        "AnalysisType: rule\nRuleID: Test.HostLogins\nEnabled: true\nFilename: host_logins.py\nLogTypes: [Osquery.Differential]\nSeverity: Info\nThreshold: 5\nDedupPeriodMinutes: 15\n",
    ),
    (
        "host_logins.py",
        "def rule(event):\n    return 'logged_in_users' in event.get('name', '')\n\ndef dedup(event):\n    return event.deep_get('columns', 'user', default='?')\n",
    ),
];

/// Writes [`BUSY_RULES`] to `dir/rules` and returns that directory.
pub fn write_busy_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    for (name, text) in BUSY_RULES {
        std::fs::write(rules.join(name), text).expect("write rule");
    }
    rules
}

/// How a run of the checkpoint tests (crash recovery, rescale) is set up.
pub struct CheckpointRun<'a> {
    pub raw: &'a str,
    pub rules: &'a Path,
    pub workers: usize,
    pub epoch_ms: u64,
    pub interval_secs: f64,
}

/// Writes `dir/<run>.yml`: the shared raw topic, the run's own output topics and state
/// directory (`dir/<run>-state`), checkpoints every `interval_secs`.
pub fn write_checkpoint_config(dir: &Path, run: &str, setup: &CheckpointRun) -> PathBuf {
    let config = dir.join(format!("{run}.yml"));
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: {}\ntopics:\n  raw: {}\n  alerts: {run}.alerts\n  dead_letters: {run}.dead\n  rule_errors: {run}.rule-errors\n  rule_matches: {run}.rule-matches\n  partitions: 4\nrules_dir: {}\nrules_reload_secs: 0\nstate_dir: {}\nworkers: {}\nepoch_ms: {}\nalerts:\n  progress_topic: {run}.progress\ncheckpoint:\n  interval_secs: {}\n",
            brokers(),
            setup.raw,
            setup.rules.display(),
            dir.join(format!("{run}-state")).display(),
            setup.workers,
            setup.epoch_ms,
            setup.interval_secs,
        ),
    )
    .expect("write config");
    config
}

/// Produces the intrusion scenario of `date` (with `events` background events) to the
/// raw topic of `config`, through `corvid loadtest scenario intrusion`.
pub fn produce_scenario(config: &Path, date: &str, events: &str) {
    let output = corvid()
        .args(["loadtest", "scenario", "intrusion", "--date", date])
        .args(["--events", events, "--config"])
        .arg(config)
        .output()
        .expect("run the scenario");
    assert!(
        output.status.success(),
        "scenario: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
