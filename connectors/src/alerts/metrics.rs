//! The forwarder's Prometheus metrics, declared in one place and registered in the
//! default registry. Labels are bounded: destination ids and types come from the config.

use std::sync::LazyLock;

use prometheus::{register_int_counter_vec, IntCounterVec};

pub struct DestinationMetrics {
    /// Alerts a destination accepted (a 2xx answer).
    pub deliveries: IntCounterVec,
    /// Attempts that failed in a way worth retrying (5xx, 429, timeout, connection).
    pub retries: IntCounterVec,
    /// Alerts that went to the dead-letter topic instead.
    pub failures: IntCounterVec,
}

const LABELS: &[&str] = &["destination", "type"];

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
