//! Corvid's load test: osquery logs with a known set of planted out-of-office logins,
//! pushed through a running pipeline, measured end to end.
//!
//! * [`generator`] makes the log lines: ordinary activity (office logins, logouts,
//!   process and socket rows) plus one out-of-office login for each planted user; the
//!   last line of every stream is a planted login, so once every planted user's alert
//!   is out, every line before it has been processed.
//! * [`harness`] produces the lines into the raw topic, reads the alerts topic, and
//!   reports end-to-end events per second and which planted alerts were seen.

pub mod generator;
pub mod harness;
pub mod parse_bench;
pub mod rules_bench;
pub mod scenario;
