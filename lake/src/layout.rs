//! Table names, databases and object paths.

use chrono::{DateTime, Datelike, Timelike, Utc};
use object_store::path::Path;

/// The three databases of the lake and the top-level folder of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Database {
    /// Every parsed event: `panther_logs`, under `logs/`.
    Logs,
    /// Every rule match: `panther_rule_matches`, under `rules/`.
    RuleMatches,
    /// Every rule error: `panther_rule_errors`, under `rule_errors/`.
    RuleErrors,
}

impl Database {
    pub const ALL: [Database; 3] = [Database::Logs, Database::RuleMatches, Database::RuleErrors];

    /// The SQL schema name (Panther's database name).
    pub fn name(self) -> &'static str {
        match self {
            Database::Logs => "panther_logs",
            Database::RuleMatches => "panther_rule_matches",
            Database::RuleErrors => "panther_rule_errors",
        }
    }

    /// The folder under the lake root.
    pub fn folder(self) -> &'static str {
        match self {
            Database::Logs => "logs",
            Database::RuleMatches => "rules",
            Database::RuleErrors => "rule_errors",
        }
    }
}

/// Panther's table name of a log type: lower case, `.` and `-` as `_`
/// (`AWS.VPCFlow` → `aws_vpcflow`, `Osquery.Differential` → `osquery_differential`).
pub fn table_name(log_type: &str) -> String {
    log_type
        .chars()
        .map(|c| match c {
            '.' | '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// An hour partition: the hour of `p_event_time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
}

impl Partition {
    pub fn of(time: &DateTime<Utc>) -> Partition {
        Partition {
            year: time.year(),
            month: time.month(),
            day: time.day(),
            hour: time.hour(),
        }
    }

    /// `year=YYYY/month=MM/day=DD/hour=HH`, Hive style, zero padded as Panther writes it.
    pub fn path(&self) -> String {
        format!(
            "year={:04}/month={:02}/day={:02}/hour={:02}",
            self.year, self.month, self.day, self.hour
        )
    }
}

/// `<prefix>/<db folder>/<table>`.
pub fn table_path(prefix: &Path, database: Database, table: &str) -> Path {
    join(prefix, &format!("{}/{table}", database.folder()))
}

/// `<prefix>/<db folder>/<table>/<partition>/<file>`.
pub fn file_path(
    prefix: &Path,
    database: Database,
    table: &str,
    partition: &Partition,
    file: &str,
) -> Path {
    join(
        prefix,
        &format!("{}/{table}/{}/{file}", database.folder(), partition.path()),
    )
}

/// The deterministic name of a data file: the writer's shard and the epochs it holds, so
/// a replay of the same epochs writes the same name (and overwrites) instead of adding a
/// duplicate.
pub fn file_name(shard: usize, first_epoch: u64, last_epoch: u64) -> String {
    format!("part-{shard:04}-{first_epoch:013}-{last_epoch:013}.zstd.parquet")
}

fn join(prefix: &Path, rest: &str) -> Path {
    let joined = if prefix.as_ref().is_empty() {
        rest.to_owned()
    } else {
        format!("{}/{rest}", prefix.as_ref())
    };
    Path::from(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_panther() {
        assert_eq!(table_name("AWS.CloudTrail"), "aws_cloudtrail");
        assert_eq!(table_name("AWS.VPCFlow"), "aws_vpcflow");
        assert_eq!(table_name("Osquery.Differential"), "osquery_differential");
        assert_eq!(table_name("Syslog.RFC5424"), "syslog_rfc5424");
    }

    #[test]
    fn paths_are_hive_partitioned_by_event_hour() {
        let time = DateTime::parse_from_rfc3339("2026-03-07T09:15:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("time");
        let path = file_path(
            &Path::from("lake"),
            Database::Logs,
            "aws_vpcflow",
            &Partition::of(&time),
            &file_name(3, 1_795_000_000_000, 1_795_000_060_000),
        );
        assert_eq!(
            path.as_ref(),
            "lake/logs/aws_vpcflow/year=2026/month=03/day=07/hour=09/part-0003-1795000000000-1795000060000.zstd.parquet"
        );
        let root = table_path(&Path::from(""), Database::RuleErrors, "aws_cloudtrail");
        assert_eq!(root.as_ref(), "rule_errors/aws_cloudtrail");
    }
}
