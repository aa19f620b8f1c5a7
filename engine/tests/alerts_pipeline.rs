//! Alerting end to end on real Kafka: dedup windows, thresholds, deterministic alert ids,
//! the transactional alerts sink with its progress record, and the rule_matches records.
//!
//! Raw records are produced with explicit Kafka timestamps (the engine's epochs come from
//! them), so a dedup period of minutes is exercised in seconds and every run of the same
//! input yields the same epochs.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{brokers, login, run_to_end, unique, write_config, TopicReader};
use corvid_connectors::raw_record::SourceMeta;
use corvid_connectors::topics::ensure_topics;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::Value;

const MINUTE: i64 = 60_000;

/// Rules: `Test.Dedup` (15-minute windows, dedup on the user) and `Test.Threshold`
/// (threshold 3, one dedup string), both on osquery logins selected by query name.
fn write_rules(dir: &Path) {
    let rule = |id: &str, stem: &str, extra: &str, python: &str| {
        std::fs::write(
            dir.join(format!("{stem}.yml")),
            format!("AnalysisType: rule\nRuleID: {id}\nFilename: {stem}.py\nEnabled: true\nLogTypes: [Osquery.Differential]\nSeverity: High\nTags: [b-tag, a-tag]\nReports:\n  MITRE ATT&CK: [TA0001:T1078, TA0001:T1021]\n{extra}"),
        )
        .expect("rule yaml");
        std::fs::write(dir.join(format!("{stem}.py")), python).expect("rule python");
    };
    rule(
        "Test.Dedup",
        "test_dedup",
        "DedupPeriodMinutes: 15\n",
        "def rule(event):\n    return event.get('name') == 'dedup_test'\n\ndef title(event):\n    return f\"login by {event.deep_get('columns', 'user')}\"\n\ndef dedup(event):\n    return event.deep_get('columns', 'user')\n\ndef alert_context(event):\n    return {'user': event.deep_get('columns', 'user')}\n",
    );
    rule(
        "Test.Threshold",
        "test_threshold",
        "DedupPeriodMinutes: 15\nThreshold: 3\n",
        "def rule(event):\n    return event.get('name') == 'threshold_test'\n\ndef dedup(event):\n    return 'everyone'\n",
    );
}

fn event(name: &str, user: &str) -> String {
    let mut line: Value =
        serde_json::from_str(&login(user, "203.0.113.9", "added", "host-1")).expect("login JSON");
    line["name"] = name.into();
    line.to_string()
}

/// Produces `(stream, line, kafka timestamp)` records to `topic` (3 partitions).
fn produce(topic: &str, records: &[(&str, String, i64)]) {
    let client = {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", brokers());
        c
    };
    ensure_topics(&client, &[(topic, 3)]).expect("raw topic");
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .create()
        .expect("producer");
    let meta = SourceMeta {
        source_id: "it-alerts".into(),
        source_label: "alerts test".into(),
        log_types: vec!["Osquery.Differential".into()],
    };
    for (stream, line, timestamp) in records {
        producer
            .send(
                BaseRecord::to(topic)
                    .key(*stream)
                    .payload(line.as_str())
                    .timestamp(*timestamp)
                    .headers(meta.to_headers()),
            )
            .map_err(|(e, _)| e)
            .expect("queue record");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("records acknowledged");
}

fn alerts_of(topic: &str, at_least: usize) -> Vec<Value> {
    let mut reader = TopicReader::new(topic);
    reader.read_at_least(at_least);
    reader
        .alerts()
        .into_iter()
        .map(|(_, alert)| alert)
        .collect()
}

fn by_rule<'a>(alerts: &'a [Value], rule: &str) -> Vec<&'a Value> {
    alerts.iter().filter(|a| a["ruleId"] == rule).collect()
}

/// (alertId, dedupString, eventCount, creationTime, updateTime) of every record, in
/// topic order per alert id.
fn identities(alerts: &[Value]) -> Vec<(String, String, u64, String, String)> {
    let mut ids: Vec<_> = alerts
        .iter()
        .map(|a| {
            (
                a["alertId"].as_str().unwrap_or_default().to_owned(),
                a["dedupString"].as_str().unwrap_or_default().to_owned(),
                a["eventCount"].as_u64().unwrap_or_default(),
                a["creationTime"].as_str().unwrap_or_default().to_owned(),
                a["updateTime"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    ids.sort();
    ids
}

struct Scenario {
    run: String,
    dir: tempfile::TempDir,
}

/// The fixed input: alice matches 5 times a second apart (then once more 16 minutes
/// later), bob once, and the threshold rule's three matches with a quiet line between.
fn scenario() -> Scenario {
    let run = unique("it-alerts");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("rules")).expect("rules dir");
    write_rules(&dir.path().join("rules"));
    // Well in the past, so every partition's wall-clock bound is past all of it.
    let t0 = chrono::Utc::now().timestamp_millis() - 120 * MINUTE;
    let mut records = Vec::new();
    for i in 0..5 {
        records.push(("host-a", event("dedup_test", "alice"), t0 + i * 1000));
    }
    records.push(("host-b", event("dedup_test", "bob"), t0 + 3000));
    records.push(("host-a", event("dedup_test", "alice"), t0 + 16 * MINUTE));
    records.push(("host-c", event("threshold_test", "carol"), t0 + 1000));
    records.push(("host-c", event("threshold_test", "dave"), t0 + 2000));
    records.push(("host-c", event("other", "erin"), t0 + 5000));
    records.push(("host-c", event("threshold_test", "frank"), t0 + 9000));
    produce(&format!("{run}.raw"), &records);
    Scenario { run, dir }
}

#[test]
fn dedup_windows_thresholds_and_deterministic_ids_across_fresh_engines() {
    let s = scenario();
    let config = write_config(s.dir.path(), &s.run, Some(&s.dir.path().join("rules")), "");
    run_to_end(&config);
    let alerts = alerts_of(&format!("{}.alerts", s.run), 8);

    // 1. Five alice matches: one alert id, event count 1..5 over the updates.
    let dedup = by_rule(&alerts, "Test.Dedup");
    let mut alice: Vec<&&Value> = dedup
        .iter()
        .filter(|a| a["dedupString"] == "alice")
        .collect();
    // Partitions interleave on the topic; within one alert id the order is kept.
    alice.sort_by_key(|a| a["creationTime"].as_str().unwrap_or_default().to_owned());
    let first_window = &alice[0]["alertId"];
    let counts: Vec<u64> = alice
        .iter()
        .filter(|a| a["alertId"] == *first_window)
        .map(|a| a["eventCount"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(counts, vec![1, 2, 3, 4, 5], "{alerts:#?}");
    let later: Vec<&&&Value> = alice
        .iter()
        .filter(|a| a["alertId"] != *first_window)
        .collect();
    assert_eq!(later.len(), 1, "the match after the period: {alice:#?}");
    assert_eq!(later[0]["eventCount"], 1);
    // Two dedup strings, two alerts (alice's first window and bob's).
    let bob: Vec<&&Value> = dedup.iter().filter(|a| a["dedupString"] == "bob").collect();
    assert_eq!(bob.len(), 1);
    assert_ne!(bob[0]["alertId"], *first_window);
    // Panther's alert fields.
    let alert = alice[4];
    assert_eq!(alert["type"], "RULE");
    assert_eq!(alert["title"], "login by alice");
    assert_eq!(alert["severity"], "HIGH");
    assert_eq!(alert["dedupPeriodMinutes"], 15);
    assert_eq!(
        alert["logTypes"],
        serde_json::json!(["Osquery.Differential"])
    );
    assert_eq!(alert["alertContext"], serde_json::json!({"user": "alice"}));
    assert_eq!(alert["samples"].as_array().map(Vec::len), Some(5));
    assert!(alert["firstEventTime"].as_str() <= alert["lastEventTime"].as_str());
    assert!(alert["creationTime"].as_str() < alert["updateTime"].as_str());

    // 2. Threshold 3: no record before the third match, then exactly one alert.
    let threshold = by_rule(&alerts, "Test.Threshold");
    assert_eq!(threshold.len(), 1, "{threshold:#?}");
    assert_eq!(threshold[0]["eventCount"], 3);
    assert_eq!(threshold[0]["threshold"], 3);
    assert_eq!(
        alerts.len(),
        8,
        "5 + 1 alice, 1 bob, 1 threshold: {alerts:#?}"
    );

    // rule_matches: every match, with the alert id of its window and Panther's columns.
    let mut matches_reader = TopicReader::new(&format!("{}.rule-matches", s.run));
    matches_reader.read_at_least(10);
    let matches: Vec<Value> = matches_reader
        .alerts()
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    assert_eq!(matches.len(), 10, "every match once: {matches:#?}");
    let alice_matches = matches
        .iter()
        .filter(|m| m["p_alert_id"] == *first_window)
        .count();
    assert_eq!(alice_matches, 5);
    let below_threshold = matches
        .iter()
        .filter(|m| m["p_rule_id"] == "Test.Threshold")
        .map(|m| m["p_alert_id"].clone())
        .collect::<Vec<_>>();
    assert_eq!(below_threshold.len(), 3);
    assert!(below_threshold
        .iter()
        .all(|id| *id == threshold[0]["alertId"]));
    let m = &matches[0];
    assert_eq!(m["p_rule_tags"], serde_json::json!(["a-tag", "b-tag"]));
    assert_eq!(
        m["p_rule_reports"],
        serde_json::json!({"MITRE ATT&CK": ["TA0001:T1021", "TA0001:T1078"]})
    );
    assert!(m["p_alert_creation_time"].is_string() && m["p_alert_update_time"].is_string());

    // 3. A fresh engine over the same input, into a fresh alerts topic: same identities.
    let again = format!("{}-again", s.run);
    let again_dir = s.dir.path().join("again");
    std::fs::create_dir_all(&again_dir).expect("dir");
    let again_config = write_config(
        &again_dir,
        &again,
        Some(&s.dir.path().join("rules")),
        &format!("alerts:\n  progress_topic: {again}.progress\n"),
    );
    // Same raw topic as the first run.
    let text = std::fs::read_to_string(&again_config).expect("config");
    std::fs::write(
        &again_config,
        text.replace(&format!("raw: {again}.raw"), &format!("raw: {}.raw", s.run)),
    )
    .expect("config");
    run_to_end(&again_config);
    let replayed = alerts_of(&format!("{again}.alerts"), 8);
    assert_eq!(identities(&replayed), identities(&alerts));
}

#[test]
fn a_second_run_with_the_same_sink_publishes_no_alert_version_twice() {
    let s = scenario();
    let config = write_config(s.dir.path(), &s.run, Some(&s.dir.path().join("rules")), "");
    run_to_end(&config);
    let alerts_topic = format!("{}.alerts", s.run);
    let first = alerts_of(&alerts_topic, 8);
    assert_eq!(first.len(), 8);
    // The same engine (same transactional id) over the same input from offset zero: it
    // reads its progress record and skips every epoch it had committed.
    let stderr = run_to_end(&config);
    assert!(!stderr.contains("ERROR"), "{stderr}");
    let both = alerts_of(&alerts_topic, 8);
    assert_eq!(identities(&both), identities(&first), "no version twice");
    // The progress record is committed with the alerts and names the last epoch.
    let mut progress = TopicReader::new("corvid.alerts.progress");
    progress.read_at_least(1);
    let ours: Vec<Value> = progress
        .records
        .iter()
        .filter(|(key, _, _)| *key == format!("corvid-alerts.{alerts_topic}"))
        .map(|(_, payload, _)| serde_json::from_slice(payload).expect("progress JSON"))
        .collect();
    assert!(!ours.is_empty());
    let total: u64 = ours
        .iter()
        .map(|p| p["alert_records"].as_u64().unwrap_or_default())
        .sum();
    assert_eq!(total, 8, "{ours:#?}");
}

#[test]
fn the_engine_writes_avro_alerts_a_stock_consumer_decodes() {
    let s = scenario();
    let registry = common::test_schema_registry();
    let config = write_config(
        s.dir.path(),
        &s.run,
        Some(&s.dir.path().join("rules")),
        &format!("schema_registry_url: {registry}\nalerts:\n  encoding: avro\n"),
    );
    run_to_end(&config);
    let topic = format!("{}.alerts", s.run);
    let output = std::process::Command::new(common::venv_python())
        .arg(common::repo_root().join("engine/tests/avro_alert_consumer.py"))
        .args(["--brokers", &brokers(), "--registry", &registry])
        .args(["--topic", &topic, "--count", "8", "--timeout", "60"])
        .output()
        .expect("run the stock consumer");
    assert!(
        output.status.success(),
        "stock consumer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decoded: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("consumer JSON")["value"].clone())
        .collect();
    assert_eq!(decoded.len(), 8);
    let mut alice: Vec<u64> = decoded
        .iter()
        .filter(|a| a["dedupString"] == "alice")
        .map(|a| a["eventCount"].as_u64().unwrap_or_default())
        .collect();
    alice.sort();
    assert_eq!(alice, vec![1, 1, 2, 3, 4, 5]);
    let threshold: Vec<&Value> = decoded
        .iter()
        .filter(|a| a["ruleId"] == "Test.Threshold")
        .collect();
    assert_eq!(threshold.len(), 1);
    assert_eq!(threshold[0]["eventCount"], 3);
    assert_eq!(threshold[0]["type"], "RULE");
    let context = decoded
        .iter()
        .find(|a| a["dedupString"] == "bob")
        .and_then(|a| a["alertContext"].as_str())
        .expect("alertContext as JSON text");
    assert_eq!(
        serde_json::from_str::<Value>(context).expect("context JSON"),
        serde_json::json!({"user": "bob"})
    );
}
