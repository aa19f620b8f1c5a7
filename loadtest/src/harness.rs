//! Pushes generated lines through a running pipeline and measures it end to end.
//!
//! 1. note the alerts topic's end offsets (older alerts are not this run's);
//! 2. produce every line to the raw topic, keyed by stream, and wait for the acks;
//! 3. read the alerts topic until every planted user has an alert (or the timeout);
//! 4. report events/s from the first produce to the last planted alert, with the produce
//!    rate alone as the baseline measured in the same run.
//!
//! The last line of every stream is a planted login and a stream is processed in order,
//! so the last planted alert means the pipeline has processed every line.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::generator::{generate, planted_users, GeneratorSpec};
use corvid_connectors::producer::{ProduceError, RawProducer};
use corvid_connectors::raw_record::SourceMeta;
use corvid_connectors::topics::partition_ids;

#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    #[error("Kafka error on {topic}: {source}")]
    Kafka { topic: String, source: KafkaError },
    #[error("topic {0} does not exist: is the engine running with the same config?")]
    NoSuchTopic(String),
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

/// Where to push and what to read back.
#[derive(Clone, Debug)]
pub struct HarnessConfig {
    pub brokers: String,
    pub raw_topic: String,
    pub alerts_topic: String,
    pub timeout: Duration,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Report {
    pub events: u64,
    pub produce_seconds: f64,
    pub end_to_end_seconds: f64,
    pub expected_alerts: usize,
    pub seen_alerts: usize,
    pub missing: Vec<String>,
    pub alert_records: u64,
}

impl Report {
    pub fn produce_rate(&self) -> f64 {
        self.events as f64 / self.produce_seconds.max(1e-9)
    }

    pub fn end_to_end_rate(&self) -> f64 {
        self.events as f64 / self.end_to_end_seconds.max(1e-9)
    }

    pub fn complete(&self) -> bool {
        self.missing.is_empty()
    }

    pub fn render(&self) -> String {
        format!(
            "events: {}\nproduce: {:.2} s ({:.0} events/s, baseline)\nend-to-end: {:.2} s ({:.0} events/s, {:.2}x of produce rate)\nplanted alerts: {} expected, {} seen{}\nalert records read: {}",
            self.events,
            self.produce_seconds,
            self.produce_rate(),
            self.end_to_end_seconds,
            self.end_to_end_rate(),
            self.end_to_end_rate() / self.produce_rate().max(1e-9),
            self.expected_alerts,
            self.seen_alerts,
            if self.missing.is_empty() {
                String::new()
            } else {
                format!(" (missing: {})", self.missing.iter().take(5).cloned().collect::<Vec<_>>().join(", "))
            },
            self.alert_records,
        )
    }
}

/// Runs the load test against a pipeline that is already running.
pub fn run(config: &HarnessConfig, spec: &GeneratorSpec) -> Result<Report, LoadtestError> {
    let alerts = AlertReader::at_end(&config.brokers, &config.alerts_topic)?;
    let expected = planted_users(spec);
    let meta = SourceMeta {
        source_id: format!("loadtest-{}", spec.run_id),
        source_label: "Corvid load test".into(),
        log_types: vec!["Osquery.Differential".into()],
    };
    let streams: Vec<String> = (0..spec.effective_streams())
        .map(|s| spec.stream_name(s))
        .collect();
    let started = Instant::now();
    let mut producer = RawProducer::new(&config.brokers, &config.raw_topic, &meta)?;
    let mut seen = BTreeSet::new();
    let mut alert_records = 0u64;
    let mut last_alert = started;
    for (n, line) in generate(spec).enumerate() {
        producer.send(&streams[line.stream as usize], line.text.as_bytes())?;
        // Keep reading alerts while producing so the consumer never falls far behind.
        if n % 10_000 == 9_999 {
            alert_records += alerts.drain(&spec.run_id, &mut seen, &mut last_alert)?;
        }
    }
    producer.finish(Duration::from_secs(120))?;
    let produce_seconds = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + config.timeout;
    while !expected.is_subset(&seen) && Instant::now() < deadline {
        alert_records += alerts.drain(&spec.run_id, &mut seen, &mut last_alert)?;
        if !expected.is_subset(&seen) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let missing: Vec<String> = expected.difference(&seen).cloned().collect();
    Ok(Report {
        events: spec.events,
        produce_seconds,
        end_to_end_seconds: last_alert.duration_since(started).as_secs_f64(),
        expected_alerts: expected.len(),
        seen_alerts: expected.intersection(&seen).count(),
        missing,
        alert_records,
    })
}

/// Reads the alerts topic from the offsets it had when created.
struct AlertReader {
    consumer: BaseConsumer,
    topic: String,
}

impl AlertReader {
    fn at_end(brokers: &str, topic: &str) -> Result<AlertReader, LoadtestError> {
        let kafka = |source| LoadtestError::Kafka {
            topic: topic.to_owned(),
            source,
        };
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", "corvid-loadtest")
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(kafka)?;
        let partitions = partition_ids(&consumer, topic, Duration::from_secs(30)).map_err(kafka)?;
        if partitions.is_empty() {
            return Err(LoadtestError::NoSuchTopic(topic.to_owned()));
        }
        let mut assignment = TopicPartitionList::new();
        for partition in partitions {
            let (_, high) = consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(30))
                .map_err(kafka)?;
            assignment
                .add_partition_offset(topic, partition, Offset::Offset(high))
                .map_err(kafka)?;
        }
        consumer.assign(&assignment).map_err(kafka)?;
        Ok(AlertReader {
            consumer,
            topic: topic.to_owned(),
        })
    }

    /// Reads what is available; records this run's planted users by dedup string.
    fn drain(
        &self,
        run_id: &str,
        seen: &mut BTreeSet<String>,
        last: &mut Instant,
    ) -> Result<u64, LoadtestError> {
        let prefix = format!("{run_id}-u");
        let mut read = 0;
        while let Some(result) = self.consumer.poll(Duration::from_millis(10)) {
            let message = result.map_err(|source| LoadtestError::Kafka {
                topic: self.topic.clone(),
                source,
            })?;
            read += 1;
            let Ok(alert) =
                serde_json::from_slice::<serde_json::Value>(message.payload().unwrap_or_default())
            else {
                continue;
            };
            if let Some(dedup) = alert["dedupString"].as_str() {
                if dedup.starts_with(&prefix) && seen.insert(dedup.to_owned()) {
                    *last = Instant::now();
                }
            }
        }
        Ok(read)
    }
}
