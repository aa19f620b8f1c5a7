//! Avro alerts on the real broker and the real schema registry, read back by a stock
//! consumer: `confluent_kafka`'s `AvroDeserializer` in the project venv
//! (`engine/tests/avro_alert_consumer.py`), which knows nothing of Corvid.

mod common;

use std::collections::BTreeMap;

use common::{brokers, produce_acknowledged, repo_root, test_schema_registry, unique, venv_python};
use corvid_engine::alerts::avro::AlertAvroEncoder;
use corvid_engine::alerts::{Alert, AlertType};
use serde_json::{json, Map, Value};

fn rule_alert() -> Alert {
    Alert {
        alert_id: "a1b2c3d4e5f60718".into(),
        alert_type: AlertType::Rule,
        rule_id: "Osquery.SSHLoginOutside".into(),
        rule_version: "3".into(),
        title: "mallory logged in from 198.51.100.66".into(),
        severity: "HIGH".into(),
        dedup_string: "mallory".into(),
        dedup_period_minutes: 60,
        threshold: 2,
        event_count: 5,
        creation_time: "2026-11-27 20:01:02.000000000".into(),
        update_time: "2026-11-27 20:01:04.200000000".into(),
        first_event_time: "2026-11-27 20:01:02.000000000".into(),
        last_event_time: "2026-11-27 20:01:03.500000000".into(),
        log_types: vec!["Osquery.Differential".into(), "Syslog.RFC5424".into()],
        display_name: "SSH login from outside the fleet".into(),
        description: "An interactive login from an address outside the fleet.".into(),
        reference: "https://example.com/detections/ssh".into(),
        runbook: "Confirm with the user; lock the account if unknown.".into(),
        tags: vec!["Initial Access".into(), "SSH".into()],
        reports: BTreeMap::from([
            ("MITRE ATT&CK".into(), vec!["TA0001:T1078".into()]),
            ("CIS".into(), vec!["5.2".into(), "5.3".into()]),
        ]),
        destinations: Some(vec!["slack-soc".into(), "pagerduty".into()]),
        alert_context: Some(json!({
            "user": "mallory",
            "from": "198.51.100.66",
            "ports": [22, 2222],
            "geo": {"country": "ZZ", "asn": null},
            "ratio": 0.25,
        })),
        error: None,
        samples: vec![
            json!({"name": "pack_logged_in_users", "columns": {"user": "mallory", "host": "198.51.100.66"}, "p_log_type": "Osquery.Differential"}),
            json!({"name": "pack_logged_in_users", "columns": {"user": "mallory", "host": "198.51.100.67"}, "unixTime": 1795809663_u64}),
        ],
    }
}

fn rule_error_alert() -> Alert {
    Alert {
        alert_id: "ffeeddccbbaa9988".into(),
        alert_type: AlertType::RuleError,
        rule_id: "Osquery.Broken".into(),
        rule_version: "1".into(),
        title: "Osquery.Broken raised KeyError".into(),
        severity: "INFO".into(),
        dedup_string: "KeyError".into(),
        dedup_period_minutes: 60,
        threshold: 1,
        event_count: 1,
        creation_time: "2026-11-27 20:01:02.000000000".into(),
        update_time: "2026-11-27 20:01:02.000000000".into(),
        first_event_time: "2026-11-27 20:01:02.000000000".into(),
        last_event_time: "2026-11-27 20:01:02.000000000".into(),
        log_types: vec!["Osquery.Differential".into()],
        display_name: String::new(),
        description: String::new(),
        reference: String::new(),
        runbook: String::new(),
        tags: Vec::new(),
        reports: BTreeMap::new(),
        destinations: None,
        alert_context: None,
        error: Some("KeyError: 'columns'".into()),
        samples: Vec::new(),
    }
}

/// The alert as the stock consumer shows it, but for `alertContext` and `samples`, which
/// it shows as JSON text and the test compares parsed.
fn expected_fields(alert: &Alert) -> Map<String, Value> {
    let Value::Object(mut fields) = serde_json::to_value(alert).expect("alert JSON") else {
        panic!("an alert is a JSON object");
    };
    // Absent optional fields are nulls in Avro; the JSON encoding leaves them out.
    for optional in ["destinations", "outputIds", "error"] {
        fields.entry(optional).or_insert(Value::Null);
    }
    fields.remove("alertContext");
    fields.remove("samples");
    fields
}

#[test]
fn avro_alerts_are_decoded_by_a_stock_consumer_through_the_registry() {
    let python = venv_python();
    let registry = test_schema_registry();
    let topic = unique("it-alerts-avro");
    corvid_connectors::topics::ensure_topics(
        &corvid_connectors::producer::producer_config(&brokers()),
        &[(&topic, 1)],
    )
    .expect("alerts topic");

    let encoder = AlertAvroEncoder::new(&registry, &topic).expect("register the alert schema");
    assert_eq!(encoder.subject(), format!("{topic}-value"));
    // A restarted engine finds the same schema under the same subject.
    assert_eq!(
        AlertAvroEncoder::new(&registry, &topic)
            .expect("register again")
            .schema_id(),
        encoder.schema_id()
    );

    let alerts = [rule_alert(), rule_error_alert()];
    let records: Vec<(String, Vec<u8>)> = alerts
        .iter()
        .map(|alert| {
            let framed = encoder.encode(alert).expect("encode");
            assert_eq!(framed[0], 0, "Confluent magic byte");
            assert_eq!(
                framed[1..5],
                encoder.schema_id().to_be_bytes(),
                "the registry id of the schema"
            );
            (alert.alert_id.clone(), framed)
        })
        .collect();
    produce_acknowledged(&topic, &records);

    let output = std::process::Command::new(&python)
        .arg(repo_root().join("engine/tests/avro_alert_consumer.py"))
        .args(["--brokers", &brokers(), "--registry", &registry])
        .args(["--topic", &topic, "--count", &alerts.len().to_string()])
        .args(["--timeout", "60"])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the stock consumer failed ({}):\n{stderr}\n{stdout}",
        output.status
    );

    let decoded: BTreeMap<String, Value> = stdout
        .lines()
        .map(|line| {
            let record: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            assert_eq!(record["schemaId"], json!(encoder.schema_id()), "{line}");
            assert_eq!(
                record["subjectSchemaId"],
                json!(encoder.schema_id()),
                "{line}"
            );
            let key = record["key"].as_str().expect("a key").to_owned();
            (key, record["value"].clone())
        })
        .collect();
    assert_eq!(
        decoded.keys().collect::<Vec<_>>(),
        ["a1b2c3d4e5f60718", "ffeeddccbbaa9988"],
        "one record per alert, keyed by alert id:\n{stdout}"
    );

    for alert in &alerts {
        let Value::Object(mut fields) = decoded[&alert.alert_id].clone() else {
            panic!("alert {} decodes to an object", alert.alert_id);
        };
        let context = fields.remove("alertContext").expect("alertContext field");
        let context = context
            .as_str()
            .map(|text| serde_json::from_str::<Value>(text).expect("alertContext is JSON text"));
        assert_eq!(
            context, alert.alert_context,
            "alertContext of {}",
            alert.alert_id
        );
        let samples: Vec<Value> = fields
            .remove("samples")
            .and_then(|s| s.as_array().cloned())
            .expect("samples field")
            .iter()
            .map(|s| serde_json::from_str(s.as_str().expect("a sample is text")).expect("JSON"))
            .collect();
        assert_eq!(samples, alert.samples, "samples of {}", alert.alert_id);
        assert_eq!(
            fields,
            expected_fields(alert),
            "fields of {}",
            alert.alert_id
        );
    }
    assert_eq!(decoded["a1b2c3d4e5f60718"]["type"], "RULE");
    assert_eq!(decoded["ffeeddccbbaa9988"]["type"], "RULE_ERROR");
    assert_eq!(decoded["ffeeddccbbaa9988"]["error"], "KeyError: 'columns'");
    assert_eq!(decoded["ffeeddccbbaa9988"]["alertContext"], Value::Null);
}
