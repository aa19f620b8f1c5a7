//! Golden files for every built-in log type: input lines → the exact events (or dead
//! letters) `corvid parse` produces, with every `p_` field.
//!
//! Layout: `tests/golden/<LogType>/<case>.log` (input lines, one stream) beside
//! `<case>.json` (the expected outputs, a JSON array). Every built-in log type must have
//! at least two cases (a minimal and a full record). Parse time, topic, stream and source
//! are fixed, so `p_parse_time` and `p_row_id` are reproducible.
//!
//! To write the expected files for new cases, run with `CORVID_BLESS=1` and then *read
//! them*: a blessed file is only as right as the review it got.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use corvid_connectors::raw_record::SourceMeta;
use corvid_engine::parse::stdin::{outcome_json, parse_lines, LineSource};
use corvid_engine::parse::{Classifier, LogTypeRegistry};
use serde_json::Value;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// The fixed parse time of golden runs: 2020-01-01 00:00:00 UTC.
fn parse_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_577_836_800, 0).expect("valid time")
}

fn run_case(registry: &Arc<LogTypeRegistry>, log_type: &str, input: &Path) -> Value {
    let text = std::fs::read(input).expect("read golden input");
    let source = LineSource {
        topic: "golden".into(),
        stream: input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        meta: SourceMeta {
            source_id: "golden-source".into(),
            source_label: "Golden Source".into(),
            log_types: vec![log_type.to_owned()],
        },
    };
    let mut classifier = Classifier::new(Arc::clone(registry));
    let mut outputs = Vec::new();
    parse_lines(
        &mut classifier,
        &source,
        text.as_slice(),
        Some(parse_time()),
        |outcome| {
            outputs.push(outcome_json(outcome));
            Ok(())
        },
    )
    .expect("reading from memory cannot fail");
    Value::Array(outputs)
}

#[test]
fn every_builtin_log_type_matches_its_golden_files() {
    let registry = Arc::new(LogTypeRegistry::builtin().expect("built-in schemas"));
    let bless = std::env::var_os("CORVID_BLESS").is_some();
    let mut failures = Vec::new();
    let mut checked = 0;
    // While writing a group of schemas, `CORVID_GOLDEN_ONLY=AWS.,Syslog.` checks only log
    // types with those prefixes; the full suite always checks every one.
    let only: Vec<String> = std::env::var("CORVID_GOLDEN_ONLY")
        .map(|list| {
            list.split(',')
                .map(str::to_owned)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut expected_cases = 0;
    for log_type in registry.names() {
        if !only.is_empty()
            && !only
                .iter()
                .any(|prefix| log_type.starts_with(prefix.as_str()))
        {
            continue;
        }
        expected_cases += 2;
        let dir = golden_dir().join(log_type);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "log"))
                    .collect()
            })
            .unwrap_or_default();
        inputs.sort();
        if inputs.len() < 2 {
            failures.push(format!(
                "{log_type}: needs at least 2 golden cases in {}",
                dir.display()
            ));
            continue;
        }
        for input in inputs {
            let actual = run_case(&registry, log_type, &input);
            let expected_path = input.with_extension("json");
            if bless {
                let text = serde_json::to_string_pretty(&actual).expect("serialize") + "\n";
                std::fs::write(&expected_path, text).expect("write golden");
            }
            let expected: Value = match std::fs::read_to_string(&expected_path) {
                Ok(text) => serde_json::from_str(&text).expect("golden file is JSON"),
                Err(_) => {
                    failures.push(format!(
                        "{}: missing (run with CORVID_BLESS=1, then review it)",
                        expected_path.display()
                    ));
                    continue;
                }
            };
            if actual != expected {
                failures.push(format!(
                    "{}: output differs\nexpected: {}\nactual:   {}",
                    input.display(),
                    serde_json::to_string(&expected).unwrap_or_default(),
                    serde_json::to_string(&actual).unwrap_or_default()
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} golden failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        checked >= expected_cases,
        "checked {checked} cases, expected at least {expected_cases}"
    );
}

#[test]
fn golden_directories_name_only_known_log_types() {
    let registry = LogTypeRegistry::builtin().expect("built-in schemas");
    for entry in std::fs::read_dir(golden_dir()).expect("golden dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        assert!(
            registry.get(&name).is_some(),
            "tests/golden/{name} is not a built-in log type"
        );
    }
}

/// Every log type Panther v1.16 shipped, by name (issue 3's list).
const PANTHER_V1_LOG_TYPES: &[&str] = &[
    "AWS.ALB",
    "AWS.AuroraMySQLAudit",
    "AWS.CloudTrail",
    "AWS.CloudTrailDigest",
    "AWS.CloudTrailInsight",
    "AWS.CloudWatchEvents",
    "AWS.GuardDuty",
    "AWS.S3ServerAccess",
    "AWS.VPCDns",
    "AWS.VPCFlow",
    "AWS.WAFWebACL",
    "Osquery.Batch",
    "Osquery.Differential",
    "Osquery.Snapshot",
    "Osquery.Status",
    "Suricata.DNS",
    "Suricata.Anomaly",
    "OSSEC.EventInfo",
    "Syslog.RFC3164",
    "Syslog.RFC5424",
    "Zeek.DNS",
    "Apache.AccessCombined",
    "Apache.AccessCommon",
    "Nginx.Access",
    "Fastly.Access",
    "Fluentd.Syslog3164",
    "Fluentd.Syslog5424",
    "GCP.AuditLog",
    "Okta.SystemLog",
    "GSuite.Reports",
    "Box.Event",
    "OneLogin.Events",
    "Duo.Authentication",
    "Duo.Administrator",
    "Duo.Telephony",
    "Duo.OfflineEnrollment",
    "Slack.AuditLogs",
    "Slack.AccessLogs",
    "Slack.IntegrationLogs",
    "GitLab.API",
    "GitLab.Audit",
    "GitLab.Exceptions",
    "GitLab.Git",
    "GitLab.Integrations",
    "GitLab.Production",
    "Gravitational.TeleportAudit",
    "Cloudflare.HttpRequest",
    "Cloudflare.Firewall",
    "Cloudflare.Spectrum",
    "Crowdstrike.DNSRequest",
    "Crowdstrike.NetworkConnect",
    "Crowdstrike.NetworkListen",
    "Crowdstrike.ProcessRollup2",
    "Crowdstrike.SyntheticProcessRollup2",
    "Crowdstrike.UserIdentity",
    "Crowdstrike.GroupIdentity",
    "Crowdstrike.Unknown",
    "Crowdstrike.AIDMaster",
    "Crowdstrike.ManagedAssets",
    "Crowdstrike.NotManagedAssets",
    "Crowdstrike.AppInfo",
    "Crowdstrike.UserInfo",
    "Juniper.Access",
    "Juniper.Audit",
    "Juniper.Firewall",
    "Juniper.MWS",
    "Juniper.Postgres",
    "Juniper.Security",
    "Lacework.Events",
    "Sophos.Central",
    "CiscoUmbrella.DNS",
    "CiscoUmbrella.CloudFirewall",
    "CiscoUmbrella.IP",
    "CiscoUmbrella.Proxy",
];

#[test]
fn every_panther_v1_log_type_is_built_in() {
    assert_eq!(PANTHER_V1_LOG_TYPES.len(), 74);
    let registry = LogTypeRegistry::builtin().expect("built-in schemas");
    let missing: Vec<&&str> = PANTHER_V1_LOG_TYPES
        .iter()
        .filter(|name| registry.get(name).is_none())
        .collect();
    assert!(missing.is_empty(), "missing log types: {missing:?}");
}
