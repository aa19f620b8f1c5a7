//! The enrichment stage in-process, on one and on several workers: what events gain,
//! when table changes become visible, and which CIDR range wins.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::{Input, Inspect, Probe as _};
use timely::dataflow::{InputHandle, ProbeHandle};

use super::config::EnrichmentConfig;
use super::{enrich_with, Tables, Upsert};
use crate::event::Event;
use crate::source::Epoch;

type Output = Arc<Mutex<Vec<(Epoch, Value)>>>;

fn event(value: Value) -> Event {
    let Value::Object(mut fields) = value else {
        panic!("test events are objects")
    };
    fields
        .entry("p_event_time")
        .or_insert_with(|| json!("2026-11-28 10:00:00.000000000"));
    Event::from_fields(fields)
}

/// Runs the stage: table upserts and events, each at its epoch; returns every output
/// event with its epoch, ordered by epoch then by `id`.
fn run(
    workers: usize,
    config: &str,
    upserts: Vec<Upsert>,
    events: Vec<(Epoch, Value)>,
) -> Vec<(Epoch, Value)> {
    let config: EnrichmentConfig = serde_yaml_ng::from_str(config).expect("test config");
    config.validate().expect("valid test config");
    let tables = Arc::new(Tables::from_config(&config));
    let output: Output = Arc::default();
    let sink = Arc::clone(&output);
    timely::execute(timely::Config::process(workers), move |worker| {
        let mut table_in = InputHandle::<Epoch, CapacityContainerBuilder<Vec<Upsert>>>::new();
        let mut events_in = InputHandle::<Epoch, CapacityContainerBuilder<Vec<Event>>>::new();
        let probe = ProbeHandle::new();
        let tables = Arc::clone(&tables);
        let sink = Arc::clone(&sink);
        worker.dataflow(|scope| {
            let rows = scope.input_from(&mut table_in);
            let events = scope.input_from(&mut events_in);
            enrich_with(scope, events, tables, vec![rows], None)
                .inspect_core(move |batch| {
                    let Ok((stamp, events)) = batch else {
                        return;
                    };
                    let epoch = stamp.least().copied().unwrap_or_default();
                    let mut sink = sink.lock().expect("sink");
                    for event in events {
                        sink.push((epoch, Value::Object(event.fields().clone())));
                    }
                })
                .probe_with(&probe);
        });
        let mut epochs: Vec<Epoch> = upserts
            .iter()
            .map(|u| u.2)
            .chain(events.iter().map(|e| e.0))
            .collect();
        epochs.sort_unstable();
        epochs.dedup();
        for epoch in epochs {
            table_in.advance_to(epoch);
            events_in.advance_to(epoch);
            if worker.index() == 0 {
                for upsert in upserts.iter().filter(|u| u.2 == epoch) {
                    table_in.send(upsert.clone());
                }
                for (_, value) in events.iter().filter(|e| e.0 == epoch) {
                    events_in.send(event(value.clone()));
                }
            }
        }
        table_in.close();
        events_in.close();
        while worker.step() {}
    })
    .expect("timely runs");
    let mut out = output.lock().expect("output").clone();
    out.sort_by_key(|(epoch, value)| (*epoch, value["id"].as_u64()));
    out
}

fn row(table: u32, key: &str, value: Option<Value>, epoch: Epoch) -> Upsert {
    ((table, key.to_owned()), value.map(|v| v.to_string()), epoch)
}

const IP_TABLE: &str = "tables:\n  - name: owners\n    fields: [p_any_ip_addresses, srcAddr]\n";

#[test]
fn a_hit_carries_exactly_its_row_and_a_tombstone_hides_it_from_later_events_only() {
    for workers in [1, 3] {
        let out = run(
            workers,
            IP_TABLE,
            vec![
                row(
                    0,
                    "1.2.3.4",
                    Some(json!({"ip": "1.2.3.4", "owner": "alice"})),
                    0,
                ),
                row(
                    0,
                    "5.6.7.8",
                    Some(json!({"ip": "5.6.7.8", "owner": "bob"})),
                    0,
                ),
                row(0, "1.2.3.4", None, 2000),
            ],
            vec![
                (
                    1000,
                    json!({"id": 1, "p_log_type": "T", "p_any_ip_addresses": ["1.2.3.4", "9.9.9.9"]}),
                ),
                (
                    1000,
                    json!({"id": 2, "p_log_type": "T", "srcAddr": "5.6.7.8"}),
                ),
                (
                    1000,
                    json!({"id": 3, "p_log_type": "T", "srcAddr": "9.9.9.9"}),
                ),
                (
                    2000,
                    json!({"id": 4, "p_log_type": "T", "p_any_ip_addresses": ["1.2.3.4"]}),
                ),
                (
                    2000,
                    json!({"id": 5, "p_log_type": "T", "p_any_ip_addresses": ["5.6.7.8"]}),
                ),
            ],
        );
        assert_eq!(
            out.len(),
            5,
            "every event comes out once ({workers} workers)"
        );
        assert_eq!(
            out[0].1["p_enrichment"],
            json!({"owners": {"p_any_ip_addresses": [{"ip": "1.2.3.4", "owner": "alice"}]}}),
        );
        assert_eq!(
            out[1].1["p_enrichment"],
            json!({"owners": {"srcAddr": {"ip": "5.6.7.8", "owner": "bob"}}}),
        );
        assert!(out[2].1.get("p_enrichment").is_none(), "{}", out[2].1);
        assert!(out[3].1.get("p_enrichment").is_none(), "{}", out[3].1);
        assert_eq!(
            out[4].1["p_enrichment"]["owners"]["p_any_ip_addresses"],
            json!([{"ip": "5.6.7.8", "owner": "bob"}])
        );
    }
}

#[test]
fn the_longest_cidr_range_holding_the_address_wins() {
    let config = "tables:\n  - name: nets\n    match: cidr\n    fields: [srcAddr]\n";
    for workers in [1, 2] {
        let out = run(
            workers,
            config,
            vec![
                row(0, "10.0.0.0/8", Some(json!({"net": "corp"})), 0),
                row(0, "10.1.0.0/16", Some(json!({"net": "lab"})), 0),
                row(0, "2001:db8::/32", Some(json!({"net": "v6"})), 0),
            ],
            vec![
                (
                    1000,
                    json!({"id": 1, "p_log_type": "T", "srcAddr": "10.1.2.3"}),
                ),
                (
                    1000,
                    json!({"id": 2, "p_log_type": "T", "srcAddr": "10.200.0.1"}),
                ),
                (
                    1000,
                    json!({"id": 3, "p_log_type": "T", "srcAddr": "192.168.1.1"}),
                ),
                (
                    1000,
                    json!({"id": 4, "p_log_type": "T", "srcAddr": "2001:db8::7"}),
                ),
                (
                    1000,
                    json!({"id": 5, "p_log_type": "T", "srcAddr": "not an ip"}),
                ),
            ],
        );
        let nets: Vec<Value> = out
            .iter()
            .map(|(_, e)| e["p_enrichment"]["nets"]["srcAddr"]["net"].clone())
            .collect();
        assert_eq!(
            nets,
            [
                json!("lab"),
                json!("corp"),
                Value::Null,
                json!("v6"),
                Value::Null
            ],
            "{workers} workers"
        );
    }
}

#[test]
fn only_the_configured_log_types_are_looked_up() {
    let config = "tables:\n  - name: owners\n    fields: [srcAddr]\n    log_types: [AWS.VPCFlow]\n";
    let out = run(
        1,
        config,
        vec![row(0, "1.2.3.4", Some(json!({"owner": "alice"})), 0)],
        vec![
            (
                1000,
                json!({"id": 1, "p_log_type": "AWS.VPCFlow", "srcAddr": "1.2.3.4"}),
            ),
            (
                1000,
                json!({"id": 2, "p_log_type": "Osquery.Differential", "srcAddr": "1.2.3.4"}),
            ),
        ],
    );
    assert!(out[0].1.get("p_enrichment").is_some());
    assert!(out[1].1.get("p_enrichment").is_none());
}

const ASSETS: &str = r#"
derived:
  - name: assets
    fields: [p_any_ip_addresses, p_any_domain_names]
    learn:
      - log_type: AWS.CloudTrail
        when: {eventName: [RunInstances]}
        rows: $.responseElements.instancesSet.items[*]
        keys: [privateIpAddress, 'networkInterfaceSet.items[*].association.publicIp', privateDnsName]
        values: {instance_id: instanceId}
"#;

fn run_instances(id: u64, instance: &str, time: &str) -> Value {
    json!({
        "id": id, "p_log_type": "AWS.CloudTrail", "p_event_time": time,
        "eventName": "RunInstances",
        "responseElements": {"instancesSet": {"items": [{
            "instanceId": instance, "privateIpAddress": "10.0.1.23",
            "privateDnsName": "ip-10-0-1-23.ec2.internal",
            "networkInterfaceSet": {"items": [{"association": {"publicIp": "54.1.2.3"}}]}
        }]}}
    })
}

#[test]
fn an_instance_learned_from_cloudtrail_enriches_flows_and_hosts() {
    for workers in [1, 2] {
        let out = run(
            workers,
            ASSETS,
            vec![],
            vec![
                (
                    1000,
                    run_instances(1, "i-0abc", "2026-11-28 10:00:00.000000000"),
                ),
                (
                    2000,
                    json!({"id": 2, "p_log_type": "AWS.VPCFlow", "dstAddr": "54.1.2.3", "p_any_ip_addresses": ["54.1.2.3", "8.8.8.8"]}),
                ),
                (
                    2000,
                    json!({"id": 3, "p_log_type": "Osquery.Differential", "hostIdentifier": "ip-10-0-1-23.ec2.internal", "p_any_domain_names": ["ip-10-0-1-23.ec2.internal"]}),
                ),
            ],
        );
        assert_eq!(
            out[1].1["p_enrichment"]["assets"]["p_any_ip_addresses"],
            json!([{"instance_id": "i-0abc"}]),
            "{workers} workers"
        );
        assert_eq!(
            out[2].1["p_enrichment"]["assets"]["p_any_domain_names"],
            json!([{"instance_id": "i-0abc"}])
        );
    }
}

#[test]
fn the_latest_event_time_wins_not_the_latest_arrival() {
    let out = run(
        1,
        ASSETS,
        vec![],
        vec![
            (
                1000,
                run_instances(1, "i-new", "2026-11-28 12:00:00.000000000"),
            ),
            // Arrives later but happened earlier: must not overwrite i-new.
            (
                2000,
                run_instances(2, "i-old", "2026-11-28 09:00:00.000000000"),
            ),
            (
                3000,
                json!({"id": 3, "p_log_type": "AWS.VPCFlow", "p_any_ip_addresses": ["10.0.1.23"]}),
            ),
        ],
    );
    assert_eq!(
        out[2].1["p_enrichment"]["assets"]["p_any_ip_addresses"],
        json!([{"instance_id": "i-new"}])
    );
}
