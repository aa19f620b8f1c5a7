//! End to end against a real Kafka broker (`scripts/kafka.sh up`, or `make test`):
//! osquery lines go through `corvid connect file`, the `corvid run` engine follows the raw
//! topic, and the alerts and dead letters are read back from their topics.
//!
//! The broker address comes from `CORVID_TEST_BROKERS` (default 127.0.0.1:9092). Each test
//! uses topics of its own, so runs never see each other's records.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{connect_file, login, unique, write_config, write_lines, Engine, TopicReader};
use serde_json::Value;

/// The newest version of each alert, by key.
fn latest(alerts: &[(String, Value)]) -> BTreeMap<String, Value> {
    alerts.iter().cloned().collect()
}

fn send_file(dir: &Path, name: &str, topic: &str, lines: &[String]) {
    connect_file(
        &write_lines(dir, name, lines),
        topic,
        "it-osquery",
        "Osquery.Differential",
    );
}

#[test]
fn out_of_office_logins_alert_once_per_user_and_updates_reuse_the_alert() {
    let run = unique("it-pipeline");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &run, None, "");
    let (raw, alerts_topic, dead_topic) = (
        format!("{run}.raw"),
        format!("{run}.alerts"),
        format!("{run}.dead"),
    );
    let not_json = "osqueryd: this line is not JSON \u{00e9}";

    // Phase 1: two users log in from outside, two from the office, one logs out from
    // outside, and one line is not JSON at all.
    send_file(
        dir.path(),
        "phase1.log",
        &raw,
        &[
            login("alice", "203.0.113.7", "added", "web-1"),
            login("carol", "192.0.1.5", "added", "web-1"),
            not_json.to_owned(),
            login("bob", "198.51.100.9", "added", "db-1"),
            login("dave", "192.0.1.200", "added", "db-1"),
            login("erin", "198.51.100.10", "removed", "db-1"),
        ],
    );
    let mut engine = Engine::start(&config, dir.path().join("engine.log"));
    let mut alerts = TopicReader::new(&alerts_topic);
    alerts.wait_until("alerts for alice and bob", &mut engine, |records| {
        records.len() >= 2
    });
    // Anything else the engine would emit for phase 1 has had time to arrive.
    alerts.poll_for(Duration::from_secs(2));
    let first = latest(&alerts.alerts());
    let by_user: BTreeMap<String, Value> = first
        .values()
        .map(|alert| {
            (
                alert["dedupString"]
                    .as_str()
                    .expect("dedupString")
                    .to_owned(),
                alert.clone(),
            )
        })
        .collect();
    assert_eq!(
        by_user.keys().collect::<Vec<_>>(),
        vec!["alice", "bob"],
        "alerts: {first:#?}"
    );
    for (user, ip) in [("alice", "203.0.113.7"), ("bob", "198.51.100.9")] {
        let alert = &by_user[user];
        assert_eq!(alert["eventCount"], 1);
        assert_eq!(alert["type"], "RULE");
        assert_eq!(alert["ruleId"], "Osquery.OutsideOfficeLogin");
        assert_eq!(alert["severity"], "HIGH");
        let title = alert["title"].as_str().expect("title");
        assert!(
            title.contains(user) && title.contains(ip),
            "title {title:?}"
        );
        let sample = &alert["samples"][0];
        assert_eq!(sample["p_log_type"], "Osquery.Differential");
        assert_eq!(sample["p_source_id"], "it-osquery");
        assert_eq!(sample["p_any_ip_addresses"], serde_json::json!([ip]));
    }

    // The line that is not JSON is on the dead-letter topic, bytes intact, with a reason.
    let mut dead = TopicReader::new(&dead_topic);
    dead.wait_until("the dead letter", &mut engine, |records| {
        !records.is_empty()
    });
    dead.poll_for(Duration::from_millis(500));
    assert_eq!(dead.records.len(), 1, "exactly one dead letter");
    let (_, payload, headers) = &dead.records[0];
    assert_eq!(payload.as_slice(), not_json.as_bytes());
    assert!(headers["reason"].contains("not JSON"), "{headers:?}");
    assert_eq!(headers["reason_kind"], "no_parser_accepted");
    assert_eq!(headers["source_id"], "it-osquery");
    assert_eq!(headers["source_topic"], raw);

    // Phase 2: alice logs in from outside again within the dedup period: her alert is
    // updated (same key, higher count), no new alert appears.
    let alice_id = by_user["alice"]["alertId"]
        .as_str()
        .expect("alertId")
        .to_owned();
    send_file(
        dir.path(),
        "phase2.log",
        &raw,
        &[login("alice", "203.0.113.99", "added", "web-2")],
    );
    alerts.wait_until("alice's updated alert", &mut engine, |records| {
        records.iter().any(|(key, payload, _)| {
            key == &alice_id
                && serde_json::from_slice::<Value>(payload).is_ok_and(|a| a["eventCount"] == 2)
        })
    });
    alerts.poll_for(Duration::from_secs(2));
    let second = latest(&alerts.alerts());
    assert_eq!(second.len(), 2, "still one alert per user: {second:#?}");
    assert_eq!(second[&alice_id]["eventCount"], 2);
    assert_eq!(second[&alice_id]["dedupString"], "alice");
    let bob = by_user["bob"]["alertId"].as_str().expect("alertId");
    assert_eq!(second[bob]["eventCount"], 1, "bob's alert is untouched");

    engine.assert_running();
    let status = engine.stop();
    assert!(status.success(), "engine exit status {status}");
}
