//! osquery's TLS enroll and logger protocol
//! (<https://osquery.readthedocs.io/en/stable/deployment/remote/>):
//!
//! * `POST /osquery/enroll` `{"enroll_secret", "host_identifier", "host_details"?}` →
//!   `{"node_key": …}`, or `{"node_invalid": true}` for a wrong secret;
//! * `POST /osquery/log` `{"node_key", "log_type": "result"|"status", "data": [ … ]}`
//!   (gzip when osqueryd runs with `--logger_tls_compress`) → `{}` once Kafka
//!   acknowledged every element of `data`, each one Kafka record keyed by the host;
//!   `{"node_invalid": true}` for an unknown node key, after which osqueryd enrolls again.
//!
//! Node keys are stateless: `base64url(host_identifier) "." hex(HMAC-SHA256(
//! osquery.node_key_secret, host_identifier))`. Any replica with the same secret
//! accepts them, they survive restarts, and changing the secret makes every node enroll
//! again. Both "invalid" answers are 200, as osquery's own test server answers them:
//! osqueryd reads `node_invalid` from the body.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;

use crate::alerts::secret::Secret;

/// Longest host identifier accepted (osquery's are hostnames, UUIDs or instance ids).
const MAX_HOST_IDENTIFIER: usize = 255;

#[derive(Deserialize)]
pub struct EnrollRequest {
    #[serde(default)]
    pub enroll_secret: String,
    #[serde(default)]
    pub host_identifier: String,
}

#[derive(Deserialize)]
pub struct LogRequest<'a> {
    #[serde(default)]
    pub node_key: String,
    #[serde(default)]
    pub log_type: String,
    #[serde(default, borrow)]
    pub data: Vec<&'a RawValue>,
}

/// Issues and checks node keys.
pub struct NodeKeys {
    secret: Secret,
}

impl NodeKeys {
    pub fn new(secret: Secret) -> NodeKeys {
        NodeKeys { secret }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(self.secret.expose().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }

    /// The node key of `host_identifier`, or `None` for an unusable identifier.
    pub fn issue(&self, host_identifier: &str) -> Option<String> {
        if host_identifier.is_empty() || host_identifier.len() > MAX_HOST_IDENTIFIER {
            return None;
        }
        let mut mac = self.mac();
        mac.update(host_identifier.as_bytes());
        let tag = hex::encode(mac.finalize().into_bytes());
        Some(format!("{}.{tag}", URL_SAFE_NO_PAD.encode(host_identifier)))
    }

    /// The host identifier a valid node key was issued to.
    pub fn verify(&self, node_key: &str) -> Option<String> {
        let (encoded, tag) = node_key.rsplit_once('.')?;
        let host = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
        if host.is_empty() || host.len() > MAX_HOST_IDENTIFIER {
            return None;
        }
        let tag = hex::decode(tag).ok()?;
        let mut mac = self.mac();
        mac.update(host.as_bytes());
        mac.verify_slice(&tag).ok()?;
        Some(host)
    }
}

/// Whether `offered` equals one of `secrets`, in time that does not depend on where
/// they differ.
pub fn matches_any(offered: &str, secrets: &[Secret]) -> bool {
    secrets.iter().fold(false, |found, secret| {
        found | constant_time_eq(offered, secret.expose())
    })
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The bytes of one `data` element as a record: a JSON object as sent; a JSON string
/// (a line osqueryd could not parse as JSON) as its text.
pub fn record_bytes(element: &RawValue) -> Vec<u8> {
    let text = element.get();
    if text.starts_with('"') {
        if let Ok(inner) = serde_json::from_str::<String>(text) {
            return inner.into_bytes();
        }
    }
    text.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secret: &str) -> NodeKeys {
        NodeKeys::new(Secret::new(secret.into()))
    }

    #[test]
    fn a_node_key_names_its_host_and_needs_the_secret() {
        let key = keys("0123456789abcdef")
            .issue("host-1.example.com")
            .unwrap();
        assert_eq!(
            keys("0123456789abcdef").verify(&key).as_deref(),
            Some("host-1.example.com")
        );
        assert_eq!(keys("another secret value").verify(&key), None);
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode("other"),
            &key[key.len() - 64..]
        );
        assert_eq!(keys("0123456789abcdef").verify(&forged), None);
        assert_eq!(keys("0123456789abcdef").verify("garbage"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        let secrets = [
            Secret::new("new".to_string()),
            Secret::new("old".to_string()),
        ];
        assert!(matches_any("old", &secrets));
        assert!(!matches_any("ol", &secrets));
        assert!(!matches_any("", &secrets));
    }

    #[test]
    fn data_elements_keep_their_bytes() {
        let request: LogRequest = serde_json::from_str(
            r#"{"node_key":"k","log_type":"result","data":[{"b":1,"a":2}, "plain line"]}"#,
        )
        .unwrap();
        assert_eq!(record_bytes(request.data[0]), br#"{"b":1,"a":2}"#);
        assert_eq!(record_bytes(request.data[1]), b"plain line");
    }
}
