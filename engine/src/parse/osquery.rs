//! `Osquery.Differential`: osqueryd's differential result logs, one JSON object a line.
//!
//! Accepted when the line is a JSON object with string `name` and `hostIdentifier`, an
//! `action` of `added` or `removed`, an object `columns`, and an event time in
//! `calendarTime` (preferred, as Panther) or `unixTime`. The record is kept as written;
//! indicators follow Panther: `hostIdentifier` → domain; `columns.local_address`,
//! `remote_address`, `address`, `host_ip`, `ipv4_address` → IP; `columns.host` → IP or
//! domain.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::indicators::Indicators;
use super::time::{from_unix_seconds, parse_osquery_calendar_time};
use super::{ParseRefusal, ParsedRecord};

pub const LOG_TYPE: &str = "Osquery.Differential";

const IP_COLUMNS: [&str; 5] = [
    "local_address",
    "remote_address",
    "address",
    "host_ip",
    "ipv4_address",
];

pub fn parse_differential(line: &[u8]) -> Result<ParsedRecord, ParseRefusal> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| ParseRefusal::new(format!("not JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ParseRefusal::new("not a JSON object"));
    };
    let string_field = |name: &str| -> Result<&str, ParseRefusal> {
        fields
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| ParseRefusal::new(format!("missing string field {name}")))
    };
    string_field("name")?;
    let host_identifier = string_field("hostIdentifier")?;
    let action = string_field("action")?;
    if action != "added" && action != "removed" {
        return Err(ParseRefusal::new(format!(
            "action is {action:?}, expected \"added\" or \"removed\""
        )));
    }
    let columns = fields
        .get("columns")
        .and_then(Value::as_object)
        .ok_or_else(|| ParseRefusal::new("missing object field columns"))?;
    let event_time = event_time(&fields)?;

    let mut indicators = Indicators::default();
    indicators.add_domain(host_identifier);
    for column in IP_COLUMNS {
        if let Some(value) = columns.get(column).and_then(Value::as_str) {
            indicators.add_ip(value);
        }
    }
    if let Some(host) = columns.get("host").and_then(Value::as_str) {
        indicators.add_hostname(host);
    }
    Ok(ParsedRecord {
        fields,
        event_time,
        indicators,
    })
}

fn event_time(fields: &Map<String, Value>) -> Result<DateTime<Utc>, ParseRefusal> {
    if let Some(text) = fields.get("calendarTime").and_then(Value::as_str) {
        return parse_osquery_calendar_time(text).ok_or_else(|| {
            ParseRefusal::new(format!("calendarTime {text:?} is not osquery's UTC format"))
        });
    }
    let unix = match fields.get("unixTime") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    unix.and_then(from_unix_seconds)
        .ok_or_else(|| ParseRefusal::new("missing calendarTime and unixTime"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::format_timestamp;

    const LOGIN: &str = r#"{"name":"pack_incident-response_logged_in_users","hostIdentifier":"web-1.corp.example","calendarTime":"Fri Nov 27 20:01:02 2026 UTC","unixTime":1795809662,"epoch":0,"counter":12,"numerics":false,"decorations":{"host_uuid":"4C4C4544"},"columns":{"host":"203.0.113.7","pid":"1234","time":"1795809662","tty":"pts/0","type":"user","user":"alice"},"action":"added"}"#;

    #[test]
    fn a_login_row_parses_with_time_and_indicators() {
        let parsed = parse_differential(LOGIN.as_bytes()).expect("parses");
        assert_eq!(
            format_timestamp(&parsed.event_time),
            "2026-11-27 20:01:02.000000000"
        );
        assert_eq!(parsed.fields["columns"]["user"], "alice");
        let mut out = Map::new();
        parsed.indicators.write_into(&mut out);
        assert_eq!(
            out["p_any_ip_addresses"],
            serde_json::json!(["203.0.113.7"])
        );
        assert_eq!(
            out["p_any_domain_names"],
            serde_json::json!(["web-1.corp.example"])
        );
    }

    #[test]
    fn unix_time_is_the_fallback_event_time() {
        let line = LOGIN.replace(r#""calendarTime":"Fri Nov 27 20:01:02 2026 UTC","#, "");
        let parsed = parse_differential(line.as_bytes()).expect("parses");
        assert_eq!(
            format_timestamp(&parsed.event_time),
            "2026-11-27 20:01:02.000000000"
        );
    }

    #[test]
    fn refusals_say_why() {
        let cases = [
            ("this is not json", "not JSON"),
            ("[1,2]", "not a JSON object"),
            (
                r#"{"name":"x","hostIdentifier":"h","action":"added"}"#,
                "columns",
            ),
            (
                r#"{"name":"x","hostIdentifier":"h","action":"snapshot","columns":{}}"#,
                "action",
            ),
            (
                r#"{"hostIdentifier":"h","action":"added","columns":{}}"#,
                "name",
            ),
            (
                r#"{"name":"x","hostIdentifier":"h","action":"added","columns":{}}"#,
                "unixTime",
            ),
        ];
        for (line, expected) in cases {
            let Err(refusal) = parse_differential(line.as_bytes()) else {
                panic!("{line} must be refused");
            };
            assert!(refusal.0.contains(expected), "{line}: {refusal}");
        }
    }
}
