//! Timestamp formats: how a field's text or number becomes a UTC instant.
//!
//! Names follow Panther's custom schemas: `rfc3339`, `unix` (seconds, fractions
//! allowed), `unix_ms`, `unix_us`, `unix_ns`; anything else is a strftime pattern
//! (`%Y-%m-%d %H:%M:%S`, `%d/%b/%Y:%H:%M:%S %z`, …). A pattern without a zone is read as
//! UTC. Two helpers cover vendor quirks: `unix_auto` (seconds, milliseconds,
//! microseconds or nanoseconds, told apart by magnitude) and `osquery`
//! (`Mon Jan  2 15:04:05 2006 UTC`).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Parses `value` with the first of `formats` that accepts it.
pub fn parse_with_formats<'a>(
    value: &Value,
    mut formats: impl Iterator<Item = &'a str>,
) -> Option<DateTime<Utc>> {
    formats.find_map(|format| parse_with_format(value, format))
}

/// Parses one value with one format.
pub fn parse_with_format(value: &Value, format: &str) -> Option<DateTime<Utc>> {
    match format {
        "rfc3339" => value.as_str().and_then(parse_rfc3339),
        "unix" => unix_scaled(value, 1_000_000_000),
        "unix_ms" => unix_scaled(value, 1_000_000),
        "unix_us" => unix_scaled(value, 1_000),
        "unix_ns" => unix_scaled(value, 1),
        "unix_auto" => {
            let seconds = number(value)?;
            let scale = match seconds.abs() {
                s if s < 1e11 => 1_000_000_000,
                s if s < 1e14 => 1_000_000,
                s if s < 1e17 => 1_000,
                _ => 1,
            };
            unix_scaled(value, scale)
        }
        "osquery" => value.as_str().and_then(parse_osquery_calendar_time),
        pattern => value
            .as_str()
            .and_then(|text| parse_pattern(text.trim(), pattern)),
    }
}

fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            // Vendors write RFC 3339 without a zone; Panther reads those as UTC.
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| Utc.from_utc_datetime(&naive))
        })
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
}

/// Reads a Unix time whose unit is `nanos_per_unit` nanoseconds. The value is read as
/// decimal text, so `1555924277.25` seconds is exactly 250 ms past the second.
fn unix_scaled(value: &Value, nanos_per_unit: i64) -> Option<DateTime<Utc>> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.as_str()),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = i128::from(nanos_per_unit);
    let mut nanos = whole.parse::<i128>().ok()?.checked_mul(scale)?;
    if !fraction.is_empty() {
        let fraction = &fraction[..fraction.len().min(18)];
        let denominator = 10i128.pow(fraction.len() as u32);
        nanos += fraction.parse::<i128>().ok()? * scale / denominator;
    }
    if negative {
        nanos = -nanos;
    }
    let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).ok()?;
    let subsec = nanos.rem_euclid(1_000_000_000) as u32;
    DateTime::from_timestamp(seconds, subsec)
}

fn parse_pattern(text: &str, pattern: &str) -> Option<DateTime<Utc>> {
    if let Ok(zoned) = DateTime::parse_from_str(text, pattern) {
        return Some(zoned.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
        return Some(Utc.from_utc_datetime(&naive));
    }
    NaiveDate::parse_from_str(text, pattern)
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| Utc.from_utc_datetime(&naive))
}

/// Parses osquery's `calendarTime`, `Mon Jan  2 15:04:05 2006 UTC` (day space-padded or
/// not). osquery always writes UTC, so any other zone name is refused rather than guessed.
pub fn parse_osquery_calendar_time(text: &str) -> Option<DateTime<Utc>> {
    let trimmed = text.trim().strip_suffix("UTC")?.trim_end();
    let naive = NaiveDateTime::parse_from_str(trimmed, "%a %b %e %H:%M:%S %Y").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::format_timestamp;
    use serde_json::json;

    fn at(value: Value, format: &str) -> Option<String> {
        parse_with_format(&value, format).map(|t| format_timestamp(&t))
    }

    #[test]
    fn named_formats() {
        assert_eq!(
            at(json!("2019-04-22T09:11:17.5Z"), "rfc3339").as_deref(),
            Some("2019-04-22 09:11:17.500000000")
        );
        assert_eq!(
            at(json!("2019-04-22T11:11:17+02:00"), "rfc3339").as_deref(),
            Some("2019-04-22 09:11:17.000000000")
        );
        assert_eq!(
            at(json!("2019-04-22T09:11:17"), "rfc3339").as_deref(),
            Some("2019-04-22 09:11:17.000000000")
        );
        assert_eq!(
            at(json!(1555924277), "unix").as_deref(),
            Some("2019-04-22 09:11:17.000000000")
        );
        assert_eq!(
            at(json!("1555924277.25"), "unix").as_deref(),
            Some("2019-04-22 09:11:17.250000000")
        );
        assert_eq!(
            at(json!(1555924277123i64), "unix_ms").as_deref(),
            Some("2019-04-22 09:11:17.123000000")
        );
        assert_eq!(
            at(json!(1555924277123456i64), "unix_us").as_deref(),
            Some("2019-04-22 09:11:17.123456000")
        );
        assert_eq!(
            at(json!(1555924277123456789i64), "unix_ns").as_deref(),
            Some("2019-04-22 09:11:17.123456789")
        );
        for v in [
            json!(1555924277),
            json!(1555924277123i64),
            json!(1555924277123456789i64),
        ] {
            assert_eq!(
                at(v, "unix_auto").map(|s| s[..19].to_owned()).as_deref(),
                Some("2019-04-22 09:11:17")
            );
        }
    }

    #[test]
    fn strftime_patterns_with_and_without_zones() {
        assert_eq!(
            at(json!("22/Apr/2019:11:11:17 +0200"), "%d/%b/%Y:%H:%M:%S %z").as_deref(),
            Some("2019-04-22 09:11:17.000000000")
        );
        assert_eq!(
            at(json!("2019-04-22 09:11:17"), "%Y-%m-%d %H:%M:%S").as_deref(),
            Some("2019-04-22 09:11:17.000000000")
        );
        assert_eq!(
            at(json!("2019-04-22"), "%Y-%m-%d").as_deref(),
            Some("2019-04-22 00:00:00.000000000")
        );
        assert_eq!(at(json!("yesterday"), "%Y-%m-%d"), None);
    }

    #[test]
    fn osquery_calendar_time_parses_padded_and_unpadded_days() {
        assert_eq!(
            at(json!("Tue Sep 11 17:14:17 2018 UTC"), "osquery").as_deref(),
            Some("2018-09-11 17:14:17.000000000")
        );
        assert_eq!(
            at(json!("Sun Sep  2 07:04:05 2018 UTC"), "osquery").as_deref(),
            Some("2018-09-02 07:04:05.000000000")
        );
        assert_eq!(at(json!("Tue Sep 11 17:14:17 2018 PST"), "osquery"), None);
    }

    #[test]
    fn several_formats_are_tried_in_order() {
        let formats = ["rfc3339", "unix"];
        let t = parse_with_formats(&json!(1555924277), formats.iter().copied())
            .map(|t| format_timestamp(&t));
        assert_eq!(t.as_deref(), Some("2019-04-22 09:11:17.000000000"));
    }
}
