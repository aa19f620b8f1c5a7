//! A custom webhook: `POST <url>` with the alert's own JSON as the body.
//!
//! With a signing secret, `X-Corvid-Signature: sha256=<hex>` carries the HMAC-SHA256 of
//! the exact body bytes under that secret, so the receiver can check that the alert
//! came from us and was not altered (GitHub's webhook scheme). The receiver must compute
//! the HMAC over the raw body before parsing it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use url::Url;

use super::{Auth, HttpRequest};
use crate::alerts::alert::Alert;
use crate::alerts::secret::Secret;

pub const SIGNATURE_HEADER: &str = "X-Corvid-Signature";

#[derive(Debug)]
pub struct Webhook {
    pub url: Secret<Url>,
    /// HMAC-SHA256 signing key; no signature header without one.
    pub secret: Option<Secret>,
}

impl Webhook {
    pub fn request(&self, alert: &Alert) -> HttpRequest {
        let mut request = HttpRequest::json(self.url.expose().clone(), Auth::None, &alert.json);
        if let Some(secret) = &self.secret {
            request
                .headers
                .push((SIGNATURE_HEADER, signature(secret, &request.body)));
        }
        request
    }
}

/// `sha256=` and the lowercase hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    // HMAC hashes long keys and pads short ones: no key length is refused.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::destinations::tests::sample_alert;

    #[test]
    fn the_signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        let secret = Secret::new("Jefe".to_owned());
        assert_eq!(
            signature(&secret, b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_body_is_the_alert_json_and_is_signed_only_with_a_secret() {
        let alert = sample_alert();
        let url = Url::parse("https://receiver.example.com/hook").expect("url");
        let unsigned = Webhook {
            url: Secret::new(url.clone()),
            secret: None,
        }
        .request(&alert);
        assert!(unsigned.headers.is_empty());
        let body: serde_json::Value = serde_json::from_slice(&unsigned.body).expect("json");
        assert_eq!(body, alert.json);

        let secret = Secret::new("s3cret".to_owned());
        let signed = Webhook {
            url: Secret::new(url),
            secret: Some(secret.clone()),
        }
        .request(&alert);
        assert_eq!(
            signed.headers,
            vec![(SIGNATURE_HEADER, signature(&secret, &signed.body))]
        );
    }
}
