//! Enrichment on real Kafka: lookup tables loaded with `corvid connect table`, a CIDR
//! table, an asset table learned from CloudTrail, and a 100,000-row table in place
//! before the first event is looked up.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{
    connect_file, corvid, login, run_to_end, unique, write_config, write_lines, Engine, TopicReader,
};
use serde_json::{json, Value};

/// `corvid connect table`, asserting success.
fn load_table(name: &str, topic: &str, file: &Path) {
    let output = corvid()
        .args([
            "connect",
            "table",
            "--name",
            name,
            "--topic",
            topic,
            "--brokers",
        ])
        .arg(common::brokers())
        .arg("--file")
        .arg(file)
        .output()
        .expect("run corvid connect table");
    assert!(
        output.status.success(),
        "connect table: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The events on the events topic, by the osquery row's user (or the log type).
fn events_by_user(reader: &TopicReader) -> BTreeMap<String, Vec<Value>> {
    let mut by_user: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (_, payload, _) in &reader.records {
        let event: Value = serde_json::from_slice(payload).expect("event JSON");
        let user = event["columns"]["user"]
            .as_str()
            .or(event["p_log_type"].as_str())
            .unwrap_or_default()
            .to_owned();
        by_user.entry(user).or_default().push(event);
    }
    by_user
}

fn enrichment_config(run: &str) -> String {
    format!(
        r#"enrichment:
  tables:
    - name: owners
      topic: {run}.table.owners
      fields: [p_any_ip_addresses]
    - name: nets
      topic: {run}.table.nets
      match: cidr
      fields: [p_any_ip_addresses]
  derived:
    - name: assets
      fields: [p_any_ip_addresses, p_any_domain_names]
      learn:
        - log_type: AWS.CloudTrail
          when: {{eventName: [RunInstances, DescribeInstances]}}
          rows: $.responseElements.instancesSet.items[*]
          keys: [privateIpAddress, 'networkInterfaceSet.items[*].association.publicIp', privateDnsName]
          values: {{instance_id: instanceId, hostname: privateDnsName}}
"#
    )
}

const VPC_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id flow-direction";

fn run_instances() -> String {
    json!({"Records": [{
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/ops"},
        "eventTime": "2026-11-28T10:00:00Z", "eventSource": "ec2.amazonaws.com",
        "eventName": "RunInstances", "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.20", "userAgent": "aws-cli",
        "requestParameters": {},
        "responseElements": {"instancesSet": {"items": [{
            "instanceId": "i-0abc123", "privateIpAddress": "10.0.1.23",
            "privateDnsName": "ip-10-0-1-23.ec2.internal",
            "networkInterfaceSet": {"items": [{"privateIpAddress": "10.0.1.23", "association": {"publicIp": "54.1.2.3"}}]}
        }]}},
        "requestID": "r1", "eventID": "e1", "readOnly": false,
        "eventType": "AwsApiCall", "recipientAccountId": "123456789012"
    }]})
    .to_string()
}

#[test]
fn topic_tables_cidr_ranges_and_learned_assets_enrich_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = unique("enrich");
    let owners = format!("{run}.table.owners");
    let nets = format!("{run}.table.nets");
    let table = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write table file");
        path
    };
    load_table(
        "owners",
        &owners,
        &table(
            "owners.csv",
            "ip,owner\n203.0.113.7,alice-laptop\n198.51.100.9,bob-desktop\n",
        ),
    );
    load_table(
        "nets",
        &nets,
        &table(
            "nets.csv",
            "range,zone\n10.20.0.0/16,office\n10.0.0.0/8,corp\n",
        ),
    );
    let config = write_config(dir.path(), &run, None, &enrichment_config(&run));
    let mut engine = Engine::start(&config, dir.path().join("engine.log"));
    let mut events = TopicReader::new(&format!("{run}.events"));

    // 1 and 2: a topic table by exact IP, a CIDR table by range.
    let first = [
        login("alice", "203.0.113.7", "added", "h1"),
        login("bob", "198.51.100.9", "added", "h2"),
        login("carol", "10.20.3.4", "added", "h3"),
        login("dave", "192.168.7.7", "added", "h4"),
    ];
    connect_file(
        &write_lines(dir.path(), "first.log", &first),
        &format!("{run}.raw"),
        "hosts",
        "Osquery.Differential",
    );
    events.wait_until("the first four events", &mut engine, |records| {
        records.len() >= 4
    });
    let seen = events_by_user(&events);
    assert_eq!(
        seen["alice"][0]["p_enrichment"]["owners"],
        json!({"p_any_ip_addresses": [{"ip": "203.0.113.7", "owner": "alice-laptop"}]})
    );
    assert_eq!(
        seen["bob"][0]["p_enrichment"]["owners"]["p_any_ip_addresses"],
        json!([{"ip": "198.51.100.9", "owner": "bob-desktop"}])
    );
    // Inside 10.20.0.0/16 (and 10.0.0.0/8): the longest range.
    assert_eq!(
        seen["carol"][0]["p_enrichment"],
        json!({"nets": {"p_any_ip_addresses": [{"range": "10.20.0.0/16", "zone": "office"}]}})
    );
    // Outside every range and every owner row.
    assert!(
        seen["dave"][0].get("p_enrichment").is_none(),
        "{}",
        seen["dave"][0]
    );

    // A tombstone (alice's row left out of the replacement) hides the row from later
    // events only.
    load_table(
        "owners",
        &owners,
        &table("owners2.csv", "ip,owner\n198.51.100.9,bob-desktop\n"),
    );
    let second = [
        login("alice2", "203.0.113.7", "added", "h1"),
        login("bob2", "198.51.100.9", "added", "h2"),
    ];
    connect_file(
        &write_lines(dir.path(), "second.log", &second),
        &format!("{run}.raw"),
        "hosts",
        "Osquery.Differential",
    );
    events.wait_until("the second batch", &mut engine, |records| {
        records.len() >= 6
    });
    let seen = events_by_user(&events);
    assert!(
        seen["alice2"][0].get("p_enrichment").is_none(),
        "{}",
        seen["alice2"][0]
    );
    assert_eq!(
        seen["bob2"][0]["p_enrichment"]["owners"]["p_any_ip_addresses"],
        json!([{"ip": "198.51.100.9", "owner": "bob-desktop"}])
    );

    // 3: CloudTrail's RunInstances teaches the asset table; a flow to the public IP and
    // an osquery row from the instance's host name are then enriched with it.
    connect_file(
        &write_lines(dir.path(), "cloudtrail.json", &[run_instances()]),
        &format!("{run}.raw"),
        "cloudtrail",
        "AWS.CloudTrail",
    );
    let flow = "5 123456789012 eni-0a1 198.51.100.20 54.1.2.3 40000 443 6 10 840 1795809600 1795809660 ACCEPT OK vpc-1 subnet-1 - 2 IPv4 198.51.100.20 54.1.2.3 us-east-1 use1-az1 ingress";
    connect_file(
        &write_lines(
            dir.path(),
            "flows.log",
            &[VPC_HEADER.to_owned(), flow.to_owned()],
        ),
        &format!("{run}.raw"),
        "flows",
        "AWS.VPCFlow",
    );
    connect_file(
        &write_lines(
            dir.path(),
            "host.log",
            &[login(
                "erin",
                "192.168.7.8",
                "added",
                "ip-10-0-1-23.ec2.internal",
            )],
        ),
        &format!("{run}.raw"),
        "hosts",
        "Osquery.Differential",
    );
    events.wait_until("the asset events", &mut engine, |records| {
        records.len() >= 9
    });
    let seen = events_by_user(&events);
    let asset = json!({"instance_id": "i-0abc123", "hostname": "ip-10-0-1-23.ec2.internal"});
    assert_eq!(
        seen["AWS.VPCFlow"][0]["p_enrichment"]["assets"]["p_any_ip_addresses"],
        json!([asset]),
        "{}",
        seen["AWS.VPCFlow"][0]
    );
    assert_eq!(
        seen["erin"][0]["p_enrichment"]["assets"]["p_any_domain_names"],
        json!([asset])
    );

    // Earlier events were not re-emitted by the table changes: each user exactly once,
    // alice still with the row she had.
    events.poll_for(std::time::Duration::from_secs(2));
    let seen = events_by_user(&events);
    assert!(seen.values().all(|events| events.len() == 1), "{seen:?}");
    assert_eq!(
        seen["alice"][0]["p_enrichment"]["owners"]["p_any_ip_addresses"][0]["owner"],
        "alice-laptop"
    );
    assert!(engine.stop().success());

    // The lake keeps the enrichment too (as JSON text in `p_enrichment`).
    let lake_rows: Vec<String> = common::lake_values(
        &dir.path().join("data/lake/logs/osquery_differential"),
        "p_enrichment",
    )
    .into_iter()
    .map(|(_, text)| text)
    .collect();
    assert!(
        lake_rows.iter().any(|text| text.contains("alice-laptop")),
        "{lake_rows:?}"
    );
}

#[test]
fn no_event_slips_past_a_100k_row_table_that_is_still_loading() {
    const ROWS: usize = 100_000;
    const EVENTS: usize = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let run = unique("enrich-start");
    let topic = format!("{run}.table.inventory");
    let ip = |i: usize| format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256);
    let mut csv = String::from("ip,owner\n");
    for i in 0..ROWS {
        csv.push_str(&format!("{},owner-{i}\n", ip(i)));
    }
    let table_file = dir.path().join("inventory.csv");
    std::fs::write(&table_file, csv).expect("write table");
    // Half the events before the table is loaded, half after; the engine starts last.
    let lines: Vec<String> = (0..EVENTS)
        .map(|n| login(&format!("user-{n}"), &ip(n * 47 % ROWS), "added", "h"))
        .collect();
    let raw = format!("{run}.raw");
    connect_file(
        &write_lines(dir.path(), "a.log", &lines[..EVENTS / 2]),
        &raw,
        "hosts",
        "Osquery.Differential",
    );
    load_table("inventory", &topic, &table_file);
    connect_file(
        &write_lines(dir.path(), "b.log", &lines[EVENTS / 2..]),
        &raw,
        "hosts",
        "Osquery.Differential",
    );
    let extra = format!(
        "enrichment:\n  tables:\n    - name: inventory\n      topic: {topic}\n      fields: [p_any_ip_addresses]\n"
    );
    let config = write_config(dir.path(), &run, None, &extra);
    run_to_end(&config);
    let mut events = TopicReader::new(&format!("{run}.events"));
    events.read_at_least(EVENTS);
    let seen = events_by_user(&events);
    assert_eq!(seen.len(), EVENTS);
    for n in 0..EVENTS {
        let event = &seen[&format!("user-{n}")][0];
        assert_eq!(
            event["p_enrichment"]["inventory"]["p_any_ip_addresses"],
            json!([{"ip": ip(n * 47 % ROWS), "owner": format!("owner-{}", n * 47 % ROWS)}]),
            "user-{n}"
        );
    }
}
