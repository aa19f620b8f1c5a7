//! Corvid's detection engine: one timely dataflow from raw Kafka records to alerts.
//!
//! The modules follow the data:
//! `source` (owned Kafka partitions, ingest epochs) → `parse` (log type schemas,
//! classification, `p_` fields, dead letters) → `evaluate` (the rules operator, hot
//! reload) running `rules` (Panther-format Python detections) → `alerts` (dedup windows,
//! thresholds, alert identity) → `sinks` (alerts, dead letters, rule matches and errors,
//! events) and `lake` (every event, match and error as Parquet on object storage),
//! wired together in `dataflow` and configured by `config`. `benchmarks` is the engine's
//! side of the benchmarks in `loadtest/`.

pub mod alerts;
pub mod benchmarks;
pub mod checkpoint;
pub mod cluster;
pub mod config;
pub mod dataflow;
pub mod enrich;
pub mod evaluate;
pub mod event;
pub mod kafka;
pub mod lake;
pub mod metrics;
pub mod parse;
pub mod rules;
pub mod sinks;
pub mod source;
