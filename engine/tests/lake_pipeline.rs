//! The lake on real Kafka: the intrusion scenario through `corvid run` lands as Parquet
//! under `logs/`, `rules/` (and `rule_errors/`) by event hour, each event exactly once,
//! typed as its log type's schema; a replay into the same lake rewrites the same files;
//! the same pipeline writes to an S3-compatible server (moto, `scripts/s3.sh`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use common::{run_to_end, summary, unique, write_config};
use corvid_lake::{Lake, LakeLocation};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const DATE: &str = "2026-11-27";

/// Produces the scenario to `<run>.raw` and runs the engine to the end of it.
fn run_scenario(dir: &Path, run: &str, lake: &str) -> common::Summary {
    let config = write_config(dir, run, None, lake);
    common::produce_scenario(&config, DATE, "1500");
    summary(&run_to_end(&config))
}

/// Every Parquet object of the lake: relative path → its batches.
fn lake_files(lake: &Lake) -> BTreeMap<String, Vec<RecordBatch>> {
    let runtime = corvid_lake::store::runtime();
    let objects: Vec<_> = runtime
        .block_on(lake.store.list(Some(&lake.prefix)).try_collect::<Vec<_>>())
        .expect("list the lake");
    objects
        .into_iter()
        .filter(|meta| meta.location.as_ref().ends_with(".parquet"))
        .map(|meta| {
            let bytes = runtime
                .block_on(async { lake.store.get(&meta.location).await?.bytes().await })
                .expect("read object");
            let batches = ParquetRecordBatchReaderBuilder::try_new(bytes)
                .expect("parquet")
                .build()
                .expect("reader")
                .map(|batch| batch.expect("batch"))
                .collect();
            let relative = meta.location.as_ref()[lake.prefix.as_ref().len()..]
                .trim_start_matches('/')
                .to_owned();
            (relative, batches)
        })
        .collect()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<String> {
    let array = batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("no column {column}"));
    let array = array.as_string::<i32>();
    (0..array.len())
        .map(|i| {
            if array.is_null(i) {
                String::new()
            } else {
                array.value(i).to_owned()
            }
        })
        .collect()
}

/// The checks every lake run must pass; returns the set of data file paths.
fn check_lake(lake: &Lake, events: u64) -> BTreeSet<String> {
    let files = lake_files(lake);
    let logs: Vec<(&String, &Vec<RecordBatch>)> = files
        .iter()
        .filter(|(path, _)| path.starts_with("logs/"))
        .collect();
    // Every event exactly once.
    let mut row_ids = BTreeSet::new();
    let mut rows = 0u64;
    for (_, batches) in &logs {
        for batch in batches.iter() {
            rows += batch.num_rows() as u64;
            row_ids.extend(strings(batch, "p_row_id"));
        }
    }
    assert_eq!(rows, events, "rows in logs/ = events parsed");
    assert_eq!(row_ids.len() as u64, events, "each p_row_id once");
    // The story's tables and hour partition.
    for table in ["aws_vpcflow", "aws_cloudtrail", "osquery_differential"] {
        assert!(
            files
                .keys()
                .any(|p| p.starts_with(&format!("logs/{table}/year=2026/month=11/day=27/hour=14/"))),
            "no {table} file for 14:00: {:?}",
            files.keys().collect::<Vec<_>>()
        );
    }
    // The VPC flow story, typed.
    let vpc_story = logs
        .iter()
        .filter(|(path, _)| path.starts_with("logs/aws_vpcflow/"))
        .flat_map(|(_, batches)| batches.iter())
        .any(|batch| {
            let src = strings(batch, "srcaddr");
            let instance = strings(batch, "instanceid");
            let port = batch
                .column_by_name("dstport")
                .expect("dstport")
                .as_primitive::<arrow::datatypes::Int64Type>()
                .clone();
            (0..batch.num_rows()).any(|i| {
                src[i] == "136.24.229.194"
                    && port.value(i) == 22
                    && instance[i] == "i-016e2cb69ac58c2d5"
            })
        });
    assert!(vpc_story, "the SSH flow to the instance is in aws_vpcflow");
    // The login alert's match, with its alert id.
    let matches: Vec<&Vec<RecordBatch>> = files
        .iter()
        .filter(|(path, _)| path.starts_with("rules/osquery_differential/"))
        .map(|(_, batches)| batches)
        .collect();
    let rule_ids: Vec<String> = matches
        .iter()
        .flat_map(|batches| batches.iter())
        .flat_map(|batch| strings(batch, "p_rule_id"))
        .collect();
    assert_eq!(rule_ids, vec!["Osquery.OutsideOfficeLogin".to_owned()]);
    let alert_ids: Vec<String> = matches
        .iter()
        .flat_map(|batches| batches.iter())
        .flat_map(|batch| strings(batch, "p_alert_id"))
        .collect();
    assert_eq!(alert_ids[0].len(), 32);
    files.into_keys().collect()
}

#[test]
fn the_scenario_lands_in_the_local_lake_once_and_a_replay_rewrites_the_same_files() {
    let run = unique("it-lake");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake_dir = dir.path().join("lake");
    let section = format!("lake:\n  url: {}\n", lake_dir.display());
    let first = run_scenario(dir.path(), &run, &section);
    assert_eq!(first.dead, 0);
    let lake = Lake::open(&LakeLocation {
        url: lake_dir.display().to_string(),
        ..LakeLocation::default()
    })
    .expect("lake");
    let files = check_lake(&lake, first.events);

    // The first run resumes from its final checkpoint and reads nothing new.
    let config = dir.path().join("corvid.yml");
    assert_eq!(summary(&run_to_end(&config)).events, 0);
    // Without the checkpoints, the same input again from offset zero into the same lake:
    // same names, still once.
    std::fs::remove_dir_all(lake_dir.join("_corvid/checkpoints")).expect("drop checkpoints");
    let again = summary(&run_to_end(&config));
    assert_eq!(again.events, first.events);
    assert_eq!(check_lake(&lake, first.events), files);
}

#[test]
fn the_same_pipeline_writes_to_an_s3_compatible_server() {
    let run = unique("it-lake-s3");
    let dir = tempfile::tempdir().expect("tempdir");
    let endpoint =
        std::env::var("CORVID_TEST_S3").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    let location = LakeLocation {
        url: format!("s3://corvid-lake/{run}"),
        endpoint: Some(endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some("corvid".into()),
        secret_access_key: Some("corvid-secret".into()),
        allow_http: true,
    };
    let section = format!(
        "lake:\n  url: {}\n  endpoint: {endpoint}\n  region: us-east-1\n  access_key_id: corvid\n  secret_access_key: corvid-secret\n  allow_http: true\n",
        location.url
    );
    let summary = run_scenario(dir.path(), &run, &section);
    let lake = Lake::open(&location).expect("lake");
    check_lake(&lake, summary.events);
}
