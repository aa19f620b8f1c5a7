//! Timestamp formats log types use for their event time.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// Parses osquery's `calendarTime`, `Mon Jan  2 15:04:05 2006 UTC` (day space-padded or
/// not). osquery always writes UTC, so any other zone name is refused rather than guessed.
pub fn parse_osquery_calendar_time(text: &str) -> Option<DateTime<Utc>> {
    let trimmed = text.trim().strip_suffix("UTC")?.trim_end();
    let naive = NaiveDateTime::parse_from_str(trimmed, "%a %b %e %H:%M:%S %Y").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

/// Converts Unix seconds to UTC.
pub fn from_unix_seconds(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::format_timestamp;

    #[test]
    fn calendar_time_parses_padded_and_unpadded_days() {
        let a = parse_osquery_calendar_time("Tue Sep 11 17:14:17 2018 UTC").expect("parse");
        assert_eq!(format_timestamp(&a), "2018-09-11 17:14:17.000000000");
        let b = parse_osquery_calendar_time("Sun Sep  2 07:04:05 2018 UTC").expect("parse");
        assert_eq!(format_timestamp(&b), "2018-09-02 07:04:05.000000000");
    }

    #[test]
    fn calendar_time_refuses_other_zones_and_junk() {
        assert!(parse_osquery_calendar_time("Tue Sep 11 17:14:17 2018 PST").is_none());
        assert!(parse_osquery_calendar_time("yesterday").is_none());
    }
}
