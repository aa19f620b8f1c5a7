//! The `p_` columns: the same set, types and order in every table of a database, so the
//! `panther_views.all_logs` view is a plain union.
//!
//! Timestamps are microseconds in UTC (Parquet `TIMESTAMP(MICROS, isAdjustedToUTC)`);
//! Panther's nanosecond text form keeps its digits only to the microsecond here, which is
//! what Athena and DuckDB read anyway. Hour partitions (`year`, `month`, `day`, `hour`)
//! are path components, not columns in the files.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};

use crate::layout::Database;

/// The indicator arrays, in column order.
pub const INDICATOR_COLUMNS: [&str; 12] = [
    "p_any_ip_addresses",
    "p_any_domain_names",
    "p_any_sha1_hashes",
    "p_any_sha256_hashes",
    "p_any_md5_hashes",
    "p_any_trace_ids",
    "p_any_aws_account_ids",
    "p_any_aws_instance_ids",
    "p_any_aws_arns",
    "p_any_aws_tags",
    "p_any_emails",
    "p_any_usernames",
];

/// The hour partition columns, as SQL sees them.
pub const PARTITION_COLUMNS: [&str; 4] = ["year", "month", "day", "hour"];

/// The timestamp type of every timestamp column: UTC, spelled as an offset so readers
/// need no time zone database.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("+00:00")))
}

/// A list of strings (`array<string>`).
pub fn string_list() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// `map<string, array<string>>`, for `p_rule_reports`.
pub fn reports_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", string_list(), true),
            ])),
            false,
        )),
        false,
    )
}

/// The `p_` columns every event has, in column order.
pub fn event_columns() -> Vec<Field> {
    let mut fields = vec![
        Field::new("p_log_type", DataType::Utf8, false),
        Field::new("p_row_id", DataType::Utf8, false),
        Field::new("p_event_time", timestamp_type(), true),
        Field::new("p_parse_time", timestamp_type(), true),
        Field::new("p_source_id", DataType::Utf8, true),
        Field::new("p_source_label", DataType::Utf8, true),
    ];
    fields.extend(
        INDICATOR_COLUMNS
            .iter()
            .map(|name| Field::new(*name, string_list(), true)),
    );
    // Lookup-table matches (issue 7), as JSON text: their shape is the tables' rows.
    fields.push(Field::new("p_enrichment", DataType::Utf8, true));
    fields
}

/// The columns rule matches and rule errors add after the event's own.
pub fn rule_columns(database: Database) -> Vec<Field> {
    let mut fields = match database {
        Database::Logs => return Vec::new(),
        Database::RuleMatches | Database::RuleErrors => vec![
            Field::new("p_rule_id", DataType::Utf8, false),
            Field::new("p_rule_version", DataType::Utf8, true),
            Field::new("p_rule_severity", DataType::Utf8, true),
            Field::new("p_alert_id", DataType::Utf8, true),
            Field::new("p_alert_context", DataType::Utf8, true),
            Field::new("p_alert_creation_time", timestamp_type(), true),
            Field::new("p_alert_update_time", timestamp_type(), true),
            Field::new("p_rule_tags", string_list(), true),
            Field::new("p_rule_reports", reports_type(), true),
        ],
    };
    if database == Database::RuleErrors {
        fields.push(Field::new("p_rule_error", DataType::Utf8, true));
        fields.push(Field::new("p_rule_error_type", DataType::Utf8, true));
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_p_column_is_lower_case_and_unique() {
        let mut names: Vec<String> = event_columns()
            .iter()
            .chain(rule_columns(Database::RuleErrors).iter())
            .map(|f| f.name().clone())
            .collect();
        assert!(names
            .iter()
            .all(|n| n.starts_with("p_") && *n == n.to_lowercase()));
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
