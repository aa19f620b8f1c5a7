//! pyarrow and DuckDB (the project venv, from PyPI) read the lake as corvid-query does:
//! sql/tests/lake_compat.py checks the fixture files' schemas and runs the checked-in
//! DuckDB DDL on the investigation queries, comparing with corvid-query's answers.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::{json, Value};

use corvid_lake::Database;
use corvid_sql::datafusion::arrow::ipc::writer::StreamWriter;
use corvid_sql::testing::fixture_schema;

use common::{fixture_lake, json_rows, query_ok, repo_root, venv_python};

#[test]
fn pyarrow_and_duckdb_read_the_lake_like_corvid_query() {
    let python = venv_python();
    let lake = fixture_lake();
    let work = lake.dir.path().join("compat");
    let schemas = work.join("schemas");
    std::fs::create_dir_all(&schemas).expect("mkdir");

    // The declared schema of every fixture table, as Arrow IPC for pyarrow.
    let mut day_27: BTreeMap<String, usize> = BTreeMap::new();
    for file in &lake.files {
        let key = format!("{}.{}", file.database.folder(), file.table);
        let path = schemas.join(format!("{key}.arrows"));
        if !path.exists() {
            let schema = fixture_schema(file.database, &file.table).expect("declared schema");
            let mut bytes = Vec::new();
            let mut writer = StreamWriter::try_new(&mut bytes, &schema).expect("ipc");
            writer.finish().expect("ipc");
            drop(writer);
            std::fs::write(&path, bytes).expect("write schema");
        }
        let rows = if file.partition.day == 27 {
            file.batch.num_rows()
        } else {
            0
        };
        *day_27.entry(key).or_default() += rows;
    }
    assert_eq!(day_27.len(), 4);
    assert!(lake
        .files
        .iter()
        .any(|f| f.database == Database::RuleMatches));

    // corvid-query's answers, for DuckDB to match.
    let queries = [
        (
            "SELECT DISTINCT p_log_type FROM panther_views.all_logs WHERE contains(p_any_ip_addresses, '136.24.229.194') AND month=11 AND day=27",
            vec!["p_log_type"],
            false,
        ),
        (
            "SELECT instanceid, COUNT(*) AS login_count FROM panther_logs.aws_vpcflow WHERE srcaddr='136.24.229.194' AND dstport=22 AND month=11 AND day=27 GROUP BY instanceid ORDER BY login_count DESC",
            vec!["instanceid", "login_count"],
            true,
        ),
        (
            "SELECT eventname, COUNT(*) AS event_count FROM panther_logs.aws_cloudtrail WHERE sourceipaddress='54.164.105.138' AND month=11 AND day=27 AND errormessage IS NULL GROUP BY eventname ORDER BY event_count DESC",
            vec!["eventname", "event_count"],
            true,
        ),
        (
            "SELECT p_db_name, p_rule_id, year, month, day, hour FROM panther_views.all_rule_matches",
            vec!["p_db_name", "p_rule_id", "year", "month", "day", "hour"],
            false,
        ),
    ];
    let queries: Vec<Value> = queries
        .iter()
        .map(|(sql, columns, ordered)| {
            let rows: Vec<Value> = json_rows(&query_ok(&lake.root, "json", sql))
                .into_iter()
                .map(|row| Value::Array(columns.iter().map(|c| row[*c].clone()).collect()))
                .collect();
            assert!(!rows.is_empty(), "{sql} found nothing");
            json!({"sql": sql, "rows": rows, "ordered": ordered})
        })
        .collect();
    let expected = work.join("expected.json");
    std::fs::write(
        &expected,
        serde_json::to_vec_pretty(&json!({"queries": queries, "day_27_rows": day_27}))
            .expect("json"),
    )
    .expect("write expected");

    let script = repo_root().join("sql/tests/lake_compat.py");
    let ddl = repo_root().join("sql/duckdb/fixture_lake.sql");
    let output = Command::new(&python)
        .arg(&script)
        .arg("--root")
        .arg(&lake.root)
        .arg("--schemas")
        .arg(&schemas)
        .arg("--ddl")
        .arg(&ddl)
        .arg("--expected")
        .arg(&expected)
        .output()
        .expect("run the venv's python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} failed:\n{stdout}\n{stderr}",
        script.display()
    );
    assert!(
        stdout.contains("read 10 files") && stdout.contains("ran 4 queries, 0 failures"),
        "{stdout}"
    );
}
