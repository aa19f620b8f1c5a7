//! The Kafka sink operator shared by the alerts and dead-letter topics.
//!
//! Records are produced as they arrive; when the input frontier passes an epoch that
//! produced records, the operator flushes, so by the time the frontier (and the probe the
//! engine waits on) has moved past an epoch, its records are acknowledged or counted as
//! failed. Exactly-once delivery through Kafka transactions comes with the alerting issue
//! (issue 5); this sink is at-least-once with an idempotent producer.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Probe;
use timely::dataflow::{ProbeHandle, Stream};

use crate::config::KafkaConfig;
use crate::metrics::metrics;
use crate::source::Epoch;
use corvid_connectors::producer::{producer_config, DeliveryCounters, DeliveryTally, TallyContext};
use prometheus::IntCounter;

const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// A record ready for Kafka.
pub struct KafkaRecord {
    pub key: Vec<u8>,
    pub payload: Vec<u8>,
    pub headers: Option<OwnedHeaders>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot create the producer for topic {topic}: {source}")]
pub struct SinkError {
    pub topic: String,
    pub source: KafkaError,
}

/// A connected producer for one topic, made before the dataflow is built.
pub struct TopicProducer {
    topic: String,
    producer: ThreadedProducer<TallyContext>,
    /// Feeds `corvid_sink_records_total` and `corvid_sink_delivery_failures_total` as
    /// delivery reports arrive.
    tally: Arc<DeliveryTally>,
    /// `corvid_sink_delivery_failures_total` of the topic, for records never queued.
    failures: IntCounter,
}

impl TopicProducer {
    pub fn connect(kafka: &KafkaConfig, topic: &str) -> Result<TopicProducer, SinkError> {
        let m = metrics();
        let failures = m.sink_delivery_failures.with_label_values(&[topic]);
        let tally = Arc::new(DeliveryTally::counting(DeliveryCounters {
            records: m.sink_records.with_label_values(&[topic]),
            bytes: None,
            failures: failures.clone(),
        }));
        let mut config = producer_config(&kafka.brokers);
        for (key, value) in &kafka.client {
            config.set(key, value);
        }
        let producer = config
            .create_with_context(TallyContext(Arc::clone(&tally)))
            .map_err(|source| SinkError {
                topic: topic.to_owned(),
                source,
            })?;
        Ok(TopicProducer {
            topic: topic.to_owned(),
            producer,
            tally,
            failures,
        })
    }

    fn send(&self, record: &KafkaRecord) {
        loop {
            let mut base = BaseRecord::to(&self.topic)
                .key(&record.key)
                .payload(&record.payload);
            if let Some(headers) = &record.headers {
                base = base.headers(headers.clone());
            }
            match self.producer.send(base) {
                Ok(()) => return,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(10));
                }
                Err((error, _)) => {
                    tracing::error!(topic = self.topic, %error, "cannot queue a record");
                    self.failures.inc();
                    return;
                }
            }
        }
    }

    fn flush(&self, failed_before: &mut u64) {
        if let Err(error) = self.producer.flush(FLUSH_TIMEOUT) {
            tracing::error!(topic = self.topic, %error, "records not acknowledged in time");
        }
        let failed = self.tally.failed();
        if failed > *failed_before {
            tracing::error!(
                topic = self.topic,
                failed = failed - *failed_before,
                "records refused by the broker"
            );
            *failed_before = failed;
        }
    }
}

/// Produces every record of `stream` to the producer's topic; `probe` observes progress
/// after acknowledgement.
pub fn kafka_sink<'scope, D, F>(
    stream: Stream<'scope, Epoch, Vec<D>>,
    producer: TopicProducer,
    to_record: F,
    probe: &ProbeHandle<Epoch>,
) where
    D: Clone + 'static,
    F: Fn(&D) -> KafkaRecord + 'static,
{
    let name = format!("KafkaSink({})", producer.topic);
    let mut unflushed: Option<Epoch> = None;
    let mut failed_before = 0u64;
    stream
        .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<()>>, _, _, _>(
            Pipeline,
            &name,
            move |_capability, _info| {
                move |(input, frontier), _output| {
                    input.for_each(|cap, data| {
                        for datum in data.iter() {
                            producer.send(&to_record(datum));
                        }
                        if let Some(&epoch) = cap.least() {
                            unflushed = Some(unflushed.map_or(epoch, |e: Epoch| e.max(epoch)));
                        }
                    });
                    if let Some(epoch) = unflushed {
                        if !frontier.frontier().less_equal(&epoch) {
                            producer.flush(&mut failed_before);
                            unflushed = None;
                        }
                    } else {
                        producer.producer.poll(Duration::ZERO);
                    }
                }
            },
        )
        .probe_with(probe);
}
