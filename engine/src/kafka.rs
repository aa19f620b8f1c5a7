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
