//! The S3 connector's own metrics (`docs/metrics.md`, "S3 connector"), beside the
//! shared `corvid_connector_*` delivery counters. They live in the default registry,
//! which every `/metrics` endpoint serves; one connector runs per process.

use std::sync::OnceLock;

use prometheus::{IntCounterVec, Opts};

pub struct S3Metrics {
    pub objects_completed: IntCounterVec,
    pub objects_failed: IntCounterVec,
    pub bytes_read: IntCounterVec,
    pub records_oversized: IntCounterVec,
}

/// Why an object did not complete (`reason` label).
pub const CORRUPT: &str = "corrupt";
pub const READ: &str = "read";
pub const DELIVERY: &str = "delivery";

pub fn s3_metrics() -> &'static S3Metrics {
    static METRICS: OnceLock<S3Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let counter = IntCounterVec::new(Opts::new(name, help), labels)
                .expect("static metric definition");
            // Fails only if another component registered the name: then the series are
            // still counted, just not served.
            let _ = prometheus::register(Box::new(counter.clone()));
            counter
        };
        S3Metrics {
            objects_completed: counter(
                "corvid_s3_objects_completed_total",
                "Objects whose records and cursor entry Kafka acknowledged",
                &["source"],
            ),
            objects_failed: counter(
                "corvid_s3_objects_failed_total",
                "Objects that did not complete, by reason (corrupt, read, delivery)",
                &["source", "reason"],
            ),
            bytes_read: counter(
                "corvid_s3_bytes_read_total",
                "Object bytes read from the store (compressed, as stored)",
                &["source"],
            ),
            records_oversized: counter(
                "corvid_s3_records_oversized_total",
                "Records longer than max_record_bytes, skipped",
                &["source"],
            ),
        }
    })
}
