//! `corvid connect file --config` (tailing) against a real Kafka broker, run in-process:
//! lines written across a rename rotation and copytruncate truncations, while the
//! connector runs, arrive exactly once each and in each file's order; and a graceful
//! stop and restart in the middle of a stream repeats and loses nothing.

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{brokers, read_topic, unique, WAIT};
use corvid_connectors::file::tail::{
    run, PositionsStore, StartAt, TailConfig, TailMetrics, TailSummary,
};
use corvid_connectors::ingest::config::parse_yaml;
use corvid_connectors::metrics::ConnectorMetrics;

/// A connector running on its own thread until [`Connector::stop`].
struct Connector {
    shutdown: Arc<AtomicBool>,
    thread: JoinHandle<TailSummary>,
    metrics: TailMetrics,
}

impl Connector {
    fn start(config: &TailConfig) -> Connector {
        let shutdown = Arc::new(AtomicBool::new(false));
        let metrics = TailMetrics::new(ConnectorMetrics::new());
        let thread = {
            let (config, metrics, shutdown) =
                (config.clone(), metrics.clone(), Arc::clone(&shutdown));
            std::thread::spawn(move || run(&config, &metrics, &shutdown).expect("tailing runs"))
        };
        Connector {
            shutdown,
            thread,
            metrics,
        }
    }

    /// Raises the shutdown flag (what SIGTERM does) and waits for the run to end.
    fn stop(self) -> (TailSummary, TailMetrics) {
        self.shutdown.store(true, Ordering::Release);
        let summary = self.thread.join().expect("tailing thread");
        (summary, self.metrics)
    }
}

fn config(dir: &Path, topic: &str, source: &str, paths: &[&str]) -> TailConfig {
    let paths: Vec<String> = paths
        .iter()
        .map(|name| format!("{:?}", dir.join(name).to_string_lossy()))
        .collect();
    let text = format!(
        "files:
  - paths: [{}]
    source: {{id: {source}, log_types: [Syslog.RFC5424]}}
positions: {:?}
poll_interval_ms: 50
rotate_wait_ms: 1000
positions_interval_ms: 100
max_line_bytes: 4096
kafka: {{brokers: {:?}, topic: {topic}, partitions: 1}}
",
        paths.join(", "),
        dir.join("positions.json").to_string_lossy(),
        brokers(),
    );
    let config: TailConfig = parse_yaml(&text).expect("test config");
    config.validate().expect("valid test config");
    config
}

fn appender(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open for append")
}

/// Writes `lines`, each with its newline, and notes them as expected under `stream`.
fn write_lines(
    file: &mut File,
    lines: impl IntoIterator<Item = String>,
    expected: &mut Vec<String>,
) {
    let mut text = String::new();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
        expected.push(line);
    }
    file.write_all(text.as_bytes()).expect("append lines");
}

fn numbered(prefix: &str, range: std::ops::Range<u32>) -> impl Iterator<Item = String> + '_ {
    range.map(move |index| format!("{prefix}-{index:04} some payload"))
}

/// Waits until the topic holds `count` records; fails with what is there if it does not.
fn wait_for(topic: &str, count: usize) -> Vec<(String, Vec<u8>)> {
    let records = read_topic(topic, count, WAIT);
    assert!(
        records.len() >= count,
        "{} of {count} records arrived",
        records.len()
    );
    records
}

/// Reads the whole topic (waiting a little longer than needed, so an extra record would
/// show) and groups the payloads by key, in topic order.
fn by_stream(topic: &str, count: usize) -> BTreeMap<String, Vec<String>> {
    let records = read_topic(topic, count + 1, Duration::from_secs(3));
    let mut streams: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in records {
        streams
            .entry(key)
            .or_default()
            .push(String::from_utf8(value).expect("UTF-8 line"));
    }
    streams
}

/// Compares delivered lines with written ones, naming the first difference instead of
/// printing thousands of lines.
fn assert_same_lines(delivered: &[String], written: &[String]) {
    let first_difference = delivered
        .iter()
        .zip(written)
        .position(|(delivered, written)| delivered != written);
    assert!(
        first_difference.is_none() && delivered.len() == written.len(),
        "{} lines delivered, {} written; first difference at {first_difference:?}: {:?} vs {:?}",
        delivered.len(),
        written.len(),
        first_difference.and_then(|at| delivered.get(at)),
        first_difference.and_then(|at| written.get(at)),
    );
}

/// logrotate's `copytruncate`: copy the file aside, then truncate it in place.
fn copytruncate(path: &Path, copy: &Path) {
    std::fs::copy(path, copy).unwrap();
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(0)
        .unwrap();
}

fn stream(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

fn canonical_tempdir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = std::fs::canonicalize(dir.path()).expect("canonical temp dir");
    (dir, path)
}

/// Every stored position is the end of its file: nothing is left unacknowledged.
fn assert_positions_at_file_ends(dir: &Path) {
    let positions = PositionsStore::new(dir.join("positions.json"))
        .load()
        .expect("positions readable")
        .expect("positions written");
    assert!(!positions.is_empty());
    for position in positions {
        let size = std::fs::metadata(&position.path)
            .expect("stored file exists")
            .len();
        assert_eq!(position.offset, size, "{position:?}");
    }
}

#[test]
fn rotation_and_truncation_deliver_each_line_exactly_once_in_order() {
    let (_keep, dir) = canonical_tempdir();
    let topic = unique("tail");
    let source = unique("tail-source");
    let config = config(&dir, &topic, &source, &["a.log", "a.log.*", "b.log"]);
    let (a_path, b_path) = (dir.join("a.log"), dir.join("b.log"));
    let mut a_expected = Vec::new();
    let mut b_expected = Vec::new();

    // Before the connector starts: an empty line and a CRLF ending, neither payload.
    let mut a = appender(&a_path);
    write_lines(&mut a, numbered("a", 0..50), &mut a_expected);
    a.write_all(b"\n").unwrap();
    a.write_all(b"a-crlf line\r\n").unwrap();
    a_expected.push("a-crlf line".into());
    write_lines(&mut a, numbered("a", 50..100), &mut a_expected);
    let mut b = appender(&b_path);
    write_lines(&mut b, numbered("b", 0..50), &mut b_expected);
    // Longer than max_line_bytes (4096): cut twice, nothing dropped.
    let long: String = (0..10_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    b.write_all(format!("{long}\n").as_bytes()).unwrap();
    b_expected.extend([&long[..4096], &long[4096..8192], &long[8192..]].map(String::from));

    let connector = Connector::start(&config);
    // While it runs: more lines, and a partial line completed later.
    write_lines(&mut a, numbered("a", 100..200), &mut a_expected);
    a.write_all(b"a-0200 par").unwrap();
    write_lines(&mut b, numbered("b", 50..100), &mut b_expected);
    wait_for(&topic, a_expected.len() + b_expected.len());
    // Several polls see the partial line; it must wait for its newline.
    std::thread::sleep(Duration::from_millis(300));
    a.write_all(b"tial\n").unwrap();
    a_expected.push("a-0200 partial".into());

    // logrotate `create`: rename, the writer still appends to the renamed file (and
    // leaves a last line without newline), then the new file appears at the path.
    std::fs::rename(&a_path, dir.join("a.log.1")).unwrap();
    write_lines(&mut a, numbered("a", 201..250), &mut a_expected);
    a.write_all(b"a-0250 last words").unwrap();
    a_expected.push("a-0250 last words".into());
    let mut a = appender(&a_path);
    write_lines(&mut a, numbered("a", 300..400), &mut a_expected);

    // logrotate `copytruncate`, once the connector has caught up (lines written between
    // the copy and the truncation are lost by design of copytruncate).
    wait_for(&topic, a_expected.len() + b_expected.len());
    copytruncate(&b_path, &dir.join("b.log.1"));
    write_lines(&mut b, numbered("b", 100..150), &mut b_expected);
    wait_for(&topic, a_expected.len() + b_expected.len());
    // Truncated and at once refilled past the old offset: only the changed first bytes
    // can tell.
    copytruncate(&b_path, &dir.join("b.log.2"));
    write_lines(&mut b, numbered("b", 150..350), &mut b_expected);

    let total = a_expected.len() + b_expected.len();
    wait_for(&topic, total);
    let streams = by_stream(&topic, total);
    let (summary, metrics) = connector.stop();

    assert_eq!(
        streams.keys().collect::<Vec<_>>(),
        [&stream(&dir, "a.log"), &stream(&dir, "b.log")]
    );
    assert_same_lines(&streams[&stream(&dir, "a.log")], &a_expected);
    assert_same_lines(&streams[&stream(&dir, "b.log")], &b_expected);
    assert_eq!(summary.records, total as u64);
    let counted = metrics.source(&source);
    assert_eq!(counted.rotations.get(), 1);
    assert_eq!(counted.truncations.get(), 2);
    assert_eq!(counted.split.get(), 2);
    // a.log.1 (rotated, still matched by a glob), a.log and b.log.
    assert_eq!(counted.watched.get(), 3);
    assert_eq!(summary.files, 3);
    assert_eq!(
        metrics.connector().source("file", &source).records.get(),
        total as u64
    );
    assert_positions_at_file_ends(&dir);
}

#[test]
fn a_graceful_restart_mid_stream_repeats_and_loses_nothing() {
    let (_keep, dir) = canonical_tempdir();
    let topic = unique("tail-restart");
    let source = unique("tail-restart-source");
    let config = config(&dir, &topic, &source, &["app.log", "app.log.*"]);
    let path = dir.join("app.log");
    let mut expected = Vec::new();
    let mut app = appender(&path);
    write_lines(&mut app, numbered("x", 0..100), &mut expected);

    // The writer keeps going, at its own pace, while the connector stops and starts: it
    // rotates once and leaves lines half-written between its writes.
    // The writer keeps going, at its own pace, while the connector stops and starts: it
    // leaves lines half-written between its writes, and once the connector has stopped
    // it rotates the file; it ends some lines after the restart.
    let stopped = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let writer = {
        let (dir, path) = (dir.clone(), path.clone());
        let (stopped, restarted) = (Arc::clone(&stopped), Arc::clone(&restarted));
        std::thread::spawn(move || {
            let mut written = Vec::new();
            let mut index = 100u32;
            let mut rotate_at = None;
            let mut end_at = None;
            while end_at.is_none_or(|end| index < end) {
                if rotate_at.is_none() && stopped.load(Ordering::Acquire) {
                    rotate_at = Some(index + 50);
                }
                if end_at.is_none() && restarted.load(Ordering::Acquire) {
                    end_at = Some(index + 300);
                }
                if rotate_at == Some(index) {
                    std::fs::rename(&path, dir.join("app.log.1")).unwrap();
                    write_lines(&mut app, numbered("x", index..index + 10), &mut written);
                    app = appender(&path);
                    index += 10;
                }
                let line = format!("x-{index:04} some payload");
                let (head, tail) = line.split_at(7);
                app.write_all(head.as_bytes()).unwrap();
                if index.is_multiple_of(50) {
                    std::thread::sleep(Duration::from_millis(2));
                }
                app.write_all(format!("{tail}\n").as_bytes()).unwrap();
                written.push(line);
                if index.is_multiple_of(10) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                index += 1;
            }
            written
        })
    };

    let first = Connector::start(&config);
    wait_for(&topic, 300);
    let (first_summary, _) = first.stop();
    stopped.store(true, Ordering::Release);
    // Lines keep coming while no connector runs.
    std::thread::sleep(Duration::from_millis(300));
    let second = Connector::start(&config);
    restarted.store(true, Ordering::Release);
    expected.extend(writer.join().expect("writer"));
    let total = expected.len();
    wait_for(&topic, total);
    let streams = by_stream(&topic, total);
    let (second_summary, _) = second.stop();

    assert_eq!(
        streams.keys().collect::<Vec<_>>(),
        [&stream(&dir, "app.log")]
    );
    assert_same_lines(&streams[&stream(&dir, "app.log")], &expected);
    assert!(first_summary.records >= 300, "{first_summary:?}");
    assert!(
        first_summary.records < total as u64 - 100,
        "{first_summary:?}"
    );
    assert_eq!(
        first_summary.records + second_summary.records,
        total as u64,
        "{first_summary:?} {second_summary:?}"
    );
    assert_positions_at_file_ends(&dir);
}

#[test]
fn start_at_end_skips_old_lines_and_a_replaced_file_is_read_from_its_start() {
    let (_keep, dir) = canonical_tempdir();
    let topic = unique("tail-replace");
    let source = unique("tail-replace-source");
    let mut config = config(&dir, &topic, &source, &["x.log"]);
    config.start_at = StartAt::End;
    let path = dir.join("x.log");
    let mut x = appender(&path);
    write_lines(&mut x, numbered("old", 0..20), &mut Vec::new());
    // A line being written at start-up is delivered whole.
    x.write_all(b"old-partial").unwrap();
    let mut expected = vec!["old-partial completed".to_owned()];

    let first = Connector::start(&config);
    std::thread::sleep(Duration::from_millis(300));
    x.write_all(b" completed\n").unwrap();
    write_lines(&mut x, numbered("new", 0..10), &mut expected);
    wait_for(&topic, expected.len());
    first.stop();

    // While stopped, the file is deleted and another one created at its path (on most
    // filesystems with the freed inode): its lines are new, whatever `start_at` says.
    let inode =
        |path: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap());
    let old_inode = inode(&path);
    drop(x);
    std::fs::remove_file(&path).unwrap();
    let mut x = appender(&path);
    write_lines(&mut x, numbered("re", 0..30), &mut expected);
    eprintln!("inode reused: {}", inode(&path) == old_inode);

    let second = Connector::start(&config);
    wait_for(&topic, expected.len());
    let streams = by_stream(&topic, expected.len());
    second.stop();
    assert_same_lines(&streams[&stream(&dir, "x.log")], &expected);
    assert_positions_at_file_ends(&dir);
}

/// The `corvid` binary, killed with SIGKILL mid-stream and started again, delivers every
/// line at least once: what it repeats is one contiguous stretch after its last stored
/// position, and nothing is lost or reordered. The restarted one serves its metrics and
/// stops on SIGTERM with success.
#[test]
fn the_binary_killed_mid_stream_loses_nothing() {
    let (_keep, dir) = canonical_tempdir();
    let topic = unique("tail-kill");
    let source = unique("tail-kill-source");
    let path = dir.join("app.log");
    let config_path = dir.join("connect-file.yaml");
    let write_config = |listen: &str| {
        let text = format!(
            "files:
  - paths: [{:?}]
    source: {{id: {source}, log_types: [Syslog.RFC5424]}}
positions: {:?}
poll_interval_ms: 50
positions_interval_ms: 200
kafka: {{brokers: {:?}, topic: {topic}, partitions: 1}}
metrics: {{listen: {listen:?}}}
",
            path.to_string_lossy(),
            dir.join("positions.json").to_string_lossy(),
            brokers(),
        );
        std::fs::write(&config_path, text).expect("write config");
    };
    let config_arg = config_path.to_string_lossy().into_owned();
    let mut app = appender(&path);
    let mut written = Vec::new();
    write_lines(&mut app, numbered("k", 0..200), &mut written);
    // The writer goes on until some time after the restart.
    let restarted = Arc::new(AtomicBool::new(false));
    let writer = {
        let restarted = Arc::clone(&restarted);
        std::thread::spawn(move || {
            let mut more = Vec::new();
            let mut chunk = 10u32;
            let mut end_at = None;
            while end_at.is_none_or(|end| chunk < end) {
                if end_at.is_none() && restarted.load(Ordering::Acquire) {
                    end_at = Some(chunk + 20);
                }
                write_lines(
                    &mut app,
                    numbered("k", chunk * 20..chunk * 20 + 20),
                    &mut more,
                );
                std::thread::sleep(Duration::from_millis(20));
                chunk += 1;
            }
            more
        })
    };

    write_config(&common::free_listen_address());
    let first = common::Running::start(&["connect", "file", "--config", &config_arg]);
    wait_for(&topic, 600);
    drop(first); // SIGKILL

    let listen = common::free_listen_address();
    write_config(&listen);
    let second = common::Running::start(&["connect", "file", "--config", &config_arg]);
    restarted.store(true, Ordering::Release);
    written.extend(writer.join().expect("writer"));
    // Caught up once the stored position is the end of the file.
    let size = std::fs::metadata(&path).unwrap().len();
    let deadline = std::time::Instant::now() + WAIT;
    let caught_up = || {
        PositionsStore::new(dir.join("positions.json"))
            .load()
            .ok()
            .flatten()
            .is_some_and(|positions| positions.iter().any(|p| p.offset == size))
    };
    while !caught_up() {
        assert!(
            std::time::Instant::now() < deadline,
            "no position reached the end of the file\n{}",
            second.stderr_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let labels = [("source", source.as_str())];
    let exposition = common::scrape(&listen).unwrap_or_default();
    assert_eq!(
        common::sample(&exposition, "corvid_file_tail_files_watched", &labels),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        common::sample(
            &exposition,
            "corvid_build_info",
            &[("component", "connect-file")]
        ),
        Some(1.0),
        "{exposition}"
    );
    let (stopped, stderr) = second.terminate();
    assert!(stopped, "SIGTERM did not end it with success:\n{stderr}");

    let delivered: Vec<String> = read_topic(&topic, usize::MAX, Duration::from_secs(5))
        .into_iter()
        .map(|(_, value)| String::from_utf8(value).expect("UTF-8 line"))
        .collect();
    // delivered = written[..k] ++ written[j..] with j <= k: one replayed stretch.
    let k = delivered
        .iter()
        .zip(&written)
        .take_while(|(delivered, written)| delivered == written)
        .count();
    if k < delivered.len() {
        let j = written
            .iter()
            .position(|line| *line == delivered[k])
            .expect("a delivered line was written");
        assert!(j <= k, "lines {k}..{j} were lost");
        assert_same_lines(&delivered[k..], &written[j..]);
        eprintln!("{} lines repeated after the kill", k - j);
    } else {
        assert_same_lines(&delivered, &written);
    }
}

#[test]
fn a_bad_config_fails_at_start_naming_the_key() {
    let (_keep, dir) = canonical_tempdir();
    let config_path = dir.join("connect-file.yaml");
    std::fs::write(
        &config_path,
        "files:\n  - paths: [logs/*.log]\n    source: {id: app, log_types: [Syslog.RFC5424]}\npositions: /tmp/p.json\n",
    )
    .unwrap();
    let output = std::process::Command::new(common::corvid_binary())
        .args(["connect", "file", "--config"])
        .arg(&config_path)
        .output()
        .expect("run corvid");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("files[0].paths[0]: \"logs/*.log\" must be an absolute path"),
        "{stderr}"
    );
}
