//! The syslog connector's own metrics (`docs/metrics.md`, "Syslog connector"), beside
//! the delivery counters every connector has; labelled by `transport` (`udp`, `tcp`,
//! `tls`) and `source`.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct SyslogMetrics {
    registry: Registry,
    messages: IntCounterVec,
    connections: IntCounterVec,
    open_connections: IntGaugeVec,
    rejected: IntCounterVec,
    framing_errors: IntCounterVec,
    truncated: IntCounterVec,
    dropped: IntCounterVec,
    kernel_drops: IntCounterVec,
    handshake_failures: IntCounterVec,
}

const LABELS: &[&str] = &["transport", "source"];

impl SyslogMetrics {
    pub fn new() -> SyslogMetrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let counter = IntCounterVec::new(Opts::new(name, help), LABELS)
                .expect("static metric definition");
            registry
                .register(Box::new(counter.clone()))
                .expect("each name registered once in a fresh registry");
            counter
        };
        let open_connections = IntGaugeVec::new(
            Opts::new(
                "corvid_syslog_open_connections",
                "TCP and TLS connections open now",
            ),
            LABELS,
        )
        .expect("static metric definition");
        registry
            .register(Box::new(open_connections.clone()))
            .expect("registered once");
        SyslogMetrics {
            messages: counter(
                "corvid_syslog_messages_total",
                "Syslog messages received (framing stripped), before delivery",
            ),
            connections: counter(
                "corvid_syslog_connections_total",
                "TCP and TLS connections accepted",
            ),
            rejected: counter(
                "corvid_syslog_connections_rejected_total",
                "Connections closed at once because max_connections were open",
            ),
            framing_errors: counter(
                "corvid_syslog_framing_errors_total",
                "Frames with a bad octet-count prefix (read as lines) or cut off by the peer",
            ),
            truncated: counter(
                "corvid_syslog_truncated_total",
                "Messages longer than max_message_bytes, delivered cut to that size",
            ),
            dropped: counter(
                "corvid_syslog_dropped_total",
                "UDP datagrams dropped because the Kafka producer queue was full",
            ),
            kernel_drops: counter(
                "corvid_syslog_kernel_drops_total",
                "UDP datagrams the kernel dropped because the socket receive buffer was full",
            ),
            handshake_failures: counter(
                "corvid_syslog_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out",
            ),
            open_connections,
            registry,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The series of one listener; they exist (at 0) from this call on.
    pub fn listener(&self, transport: &str, source: &str) -> ListenerMetrics {
        let labels = [transport, source];
        ListenerMetrics {
            messages: self.messages.with_label_values(&labels),
            connections: self.connections.with_label_values(&labels),
            open_connections: self.open_connections.with_label_values(&labels),
            rejected: self.rejected.with_label_values(&labels),
            framing_errors: self.framing_errors.with_label_values(&labels),
            truncated: self.truncated.with_label_values(&labels),
            dropped: self.dropped.with_label_values(&labels),
            kernel_drops: self.kernel_drops.with_label_values(&labels),
            handshake_failures: self.handshake_failures.with_label_values(&labels),
        }
    }
}

impl Default for SyslogMetrics {
    fn default() -> Self {
        SyslogMetrics::new()
    }
}

#[derive(Clone)]
pub struct ListenerMetrics {
    pub messages: IntCounter,
    pub connections: IntCounter,
    pub open_connections: IntGauge,
    pub rejected: IntCounter,
    pub framing_errors: IntCounter,
    pub truncated: IntCounter,
    pub dropped: IntCounter,
    pub kernel_drops: IntCounter,
    pub handshake_failures: IntCounter,
}
