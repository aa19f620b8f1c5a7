//! The YAML file of `corvid connect syslog` (documented in `docs/config.md`, "`corvid
//! connect syslog`").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ingest::config::ConnectorConfigError;
use crate::ingest::config::{check_unique_ids, load_checked, parse_yaml, KafkaTarget, SourceSpec};

/// Smallest message limit: RFC 5426 makes every receiver accept 480 octets.
const MIN_MESSAGE_BYTES: usize = 480;
/// Largest message limit: below librdkafka's default `message.max.bytes` (1,000,000)
/// with room for the key and headers, so a message within the limit is never refused.
const MAX_MESSAGE_BYTES: usize = 512 << 10;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    #[serde(default)]
    pub kafka: KafkaTarget,
    #[serde(default)]
    pub metrics: corvid_telemetry::MetricsConfig,
    pub sources: Vec<SyslogSource>,
    pub listeners: Vec<ListenerConfig>,
    /// Records queued to Kafka but not yet acknowledged, per listener: readers wait
    /// (TCP) when this many are outstanding.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
}

/// A source as in every connector, with syslog's log types as the default.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SyslogSource {
    pub id: String,
    #[serde(default)]
    pub label: String,
    #[serde(default = "default_log_types")]
    pub log_types: Vec<String>,
}

impl SyslogSource {
    pub fn spec(&self) -> SourceSpec {
        SourceSpec {
            id: self.id.clone(),
            label: self.label.clone(),
            log_types: self.log_types.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    pub transport: Transport,
    /// `ip:port`.
    pub listen: String,
    /// The id of the source this listener's messages belong to; may be left out when
    /// there is exactly one source.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// TCP and TLS: open connections at most; more are accepted and closed at once.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// UDP: the socket receive buffer asked of the kernel (capped by `net.core.rmem_max`).
    #[serde(default)]
    pub receive_buffer_bytes: Option<usize>,
    /// TLS: the server certificate and key.
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM certificate chain, server certificate first.
    pub cert: PathBuf,
    /// PEM private key in PKCS#8 (`-----BEGIN PRIVATE KEY-----`).
    pub key: PathBuf,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
pub const DEFAULT_RECEIVE_BUFFER_BYTES: usize = 8 << 20;

fn default_max_in_flight() -> usize {
    65_536
}

fn default_log_types() -> Vec<String> {
    vec!["Syslog.RFC5424".into(), "Syslog.RFC3164".into()]
}

fn default_max_message_bytes() -> usize {
    65_536
}

/// One listener with everything resolved: its address, source and limits.
#[derive(Clone, Debug)]
pub struct Listener {
    pub transport: Transport,
    pub listen: SocketAddr,
    pub source: SourceSpec,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub receive_buffer_bytes: usize,
    pub tls: Option<TlsFiles>,
}

impl SyslogConfig {
    pub fn load(path: &Path) -> Result<SyslogConfig, ConnectorConfigError> {
        load_checked(path, |config: &mut SyslogConfig| config.validate())
    }

    /// [`SyslogConfig::load`] on text (tests).
    pub fn parse(text: &str) -> Result<SyslogConfig, String> {
        let config: SyslogConfig = parse_yaml(text)?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.kafka.validate("kafka")?;
        if self.sources.is_empty() {
            return Err("sources: must name at least one source".into());
        }
        for (index, source) in self.sources.iter().enumerate() {
            source.spec().validate(&format!("sources[{index}]"))?;
        }
        check_unique_ids(self.sources.iter().map(|s| s.id.as_str()), "sources")?;
        if self.listeners.is_empty() {
            return Err("listeners: must name at least one listener".into());
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight: must be at least 1".into());
        }
        self.listeners().map(|_| ())
    }

    /// The listeners, resolved; the error names the key path.
    pub fn listeners(&self) -> Result<Vec<Listener>, String> {
        let mut resolved: Vec<Listener> = Vec::new();
        for (index, listener) in self.listeners.iter().enumerate() {
            let at = format!("listeners[{index}]");
            let listen: SocketAddr = listener.listen.parse().map_err(|_| {
                format!(
                    "{at}.listen: {:?} is not an ip:port address",
                    listener.listen
                )
            })?;
            // A UDP and a TCP listener may share a port; two of one protocol may not
            // (port 0, "any free port", is never shared).
            let stream = |t: Transport| t != Transport::Udp;
            if let Some(other) = resolved.iter().position(|other| {
                listen.port() != 0
                    && other.listen == listen
                    && stream(other.transport) == stream(listener.transport)
            }) {
                return Err(format!(
                    "{at}.listen: {listen} is already used by listeners[{other}]"
                ));
            }
            let source = match &listener.source {
                Some(id) => self
                    .sources
                    .iter()
                    .find(|source| &source.id == id)
                    .ok_or_else(|| format!("{at}.source: no source has the id {id:?}"))?,
                None if self.sources.len() == 1 => &self.sources[0],
                None => {
                    return Err(format!(
                        "{at}.source: must name one of the sources (there are several)"
                    ))
                }
            };
            if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&listener.max_message_bytes) {
                return Err(format!(
                    "{at}.max_message_bytes: must be between {MIN_MESSAGE_BYTES} and {MAX_MESSAGE_BYTES}"
                ));
            }
            let is_udp = listener.transport == Transport::Udp;
            if is_udp && listener.max_connections.is_some() {
                return Err(format!(
                    "{at}.max_connections: only TCP and TLS listeners have connections"
                ));
            }
            if listener.max_connections == Some(0) {
                return Err(format!("{at}.max_connections: must be at least 1"));
            }
            if !is_udp && listener.receive_buffer_bytes.is_some() {
                return Err(format!(
                    "{at}.receive_buffer_bytes: only UDP listeners have one"
                ));
            }
            match (listener.transport, &listener.tls) {
                (Transport::Tls, None) => {
                    return Err(format!("{at}.tls: a TLS listener needs cert and key"))
                }
                (Transport::Tls, Some(tls)) => {
                    for (key, path) in [("cert", &tls.cert), ("key", &tls.key)] {
                        if path.as_os_str().is_empty() {
                            return Err(format!("{at}.tls.{key}: must not be empty"));
                        }
                    }
                }
                (_, Some(_)) => {
                    return Err(format!("{at}.tls: only for transport: tls"));
                }
                (_, None) => {}
            }
            resolved.push(Listener {
                transport: listener.transport,
                listen,
                source: source.spec(),
                max_message_bytes: listener.max_message_bytes,
                max_connections: listener.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
                receive_buffer_bytes: listener
                    .receive_buffer_bytes
                    .unwrap_or(DEFAULT_RECEIVE_BUFFER_BYTES),
                tls: listener.tls.clone(),
            });
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        SyslogConfig::parse(text).unwrap_err()
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let config = SyslogConfig::parse(
            "sources: [{id: net}]\nlisteners: [{transport: udp, listen: '0.0.0.0:5514'}]",
        )
        .unwrap();
        let listeners = config.listeners().unwrap();
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners[0].source.id, "net");
        assert_eq!(
            listeners[0].source.log_types,
            ["Syslog.RFC5424", "Syslog.RFC3164"]
        );
        assert_eq!(listeners[0].max_message_bytes, 65_536);
        assert_eq!(
            listeners[0].receive_buffer_bytes,
            DEFAULT_RECEIVE_BUFFER_BYTES
        );
        assert_eq!(config.kafka, KafkaTarget::default());
    }

    #[test]
    fn bad_values_are_named_by_their_key_path() {
        let sources = "sources: [{id: a}, {id: b}]\n";
        assert_eq!(
            error(&format!(
                "{sources}listeners: [{{transport: tcp, listen: 'x:1', source: a}}]"
            )),
            "listeners[0].listen: \"x:1\" is not an ip:port address"
        );
        assert_eq!(
            error(&format!(
                "{sources}listeners: [{{transport: tcp, listen: '0.0.0.0:1'}}]"
            )),
            "listeners[0].source: must name one of the sources (there are several)"
        );
        assert_eq!(
            error(&format!(
                "{sources}listeners: [{{transport: udp, listen: '0.0.0.0:1', source: c}}]"
            )),
            "listeners[0].source: no source has the id \"c\""
        );
        assert_eq!(
            error(&format!(
                "{sources}listeners: [{{transport: tls, listen: '0.0.0.0:1', source: a}}]"
            )),
            "listeners[0].tls: a TLS listener needs cert and key"
        );
        assert_eq!(
            error(&format!(
                "{sources}listeners: [{{transport: tcp, listen: '0.0.0.0:1', source: a, max_message_bytes: 100}}]"
            )),
            "listeners[0].max_message_bytes: must be between 480 and 524288"
        );
        assert_eq!(
            error(&format!(
                "{sources}listeners: [{{transport: udp, listen: '0.0.0.0:1', source: a, max_connections: 5}}]"
            )),
            "listeners[0].max_connections: only TCP and TLS listeners have connections"
        );
        assert_eq!(
            error(&format!(
                "{sources}listeners: [{{transport: tcp, listen: '0.0.0.0:1', source: a}}, {{transport: tls, listen: '0.0.0.0:1', source: b, tls: {{cert: c, key: k}}}}]"
            )),
            "listeners[1].listen: 0.0.0.0:1 is already used by listeners[0]"
        );
        assert_eq!(
            error("sources: [{id: a, log_types: []}]\nlisteners: []"),
            "sources[0].log_types: must name at least one log type"
        );
        assert_eq!(
            error("sources: [{id: a}]\nlisteners: []"),
            "listeners: must name at least one listener"
        );
        assert!(
            error("sources: [{id: a}]\nlisteners: [{transport: sctp, listen: x}]").contains("sctp")
        );
    }

    #[test]
    fn udp_and_tcp_may_share_a_port() {
        let config = SyslogConfig::parse(
            "sources: [{id: a}]\nlisteners: [{transport: udp, listen: '0.0.0.0:5514'}, {transport: tcp, listen: '0.0.0.0:5514'}]",
        )
        .unwrap();
        assert_eq!(config.listeners().unwrap().len(), 2);
    }
}
