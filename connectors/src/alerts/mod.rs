//! `corvid connect alerts`: forwards alerts from the alerts topic to where people see
//! them — Slack, PagerDuty, Microsoft Teams, Opsgenie, Jira, GitHub issues, Asana and
//! custom webhooks.
//!
//! ```text
//!  alerts topic ─▶ decode ─▶ route ───────▶ destinations ─▶ deliver (retry, backoff) ─▶ vendor API
//!  (JSON | Avro)  (alert)  (override >      (request per     │
//!                           outputIds >      vendor)         └─ refused / exhausted ─▶ dead-letter topic
//!                           severity)
//! ```
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | the forwarder's YAML file, validated, `${ENV}` secrets expanded |
//! | [`alert`] | the lenient alert reader |
//! | [`decode`] | JSON or Confluent-framed Avro records to alert JSON |
//! | [`routing`] | Panther's routing order |
//! | [`destinations`] | one module per vendor: alert → HTTP request |
//! | [`delivery`] | sending with retries and backoff |
//! | [`dead_letter`] | the destination dead-letter topic |
//! | [`forwarder`] | the consume → deliver → commit loop (at least once) |
//! | [`secret`] | secrets that never print, and scrubbing of foreign text |
//! | [`metrics`] | the Prometheus counters |

pub mod alert;
pub mod config;
pub mod dead_letter;
pub mod decode;
pub mod delivery;
pub mod destinations;
pub mod forwarder;
pub mod metrics;
pub mod routing;
pub mod secret;

pub use config::ForwarderConfig;
pub use forwarder::{run, ForwarderStats, RunOptions};
