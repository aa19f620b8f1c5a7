//! Cluster mode on real Kafka: the same raw input through one process and through two
//! (`-n 2`, a hostfile of two local ports) gives the same alerts and the same lake rows,
//! because the dataflow distributes work by global worker index only. Each run has its
//! own alerts/events/rule topics, state dir and lake; the raw topic is shared.
//!
//! `CORVID_CLUSTER_EVENTS` sets the scenario's background events (default 3000), for a
//! bigger comparison by hand; the wall times and the events/s ratio are printed.

mod common;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{corvid, summary, unique, write_config, Summary, TopicReader};

const DATE: &str = "2026-11-27";
/// Longest one engine run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// One engine's own topics and state, reading the shared raw topic.
struct Setup {
    dir: PathBuf,
    run: String,
    config: PathBuf,
}

impl Setup {
    fn new(parent: &Path, name: &str, raw: &str, rules: &Path) -> Setup {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).expect("run dir");
        let run = unique(&format!("it-cluster-{name}"));
        let config = write_config(&dir, &run, Some(rules), "");
        let text = std::fs::read_to_string(&config).expect("config");
        // The same raw topic for every run; four partitions so two processes each own some.
        let text = text
            .replace(&format!("raw: {run}.raw"), &format!("raw: {raw}"))
            .replace("partitions: 3", "partitions: 4");
        std::fs::write(&config, text).expect("config");
        Setup { dir, run, config }
    }

    fn lake(&self) -> PathBuf {
        self.dir.join("data").join("lake")
    }
}

/// The repository's rules plus `Test.ClusterSpread`: every event matches, deduplicated by
/// log type and a field with many values, so alerts come from every worker's dedup keys
/// and cross to worker 0 from the other process, with an `alert_context` (JSON values).
fn rules(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    copy_dir(&common::repo_root().join("rules"), &rules);
    std::fs::write(
        rules.join("test_cluster_spread.yml"),
        "AnalysisType: rule\nRuleID: Test.ClusterSpread\nFilename: test_cluster_spread.py\nEnabled: true\n\
         LogTypes: [AWS.VPCFlow, AWS.CloudTrail, Osquery.Differential]\nSeverity: Low\nDedupPeriodMinutes: 60\n",
    )
    .expect("rule yaml");
    std::fs::write(
        rules.join("test_cluster_spread.py"),
        "def key(event):\n    for field in ('dstport', 'eventName', 'hostIdentifier'):\n        if event.get(field) is not None:\n            return str(event.get(field))\n    return '-'\n\n\
         def rule(event):\n    return True\n\n\
         def dedup(event):\n    return f\"{event.get('p_log_type')}:{key(event)}\"\n\n\
         def alert_context(event):\n    return {'log_type': event.get('p_log_type'), 'key': key(event)}\n",
    )
    .expect("rule python");
    rules
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read rules") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy rule");
        }
    }
}

/// Two ports nothing listens on right now (both held while the second is found).
fn free_ports() -> [u16; 2] {
    let first = TcpListener::bind("127.0.0.1:0").expect("bind");
    let second = TcpListener::bind("127.0.0.1:0").expect("bind");
    [
        first.local_addr().expect("addr").port(),
        second.local_addr().expect("addr").port(),
    ]
}

/// Starts `corvid run --stop-at-end` with `args`, its stderr in `log`.
fn start(config: &Path, args: &[String], log: &Path) -> Child {
    corvid()
        .args(["run", "--stop-at-end", "--config"])
        .arg(config)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("start corvid run")
}

/// Waits for every child to exit successfully; returns the wall time from `started`.
fn wait_all(mut children: Vec<(Child, PathBuf)>, started: Instant) -> Duration {
    let deadline = started + RUN_LIMIT;
    let mut done = vec![false; children.len()];
    while done.iter().any(|d| !d) {
        for index in 0..children.len() {
            if done[index] {
                continue;
            }
            let Some(status) = children[index].0.try_wait().expect("poll engine") else {
                continue;
            };
            if !status.success() {
                for (other, _) in children.iter_mut() {
                    let _ = other.kill();
                }
                panic!(
                    "process {index} failed ({status}):\n{}",
                    std::fs::read_to_string(&children[index].1).unwrap_or_default()
                );
            }
            done[index] = true;
        }
        if Instant::now() > deadline {
            for (child, _) in children.iter_mut() {
                let _ = child.kill();
            }
            let logs: Vec<String> = children
                .iter()
                .map(|(_, log)| std::fs::read_to_string(log).unwrap_or_default())
                .collect();
            panic!("the engine did not finish in {RUN_LIMIT:?}; logs:\n{logs:#?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    started.elapsed()
}

/// (alertId, eventCount, dedupString, ruleId) of every committed alert record.
fn alerts(topic: &str, at_least: usize) -> BTreeSet<(String, u64, String, String)> {
    let mut reader = TopicReader::new(topic);
    reader.read_at_least(at_least.max(1));
    // The engine has exited: everything committed is there; a surplus would show now.
    reader.poll_for(Duration::from_secs(2));
    reader
        .alerts()
        .into_iter()
        .map(|(_, alert)| {
            (
                alert["alertId"].as_str().unwrap_or_default().to_owned(),
                alert["eventCount"].as_u64().unwrap_or_default(),
                alert["dedupString"].as_str().unwrap_or_default().to_owned(),
                alert["ruleId"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// (`logs`|`rules`, table, p_row_id) of every row under the lake's logs/ and rules/, sorted
/// (a multiset: a row written twice would show).
fn lake_rows(lake: &Path) -> Vec<(String, String)> {
    let mut rows = common::lake_values(lake, "p_row_id");
    rows.sort();
    rows
}

fn total(summaries: &[Summary]) -> (u64, u64, u64) {
    summaries.iter().fold((0, 0, 0), |(read, events, dead), s| {
        (read + s.read, events + s.events, dead + s.dead)
    })
}

#[test]
fn two_processes_give_the_same_alerts_and_lake_rows_as_one() {
    let root = tempfile::tempdir().expect("tempdir");
    let raw = format!("{}.raw", unique("it-cluster"));
    let rules = rules(root.path());
    let single = Setup::new(root.path(), "single", &raw, &rules);
    let pair = Setup::new(root.path(), "pair", &raw, &rules);
    let events = std::env::var("CORVID_CLUSTER_EVENTS").unwrap_or_else(|_| "3000".into());

    let produced = corvid()
        .args(["loadtest", "scenario", "intrusion", "--date", DATE])
        .args(["--events", &events, "--config"])
        .arg(&single.config)
        .output()
        .expect("run the scenario");
    assert!(
        produced.status.success(),
        "scenario: {}",
        String::from_utf8_lossy(&produced.stderr)
    );

    // (a) One process, one worker.
    let log = single.dir.join("engine.log");
    let started = Instant::now();
    let child = start(&single.config, &["-w".into(), "1".into()], &log);
    let single_time = wait_all(vec![(child, log.clone())], started);
    let single_summary = summary(&std::fs::read_to_string(&log).expect("log"));

    // (b) Two processes of one worker each, started together.
    let hostfile = pair.dir.join("hosts");
    let ports = free_ports();
    std::fs::write(
        &hostfile,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .expect("hostfile");
    let started = Instant::now();
    let children: Vec<(Child, PathBuf)> = (0..2)
        .map(|process| {
            let log = pair.dir.join(format!("engine-{process}.log"));
            let args: Vec<String> = ["-w", "1", "-n", "2", "-p", &process.to_string()]
                .into_iter()
                .map(str::to_owned)
                .chain(["--hostfile".to_owned(), hostfile.display().to_string()])
                .collect();
            (start(&pair.config, &args, &log), log)
        })
        .collect();
    let logs: Vec<PathBuf> = children.iter().map(|(_, log)| log.clone()).collect();
    let pair_time = wait_all(children, started);
    let pair_summaries: Vec<Summary> = logs
        .iter()
        .map(|log| summary(&std::fs::read_to_string(log).expect("log")))
        .collect();

    // Every record read once across the two processes, and each did a share.
    let (read, parsed_events, dead) = total(&pair_summaries);
    assert_eq!(
        (read, parsed_events, dead),
        (single_summary.read, single_summary.events, single_summary.dead),
        "records read, events, dead letters: 2 processes {pair_summaries:?} vs 1 {single_summary:?}"
    );
    assert!(
        pair_summaries.iter().all(|s| s.read > 0),
        "both processes own partitions: {pair_summaries:?}"
    );

    let single_alerts = alerts(&format!("{}.alerts", single.run), 1);
    let pair_alerts = alerts(&format!("{}.alerts", pair.run), single_alerts.len());
    let login = single_alerts
        .iter()
        .filter(|(_, _, _, rule)| rule == "Osquery.OutsideOfficeLogin")
        .count();
    assert!(login > 0, "the scenario's login alert: {single_alerts:?}");
    assert!(
        single_alerts.len() > 20,
        "Test.ClusterSpread raises many alerts: {single_alerts:?}"
    );
    assert_eq!(pair_alerts, single_alerts, "alerts: 2 processes vs 1");

    let single_rows = lake_rows(&single.lake());
    let pair_rows = lake_rows(&pair.lake());
    assert!(
        single_rows
            .iter()
            .any(|(table, _)| table.starts_with("logs/"))
            && single_rows
                .iter()
                .any(|(table, _)| table.starts_with("rules/")),
        "the lake has events and rule matches"
    );
    assert_eq!(
        single_rows
            .iter()
            .filter(|(table, _)| table.starts_with("logs/"))
            .count() as u64,
        single_summary.events,
        "every event once in logs/"
    );
    assert!(
        pair_rows == single_rows,
        "lake rows: 2 processes vs 1 differ"
    );

    let rate = |time: Duration| single_summary.events as f64 / time.as_secs_f64();
    println!(
        "cluster_pipeline: {} events, {} alert records, {} lake rows; 1 process: {:.2} s ({:.0} events/s); \
         2 processes: {:.2} s ({:.0} events/s); ratio 2/1: {:.2} (wall time includes start-up)",
        single_summary.events,
        single_alerts.len(),
        single_rows.len(),
        single_time.as_secs_f64(),
        rate(single_time),
        pair_time.as_secs_f64(),
        rate(pair_time),
        rate(pair_time) / rate(single_time)
    );
}

#[test]
fn bad_cluster_flags_fail_before_starting_naming_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostfile = dir.path().join("hosts");
    std::fs::write(&hostfile, "127.0.0.1:2101\n").expect("hostfile");
    let hostfile = hostfile.display().to_string();
    let cases: [(&[&str], &str); 4] = [
        (
            &["-n", "2", "-p", "2", "--hostfile", &hostfile],
            "-p/--process 2",
        ),
        (
            &["-n", "2", "-p", "1", "--hostfile", &hostfile],
            "1 host:port line(s), -n/--processes needs 2",
        ),
        (
            &["--hostfile", &hostfile, "--peers-dns", "engine:2101"],
            "--hostfile and --peers-dns",
        ),
        (&["-n", "3"], "give --hostfile or --peers-dns"),
    ];
    for (args, expected) in cases {
        let output = corvid().arg("run").args(args).output().expect("run corvid");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} accepted");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
