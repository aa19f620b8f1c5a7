//! Parsing through the real pipeline (Kafka + `corvid run`): fuzzed input loses nothing,
//! custom schemas need no recompiling, and CloudTrail envelopes split into their records.

mod common;

use std::time::Duration;

use common::{brokers, run_to_end, summary, unique, write_config, TopicReader};
use corvid_connectors::producer::RawProducer;
use corvid_connectors::raw_record::SourceMeta;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const OSQUERY: &str = r#"{"name":"pack_logged_in_users","hostIdentifier":"web-1","calendarTime":"Fri Nov 27 20:01:02 2026 UTC","unixTime":1795809662,"columns":{"host":"192.0.1.5","user":"carol"},"action":"added"}"#;
const CLOUDTRAIL: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE","arn":"arn:aws:iam::123456789012:user/alice","accountId":"123456789012","userName":"alice"},"eventTime":"2026-11-27T20:01:02Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli","requestParameters":{"instanceType":"t3.micro"},"responseElements":{"instancesSet":{"items":[{"instanceId":"i-0abc1234"}]}},"requestID":"r-1","eventID":"e-1","eventType":"AwsApiCall","recipientAccountId":"123456789012"}"#;
const SYSLOG: &str = r#"<34>1 2026-11-27T20:01:02.003Z mymachine.example.com su 1234 ID47 [exampleSDID@32473 iut="3"] 'su root' failed for lonvick on /dev/pts/8"#;

/// One fuzzed record: a valid seed, a mutation of one, or random bytes.
fn fuzzed(rng: &mut StdRng) -> Vec<u8> {
    let seeds = [OSQUERY, CLOUDTRAIL, SYSLOG];
    let mut line = seeds[rng.random_range(0..seeds.len())].as_bytes().to_vec();
    match rng.random_range(0..8) {
        0 => {}
        1 => {
            let at = rng.random_range(0..line.len());
            line[at] = rng.random();
        }
        2 => line.truncate(rng.random_range(0..line.len())),
        3 => {
            let at = rng.random_range(0..line.len());
            let junk: Vec<u8> = (0..rng.random_range(1..16)).map(|_| rng.random()).collect();
            line.splice(at..at, junk);
        }
        4 => {
            let from = rng.random_range(0..line.len());
            let to = rng.random_range(from..line.len());
            let copy = line[from..to].to_vec();
            line.extend_from_slice(&copy);
        }
        5 => {
            let text = String::from_utf8_lossy(&line)
                .replace("\"added\"", "123")
                .replace("\"2026-11-27T20:01:02Z\"", "[1]")
                .replace("<34>1", "<999>9");
            line = text.into_bytes();
        }
        6 => {
            line = (0..rng.random_range(0..300))
                .map(|_| rng.random())
                .collect()
        }
        _ => line.clear(),
    }
    line
}

#[test]
fn ten_thousand_fuzzed_records_are_all_parsed_or_dead_lettered() {
    const SENT: u64 = 10_000;
    let run = unique("it-fuzz");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &run, None, "");
    let meta = SourceMeta {
        source_id: "fuzz".into(),
        source_label: "Fuzz".into(),
        log_types: vec![
            "Osquery.Differential".into(),
            "AWS.CloudTrail".into(),
            "Syslog.RFC5424".into(),
        ],
    };
    corvid_connectors::topics::ensure_topics(
        &corvid_connectors::producer::producer_config(&brokers()),
        &[(&format!("{run}.raw"), 3)],
    )
    .expect("raw topic");
    let mut producer =
        RawProducer::new(&brokers(), &format!("{run}.raw"), &meta).expect("producer");
    let mut rng = StdRng::seed_from_u64(20261127);
    for i in 0..SENT {
        producer
            .send(&format!("fuzz-stream-{}", i % 7), &fuzzed(&mut rng))
            .expect("send");
    }
    assert_eq!(
        producer
            .finish(Duration::from_secs(60))
            .expect("acknowledged"),
        SENT
    );

    let counts = summary(&run_to_end(&config));
    assert_eq!(counts.read, SENT, "{counts:?}");
    assert_eq!(
        counts.parsed + counts.dead,
        SENT,
        "nothing lost or doubled: {counts:?}"
    );
    assert!(
        counts.parsed > 0 && counts.dead > 0,
        "the mix has both: {counts:?}"
    );

    let mut dead = TopicReader::new(&format!("{run}.dead"));
    dead.read_at_least(counts.dead as usize);
    assert_eq!(
        dead.records.len() as u64,
        counts.dead,
        "every dead letter is on the topic"
    );
    assert!(dead
        .records
        .iter()
        .all(|(_, _, headers)| !headers["reason"].is_empty()));
}

#[test]
fn a_custom_schema_dropped_into_the_directory_is_used_after_a_restart() {
    let run = unique("it-custom");
    let dir = tempfile::tempdir().expect("tempdir");
    let schemas = dir.path().join("schemas");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&schemas).expect("schemas dir");
    std::fs::create_dir_all(&rules).expect("rules dir");
    std::fs::write(
        rules.join("vpn_login.yml"),
        "AnalysisType: rule\nRuleID: Custom.VpnLogin\nFilename: vpn_login.py\nEnabled: true\nLogTypes: [Custom.Vpn]\nSeverity: Low\n",
    )
    .expect("rule yaml");
    std::fs::write(
        rules.join("vpn_login.py"),
        "def rule(event):\n    return True\n\ndef title(event):\n    return f\"VPN login by {event.get('user')} from {event.get('ip')}\"\n",
    )
    .expect("rule python");
    let config = write_config(
        dir.path(),
        &run,
        Some(&rules),
        // The second run must read the same records again: no checkpoint to resume from.
        &format!(
            "schemas_dir: {}\ncheckpoint:\n  enabled: false\n",
            schemas.display()
        ),
    );

    let lines = "2026-11-27 20:01:02,alice,203.0.113.7\n2026-11-27 20:02:03,bob,198.51.100.9\n";
    let log = dir.path().join("vpn.log");
    std::fs::write(&log, lines).expect("log file");
    common::connect_file(&log, &format!("{run}.raw"), "vpn", "Custom.Vpn");

    // Without the schema the engine does not know the log type: both lines are dead letters.
    let before = summary(&run_to_end(&config));
    assert_eq!(
        (before.read, before.parsed, before.dead),
        (2, 0, 2),
        "{before:?}"
    );

    // Drop the schema in and restart: the same binary now parses the log type.
    std::fs::write(
        schemas.join("vpn.yml"),
        "schema: Custom.Vpn\nparser:\n  csv:\n    delimiter: ','\n    columns: [time, user, ip]\nfields:\n  - { name: time, type: timestamp, timeFormat: '%Y-%m-%d %H:%M:%S', isEventTime: true, required: true }\n  - { name: user, type: string, indicators: [username] }\n  - { name: ip, type: string, indicators: [ip] }\n",
    )
    .expect("schema");
    let after = summary(&run_to_end(&config));
    assert_eq!(
        (after.read, after.parsed, after.events, after.dead),
        (2, 2, 2, 0),
        "{after:?}"
    );

    let mut alerts = TopicReader::new(&format!("{run}.alerts"));
    alerts.poll_for(Duration::from_secs(2));
    let mut titles: Vec<String> = alerts
        .records
        .iter()
        .map(|(_, payload, _)| {
            let alert: Value = serde_json::from_slice(payload).expect("alert JSON");
            assert_eq!(alert["samples"][0]["p_log_type"], "Custom.Vpn");
            alert["title"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    titles.sort();
    assert_eq!(
        titles,
        [
            "VPN login by alice from 203.0.113.7",
            "VPN login by bob from 198.51.100.9"
        ]
    );
}

#[test]
fn a_cloudtrail_envelope_of_a_thousand_records_yields_a_thousand_events() {
    cloudtrail_envelope_through_the_pipeline(1000);
}

#[test]
fn a_cloudtrail_envelope_of_several_megabytes_passes_through_as_one_record() {
    cloudtrail_envelope_through_the_pipeline(6000);
}

/// One `{"Records": [n]}` line through the file connector and the engine: n events,
/// each with its own event time and AWS indicators.
fn cloudtrail_envelope_through_the_pipeline(n: usize) {
    let run = unique("it-cloudtrail");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &run, None, "");
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut record: Value = serde_json::from_str(CLOUDTRAIL).expect("seed");
            record["eventTime"] = Value::from(format!(
                "2026-11-27T{:02}:{:02}:{:02}Z",
                20 + i / 3600,
                i / 60 % 60,
                i % 60
            ));
            record["eventID"] = Value::from(format!("event-{i}"));
            record["sourceIPAddress"] = Value::from(format!("198.51.100.{}", i % 250 + 1));
            record["responseElements"]["instancesSet"]["items"][0]["instanceId"] =
                Value::from(format!("i-{i:08x}"));
            record
        })
        .collect();
    let file = dir
        .path()
        .join("123456789012_CloudTrail_us-east-1_20261127T2000Z_abc.json");
    std::fs::write(
        &file,
        serde_json::json!({ "Records": records }).to_string() + "\n",
    )
    .expect("write file");
    common::connect_file(&file, &format!("{run}.raw"), "cloudtrail", "AWS.CloudTrail");

    let counts = summary(&run_to_end(&config));
    assert_eq!(
        (counts.read, counts.parsed, counts.events, counts.dead),
        (1, 1, n as u64, 0),
        "{counts:?}"
    );

    let mut events = TopicReader::new(&format!("{run}.events"));
    events.read_at_least(n);
    assert_eq!(events.records.len(), n);
    let mut row_ids = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    for (key, payload, _) in &events.records {
        let event: Value = serde_json::from_slice(payload).expect("event JSON");
        assert_eq!(event["p_log_type"], "AWS.CloudTrail");
        assert_eq!(&event["p_row_id"], key.as_str());
        row_ids.insert(key.clone());
        let i: usize = event["eventID"]
            .as_str()
            .and_then(|id| id.strip_prefix("event-"))
            .and_then(|n| n.parse().ok())
            .expect("event id");
        seen.insert(i);
        let expected_time = format!(
            "2026-11-27 {:02}:{:02}:{:02}.000000000",
            20 + i / 3600,
            i / 60 % 60,
            i % 60
        );
        assert_eq!(event["p_event_time"], expected_time.as_str());
        assert_eq!(
            event["p_any_aws_account_ids"],
            serde_json::json!(["123456789012"])
        );
        assert_eq!(
            event["p_any_aws_arns"],
            serde_json::json!(["arn:aws:iam::123456789012:user/alice"])
        );
        assert_eq!(
            event["p_any_aws_instance_ids"],
            serde_json::json!([format!("i-{i:08x}")])
        );
        assert_eq!(
            event["p_any_ip_addresses"],
            serde_json::json!([format!("198.51.100.{}", i % 250 + 1)])
        );
    }
    assert_eq!(row_ids.len(), n, "every event has its own row id");
    assert_eq!(seen.len(), n, "every record became exactly one event");
}

#[test]
fn vpc_flow_streams_with_different_headers_interleaved_in_one_partition_keep_their_columns() {
    let run = unique("it-vpcflow");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &run, None, "");
    let raw = format!("{run}.raw");
    // One partition, so the two streams' records really interleave in one log.
    corvid_connectors::topics::ensure_topics(
        &corvid_connectors::producer::producer_config(&brokers()),
        &[(&raw, 1)],
    )
    .expect("raw topic");
    let meta = SourceMeta {
        source_id: "vpc".into(),
        source_label: "VPC flow logs".into(),
        log_types: vec!["AWS.VPCFlow".into()],
    };
    let a = "s3://logs/AWSLogs/123456789012/vpcflowlogs/us-east-1/a.log";
    let b = "s3://logs/AWSLogs/123456789012/vpcflowlogs/us-east-1/b.log";
    let lines: [(&str, &str); 6] = [
        (a, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"),
        (b, "srcaddr dstaddr start end action log-status vpc-id instance-id"),
        (a, "2 123456789012 eni-0aaa 10.0.0.1 203.0.113.10 40001 443 6 10 1200 1795809600 1795809660 ACCEPT OK"),
        (b, "10.1.0.9 198.51.100.20 1795809700 1795809760 REJECT OK vpc-0bbb i-0bbb1234"),
        (a, "2 123456789012 eni-0aaa 10.0.0.2 203.0.113.11 40002 22 6 3 180 1795809601 1795809661 REJECT OK"),
        (b, "10.1.0.8 198.51.100.21 1795809701 1795809761 ACCEPT OK vpc-0bbb i-0bbb5678"),
    ];
    let mut producer = RawProducer::new(&brokers(), &raw, &meta).expect("producer");
    for (stream, line) in lines {
        producer.send(stream, line.as_bytes()).expect("send");
    }
    producer
        .finish(Duration::from_secs(30))
        .expect("acknowledged");

    let counts = summary(&run_to_end(&config));
    assert_eq!(
        (counts.read, counts.parsed, counts.events, counts.dead),
        (6, 6, 4, 0),
        "{counts:?}"
    );
    let mut events = TopicReader::new(&format!("{run}.events"));
    events.read_at_least(4);
    let mut by_src: Vec<Value> = events
        .records
        .iter()
        .map(|(_, payload, _)| serde_json::from_slice(payload).expect("event"))
        .collect();
    by_src.sort_by_key(|e| e["srcAddr"].as_str().unwrap_or_default().to_owned());
    let a_events: Vec<&Value> = by_src
        .iter()
        .filter(|e| e["interfaceId"] == "eni-0aaa")
        .collect();
    let b_events: Vec<&Value> = by_src.iter().filter(|e| e["vpcId"] == "vpc-0bbb").collect();
    assert_eq!(
        a_events.len(),
        2,
        "stream a keeps its 14 default columns: {by_src:#?}"
    );
    assert_eq!(
        b_events.len(),
        2,
        "stream b keeps its own 8 columns: {by_src:#?}"
    );
    assert_eq!(a_events[0]["dstPort"], 443);
    assert_eq!(a_events[0]["p_event_time"], "2026-11-27 20:00:00.000000000");
    assert!(a_events.iter().all(|e| e.get("instanceId").is_none()));
    assert_eq!(b_events[1]["instanceId"], "i-0bbb1234");
    assert_eq!(b_events[1]["action"], "REJECT");
    assert_eq!(
        b_events[1]["p_any_aws_instance_ids"],
        serde_json::json!(["i-0bbb1234"])
    );
    assert!(b_events.iter().all(|e| e.get("dstPort").is_none()));
}

/// The registry `scripts/schema-registry.sh` starts (Apicurio's Confluent API).
fn schema_registry_url() -> String {
    std::env::var("CORVID_TEST_SCHEMA_REGISTRY")
        .unwrap_or_else(|_| "http://127.0.0.1:8081/apis/ccompat/v6".into())
}

#[test]
fn confluent_framed_avro_records_are_decoded_through_the_registry() {
    use apache_avro::types::Value as Avro;
    use schema_registry_converter::blocking::avro::AvroEncoder;
    use schema_registry_converter::blocking::schema_registry::SrSettings;
    use schema_registry_converter::schema_registry_common::{
        SchemaType, SubjectNameStrategy, SuppliedSchema,
    };

    let run = unique("it-avro");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(
        dir.path(),
        &run,
        None,
        &format!("schema_registry_url: {}\n", schema_registry_url()),
    );
    let raw = format!("{run}.raw");
    corvid_connectors::topics::ensure_topics(
        &corvid_connectors::producer::producer_config(&brokers()),
        &[(&raw, 1)],
    )
    .expect("raw topic");

    // The producer side: register the writer schema in the real registry, frame records.
    let schema = r#"{"type":"record","name":"OsqueryResult","namespace":"dev.corvid.test","fields":[
        {"name":"name","type":"string"},{"name":"hostIdentifier","type":"string"},
        {"name":"calendarTime","type":"string"},{"name":"unixTime","type":"long"},
        {"name":"action","type":"string"},{"name":"columns","type":{"type":"map","values":"string"}}]}"#;
    let encoder = AvroEncoder::new(SrSettings::new(schema_registry_url()));
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        raw.clone(),
        false,
        SuppliedSchema::new(
            Some("dev.corvid.test.OsqueryResult".into()),
            SchemaType::Avro,
            schema.into(),
        ),
    );
    let record = |user: &str, host: &str| {
        let columns = [("user", user), ("host", host)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Avro::String(v.to_owned())))
            .collect();
        encoder
            .encode(
                vec![
                    (
                        "name",
                        Avro::String("pack_incident-response_logged_in_users".into()),
                    ),
                    ("hostIdentifier", Avro::String("web-9.corp.example".into())),
                    (
                        "calendarTime",
                        Avro::String("Fri Nov 27 20:01:02 2026 UTC".into()),
                    ),
                    ("unixTime", Avro::Long(1_795_809_662)),
                    ("action", Avro::String("added".into())),
                    ("columns", Avro::Map(columns)),
                ],
                &strategy,
            )
            .expect("encode through the registry")
    };
    let meta = SourceMeta {
        source_id: "avro-fleet".into(),
        source_label: "Avro fleet".into(),
        log_types: vec!["Osquery.Differential".into()],
    };
    let mut producer = RawProducer::new(&brokers(), &raw, &meta).expect("producer");
    let framed = record("mallory", "198.51.100.66");
    assert_eq!(framed[0], 0, "Confluent magic byte");
    producer.send("avro-stream", &framed).expect("send");
    producer
        .send("avro-stream", &record("carol", "192.0.1.9"))
        .expect("send");
    // A framed record whose schema id the registry does not know is a dead letter.
    let mut unknown = framed.clone();
    unknown[1..5].copy_from_slice(&999_999u32.to_be_bytes());
    producer.send("avro-stream", &unknown).expect("send");
    producer
        .finish(Duration::from_secs(30))
        .expect("acknowledged");

    let counts = summary(&run_to_end(&config));
    assert_eq!(
        (counts.read, counts.parsed, counts.events, counts.dead),
        (3, 2, 2, 1),
        "{counts:?}"
    );

    let mut alerts = TopicReader::new(&format!("{run}.alerts"));
    alerts.read_at_least(1);
    assert_eq!(
        alerts.records.len(),
        1,
        "only mallory logged in from outside"
    );
    let alert: Value = serde_json::from_slice(&alerts.records[0].1).expect("alert");
    assert_eq!(alert["dedupString"], "mallory");
    assert_eq!(alert["samples"][0]["p_source_id"], "avro-fleet");
    assert_eq!(
        alert["samples"][0]["p_event_time"],
        "2026-11-27 20:01:02.000000000"
    );

    let mut dead = TopicReader::new(&format!("{run}.dead"));
    dead.read_at_least(1);
    let (_, payload, headers) = &dead.records[0];
    assert_eq!(payload, &unknown, "the dead letter keeps the framed bytes");
    assert!(
        headers["reason"].contains("schema id 999999"),
        "{headers:?}"
    );
}
