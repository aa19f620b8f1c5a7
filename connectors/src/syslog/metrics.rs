//! The syslog connector's own metrics (`docs/metrics.md`, "Syslog connector"), beside
//! the delivery counters every connector has; labelled by `transport` (`udp`, `tcp`,
//! `tls`) and `source`.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry};

use super::config::Transport;
use crate::metrics::{counter_vec, gauge_vec};

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
        let counter = |name: &str, help: &str| counter_vec(&registry, name, help, LABELS);
        let open_connections = gauge_vec(
            &registry,
            "corvid_syslog_open_connections",
            "TCP and TLS connections open now",
            LABELS,
        );
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

    /// The series of one listener; they exist (at 0) from this call on. Only the series
    /// that apply to the transport are exported (no connection counts for UDP, no drop
    /// counts for TCP); the others count into unregistered counters.
    pub fn listener(&self, transport: Transport, source: &str) -> ListenerMetrics {
        let labels = [transport.name(), source];
        let udp = transport == Transport::Udp;
        let counter = |vec: &IntCounterVec, applies: bool| {
            if applies {
                vec.with_label_values(&labels)
            } else {
                IntCounter::new("unexported", "a series that does not apply")
                    .expect("static metric definition")
            }
        };
        ListenerMetrics {
            messages: counter(&self.messages, true),
            connections: counter(&self.connections, !udp),
            open_connections: if udp {
                IntGauge::new("unexported", "a series that does not apply")
                    .expect("static metric definition")
            } else {
                self.open_connections.with_label_values(&labels)
            },
            rejected: counter(&self.rejected, !udp),
            framing_errors: counter(&self.framing_errors, !udp),
            truncated: counter(&self.truncated, true),
            dropped: counter(&self.dropped, udp),
            kernel_drops: counter(&self.kernel_drops, udp),
            handshake_failures: counter(&self.handshake_failures, transport == Transport::Tls),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn series(metrics: &SyslogMetrics) -> Vec<String> {
        let mut names = Vec::new();
        for family in metrics.registry().gather() {
            for metric in family.get_metric() {
                let transport = metric
                    .get_label()
                    .iter()
                    .find(|label| label.name() == "transport")
                    .map(|label| label.value().to_owned())
                    .unwrap_or_default();
                names.push(format!("{} {transport}", family.name()));
            }
        }
        names.sort();
        names
    }

    #[test]
    fn each_transport_exports_the_series_that_apply_to_it() {
        let metrics = SyslogMetrics::new();
        metrics.listener(Transport::Udp, "net").connections.inc();
        metrics.listener(Transport::Tls, "net");
        assert_eq!(
            series(&metrics),
            [
                "corvid_syslog_connections_rejected_total tls",
                "corvid_syslog_connections_total tls",
                "corvid_syslog_dropped_total udp",
                "corvid_syslog_framing_errors_total tls",
                "corvid_syslog_kernel_drops_total udp",
                "corvid_syslog_messages_total tls",
                "corvid_syslog_messages_total udp",
                "corvid_syslog_open_connections tls",
                "corvid_syslog_tls_handshake_failures_total tls",
                "corvid_syslog_truncated_total tls",
                "corvid_syslog_truncated_total udp",
            ]
        );
    }
}
