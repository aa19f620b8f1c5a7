//! `corvid loadtest scenario intrusion`: the written files parse with the engine's
//! parsers (no dead letter, the story's indicators present), and the scenario produced
//! to real Kafka raises exactly the story's login alert in `corvid run`.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use common::{corvid, run_to_end, summary, unique, write_config, TopicReader};
use serde_json::Value;

const DATE: &str = "2026-11-27";
const ATTACKER_IP: &str = "136.24.229.194";
const HOST_PUBLIC_IP: &str = "54.164.105.138";
const HOST_PRIVATE_IP: &str = "172.31.84.73";
const INSTANCE_ID: &str = "i-016e2cb69ac58c2d5";
const HOST_IDENTIFIER: &str = "ip-172-31-84-73";

/// The log types, their source ids and files, in the order the scenario writes them.
const LOGS: [(&str, &str); 3] = [
    ("Osquery.Differential", "osquery-fleet"),
    ("AWS.VPCFlow", "vpc-flow-logs"),
    ("AWS.CloudTrail", "cloudtrail"),
];

fn scenario(args: &[&str]) -> Output {
    let output = corvid()
        .args(["loadtest", "scenario", "intrusion", "--date", DATE])
        .args(args)
        .output()
        .expect("run corvid loadtest scenario");
    assert!(
        output.status.success(),
        "scenario failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `corvid parse --log-types <log_type> < file`: every outcome, and stderr's counts.
fn parse_file(path: &Path, log_type: &str) -> (Vec<Value>, String) {
    let output = corvid()
        .args(["parse", "--log-types", log_type])
        .stdin(std::fs::File::open(path).expect("open scenario file"))
        .output()
        .expect("run corvid parse");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "parse failed: {stderr}");
    let outcomes = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("outcome JSON"))
        .collect();
    (outcomes, stderr)
}

fn strings(event: &Value, field: &str) -> Vec<String> {
    event[field]
        .as_array()
        .map(|values| {
            values
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn has(event: &Value, field: &str, value: &str) -> bool {
    strings(event, field).iter().any(|v| v == value)
}

#[test]
fn written_scenario_parses_without_dead_letters_and_holds_the_story() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_str().expect("utf-8 path");
    let output = scenario(&["--events", "3000", "--seed", "7", "--write-to", path]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    for value in [
        DATE,
        ATTACKER_IP,
        HOST_PUBLIC_IP,
        INSTANCE_ID,
        HOST_IDENTIFIER,
    ] {
        assert!(stdout.contains(value), "summary names {value}:\n{stdout}");
    }

    let mut events_by_type = BTreeMap::new();
    for (log_type, _) in LOGS {
        let path = dir.path().join(format!("{log_type}.log"));
        let (outcomes, stderr) = parse_file(&path, log_type);
        let dead: Vec<&Value> = outcomes
            .iter()
            .filter(|o| o.get("dead_letter").is_some())
            .collect();
        assert!(dead.is_empty(), "{log_type}: dead letters {dead:#?}");
        assert!(stderr.contains(" 0 dead letters"), "{stderr}");
        for event in &outcomes {
            assert_eq!(event["p_log_type"], log_type);
            let time = event["p_event_time"].as_str().expect("p_event_time");
            assert!(time.starts_with("2026-11-27 "), "{log_type}: {time}");
        }
        events_by_type.insert(log_type, outcomes);
    }
    // 3000 background events: half VPC flow, a quarter each osquery and CloudTrail;
    // the story adds 4 osquery rows, 5 flow records and 5 CloudTrail calls.
    let counts: Vec<usize> = LOGS
        .iter()
        .map(|(log_type, _)| events_by_type[log_type].len())
        .collect();
    assert_eq!(counts, [754, 1505, 755]);

    let osquery = &events_by_type["Osquery.Differential"];
    let logins: Vec<&Value> = osquery
        .iter()
        .filter(|e| has(e, "p_any_ip_addresses", ATTACKER_IP))
        .collect();
    assert_eq!(logins.len(), 1, "one row with the attacker's address");
    assert_eq!(logins[0]["hostIdentifier"], HOST_IDENTIFIER);
    assert_eq!(logins[0]["name"], "pack_incident-response_logged_in_users");
    assert_eq!(logins[0]["action"], "added");
    assert_eq!(logins[0]["columns"]["user"], "ubuntu");
    assert_eq!(logins[0]["p_event_time"], "2026-11-27 14:03:00.000000000");
    let history: Vec<&Value> = osquery
        .iter()
        .filter(|e| e["hostIdentifier"] == HOST_IDENTIFIER)
        .filter(|e| e["name"] == "pack_incident-response_shell_history")
        .collect();
    assert_eq!(history.len(), 3);
    assert!(history.iter().any(|e| e["columns"]["command"]
        .as_str()
        .is_some_and(|c| c.starts_with("curl ") && c.ends_with("| sh"))));

    let flows: Vec<&Value> = events_by_type["AWS.VPCFlow"]
        .iter()
        .filter(|e| has(e, "p_any_ip_addresses", ATTACKER_IP))
        .collect();
    assert_eq!(flows.len(), 5);
    for flow in &flows {
        assert_eq!(flow["srcAddr"], ATTACKER_IP);
        assert_eq!(flow["dstAddr"], HOST_PRIVATE_IP);
        assert_eq!(flow["dstPort"], 22);
        assert_eq!(flow["protocol"], 6);
        assert_eq!(flow["action"], "ACCEPT");
        assert_eq!(flow["instanceId"], INSTANCE_ID);
        assert!(has(flow, "p_any_aws_instance_ids", INSTANCE_ID));
    }
    let with_instance = events_by_type["AWS.VPCFlow"]
        .iter()
        .filter(|e| has(e, "p_any_aws_instance_ids", INSTANCE_ID))
        .count();
    assert_eq!(
        with_instance, 5,
        "only the story's flows are the instance's"
    );

    let calls: Vec<&Value> = events_by_type["AWS.CloudTrail"]
        .iter()
        .filter(|e| has(e, "p_any_ip_addresses", HOST_PUBLIC_IP))
        .collect();
    let names: Vec<&str> = calls
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "GetCallerIdentity",
            "GetRole",
            "ListUsers",
            "DescribeTrails",
            "ListBuckets"
        ]
    );
    for call in &calls {
        assert!(call.get("errorMessage").is_none());
        assert!(has(
            call,
            "p_any_aws_arns",
            &format!(
                "arn:aws:sts::123456789012:assumed-role/webserver-instance-role/{INSTANCE_ID}"
            )
        ));
    }
    assert!(
        events_by_type["AWS.CloudTrail"]
            .iter()
            .any(|e| e.get("errorMessage").is_some()),
        "some background calls fail"
    );
}

#[test]
fn the_same_seed_writes_the_same_files() {
    let write = |seed: &str| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_str().expect("utf-8 path").to_owned();
        scenario(&["--events", "500", "--seed", seed, "--write-to", &path]);
        LOGS.iter()
            .map(|(log_type, _)| {
                std::fs::read_to_string(dir.path().join(format!("{log_type}.log")))
                    .expect("scenario file")
            })
            .collect::<Vec<_>>()
    };
    let first = write("11");
    assert_eq!(write("11"), first);
    assert_ne!(write("12"), first);
}

#[test]
fn bad_dates_and_unknown_scenarios_are_refused() {
    for args in [
        vec!["loadtest", "scenario", "intrusion", "--date", "2026-02-30"],
        vec!["loadtest", "scenario", "intrusion", "--date", "27/11/2026"],
        vec!["loadtest", "scenario", "exfiltration"],
        vec!["loadtest", "--events", "5", "scenario", "intrusion"],
    ] {
        let output = corvid().args(&args).output().expect("run corvid");
        assert!(!output.status.success(), "{args:?} was accepted");
    }
    let output = corvid()
        .args(["loadtest", "scenario", "intrusion", "--date", "2026-02-30"])
        .output()
        .expect("run corvid");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("YYYY-MM-DD"), "{stderr}");
}

/// Against the broker: the records carry each source's headers and stream key, the
/// engine parses them all, and the only alert is the story's login.
#[test]
fn produced_scenario_raises_the_story_login_alert() {
    let run = unique("it-scenario");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &run, None, "");
    let config_arg = config.to_str().expect("utf-8 path");
    let output = scenario(&["--events", "2000", "--config", config_arg]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("{run}.raw")), "{stdout}");

    let mut raw = TopicReader::new(&format!("{run}.raw"));
    // Lines: osquery 504, VPC flow 1005 + the header, CloudTrail envelopes (≥ 1).
    raw.read_at_least(504 + 1006 + 1);
    let mut by_source: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for (key, _, headers) in &raw.records {
        *by_source
            .entry((
                headers.get("source_id").cloned().unwrap_or_default(),
                headers.get("log_types").cloned().unwrap_or_default(),
                key.clone(),
            ))
            .or_default() += 1;
    }
    let sources: Vec<(String, String, String)> = by_source.keys().cloned().collect();
    let mut expected: Vec<(String, String, String)> = LOGS
        .iter()
        .map(|(log_type, source_id)| {
            (
                source_id.to_string(),
                log_type.to_string(),
                format!("scenario/intrusion/{DATE}/{log_type}.log"),
            )
        })
        .collect();
    expected.sort();
    assert_eq!(sources, expected);
    assert_eq!(
        by_source[&(
            "vpc-flow-logs".into(),
            "AWS.VPCFlow".into(),
            format!("scenario/intrusion/{DATE}/AWS.VPCFlow.log")
        )],
        1006
    );

    let counts = summary(&run_to_end(&config));
    assert_eq!(counts.dead, 0, "{counts:?}");
    assert_eq!(counts.events, 504 + 1005 + 505, "{counts:?}");

    let mut alerts = TopicReader::new(&format!("{run}.alerts"));
    alerts.read_at_least(1);
    let alerts: Vec<Value> = alerts.alerts().into_iter().map(|(_, a)| a).collect();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0]["ruleId"], "Osquery.OutsideOfficeLogin");
    assert_eq!(
        alerts[0]["title"],
        format!(
            "User [ubuntu] logged in to [{HOST_IDENTIFIER}] from non-office IP [{ATTACKER_IP}]"
        )
    );
}
