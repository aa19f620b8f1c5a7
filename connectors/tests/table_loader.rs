//! `corvid connect table` against a real Kafka broker: what a load and a replacement
//! leave on the table's compacted topic, record by record, and the loads that must fail
//! before anything is produced.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use common::{brokers, corvid_binary, unique, WAIT};
use corvid_connectors::producer::producer_config;
use corvid_connectors::table::{load_table, TableError, TableLoad, TableName, TableReport};

/// One record of a table topic; `value: None` is a tombstone.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    partition: i32,
    key: String,
    value: Option<Value>,
}

/// A table name unique to this test run (unique() joins with `-`, which names refuse).
fn table_name(prefix: &str) -> TableName {
    unique(prefix)
        .replace('-', "_")
        .parse()
        .expect("valid table name")
}

fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write table file");
    path
}

fn load(name: &TableName, file: &Path, key: Option<&str>) -> Result<TableReport, TableError> {
    let mut load = TableLoad::new(name.clone(), file, brokers());
    load.key = key.map(str::to_owned);
    load_table(&load)
}

fn counts(report: &TableReport) -> (u64, u64, u64, u64) {
    (
        report.rows_read,
        report.written,
        report.unchanged,
        report.tombstoned,
    )
}

/// Every record on `topic`, per partition in offset order, up to the high watermarks.
fn records(topic: &str) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("table-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), WAIT)
        .expect("metadata");
    let mut assignment = TopicPartitionList::new();
    let mut ends = BTreeMap::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition.id(), WAIT)
            .expect("watermarks");
        if high > low {
            assignment
                .add_partition_offset(topic, partition.id(), Offset::Beginning)
                .expect("partition");
            ends.insert(partition.id(), high);
        }
    }
    let mut records = Vec::new();
    if ends.is_empty() {
        return records;
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + WAIT;
    while !ends.is_empty() {
        assert!(Instant::now() < deadline, "{topic} not read to its end");
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("record");
        records.push(Record {
            partition: message.partition(),
            key: String::from_utf8(message.key().expect("keyed").to_vec()).expect("UTF-8 key"),
            value: message
                .payload()
                .map(|value| serde_json::from_slice(value).expect("JSON row")),
        });
        if ends.get(&message.partition()) <= Some(&(message.offset() + 1)) {
            ends.remove(&message.partition());
        }
    }
    records.sort_by_key(|record| record.partition);
    records
}

/// Each key's latest value, as compaction would leave it (tombstoned keys absent).
fn live(records: &[Record]) -> BTreeMap<String, Value> {
    let mut live = BTreeMap::new();
    for record in records {
        match &record.value {
            Some(value) => live.insert(record.key.clone(), value.clone()),
            None => live.remove(&record.key),
        };
    }
    live
}

#[test]
fn a_csv_load_then_a_replacement_produces_only_the_differences() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = table_name("assets");
    let topic = name.default_topic();
    let first = write(
        dir.path(),
        "assets.csv",
        "ip,owner,env\n10.0.0.1,alice,prod\n10.0.0.2,bob,\n10.0.0.3,carol,dev\n",
    );
    let report = load(&name, &first, None).expect("first load");
    assert_eq!(report.topic, topic);
    assert_eq!(counts(&report), (3, 3, 0, 0));
    let after_first = records(&topic);
    assert_eq!(after_first.len(), 3, "{after_first:?}");
    assert_eq!(
        live(&after_first),
        BTreeMap::from([
            (
                "10.0.0.1".to_owned(),
                json!({"ip": "10.0.0.1", "owner": "alice", "env": "prod"})
            ),
            (
                "10.0.0.2".to_owned(),
                json!({"ip": "10.0.0.2", "owner": "bob", "env": ""})
            ),
            (
                "10.0.0.3".to_owned(),
                json!({"ip": "10.0.0.3", "owner": "carol", "env": "dev"})
            ),
        ])
    );

    // 10.0.0.1 unchanged, 10.0.0.2 changed, 10.0.0.3 gone.
    let second = write(
        dir.path(),
        "assets-2.csv",
        "ip,owner,env\n10.0.0.1,alice,prod\n10.0.0.2,bob,staging\n",
    );
    let report = load(&name, &second, None).expect("replacement");
    assert_eq!(counts(&report), (2, 1, 1, 1));
    let after_second = records(&topic);
    assert_eq!(
        after_second[3..],
        [
            Record {
                partition: 0,
                key: "10.0.0.2".into(),
                value: Some(json!({"ip": "10.0.0.2", "owner": "bob", "env": "staging"})),
            },
            Record {
                partition: 0,
                key: "10.0.0.3".into(),
                value: None,
            },
        ],
        "{after_second:?}"
    );
    assert_eq!(
        live(&after_second).keys().collect::<Vec<_>>(),
        ["10.0.0.1", "10.0.0.2"]
    );

    // The same file again changes nothing.
    let report = load(&name, &second, None).expect("same file again");
    assert_eq!(counts(&report), (2, 0, 2, 0));
    assert_eq!(records(&topic).len(), 5);
}

#[test]
fn json_lines_are_keyed_by_the_named_column() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = table_name("users");
    let file = write(
        dir.path(),
        "users.jsonl",
        "{\"uid\": 1001, \"name\": \"alice\", \"groups\": [\"admin\"]}\n\n\
         {\"uid\": \"svc-backup\", \"name\": \"backup\", \"groups\": []}\n",
    );
    let report = load(&name, &file, Some("uid")).expect("load");
    assert_eq!(counts(&report), (2, 2, 0, 0));
    assert_eq!(
        live(&records(&name.default_topic())),
        BTreeMap::from([
            (
                "1001".to_owned(),
                json!({"uid": 1001, "name": "alice", "groups": ["admin"]})
            ),
            (
                "svc-backup".to_owned(),
                json!({"uid": "svc-backup", "name": "backup", "groups": []})
            ),
        ])
    );
}

#[test]
fn json_lines_without_a_key_column_name_the_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "users.ndjson", "{\"uid\": 1}\n");
    let error = load(&table_name("nokey"), &file, None).expect_err("no key column");
    assert!(matches!(error, TableError::KeyRequired { .. }), "{error:?}");
    assert!(error.to_string().contains("--key"), "{error}");
}

#[test]
fn an_empty_csv_key_fails_the_load_naming_its_line_and_produces_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = table_name("emptykey");
    let topic = name.default_topic();
    let good = write(dir.path(), "good.csv", "host,site\nweb-1,ams\nweb-2,fra\n");
    load(&name, &good, None).expect("first load");
    let before = records(&topic);
    // Had it gone through, web-2's removal would have been a tombstone.
    let bad = write(dir.path(), "bad.csv", "host,site\nweb-1,lon\n,fra\n");
    let error = load(&name, &bad, None).expect_err("empty key");
    assert!(
        matches!(error, TableError::Row { line: 3, .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("bad.csv:3:"), "{message}");
    assert!(message.contains("\"host\" is empty"), "{message}");
    assert_eq!(records(&topic), before);
}

#[test]
fn a_bad_table_name_is_refused() {
    let error = "assets-v2"
        .parse::<TableName>()
        .expect_err("a dash is refused");
    assert!(error.to_string().contains("assets-v2"), "{error}");
    assert!("".parse::<TableName>().is_err());
    assert!("assets_v2".parse::<TableName>().is_ok());
}

#[test]
fn an_unsupported_file_type_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = write(dir.path(), "assets.json", "[]");
    let error = load(&table_name("json"), &file, Some("id")).expect_err("not a table file");
    assert!(
        matches!(error, TableError::UnsupportedFormat { .. }),
        "{error:?}"
    );
}

#[test]
fn rows_another_client_put_in_other_partitions_are_replaced_where_they_live() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = table_name("spread");
    let topic = name.default_topic();
    let file = write(dir.path(), "spread.csv", "id,v\nkeep,1\n");
    let mut first = TableLoad::new(name.clone(), &file, brokers());
    first.partitions = 3;
    load_table(&first).expect("creates the topic with 3 partitions");
    let keep_partition = records(&topic)[0].partition;
    let elsewhere = (keep_partition + 1) % 3;
    // Another writer's partitioner put `keep` a second time and `stale` in partitions
    // ours would not pick.
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(&brokers()).create().expect("producer");
    for (key, value) in [("keep", "{\"id\":\"keep\",\"v\":\"0\"}"), ("stale", "{}")] {
        producer
            .send(
                BaseRecord::to(&topic)
                    .key(key)
                    .payload(value)
                    .partition(elsewhere),
            )
            .map_err(|(error, _)| error)
            .expect("queue record");
    }
    producer.flush(WAIT).expect("acknowledged");

    let report = load(&name, &file, None).expect("replacement");
    assert_eq!(counts(&report), (1, 0, 1, 2));
    let after = records(&topic);
    let tombstones: Vec<(i32, &str)> = after
        .iter()
        .filter(|record| record.value.is_none())
        .map(|record| (record.partition, record.key.as_str()))
        .collect();
    assert_eq!(
        tombstones.iter().collect::<std::collections::BTreeSet<_>>(),
        [(elsewhere, "keep"), (elsewhere, "stale")].iter().collect()
    );
    assert_eq!(after.len(), 5, "{after:?}");
}

#[test]
fn corvid_connect_table_loads_and_prints_its_summary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let name = table_name("cli");
    let topic = unique("cli-table");
    let file = write(dir.path(), "hosts.csv", "site,host\nams,web-1\nfra,web-2\n");
    let run = || {
        let output = std::process::Command::new(corvid_binary())
            .args(["connect", "table", "--name", name.as_str(), "--file"])
            .arg(&file)
            .args(["--key", "host", "--topic", &topic, "--brokers", &brokers()])
            .output()
            .expect("run corvid connect table");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "corvid failed:\n{stderr}");
        stderr
    };
    let expected = |written, unchanged| {
        format!(
            "corvid: table {name}: 2 rows read from {}, {written} written, {unchanged} unchanged, 0 tombstoned on {topic}",
            file.display()
        )
    };
    let stderr = run();
    assert!(stderr.contains(&expected(2, 0)), "{stderr}");
    assert_eq!(
        live(&records(&topic)).keys().collect::<Vec<_>>(),
        ["web-1", "web-2"]
    );
    let stderr = run();
    assert!(stderr.contains(&expected(0, 2)), "{stderr}");

    let refused = std::process::Command::new(corvid_binary())
        .args(["connect", "table", "--name", "bad-name", "--file"])
        .arg(&file)
        .output()
        .expect("run corvid connect table");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("bad-name"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
