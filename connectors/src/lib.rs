//! Corvid's connectors: sources that stream logs into Kafka raw topics, and the alert
//! forwarder that delivers alerts to their destinations ([`alerts`]).
//!
//! Every connector produces records with the same contract ([`raw_record`]): the record
//! key names the *stream* (a file path, a TCP peer, an object key) so one stream's lines
//! stay ordered in one partition, and headers carry the source's id, label and the log
//! types it may hold, which the engine's classifier reads. Delivery is acknowledged
//! ([`producer::RawProducer`]): a connector reports success only for records the broker
//! has accepted.
//!
//! Each long-running component serves Prometheus metrics (`docs/metrics.md`): the log
//! connectors' delivery counters ([`metrics`]), the forwarder's ([`alerts::metrics`]),
//! and consumer-group lag ([`lag`]).

pub mod alerts;
pub mod file;
pub mod http;
pub mod ingest;
pub mod lag;
pub mod metrics;
pub mod producer;
pub mod raw_record;
pub mod s3;
pub mod syslog;
pub mod table;
pub mod topics;
