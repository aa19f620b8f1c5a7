//! Rules in the running engine against real Kafka: failing rules become rule errors and
//! `RULE_ERROR` alerts without stopping the good ones (and its `/metrics` says so), and
//! the rules directory reloads while the engine runs.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{
    connect_file, login, repo_root, unique, write_config, write_lines, Engine, TopicReader, WAIT,
};
use serde_json::Value;

fn write_rule(dir: &Path, id: &str, python: &str) {
    let stem = id.to_ascii_lowercase().replace('.', "_");
    std::fs::write(
        dir.join(format!("{stem}.yml")),
        format!("AnalysisType: rule\nRuleID: {id}\nFilename: {stem}.py\nEnabled: true\nLogTypes: [Osquery.Differential]\nSeverity: Medium\nDedupPeriodMinutes: 60\n"),
    )
    .expect("rule yaml");
    std::fs::write(dir.join(format!("{stem}.py")), python).expect("rule python");
}

fn send(dir: &Path, name: &str, topic: &str, lines: &[String]) {
    connect_file(
        &write_lines(dir, name, lines),
        topic,
        "it-rules",
        "Osquery.Differential",
    );
}

fn alerts(reader: &TopicReader) -> Vec<Value> {
    reader
        .records
        .iter()
        .map(|(_, payload, _)| serde_json::from_slice(payload).expect("alert JSON"))
        .collect()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// One scrape of the engine's `/metrics`.
struct Scrape(String);

impl Scrape {
    fn of(port: u16) -> Scrape {
        let body = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
            .and_then(|response| response.error_for_status())
            .and_then(|response| response.text())
            .expect("GET /metrics");
        Scrape(body)
    }

    /// The sum of the samples of `name` whose labels include `labels` (None: no such
    /// sample).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for line in self.0.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let wanted = labels
                .iter()
                .all(|(key, value)| label_text.contains(&format!("{key}=\"{value}\"")));
            if metric == name && wanted {
                let value: f64 = value.parse().expect("a sample value");
                found = Some(found.unwrap_or(0.0) + value);
            }
        }
        found
    }
}

/// Scrapes until `done` holds (or panics after [`WAIT`]); returns that scrape.
fn scrape_until(
    port: u16,
    engine: &mut Engine,
    what: &str,
    done: impl Fn(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + WAIT;
    loop {
        engine.assert_running();
        let scrape = Scrape::of(port);
        if done(&scrape) {
            return scrape;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; /metrics:\n{}\nengine log:\n{}",
            scrape.0,
            engine.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits until the engine log shows `count` occurrences of `needle`.
fn wait_for_log(engine: &mut Engine, needle: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while engine.log_text().matches(needle).count() < count {
        engine.assert_running();
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in the engine log:\n{}",
            engine.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn raising_looping_and_broken_rules_are_rule_errors_while_good_rules_alert() {
    let run = unique("it-rule-errors");
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    for file in [
        "osquery_outside_office_login.yml",
        "osquery_outside_office_login.py",
    ] {
        std::fs::copy(
            repo_root().join("rules/osquery_rules").join(file),
            rules.join(file),
        )
        .expect("copy rule");
    }
    write_rule(
        &rules,
        "Test.Raises",
        "def rule(event):\n    return event['no_such_field'] == 1\n",
    );
    write_rule(
        &rules,
        "Test.Loops",
        "def rule(event):\n    while True:\n        pass\n",
    );
    write_rule(&rules, "Test.Broken", "def rule(event)\n    return True\n");
    let port = free_port();
    let config = write_config(
        dir.path(),
        &run,
        Some(&rules),
        &format!("rule_timeout_ms: 300\nmetrics:\n  listen: 127.0.0.1:{port}\n"),
    );
    let raw = format!("{run}.raw");
    send(
        dir.path(),
        "logins.log",
        &raw,
        &[
            login("alice", "203.0.113.7", "added", "web-1"),
            login("carol", "192.0.1.5", "added", "web-1"),
        ],
    );

    let mut engine = Engine::start(&config, dir.path().join("engine.log"));
    let mut alert_reader = TopicReader::new(&format!("{run}.alerts"));
    alert_reader.wait_until(
        "alerts from the good rule and the three failing ones",
        &mut engine,
        |records| {
            let ids: std::collections::BTreeSet<String> = records
                .iter()
                .filter_map(|(_, p, _)| serde_json::from_slice::<Value>(p).ok())
                .filter_map(|a| a["ruleId"].as_str().map(str::to_owned))
                .collect();
            ids.len() >= 4
        },
    );
    alert_reader.poll_for(Duration::from_secs(1));
    let all = alerts(&alert_reader);
    let by_rule = |id: &str| {
        all.iter()
            .filter(|a| a["ruleId"] == id)
            .cloned()
            .collect::<Vec<_>>()
    };

    let good = by_rule("Osquery.OutsideOfficeLogin");
    assert_eq!(good.len(), 1, "{all:#?}");
    assert_eq!(good[0]["type"], "RULE");
    assert_eq!(good[0]["dedupString"], "alice");

    let raised = by_rule("Test.Raises");
    assert!(
        raised.iter().all(|a| a["type"] == "RULE_ERROR"),
        "{raised:#?}"
    );
    assert_eq!(
        raised.last().expect("an alert")["dedupString"],
        "KeyError:error"
    );
    assert_eq!(
        raised.last().expect("an alert")["eventCount"],
        2,
        "both events raised, one alert"
    );

    let looped = by_rule("Test.Loops");
    assert!(
        looped.iter().all(|a| a["type"] == "RULE_ERROR"),
        "{looped:#?}"
    );
    assert!(looped.last().expect("an alert")["dedupString"]
        .as_str()
        .unwrap_or_default()
        .ends_with(":error"));

    let broken = by_rule("Test.Broken");
    assert_eq!(broken.len(), 1, "{broken:#?}");
    assert_eq!(broken[0]["type"], "RULE_ERROR");
    assert_eq!(broken[0]["dedupString"], "SyntaxError:error");
    assert!(
        broken[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("test_broken.py"),
        "{:#?}",
        broken[0]
    );

    // Rule-error records name the rule, the failure and the event's row id.
    let mut errors = TopicReader::new(&format!("{run}.rule-errors"));
    errors.wait_until("rule-error records", &mut engine, |records| {
        records.len() >= 4
    });
    let records: Vec<Value> = errors
        .records
        .iter()
        .map(|(_, p, _)| serde_json::from_slice(p).expect("json"))
        .collect();
    for rule in ["Test.Raises", "Test.Loops"] {
        let mine: Vec<&Value> = records.iter().filter(|r| r["p_rule_id"] == rule).collect();
        assert_eq!(mine.len(), 2, "{rule}: {records:#?}");
        for record in mine {
            assert!(record["p_row_id"].as_str().is_some_and(|id| id.len() == 32));
            assert!(record["p_rule_error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()));
        }
    }
    assert!(records
        .iter()
        .any(|r| r["p_rule_id"] == "Test.Raises" && r["p_rule_error_type"] == "KeyError"));

    // What the running engine's /metrics says about all this.
    let scrape = Scrape::of(port);
    let rule = |name: &str, id: &str| scrape.sum(name, &[("rule_id", id)]).unwrap_or(0.0);
    assert!(
        rule("corvid_rule_errors_total", "Test.Raises") >= 2.0,
        "{}",
        scrape.0
    );
    assert_eq!(
        rule("corvid_rule_timeouts_total", "Test.Loops"),
        2.0,
        "{}",
        scrape.0
    );
    assert_eq!(rule("corvid_rule_timeouts_total", "Test.Raises"), 0.0);
    for id in ["Osquery.OutsideOfficeLogin", "Test.Raises", "Test.Loops"] {
        assert_eq!(
            rule("corvid_rule_evaluation_seconds_count", id),
            2.0,
            "{id}: one evaluation per event; {}",
            scrape.0
        );
        assert_eq!(rule("corvid_rule_evaluations_total", id), 2.0, "{id}");
    }
    assert!(rule("corvid_rule_evaluation_seconds_sum", "Test.Loops") >= 0.6);
    assert!(
        scrape
            .sum(
                "corvid_alerts_created_total",
                &[
                    ("rule_id", "Osquery.OutsideOfficeLogin"),
                    ("severity", "HIGH")
                ]
            )
            .is_some_and(|created| created >= 1.0),
        "{}",
        scrape.0
    );
    assert_eq!(
        scrape.sum("corvid_records_received_total", &[("topic", &raw)]),
        Some(2.0)
    );
    assert_eq!(
        scrape.sum("corvid_build_info", &[("component", "engine")]),
        Some(1.0),
        "{}",
        scrape.0
    );
    assert!(scrape
        .sum("process_resident_memory_bytes", &[])
        .is_some_and(|bytes| bytes > 0.0));
    assert!(scrape
        .sum("corvid_frontier_lag_seconds", &[("operator", "end")])
        .is_some());

    // Unparsable lines: the dead-letter count rises by exactly their number.
    let dead_before = scrape.sum("corvid_dead_letters_total", &[]).unwrap_or(0.0);
    let garbage: Vec<String> = (0..3).map(|i| format!("not json {i}")).collect();
    send(dir.path(), "garbage.log", &raw, &garbage);
    scrape_until(port, &mut engine, "three more dead letters", |scrape| {
        scrape.sum("corvid_dead_letters_total", &[]).unwrap_or(0.0) >= dead_before + 3.0
    });
    std::thread::sleep(Duration::from_secs(1));
    let scrape = Scrape::of(port);
    assert_eq!(
        scrape.sum("corvid_dead_letters_total", &[("source", "it-rules")]),
        Some(dead_before + 3.0),
        "{}",
        scrape.0
    );
    // librdkafka's statistics (every 5 s) report the read position at the end.
    scrape_until(
        port,
        &mut engine,
        "consumer lag 0 on the raw topic",
        |scrape| scrape.sum("corvid_kafka_consumer_lag", &[("topic", &raw)]) == Some(0.0),
    );

    engine.assert_running();
    assert!(engine.stop().success());
    // The stopped engine committed what it read to its consumer group: an external lag
    // exporter sees 0 now, and the lag grows with every record produced while it is down.
    let committed = committed_lag(&raw);
    assert!(!committed.is_empty());
    assert!(committed.iter().all(|&(_, lag)| lag == 0), "{committed:?}");
}

/// Per partition of `topic` that has records, high watermark minus the offset the
/// engine's default group `corvid-engine` committed.
fn committed_lag(topic: &str) -> Vec<(i32, i64)> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", common::brokers())
        .set("group.id", "corvid-engine")
        .create()
        .expect("consumer");
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .expect("metadata");
    let mut partitions = rdkafka::TopicPartitionList::new();
    for partition in metadata.topics()[0].partitions() {
        partitions.add_partition(topic, partition.id());
    }
    let committed = consumer
        .committed_offsets(partitions, timeout)
        .expect("committed offsets");
    let mut lags = Vec::new();
    for element in committed.elements() {
        let (_, high) = consumer
            .fetch_watermarks(topic, element.partition(), timeout)
            .expect("watermarks");
        if high == 0 {
            continue;
        }
        let committed = match element.offset() {
            rdkafka::Offset::Offset(offset) => offset,
            other => panic!(
                "partition {} has records but no commit: {other:?}",
                element.partition()
            ),
        };
        lags.push((element.partition(), high - committed));
    }
    lags
}

#[test]
fn rules_added_changed_and_broken_in_a_running_engine_take_effect() {
    let run = unique("it-reload");
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("rules dir");
    write_rule(&rules, "Test.Logins", "def rule(event):\n    return True\n\ndef title(event):\n    return 'v1 ' + event.deep_get('columns', 'user')\n");
    let config = write_config(dir.path(), &run, Some(&rules), "rules_reload_secs: 0.3\n");
    let raw = format!("{run}.raw");
    let mut engine = Engine::start(&config, dir.path().join("engine.log"));
    let mut reader = TopicReader::new(&format!("{run}.alerts"));
    let titles = |reader: &TopicReader| -> Vec<String> {
        alerts(reader)
            .iter()
            .filter_map(|a| a["title"].as_str().map(str::to_owned))
            .collect()
    };

    send(
        dir.path(),
        "1.log",
        &raw,
        &[login("u1", "10.0.0.1", "added", "h")],
    );
    reader.wait_until("the v1 alert", &mut engine, |r| !r.is_empty());
    assert_eq!(titles(&reader), ["v1 u1"]);

    // Change the rule: the next event sees the new title.
    write_rule(&rules, "Test.Logins", "def rule(event):\n    return True\n\ndef title(event):\n    return 'v2 ' + event.deep_get('columns', 'user')\n");
    wait_for_log(&mut engine, "rules reloaded", 1);
    send(
        dir.path(),
        "2.log",
        &raw,
        &[login("u2", "10.0.0.1", "added", "h")],
    );
    reader.wait_until("the v2 alert", &mut engine, |r| r.len() >= 2);
    assert_eq!(titles(&reader), ["v1 u1", "v2 u2"]);

    // Add a rule: both alert on the next event.
    write_rule(&rules, "Test.Added", "def rule(event):\n    return True\n\ndef title(event):\n    return 'added ' + event.deep_get('columns', 'user')\n");
    wait_for_log(&mut engine, "rules reloaded", 2);
    send(
        dir.path(),
        "3.log",
        &raw,
        &[login("u3", "10.0.0.1", "added", "h")],
    );
    reader.wait_until("alerts from both rules", &mut engine, |r| r.len() >= 4);
    let mut latest = titles(&reader)[2..].to_vec();
    latest.sort();
    assert_eq!(latest, ["added u3", "v2 u3"]);

    // Break the added rule: it is reported, the other keeps alerting.
    std::fs::write(rules.join("test_added.py"), "def rule(event) broken\n").expect("break");
    wait_for_log(&mut engine, "rules reloaded", 3);
    send(
        dir.path(),
        "4.log",
        &raw,
        &[login("u4", "10.0.0.1", "added", "h")],
    );
    reader.wait_until(
        "the broken rule's error and the good alert",
        &mut engine,
        |r| {
            let all: Vec<Value> = r
                .iter()
                .filter_map(|(_, p, _)| serde_json::from_slice(p).ok())
                .collect();
            all.iter().any(|a| a["title"] == "v2 u4")
                && all
                    .iter()
                    .any(|a| a["ruleId"] == "Test.Added" && a["type"] == "RULE_ERROR")
        },
    );
    assert!(
        !titles(&reader).iter().any(|t| t == "added u4"),
        "the broken rule no longer runs"
    );

    engine.assert_running();
    assert!(engine.stop().success());
}
