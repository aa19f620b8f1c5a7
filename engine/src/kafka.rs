//! Kafka client settings shared by the engine's sources and sinks.

use rdkafka::config::ClientConfig;

use crate::config::KafkaConfig;

/// A client config with the brokers and the user's extra librdkafka properties.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &kafka.brokers);
    for (key, value) in &kafka.client {
        config.set(key, value);
    }
    config
}

/// The consumers' rdkafka context: errors go to `tracing`, except end-of-partition
/// notices, which the consumers that ask for them handle and which are not errors.
pub struct ConsumerLogContext;

impl rdkafka::ClientContext for ConsumerLogContext {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::error::{KafkaError, RDKafkaErrorCode};
        match error {
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {}
            error => tracing::error!(%error, reason, "librdkafka error"),
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ConsumerLogContext {}
