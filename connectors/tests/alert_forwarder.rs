//! `corvid connect alerts` against a real Kafka broker and a local HTTP receiver standing
//! in for each vendor: request shapes, retries, dead letters, secrets kept out of logs
//! and dead letters, offsets committed only after delivery, and the `/metrics` endpoint.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use common::{
    alert_id, alert_json, brokers, closed_port_url, corvid_binary, free_listen_address, produce,
    read_topic, sample, unique, wait_for_sample, Receiver, Recorded, Running, WAIT,
};
use corvid_connectors::alerts::{run, ForwarderConfig, ForwarderStats, RunOptions};

/// One forwarder's topics and group, unique to a test.
struct Setup {
    topic: String,
    group: String,
    dead_letters: String,
}

impl Setup {
    fn new(prefix: &str) -> Setup {
        Setup {
            topic: unique(&format!("{prefix}-alerts")),
            group: unique(&format!("{prefix}-group")),
            dead_letters: unique(&format!("{prefix}-dlq")),
        }
    }

    /// A config with `destinations` (a YAML list) and `extra` top-level YAML.
    fn yaml(&self, destinations: &str, extra: &str) -> String {
        format!(
            "kafka: {{brokers: \"{brokers}\"}}\ntopic: {topic}\ngroup_id: {group}\ndead_letter_topic: {dlq}\npartitions: 1\n\
             retry: {{attempts: 3, initial_backoff_ms: 20, max_backoff_ms: 100, timeout_ms: 2000}}\n\
             destinations:\n{destinations}\n{extra}\n",
            brokers = brokers(),
            topic = self.topic,
            group = self.group,
            dlq = self.dead_letters,
        )
    }

    fn produce_alerts(&self, alerts: &[&Value]) {
        let records: Vec<(&str, Vec<u8>)> = alerts
            .iter()
            .map(|alert| {
                (
                    alert["alertId"].as_str().unwrap_or_default(),
                    alert.to_string().into_bytes(),
                )
            })
            .collect();
        produce(&self.topic, &records);
    }

    fn dead_letters(&self, count: usize, wait: Duration) -> Vec<(String, Vec<u8>)> {
        read_topic(&self.dead_letters, count, wait)
    }
}

/// Runs the forwarder in-process until caught up and idle for a second.
fn forward(yaml: &str) -> ForwarderStats {
    forward_until(yaml, &AtomicBool::new(false))
}

fn forward_until(yaml: &str, shutdown: &AtomicBool) -> ForwarderStats {
    let config = ForwarderConfig::from_yaml(yaml, &|name| std::env::var(name).ok())
        .unwrap_or_else(|e| panic!("config: {e}\n{yaml}"));
    let options = RunOptions {
        max_idle: Some(Duration::from_secs(1)),
    };
    run(&config, &options, shutdown).expect("forwarder runs")
}

/// Forwards one HIGH alert to one destination (`entry`, a YAML mapping with id `dest`)
/// whose receiver answers `status`; returns the alert and the one request it got.
fn deliver_one(prefix: &str, status: u16, entry: impl Fn(&str) -> String) -> (Value, Recorded) {
    let setup = Setup::new(prefix);
    let receiver = Receiver::answering(status);
    let alert = alert_json(&alert_id(), "HIGH", json!({}));
    setup.produce_alerts(&[&alert]);
    let yaml = setup.yaml(
        &format!("  - {}", entry(&receiver.base)),
        "severity_routes: {HIGH: [dest]}",
    );
    let stats = forward(&yaml);
    assert_eq!(stats.records, 1, "{stats:?}");
    assert_eq!(stats.delivered, 1, "{stats:?}");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = requests.into_iter().next().expect("one request");
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    (alert, request)
}

#[test]
fn slack_gets_an_incoming_webhook_message() {
    let (_, request) = deliver_one("slack", 200, |base| {
        format!("{{id: dest, type: slack, url: \"{base}/services/T0001/B0001/slacksecret\"}}")
    });
    assert_eq!(request.path, "/services/T0001/B0001/slacksecret");
    assert_eq!(request.header("authorization"), None);
    let message = request.json();
    assert_eq!(message["text"], "[HIGH] root logged in from 203.0.113.7");
    assert_eq!(message["blocks"][0]["type"], "header");
    assert_eq!(
        message["blocks"][0]["text"]["text"],
        "root logged in from 203.0.113.7"
    );
    assert_eq!(
        message["blocks"][1]["fields"][0]["text"],
        "*Severity*\nHIGH"
    );
}

#[test]
fn pagerduty_gets_a_trigger_event_deduplicated_by_the_alert_id() {
    let (alert, request) = deliver_one("pagerduty", 202, |base| {
        format!("{{id: dest, type: pagerduty, base_url: \"{base}\", routing_key: R0UT1NGKEY0123456789abcdef012345}}")
    });
    assert_eq!(request.path, "/v2/enqueue");
    assert_eq!(request.header("authorization"), None);
    let event = request.json();
    assert_eq!(event["routing_key"], "R0UT1NGKEY0123456789abcdef012345");
    assert_eq!(event["event_action"], "trigger");
    assert_eq!(event["dedup_key"], alert["alertId"]);
    let payload = &event["payload"];
    assert_eq!(payload["summary"], "root logged in from 203.0.113.7");
    assert_eq!(payload["source"], "corvid");
    assert_eq!(payload["severity"], "error");
    assert_eq!(payload["timestamp"], "2026-11-27T10:00:00.000Z");
    assert_eq!(payload["custom_details"]["alertId"], alert["alertId"]);
    assert_eq!(
        payload["custom_details"]["alertContext"]["ip"],
        "203.0.113.7"
    );
}

#[test]
fn teams_gets_an_adaptive_card() {
    let (_, request) = deliver_one("teams", 200, |base| {
        format!("{{id: dest, type: teams, url: \"{base}/webhookb2/teams-secret\"}}")
    });
    assert_eq!(request.path, "/webhookb2/teams-secret");
    let message = request.json();
    assert_eq!(message["type"], "message");
    let attachment = &message["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["body"][0]["text"], "root logged in from 203.0.113.7");
    let facts = card["body"]
        .as_array()
        .and_then(|body| body.iter().find(|b| b["type"] == "FactSet"))
        .expect("a FactSet");
    assert_eq!(
        facts["facts"][0],
        json!({"title": "Severity", "value": "HIGH"})
    );
}

#[test]
fn opsgenie_gets_an_alert_with_a_genie_key() {
    let (alert, request) = deliver_one("opsgenie", 202, |base| {
        format!("{{id: dest, type: opsgenie, base_url: \"{base}\", api_key: og-key-123}}")
    });
    assert_eq!(request.path, "/v2/alerts");
    assert_eq!(request.header("authorization"), Some("GenieKey og-key-123"));
    let body = request.json();
    assert_eq!(body["message"], "root logged in from 203.0.113.7");
    assert_eq!(body["alias"], alert["alertId"]);
    assert_eq!(body["priority"], "P2");
    assert_eq!(body["tags"], json!(["Initial Access"]));
    assert_eq!(body["details"]["ruleId"], "Osquery.OutOfOfficeLogin");
    assert!(body["description"]
        .as_str()
        .is_some_and(|d| d.starts_with("A login outside office hours.")));
}

#[test]
fn jira_gets_an_issue_with_basic_auth() {
    let (alert, request) = deliver_one("jira", 201, |base| {
        format!(
            "{{id: dest, type: jira, base_url: \"{base}/jira\", user: bot@acme.com, api_token: jira-token, \
             project_key: SEC, labels: [corvid]}}"
        )
    });
    assert_eq!(request.path, "/jira/rest/api/2/issue");
    let credentials = base64::engine::general_purpose::STANDARD.encode("bot@acme.com:jira-token");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {credentials}").as_str())
    );
    let fields = &request.json()["fields"];
    assert_eq!(fields["project"]["key"], "SEC");
    assert_eq!(fields["issuetype"]["name"], "Task");
    assert_eq!(fields["summary"], "root logged in from 203.0.113.7");
    assert_eq!(fields["labels"], json!(["corvid", "Initial-Access"]));
    let description = fields["description"].as_str().expect("description");
    assert!(description.contains("*Severity:* HIGH"), "{description}");
    assert!(
        description.contains(alert["alertId"].as_str().expect("id")),
        "{description}"
    );
}

#[test]
fn github_gets_an_issue_with_a_bearer_token() {
    let (alert, request) = deliver_one("github", 201, |base| {
        format!("{{id: dest, type: github, base_url: \"{base}\", token: gh-token, owner: acme, repo: soc, labels: [security]}}")
    });
    assert_eq!(request.path, "/repos/acme/soc/issues");
    assert_eq!(request.header("authorization"), Some("Bearer gh-token"));
    assert_eq!(
        request.header("accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
    assert!(request
        .header("user-agent")
        .is_some_and(|agent| agent.starts_with("corvid/")));
    let issue = request.json();
    assert_eq!(issue["title"], "root logged in from 203.0.113.7");
    assert_eq!(issue["labels"], json!(["security", "severity:high"]));
    assert!(issue["body"]
        .as_str()
        .is_some_and(|body| body.contains(alert["alertId"].as_str().unwrap_or("-"))));
}

#[test]
fn asana_gets_a_task_in_the_projects() {
    let (alert, request) = deliver_one("asana", 201, |base| {
        format!("{{id: dest, type: asana, base_url: \"{base}\", token: asana-token, project_gids: [\"1200000000000001\"]}}")
    });
    assert_eq!(request.path, "/api/1.0/tasks");
    assert_eq!(request.header("authorization"), Some("Bearer asana-token"));
    let task = &request.json()["data"];
    assert_eq!(task["name"], "[HIGH] root logged in from 203.0.113.7");
    assert_eq!(task["projects"], json!(["1200000000000001"]));
    assert!(task["notes"]
        .as_str()
        .is_some_and(|notes| notes.contains(alert["alertId"].as_str().unwrap_or("-"))));
}

#[test]
fn a_webhook_gets_the_alert_json_signed_with_hmac_sha256() {
    let (alert, request) = deliver_one("webhook", 204, |base| {
        format!(
            "{{id: dest, type: webhook, url: \"{base}/hooks/corvid\", secret: hook-signing-key}}"
        )
    });
    assert_eq!(request.path, "/hooks/corvid");
    assert_eq!(request.json(), alert);
    let mut mac = Hmac::<Sha256>::new_from_slice(b"hook-signing-key").expect("HMAC takes any key");
    mac.update(&request.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        request.header("x-corvid-signature"),
        Some(expected.as_str())
    );
}

/// The value of `name{destination="<destination>"}` in the default registry.
fn counter(name: &str, destination: &str) -> u64 {
    prometheus::default_registry()
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .filter(|metric| {
            metric
                .get_label()
                .iter()
                .any(|label| label.name() == "destination" && label.value() == destination)
        })
        .map(|metric| metric.get_counter().value() as u64)
        .sum()
}

#[test]
fn a_500_is_retried_and_the_alert_delivered_exactly_once() {
    let setup = Setup::new("retry");
    let receiver = Receiver::start(Box::new(|index, _| {
        if index == 0 {
            (500, r#"{"error":"try later"}"#.into())
        } else {
            (200, "{}".into())
        }
    }));
    let alert = alert_json(&alert_id(), "MEDIUM", json!({}));
    setup.produce_alerts(&[&alert]);
    let destination = unique("retry-hook");
    let yaml = setup.yaml(
        &format!(
            "  - {{id: {destination}, type: webhook, url: \"{}/hook\"}}",
            receiver.base
        ),
        &format!("severity_routes: {{MEDIUM: [{destination}]}}"),
    );
    let stats = forward(&yaml);
    let requests = receiver.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 200], "{requests:?}");
    assert_eq!(requests.iter().filter(|r| r.status == 200).count(), 1);
    assert!(requests.iter().all(|r| r.json() == alert));
    assert_eq!((stats.delivered, stats.dead_lettered), (1, 0), "{stats:?}");
    assert_eq!(
        counter("corvid_destination_deliveries_total", &destination),
        1
    );
    assert_eq!(counter("corvid_destination_retries_total", &destination), 1);
    assert_eq!(
        counter("corvid_destination_failures_total", &destination),
        0
    );
    assert!(setup.dead_letters(1, Duration::from_secs(2)).is_empty());
}

/// Answers `status` with everything it was sent, as a careless vendor's error might.
fn echoing(status: u16) -> Receiver {
    Receiver::start(Box::new(move |_, request| {
        let echo = format!(
            "{} {} {:?} {}",
            request.method,
            request.path,
            request.headers,
            String::from_utf8_lossy(&request.body)
        );
        (status, json!({ "error": echo }).to_string())
    }))
}

#[test]
fn refused_and_exhausted_deliveries_are_dead_lettered_without_secrets() {
    let setup = Setup::new("dlq");
    let refusing = echoing(400);
    let failing = echoing(503);
    let alert = alert_json(&alert_id(), "CRITICAL", json!({}));
    setup.produce_alerts(&[&alert]);
    let secrets = [
        "pd-dlq-routing-key-0123456789",
        "hook-dlq-path-secret",
        "hook-dlq-signing-secret",
        "og-dlq-api-key-secret",
    ];
    let yaml = setup.yaml(
        &format!(
            "  - {{id: pd, name: On-call, type: pagerduty, base_url: \"{refusing}\", routing_key: {pd}}}\n\
             \x20 - {{id: hook, type: webhook, url: \"{refusing}/in/{path}\", secret: {signing}}}\n\
             \x20 - {{id: og, type: opsgenie, base_url: \"{failing}\", api_key: {og}}}",
            refusing = refusing.base,
            failing = failing.base,
            pd = secrets[0],
            path = secrets[1],
            signing = secrets[2],
            og = secrets[3],
        ),
        "severity_routes: {CRITICAL: [pd, hook, og]}",
    );
    let stats = forward(&yaml);
    assert_eq!((stats.delivered, stats.dead_lettered), (0, 3), "{stats:?}");
    // Refusals are not retried; the 503s are, up to retry.attempts.
    assert_eq!(refusing.requests().len(), 2);
    assert_eq!(failing.requests().len(), 3);

    let letters = setup.dead_letters(3, WAIT);
    assert_eq!(letters.len(), 3);
    for (key, value) in &letters {
        assert_eq!(key, alert["alertId"].as_str().expect("id"));
        let text = String::from_utf8_lossy(value);
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} in dead letter {text}");
        }
        for base in [&refusing.base, &failing.base] {
            assert!(!text.contains(base.as_str()), "a destination URL in {text}");
        }
    }
    let by_id = |id: &str| -> Value {
        letters
            .iter()
            .map(|(_, value)| serde_json::from_slice::<Value>(value).expect("JSON dead letter"))
            .find(|letter| letter["destination_id"] == id)
            .unwrap_or_else(|| panic!("no dead letter for {id}"))
    };
    let pd = by_id("pd");
    assert_eq!(pd["reason"], "rejected");
    assert_eq!(pd["type"], "pagerduty");
    assert_eq!(pd["destination_name"], "On-call");
    assert_eq!(pd["status"], 400);
    assert_eq!(pd["attempts"], 1);
    assert_eq!(pd["alert"], alert);
    assert_eq!(pd["alert_id"], alert["alertId"]);
    let body = pd["response_body"].as_str().expect("response body");
    assert!(body.contains("POST /v2/enqueue"), "{body}");
    assert!(body.contains("[redacted]"), "{body}");
    let hook = by_id("hook");
    assert_eq!(
        (hook["reason"].clone(), hook["status"].clone()),
        (json!("rejected"), json!(400))
    );
    assert!(hook["response_body"]
        .as_str()
        .is_some_and(|body| body.contains("POST [redacted]")));
    let og = by_id("og");
    assert_eq!(og["reason"], "retries_exhausted");
    assert_eq!(og["type"], "opsgenie");
    assert_eq!(og["status"], 503);
    assert_eq!(og["attempts"], 3);
}

#[test]
fn routing_follows_the_override_and_notify_picks_versions() {
    let setup = Setup::new("routing");
    let receiver = Receiver::answering(200);
    let id = alert_id();
    let override_to =
        json!({"destinations": ["first-only", "Every update", "no-such-destination"]});
    let first = alert_json(&id, "HIGH", override_to.clone());
    let mut update = alert_json(&id, "HIGH", override_to);
    update["eventCount"] = json!(2);
    update["updateTime"] = json!("2026-11-27 10:01:00.000000000");
    let by_output_ids = alert_json(&alert_id(), "HIGH", json!({"outputIds": ["by-severity"]}));
    let by_severity = alert_json(&alert_id(), "HIGH", json!({}));
    produce(&setup.topic, &[("garbage", b"not an alert".to_vec())]);
    setup.produce_alerts(&[&first, &update, &by_output_ids, &by_severity]);
    let yaml = setup.yaml(
        &format!(
            "  - {{id: first-only, type: webhook, url: \"{base}/first\"}}\n\
             \x20 - {{id: every, name: Every update, type: webhook, notify: every, url: \"{base}/every\"}}\n\
             \x20 - {{id: by-severity, type: webhook, url: \"{base}/severity\"}}\n\
             \x20 - {{id: unused, type: webhook, url: \"{base}/unused\"}}",
            base = receiver.base
        ),
        "severity_routes: {HIGH: [unused]}",
    );
    let stats = forward(&yaml);
    assert_eq!(stats.records, 5, "{stats:?}");
    let paths = |path: &str| -> Vec<Value> {
        receiver
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .map(Recorded::json)
            .collect()
    };
    let first_only = paths("/first");
    assert_eq!(first_only.len(), 1);
    assert_eq!(first_only[0]["eventCount"], 1);
    let every: Vec<Value> = paths("/every")
        .iter()
        .map(|a| a["eventCount"].clone())
        .collect();
    assert_eq!(every, [json!(1), json!(2)]);
    let severity = paths("/severity");
    assert_eq!(severity, [by_output_ids]);
    let unused = paths("/unused");
    assert_eq!(unused, [by_severity]);

    let letters = setup.dead_letters(1, WAIT);
    assert_eq!(letters.len(), 1);
    let letter: Value = serde_json::from_slice(&letters[0].1).expect("JSON dead letter");
    assert_eq!(letter["reason"], "undecodable");
    assert_eq!(letter["destination_id"], Value::Null);
    assert_eq!(
        letter["record_base64"],
        base64::engine::general_purpose::STANDARD.encode("not an alert")
    );
}

#[test]
fn no_secret_reaches_the_log_even_at_debug() {
    let setup = Setup::new("logs");
    let echo_500 = echoing(500);
    let echo_401 = echoing(401);
    let echo_403 = echoing(403);
    let echo_404 = echoing(404);
    let echo_429 = echoing(429);
    let echo_400 = echoing(400);
    // Answers after the client gave up: the timeout path.
    let slow = Receiver::start(Box::new(|_, _| {
        std::thread::sleep(Duration::from_millis(1500));
        (200, "{}".into())
    }));
    let refused = closed_port_url();
    let secrets = [
        "slack-log-secret-1",
        "teams-log-secret-2",
        "pd-log-secret-3",
        "og-log-secret-4",
        "jira-log-secret-5",
        "gh-log-secret-6",
        "asana-log-secret-7",
        "webhook-log-secret-8",
        "hmac-log-secret-9",
    ];
    let jira_basic =
        base64::engine::general_purpose::STANDARD.encode(format!("bot@acme.com:{}", secrets[4]));
    let alert = alert_json(&alert_id(), "CRITICAL", json!({}));
    setup.produce_alerts(&[&alert]);
    let destinations = format!(
        "  - {{id: slack, type: slack, url: \"{refused}/services/T9/B9/{s1}\"}}\n\
         \x20 - {{id: teams, type: teams, url: \"{slow}/webhookb2/{s2}\"}}\n\
         \x20 - {{id: pd, type: pagerduty, base_url: \"{e500}\", routing_key: {s3}}}\n\
         \x20 - {{id: og, type: opsgenie, base_url: \"{e401}\", api_key: \"${{CORVID_TEST_OG_KEY}}\"}}\n\
         \x20 - {{id: jira, type: jira, base_url: \"{e403}\", user: bot@acme.com, api_token: {s5}, project_key: SEC}}\n\
         \x20 - {{id: gh, type: github, base_url: \"{e404}\", token: {s6}, owner: acme, repo: soc}}\n\
         \x20 - {{id: asana, type: asana, base_url: \"{e429}\", token: {s7}, project_gids: [\"1\"]}}\n\
         \x20 - {{id: hook, type: webhook, url: \"{e400}/hook/{s8}\", secret: {s9}}}",
        slow = slow.base,
        e500 = echo_500.base,
        e401 = echo_401.base,
        e403 = echo_403.base,
        e404 = echo_404.base,
        e429 = echo_429.base,
        e400 = echo_400.base,
        s1 = secrets[0],
        s2 = secrets[1],
        s3 = secrets[2],
        s5 = secrets[4],
        s6 = secrets[5],
        s7 = secrets[6],
        s8 = secrets[7],
        s9 = secrets[8],
    );
    let yaml = setup
        .yaml(
            &destinations,
            "severity_routes: {CRITICAL: [slack, teams, pd, og, jira, gh, asana, hook]}",
        )
        .replace("timeout_ms: 2000", "timeout_ms: 300");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("forwarder.yaml");
    std::fs::write(&config, yaml).expect("write config");
    let output = std::process::Command::new(corvid_binary())
        .args(["connect", "alerts", "--max-idle-secs", "1", "--config"])
        .arg(&config)
        .env("RUST_LOG", "debug")
        .env("CORVID_TEST_OG_KEY", secrets[3])
        .output()
        .expect("run corvid connect alerts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "corvid failed:\n{stderr}");
    // The failures really happened and were logged, with the vendors' echoes.
    assert!(
        stderr.contains("8 dead letters"),
        "not every destination failed:\n{stderr}"
    );
    assert!(stderr.contains("retrying"), "{stderr}");
    assert!(
        stderr.contains("[redacted]"),
        "no echo was scrubbed:\n{stderr}"
    );
    assert!(
        !echo_401.requests().is_empty(),
        "opsgenie never asked:\n{stderr}"
    );
    assert!(!slow.requests().is_empty(), "teams never asked:\n{stderr}");
    for secret in secrets.iter().copied().chain([jira_basic.as_str()]) {
        assert!(
            !stderr.contains(secret),
            "{secret} leaked into the log:\n{stderr}"
        );
    }
    let letters = setup.dead_letters(8, WAIT);
    assert_eq!(letters.len(), 8);
    for (_, value) in &letters {
        let text = String::from_utf8_lossy(value);
        for secret in secrets.iter().copied().chain([jira_basic.as_str()]) {
            assert!(!text.contains(secret), "{secret} in dead letter {text}");
        }
    }
}

/// Answers 503 until `accept` is set, then 200.
fn gated(accept: &Arc<AtomicBool>) -> Receiver {
    let accept = Arc::clone(accept);
    Receiver::start(Box::new(move |_, _| {
        if accept.load(Ordering::Acquire) {
            (200, "{}".into())
        } else {
            (503, "{}".into())
        }
    }))
}

fn patient_yaml(setup: &Setup, receiver: &Receiver) -> String {
    setup
        .yaml(
            &format!(
                "  - {{id: hook, type: webhook, url: \"{}/hook\"}}",
                receiver.base
            ),
            "severity_routes: {HIGH: [hook]}",
        )
        .replace(
            "attempts: 3, initial_backoff_ms: 20, max_backoff_ms: 100",
            "attempts: 1000, initial_backoff_ms: 50, max_backoff_ms: 200",
        )
}

fn delivered(receiver: &Receiver) -> Vec<Value> {
    receiver
        .requests()
        .iter()
        .filter(|r| r.status == 200)
        .map(Recorded::json)
        .collect()
}

#[test]
fn a_forwarder_killed_before_delivery_delivers_after_restart() {
    let setup = Setup::new("crash");
    let accept = Arc::new(AtomicBool::new(false));
    let receiver = gated(&accept);
    let alert = alert_json(&alert_id(), "HIGH", json!({}));
    setup.produce_alerts(&[&alert]);
    // The killed member holds its partition until its session times out; the broker's
    // minimum keeps the restart quick.
    let yaml = patient_yaml(&setup, &receiver).replacen(
        "kafka: {",
        "kafka: {client: {session.timeout.ms: \"6000\"}, ",
        1,
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("forwarder.yaml");
    std::fs::write(&config, &yaml).expect("write config");

    let mut child = std::process::Command::new(corvid_binary())
        .args(["connect", "alerts", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start corvid connect alerts");
    let attempts = receiver.wait_for(2, WAIT);
    assert!(attempts.len() >= 2, "the forwarder never tried to deliver");
    // SIGKILL: no chance to commit anything on the way out.
    child.kill().expect("kill forwarder");
    child.wait().expect("reap forwarder");
    assert!(delivered(&receiver).is_empty());

    accept.store(true, Ordering::Release);
    let stats = forward(&yaml);
    assert_eq!((stats.records, stats.delivered), (1, 1), "{stats:?}");
    assert_eq!(delivered(&receiver), [alert]);

    // Delivered, so committed: the same group has nothing left to forward.
    let before = receiver.requests().len();
    let stats = forward(&yaml);
    assert_eq!(stats.records, 0, "{stats:?}");
    assert_eq!(receiver.requests().len(), before);
}

#[test]
fn a_shutdown_mid_retry_leaves_the_alert_to_the_next_run() {
    let setup = Setup::new("shutdown");
    let accept = Arc::new(AtomicBool::new(false));
    let receiver = gated(&accept);
    let alert = alert_json(&alert_id(), "HIGH", json!({}));
    setup.produce_alerts(&[&alert]);
    let yaml = patient_yaml(&setup, &receiver);

    let shutdown = Arc::new(AtomicBool::new(false));
    let stats = std::thread::scope(|scope| {
        let forwarder = scope.spawn(|| forward_until(&yaml, &shutdown));
        let attempts = receiver.wait_for(2, WAIT);
        assert!(attempts.len() >= 2, "the forwarder never tried to deliver");
        shutdown.store(true, Ordering::Release);
        forwarder.join().expect("forwarder thread")
    });
    assert_eq!((stats.records, stats.delivered), (1, 0), "{stats:?}");
    assert_eq!(stats.dead_lettered, 0);

    accept.store(true, Ordering::Release);
    let stats = forward(&yaml);
    assert_eq!((stats.records, stats.delivered), (1, 1), "{stats:?}");
    assert_eq!(delivered(&receiver), [alert]);
}

/// The registry `scripts/schema-registry.sh` starts, or `CORVID_TEST_SCHEMA_REGISTRY`.
fn schema_registry() -> String {
    std::env::var("CORVID_TEST_SCHEMA_REGISTRY")
        .unwrap_or_else(|_| "http://127.0.0.1:8081/apis/ccompat/v6".into())
}

/// The engine's Avro conventions in a few fields: an enum `type`, a map, a null union,
/// and free-form JSON as JSON text.
const AVRO_ALERT_SCHEMA: &str = r#"{"type": "record", "name": "Alert", "namespace": "corvid", "fields": [
  {"name": "alertId", "type": "string"},
  {"name": "type", "type": {"type": "enum", "name": "AlertType", "symbols": ["RULE", "RULE_ERROR"]}},
  {"name": "title", "type": "string"},
  {"name": "severity", "type": "string"},
  {"name": "eventCount", "type": "long"},
  {"name": "creationTime", "type": "string"},
  {"name": "updateTime", "type": "string"},
  {"name": "reports", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
  {"name": "destinations", "type": ["null", {"type": "array", "items": "string"}], "default": null},
  {"name": "alertContext", "type": ["null", "string"], "default": null},
  {"name": "samples", "type": {"type": "array", "items": "string"}}
]}"#;

#[test]
fn an_avro_alert_is_decoded_through_the_registry_and_forwarded_as_json() {
    use apache_avro::types::Value as Avro;
    use schema_registry_converter::blocking::avro::AvroEncoder;
    use schema_registry_converter::blocking::schema_registry::SrSettings;
    use schema_registry_converter::schema_registry_common::{
        SchemaType, SubjectNameStrategy, SuppliedSchema,
    };

    let setup = Setup::new("avro");
    let receiver = Receiver::answering(200);
    let registry = schema_registry();
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        setup.topic.clone(),
        false,
        SuppliedSchema::new(
            Some("corvid.Alert".into()),
            SchemaType::Avro,
            AVRO_ALERT_SCHEMA.into(),
        ),
    );
    let id = alert_id();
    let time = "2026-11-27 10:00:00.000000000";
    let fields = vec![
        ("alertId", Avro::String(id.clone())),
        ("type", Avro::Enum(0, "RULE".into())),
        ("title", Avro::String("root logged in".into())),
        ("severity", Avro::String("HIGH".into())),
        ("eventCount", Avro::Long(1)),
        ("creationTime", Avro::String(time.into())),
        ("updateTime", Avro::String(time.into())),
        (
            "reports",
            Avro::Map(
                [(
                    "MITRE ATT&CK".to_owned(),
                    Avro::Array(vec![Avro::String("TA0001:T1078".into())]),
                )]
                .into(),
            ),
        ),
        ("destinations", Avro::Union(0, Box::new(Avro::Null))),
        (
            "alertContext",
            Avro::Union(1, Box::new(Avro::String(r#"{"ip":"203.0.113.7"}"#.into()))),
        ),
        (
            "samples",
            Avro::Array(vec![Avro::String(r#"{"user":"root","n":1}"#.into())]),
        ),
    ];
    let payload = AvroEncoder::new(SrSettings::new(registry.clone()))
        .encode(fields, &strategy)
        .unwrap_or_else(|e| panic!("registering and encoding at {registry} (is it up? scripts/schema-registry.sh up): {e}"));
    assert_eq!(payload[0], 0, "Confluent framing");
    produce(&setup.topic, &[(&id, payload)]);
    let yaml = setup.yaml(
        &format!(
            "  - {{id: hook, type: webhook, url: \"{}/hook\"}}",
            receiver.base
        ),
        &format!("schema_registry_url: \"{registry}\"\nseverity_routes: {{HIGH: [hook]}}"),
    );
    let stats = forward(&yaml);
    assert_eq!((stats.records, stats.delivered), (1, 1), "{stats:?}");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].json(),
        json!({
            "alertId": id,
            "type": "RULE",
            "title": "root logged in",
            "severity": "HIGH",
            "eventCount": 1,
            "creationTime": time,
            "updateTime": time,
            "reports": {"MITRE ATT&CK": ["TA0001:T1078"]},
            "destinations": null,
            "alertContext": {"ip": "203.0.113.7"},
            "samples": [{"user": "root", "n": 1}],
        })
    );
}

#[test]
fn the_forwarder_serves_its_metrics() {
    let setup = Setup::new("metrics");
    let receiver = Receiver::answering(200);
    let alerts: Vec<Value> = (0..3)
        .map(|_| alert_json(&alert_id(), "HIGH", json!({})))
        .collect();
    setup.produce_alerts(&alerts.iter().collect::<Vec<_>>());
    let listen = free_listen_address();
    // Statistics twice a second, so the lag gauge shows up quickly.
    let yaml = setup
        .yaml(
            &format!(
                "  - {{id: hook, type: webhook, url: \"{}/hook\"}}",
                receiver.base
            ),
            &format!("severity_routes: {{HIGH: [hook]}}\nmetrics: {{listen: \"{listen}\"}}"),
        )
        .replacen(
            "kafka: {",
            "kafka: {client: {statistics.interval.ms: \"500\"}, ",
            1,
        );
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("forwarder.yaml");
    std::fs::write(&config, &yaml).expect("write config");
    let config = config.to_string_lossy().into_owned();
    let forwarder = Running::start(&["connect", "alerts", "--config", &config]);

    let delivered = receiver.wait_for(3, WAIT);
    assert_eq!(delivered.len(), 3, "{}", forwarder.stderr_text());
    let (records, exposition) = wait_for_sample(
        &listen,
        "corvid_forwarder_records_total",
        &[],
        |records| records >= 3.0,
        WAIT,
    );
    assert_eq!(records, Some(3.0), "{exposition}");
    assert_eq!(
        sample(
            &exposition,
            "corvid_build_info",
            &[("component", "forwarder")]
        ),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        sample(
            &exposition,
            "corvid_destination_deliveries_total",
            &[("destination", "hook"), ("type", "webhook")]
        ),
        Some(3.0),
        "{exposition}"
    );
    // Every record is committed once delivered, so librdkafka's lag settles at zero.
    let lag = [("topic", setup.topic.as_str()), ("partition", "0")];
    let (lag, exposition) = wait_for_sample(
        &listen,
        "corvid_kafka_consumer_lag",
        &lag,
        |lag| lag == 0.0,
        WAIT,
    );
    assert_eq!(lag, Some(0.0), "{exposition}");

    let (success, stderr) = forwarder.terminate();
    assert!(success, "forwarder failed on SIGTERM:\n{stderr}");
    assert!(stderr.contains("3 alert records read"), "{stderr}");
}
