//! Fixture lakes for tests: three `panther_logs` tables shaped like Corvid's CloudTrail,
//! VPC flow and osquery tables, with rows over two days (2020-11-26 and 2020-11-27), and
//! one `panther_rule_matches` table; written as zstd Parquet through the lake's object
//! store, so the same fixture fills a directory or an S3-compatible bucket.
//!
//! The planted facts the tests check (everything else is noise around them):
//!
//! * 136.24.229.194 appears on 2020-11-27 in VPC flow (as `srcaddr`) and osquery (a
//!   connection's `remote_address`), and in CloudTrail only on 2020-11-26.
//! * VPC flow, 2020-11-27, `srcaddr` 136.24.229.194 to port 22: 3 records for
//!   `i-0a1b2c3d4e5f60001` and 1 for `i-0a1b2c3d4e5f60002`; on 2020-11-26, 5 more
//!   for `i-0a1b2c3d4e5f60003`.
//! * CloudTrail, 2020-11-27, `sourceipaddress` 54.164.105.138 without `errormessage`:
//!   `DescribeInstances` 3, `AssumeRole` 2, `ListBuckets` 1 (plus a failed
//!   `RunInstances`); on 2020-11-26, 4 more `DescribeInstances`.
//!
//! Rows are built as JSON and decoded with the table's Arrow schema, as the engine's
//! writer does.

use std::io::Cursor;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::BoxStream;

use chrono::{DateTime, Duration, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use datafusion::arrow::json::ReaderBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};
use serde_json::{json, Map, Value};

use corvid_lake::columns::{event_columns, rule_columns, timestamp_type};
use corvid_lake::layout::{file_name, file_path, table_name};
use corvid_lake::{Database, Lake, Partition};

use crate::SqlError;

/// The IP address the investigation queries look for.
pub const SUSPECT_IP: &str = "136.24.229.194";
/// The CloudTrail caller the investigation queries look for.
pub const CALLER_IP: &str = "54.164.105.138";

/// One fixture file: a table's rows in one hour partition.
#[derive(Clone, Debug)]
pub struct FixtureFile {
    pub database: Database,
    pub table: String,
    pub partition: Partition,
    /// The file name (`part-….zstd.parquet`).
    pub file: String,
    pub batch: RecordBatch,
}

impl FixtureFile {
    /// The object path of the file in `lake`.
    pub fn path(&self, lake: &Lake) -> Path {
        file_path(
            &lake.prefix,
            self.database,
            &self.table,
            &self.partition,
            &self.file,
        )
    }
}

fn own(fields: Vec<Field>, database: Database) -> SchemaRef {
    let mut all = fields;
    all.extend(event_columns());
    all.extend(rule_columns(database));
    Arc::new(Schema::new(all))
}

/// `aws_cloudtrail`: a nested `useridentity` struct, a list of `resources` structs and
/// free-form JSON members as text.
pub fn cloudtrail_schema(database: Database) -> SchemaRef {
    let identity = Fields::from(vec![
        Field::new("type", DataType::Utf8, true),
        Field::new("principalid", DataType::Utf8, true),
        Field::new("arn", DataType::Utf8, true),
        Field::new("accountid", DataType::Utf8, true),
        Field::new("username", DataType::Utf8, true),
    ]);
    let resource = Fields::from(vec![
        Field::new("arn", DataType::Utf8, true),
        Field::new("accountid", DataType::Utf8, true),
        Field::new("type", DataType::Utf8, true),
    ]);
    own(
        vec![
            Field::new("eventversion", DataType::Utf8, true),
            Field::new("useridentity", DataType::Struct(identity), true),
            Field::new("eventtime", timestamp_type(), true),
            Field::new("eventsource", DataType::Utf8, true),
            Field::new("eventname", DataType::Utf8, true),
            Field::new("awsregion", DataType::Utf8, true),
            Field::new("sourceipaddress", DataType::Utf8, true),
            Field::new("useragent", DataType::Utf8, true),
            Field::new("errorcode", DataType::Utf8, true),
            Field::new("errormessage", DataType::Utf8, true),
            Field::new("requestparameters", DataType::Utf8, true),
            Field::new("responseelements", DataType::Utf8, true),
            Field::new("eventid", DataType::Utf8, true),
            Field::new("eventtype", DataType::Utf8, true),
            Field::new("readonly", DataType::Boolean, true),
            Field::new(
                "resources",
                DataType::List(Arc::new(Field::new(
                    "item",
                    DataType::Struct(resource),
                    true,
                ))),
                true,
            ),
            Field::new("recipientaccountid", DataType::Utf8, true),
        ],
        database,
    )
}

/// `aws_vpcflow`: flat, integer ports and counters.
pub fn vpcflow_schema() -> SchemaRef {
    own(
        vec![
            Field::new("version", DataType::Int64, true),
            Field::new("account", DataType::Utf8, true),
            Field::new("interfaceid", DataType::Utf8, true),
            Field::new("srcaddr", DataType::Utf8, true),
            Field::new("dstaddr", DataType::Utf8, true),
            Field::new("srcport", DataType::Int64, true),
            Field::new("dstport", DataType::Int64, true),
            Field::new("protocol", DataType::Int64, true),
            Field::new("packets", DataType::Int64, true),
            Field::new("bytes", DataType::Int64, true),
            Field::new("start", timestamp_type(), true),
            Field::new("end", timestamp_type(), true),
            Field::new("action", DataType::Utf8, true),
            Field::new("status", DataType::Utf8, true),
            Field::new("vpcid", DataType::Utf8, true),
            Field::new("instanceid", DataType::Utf8, true),
        ],
        Database::Logs,
    )
}

/// `osquery_differential`: the query's columns and decorations as JSON text.
pub fn osquery_schema() -> SchemaRef {
    own(
        vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("hostidentifier", DataType::Utf8, true),
            Field::new("action", DataType::Utf8, true),
            Field::new("calendartime", timestamp_type(), true),
            Field::new("unixtime", DataType::Int64, true),
            Field::new("epoch", DataType::Int64, true),
            Field::new("counter", DataType::Int64, true),
            Field::new("columns", DataType::Utf8, true),
            Field::new("decorations", DataType::Utf8, true),
        ],
        Database::Logs,
    )
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|error| panic!("fixture time {text}: {error}"))
}

fn glue(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Adds the `p_` fields to `own`: indicator arrays sorted and de-duplicated, absent
/// when empty, as the engine writes them.
fn event(
    log_type: &str,
    serial: &mut u64,
    event_time: DateTime<Utc>,
    indicators: &[(&str, &[&str])],
    own: Value,
) -> Value {
    let mut row: Map<String, Value> = match own {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    *serial += 1;
    row.insert("p_log_type".into(), json!(log_type));
    row.insert("p_row_id".into(), json!(format!("c0ffee{:010x}", *serial)));
    row.insert("p_event_time".into(), json!(glue(event_time)));
    row.insert(
        "p_parse_time".into(),
        json!(glue(event_time + Duration::seconds(42))),
    );
    row.insert(
        "p_source_id".into(),
        json!("6f1d6a3c-2f1e-4b53-9a7e-1b2c3d4e5f60"),
    );
    row.insert("p_source_label".into(), json!("fixture"));
    for (column, values) in indicators {
        let mut values: Vec<&str> = values.to_vec();
        values.sort_unstable();
        values.dedup();
        if !values.is_empty() {
            row.insert((*column).into(), json!(values));
        }
    }
    Value::Object(row)
}

/// Decodes JSON rows with `schema`.
pub fn batch(schema: &SchemaRef, rows: &[Value]) -> Result<RecordBatch, SqlError> {
    let mut decoder = ReaderBuilder::new(Arc::clone(schema))
        .with_batch_size(rows.len().max(1))
        .build_decoder()?;
    decoder.serialize(rows)?;
    Ok(decoder
        .flush()?
        .unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema))))
}

/// A batch as a zstd Parquet file, as the engine writes it.
pub fn parquet_bytes(batch: &RecordBatch) -> Result<Vec<u8>, SqlError> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buffer = Cursor::new(Vec::new());
    let mut writer = ArrowWriter::try_new(&mut buffer, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(buffer.into_inner())
}

/// Writes one file into the lake.
pub async fn write_file(lake: &Lake, file: &FixtureFile) -> Result<Path, SqlError> {
    let path = file.path(lake);
    let bytes = parquet_bytes(&file.batch)?;
    lake.store
        .put(&path, PutPayload::from(bytes))
        .await
        .map_err(|source| SqlError::Write {
            path: path.to_string(),
            source,
        })?;
    Ok(path)
}

/// Writes every fixture file; returns them.
pub async fn write_fixture_lake(lake: &Lake) -> Result<Vec<FixtureFile>, SqlError> {
    let files = fixture_files()?;
    for file in &files {
        write_file(lake, file).await?;
    }
    Ok(files)
}

/// [`write_fixture_lake`] from synchronous code.
pub fn write_fixture_lake_blocking(lake: &Lake) -> Result<Vec<FixtureFile>, SqlError> {
    corvid_lake::store::runtime().block_on(write_fixture_lake(lake))
}

fn file(
    database: Database,
    log_type: &str,
    at: &str,
    shard: usize,
    schema: &SchemaRef,
    rows: &[Value],
) -> Result<FixtureFile, SqlError> {
    let start = time(at);
    let epoch = start.timestamp_millis() as u64;
    Ok(FixtureFile {
        database,
        table: table_name(log_type),
        partition: Partition::of(&start),
        file: file_name(shard, epoch, epoch + 60_000),
        batch: batch(schema, rows)?,
    })
}

fn flow(
    serial: &mut u64,
    at: &str,
    src: &str,
    dst: &str,
    dstport: i64,
    instance: Option<&str>,
) -> Value {
    let start = time(at);
    let end = start + Duration::seconds(60);
    let mut ips = vec![src, dst];
    ips.sort_unstable();
    event(
        "AWS.VPCFlow",
        serial,
        start,
        &[
            ("p_any_ip_addresses", &ips),
            ("p_any_aws_account_ids", &["123456789012"]),
            ("p_any_aws_instance_ids", instance.as_slice()),
        ],
        json!({
            "version": 5, "account": "123456789012", "interfaceid": "eni-0f1e2d3c4b5a69788",
            "srcaddr": src, "dstaddr": dst, "srcport": 49152 + (*serial as i64 % 1000),
            "dstport": dstport, "protocol": 6, "packets": 10, "bytes": 840,
            "start": glue(start), "end": glue(end), "action": "ACCEPT", "status": "OK",
            "vpcid": "vpc-0a1b2c3d", "instanceid": instance,
        }),
    )
}

#[allow(clippy::too_many_arguments)]
fn call(
    serial: &mut u64,
    at: &str,
    ip: &str,
    name: &str,
    source: &str,
    error: Option<(&str, &str)>,
    parameters: Value,
) -> Value {
    let at = time(at);
    let arn = "arn:aws:iam::123456789012:user/alice";
    event(
        "AWS.CloudTrail",
        serial,
        at,
        &[
            ("p_any_ip_addresses", &[ip]),
            ("p_any_aws_arns", &[arn]),
            ("p_any_aws_account_ids", &["123456789012"]),
            ("p_any_usernames", &["alice"]),
        ],
        json!({
            "eventversion": "1.08",
            "useridentity": {"type": "IAMUser", "principalid": "AIDAEXAMPLE", "arn": arn,
                             "accountid": "123456789012", "username": "alice"},
            "eventtime": glue(at), "eventsource": source, "eventname": name,
            "awsregion": "us-east-1", "sourceipaddress": ip, "useragent": "aws-cli/2.1.0",
            "errorcode": error.map(|e| e.0), "errormessage": error.map(|e| e.1),
            "requestparameters": parameters.to_string(),
            "responseelements": Value::Null,
            "eventid": format!("e-{serial:04}"), "eventtype": "AwsApiCall",
            "readonly": name.starts_with("Describe") || name.starts_with("List"),
            "resources": [{"arn": arn, "accountid": "123456789012", "type": "AWS::IAM::User"}],
            "recipientaccountid": "123456789012",
        }),
    )
}

fn osquery(serial: &mut u64, at: &str, host: &str, name: &str, columns: Value) -> Value {
    let at = time(at);
    let mut ips: Vec<&str> = ["local_address", "remote_address"]
        .iter()
        .filter_map(|k| columns.get(*k).and_then(Value::as_str))
        .collect();
    ips.sort_unstable();
    event(
        "Osquery.Differential",
        serial,
        at,
        &[
            ("p_any_ip_addresses", &ips),
            ("p_any_domain_names", &[host]),
        ],
        json!({
            "name": name, "hostidentifier": host, "action": "added",
            "calendartime": glue(at), "unixtime": at.timestamp(), "epoch": 0, "counter": 1,
            "columns": columns.to_string(),
            "decorations": json!({"hostname": host}).to_string(),
        }),
    )
}

/// The fixture lake's files.
pub fn fixture_files() -> Result<Vec<FixtureFile>, SqlError> {
    let logs = Database::Logs;
    let mut n = 0u64;
    let s = &mut n;
    let (i1, i2, i3) = (
        Some("i-0a1b2c3d4e5f60001"),
        Some("i-0a1b2c3d4e5f60002"),
        Some("i-0a1b2c3d4e5f60003"),
    );
    let vpc = vpcflow_schema();
    let trail = cloudtrail_schema(logs);
    let osq = osquery_schema();
    let mut files = vec![
        // VPC flow, 2020-11-26 22h: the suspect's SSH to another instance (out of range).
        file(
            logs,
            "AWS.VPCFlow",
            "2020-11-26T22:00:00Z",
            0,
            &vpc,
            &[
                flow(s, "2020-11-26T22:01:00Z", SUSPECT_IP, "10.0.0.13", 22, i3),
                flow(s, "2020-11-26T22:02:00Z", SUSPECT_IP, "10.0.0.13", 22, i3),
                flow(s, "2020-11-26T22:03:00Z", SUSPECT_IP, "10.0.0.13", 22, i3),
                flow(s, "2020-11-26T22:04:00Z", SUSPECT_IP, "10.0.0.13", 22, i3),
                flow(s, "2020-11-26T22:05:00Z", SUSPECT_IP, "10.0.0.13", 22, i3),
                flow(s, "2020-11-26T22:06:00Z", "10.0.0.5", "10.0.0.13", 443, i3),
            ],
        )?,
        // 2020-11-27 09h, two shards.
        file(
            logs,
            "AWS.VPCFlow",
            "2020-11-27T09:00:00Z",
            0,
            &vpc,
            &[
                flow(s, "2020-11-27T09:01:00Z", SUSPECT_IP, "10.0.0.11", 22, i1),
                flow(s, "2020-11-27T09:02:00Z", SUSPECT_IP, "10.0.0.11", 22, i1),
                flow(s, "2020-11-27T09:03:00Z", SUSPECT_IP, "10.0.0.11", 443, i1),
                flow(
                    s,
                    "2020-11-27T09:04:00Z",
                    "198.51.100.7",
                    "10.0.0.11",
                    22,
                    i1,
                ),
            ],
        )?,
        file(
            logs,
            "AWS.VPCFlow",
            "2020-11-27T09:00:00Z",
            1,
            &vpc,
            &[
                flow(s, "2020-11-27T09:30:00Z", SUSPECT_IP, "10.0.0.12", 22, i2),
                flow(s, "2020-11-27T09:31:00Z", "10.0.0.12", "10.0.0.2", 53, i2),
                flow(s, "2020-11-27T09:32:00Z", "10.0.0.9", "10.0.0.2", 53, None),
            ],
        )?,
        // 2020-11-27 10h.
        file(
            logs,
            "AWS.VPCFlow",
            "2020-11-27T10:00:00Z",
            0,
            &vpc,
            &[
                flow(s, "2020-11-27T10:15:00Z", SUSPECT_IP, "10.0.0.11", 22, i1),
                flow(
                    s,
                    "2020-11-27T10:16:00Z",
                    "203.0.113.9",
                    "10.0.0.11",
                    22,
                    i1,
                ),
            ],
        )?,
    ];
    files.extend([
        file(logs, "AWS.CloudTrail", "2020-11-26T14:00:00Z", 0, &trail, &[
            call(s, "2020-11-26T14:01:00Z", CALLER_IP, "DescribeInstances", "ec2.amazonaws.com", None, json!({"maxResults": 5})),
            call(s, "2020-11-26T14:02:00Z", CALLER_IP, "DescribeInstances", "ec2.amazonaws.com", None, json!({"maxResults": 5})),
            call(s, "2020-11-26T14:03:00Z", CALLER_IP, "DescribeInstances", "ec2.amazonaws.com", None, json!({"maxResults": 5})),
            call(s, "2020-11-26T14:04:00Z", CALLER_IP, "DescribeInstances", "ec2.amazonaws.com", None, json!({"maxResults": 5})),
            call(s, "2020-11-26T14:05:00Z", SUSPECT_IP, "ConsoleLogin", "signin.amazonaws.com", None, json!({})),
        ])?,
        file(logs, "AWS.CloudTrail", "2020-11-27T09:00:00Z", 0, &trail, &[
            call(s, "2020-11-27T09:10:00Z", CALLER_IP, "DescribeInstances", "ec2.amazonaws.com", None, json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60001"}]}})),
            call(s, "2020-11-27T09:11:00Z", CALLER_IP, "DescribeInstances", "ec2.amazonaws.com", None, json!({"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60002"}]}})),
            call(s, "2020-11-27T09:12:00Z", CALLER_IP, "AssumeRole", "sts.amazonaws.com", None, json!({"roleArn": "arn:aws:iam::123456789012:role/admin", "roleSessionName": "alice"})),
            call(s, "2020-11-27T09:13:00Z", CALLER_IP, "RunInstances", "ec2.amazonaws.com", Some(("Client.UnauthorizedOperation", "You are not authorized to perform this operation.")), json!({"instanceType": "p3.16xlarge"})),
            call(s, "2020-11-27T09:14:00Z", "192.0.2.44", "GetObject", "s3.amazonaws.com", None, json!({"bucketName": "corp-data", "key": "a.csv"})),
        ])?,
        file(logs, "AWS.CloudTrail", "2020-11-27T10:00:00Z", 0, &trail, &[
            call(s, "2020-11-27T10:20:00Z", CALLER_IP, "DescribeInstances", "ec2.amazonaws.com", None, json!({})),
            call(s, "2020-11-27T10:21:00Z", CALLER_IP, "AssumeRole", "sts.amazonaws.com", None, json!({"roleArn": "arn:aws:iam::123456789012:role/admin", "roleSessionName": "alice"})),
            call(s, "2020-11-27T10:22:00Z", CALLER_IP, "ListBuckets", "s3.amazonaws.com", None, json!({})),
            call(s, "2020-11-27T10:23:00Z", "192.0.2.44", "GetObject", "s3.amazonaws.com", None, json!({"bucketName": "corp-data", "key": "b.csv"})),
        ])?,
        file(logs, "Osquery.Differential", "2020-11-26T08:00:00Z", 0, &osq, &[
            osquery(s, "2020-11-26T08:30:00Z", "web-1.corp.example", "pack_incident-response_open_sockets", json!({"pid": "812", "local_address": "10.0.0.11", "remote_address": "10.0.0.2", "remote_port": "53"})),
        ])?,
        file(logs, "Osquery.Differential", "2020-11-27T23:00:00Z", 0, &osq, &[
            osquery(s, "2020-11-27T23:05:00Z", "web-1.corp.example", "pack_incident-response_open_sockets", json!({"pid": "4242", "local_address": "10.0.0.11", "remote_address": SUSPECT_IP, "remote_port": "22"})),
            osquery(s, "2020-11-27T23:06:00Z", "web-2.corp.example", "pack_incident-response_last", json!({"username": "alice", "host": "10.0.0.5"})),
        ])?,
    ]);
    let matches = cloudtrail_schema(Database::RuleMatches);
    let mut matched = call(
        s,
        "2020-11-27T09:13:00Z",
        CALLER_IP,
        "RunInstances",
        "ec2.amazonaws.com",
        Some((
            "Client.UnauthorizedOperation",
            "You are not authorized to perform this operation.",
        )),
        json!({"instanceType": "p3.16xlarge"}),
    );
    if let Value::Object(row) = &mut matched {
        row.insert(
            "p_rule_id".into(),
            json!("AWS.CloudTrail.UnauthorizedAPICall"),
        );
        row.insert("p_rule_version".into(), json!("1"));
        row.insert("p_rule_severity".into(), json!("INFO"));
        row.insert(
            "p_alert_id".into(),
            json!("5f4dcc3b5aa765d61d8327deb882cf99"),
        );
        row.insert(
            "p_alert_context".into(),
            json!("{\"ip\":\"54.164.105.138\"}"),
        );
        row.insert(
            "p_alert_creation_time".into(),
            json!("2020-11-27T09:14:00.000000Z"),
        );
        row.insert(
            "p_alert_update_time".into(),
            json!("2020-11-27T09:14:00.000000Z"),
        );
        row.insert("p_rule_tags".into(), json!(["AWS", "Discovery"]));
    }
    files.push(file(
        Database::RuleMatches,
        "AWS.CloudTrail",
        "2020-11-27T09:00:00Z",
        0,
        &matches,
        &[matched],
    )?);
    Ok(files)
}

/// An object store that records what is asked of it: the prefixes listed and the
/// objects read (`get` and ranged reads), for tests that prove what a query touched.
#[derive(Debug)]
pub struct RecordingStore {
    inner: Arc<dyn ObjectStore>,
    log: Mutex<StoreLog>,
}

/// What a [`RecordingStore`] saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreLog {
    /// Prefixes of `list` and `list_with_delimiter` calls.
    pub listed: Vec<String>,
    /// Objects read, once per read call.
    pub read: Vec<String>,
}

impl RecordingStore {
    pub fn new(inner: Arc<dyn ObjectStore>) -> RecordingStore {
        RecordingStore {
            inner,
            log: Mutex::new(StoreLog::default()),
        }
    }

    /// What was asked since the last call, and forget it.
    pub fn take(&self) -> StoreLog {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn listed(&self, prefix: Option<&Path>) {
        let prefix = prefix.map(|p| p.to_string()).unwrap_or_default();
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .listed
            .push(prefix);
    }

    fn read(&self, location: &Path) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read
            .push(location.to_string());
    }
}

impl std::fmt::Display for RecordingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordingStore({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for RecordingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.read(location);
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.read(location);
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.listed(prefix);
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.listed(prefix);
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.listed(prefix);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// The schema a fixture table's files have.
pub fn fixture_schema(database: Database, table: &str) -> Option<SchemaRef> {
    match table {
        "aws_cloudtrail" => Some(cloudtrail_schema(database)),
        "aws_vpcflow" if database == Database::Logs => Some(vpcflow_schema()),
        "osquery_differential" if database == Database::Logs => Some(osquery_schema()),
        _ => None,
    }
}
