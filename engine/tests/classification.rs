//! Classification of a mixed source: only the source's declared log types are tried,
//! and every line lands in the right one, whatever order they come in.

use std::sync::Arc;

use corvid_connectors::raw_record::SourceMeta;
use corvid_engine::parse::stdin::{outcome_json, parse_lines, LineSource};
use corvid_engine::parse::{Classifier, LogTypeRegistry};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::Value;

const SYSLOG: &str = r#"<165>1 2026-11-27T20:01:02.003Z host-7.example.com evntslog 211 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event log entry"#;
const OSQUERY: &str = r#"{"name":"pack_logged_in_users","hostIdentifier":"web-1","calendarTime":"Fri Nov 27 20:01:02 2026 UTC","unixTime":1795809662,"columns":{"host":"192.0.1.5","user":"carol"},"action":"added"}"#;
const CLOUDTRAIL: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"123456789012","arn":"arn:aws:iam::123456789012:root","accountId":"123456789012"},"eventTime":"2026-11-27T20:01:02Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},"eventID":"e-1","eventType":"AwsConsoleSignIn","recipientAccountId":"123456789012"}"#;

#[test]
fn a_mixed_source_classifies_every_line_into_its_own_log_type() {
    let registry = Arc::new(LogTypeRegistry::builtin().expect("built-in schemas"));
    let mut lines: Vec<(&str, &str)> = (0..300)
        .map(|i| match i % 3 {
            0 => ("Syslog.RFC5424", SYSLOG),
            1 => ("Osquery.Differential", OSQUERY),
            _ => ("AWS.CloudTrail", CLOUDTRAIL),
        })
        .collect();
    lines.shuffle(&mut StdRng::seed_from_u64(7));
    let input: String = lines.iter().map(|(_, line)| format!("{line}\n")).collect();
    let source = LineSource {
        topic: "mixed".into(),
        stream: "mixed.log".into(),
        meta: SourceMeta {
            source_id: "mixed".into(),
            source_label: "Mixed".into(),
            log_types: vec![
                "Syslog.RFC5424".into(),
                "Osquery.Differential".into(),
                "AWS.CloudTrail".into(),
            ],
        },
    };
    let mut classifier = Classifier::new(registry);
    let mut got = Vec::new();
    parse_lines(
        &mut classifier,
        &source,
        input.as_bytes(),
        None,
        |outcome| {
            got.push(outcome_json(outcome));
            Ok(())
        },
    )
    .expect("in-memory input");
    assert_eq!(got.len(), lines.len());
    for ((expected, _), event) in lines.iter().zip(&got) {
        assert_eq!(event["p_log_type"], Value::from(*expected), "{event}");
    }
}
