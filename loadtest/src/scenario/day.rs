//! The UTC day a scenario happens on, and the timestamp layouts its logs are written in.
//!
//! Every event of a scenario falls on one [`Day`], so queries over the lake can filter on
//! its `year=/month=/day=` partitions. Times are Unix seconds; the layouts are the ones
//! the sources write: RFC 3339 with `Z` (CloudTrail) and osquery's `calendarTime`.
//! Calendar arithmetic is proleptic Gregorian (Howard Hinnant's `days_from_civil` and
//! `civil_from_days`), limited to the years 1970–9999 so every time is a non-negative
//! Unix second and every year has four digits.

use std::fmt;
use std::str::FromStr;

/// Seconds in a UTC day (no leap seconds, as Unix time).
pub const SECONDS_PER_DAY: i64 = 86_400;

const FIRST_YEAR: i32 = 1970;
const LAST_YEAR: i32 = 9999;

/// A calendar day in UTC, 1970-01-01 to 9999-12-31.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    year: i32,
    month: u32,
    day: u32,
}

/// A date that is not a valid `YYYY-MM-DD` day in range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {input:?}: {reason} (expected YYYY-MM-DD, 1970-01-01 to 9999-12-31)")]
pub struct DayError {
    input: String,
    reason: &'static str,
}

impl Day {
    /// The day `year-month-day`, if it exists and is in range.
    pub fn new(year: i32, month: u32, day: u32) -> Result<Day, DayError> {
        let error = |reason| DayError {
            input: format!("{year:04}-{month:02}-{day:02}"),
            reason,
        };
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
            return Err(error("year out of range"));
        }
        if !(1..=12).contains(&month) {
            return Err(error("no such month"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(error("no such day in that month"));
        }
        Ok(Day { year, month, day })
    }

    /// The day holding the Unix second `unix` (clamped to the supported range).
    pub fn from_unix(unix: i64) -> Day {
        let max = Day {
            year: LAST_YEAR,
            month: 12,
            day: 31,
        }
        .start_unix();
        let (year, month, day) = civil_from_days(unix.clamp(0, max).div_euclid(SECONDS_PER_DAY));
        Day { year, month, day }
    }

    /// Today in UTC, by the system clock.
    pub fn today_utc() -> Day {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Day::from_unix(now)
    }

    /// The Unix second of this day's midnight.
    pub fn start_unix(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECONDS_PER_DAY
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn month(&self) -> u32 {
        self.month
    }

    pub fn day(&self) -> u32 {
        self.day
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Day {
    type Err = DayError;

    /// Exactly `YYYY-MM-DD`: ten characters, zero-padded.
    fn from_str(input: &str) -> Result<Day, DayError> {
        let error = |reason| DayError {
            input: input.to_owned(),
            reason,
        };
        let bytes = input.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && bytes
                .iter()
                .enumerate()
                .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
        if !shape_ok {
            return Err(error("not in the form YYYY-MM-DD"));
        }
        let number = |range: std::ops::Range<usize>| input[range].parse::<u32>();
        match (number(0..4), number(5..7), number(8..10)) {
            (Ok(year), Ok(month), Ok(day)) => {
                Day::new(year as i32, month, day).map_err(|e| error(e.reason))
            }
            _ => Err(error("not in the form YYYY-MM-DD")),
        }
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

/// The parts of a Unix second: date, time of day and days since 1970-01-01.
struct Civil {
    year: i32,
    month: u32,
    day: u32,
    second_of_day: i64,
    days: i64,
}

impl Civil {
    fn of(unix: i64) -> Civil {
        let days = unix.div_euclid(SECONDS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            second_of_day: unix.rem_euclid(SECONDS_PER_DAY),
            days,
        }
    }

    fn hms(&self) -> (i64, i64, i64) {
        let s = self.second_of_day;
        (s / 3600, s % 3600 / 60, s % 60)
    }
}

/// `2026-11-27T14:05:20Z`, CloudTrail's `eventTime`.
pub fn rfc3339(unix: i64) -> String {
    let t = Civil::of(unix);
    let (h, m, s) = t.hms();
    format!(
        "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}Z",
        t.year, t.month, t.day
    )
}

/// `Fri Nov 27 14:05:20 2026 UTC`, osquery's `calendarTime` (day space-padded).
pub fn osquery_calendar_time(unix: i64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = Civil::of(unix);
    let (h, m, s) = t.hms();
    format!(
        "{} {} {:2} {h:02}:{m:02}:{s:02} {} UTC",
        WEEKDAYS[t.days.rem_euclid(7) as usize],
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.year
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_strictly() {
        let day: Day = "2026-11-27".parse().expect("valid");
        assert_eq!((day.year(), day.month(), day.day()), (2026, 11, 27));
        assert_eq!(day.to_string(), "2026-11-27");
        assert!("2024-02-29".parse::<Day>().is_ok());
        for bad in [
            "2025-02-29",
            "2026-13-01",
            "2026-04-31",
            "2026-00-10",
            "1969-12-31",
            "2026-1-27",
            "2026/11/27",
            "26-11-27",
            "2026-11-27T00:00:00Z",
            "+026-11-27",
            "",
        ] {
            let error = bad.parse::<Day>().expect_err(bad);
            assert!(error.to_string().contains("YYYY-MM-DD"), "{error}");
        }
    }

    #[test]
    fn days_and_unix_seconds_agree() {
        let day: Day = "2026-11-27".parse().expect("valid");
        assert_eq!(day.start_unix(), 1_795_737_600);
        assert_eq!(Day::from_unix(day.start_unix()), day);
        assert_eq!(Day::from_unix(day.start_unix() + SECONDS_PER_DAY - 1), day);
        assert_eq!(Day::from_unix(0).to_string(), "1970-01-01");
        assert_eq!(Day::from_unix(-5).to_string(), "1970-01-01");
        assert_eq!(Day::from_unix(i64::MAX).to_string(), "9999-12-31");
        // Every day of a leap-year span round-trips through its midnight.
        let mut unix = "2023-12-30".parse::<Day>().expect("valid").start_unix();
        for _ in 0..800 {
            assert_eq!(Day::from_unix(unix).start_unix(), unix);
            unix += SECONDS_PER_DAY;
        }
    }

    #[test]
    fn times_use_the_sources_layouts() {
        assert_eq!(rfc3339(1_795_809_662), "2026-11-27T20:01:02Z");
        assert_eq!(
            osquery_calendar_time(1_795_809_662),
            "Fri Nov 27 20:01:02 2026 UTC"
        );
        assert_eq!(osquery_calendar_time(0), "Thu Jan  1 00:00:00 1970 UTC");
    }
}
