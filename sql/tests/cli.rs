//! `corvid-query` as an analyst runs it: Athena-style investigation queries on a fixture
//! lake, the output formats, the engine config, DDL, and errors.

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

use common::{corvid_query, fixture_lake, json_rows, query_ok};

const BY_IP: &str = "SELECT DISTINCT p_log_type FROM panther_views.all_logs WHERE contains(p_any_ip_addresses, '136.24.229.194') AND month=11 AND day=27";
const SSH_LOGINS: &str = "SELECT instanceid, COUNT(*) AS login_count FROM panther_logs.aws_vpcflow WHERE srcaddr='136.24.229.194' AND dstport=22 AND month=11 AND day=27 GROUP BY instanceid ORDER BY login_count DESC";
const CALLS: &str = "SELECT eventname, COUNT(*) AS event_count FROM panther_logs.aws_cloudtrail WHERE sourceipaddress='54.164.105.138' AND month=11 AND day=27 AND errormessage IS NULL GROUP BY eventname ORDER BY event_count DESC";

#[test]
fn investigation_queries_answer_as_in_athena() {
    let lake = fixture_lake();
    let mut types: Vec<Value> = json_rows(&query_ok(&lake.root, "json", BY_IP));
    types.sort_by_key(|v| v.to_string());
    assert_eq!(
        types,
        vec![
            json!({"p_log_type": "AWS.VPCFlow"}),
            json!({"p_log_type": "Osquery.Differential"})
        ]
    );
    assert_eq!(
        json_rows(&query_ok(&lake.root, "json", SSH_LOGINS)),
        vec![
            json!({"instanceid": "i-0a1b2c3d4e5f60001", "login_count": 3}),
            json!({"instanceid": "i-0a1b2c3d4e5f60002", "login_count": 1}),
        ]
    );
    assert_eq!(
        json_rows(&query_ok(&lake.root, "json", CALLS)),
        vec![
            json!({"eventname": "DescribeInstances", "event_count": 3}),
            json!({"eventname": "AssumeRole", "event_count": 2}),
            json!({"eventname": "ListBuckets", "event_count": 1}),
        ]
    );
    // Without the day the other day's rows count too: the filter is what prunes.
    let all_days = json_rows(&query_ok(
        &lake.root,
        "json",
        &SSH_LOGINS.replace(" AND day=27", ""),
    ));
    assert_eq!(
        all_days[0],
        json!({"instanceid": "i-0a1b2c3d4e5f60003", "login_count": 5})
    );
}

#[test]
fn results_print_as_a_table_json_lines_or_csv() {
    let lake = fixture_lake();
    let table = query_ok(&lake.root, "table", SSH_LOGINS);
    assert_eq!(
        table.trim_end(),
        "\
+---------------------+-------------+
| instanceid          | login_count |
+---------------------+-------------+
| i-0a1b2c3d4e5f60001 | 3           |
| i-0a1b2c3d4e5f60002 | 1           |
+---------------------+-------------+"
    );
    let csv = query_ok(&lake.root, "csv", SSH_LOGINS);
    assert_eq!(
        csv,
        "instanceid,login_count\ni-0a1b2c3d4e5f60001,3\ni-0a1b2c3d4e5f60002,1\n"
    );
    // Nested values: JSON keeps arrays, structs and NULLs; CSV prints them as text.
    let sql =
        "SELECT p_any_ip_addresses, useridentity, errorcode, p_event_time FROM aws_cloudtrail \
               WHERE eventname = 'ListBuckets' AND day = 27";
    let rows = json_rows(&query_ok(&lake.root, "json", sql));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["p_any_ip_addresses"], json!(["54.164.105.138"]));
    assert_eq!(rows[0]["useridentity"]["username"], json!("alice"));
    assert_eq!(rows[0]["errorcode"], Value::Null);
    assert_eq!(rows[0]["p_event_time"], json!("2020-11-27T10:22:00Z"));
    let csv = query_ok(&lake.root, "csv", sql);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("p_any_ip_addresses,useridentity,errorcode,p_event_time")
    );
    let row = lines.next().expect("a row");
    assert!(
        row.starts_with("[54.164.105.138],\"{type: IAMUser,"),
        "{row}"
    );
    assert!(row.ends_with(",,2020-11-27T10:22:00Z"), "{row}");
    // An empty result still has its header.
    let empty = query_ok(
        &lake.root,
        "csv",
        "SELECT eventname FROM aws_cloudtrail WHERE day = 1",
    );
    assert_eq!(empty, "eventname\n");
}

#[test]
fn the_lake_comes_from_the_engine_config_and_sql_from_stdin() {
    let lake = fixture_lake();
    let config = lake.dir.path().join("engine.yml");
    std::fs::write(
        &config,
        format!(
            "kafka:\n  brokers: 127.0.0.1:9092\nworkers: 2\nlake:\n  url: {}\n  roll_secs: 60\n",
            lake.root.display()
        ),
    )
    .expect("write config");
    let output = corvid_query([
        "--config",
        &config.display().to_string(),
        "--format",
        "csv",
        CALLS,
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "eventname,event_count\nDescribeInstances,3\nAssumeRole,2\nListBuckets,1\n"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_corvid-query"))
        .args([
            "--lake",
            &lake.root.display().to_string(),
            "--format",
            "csv",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"SELECT count(*) AS n\nFROM panther_views.all_logs\nWHERE day = 26\n")
            .expect("write SQL");
    }
    let output = child.wait_with_output().expect("wait");
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "n\n12\n");

    let output = corvid_query(["--lake", &lake.root.display().to_string(), "tables"]);
    assert!(output.status.success());
    let tables = String::from_utf8_lossy(&output.stdout);
    assert!(tables.contains("panther_logs.aws_vpcflow\n"), "{tables}");
    assert!(
        tables.contains("panther_views.all_rule_errors\n"),
        "{tables}"
    );
}

fn failure(args: &[&str]) -> String {
    let output = corvid_query(args);
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(output.stdout.is_empty(), "no result on failure");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn errors_are_one_clear_message_and_a_failure_status() {
    let lake = fixture_lake();
    let root = lake.root.display().to_string();
    let bad = failure(&["--lake", &root, "SELEC eventname FROM aws_cloudtrail"]);
    assert!(
        bad.starts_with("corvid-query: query failed: SQL error"),
        "{bad}"
    );
    let unknown = failure(&["--lake", &root, "SELECT * FROM panther_logs.aws_guardduty"]);
    assert!(unknown.contains("aws_guardduty"), "{unknown}");
    assert!(
        unknown.contains("panther_logs: aws_cloudtrail, aws_vpcflow, osquery_differential"),
        "{unknown}"
    );
    let column = failure(&["--lake", &root, "SELECT nosuchcolumn FROM aws_vpcflow"]);
    assert!(column.contains("nosuchcolumn"), "{column}");
    let write = failure(&[
        "--lake",
        &root,
        "CREATE TABLE x AS SELECT * FROM aws_vpcflow",
    ]);
    assert!(write.contains("query failed"), "{write}");
    let missing = failure(&["--lake", "/nonexistent/corvid-lake", "SELECT 1"]);
    assert!(
        missing.contains("lake directory /nonexistent/corvid-lake does not exist"),
        "{missing}"
    );
    assert!(!PathBuf::from("/nonexistent/corvid-lake").exists());
    let nothing = failure(&["--lake", &root]);
    assert!(nothing.contains("give a SQL statement"), "{nothing}");
    let config = failure(&["--config", "/nonexistent/engine.yml", "SELECT 1"]);
    assert!(
        config.contains("config /nonexistent/engine.yml"),
        "{config}"
    );
}

#[test]
fn ddl_is_generated_for_the_tables_in_the_lake() {
    let lake = fixture_lake();
    let root = lake.root.display().to_string();
    let ddl = |dialect: &str, location: Option<&str>| {
        let mut args = vec!["--lake", &root, "ddl", "--dialect", dialect];
        if let Some(location) = location {
            args.extend(["--location", location]);
        }
        let output = corvid_query(&args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let duckdb = ddl("duckdb", None);
    assert!(duckdb.contains(&format!(
        "read_parquet('{root}/logs/aws_vpcflow/**/*.parquet'"
    )));
    let athena = ddl("athena", Some("s3://corvid-lake/prod"));
    assert!(athena.contains("CREATE EXTERNAL TABLE IF NOT EXISTS panther_logs.`aws_cloudtrail` ("));
    assert!(athena.contains("  `useridentity` struct<type:string,principalid:string,arn:string,accountid:string,username:string>,"));
    assert!(athena.contains("'storage.location.template' = 's3://corvid-lake/prod/logs/aws_vpcflow/year=${year}/month=${month}/day=${day}/hour=${hour}/'"));
    assert!(athena
        .contains("CREATE EXTERNAL TABLE IF NOT EXISTS panther_rule_matches.`aws_cloudtrail` ("));

    // The checked-in examples are this generator's output for the fixture lake.
    let examples = common::repo_root().join("sql");
    for (dialect, location, file) in [
        ("duckdb", "${LAKE_ROOT}", "duckdb/fixture_lake.sql"),
        (
            "athena",
            "s3://${BUCKET}/${PREFIX}",
            "athena/fixture_lake.sql",
        ),
        ("datafusion", "${LAKE_URL}", "datafusion/fixture_lake.sql"),
    ] {
        let generated = ddl(dialect, Some(location));
        let path = examples.join(file);
        if std::env::var_os("CORVID_BLESS").is_some() {
            std::fs::write(&path, &generated).expect("bless");
        }
        let checked_in = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (CORVID_BLESS=1 writes it)", path.display()));
        assert_eq!(
            checked_in,
            generated,
            "{} is stale: CORVID_BLESS=1 cargo test -p corvid-sql --test cli rewrites it",
            path.display()
        );
    }
}

#[test]
fn the_datafusion_ddl_answers_like_the_catalog() {
    let lake = fixture_lake();
    let root = lake.root.display().to_string();
    let output = corvid_query(["--lake", &root, "ddl", "--dialect", "datafusion"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ddl = String::from_utf8(output.stdout).expect("UTF-8");
    let answer = corvid_lake::store::runtime().block_on(async {
        use corvid_sql::datafusion::prelude::{SessionConfig, SessionContext};
        let ctx =
            SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
        corvid_sql::functions::register(&ctx);
        for statement in ddl.split(";\n").filter(|s| {
            s.lines()
                .any(|l| !l.starts_with("--") && !l.trim().is_empty())
        }) {
            ctx.sql(statement)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"))
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        let batches = ctx
            .sql(SSH_LOGINS)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let view = ctx
            .sql(BY_IP)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        (
            corvid_sql::datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                .expect("format")
                .to_string(),
            view.iter().map(|b| b.num_rows()).sum::<usize>(),
        )
    });
    assert!(
        answer.0.contains("| i-0a1b2c3d4e5f60001 | 3           |"),
        "{}",
        answer.0
    );
    assert_eq!(answer.1, 2);
}

/// `corvid query …` runs the `corvid-query` next to `corvid`.
#[test]
fn corvid_query_runs_through_the_main_binary_when_it_is_built() {
    let corvid = common::corvid_binary();
    let lake = fixture_lake();
    let output = Command::new(&corvid)
        .args([
            "query",
            "--lake",
            &lake.root.display().to_string(),
            "--format",
            "csv",
            SSH_LOGINS,
        ])
        .output()
        .expect("run corvid");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "instanceid,login_count\ni-0a1b2c3d4e5f60001,3\ni-0a1b2c3d4e5f60002,1\n"
    );
}
