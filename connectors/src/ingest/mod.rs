//! What every streaming connector (`connect s3`, `http`, `syslog`, `file`) shares: the
//! config sections they all have ([`config`]) and an acknowledged, bounded producer for
//! connectors that run on tokio ([`acked`]).
//!
//! Every connector follows the raw record contract ([`crate::raw_record`]) and counts
//! deliveries in [`crate::metrics::ConnectorMetrics`].

pub mod acked;
pub mod config;
