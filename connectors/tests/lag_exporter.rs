//! `corvid lag-exporter` against a real Kafka broker: a group's lag as committed offsets
//! and new records move it, read while no member of the group runs.

mod common;

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use common::{brokers, free_listen_address, sample, unique, wait_for_sample, Running, WAIT};
use corvid_connectors::lag::{LagExporter, LagExporterConfig};
use corvid_connectors::producer::producer_config;
use corvid_connectors::topics::ensure_topics;

/// Writes `count` records to one partition of `topic`.
fn produce_to(topic: &str, partition: i32, count: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        producer_config(&brokers()).create().expect("producer");
    for index in 0..count {
        let payload = format!("record {index}");
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(partition)
                    .key("k")
                    .payload(&payload),
            )
            .map_err(|(error, _)| error)
            .expect("queue record");
    }
    producer.flush(WAIT).expect("records acknowledged");
}

/// Commits `offset` on partition 0 of `topic` for `group`, as a member would, without
/// joining the group.
fn commit(group: &str, topic: &str, offset: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("partition");
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit offset");
}

#[test]
fn the_lag_follows_commits_and_new_records() {
    let topic = unique("lag");
    let group = unique("lag-group");
    ensure_topics(&producer_config(&brokers()), &[(&topic, 2)]).expect("create topic");
    produce_to(&topic, 0, 50);
    produce_to(&topic, 1, 5);
    commit(&group, &topic, 20);

    let listen = free_listen_address();
    let exporter = Running::start(&[
        "lag-exporter",
        "--brokers",
        &brokers(),
        "--group",
        &group,
        "--topic",
        &topic,
        "--listen",
        &listen,
        "--interval-secs",
        "0.2",
    ]);
    let partition = |p: &'static str| {
        [
            ("group", group.as_str()),
            ("topic", &topic),
            ("partition", p),
        ]
    };
    let name = "corvid_consumer_group_lag";
    let (lag, exposition) = wait_for_sample(&listen, name, &partition("0"), |_| true, WAIT);
    // Committed and produced before the exporter started: its first reading is exact.
    assert_eq!(lag, Some(30.0), "{exposition}\n{}", exporter.stderr_text());
    // Nothing committed on partition 1: everything stored is lag.
    assert_eq!(
        sample(&exposition, name, &partition("1")),
        Some(5.0),
        "{exposition}"
    );
    assert_eq!(
        sample(
            &exposition,
            "corvid_build_info",
            &[("component", "lag-exporter")]
        ),
        Some(1.0),
        "{exposition}"
    );
    assert!(
        exposition.contains("process_resident_memory_bytes "),
        "{exposition}"
    );

    produce_to(&topic, 0, 10);
    let (lag, exposition) =
        wait_for_sample(&listen, name, &partition("0"), |lag| lag != 30.0, WAIT);
    assert_eq!(lag, Some(40.0), "{exposition}");

    // A member catches up: the lag falls to zero without the exporter joining the group.
    commit(&group, &topic, 60);
    let (lag, exposition) =
        wait_for_sample(&listen, name, &partition("0"), |lag| lag != 40.0, WAIT);
    assert_eq!(lag, Some(0.0), "{exposition}");

    let (success, stderr) = exporter.terminate();
    assert!(success, "lag exporter failed on SIGTERM:\n{stderr}");
}

#[test]
fn a_missing_topic_has_no_series_and_the_others_still_do() {
    let topic = unique("lag-present");
    let missing = unique("lag-missing");
    let group = unique("lag-group");
    ensure_topics(&producer_config(&brokers()), &[(&topic, 1)]).expect("create topic");
    produce_to(&topic, 0, 3);
    let config = LagExporterConfig {
        brokers: brokers(),
        group: group.clone(),
        topics: vec![missing.clone(), topic.clone()],
        client: Default::default(),
        interval: Duration::from_secs(1),
    };
    let mut exporter = LagExporter::start(config, "127.0.0.1:0").expect("exporter starts");
    exporter.refresh();
    let listen = exporter.local_addr().to_string();
    let exposition = common::scrape(&listen).expect("scrape");
    let labels = [
        ("group", group.as_str()),
        ("topic", topic.as_str()),
        ("partition", "0"),
    ];
    assert_eq!(
        sample(&exposition, "corvid_consumer_group_lag", &labels),
        Some(3.0),
        "{exposition}"
    );
    assert!(!exposition.contains(&missing), "{exposition}");
}
