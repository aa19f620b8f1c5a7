//! Rescaling through a checkpoint on real Kafka: two processes killed after a checkpoint
//! and restarted as one, and one process restarted as two, finish with exactly the
//! alerts and lake rows of an uninterrupted run. Keyed state moves by virtual shard,
//! partition state with the partition's new owner.
//!
//! Needs the `failpoints` feature (`make test` and `.ci/run` turn it on).

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use common::{alert_versions, corvid, lake_row_ids, unique, write_busy_rules};

const EVENTS: &str = "30000";

struct Input {
    raw: String,
    rules: PathBuf,
    dir: tempfile::TempDir,
}

fn input() -> &'static Input {
    static INPUT: OnceLock<Input> = OnceLock::new();
    INPUT.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let rules = write_busy_rules(dir.path());
        let raw = format!("{}.raw", unique("rescale"));
        let config = write_config(dir.path(), "produce", &raw, &rules);
        // Two batches with a pause between them: their Kafka timestamps (hence epochs)
        // span several checkpoint intervals however fast the machine produces, so a
        // run always has a checkpoint to be killed at with input left after it.
        common::produce_scenario(&config, "2026-11-27", EVENTS);
        std::thread::sleep(std::time::Duration::from_millis(1500));
        common::produce_scenario(&config, "2026-11-27", EVENTS);
        Input { raw, rules, dir }
    })
}

fn write_config(dir: &Path, run: &str, raw: &str, rules: &Path) -> PathBuf {
    let setup = common::CheckpointRun {
        raw,
        rules,
        workers: 1,
        epoch_ms: 100,
        interval_secs: 0.2,
    };
    common::write_checkpoint_config(dir, run, &setup)
}

/// Two free local ports as a hostfile.
fn hostfile(dir: &Path) -> PathBuf {
    let ports: Vec<u16> = (0..2)
        .map(|_| {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("free port")
        })
        .collect();
    let path = dir.join(format!("hosts-{}", unique("h")));
    std::fs::write(
        &path,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .expect("hostfile");
    path
}

/// Starts the engine as `processes` processes; process 0 dies at `crash_at`.
fn start(config: &Path, processes: usize, crash_at: Option<&str>) -> Vec<Child> {
    let hosts = (processes > 1).then(|| hostfile(config.parent().expect("dir")));
    (0..processes)
        .map(|process| {
            let mut command: Command = corvid();
            command
                .args(["run", "--stop-at-end", "-w", "1", "--config"])
                .arg(config)
                .env("RUST_LOG", "warn,corvid_engine::dataflow=info")
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if let Some(hosts) = &hosts {
                command
                    .args(["-n", &processes.to_string(), "-p", &process.to_string()])
                    .arg("--hostfile")
                    .arg(hosts);
            }
            if let (0, Some(point)) = (process, crash_at) {
                command.env("CORVID_CRASH_AT", point);
            }
            command.spawn().expect("start corvid run")
        })
        .collect()
}

/// Waits for every process; returns whether each succeeded, and process 0's log.
fn wait(children: Vec<Child>) -> (Vec<std::process::ExitStatus>, String) {
    let mut statuses = Vec::new();
    let mut log = String::new();
    for (index, child) in children.into_iter().enumerate() {
        let output = child.wait_with_output().expect("wait for corvid");
        if index == 0 {
            log = String::from_utf8_lossy(&output.stderr).into_owned();
        }
        statuses.push(output.status);
    }
    (statuses, log)
}

type Output = (
    Vec<(String, u64)>,
    std::collections::BTreeMap<(String, String), usize>,
);

fn output(run: &str, dir: &Path, at_least: usize) -> Output {
    (
        alert_versions(&format!("{run}.alerts"), at_least),
        lake_row_ids(&dir.join(format!("{run}-state")).join("lake")),
    )
}

fn reference() -> &'static Output {
    static REFERENCE: OnceLock<Output> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let input = input();
        let run = unique("rescale-ref");
        let config = write_config(input.dir.path(), &run, &input.raw, &input.rules);
        let (statuses, log) = wait(start(&config, 1, None));
        assert!(
            statuses.iter().all(|s| s.success()),
            "reference run:\n{log}"
        );
        let result = output(&run, input.dir.path(), 1);
        assert!(
            result.0.len() >= 5,
            "too few alert versions: {:?}",
            result.0
        );
        assert!(result.1.len() >= 30_000, "{} lake rows", result.1.len());
        result
    })
}

/// Runs as `before` processes until process 0 is killed after its `nth` manifest, then
/// finishes as `after` processes.
fn rescale(before: usize, after: usize, nth: u32) {
    let expected = reference();
    let input = input();
    let run = unique(&format!("rescale-{before}-{after}"));
    let config = write_config(input.dir.path(), &run, &input.raw, &input.rules);
    let (statuses, log) = wait(start(
        &config,
        before,
        Some(&format!("after_manifest_before_commit:{nth}")),
    ));
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        statuses[0].signal(),
        Some(9),
        "process 0 was not killed:\n{log}"
    );
    let (statuses, log) = wait(start(&config, after, None));
    assert!(
        statuses.iter().all(|s| s.success()),
        "restart as {after}:\n{log}"
    );
    let restored = log
        .lines()
        .find(|line| line.contains("restoring from checkpoint"))
        .unwrap_or_else(|| panic!("the restart did not restore a checkpoint:\n{log}"));
    let summary = log
        .lines()
        .find(|line| line.contains("engine stopped:"))
        .unwrap_or_default();
    println!("{before} → {after} processes: {restored}; process 0: {summary}");
    assert!(
        restored.contains(&format!("workers={before}")),
        "{restored}"
    );
    let (alerts, rows) = output(&run, input.dir.path(), expected.0.len());
    let doubled: Vec<_> = rows.iter().filter(|(_, n)| **n > 1).take(5).collect();
    if let Some(((_, row), _)) = doubled.first() {
        let lake = input.dir.path().join(format!("{run}-state")).join("lake");
        panic!(
            "{} rows in the lake more than once, e.g. {doubled:?}; {row} is in {:#?}\nrestart log:\n{log}",
            rows.values().filter(|n| **n > 1).count(),
            common::files_holding_row(&lake, row)
        );
    }
    assert!(
        rows.keys().eq(expected.1.keys()),
        "lake rows differ ({} vs {})",
        rows.len(),
        expected.1.len()
    );
    assert_eq!(&alerts, &expected.0, "alert versions differ");
}

#[cfg(feature = "failpoints")]
mod fail_points {
    #[test]
    fn two_processes_restart_as_one() {
        super::rescale(2, 1, 2);
    }

    #[test]
    fn one_process_restarts_as_two() {
        super::rescale(1, 2, 2);
    }
}
