//! Sinks: where the dataflow's results leave it.
//!
//! Alerts go through their own transactional sink ([`alerts`]): exactly once per alert
//! version. The other sinks turn their records into Kafka records ([`KafkaRecord`]) and
//! hand them to one shared operator ([`kafka::kafka_sink`]) that produces them and, once
//! the input frontier passes an epoch, waits for the broker to acknowledge that epoch's
//! records (at least once).

pub mod alerts;
pub mod dead_letters;
pub mod events;
pub mod kafka;
pub mod progress;
pub mod rule_matches;

pub use kafka::{kafka_sink, KafkaRecord};
