//! The data lake's shared vocabulary: where it lives ([`store`]), how it is laid out
//! ([`layout`]) and the `p_` columns every table carries ([`columns`]).
//!
//! The engine's lake sink writes with these and `corvid query` reads with them, so the
//! two cannot disagree on a path or a column. This crate holds no query engine: the
//! engine links it without DataFusion.
//!
//! ```text
//!  <root>/logs/<table>/year=YYYY/month=MM/day=DD/hour=HH/<file>.parquet     panther_logs
//!  <root>/rules/<table>/year=…/…                                             panther_rule_matches
//!  <root>/rule_errors/<table>/year=…/…                                       panther_rule_errors
//! ```
//!
//! `<table>` is Panther's table name for the log type (`AWS.CloudTrail` → `aws_cloudtrail`);
//! the partition is the hour of `p_event_time`. Column names are lower case, as the Glue
//! catalog stores them, so Athena-style SQL with unquoted names works unchanged.

pub mod columns;
pub mod layout;
pub mod store;

pub use layout::{Database, Partition};
pub use store::{Lake, LakeError, LakeLocation};
