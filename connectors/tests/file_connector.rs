//! `corvid connect file` against a real Kafka broker: its `/metrics` endpoint counts the
//! records and bytes Kafka acknowledged, and lingers so a scrape sees the final counts.

mod common;

use common::{
    brokers, free_listen_address, read_topic, sample, unique, wait_for_sample, Running, WAIT,
};

#[test]
fn metrics_count_the_acknowledged_lines() {
    let topic = unique("file");
    let source = unique("file-source");
    let lines: Vec<String> = (0..25)
        .map(|index| format!("{{\"name\":\"line\",\"index\":{index}}}"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("input.log");
    // An empty line is skipped, and a CRLF ending is not payload.
    let text = format!("{}\n\r\n{}\r\n", lines[..24].join("\n"), lines[24]);
    std::fs::write(&path, text).expect("write input");
    let path = path.to_string_lossy().into_owned();
    let listen = free_listen_address();
    let connector = Running::start(&[
        "connect",
        "file",
        "--path",
        &path,
        "--topic",
        &topic,
        "--partitions",
        "1",
        "--source-id",
        &source,
        "--log-types",
        "Osquery.Differential",
        "--brokers",
        &brokers(),
        "--metrics-listen",
        &listen,
        "--linger-secs",
        "120",
    ]);
    let labels = [("connector", "file"), ("source", source.as_str())];
    let (records, exposition) = wait_for_sample(
        &listen,
        "corvid_connector_records_total",
        &labels,
        |records| records >= 25.0,
        WAIT,
    );
    assert_eq!(
        records,
        Some(25.0),
        "{exposition}\n{}",
        connector.stderr_text()
    );
    let bytes: usize = lines.iter().map(String::len).sum();
    assert_eq!(
        sample(&exposition, "corvid_connector_bytes_total", &labels),
        Some(bytes as f64),
        "{exposition}"
    );
    assert_eq!(
        sample(
            &exposition,
            "corvid_connector_delivery_failures_total",
            &labels
        ),
        Some(0.0),
        "{exposition}"
    );
    assert_eq!(
        sample(
            &exposition,
            "corvid_build_info",
            &[("component", "connect-file")]
        ),
        Some(1.0),
        "{exposition}"
    );
    assert_eq!(
        read_topic(&topic, 26, std::time::Duration::from_secs(5)).len(),
        25
    );

    // SIGTERM ends the linger; the send itself had succeeded.
    let (success, stderr) = connector.terminate();
    assert!(success, "connector failed:\n{stderr}");
    assert!(stderr.contains("25 records from"), "{stderr}");
}

#[test]
fn a_linger_without_an_endpoint_is_refused() {
    let output = std::process::Command::new(common::corvid_binary())
        .args([
            "connect",
            "file",
            "--path",
            "/nonexistent",
            "--source-id",
            "s",
            "--log-types",
            "Osquery.Differential",
            "--linger-secs",
            "5",
        ])
        .output()
        .expect("run corvid");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--metrics-listen"), "{stderr}");
}
