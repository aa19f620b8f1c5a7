//! File tailing's own metrics (`docs/metrics.md`, "File tailing"), beside the delivery
//! counters every connector has; labelled by `source`.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

use crate::metrics::{counter_vec, gauge_vec, ConnectorMetrics};

#[derive(Clone)]
pub struct TailMetrics {
    registry: Registry,
    connector: ConnectorMetrics,
    watched: IntGaugeVec,
    rotations: IntCounterVec,
    truncations: IntCounterVec,
    split: IntCounterVec,
}

/// The series of one source.
#[derive(Clone, Debug)]
pub struct SourceTailMetrics {
    pub watched: IntGauge,
    pub rotations: IntCounter,
    pub truncations: IntCounter,
    pub split: IntCounter,
}

const LABELS: &[&str] = &["source"];

impl TailMetrics {
    pub fn new(connector: ConnectorMetrics) -> TailMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| counter_vec(&registry, name, help, LABELS);
        let watched = gauge_vec(
            &registry,
            "corvid_file_tail_files_watched",
            "Files being tailed now (rotated files still draining included)",
            LABELS,
        );
        TailMetrics {
            rotations: counter(
                "corvid_file_tail_rotations_total",
                "Files that moved away from their path (renamed or deleted)",
            ),
            truncations: counter(
                "corvid_file_tail_truncations_total",
                "Files that were truncated or replaced in place; read again from offset 0",
            ),
            split: counter(
                "corvid_file_tail_lines_split_total",
                "Cuts made in lines longer than max_line_bytes (each cut adds one record)",
            ),
            watched,
            registry,
            connector,
        }
    }

    /// The delivery counters (`corvid_connector_*`).
    pub fn connector(&self) -> &ConnectorMetrics {
        &self.connector
    }

    pub fn source(&self, source: &str) -> SourceTailMetrics {
        SourceTailMetrics {
            watched: self.watched.with_label_values(&[source]),
            rotations: self.rotations.with_label_values(&[source]),
            truncations: self.truncations.with_label_values(&[source]),
            split: self.split.with_label_values(&[source]),
        }
    }

    /// Serves both registries on `listen` as `connect-file` until the server is dropped.
    pub fn serve(
        &self,
        listen: &str,
    ) -> Result<corvid_telemetry::MetricsServer, corvid_telemetry::TelemetryError> {
        corvid_telemetry::serve(
            listen,
            crate::file::COMPONENT,
            vec![self.connector.registry().clone(), self.registry.clone()],
        )
    }
}
