//! The catalog, pruning and functions, in process on fixture lakes.

mod common;

use std::sync::Arc;

use corvid_lake::{Database, Lake, LakeLocation, Partition};
use corvid_sql::datafusion::arrow::array::RecordBatch;
use corvid_sql::datafusion::arrow::util::pretty::pretty_format_batches;
use corvid_sql::datafusion::datasource::physical_plan::ParquetSource;
use corvid_sql::datafusion::datasource::source::DataSourceExec;
use corvid_sql::datafusion::execution::context::SQLOptions;
use corvid_sql::datafusion::physical_plan::{collect, ExecutionPlan};
use corvid_sql::datafusion::prelude::SessionContext;
use corvid_sql::testing::{self, FixtureFile, RecordingStore};
use corvid_sql::{catalog, ddl, presto, session};
use object_store::ObjectStore;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    corvid_lake::store::runtime().block_on(future)
}

/// Runs `sql`; returns the batches and the data files the scans read.
fn run(ctx: &SessionContext, sql: &str) -> (Vec<RecordBatch>, Vec<String>) {
    block_on(async {
        let frame = presto::sql(ctx, sql, SQLOptions::new())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let plan = frame
            .create_physical_plan()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let batches = collect(Arc::clone(&plan), ctx.task_ctx())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let mut files = Vec::new();
        scanned_files(&plan, &mut files);
        files.sort();
        (batches, files)
    })
}

fn scanned_files(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<String>) {
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>() {
        if let Some((config, _)) = exec.downcast_to_file_source::<ParquetSource>() {
            for group in &config.file_groups {
                for file in group.files() {
                    out.push(file.object_meta.location.to_string());
                }
            }
        }
    }
    for child in plan.children() {
        scanned_files(child, out);
    }
}

fn text(batches: &[RecordBatch]) -> String {
    pretty_format_batches(batches).expect("format").to_string()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

fn fixture_session() -> (common::FixtureLake, SessionContext) {
    let lake = common::fixture_lake();
    let ctx = block_on(session(&lake.lake)).expect("session");
    (lake, ctx)
}

fn files_of(fixture: &common::FixtureLake, keep: impl Fn(&FixtureFile) -> bool) -> Vec<String> {
    let mut files: Vec<String> = fixture
        .files
        .iter()
        .filter(|f| keep(f))
        .map(|f| f.path(&fixture.lake).to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn a_one_day_filter_reads_only_that_days_files() {
    let (fixture, ctx) = fixture_session();
    let day = |d: u32| move |f: &FixtureFile| f.partition.day == d;
    let vpc = |f: &FixtureFile| f.database == Database::Logs && f.table == "aws_vpcflow";

    let (batches, files) = run(
        &ctx,
        "SELECT instanceid, COUNT(*) AS login_count FROM panther_logs.aws_vpcflow \
         WHERE srcaddr='136.24.229.194' AND dstport=22 AND month=11 AND day=27 \
         GROUP BY instanceid ORDER BY login_count DESC",
    );
    assert_eq!(rows(&batches), 2, "{}", text(&batches));
    let expected = files_of(&fixture, |f| vpc(f) && day(27)(f));
    assert_eq!(files, expected);
    assert_eq!(files.len(), 3, "two shards at 09h and one at 10h");

    // The whole table without a partition filter: every file.
    let (_, all) = run(
        &ctx,
        "SELECT count(*) FROM aws_vpcflow WHERE srcaddr = '10.0.0.9'",
    );
    assert_eq!(all, files_of(&fixture, vpc));

    // Through the view: the day's files of every logs table, nothing else.
    let (batches, files) = run(
        &ctx,
        "SELECT DISTINCT p_log_type FROM panther_views.all_logs \
         WHERE contains(p_any_ip_addresses, '136.24.229.194') AND month=11 AND day=27",
    );
    assert_eq!(rows(&batches), 2, "{}", text(&batches));
    assert_eq!(
        files,
        files_of(&fixture, |f| f.database == Database::Logs && day(27)(f))
    );

    // An hour below 10 names the zero-padded folder hour=09; ranges prune too.
    let (batches, files) = run(
        &ctx,
        "SELECT srcaddr FROM aws_vpcflow WHERE year = 2020 AND month = 11 AND day = 27 AND hour = 9",
    );
    assert_eq!(rows(&batches), 7);
    assert_eq!(files.len(), 2);
    let (_, files) = run(
        &ctx,
        "SELECT eventname FROM aws_cloudtrail WHERE day >= 27 AND hour BETWEEN 10 AND 23",
    );
    assert_eq!(
        files,
        files_of(&fixture, |f| f.table == "aws_cloudtrail"
            && f.database == Database::Logs
            && f.partition.day == 27
            && f.partition.hour == 10)
    );
}

#[test]
fn a_query_lists_only_the_named_partitions_and_reads_only_their_files() {
    let fixture = common::fixture_lake();
    let recording = Arc::new(RecordingStore::new(Arc::clone(&fixture.lake.store)));
    let lake = Lake {
        store: Arc::clone(&recording) as Arc<dyn ObjectStore>,
        prefix: fixture.lake.prefix.clone(),
        store_url: fixture.lake.store_url.clone(),
    };
    let ctx = block_on(session(&lake)).expect("session");
    // Resolving the table reads its newest file's footer: not the query's doing.
    block_on(ctx.table("panther_logs.aws_vpcflow")).expect("table");
    recording.take();

    let (batches, files) = run(
        &ctx,
        "SELECT instanceid, COUNT(*) AS login_count FROM panther_logs.aws_vpcflow \
         WHERE srcaddr='136.24.229.194' AND dstport=22 AND year=2020 AND month=11 AND day=27 \
         GROUP BY instanceid ORDER BY login_count DESC",
    );
    assert_eq!(rows(&batches), 2);
    let log = recording.take();
    let table = format!("{}/logs/aws_vpcflow", fixture.lake.prefix);
    assert_eq!(
        log.listed,
        vec![format!("{table}/year=2020/month=11/day=27")]
    );
    let mut read: Vec<String> = log.read.clone();
    read.sort();
    read.dedup();
    assert_eq!(read, files, "the files read are the files planned");
    assert_eq!(
        read,
        files_of(&fixture, |f| f.table == "aws_vpcflow"
            && f.partition.day == 27)
    );

    // Without the year the table is listed whole, and still only that day's files are read.
    let (_, files) = run(
        &ctx,
        "SELECT srcaddr FROM aws_vpcflow WHERE month = 11 AND day = 26",
    );
    let log = recording.take();
    assert_eq!(log.listed, vec![table.clone()]);
    let mut read = log.read;
    read.sort();
    read.dedup();
    assert_eq!(read, files);
    assert_eq!(files.len(), 1);
}

#[test]
fn single_digit_partition_values_match_zero_padded_folders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = Lake::open(&LakeLocation {
        url: dir.path().display().to_string(),
        ..LakeLocation::default()
    })
    .expect("lake");
    let mut files = testing::fixture_files().expect("fixture");
    files.retain(|f| f.table == "osquery_differential");
    // Move the fixture's osquery files to 2021-03-07 04h and 2021-03-17 04h.
    files[0].partition = Partition {
        year: 2021,
        month: 3,
        day: 7,
        hour: 4,
    };
    files[1].partition = Partition {
        year: 2021,
        month: 3,
        day: 17,
        hour: 4,
    };
    block_on(async {
        for file in &files {
            testing::write_file(&lake, file).await.expect("write");
        }
    });
    assert!(dir
        .path()
        .join("logs/osquery_differential/year=2021/month=03/day=07/hour=04")
        .is_dir());
    let recording = Arc::new(RecordingStore::new(Arc::clone(&lake.store)));
    let recorded = Lake {
        store: Arc::clone(&recording) as Arc<dyn ObjectStore>,
        ..lake.clone()
    };
    let ctx = block_on(session(&recorded)).expect("session");
    block_on(ctx.table("osquery_differential")).expect("table");
    recording.take();
    let (batches, scanned) = run(
        &ctx,
        "SELECT name FROM osquery_differential WHERE year=2021 AND month=3 AND day=7 AND hour=4",
    );
    assert_eq!(rows(&batches), 1);
    assert_eq!(scanned.len(), 1, "{scanned:?}");
    // DataFusion asks for year=2021/month=3/day=7/hour=4; the padded folders are listed.
    assert_eq!(
        recording.take().listed,
        vec![format!(
            "{}/logs/osquery_differential/year=2021/month=03/day=07/hour=04",
            lake.prefix
        )]
    );
    let (batches, _) = run(
        &ctx,
        "SELECT day, hour, count(*) AS n FROM osquery_differential WHERE month = 3 GROUP BY day, hour ORDER BY day",
    );
    let table = text(&batches);
    assert!(table.contains("| 7   | 4    | 1 |"), "{table}");
    assert!(table.contains("| 17  | 4    | 2 |"), "{table}");

    // The generated DataFusion DDL (text partition columns) gets it right too.
    let tables = block_on(ddl::lake_tables(&lake)).expect("tables");
    let root = ddl::default_root(&lake, ddl::Dialect::DataFusion);
    let text_ddl = ddl::generate(ddl::Dialect::DataFusion, &tables, &root);
    let plain = SessionContext::new();
    block_on(async {
        for statement in text_ddl.split(";\n") {
            if statement
                .lines()
                .any(|l| !l.starts_with("--") && !l.trim().is_empty())
            {
                plain
                    .sql(statement)
                    .await
                    .expect("ddl")
                    .collect()
                    .await
                    .expect("ddl");
            }
        }
    });
    let (batches, _) = run(
        &plain,
        "SELECT name FROM panther_logs.osquery_differential WHERE year = 2021 AND month = 3 AND day = 7",
    );
    assert_eq!(rows(&batches), 1);
}

#[test]
fn tables_have_their_file_schema_then_the_integer_partitions() {
    let (fixture, _ctx) = fixture_session();
    let schema =
        block_on(catalog::LakeSchema::open(&fixture.lake, Database::Logs)).expect("schema");
    assert_eq!(
        schema.names(),
        ["aws_cloudtrail", "aws_vpcflow", "osquery_differential"]
    );
    for name in schema.names() {
        let table = block_on(schema.lake_table(name))
            .expect("open")
            .expect("exists");
        let declared = testing::fixture_schema(Database::Logs, name).expect("declared");
        let actual = corvid_sql::datafusion::catalog::TableProvider::schema(table.as_ref());
        let n = declared.fields().len();
        assert_eq!(actual.fields().len(), n + 4);
        for (a, d) in actual.fields().iter().zip(declared.fields().iter()) {
            assert_eq!(a.name(), d.name());
            assert_eq!(a.data_type(), d.data_type(), "{name}.{}", d.name());
        }
        let partitions: Vec<(String, String)> = actual.fields()[n..]
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect();
        assert_eq!(
            partitions,
            ["year", "month", "day", "hour"].map(|p| (p.to_owned(), "Int32".to_owned()))
        );
        // The schema comes from the newest partition's file.
        let source = table.schema_source().expect("a file").to_string();
        assert!(source.contains("day=27"), "{source}");
    }
}

#[test]
fn views_union_the_p_columns_and_empty_databases_resolve() {
    let (_fixture, ctx) = fixture_session();
    let (batches, _) = run(
        &ctx,
        "SELECT p_db_name, p_log_type, p_rule_id, cardinality(p_rule_tags) AS tags, year, month, day, hour \
         FROM panther_views.all_rule_matches",
    );
    let table = text(&batches);
    assert!(
        table.contains("| panther_rule_matches | AWS.CloudTrail | AWS.CloudTrail.UnauthorizedAPICall | 2    | 2020 | 11    | 27  | 9    |"),
        "{table}"
    );
    let (batches, _) = run(
        &ctx,
        "SELECT p_db_name, count(*) AS n FROM panther_views.all_logs WHERE day = 27 GROUP BY p_db_name",
    );
    assert!(
        text(&batches).contains("| panther_logs | 20 |"),
        "{}",
        text(&batches)
    );
    // panther_rule_errors has no table: its database and view still resolve, empty.
    let (batches, _) = run(
        &ctx,
        "SELECT count(*) AS n, count(p_rule_error) AS e FROM panther_views.all_rule_errors",
    );
    assert!(text(&batches).contains("| 0 | 0 |"), "{}", text(&batches));
    let (batches, _) = run(
        &ctx,
        "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'panther_rule_errors'",
    );
    assert!(text(&batches).contains("| 0 |"), "{}", text(&batches));

    // A lake with nothing at all.
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = Lake::open(&LakeLocation {
        url: dir.path().display().to_string(),
        ..LakeLocation::default()
    })
    .expect("lake");
    let ctx = block_on(session(&empty)).expect("session");
    let (batches, _) = run(
        &ctx,
        "SELECT count(*) AS n FROM panther_views.all_logs WHERE contains(p_any_ip_addresses, '1.2.3.4') AND month = 11",
    );
    assert!(text(&batches).contains("| 0 |"), "{}", text(&batches));
}

#[test]
fn presto_functions_work_as_written() {
    let (_fixture, ctx) = fixture_session();
    let one = |sql: &str| -> String {
        let (batches, _) = run(&ctx, sql);
        text(&batches)
    };
    // contains: membership with Presto's NULL rules, on columns and literals.
    let t = one(
        "SELECT contains(ARRAY['a', 'b'], 'a') AS a, contains(ARRAY['a', 'b'], 'c') AS b, \
         contains(ARRAY['a', NULL], 'c') AS c, contains(CAST(NULL AS VARCHAR[]), 'a') AS d, \
         contains(ARRAY[1, 2], 2) AS e, contains('haystack', 'st') AS f",
    );
    assert!(t.contains("| true | false |   |   | true | true |"), "{t}");
    let t = one(
        "SELECT count(*) AS n FROM aws_vpcflow WHERE contains(p_any_aws_instance_ids, instanceid)",
    );
    // 15 flows, one without an instance: contains(list, NULL) is NULL.
    assert!(t.contains("| 14 |"), "{t}");
    // cardinality and element_at.
    let t = one(
        "SELECT cardinality(p_any_ip_addresses) AS n, element_at(p_any_ip_addresses, 1) AS first \
         FROM aws_vpcflow WHERE day = 27 AND hour = 10 AND srcaddr = '136.24.229.194'",
    );
    assert!(t.contains("| 2 | 10.0.0.11 |"), "{t}");
    // JSON over JSON text.
    let t = one(
        "SELECT json_extract_scalar(requestparameters, '$.roleArn') AS role, \
         json_extract(requestparameters, '$.roleSessionName') AS session, \
         json_extract_scalar(requestparameters, '$[\"roleSessionName\"]') AS bracket, \
         json_size(requestparameters, '$') AS keys \
         FROM aws_cloudtrail WHERE eventname = 'AssumeRole' AND hour = 10",
    );
    assert!(
        t.contains("| arn:aws:iam::123456789012:role/admin | \"alice\" | alice   | 2    |"),
        "{t}"
    );
    let t = one(
        "SELECT json_extract_scalar(requestparameters, '$.instancesSet.items[0].instanceId') AS i, \
         json_extract_scalar(requestparameters, '$.instancesSet') AS object, \
         json_array_length(json_extract(requestparameters, '$.instancesSet.items')) AS items \
         FROM aws_cloudtrail WHERE eventname = 'DescribeInstances' AND day = 27 AND hour = 9 ORDER BY i",
    );
    assert!(
        t.contains("| i-0a1b2c3d4e5f60001 |        | 1     |"),
        "{t}"
    );
    let t = one(
        "SELECT json_extract_scalar(columns, '$.remote_address') AS remote FROM osquery_differential \
         WHERE json_extract_scalar(columns, '$.remote_port') = '22'",
    );
    assert!(t.contains("| 136.24.229.194 |"), "{t}");
    // Time.
    let t = one("SELECT count(*) AS n FROM aws_cloudtrail \
         WHERE eventtime >= from_iso8601_timestamp('2020-11-27T09:12:00Z') \
         AND p_event_time < date_add('hour', 1, from_iso8601_timestamp('2020-11-27T10:00:00Z'))");
    assert!(t.contains("| 7 |"), "{t}");
    let t = one(
        "SELECT from_iso8601_date('2020-11-27') AS d, \
         date_diff('day', TIMESTAMP '2020-11-01 00:00:00', TIMESTAMP '2020-11-27 12:00:00') AS days, \
         date_diff('month', from_iso8601_timestamp('2020-01-31T00:00:00Z'), from_iso8601_timestamp('2020-03-01T00:00:00Z')) AS months, \
         date_add('month', 1, from_iso8601_timestamp('2020-01-31T00:00:00Z')) AS feb, \
         date_format(date_parse('2020/11/27 09:05', '%Y/%m/%d %H:%i'), '%Y-%m-%d %H:%i:%s') AS reparsed, \
         to_iso8601(from_iso8601_timestamp('2020-11-27T09:05:00+02:00')) AS iso",
    );
    assert!(
        t.contains("| 2020-11-27 | 26   | 1      | 2020-02-29T00:00:00Z | 2020-11-27 09:05:00 | 2020-11-27T07:05:00.000000Z |"),
        "{t}"
    );
    let t = one(
        "SELECT count(*) AS n FROM aws_cloudtrail WHERE p_event_time > now() - INTERVAL '1' DAY",
    );
    assert!(t.contains("| 0 |"), "{t}");
    let t = one(
        "SELECT date_trunc('hour', p_event_time) AS h, count(*) AS n FROM aws_vpcflow \
         WHERE day = 26 GROUP BY 1",
    );
    assert!(t.contains("| 2020-11-26T22:00:00Z | 6 |"), "{t}");
    let t = one(
        "SELECT count_if(dstport = 22) AS ssh, count_if(instanceid IS NULL) AS none, \
         min(hour(p_event_time)) AS h, min(day_of_week(p_event_time)) AS dow, \
         approx_percentile(bytes, 0.5) AS p50, arbitrary(account) AS account \
         FROM aws_vpcflow WHERE day = 27",
    );
    assert!(
        t.contains("| 6   | 1    | 9 | 5   | 840.0 | 123456789012 |"),
        "{t}"
    );
    let t = one("SELECT count_if(dstport = 22) AS n FROM aws_vpcflow WHERE day = 1");
    assert!(t.contains("| 0 |"), "{t}");
    // Strings and regular expressions.
    let t = one(
        "SELECT regexp_extract(useridentity.arn, 'user/(.*)', 1) AS who, \
         regexp_like(eventsource, '^ec2') AS ec2, split(eventsource, '.')[1] AS service, \
         strpos(eventsource, 'amazonaws') AS at, lower(eventname) AS lower \
         FROM aws_cloudtrail WHERE eventname = 'ListBuckets'",
    );
    assert!(
        t.contains("| alice | false | s3      | 4  | listbuckets |"),
        "{t}"
    );
    // Indicator fan-out as Athena writes it (rewritten to `unnest` in a subquery); the
    // day filter still prunes.
    let (batches, files) = run(
        &ctx,
        "SELECT t.ip, count(*) AS n FROM panther_logs.aws_vpcflow CROSS JOIN UNNEST(p_any_ip_addresses) AS t(ip) \
         WHERE month = 11 AND day = 27 GROUP BY t.ip ORDER BY n DESC, t.ip LIMIT 1",
    );
    assert!(
        text(&batches).contains("| 10.0.0.11 | 6 |"),
        "{}",
        text(&batches)
    );
    assert_eq!(files.len(), 3, "{files:?}");
    let t = one(
        "SELECT ip, count(DISTINCT p_log_type) AS reach FROM panther_views.all_logs, UNNEST(p_any_ip_addresses) AS u(ip) \
         WHERE day = 27 GROUP BY ip ORDER BY reach DESC, ip LIMIT 2",
    );
    assert!(t.contains("| 10.0.0.11      | 2     |"), "{t}");
    assert!(t.contains("| 136.24.229.194 | 2     |"), "{t}");
    // Errors name the function.
    let error = block_on(async {
        match ctx
            .sql("SELECT contains(p_any_ip_addresses, ARRAY['x']) FROM aws_vpcflow")
            .await
        {
            Ok(frame) => frame.collect().await.map(|_| ()),
            Err(e) => Err(e),
        }
    })
    .expect_err("an array is not an element");
    assert!(error.to_string().contains("contains"), "{error}");
}
