//! The forwarder's loop: consume an alert, deliver it everywhere it routes, then commit.
//!
//! ```text
//!  alerts topic ─▶ poll ─▶ decode ─▶ route ─▶ for each destination:   ─▶ commit offset
//!  (read_committed,          │                 deliver with retries
//!   consumer group)          │                 └─ failed ─▶ dead-letter topic (acked)
//!                            └─ not an alert ─────────────▶ dead-letter topic (acked)
//! ```
//!
//! **At least once.** A record's offset is committed only after the alert was delivered
//! to every destination it routes to or dead-lettered for it, and a dead letter counts
//! only once the broker acknowledged it. A crash or a shutdown mid-record therefore
//! replays that record at the next start, and destinations that already had it get it
//! again: PagerDuty (`dedup_key`) and Opsgenie (`alias`) fold the repeat into the same
//! alert; the other vendors show it twice. Records are handled one at a time, in order,
//! so one committed offset covers everything before it.
//!
//! **Group membership.** The forwarder subscribes with a consumer group, so several
//! forwarders share the partitions. A delivery with every retry can outlast librdkafka's
//! default `max.poll.interval.ms` (5 minutes), which would expel the forwarder from the
//! group mid-record; the interval is raised to cover the worst case unless the config
//! sets it.
//!
//! **Reading only committed alerts.** `isolation.level=read_committed`: the engine
//! writes alerts in transactions, and an aborted epoch's alerts are never forwarded.
//!
//! **Lag.** librdkafka reports statistics every [`STATISTICS_INTERVAL`] (unless the
//! config sets `statistics.interval.ms`), served by `poll`; the consumer lag of each
//! assigned partition becomes `corvid_kafka_consumer_lag`. While one record's delivery
//! retries, nothing polls, so the gauge holds its value until the record is done.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::alert::Alert;
use super::config::ForwarderConfig;
use super::dead_letter::{
    DeadLetter, DeadLetterError, DeadLetterReason, DeadLetterSink, SourcePosition,
};
use super::decode::AlertDecoder;
use super::delivery::{ClientError, Delivery, FailureReason, Sender};
use super::metrics::forwarder_metrics;
use crate::lag::statistics::consumer_lags;
use crate::topics::{ensure_topics, TopicError};

/// How the forwarder stops on its own.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Exit once every assigned partition is read to its end and no record has come
    /// for this long (for tests and batch runs); `None` runs until shutdown.
    pub max_idle: Option<Duration>,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwarderStats {
    /// Records read from the alerts topic.
    pub records: u64,
    /// Deliveries a destination accepted (an alert to two destinations counts twice).
    pub delivered: u64,
    /// Dead letters written.
    pub dead_lettered: u64,
    /// Alerts that routed to no destination.
    pub unrouted: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("Kafka consumer for {topic}: {source}")]
    Kafka { topic: String, source: KafkaError },
    #[error(transparent)]
    Topic(#[from] TopicError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
}

const POLL: Duration = Duration::from_millis(200);
/// How often librdkafka reports statistics, and so how fresh the lag gauge is.
pub const STATISTICS_INTERVAL: Duration = Duration::from_secs(5);
/// librdkafka's default `max.poll.interval.ms`, and its ceiling.
const POLL_INTERVAL_MIN: Duration = Duration::from_secs(300);
const POLL_INTERVAL_MAX: Duration = Duration::from_secs(86_400);

/// Runs until shutdown, an error, or (with `max_idle`) being caught up and idle.
pub fn run(
    config: &ForwarderConfig,
    options: &RunOptions,
    shutdown: &AtomicBool,
) -> Result<ForwarderStats, ForwardError> {
    // The alerts topic is the engine's to create, with its settings; the dead-letter
    // topic is ours.
    ensure_topics(
        &client_config(config),
        &[(&config.dead_letter_topic, config.partitions)],
    )?;
    let forwarder = Forwarder {
        config,
        sender: Sender::new(config.retry)?,
        dead_letters: DeadLetterSink::new(&config.kafka, &config.dead_letter_topic)?,
        decoder: AlertDecoder::new(config.schema_registry_url.as_deref()),
    };
    let consumer = consumer(config)?;
    let ids: Vec<&str> = config.destinations.iter().map(|d| d.id.as_str()).collect();
    tracing::info!(
        topic = %config.topic, group = %config.group_id,
        dead_letters = %config.dead_letter_topic, destinations = ?ids,
        "forwarding alerts"
    );
    let mut progress = Progress::new(&config.topic);
    let mut stats = ForwarderStats::default();
    loop {
        if shutdown.load(Ordering::Acquire) {
            tracing::info!("shutdown asked for; stopping");
            break;
        }
        if let Some(max_idle) = options.max_idle {
            if progress.idle_and_caught_up(&consumer, max_idle) {
                tracing::info!(
                    idle_secs = max_idle.as_secs_f64(),
                    "caught up and idle; stopping"
                );
                break;
            }
        }
        let polled = consumer.poll(POLL);
        // Rebalance callbacks run inside poll, before it returns the event, so the event
        // belongs to the assignment seen now.
        progress.observe_rebalances(&consumer);
        match polled {
            None => {}
            Some(Err(KafkaError::PartitionEOF(partition))) => progress.at_end(partition),
            Some(Err(error)) => {
                // librdkafka recovers from broker and network errors by itself.
                tracing::warn!(%error, topic = %config.topic, "Kafka consumer error");
            }
            Some(Ok(message)) => {
                progress.record(message.partition());
                let forwarded = forwarder.forward(&message, shutdown, &mut stats)?;
                // Idle time counts from the end of the work, not its start.
                progress.record(message.partition());
                match forwarded {
                    Forwarded::Done => commit(&consumer, &message),
                    Forwarded::Interrupted => {
                        tracing::info!(
                            partition = message.partition(), offset = message.offset(),
                            "shutdown mid-delivery; the record will be forwarded again at the next start"
                        );
                        break;
                    }
                }
            }
        }
    }
    tracing::info!(
        records = stats.records,
        delivered = stats.delivered,
        dead_lettered = stats.dead_lettered,
        unrouted = stats.unrouted,
        "forwarder stopped"
    );
    Ok(stats)
}

fn client_config(config: &ForwarderConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", &config.kafka.brokers);
    for (key, value) in &config.kafka.client {
        client.set(key, value);
    }
    client
}

fn consumer(config: &ForwarderConfig) -> Result<BaseConsumer<ForwarderContext>, ForwardError> {
    let kafka_error = |source| ForwardError::Kafka {
        topic: config.topic.clone(),
        source,
    };
    let mut client = client_config(config);
    client
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", config.kafka.start_offset.as_str());
    if !config.kafka.client.contains_key("max.poll.interval.ms") {
        let per_destination = config.retry.worst_case();
        let needed = per_destination
            .saturating_mul(u32::try_from(config.destinations.len()).unwrap_or(u32::MAX))
            .saturating_add(Duration::from_secs(60));
        let interval = needed.clamp(POLL_INTERVAL_MIN, POLL_INTERVAL_MAX);
        client.set("max.poll.interval.ms", interval.as_millis().to_string());
    }
    if !config.kafka.client.contains_key("statistics.interval.ms") {
        client.set(
            "statistics.interval.ms",
            STATISTICS_INTERVAL.as_millis().to_string(),
        );
    }
    let consumer: BaseConsumer<ForwarderContext> = client
        .create_with_context(ForwarderContext::default())
        .map_err(kafka_error)?;
    consumer.subscribe(&[&config.topic]).map_err(kafka_error)?;
    Ok(consumer)
}

fn commit(consumer: &BaseConsumer<ForwarderContext>, message: &BorrowedMessage<'_>) {
    let mut offsets = TopicPartitionList::new();
    let next = Offset::Offset(message.offset() + 1);
    let committed = offsets
        .add_partition_offset(message.topic(), message.partition(), next)
        .and_then(|()| consumer.commit(&offsets, CommitMode::Sync));
    if let Err(error) = committed {
        // The record was handled; not committing only means it may be forwarded again.
        tracing::warn!(
            %error, partition = message.partition(), offset = message.offset(),
            "offset commit failed; the alert may be forwarded again after a restart"
        );
    }
}

enum Forwarded {
    /// Delivered or dead-lettered everywhere: the offset may be committed.
    Done,
    /// Shutdown came first: the offset must not be committed.
    Interrupted,
}

struct Forwarder<'a> {
    config: &'a ForwarderConfig,
    sender: Sender,
    dead_letters: DeadLetterSink,
    decoder: AlertDecoder,
}

impl Forwarder<'_> {
    fn forward(
        &self,
        message: &BorrowedMessage<'_>,
        shutdown: &AtomicBool,
        stats: &mut ForwarderStats,
    ) -> Result<Forwarded, ForwardError> {
        stats.records += 1;
        forwarder_metrics().records.inc();
        let source = SourcePosition {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
        };
        let payload = message.payload().unwrap_or_default();
        let decoded = self
            .decoder
            .decode(payload)
            .map_err(|e| e.to_string())
            .and_then(|json| Alert::from_json(json).map_err(|e| e.to_string()));
        let alert = match decoded {
            Ok(alert) => alert,
            Err(reason) => {
                self.dead_letter_undecodable(message, payload, &reason, source)?;
                stats.dead_lettered += 1;
                return Ok(Forwarded::Done);
            }
        };
        let route = self.config.routing.route(&alert);
        for name in &route.unknown {
            tracing::warn!(
                alert_id = %alert.alert_id, rule_id = %alert.rule_id, destination = %name,
                from = ?route.source, "alert names an unknown destination; skipping it"
            );
        }
        if route.destinations.is_empty() {
            tracing::debug!(alert_id = %alert.alert_id, from = ?route.source, "alert routes to no destination");
            stats.unrouted += 1;
        }
        for &index in &route.destinations {
            let Some(destination) = self.config.destinations.get(index) else {
                continue;
            };
            if !destination.wants(&alert) {
                tracing::debug!(
                    alert_id = %alert.alert_id, destination = %destination.id,
                    event_count = alert.event_count,
                    "an update of the alert; the destination gets the first version only"
                );
                continue;
            }
            let request = destination.request(&alert);
            match self
                .sender
                .deliver(destination, &request, &alert.alert_id, shutdown)
            {
                Delivery::Delivered { .. } => stats.delivered += 1,
                Delivery::Interrupted => return Ok(Forwarded::Interrupted),
                Delivery::Failed(failure) => {
                    let letter = DeadLetter {
                        reason: match failure.reason {
                            FailureReason::Rejected => DeadLetterReason::Rejected,
                            FailureReason::RetriesExhausted => DeadLetterReason::RetriesExhausted,
                        },
                        destination_id: Some(&destination.id),
                        destination_name: Some(&destination.name),
                        destination_type: Some(destination.destination_type().as_str()),
                        status: failure.status,
                        response_body: failure.response_body.as_deref(),
                        error: failure.error.as_deref(),
                        attempts: failure.attempts,
                        alert_id: Some(&alert.alert_id),
                        alert: Some(&alert.json),
                        record_base64: None,
                        source: source.clone(),
                    };
                    self.dead_letters.send(&alert.alert_id, &letter)?;
                    stats.dead_lettered += 1;
                }
            }
        }
        Ok(Forwarded::Done)
    }

    fn dead_letter_undecodable(
        &self,
        message: &BorrowedMessage<'_>,
        payload: &[u8],
        reason: &str,
        source: SourcePosition,
    ) -> Result<(), DeadLetterError> {
        tracing::warn!(
            partition = source.partition, offset = source.offset, %reason,
            "record is not an alert; dead-lettering it"
        );
        let key = message
            .key()
            .map(|key| String::from_utf8_lossy(key).into_owned())
            .unwrap_or_default();
        let letter = DeadLetter {
            reason: DeadLetterReason::Undecodable,
            destination_id: None,
            destination_name: None,
            destination_type: None,
            status: None,
            response_body: None,
            error: Some(reason),
            attempts: 0,
            alert_id: None,
            alert: None,
            record_base64: Some(base64::engine::general_purpose::STANDARD.encode(payload)),
            source,
        };
        self.dead_letters.send(&key, &letter)
    }
}

/// Whether the forwarder has read everything it was assigned.
struct Progress {
    topic: String,
    /// Partitions read to their end since their last record.
    at_end: BTreeSet<i32>,
    /// The rebalance generation `at_end` belongs to.
    generation: u64,
    last_activity: Instant,
}

impl Progress {
    fn new(topic: &str) -> Progress {
        Progress {
            topic: topic.to_owned(),
            at_end: BTreeSet::new(),
            generation: 0,
            last_activity: Instant::now(),
        }
    }

    fn at_end(&mut self, partition: i32) {
        self.at_end.insert(partition);
    }

    fn record(&mut self, partition: i32) {
        self.at_end.remove(&partition);
        self.last_activity = Instant::now();
    }

    fn observe_rebalances(&mut self, consumer: &BaseConsumer<ForwarderContext>) {
        let generation = consumer.context().generation.load(Ordering::Acquire);
        if generation != self.generation {
            // A partition handed back after a rebalance restarts from its committed
            // offset, so an earlier end-of-partition says nothing about it.
            self.generation = generation;
            self.at_end.clear();
            self.last_activity = Instant::now();
        }
    }

    /// Caught up: the group has assigned partitions at least once and every partition
    /// assigned now has been read to its end; idle: nothing new for `idle`.
    fn idle_and_caught_up(
        &self,
        consumer: &BaseConsumer<ForwarderContext>,
        idle: Duration,
    ) -> bool {
        if self.generation == 0 || self.last_activity.elapsed() < idle {
            return false;
        }
        let Ok(assignment) = consumer.assignment() else {
            return false;
        };
        assignment
            .elements_for_topic(&self.topic)
            .iter()
            .all(|element| self.at_end.contains(&element.partition()))
    }
}

/// Logs librdkafka errors and rebalances, counts rebalances, and publishes the
/// consumer lag from librdkafka's statistics.
#[derive(Default)]
struct ForwarderContext {
    generation: AtomicU64,
}

impl ClientContext for ForwarderContext {
    fn stats(&self, statistics: Statistics) {
        forwarder_metrics()
            .consumer_lag
            .publish(&consumer_lags(&statistics));
    }

    fn error(&self, error: KafkaError, reason: &str) {
        use rdkafka::error::RDKafkaErrorCode;
        match error {
            // End-of-partition notices drive `Progress`; they are not errors.
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF) => {}
            error => tracing::error!(%error, reason, "librdkafka error"),
        }
    }
}

impl ConsumerContext for ForwarderContext {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(partitions) => {
                let partitions: Vec<i32> = partitions
                    .elements()
                    .iter()
                    .map(|p| p.partition())
                    .collect();
                tracing::info!(?partitions, "partitions assigned");
            }
            Rebalance::Revoke(partitions) => {
                let partitions: Vec<i32> = partitions
                    .elements()
                    .iter()
                    .map(|p| p.partition())
                    .collect();
                tracing::info!(?partitions, "partitions revoked");
            }
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance failed"),
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}
