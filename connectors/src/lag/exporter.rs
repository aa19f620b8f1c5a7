//! `corvid lag-exporter`: a group's lag on its topics as `corvid_consumer_group_lag`.
//!
//! Every interval the exporter reads the group's committed offsets and the watermarks
//! of every partition of its topics ([`GroupReader`]) and publishes one reading
//! ([`LagGauge`]): a topic that could not be read loses its series until it can be
//! again, rather than showing its last lag as if it were current.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use corvid_telemetry::{MetricsServer, TelemetryError};
use prometheus::{IntGaugeVec, Opts, Registry};

use super::gauge::{LagGauge, LagLabels};
use super::group::{GroupReadError, GroupReader};

/// The `component` of the exporter's `corvid_build_info`.
pub const COMPONENT: &str = "lag-exporter";

/// How long one offset or watermark request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a sleeping exporter looks at the shutdown flag.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(100);

/// What the exporter watches.
#[derive(Clone, Debug)]
pub struct LagExporterConfig {
    pub brokers: String,
    /// The consumer group whose lag is exported (the engine's is `corvid-engine`).
    pub group: String,
    pub topics: Vec<String>,
    /// Extra librdkafka properties (TLS, SASL, …).
    pub client: BTreeMap<String, String>,
    /// Time between the end of one reading and the start of the next.
    pub interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LagExporterError {
    #[error(transparent)]
    Group(#[from] GroupReadError),
    #[error(transparent)]
    Metrics(#[from] TelemetryError),
}

/// A running exporter: its `/metrics` endpoint is up from [`LagExporter::start`] on.
pub struct LagExporter {
    config: LagExporterConfig,
    reader: GroupReader,
    gauge: LagGauge,
    server: MetricsServer,
    /// Topics whose last reading failed, so a persisting failure is logged once.
    failing: BTreeSet<String>,
}

impl LagExporter {
    /// Connects to the brokers and serves `/metrics` on `listen` (`host:port`).
    pub fn start(config: LagExporterConfig, listen: &str) -> Result<LagExporter, LagExporterError> {
        let reader = GroupReader::new(
            &config.brokers,
            &config.group,
            &config.client,
            REQUEST_TIMEOUT,
        )?;
        let registry = Registry::new();
        let gauge = IntGaugeVec::new(
            Opts::new(
                "corvid_consumer_group_lag",
                "High watermark minus the group's committed offset",
            ),
            &["group", "topic", "partition"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(gauge.clone()))
            .expect("one metric in a fresh registry");
        let server = corvid_telemetry::serve(listen, COMPONENT, vec![registry])?;
        Ok(LagExporter {
            config,
            reader,
            gauge: LagGauge::new(gauge),
            server,
            failing: BTreeSet::new(),
        })
    }

    /// Where `/metrics` is served (a port 0 in `listen` picked a free one).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Reads every topic once and publishes the reading.
    pub fn refresh(&mut self) {
        let group = self.reader.group().to_owned();
        let mut reading: BTreeMap<LagLabels, i64> = BTreeMap::new();
        for topic in &self.config.topics {
            match self.reader.topic_lags(topic) {
                Ok(lags) => {
                    if self.failing.remove(topic) {
                        tracing::info!(%group, topic, "reading the topic's lag again");
                    }
                    for lag in lags {
                        let labels = vec![group.clone(), topic.clone(), lag.partition.to_string()];
                        reading.insert(labels, lag.lag);
                    }
                }
                Err(error) => {
                    if self.failing.insert(topic.clone()) {
                        tracing::warn!(
                            %group, topic, %error,
                            "cannot read the topic's lag; its series are dropped until it can"
                        );
                    }
                }
            }
        }
        self.gauge.publish(&reading);
    }

    /// Refreshes every interval until `shutdown` is set.
    pub fn run(mut self, shutdown: &AtomicBool) {
        tracing::info!(
            group = %self.config.group, topics = ?self.config.topics,
            interval_secs = self.config.interval.as_secs_f64(), addr = %self.local_addr(),
            "exporting consumer group lag"
        );
        while !shutdown.load(Ordering::Acquire) {
            self.refresh();
            let next = Instant::now() + self.config.interval;
            while !shutdown.load(Ordering::Acquire) {
                let left = next.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(SHUTDOWN_CHECK));
            }
        }
        tracing::info!("shutdown asked for; stopping");
    }
}
