//! The durable cursor: one record per finished object in a compacted Kafka topic, keyed
//! by the object's URL. Read to its end at start-up; an object whose entry matches its
//! current version (e_tag, else size and last-modified) is never read again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use object_store::ObjectMeta;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use crate::ingest::acked::{AckedProducer, AckedProducerError, Route};
use crate::ingest::config::KafkaTarget;
use crate::producer::ProduceError;
use crate::topics::{ensure_topics_with, partition_ids, TopicError};

const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// How an object ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectState {
    /// Every record acknowledged.
    Completed,
    /// The content is broken: the records before the break were sent, the rest cannot
    /// be read. Not retried until the object changes.
    Corrupt,
}

/// The value of a cursor record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorEntry {
    pub state: ObjectState,
    pub size: u64,
    pub e_tag: Option<String>,
    /// RFC 3339.
    pub last_modified: String,
    /// Records sent (acknowledged) from the object.
    pub records: u64,
    /// RFC 3339.
    pub completed_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CursorEntry {
    pub fn new(meta: &ObjectMeta, state: ObjectState, records: u64, error: Option<String>) -> Self {
        CursorEntry {
            state,
            size: meta.size,
            e_tag: meta.e_tag.clone(),
            last_modified: meta.last_modified.to_rfc3339(),
            records,
            completed_at: chrono::Utc::now().to_rfc3339(),
            error,
        }
    }

    /// Whether this entry is about the object as it is now (not an older upload).
    pub fn matches(&self, meta: &ObjectMeta) -> bool {
        match (&self.e_tag, &meta.e_tag) {
            (Some(ours), Some(theirs)) => ours == theirs,
            _ => self.size == meta.size && self.last_modified == meta.last_modified.to_rfc3339(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    #[error("cursor topic {topic}: {source}")]
    Topic { topic: String, source: TopicError },
    #[error("cursor topic {topic}: {source}")]
    Producer {
        topic: String,
        source: Box<AckedProducerError>,
    },
    #[error("cursor topic {topic}: cannot read it: {reason}")]
    Read { topic: String, reason: String },
    #[error("cursor topic {topic}: writing the entry of {key}: {source}")]
    Write {
        topic: String,
        key: String,
        source: Box<ProduceError>,
    },
}

pub struct Cursor {
    entries: Mutex<HashMap<String, CursorEntry>>,
    producer: AckedProducer,
    route: Route,
}

impl Cursor {
    /// Creates the compacted topic when missing and reads it to its end (blocking).
    pub fn load(kafka: &KafkaTarget, topic: &str) -> Result<Cursor, CursorError> {
        let client = kafka.producer_config();
        ensure_topics_with(&client, &[(topic, 1)], &[("cleanup.policy", "compact")]).map_err(
            |source| CursorError::Topic {
                topic: topic.to_owned(),
                source,
            },
        )?;
        let entries = read_to_end(kafka, topic).map_err(|reason| CursorError::Read {
            topic: topic.to_owned(),
            reason,
        })?;
        let target = KafkaTarget {
            topic: topic.to_owned(),
            partitions: 1,
            ..kafka.clone()
        };
        let producer = AckedProducer::new(&target).map_err(|source| CursorError::Producer {
            topic: topic.to_owned(),
            source: Box::new(source),
        })?;
        let route = Route::bookkeeping();
        Ok(Cursor {
            entries: Mutex::new(entries),
            producer,
            route,
        })
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the object, as it is now, was completed (or found corrupt) before.
    pub fn is_done(&self, key: &str, meta: &ObjectMeta) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|entry| entry.matches(meta))
    }

    /// Writes the entry and waits for the broker's acknowledgement; only then is the
    /// object done.
    pub async fn record(&self, key: &str, entry: CursorEntry) -> Result<(), CursorError> {
        let write_error = |source| CursorError::Write {
            topic: self.producer.topic().to_owned(),
            key: key.to_owned(),
            source: Box::new(source),
        };
        let payload = serde_json::to_vec(&entry).unwrap_or_default();
        self.producer
            .queue(&self.route, key.as_bytes(), &payload)
            .await
            .map_err(write_error)?
            .acked()
            .await
            .map_err(write_error)?;
        self.lock().insert(key.to_owned(), entry);
        Ok(())
    }

    pub fn flush(&self, timeout: Duration) -> Result<(), ProduceError> {
        self.producer.flush(timeout)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CursorEntry>> {
        // A panic elsewhere cannot leave the map half-written: inserts are single calls.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn read_to_end(kafka: &KafkaTarget, topic: &str) -> Result<HashMap<String, CursorEntry>, String> {
    let mut config = rdkafka::config::ClientConfig::new();
    config
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", "corvid-s3-cursor-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in &kafka.client {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
    let partitions = partition_ids(&consumer, topic, LOAD_TIMEOUT).map_err(|e| e.to_string())?;
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for partition in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, LOAD_TIMEOUT)
            .map_err(|e| e.to_string())?;
        if high > low {
            ends.insert(partition, high);
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
    }
    let mut entries = HashMap::new();
    if ends.is_empty() {
        return Ok(entries);
    }
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + LOAD_TIMEOUT;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(format!(
                "not read to its end within {}s",
                LOAD_TIMEOUT.as_secs()
            ));
        }
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned();
        match message.payload() {
            None => {
                entries.remove(&key);
            }
            Some(payload) => match serde_json::from_slice::<CursorEntry>(payload) {
                Ok(entry) => {
                    entries.insert(key, entry);
                }
                Err(error) => {
                    tracing::warn!(%key, %error, "ignoring an unreadable cursor entry");
                }
            },
        }
        if ends
            .get(&message.partition())
            .is_some_and(|end| message.offset() + 1 >= *end)
        {
            ends.remove(&message.partition());
        }
    }
    Ok(entries)
}
