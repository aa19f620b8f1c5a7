//! Crash recovery on real Kafka: a fixed input of 200,000 mixed events with planted
//! detections runs once uninterrupted, and once with the engine killed (SIGKILL) at each
//! fail point in turn, restarted after every kill. Afterwards the alerts topic, read with
//! `read_committed`, holds exactly the alert versions of the uninterrupted run, and the
//! lake holds each `p_row_id` exactly once.
//!
//! Needs the `failpoints` feature (`make test` and `.ci/run` turn it on).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use common::{alert_versions, corvid, lake_row_ids, unique, write_busy_rules};

const EVENTS: &str = "200000";
const DATE: &str = "2026-11-27";

struct Input {
    raw: String,
    rules: PathBuf,
    _dir: tempfile::TempDir,
}

/// The shared input: produced once for every test of this file.
fn input() -> &'static Input {
    static INPUT: OnceLock<Input> = OnceLock::new();
    INPUT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = write_busy_rules(dir.path());
        let raw = format!("{}.raw", unique("crash"));
        let config = write_config(dir.path(), "produce", &raw, &rules);
        common::produce_scenario(&config, DATE, EVENTS);
        Input {
            raw,
            rules,
            _dir: dir,
        }
    })
}

fn write_config(dir: &Path, run: &str, raw: &str, rules: &Path) -> PathBuf {
    let setup = common::CheckpointRun {
        raw,
        rules,
        workers: 2,
        epoch_ms: 50,
        interval_secs: 0.15,
    };
    common::write_checkpoint_config(dir, run, &setup)
}

/// What a run leaves: the alert versions and the lake's rows.
#[derive(Debug, PartialEq)]
struct Output {
    /// (alert id, event count), sorted; a duplicate version shows up twice.
    alerts: Vec<(String, u64)>,
    /// (table dir, p_row_id) → how many times it is in the lake.
    rows: BTreeMap<(String, String), usize>,
}

fn engine(config: &Path, crash_at: Option<&str>) -> Command {
    let mut command = corvid();
    command
        .args(["run", "--stop-at-end", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn,corvid_engine::dataflow=info");
    if let Some(point) = crash_at {
        command.env("CORVID_CRASH_AT", point);
    }
    command
}

fn read_output(run: &str, state: &Path, expect_alerts: Option<usize>) -> Output {
    Output {
        alerts: alert_versions(&format!("{run}.alerts"), expect_alerts.unwrap_or(1)),
        rows: lake_row_ids(&state.join("lake")),
    }
}

/// The uninterrupted run, once for all tests.
fn reference() -> &'static Output {
    static REFERENCE: OnceLock<(Output, tempfile::TempDir)> = OnceLock::new();
    &REFERENCE
        .get_or_init(|| {
            let input = input();
            let dir = tempfile::tempdir().expect("tempdir");
            let run = unique("crash-ref");
            let config = write_config(dir.path(), &run, &input.raw, &input.rules);
            let started = Instant::now();
            let output = engine(&config, None).output().expect("run the engine");
            assert!(
                output.status.success(),
                "reference run failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            println!("reference run: {:.1} s", started.elapsed().as_secs_f64());
            let result = read_output(&run, &dir.path().join(format!("{run}-state")), None);
            assert!(
                result.alerts.len() >= 10,
                "too few alert versions: {:?}",
                result.alerts
            );
            assert!(
                result.rows.len() >= 200_000,
                "{} lake rows",
                result.rows.len()
            );
            (result, dir)
        })
        .0
}

/// One engine killed at each fail point in turn (restarted after each kill), then
/// run to the end; compared with the uninterrupted run.
#[cfg(feature = "failpoints")]
#[test]
fn killed_at_every_fail_point_in_turn_it_ends_like_an_uninterrupted_run() {
    use std::os::unix::process::ExitStatusExt;
    // Each run is killed at the n-th pass of its point, counted from its own start. The
    // rarest point (an alerts transaction: one per epoch with alert updates) goes first,
    // while the whole input is ahead; the others recur at every checkpoint.
    const CRASHES: &[(&str, u32)] = &[
        ("in_alerts_transaction", 3),
        ("after_state_written", 4),
        ("after_manifest_before_commit", 1),
        ("after_lake_file", 10),
    ];
    let expected = reference();
    let input = input();
    let dir = tempfile::tempdir().expect("tempdir");
    let run = unique("crash");
    let config = write_config(dir.path(), &run, &input.raw, &input.rules);
    for (point, nth) in CRASHES {
        let started = Instant::now();
        let crashed = engine(&config, Some(&format!("{point}:{nth}")))
            .output()
            .expect("run the engine");
        let log = String::from_utf8_lossy(&crashed.stderr);
        assert_eq!(
            crashed.status.signal(),
            Some(9),
            "the engine was not killed at {point}:{nth} ({}):\n{log}",
            crashed.status
        );
        let restored = log
            .lines()
            .find(|line| line.contains("restoring from checkpoint"))
            .unwrap_or("no checkpoint yet");
        println!(
            "killed at {point}:{nth} after {:.1} s (that run: {restored})",
            started.elapsed().as_secs_f64()
        );
    }
    let started = Instant::now();
    let last = engine(&config, None).output().expect("restart the engine");
    let log = String::from_utf8_lossy(&last.stderr);
    assert!(last.status.success(), "the last restart failed:\n{log}");
    let restored = log
        .lines()
        .find(|line| line.contains("restoring from checkpoint"))
        .unwrap_or_default();
    let summary = log
        .lines()
        .find(|line| line.contains("engine stopped:"))
        .unwrap_or_default();
    println!(
        "last restart: {:.1} s; {restored}; {summary}",
        started.elapsed().as_secs_f64()
    );
    let got = read_output(
        &run,
        &dir.path().join(format!("{run}-state")),
        Some(expected.alerts.len()),
    );
    let doubled: Vec<_> = got.rows.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        doubled.is_empty(),
        "rows in the lake more than once: {doubled:?}"
    );
    assert_eq!(got.rows.len(), expected.rows.len(), "lake rows");
    assert!(got.rows.keys().eq(expected.rows.keys()), "lake rows differ");
    assert_eq!(got.alerts, expected.alerts, "alert versions differ");
}

#[cfg(not(feature = "failpoints"))]
#[test]
fn the_crash_tests_need_the_failpoints_feature() {
    panic!(
        "build with `--features corvid-engine/failpoints` (make test and .ci/run do) to run the crash tests"
    );
}
