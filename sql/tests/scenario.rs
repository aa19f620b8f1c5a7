//! The whole story end to end: the intrusion scenario produced to real Kafka, `corvid run`
//! writing the lake (a directory, then the S3-compatible server), and the investigation
//! answered through `corvid-query` with the queries an analyst writes for Athena; the
//! engine's own Parquet files read by pyarrow and by DuckDB with the generated DDL.
//!
//! Needs the `corvid` binary: the one `cargo test --workspace` builds next to
//! `corvid-query`, else `CORVID_BIN`, else it is built here.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{corvid_query, json_rows, repo_root, venv_python};
use serde_json::Value;

const DATE: &str = "2026-11-27";
const DAY: &str = "month=11 AND day=27";

fn corvid() -> PathBuf {
    common::corvid_binary()
}

fn brokers() -> String {
    std::env::var("CORVID_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

fn run_ok(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes the engine config, produces the scenario and runs the engine over it.
fn pipeline(dir: &Path, lake_section: &str) -> PathBuf {
    let run = unique("it-sql");
    let config = dir.join("corvid.yml");
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: {}\ntopics:\n  raw: {run}.raw\n  alerts: {run}.alerts\n  dead_letters: {run}.dead\n  rule_errors: {run}.rule-errors\n  rule_matches: {run}.rule-matches\n  partitions: 3\nrules_dir: {}\nstate_dir: {}\nworkers: 2\nepoch_ms: 200\n{lake_section}",
            brokers(),
            repo_root().join("rules").display(),
            dir.join("data").display()
        ),
    )
    .expect("write config");
    run_ok(
        Command::new(corvid())
            .args([
                "loadtest",
                "scenario",
                "intrusion",
                "--date",
                DATE,
                "--events",
                "2000",
            ])
            .arg("--config")
            .arg(&config),
        "corvid loadtest scenario",
    );
    run_ok(
        Command::new(corvid())
            .args(["run", "--stop-at-end", "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn"),
        "corvid run",
    );
    config
}

fn query(config: &Path, sql: &str) -> Vec<Value> {
    let output = corvid_query([
        "--config",
        &config.display().to_string(),
        "--format",
        "json",
        sql,
    ]);
    assert!(
        output.status.success(),
        "corvid-query failed on {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    json_rows(&String::from_utf8_lossy(&output.stdout))
}

/// The four investigation answers of issue 6.
fn investigate(config: &Path) {
    let types: BTreeSet<String> = query(
        config,
        &format!("SELECT DISTINCT p_log_type FROM panther_views.all_logs WHERE contains(p_any_ip_addresses, '136.24.229.194') AND {DAY}"),
    )
    .iter()
    .filter_map(|row| row["p_log_type"].as_str().map(str::to_owned))
    .collect();
    assert!(
        types.contains("Osquery.Differential") && types.contains("AWS.VPCFlow"),
        "{types:?}"
    );
    assert!(types
        .iter()
        .all(|t| ["Osquery.Differential", "AWS.VPCFlow", "AWS.CloudTrail"].contains(&t.as_str())));

    let logins = query(
        config,
        &format!("SELECT instanceid, COUNT(*) AS login_count FROM panther_logs.aws_vpcflow WHERE srcaddr='136.24.229.194' AND dstport=22 AND {DAY} GROUP BY instanceid ORDER BY login_count DESC"),
    );
    assert_eq!(logins[0]["instanceid"], "i-016e2cb69ac58c2d5", "{logins:?}");
    assert_eq!(logins.len(), 1);

    let calls = query(
        config,
        &format!("SELECT eventname, COUNT(*) AS event_count FROM panther_logs.aws_cloudtrail WHERE sourceipaddress='54.164.105.138' AND {DAY} AND errormessage IS NULL GROUP BY eventname ORDER BY event_count DESC"),
    );
    let names: BTreeSet<&str> = calls
        .iter()
        .filter_map(|r| r["eventname"].as_str())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "DescribeTrails",
            "GetCallerIdentity",
            "GetRole",
            "ListBuckets",
            "ListUsers"
        ]),
        "{calls:?}"
    );

    let matches = query(
        config,
        &format!("SELECT p_rule_id, p_alert_id, hostidentifier FROM panther_rule_matches.osquery_differential WHERE {DAY}"),
    );
    assert_eq!(matches.len(), 1, "{matches:?}");
    assert_eq!(matches[0]["p_rule_id"], "Osquery.OutsideOfficeLogin");
    assert_eq!(matches[0]["hostidentifier"], "ip-172-31-84-73");
    assert_eq!(matches[0]["p_alert_id"].as_str().map(str::len), Some(32));
}

#[test]
fn the_intrusion_is_investigated_with_sql_over_the_engines_local_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let config = pipeline(dir.path(), &format!("lake:\n  url: {}\n", lake.display()));
    investigate(&config);

    // The engine's files as other tools read them: pyarrow opens every file, DuckDB runs
    // the generated DDL and answers the first query like corvid-query.
    let ddl = dir.path().join("duckdb.sql");
    let text = run_ok(
        Command::new(env!("CARGO_BIN_EXE_corvid-query"))
            .arg("--lake")
            .arg(&lake)
            .args(["ddl", "--dialect", "duckdb"]),
        "corvid-query ddl",
    );
    std::fs::write(&ddl, text).expect("write ddl");
    let out = run_ok(
        Command::new(venv_python())
            .arg(repo_root().join("sql/tests/engine_lake.py"))
            .arg("--root")
            .arg(&lake)
            .arg("--ddl")
            .arg(&ddl),
        "engine_lake.py",
    );
    assert!(
        out.contains("duckdb log types: AWS.VPCFlow,Osquery.Differential")
            || out.contains("duckdb log types: AWS.CloudTrail,AWS.VPCFlow,Osquery.Differential"),
        "{out}"
    );
    assert!(out.contains("pyarrow files:"), "{out}");
}

#[test]
fn the_same_pipeline_writes_to_and_queries_from_the_s3_compatible_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint =
        std::env::var("CORVID_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    let prefix = unique("sql-e2e");
    let config = pipeline(
        dir.path(),
        &format!("lake:\n  url: s3://corvid-lake/{prefix}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: corvid\n  secret_access_key: corvid-secret\n  allow_http: true\n"),
    );
    investigate(&config);
}
