//! Consumer lag: how many records a consumer group has still to read.
//!
//! Two views of the same number, for two questions:
//!
//! ```text
//!                       high watermark ─┐
//!  partition: [ low … committed ……………… high )
//!                        └──── lag ────┘
//!
//!  a member's own view   librdkafka statistics of its consumer  corvid_kafka_consumer_lag{topic,partition}
//!  (the forwarder)       (statistics), while it runs
//!
//!  the group's view      committed offsets and watermarks read  corvid_consumer_group_lag{group,topic,partition}
//!  (lag exporter)        from outside (group, exporter), also
//!                        while no member runs
//! ```
//!
//! A member's gauge disappears with the member; a stopped engine's growing backlog is
//! only visible from outside, which is why the exporter exists.
//!
//! | module | holds |
//! |---|---|
//! | [`gauge`] | a lag gauge replaced one whole reading at a time (no stale series) |
//! | [`statistics`] | a member's lags from librdkafka statistics |
//! | [`group`] | a group's lags from its committed offsets and the watermarks |
//! | [`exporter`] | `corvid lag-exporter`'s loop and `/metrics` endpoint |

pub mod exporter;
pub mod gauge;
pub mod group;
pub mod statistics;

pub use exporter::{LagExporter, LagExporterConfig, LagExporterError};
pub use gauge::LagGauge;
