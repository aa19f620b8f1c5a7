//! `corvid connect s3` against the real moto S3 server (http://127.0.0.1:9000, bucket
//! corvid-lake) and the real Kafka broker, through the `corvid` binary: every event
//! arrives exactly once, keyed by its object, in bounded memory; and a connector killed
//! midway repeats no completed object after a restart.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use common::{brokers, corvid_binary, gzip, read_to_end, unique, Consumed};

const ENDPOINT: &str = "http://127.0.0.1:9000";
const BUCKET: &str = "corvid-lake";
const VPC_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";

fn store() -> Arc<dyn ObjectStore> {
    let store = AmazonS3Builder::new()
        .with_endpoint(ENDPOINT)
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("S3 client");
    Arc::new(store)
}

fn upload(objects: Vec<(String, Vec<u8>)>) {
    let store = store();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (path, bytes) in objects {
            store
                .put(&ObjectPath::from(path.as_str()), PutPayload::from(bytes))
                .await
                .unwrap_or_else(|error| {
                    panic!("upload {path}: {error} (is `bash scripts/s3.sh up` running?)")
                });
        }
    });
}

/// A CloudTrail record of about 1 KB whose eventID names its file and index.
fn cloudtrail_record(file: usize, index: usize) -> String {
    format!(
        r#"{{"eventVersion":"1.08","userIdentity":{{"type":"IAMUser","principalId":"AIDA{file:06}","arn":"arn:aws:iam::123456789012:user/user-{file}","accountId":"123456789012","accessKeyId":"AKIA{index:012}","userName":"user-{file}","sessionContext":{{"attributes":{{"creationDate":"2026-11-27T09:00:00Z","mfaAuthenticated":"false"}}}}}},"eventTime":"2026-11-27T10:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"203.0.{}.{}","userAgent":"[aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 prompt/off command/s3.cp]","requestParameters":{{"bucketName":"corvid-example-data","Host":"corvid-example-data.s3.us-east-1.amazonaws.com","key":"reports/2026/11/27/part-{index:08}.parquet"}},"responseElements":null,"additionalEventData":{{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"Zm9vYmFyYmF6cXV4{index:010}","bytesTransferredOut":{}}},"requestID":"REQ{file:04}{index:08}","eventID":"{}","readOnly":true,"resources":[{{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::corvid-example-data/reports/2026/11/27/part-{index:08}.parquet"}}],"eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"123456789012","eventCategory":"Data","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"corvid-example-data.s3.us-east-1.amazonaws.com"}}}}"#,
        index / 60 % 60,
        index % 60,
        index / 256 % 256,
        index % 256,
        index * 37 % 100_000,
        event_id(file, index),
    )
}

fn event_id(file: usize, index: usize) -> String {
    format!("ct-{file:03}-{index:07}")
}

fn envelope(file: usize, records: usize) -> Vec<u8> {
    let mut text = String::with_capacity(records * 1100 + 16);
    text.push_str("{\"Records\":[");
    for index in 0..records {
        if index > 0 {
            text.push(',');
        }
        text.push_str(&cloudtrail_record(file, index));
    }
    text.push_str("]}");
    text.into_bytes()
}

fn vpc_line(file: usize, index: usize) -> String {
    format!(
        "2 123456789012 eni-{file:08x} 10.{file}.{}.{} 10.0.0.1 {} 443 6 10 840 1700000000 1700000060 ACCEPT OK",
        index / 256,
        index % 256,
        1024 + index
    )
}

fn vpc_file(file: usize, lines: usize) -> Vec<u8> {
    let mut text = format!("{VPC_HEADER}\n");
    for index in 0..lines {
        text.push_str(&vpc_line(file, index));
        text.push('\n');
    }
    text.into_bytes()
}

fn object_url(path: &str) -> String {
    format!("s3://{BUCKET}/{path}")
}

fn write_config(
    raw_topic: &str,
    cursor_topic: &str,
    prefix: &str,
    concurrency: usize,
) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("config file");
    write!(
        file,
        r#"kafka:
  brokers: {brokers}
  topic: {raw_topic}
  partitions: 3
store:
  url: s3://{BUCKET}
  endpoint: {ENDPOINT}
  region: us-east-1
  allow_http: true
  access_key_id: test
  secret_access_key: test
cursor_topic: {cursor_topic}
concurrency: {concurrency}
sources:
  - id: cloudtrail
    label: CloudTrail org trail
    prefix: {prefix}/cloudtrail
    log_types: [AWS.CloudTrail]
  - id: vpc-flow
    prefix: {prefix}/vpc
    log_types: [AWS.VPCFlow]
"#,
        brokers = brokers()
    )
    .expect("write config");
    file
}

fn start(config: &tempfile::NamedTempFile, stderr: &tempfile::NamedTempFile) -> Child {
    Command::new(corvid_binary())
        .args(["connect", "s3", "--config"])
        .arg(config.path())
        .arg("--once")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(stderr.reopen().expect("stderr file"))
        .spawn()
        .expect("start corvid connect s3")
}

/// How a child ended and its peak resident memory.
struct Exit {
    status: i32,
    /// The highest VmHWM (KiB) read from /proc/<pid>/status while it ran, polled every
    /// 20 ms: the process's own high-water mark, so at worst the last 20 ms are missed.
    vm_hwm_kib: i64,
    /// wait4's ru_maxrss (KiB). Linux carries the RSS the child had before exec (a
    /// fork of this test process, which holds the generated objects) into it, so it
    /// over-states the connector; printed beside, not asserted.
    ru_maxrss_kib: i64,
}

/// Waits for the child's exit, following its memory high-water mark.
fn wait_with_peak_rss(mut child: Child, wait: Duration) -> Exit {
    let pid = child.id() as libc::pid_t;
    let deadline = Instant::now() + wait;
    let mut vm_hwm_kib = 0;
    loop {
        if let Some(hwm) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|status| {
                let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
                line.split_whitespace().nth(1)?.parse::<i64>().ok()
            })
        {
            vm_hwm_kib = vm_hwm_kib.max(hwm);
        }
        let mut status = 0;
        // SAFETY: plain syscall on our own child, with valid out-pointers.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(reaped >= 0, "wait4 failed");
        if reaped == pid {
            return Exit {
                status,
                vm_hwm_kib,
                ru_maxrss_kib: usage.ru_maxrss,
            };
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("corvid connect s3 --once did not finish within {wait:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exited_ok(status: i32) -> bool {
    libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
}

/// The cursor's entries now: key → the latest value.
fn read_cursor(topic: &str) -> BTreeMap<String, serde_json::Value> {
    read_to_end(topic)
        .into_iter()
        .map(|record| {
            let value = serde_json::from_slice(&record.value).expect("cursor value is JSON");
            (record.key, value)
        })
        .collect()
}

fn cloudtrail_event_id(record: &Consumed) -> String {
    let event: serde_json::Value =
        serde_json::from_slice(&record.value).expect("a CloudTrail record is JSON");
    event["eventID"].as_str().expect("eventID").to_owned()
}

/// Must-show 1 and 2: 50 gzip CloudTrail files (one of ~100 MB) and gzip VPC flow files
/// under two prefixes: every event exactly once, keyed by its object, with its source's
/// headers, and the connector's peak RSS under 200 MB.
#[test]
fn cloudtrail_and_vpc_flow_objects_arrive_once_each_in_bounded_memory() {
    let started = Instant::now();
    let prefix = unique("s3-once");
    let raw_topic = unique("s3-raw");
    let cursor_topic = unique("s3-cursor");
    const BIG_RECORDS: usize = 71_000;
    const CLOUDTRAIL_FILES: usize = 50;
    const VPC_FILES: usize = 8;
    const VPC_LINES: usize = 500;

    let mut expected_cloudtrail = BTreeMap::new(); // file → (path, records)
    let mut uncompressed = 0usize;
    let mut objects = Vec::new();
    for file in 0..CLOUDTRAIL_FILES {
        let records = if file == 0 {
            BIG_RECORDS
        } else {
            20 + file * 3
        };
        let path =
            format!("{prefix}/cloudtrail/123456789012_CloudTrail_us-east-1_{file:03}.json.gz");
        let content = envelope(file, records);
        uncompressed += content.len();
        if file == 0 {
            assert!(
                content.len() >= 100_000_000,
                "the big object is {} bytes",
                content.len()
            );
        }
        objects.push((path.clone(), gzip(&content)));
        expected_cloudtrail.insert(file, (path, records));
    }
    let mut expected_vpc = BTreeMap::new();
    for file in 0..VPC_FILES {
        let path = format!("{prefix}/vpc/eni-flow-{file:02}.log.gz");
        objects.push((path.clone(), gzip(&vpc_file(file, VPC_LINES))));
        expected_vpc.insert(file, path);
    }
    let compressed: usize = objects.iter().map(|(_, bytes)| bytes.len()).sum();
    upload(objects);
    eprintln!(
        "uploaded {} objects ({uncompressed} bytes of CloudTrail uncompressed, {compressed} bytes stored) in {:?}",
        CLOUDTRAIL_FILES + VPC_FILES,
        started.elapsed()
    );

    let config = write_config(&raw_topic, &cursor_topic, &prefix, 4);
    let stderr = tempfile::NamedTempFile::new().expect("stderr file");
    let run_started = Instant::now();
    let child = start(&config, &stderr);
    let exit = wait_with_peak_rss(child, Duration::from_secs(300));
    let (status, peak_rss_kib) = (exit.status, exit.vm_hwm_kib);
    let run_time = run_started.elapsed();
    let log = std::fs::read_to_string(stderr.path()).unwrap_or_default();
    assert!(
        exited_ok(status),
        "connector failed (wait status {status}):\n{log}"
    );
    eprintln!(
        "corvid connect s3 --once: {run_time:?}, peak RSS (VmHWM) {} MiB ({peak_rss_kib} KiB); wait4 ru_maxrss {} KiB (includes the pre-exec fork of this test)",
        peak_rss_kib / 1024,
        exit.ru_maxrss_kib
    );

    let records = read_to_end(&raw_topic);
    let total_cloudtrail: usize = expected_cloudtrail.values().map(|(_, n)| n).sum();
    let total_vpc = VPC_FILES * (VPC_LINES + 1);
    assert_eq!(records.len(), total_cloudtrail + total_vpc, "total records");

    let mut seen_events = BTreeSet::new();
    let mut seen_vpc = BTreeSet::new();
    let mut partition_of_key: BTreeMap<String, i32> = BTreeMap::new();
    let mut last_index_of_key: BTreeMap<String, i64> = BTreeMap::new();
    for record in &records {
        let previous = partition_of_key.insert(record.key.clone(), record.partition);
        assert!(
            previous.is_none_or(|p| p == record.partition),
            "records of {} in two partitions",
            record.key
        );
        match record.meta.source_id.as_str() {
            "cloudtrail" => {
                assert_eq!(record.meta.source_label, "CloudTrail org trail");
                assert_eq!(record.meta.log_types, ["AWS.CloudTrail"]);
                let id = cloudtrail_event_id(record);
                let file: usize = id[3..6].parse().expect("file number");
                let index: i64 = id[7..].parse().expect("record index");
                assert_eq!(record.key, object_url(&expected_cloudtrail[&file].0));
                assert!(seen_events.insert(id.clone()), "{id} arrived twice");
                // One object's records stay in order in their partition.
                let last = last_index_of_key.insert(record.key.clone(), index);
                assert!(last.is_none_or(|last| last < index), "{id} out of order");
            }
            "vpc-flow" => {
                assert_eq!(record.meta.source_label, "vpc-flow");
                assert_eq!(record.meta.log_types, ["AWS.VPCFlow"]);
                let line = String::from_utf8(record.value.clone()).expect("UTF-8 line");
                assert!(
                    seen_vpc.insert((record.key.clone(), line.clone())),
                    "{line:?} of {} arrived twice",
                    record.key
                );
            }
            other => panic!("unexpected source {other:?}"),
        }
    }
    assert_eq!(seen_events.len(), total_cloudtrail);
    for (file, (_, count)) in &expected_cloudtrail {
        for index in [0, count - 1] {
            assert!(seen_events.contains(&event_id(*file, index)));
        }
    }
    for (file, path) in &expected_vpc {
        let key = object_url(path);
        assert!(
            seen_vpc.contains(&(key.clone(), VPC_HEADER.to_owned())),
            "header of {key}"
        );
        for index in 0..VPC_LINES {
            assert!(seen_vpc.contains(&(key.clone(), vpc_line(*file, index))));
        }
    }

    let cursor = read_cursor(&cursor_topic);
    assert_eq!(cursor.len(), CLOUDTRAIL_FILES + VPC_FILES, "cursor entries");
    for (path, count) in expected_cloudtrail.values() {
        let entry = &cursor[&object_url(path)];
        assert_eq!(entry["state"], "completed", "{entry}");
        assert_eq!(entry["records"], *count as u64, "{entry}");
    }
    for path in expected_vpc.values() {
        assert_eq!(cursor[&object_url(path)]["records"], (VPC_LINES + 1) as u64);
    }

    assert!(peak_rss_kib > 0, "VmHWM never read while the connector ran");
    assert!(
        peak_rss_kib < 200 * 1024,
        "peak RSS {peak_rss_kib} KiB is over 200 MiB"
    );
    eprintln!("test wall time {:?}", started.elapsed());
}

/// Must-show 1, cursor: killed (SIGKILL) after some objects are in the cursor,
/// restarted and stopped by SIGTERM midway, restarted again: every record at least once,
/// each object completed before a stop exactly once, and the final cursor holds every
/// object.
#[test]
fn a_killed_or_stopped_connector_repeats_no_completed_object() {
    let started = Instant::now();
    let prefix = unique("s3-kill");
    let raw_topic = unique("s3-raw");
    let cursor_topic = unique("s3-cursor");
    const FILES: usize = 16;
    const RECORDS: usize = 3000;

    let mut objects = Vec::new();
    let mut paths = BTreeMap::new();
    for file in 0..FILES {
        let path = format!("{prefix}/cloudtrail/trail-{file:03}.json.gz");
        objects.push((path.clone(), gzip(&envelope(file, RECORDS))));
        paths.insert(file, path);
    }
    upload(objects);

    // One object at a time, so the kill lands between cursor entries.
    let config = write_config(&raw_topic, &cursor_topic, &prefix, 1);
    let stderr = tempfile::NamedTempFile::new().expect("stderr file");
    let mut child = start(&config, &stderr);
    let deadline = Instant::now() + Duration::from_secs(120);
    let completed_before_kill = loop {
        assert!(
            child.try_wait().expect("poll child").is_none(),
            "the connector finished before it could be killed:\n{}",
            std::fs::read_to_string(stderr.path()).unwrap_or_default()
        );
        assert!(Instant::now() < deadline, "no cursor entry within 120 s");
        let cursor = read_cursor(&cursor_topic);
        if cursor.len() >= 3 {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            // Entries acknowledged after the read above and before the kill count too.
            break read_cursor(&cursor_topic);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        completed_before_kill.len() < FILES,
        "every object completed before the kill ({}): nothing left to test",
        completed_before_kill.len()
    );
    let at_kill = read_to_end(&raw_topic);
    let before_restart = at_kill.len();
    // Objects being read when killed: read again from their start after the restart.
    let in_flight_at_kill: BTreeSet<String> = at_kill
        .iter()
        .map(|record| record.key.clone())
        .filter(|key| !completed_before_kill.contains_key(key))
        .collect();

    // Restarted, then stopped gracefully (SIGTERM) midway: it exits 0 at once,
    // abandoning the object it was reading without a cursor entry.
    let restarted = start(&config, &stderr);
    let deadline = Instant::now() + Duration::from_secs(120);
    while read_cursor(&cursor_topic).len() < completed_before_kill.len() + 2 {
        assert!(Instant::now() < deadline, "no progress after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: a plain signal to our own child.
    assert_eq!(
        unsafe { libc::kill(restarted.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = wait_with_peak_rss(restarted, Duration::from_secs(60)).status;
    assert!(
        exited_ok(status),
        "SIGTERM exit (wait status {status}):\n{}",
        std::fs::read_to_string(stderr.path()).unwrap_or_default()
    );
    let completed_before_stop = read_cursor(&cursor_topic);
    assert!(
        completed_before_stop.len() < FILES,
        "every object completed before SIGTERM: nothing left to test"
    );

    let restarted = start(&config, &stderr);
    let status = wait_with_peak_rss(restarted, Duration::from_secs(180)).status;
    assert!(
        exited_ok(status),
        "restarted connector failed:\n{}",
        std::fs::read_to_string(stderr.path()).unwrap_or_default()
    );

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let records = read_to_end(&raw_topic);
    for record in &records {
        *counts.entry(cloudtrail_event_id(record)).or_default() += 1;
    }
    // Every object completed before the SIGKILL, and every one completed before the
    // SIGTERM that was not being read at the SIGKILL, was produced exactly once.
    assert!(completed_before_kill
        .keys()
        .all(|key| completed_before_stop.contains_key(key)));
    let completed_files: BTreeSet<usize> = paths
        .iter()
        .map(|(file, path)| (file, object_url(path)))
        .filter(|(_, key)| {
            completed_before_stop.contains_key(key) && !in_flight_at_kill.contains(key)
        })
        .map(|(file, _)| *file)
        .collect();
    assert!(completed_files.len() + in_flight_at_kill.len() >= completed_before_stop.len());
    for file in 0..FILES {
        for index in 0..RECORDS {
            let id = event_id(file, index);
            let count = counts.get(&id).copied().unwrap_or(0);
            if completed_files.contains(&file) {
                assert_eq!(count, 1, "{id} of an object completed before a stop");
            } else {
                assert!(count >= 1, "{id} lost");
            }
        }
    }
    assert_eq!(counts.len(), FILES * RECORDS);
    let cursor = read_cursor(&cursor_topic);
    assert_eq!(cursor.len(), FILES, "final cursor entries");
    for path in paths.values() {
        let entry = &cursor[&object_url(path)];
        assert_eq!(entry["state"], "completed");
        assert_eq!(entry["records"], RECORDS as u64);
    }
    eprintln!(
        "killed after {} completed objects ({before_restart} records then), stopped after {}; {} records in the end ({} repeated from the objects in flight); wall time {:?}",
        completed_before_kill.len(),
        completed_before_stop.len(),
        records.len(),
        records.len() - FILES * RECORDS,
        started.elapsed()
    );
}

/// Without `--once`: damaged objects are logged, marked corrupt and not retried, the
/// records before the damage are sent; zstd and plain objects are read; an object
/// uploaded later is picked up by the next poll; metrics count it all; SIGTERM exits 0.
#[test]
fn polling_handles_damaged_zstd_and_late_objects_and_stops_on_sigterm() {
    let prefix = unique("s3-poll");
    let raw_topic = unique("s3-raw");
    let cursor_topic = unique("s3-cursor");
    let truncated = gzip(&envelope(101, 400));
    let mut garbled = vec![0x1f, 0x8b, 0x08, 0x00];
    garbled.extend((0..5000u32).map(|i| (i * 7919 % 251) as u8));
    let plain_path = format!("{prefix}/vpc/flow-plain.log");
    let zstd_path = format!("{prefix}/vpc/flow.log.zst");
    let good_path = format!("{prefix}/cloudtrail/good.json.gz");
    let truncated_path = format!("{prefix}/cloudtrail/truncated.json.gz");
    let garbled_path = format!("{prefix}/vpc/garbled.log.gz");
    upload(vec![
        (good_path.clone(), gzip(&envelope(100, 50))),
        (
            truncated_path.clone(),
            truncated[..truncated.len() / 2].to_vec(),
        ),
        (garbled_path.clone(), garbled),
        (plain_path.clone(), vpc_file(1, 40)),
        (
            zstd_path.clone(),
            zstd::encode_all(&vpc_file(2, 60)[..], 3).expect("zstd"),
        ),
    ]);

    let config = write_config(&raw_topic, &cursor_topic, &prefix, 2);
    let listen = common::free_listen_address();
    let mut text = std::fs::read_to_string(config.path()).expect("config");
    text.push_str(&format!(
        "poll_interval_secs: 1\nmetrics:\n  listen: {listen}\n"
    ));
    std::fs::write(config.path(), text).expect("config");
    let running = common::Running::start(&[
        "connect",
        "s3",
        "--config",
        config.path().to_str().expect("UTF-8 path"),
    ]);

    let wait_for_cursor = |entries: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let cursor = read_cursor(&cursor_topic);
            if cursor.len() >= entries || Instant::now() > deadline {
                return cursor;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let cursor = wait_for_cursor(5);
    assert_eq!(
        cursor.len(),
        5,
        "cursor: {cursor:?}\n{}",
        running.stderr_text()
    );
    let truncated_entry = &cursor[&object_url(&truncated_path)];
    assert_eq!(truncated_entry["state"], "corrupt", "{truncated_entry}");
    let sent_from_truncated = truncated_entry["records"].as_u64().expect("records");
    assert!((1..400).contains(&sent_from_truncated), "{truncated_entry}");
    let garbled_entry = &cursor[&object_url(&garbled_path)];
    assert_eq!(garbled_entry["state"], "corrupt", "{garbled_entry}");
    assert_eq!(garbled_entry["records"], 0);
    assert!(
        garbled_entry["error"]
            .as_str()
            .is_some_and(|error| error.starts_with("gzip:")),
        "{garbled_entry}"
    );
    for (path, records) in [(&good_path, 50), (&plain_path, 41), (&zstd_path, 61)] {
        let entry = &cursor[&object_url(path)];
        assert_eq!(entry["state"], "completed", "{entry}");
        assert_eq!(entry["records"], records, "{entry}");
    }

    // Picked up by the next poll, while the damaged objects are not read again.
    let late_path = format!("{prefix}/cloudtrail/late.json.gz");
    upload(vec![(late_path.clone(), gzip(&envelope(102, 30)))]);
    let cursor = wait_for_cursor(6);
    assert_eq!(cursor[&object_url(&late_path)]["records"], 30);
    std::thread::sleep(Duration::from_millis(2500)); // two more polls

    let expected_cloudtrail = 50 + 30 + sent_from_truncated as usize;
    let (completed, exposition) = common::wait_for_sample(
        &listen,
        "corvid_s3_objects_completed_total",
        &[("source", "cloudtrail")],
        |value| value == 2.0,
        Duration::from_secs(10),
    );
    assert_eq!(completed, Some(2.0), "{exposition}");
    let value = |name: &str, labels: &[(&str, &str)]| common::sample(&exposition, name, labels);
    assert_eq!(
        value(
            "corvid_s3_objects_failed_total",
            &[("source", "cloudtrail"), ("reason", "corrupt")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "corvid_s3_objects_failed_total",
            &[("source", "vpc-flow"), ("reason", "corrupt")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "corvid_connector_records_total",
            &[("connector", "s3"), ("source", "cloudtrail")]
        ),
        Some(expected_cloudtrail as f64)
    );
    assert_eq!(
        value(
            "corvid_connector_records_total",
            &[("connector", "s3"), ("source", "vpc-flow")]
        ),
        Some(102.0)
    );
    assert!(
        value("corvid_s3_bytes_read_total", &[("source", "vpc-flow")]).is_some_and(|b| b > 0.0)
    );

    let (clean_exit, log) = running.terminate();
    assert!(clean_exit, "SIGTERM exit:\n{log}");
    assert!(
        log.contains("truncated.json.gz") && log.contains("corrupt"),
        "{log}"
    );

    let records = read_to_end(&raw_topic);
    assert_eq!(records.len(), expected_cloudtrail + 102, "records");
    let mut truncated_ids = Vec::new();
    for record in records
        .iter()
        .filter(|r| r.key == object_url(&truncated_path))
    {
        truncated_ids.push(cloudtrail_event_id(record));
    }
    let expected_ids: Vec<String> = (0..sent_from_truncated as usize)
        .map(|index| event_id(101, index))
        .collect();
    assert_eq!(
        truncated_ids, expected_ids,
        "the records before the damage, once, in order"
    );
    let zstd_lines: Vec<&[u8]> = records
        .iter()
        .filter(|r| r.key == object_url(&zstd_path))
        .map(|r| r.value.as_slice())
        .collect();
    assert_eq!(zstd_lines.first(), Some(&VPC_HEADER.as_bytes()));
    assert_eq!(zstd_lines.last(), Some(&vpc_line(2, 59).as_bytes()));
    eprintln!("{log}");
}

/// A local directory (`file://`) store, run in-process: only objects under the source's
/// prefix are read, keyed by their file URL; a second pass reads nothing again.
#[test]
fn a_local_directory_store_is_read_under_its_prefix() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let root = directory.path();
    std::fs::create_dir_all(root.join("app/2026")).expect("mkdir");
    std::fs::create_dir_all(root.join("other")).expect("mkdir");
    std::fs::write(root.join("app/a.log"), "one\ntwo\nthree\n").expect("write");
    std::fs::write(root.join("app/2026/b.log.gz"), gzip(b"four\nfive")).expect("write");
    std::fs::write(root.join("other/c.log"), "not mine\n").expect("write");
    let raw_topic = unique("s3-raw");
    let text = format!(
        "kafka: {{brokers: \"{}\", topic: {raw_topic}, partitions: 1}}\nstore: {{url: \"file://{}\"}}\ncursor_topic: {}\nsources: [{{id: app, prefix: app, log_types: [Syslog.RFC3164]}}]\n",
        brokers(),
        root.display(),
        unique("s3-cursor")
    );
    let config: corvid_connectors::s3::config::S3Config =
        corvid_connectors::ingest::config::parse_yaml(&text).expect("config");
    config.validate().expect("valid config");
    for _ in 0..2 {
        corvid_connectors::s3::run(
            config.clone(),
            true,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
        )
        .expect("one pass");
    }
    let mut records: Vec<(String, String)> = read_to_end(&raw_topic)
        .into_iter()
        .map(|record| {
            (
                record.key,
                String::from_utf8(record.value).expect("UTF-8 line"),
            )
        })
        .collect();
    records.sort();
    let a = format!("file://{}/app/a.log", root.display());
    let b = format!("file://{}/app/2026/b.log.gz", root.display());
    let mut expected: Vec<(String, String)> = [
        (&a, "one"),
        (&a, "two"),
        (&a, "three"),
        (&b, "four"),
        (&b, "five"),
    ]
    .into_iter()
    .map(|(key, line)| (key.clone(), line.to_owned()))
    .collect();
    expected.sort();
    assert_eq!(records, expected);
}

/// Bad config fails at start-up naming the key.
#[test]
fn bad_config_names_the_key() {
    let mut file = tempfile::NamedTempFile::new().expect("config file");
    write!(
        file,
        "store: {{url: \"s3://b\"}}\nsources:\n  - {{id: a, prefix: logs, log_types: [AWS.CloudTrail]}}\n  - {{id: b, prefix: logs/vpc, log_types: [AWS.VPCFlow]}}\n"
    )
    .expect("write");
    let error = corvid_connectors::s3::run_from_file(
        file.path(),
        true,
        Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )
    .expect_err("overlapping prefixes");
    assert!(
        error
            .to_string()
            .ends_with("sources[1].prefix: \"logs/vpc\" overlaps sources[0].prefix \"logs\""),
        "{error}"
    );
}
