//! Corvid's detection engine: one timely dataflow from raw Kafka records to alerts.
//!
//! The modules follow the data:
//! `source` (owned Kafka partitions, ingest epochs) → `parse` (classification, `p_` fields,
//! dead letters) → `rules` (Panther-format Python detections) → `alerts` (dedup windows,
//! thresholds, alert identity) → `sinks` (alerts and dead-letter topics), wired together
//! in `dataflow` and configured by `config`.

pub mod alerts;
pub mod benchmarks;
pub mod config;
pub mod dataflow;
pub mod evaluate;
pub mod event;
pub mod kafka;
pub mod metrics;
pub mod parse;
pub mod rules;
pub mod sinks;
pub mod source;
