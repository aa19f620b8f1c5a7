//! Sinks: where the dataflow's results leave it.
//!
//! Each sink turns its records into Kafka records ([`KafkaRecord`]) and hands them to one
//! shared operator ([`kafka::kafka_sink`]) that produces them and, once the input frontier
//! passes an epoch, waits for the broker to acknowledge that epoch's records.

pub mod alerts;
pub mod dead_letters;
pub mod events;
pub mod kafka;
pub mod rule_errors;

pub use kafka::{kafka_sink, KafkaRecord};
