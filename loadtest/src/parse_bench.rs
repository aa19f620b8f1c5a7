//! The parse benchmark: Corvid's parsers against the cheapest possible baseline, on the
//! same corpus, in the same run.
//!
//! For each corpus (CloudTrail JSON records, VPC flow text with its header, RFC 5424
//! syslog) the benchmark times one thread running the engine's parse path (supplied by
//! the caller, so this crate does not depend on the engine) and one thread doing only the
//! baseline — `serde_json::from_slice::<Value>` for JSON, a split on spaces for text. The
//! ratio of the two is the figure to compare across machines; absolute events/s on a
//! shared machine are noise. Each side runs `rounds` times and keeps its best round.

use std::time::Instant;

use serde_json::{json, Value};

/// What the baseline does with a line.
#[derive(Clone, Copy, Debug)]
pub enum Baseline {
    /// `serde_json::from_slice::<Value>`.
    JsonDecode,
    /// Splitting the line on spaces.
    SplitSpaces,
}

/// Lines of one log type.
pub struct Corpus {
    pub log_type: &'static str,
    pub lines: Vec<Vec<u8>>,
    pub baseline: Baseline,
}

/// One corpus's figures.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub log_type: &'static str,
    pub lines: usize,
    pub events: u64,
    pub corvid_per_sec: f64,
    pub baseline_per_sec: f64,
}

impl BenchResult {
    /// Corvid's throughput as a fraction of the baseline's.
    pub fn ratio(&self) -> f64 {
        self.corvid_per_sec / self.baseline_per_sec.max(1e-9)
    }
}

/// CloudTrail, VPC flow and syslog corpora of `lines` lines each.
pub fn corpora(lines: usize) -> Vec<Corpus> {
    vec![
        Corpus {
            log_type: "AWS.CloudTrail",
            lines: (0..lines).map(cloudtrail_line).collect(),
            baseline: Baseline::JsonDecode,
        },
        Corpus {
            log_type: "AWS.VPCFlow",
            lines: std::iter::once(b"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status".to_vec())
                .chain((1..lines).map(vpc_flow_line))
                .collect(),
            baseline: Baseline::SplitSpaces,
        },
        Corpus {
            log_type: "Syslog.RFC5424",
            lines: (0..lines).map(syslog_line).collect(),
            baseline: Baseline::SplitSpaces,
        },
    ]
}

fn cloudtrail_line(i: usize) -> Vec<u8> {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "principalId": "AROAEXAMPLE:session", "arn": format!("arn:aws:sts::123456789012:assumed-role/Deploy/session-{}", i % 50),
            "accountId": "123456789012", "accessKeyId": "ASIAEXAMPLE",
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": "arn:aws:iam::123456789012:role/Deploy", "accountId": "123456789012", "userName": "Deploy"},
                "attributes": {"creationDate": "2026-11-27T19:00:00Z", "mfaAuthenticated": "false"}}},
        "eventTime": format!("2026-11-27T20:{:02}:{:02}Z", i / 60 % 60, i % 60),
        "eventSource": "ec2.amazonaws.com",
        "eventName": if i.is_multiple_of(3) { "RunInstances" } else { "DescribeInstances" },
        "awsRegion": "us-east-1",
        "sourceIPAddress": format!("198.51.100.{}", i % 250 + 1),
        "userAgent": "aws-cli/2.15.0 Python/3.11",
        "requestParameters": {"instancesSet": {"items": [{"imageId": "ami-0abcdef", "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.micro"},
        "responseElements": {"instancesSet": {"items": [{"instanceId": format!("i-{i:017x}"), "privateIpAddress": format!("10.0.{}.{}", i / 250 % 250, i % 250),
            "tagSet": {"items": [{"key": "team", "value": "platform"}]}}]}},
        "requestID": format!("req-{i}"),
        "eventID": format!("evt-{i}"),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management"
    })
    .to_string()
    .into_bytes()
}

fn vpc_flow_line(i: usize) -> Vec<u8> {
    let start = 1_795_809_600 + (i / 100) as u64;
    format!(
        "2 123456789012 eni-0a1b2c3d 10.0.{}.{} 203.0.113.{} {} 443 6 {} {} {} {} {} OK",
        i / 250 % 250,
        i % 250,
        i % 200 + 1,
        40_000 + i % 20_000,
        i % 40 + 1,
        (i % 40 + 1) * 120,
        start,
        start + 60,
        if i.is_multiple_of(11) {
            "REJECT"
        } else {
            "ACCEPT"
        }
    )
    .into_bytes()
}

fn syslog_line(i: usize) -> Vec<u8> {
    format!(
        "<{}>1 2026-11-27T20:{:02}:{:02}.{:03}Z host-{}.example.com sshd {} ID{} [origin ip=\"192.0.2.{}\"] Accepted publickey for user{} from 198.51.100.{} port {} ssh2",
        38 + i % 3,
        i / 60 % 60,
        i % 60,
        i % 1000,
        i % 20,
        1000 + i % 5000,
        i % 100,
        i % 250 + 1,
        i % 40,
        i % 250 + 1,
        40_000 + i % 20_000
    )
    .into_bytes()
}

fn baseline_pass(corpus: &Corpus) -> u64 {
    let mut count = 0u64;
    for line in &corpus.lines {
        count += match corpus.baseline {
            Baseline::JsonDecode => u64::from(serde_json::from_slice::<Value>(line).is_ok()),
            Baseline::SplitSpaces => line.split(|&b| b == b' ').count().min(1) as u64,
        };
    }
    count
}

/// Times `parse` (the engine's path; returns events produced) against the baseline.
pub fn run(
    corpora: &[Corpus],
    rounds: usize,
    parse: &mut dyn FnMut(&Corpus) -> u64,
) -> Vec<BenchResult> {
    corpora
        .iter()
        .map(|corpus| {
            let mut best_corvid = f64::MAX;
            let mut best_baseline = f64::MAX;
            let mut events = 0;
            for _ in 0..rounds.max(1) {
                let started = Instant::now();
                std::hint::black_box(baseline_pass(corpus));
                best_baseline = best_baseline.min(started.elapsed().as_secs_f64());
                let started = Instant::now();
                events = std::hint::black_box(parse(corpus));
                best_corvid = best_corvid.min(started.elapsed().as_secs_f64());
            }
            let lines = corpus.lines.len();
            BenchResult {
                log_type: corpus.log_type,
                lines,
                events,
                corvid_per_sec: events as f64 / best_corvid.max(1e-9),
                baseline_per_sec: lines as f64 / best_baseline.max(1e-9),
            }
        })
        .collect()
}

/// The report table.
pub fn render(results: &[BenchResult]) -> String {
    let mut out =
        String::from("log type          lines    events   corvid ev/s   baseline ev/s   ratio\n");
    for r in results {
        out.push_str(&format!(
            "{:<16} {:>7} {:>9} {:>13.0} {:>15.0} {:>7.3}\n",
            r.log_type,
            r.lines,
            r.events,
            r.corvid_per_sec,
            r.baseline_per_sec,
            r.ratio()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_well_formed() {
        let corpora = corpora(50);
        assert_eq!(corpora.len(), 3);
        for corpus in &corpora {
            assert_eq!(corpus.lines.len(), 50);
            assert_eq!(baseline_pass(corpus), 50, "{}", corpus.log_type);
        }
        let first: Value = serde_json::from_slice(&corpora[0].lines[0]).expect("json");
        assert_eq!(first["eventTime"], "2026-11-27T20:00:00Z");
    }

    #[test]
    fn ratio_compares_the_two_sides_of_one_run() {
        let corpora = corpora(10);
        let results = run(&corpora, 1, &mut |corpus| corpus.lines.len() as u64);
        assert!(results.iter().all(|r| r.events == 10 && r.ratio() > 0.0));
        assert!(render(&results).contains("AWS.VPCFlow"));
    }
}
