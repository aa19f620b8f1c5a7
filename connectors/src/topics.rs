//! Topic set-up: connectors and the engine create the topics they use when missing.
//!
//! Brokers run with `auto.create.topics.enable=false` in production as in our scripts,
//! so whoever writes or reads a topic first creates it, with an explicit partition count.
//! An existing topic is left exactly as it is.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot create a Kafka admin client: {0}")]
    Client(KafkaError),
    #[error("cannot create topic {topic}: {reason}")]
    Create { topic: String, reason: String },
}

/// Creates each `(name, partitions)` topic that does not exist yet.
pub fn ensure_topics(client: &ClientConfig, topics: &[(&str, i32)]) -> Result<(), TopicError> {
    ensure_topics_with(client, topics, &[])
}

/// Creates each missing `(name, partitions)` topic with the topic-level `settings`
/// (e.g. `cleanup.policy=compact`); existing topics keep theirs.
pub fn ensure_topics_with(
    client: &ClientConfig,
    topics: &[(&str, i32)],
    settings: &[(&str, &str)],
) -> Result<(), TopicError> {
    let admin: AdminClient<DefaultClientContext> = client.create().map_err(TopicError::Client)?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| {
            settings.iter().fold(
                NewTopic::new(name, *partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = futures::executor::block_on(admin.create_topics(&new_topics, &options)).map_err(
        |source| TopicError::Create {
            topic: topics
                .iter()
                .map(|(name, _)| *name)
                .collect::<Vec<_>>()
                .join(","),
            reason: source.to_string(),
        },
    )?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(TopicError::Create {
                    topic,
                    reason: code.to_string(),
                })
            }
        }
    }
    Ok(())
}

/// The partition ids of `topic`, or an empty list when the topic does not exist.
pub fn partition_ids<C, X>(
    consumer: &C,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError>
where
    C: rdkafka::consumer::Consumer<X>,
    X: rdkafka::consumer::ConsumerContext,
{
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}
