//! The forwarder's Prometheus metrics, declared in one place and registered in the
//! default registry, which its `/metrics` endpoint ([`serve`], `metrics.listen`) serves.
//! Labels are bounded: destination ids and types come from the config, topics and
//! partitions from the alerts topic.

use std::sync::LazyLock;

use corvid_telemetry::{MetricsServer, TelemetryError};
use prometheus::{
    register_int_counter, register_int_counter_vec, register_int_gauge_vec, IntCounter,
    IntCounterVec,
};

use super::config::ForwarderConfig;
use crate::lag::LagGauge;

/// The `component` of the forwarder's `corvid_build_info`.
pub const COMPONENT: &str = "forwarder";

pub struct DestinationMetrics {
    /// Alerts a destination accepted (a 2xx answer).
    pub deliveries: IntCounterVec,
    /// Attempts that failed in a way worth retrying (5xx, 429, timeout, connection).
    pub retries: IntCounterVec,
    /// Alerts that went to the dead-letter topic instead.
    pub failures: IntCounterVec,
}

const LABELS: &[&str] = &["destination", "type"];

pub struct ForwarderMetrics {
    /// Records read from the alerts topic.
    pub records: IntCounter,
    /// `corvid_kafka_consumer_lag`, from librdkafka statistics. Each report replaces
    /// the gauge's series, which assumes one forwarder per process (as `corvid connect
    /// alerts` runs it).
    pub consumer_lag: LagGauge,
}

static FORWARDER: LazyLock<ForwarderMetrics> = LazyLock::new(|| ForwarderMetrics {
    records: register_int_counter!("corvid_forwarder_records_total", "Alert records consumed")
        .expect("metric registered once"),
    consumer_lag: LagGauge::new(
        register_int_gauge_vec!(
            "corvid_kafka_consumer_lag",
            "Records between the forwarder's position and the partition's high watermark",
            &["topic", "partition"]
        )
        .expect("metric registered once"),
    ),
});

static METRICS: LazyLock<DestinationMetrics> = LazyLock::new(|| DestinationMetrics {
    deliveries: register_int_counter_vec!(
        "corvid_destination_deliveries_total",
        "Alerts delivered to a destination",
        LABELS
    )
    .expect("metric registered once"),
    retries: register_int_counter_vec!(
        "corvid_destination_retries_total",
        "Delivery attempts that failed and were retried",
        LABELS
    )
    .expect("metric registered once"),
    failures: register_int_counter_vec!(
        "corvid_destination_failures_total",
        "Alerts a destination refused or that ran out of retries (dead-lettered)",
        LABELS
    )
    .expect("metric registered once"),
});

pub fn metrics() -> &'static DestinationMetrics {
    &METRICS
}

pub fn forwarder_metrics() -> &'static ForwarderMetrics {
    &FORWARDER
}

/// Serves `/metrics` at the config's `metrics.listen`, if set, until the server is
/// dropped.
pub fn serve(config: &ForwarderConfig) -> Result<Option<MetricsServer>, TelemetryError> {
    // Registered now, so the first scrape shows the records counter at 0.
    forwarder_metrics();
    metrics();
    corvid_telemetry::serve_configured(&config.metrics, COMPONENT, Vec::new())
}
