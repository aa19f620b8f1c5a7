//! Sending one alert to one destination, with retries.
//!
//! ```text
//!  HttpRequest ─▶ POST ─▶ 2xx ───────────────────────────▶ Delivered
//!                  │  ─▶ 5xx, 429, timeout, connection ─▶ wait, try again ─▶ … ─▶ Failed(RetriesExhausted)
//!                  └  ─▶ any other answer ───────────────▶ Failed(Rejected)
//! ```
//!
//! Waits grow exponentially from `initial_backoff` to `max_backoff`; a `Retry-After` in
//! a 429 or 503 answer lengthens the wait up to `max_backoff`. Redirects are not
//! followed: a webhook that redirects is misconfigured, and following it would hand the
//! request to a host nobody configured.
//!
//! **Secrets.** reqwest errors print the request URL, which for a webhook is the
//! credential; every error is stripped of its URL, and every error text and response
//! body is scrubbed of the destination's secrets before it is logged or returned.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};

use super::destinations::{Auth, Destination, HttpRequest};
use super::metrics::metrics;
use super::secret::Redactor;

/// How hard to try one delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Limit on one attempt: connecting, sending and reading the answer.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(1000),
            max_backoff: Duration::from_millis(60_000),
            timeout: Duration::from_millis(10_000),
        }
    }
}

impl RetryPolicy {
    /// The wait after the `failed`-th failed attempt (1-based): `initial · 2^(failed-1)`,
    /// at most `max_backoff`.
    pub fn backoff(&self, failed: u32) -> Duration {
        let doublings = failed.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }

    /// The longest one delivery can take: every attempt timing out, every wait at its
    /// longest.
    pub fn worst_case(&self) -> Duration {
        let waits: Duration = (1..self.attempts).map(|failed| self.backoff(failed)).sum();
        self.timeout.saturating_mul(self.attempts) + waits
    }
}

/// What became of one alert at one destination.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Delivered {
        status: u16,
        attempts: u32,
    },
    Failed(Failure),
    /// Shutdown was asked for mid-delivery; the alert is neither delivered nor failed.
    Interrupted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureReason {
    /// An answer that retrying cannot change (a 4xx other than 429, a redirect).
    Rejected,
    /// Every attempt failed in a way worth retrying.
    RetriesExhausted,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Rejected => "rejected",
            FailureReason::RetriesExhausted => "retries_exhausted",
        }
    }
}

/// A delivery that failed for good; the texts are scrubbed of secrets.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    /// The last HTTP status, if the last attempt got an answer.
    pub status: Option<u16>,
    /// The last answer's body, truncated to [`BODY_MAX`] characters.
    pub response_body: Option<String>,
    /// The last attempt's transport error, if it got no answer.
    pub error: Option<String>,
    pub attempts: u32,
}

/// Response bodies are kept to this many characters: enough for a vendor's error.
pub const BODY_MAX: usize = 4096;
/// Bodies are scrubbed before truncation, so a secret echoed across the cut is still
/// found whole; this much is read for that.
const BODY_READ_MAX: u64 = 64 * 1024;
/// Long waits are slept in slices so shutdown is noticed.
const SLEEP_SLICE: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ClientError(String);

/// What one attempt's outcome calls for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Reject,
}

/// 2xx delivers; 429 and 5xx are worth retrying; everything else is final.
pub fn verdict(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        429 | 500..=599 => Verdict::Retry,
        _ => Verdict::Reject,
    }
}

/// Sends requests with one HTTP client (its connections are reused across alerts).
pub struct Sender {
    client: Client,
    policy: RetryPolicy,
}

impl Sender {
    pub fn new(policy: RetryPolicy) -> Result<Sender, ClientError> {
        let client = Client::builder()
            .user_agent(concat!("corvid/", env!("CARGO_PKG_VERSION")))
            .timeout(policy.timeout)
            .connect_timeout(policy.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError(error_text(e, &Redactor::default())))?;
        Ok(Sender { client, policy })
    }

    /// Delivers `request` to `destination`, retrying per the policy, until delivered,
    /// failed for good, or `shutdown` is set.
    pub fn deliver(
        &self,
        destination: &Destination,
        request: &HttpRequest,
        alert_id: &str,
        shutdown: &AtomicBool,
    ) -> Delivery {
        let redactor = destination.redactor();
        let kind = destination.destination_type().as_str();
        let labels = [destination.id.as_str(), kind];
        let mut attempt = 0;
        loop {
            if shutdown.load(Ordering::Acquire) {
                return Delivery::Interrupted;
            }
            attempt += 1;
            let outcome = self.attempt(request, &redactor);
            let (verdict, status, retry_after) = match &outcome {
                Attempt::Answered {
                    status,
                    retry_after,
                    ..
                } => (verdict(*status), Some(*status), *retry_after),
                Attempt::NoAnswer { retryable, .. } => (
                    if *retryable {
                        Verdict::Retry
                    } else {
                        Verdict::Reject
                    },
                    None,
                    None,
                ),
            };
            if verdict == Verdict::Delivered {
                metrics().deliveries.with_label_values(&labels).inc();
                tracing::debug!(destination = %destination.id, r#type = kind, alert_id, attempt, status, "alert delivered");
                return Delivery::Delivered {
                    status: status.unwrap_or_default(),
                    attempts: attempt,
                };
            }
            let (response_body, error) = outcome.into_texts();
            let final_attempt = verdict == Verdict::Reject || attempt >= self.policy.attempts;
            if final_attempt {
                metrics().failures.with_label_values(&labels).inc();
                let reason = if verdict == Verdict::Reject {
                    FailureReason::Rejected
                } else {
                    FailureReason::RetriesExhausted
                };
                tracing::warn!(
                    destination = %destination.id, r#type = kind, alert_id, attempt, status,
                    error = error.as_deref().unwrap_or(""),
                    response = response_body.as_deref().map(preview).unwrap_or(""),
                    reason = reason.as_str(),
                    "alert not delivered; dead-lettering it"
                );
                return Delivery::Failed(Failure {
                    reason,
                    status,
                    response_body,
                    error,
                    attempts: attempt,
                });
            }
            metrics().retries.with_label_values(&labels).inc();
            let wait = retry_after
                .map_or(self.policy.backoff(attempt), |asked| {
                    asked.max(self.policy.backoff(attempt))
                })
                .min(self.policy.max_backoff);
            tracing::warn!(
                destination = %destination.id, r#type = kind, alert_id, attempt, status,
                error = error.as_deref().unwrap_or(""),
                response = response_body.as_deref().map(preview).unwrap_or(""),
                wait_ms = wait.as_millis() as u64,
                "delivery attempt failed; retrying"
            );
            if !sleep_unless(wait, shutdown) {
                return Delivery::Interrupted;
            }
        }
    }

    fn attempt(&self, request: &HttpRequest, redactor: &Redactor) -> Attempt {
        let mut builder = self
            .client
            .post(request.url.expose().clone())
            .header(CONTENT_TYPE, "application/json")
            .body(request.body.clone());
        builder = match &request.auth {
            Auth::None => builder,
            Auth::Bearer(token) => builder.bearer_auth(token.expose()),
            Auth::Basic { user, password } => builder.basic_auth(user, Some(password.expose())),
            Auth::Authorization(value) => match HeaderValue::from_str(value.expose()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    builder.header(AUTHORIZATION, value)
                }
                Err(_) => {
                    return Attempt::NoAnswer {
                        retryable: false,
                        error: "the Authorization header value is not valid HTTP".to_owned(),
                    }
                }
            },
        };
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        match builder.send() {
            Ok(response) => answered(response, redactor),
            Err(error) => {
                // Timeouts and connection failures may pass; a request that cannot be
                // built (an invalid header) never will.
                let retryable = !error.is_builder();
                Attempt::NoAnswer {
                    retryable,
                    error: error_text(error, redactor),
                }
            }
        }
    }
}

enum Attempt {
    Answered {
        status: u16,
        retry_after: Option<Duration>,
        body: String,
    },
    NoAnswer {
        retryable: bool,
        error: String,
    },
}

impl Attempt {
    fn into_texts(self) -> (Option<String>, Option<String>) {
        match self {
            Attempt::Answered { body, .. } => (Some(body), None),
            Attempt::NoAnswer { error, .. } => (None, Some(error)),
        }
    }
}

fn answered(response: Response, redactor: &Redactor) -> Attempt {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let mut bytes = Vec::new();
    // A body that cannot be read still leaves the status, which decides.
    let _ = response.take(BODY_READ_MAX).read_to_end(&mut bytes);
    let body = redactor.scrub(&String::from_utf8_lossy(&bytes));
    Attempt::Answered {
        status,
        retry_after,
        body: body.chars().take(BODY_MAX).collect(),
    }
}

/// A reqwest error with its cause chain, without the URL, scrubbed.
pub fn error_text(error: reqwest::Error, redactor: &Redactor) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    redactor.scrub(&text)
}

/// The first few hundred characters of a body, for a log line.
fn preview(body: &str) -> &str {
    match body.char_indices().nth(512) {
        Some((end, _)) => &body[..end],
        None => body,
    }
}

/// Sleeps `wait`; false when shutdown was asked for first.
fn sleep_unless(wait: Duration, shutdown: &AtomicBool) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        if shutdown.load(Ordering::Acquire) {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep(SLEEP_SLICE.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(initial_ms: u64, max_ms: u64, attempts: u32) -> RetryPolicy {
        RetryPolicy {
            attempts,
            initial_backoff: Duration::from_millis(initial_ms),
            max_backoff: Duration::from_millis(max_ms),
            timeout: Duration::from_millis(1000),
        }
    }

    #[test]
    fn backoff_doubles_from_the_initial_wait_up_to_the_maximum() {
        let six = policy(100, 1000, 6);
        let waits: Vec<u128> = (1..=6).map(|n| six.backoff(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(six.backoff(u32::MAX), Duration::from_millis(1000));
        // 6 attempts of 1 s, waits 100+200+400+800+1000.
        assert_eq!(six.worst_case(), Duration::from_millis(8500));
        assert_eq!(
            policy(100, 1000, 1).worst_case(),
            Duration::from_millis(1000)
        );
    }

    #[test]
    fn only_2xx_delivers_and_only_429_and_5xx_retry() {
        assert_eq!(verdict(200), Verdict::Delivered);
        assert_eq!(verdict(202), Verdict::Delivered);
        assert_eq!(verdict(204), Verdict::Delivered);
        assert_eq!(verdict(429), Verdict::Retry);
        assert_eq!(verdict(500), Verdict::Retry);
        assert_eq!(verdict(503), Verdict::Retry);
        for status in [301, 302, 400, 401, 403, 404, 408, 413, 422] {
            assert_eq!(verdict(status), Verdict::Reject, "{status}");
        }
    }

    #[test]
    fn a_shutdown_cuts_a_wait_short() {
        let shutdown = AtomicBool::new(true);
        let start = Instant::now();
        assert!(!sleep_unless(Duration::from_secs(30), &shutdown));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(sleep_unless(
            Duration::from_millis(10),
            &AtomicBool::new(false)
        ));
    }

    #[test]
    fn transport_errors_lose_the_url_and_the_secrets() {
        let sender = Sender::new(policy(1, 1, 1)).expect("client");
        // Port 9 (discard) on loopback: refused at once on a test machine.
        let url = "http://127.0.0.1:9/hook/very-secret-token";
        let error = sender.client.post(url).send().expect_err("nothing listens");
        let mut redactor = Redactor::default();
        redactor.add("very-secret-token");
        let text = error_text(error, &redactor);
        assert!(!text.contains("very-secret-token"), "{text}");
        assert!(!text.contains("127.0.0.1:9"), "{text}");
    }
}
