//! Deterministic osquery `Osquery.Differential` log lines with planted attacks.
//!
//! Planted logins come from 198.51.100.0/24 (outside the office network 192.0.1.0/24),
//! one distinct user each, so the office-login rule raises exactly one alert per planted
//! user. Everything else is activity the rule must ignore: logins from office addresses,
//! `removed` rows, and rows of other osquery tables.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GeneratorSpec {
    /// Total lines, planted ones included.
    pub events: u64,
    /// Planted out-of-office logins (one user each); at least one per stream.
    pub planted: u64,
    /// Streams (hosts) the lines are spread over; each is keyed separately.
    pub streams: u64,
    /// Distinguishes this run's users from earlier runs on the same topics.
    pub run_id: String,
    /// Event time of the first line, Unix seconds.
    pub start_unix: i64,
    pub seed: u64,
}

impl GeneratorSpec {
    /// The streams actually used: never more than there are planted logins or lines.
    pub fn effective_streams(&self) -> u64 {
        self.streams.min(self.planted).min(self.events).max(1)
    }

    pub fn planted_user(&self, index: u64) -> String {
        format!("{}-u{index}", self.run_id)
    }

    pub fn stream_name(&self, stream: u64) -> String {
        format!("loadtest/{}/host-{stream}", self.run_id)
    }
}

/// One generated line and the stream it belongs to.
pub struct Line {
    pub stream: u64,
    pub text: String,
}

/// Generates every line in order. The last line of each stream is a planted login; the
/// other planted logins are spread evenly over the lines before those.
pub fn generate(spec: &GeneratorSpec) -> impl Iterator<Item = Line> + '_ {
    let streams = spec.effective_streams();
    let planted = spec.planted.min(spec.events);
    let events = spec.events;
    // The last `streams` lines close the streams; `spread` planted logins go before them.
    let tail_start = events - streams;
    let spread = planted.saturating_sub(streams);
    let mut rng = StdRng::seed_from_u64(spec.seed);
    (0..events).map(move |i| {
        let stream = i % streams;
        let planted_index = if i >= tail_start && planted > 0 {
            Some(spread + (i - tail_start))
        } else {
            spread_slot(i, spread, tail_start)
        };
        let time = spec.start_unix + (i / 1000) as i64;
        let host = format!("host-{stream}.loadtest.example");
        let text = match planted_index {
            Some(k) => login(
                &host,
                time,
                &spec.planted_user(k),
                &format!("198.51.100.{}", k % 250 + 1),
                "added",
            ),
            None => ordinary(&mut rng, &host, time, i),
        };
        Line { stream, text }
    })
}

/// Slot `j` of `count` evenly spaced slots over `0..len` sits at line `j * len / count`;
/// returns `j` when line `i` is one of them.
fn spread_slot(i: u64, count: u64, len: u64) -> Option<u64> {
    if count == 0 || len == 0 {
        return None;
    }
    let j = (u128::from(i) * u128::from(count)).div_ceil(u128::from(len)) as u64;
    (j < count && (u128::from(j) * u128::from(len) / u128::from(count)) as u64 == i).then_some(j)
}

/// The planted users the generator emits, for the harness to wait for.
pub fn planted_users(spec: &GeneratorSpec) -> std::collections::BTreeSet<String> {
    (0..spec.planted.min(spec.events))
        .map(|k| spec.planted_user(k))
        .collect()
}

fn calendar_time(unix: i64) -> String {
    chrono_like(unix)
}

/// osquery's `calendarTime` layout, `Fri Nov 27 20:01:02 2026 UTC`, without a date crate.
fn chrono_like(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {} UTC",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        year
    )
}

fn login(host: &str, time: i64, user: &str, from: &str, action: &str) -> String {
    json!({
        "name": "pack_incident-response_logged_in_users",
        "hostIdentifier": host,
        "calendarTime": calendar_time(time),
        "unixTime": time,
        "epoch": 0,
        "counter": 1,
        "numerics": false,
        "decorations": {"host_uuid": host},
        "columns": {"host": from, "pid": "4242", "time": time.to_string(), "tty": "pts/1", "type": "user", "user": user},
        "action": action,
    })
    .to_string()
}

fn ordinary(rng: &mut StdRng, host: &str, time: i64, i: u64) -> String {
    match rng.random_range(0..4) {
        0 => login(host, time, &format!("staff{}", i % 97), &format!("192.0.1.{}", rng.random_range(1..255)), "added"),
        1 => login(host, time, &format!("staff{}", i % 97), &format!("198.51.100.{}", rng.random_range(1..255)), "removed"),
        2 => json!({
            "name": "pack_incident-response_process_events",
            "hostIdentifier": host,
            "calendarTime": calendar_time(time),
            "unixTime": time,
            "columns": {"pid": (i % 30_000).to_string(), "path": "/usr/bin/curl", "cmdline": "curl -s https://example.com", "uid": "1000"},
            "action": "added",
        })
        .to_string(),
        _ => json!({
            "name": "pack_incident-response_listening_ports",
            "hostIdentifier": host,
            "calendarTime": calendar_time(time),
            "unixTime": time,
            "columns": {"address": "0.0.0.0", "port": rng.random_range(1024..65535).to_string(), "protocol": "6", "pid": "311"},
            "action": "added",
        })
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(events: u64, planted: u64, streams: u64) -> GeneratorSpec {
        GeneratorSpec {
            events,
            planted,
            streams,
            run_id: "r1".into(),
            start_unix: 1_795_809_662,
            seed: 7,
        }
    }

    #[test]
    fn calendar_time_matches_osquery_layout() {
        assert_eq!(chrono_like(1_795_809_662), "Fri Nov 27 20:01:02 2026 UTC");
        assert_eq!(chrono_like(0), "Thu Jan  1 00:00:00 1970 UTC");
    }

    /// The users in out-of-office login lines, read back from the generated JSON.
    fn logged_in_from_outside(s: &GeneratorSpec) -> Vec<String> {
        generate(s)
            .filter_map(|line| {
                let v: serde_json::Value = serde_json::from_str(&line.text).expect("json");
                let outside = v["columns"]["host"].as_str()?.starts_with("198.51.100.");
                (outside
                    && v["action"] == "added"
                    && v["name"].as_str()?.contains("logged_in_users"))
                .then(|| v["columns"]["user"].as_str().map(str::to_owned))
                .flatten()
            })
            .collect()
    }

    #[test]
    fn exactly_the_planted_users_log_in_from_outside_once_each() {
        for (events, planted, streams) in [
            (1000, 10, 4),
            (100, 100, 3),
            (10, 3, 8),
            (50_000, 7, 4),
            (7, 7, 1),
        ] {
            let s = spec(events, planted, streams);
            assert_eq!(generate(&s).count() as u64, events);
            let mut seen = logged_in_from_outside(&s);
            seen.sort();
            let mut expected: Vec<String> = planted_users(&s).into_iter().collect();
            expected.sort();
            assert_eq!(seen, expected, "{events}/{planted}/{streams}");
        }
    }

    #[test]
    fn every_stream_ends_with_a_planted_login() {
        let s = spec(1000, 10, 4);
        let mut last: std::collections::BTreeMap<u64, String> = Default::default();
        for line in generate(&s) {
            last.insert(line.stream, line.text);
        }
        assert_eq!(last.len(), 4);
        for text in last.values() {
            assert!(
                text.contains("\"user\":\"r1-u") && text.contains("198.51.100."),
                "{text}"
            );
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let a: Vec<String> = generate(&spec(500, 5, 2)).map(|l| l.text).collect();
        let b: Vec<String> = generate(&spec(500, 5, 2)).map(|l| l.text).collect();
        assert_eq!(a, b);
    }
}
