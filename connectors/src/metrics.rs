//! The metrics every log connector reports (`docs/metrics.md`, "Log connectors"):
//! `corvid_connector_records_total`, `corvid_connector_bytes_total` and
//! `corvid_connector_delivery_failures_total`, labelled by `connector` (`file`, …) and
//! `source` (the source id).
//!
//! They count delivery reports, not sends: a record counts once the broker acknowledged
//! or refused it, so the numbers agree with what reached Kafka. They live in a registry
//! of their own, which the connector's `/metrics` endpoint serves beside the default
//! registry's process metrics; two connectors in one process (a test) never collide.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::producer::DeliveryCounters;

/// The connector counters and the registry that holds them.
#[derive(Clone)]
pub struct ConnectorMetrics {
    registry: Registry,
    records: IntCounterVec,
    bytes: IntCounterVec,
    failures: IntCounterVec,
}

const LABELS: &[&str] = &["connector", "source"];

impl ConnectorMetrics {
    pub fn new() -> ConnectorMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| counter_vec(&registry, name, help, LABELS);
        ConnectorMetrics {
            records: counter(
                "corvid_connector_records_total",
                "Records produced and acknowledged by Kafka",
            ),
            bytes: counter(
                "corvid_connector_bytes_total",
                "Payload bytes of the records Kafka acknowledged",
            ),
            failures: counter(
                "corvid_connector_delivery_failures_total",
                "Records Kafka refused",
            ),
            registry,
        }
    }

    /// The counters of one source; the series exist (at 0) from this call on, so a
    /// scrape before the first acknowledgement already names the source.
    pub fn source(&self, connector: &str, source: &str) -> DeliveryCounters {
        let labels = [connector, source];
        DeliveryCounters {
            records: self.records.with_label_values(&labels),
            bytes: Some(self.bytes.with_label_values(&labels)),
            failures: self.failures.with_label_values(&labels),
        }
    }

    /// The registry holding these counters, for a connector that serves metrics of its
    /// own beside them (`corvid_telemetry::serve` with both registries).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Serves `/metrics` on `listen` (`host:port`) as `component` until the server is
    /// dropped.
    pub fn serve(
        &self,
        listen: &str,
        component: &str,
    ) -> Result<corvid_telemetry::MetricsServer, corvid_telemetry::TelemetryError> {
        corvid_telemetry::serve(listen, component, vec![self.registry.clone()])
    }
}

/// A counter family registered in `registry`. The definitions are static and each
/// component registers its names once in a registry of its own, so failing here is a
/// programming error, not an input one.
pub fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let counter =
        IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry
        .register(Box::new(counter.clone()))
        .expect("each name registered once in a fresh registry");
    counter
}

/// A gauge family registered in `registry`, as [`counter_vec`].
pub fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let gauge = IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry
        .register(Box::new(gauge.clone()))
        .expect("each name registered once in a fresh registry");
    gauge
}

impl Default for ConnectorMetrics {
    fn default() -> Self {
        ConnectorMetrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_has_its_series_before_any_delivery() {
        let metrics = ConnectorMetrics::new();
        let counters = metrics.source("file", "web-1");
        counters.records.inc_by(3);
        let families = metrics.registry.gather();
        let names: Vec<&str> = families.iter().map(|family| family.name()).collect();
        assert_eq!(
            names,
            [
                "corvid_connector_bytes_total",
                "corvid_connector_delivery_failures_total",
                "corvid_connector_records_total"
            ]
        );
        let records = &families[2].get_metric()[0];
        assert_eq!(records.get_counter().value(), 3.0);
        let labels: Vec<(&str, &str)> = records
            .get_label()
            .iter()
            .map(|label| (label.name(), label.value()))
            .collect();
        assert_eq!(labels, [("connector", "file"), ("source", "web-1")]);
    }
}
