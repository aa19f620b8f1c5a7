//! The endpoints: `POST /ingest/{source_id}` (newline-delimited records with a bearer
//! token) and osquery's `POST /osquery/enroll` and `POST /osquery/log`.
//!
//! Status codes: 200 once Kafka acknowledged every record; 400 for a body that cannot be
//! read; 401 for a missing or wrong token; 404 for an unknown source; 413 for a body over
//! `limits.max_body_kib` as sent or `limits.max_decompressed_kib` inflated; 429 when the
//! producer queue stays full (some records may have been queued: retry, at-least-once);
//! 503 when Kafka refused records.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use prometheus::{IntCounterVec, Opts, Registry};
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::body::{lines, read_body, BodyError};
use super::config::{HttpConfig, Limits};
use super::deliver::{deliver, DeliverError};
use super::osquery::{matches_any, record_bytes, EnrollRequest, LogRequest, NodeKeys};
use super::server::Peer;
use crate::alerts::secret::Secret;
use crate::ingest::acked::{AckedProducer, Route};
use crate::metrics::ConnectorMetrics;

/// The `connector` label value of this connector's metrics.
pub const CONNECTOR: &str = "http";

/// Header a client may set to name its stream (the record key) instead of its address.
pub const STREAM_HEADER: &str = "x-corvid-stream";
const MAX_STREAM_NAME: usize = 256;

struct IngestRoute {
    route: Route,
    tokens: Vec<Secret>,
}

struct OsqueryRoutes {
    secrets: Vec<Secret>,
    node_keys: NodeKeys,
    results: Route,
    results_id: String,
    status: Route,
    status_id: String,
}

/// Everything a request handler needs.
pub struct Service {
    producer: AckedProducer,
    limits: Limits,
    ingest: HashMap<String, IngestRoute>,
    osquery: Option<OsqueryRoutes>,
    turns: Semaphore,
    requests: IntCounterVec,
}

impl Service {
    /// Takes the sources (and their secrets) out of `config`.
    pub fn new(
        config: &mut HttpConfig,
        producer: AckedProducer,
        metrics: &ConnectorMetrics,
        registry: &Registry,
    ) -> Result<Service, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "corvid_http_requests_total",
                "HTTP connector requests by source and answered status code",
            ),
            &["source", "code"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        let route = |spec: &crate::ingest::config::SourceSpec| {
            Route::new(&spec.meta(), metrics.source(CONNECTOR, &spec.id))
        };
        let ingest = config
            .sources
            .drain(..)
            .map(|source| {
                let spec = source.spec();
                let ingest = IngestRoute {
                    route: route(&spec),
                    tokens: source.tokens,
                };
                (spec.id, ingest)
            })
            .collect();
        let osquery = config.osquery.take().map(|osquery| OsqueryRoutes {
            results: route(&osquery.results),
            results_id: osquery.results.id.clone(),
            status: route(&osquery.status),
            status_id: osquery.status.id.clone(),
            secrets: osquery.enroll_secrets,
            node_keys: NodeKeys::new(osquery.node_key_secret),
        });
        let limits = std::mem::take(&mut config.limits);
        Ok(Service {
            producer,
            turns: Semaphore::new(limits.max_concurrent_requests),
            limits,
            ingest,
            osquery,
            requests,
        })
    }

    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/ingest/{source_id}", post(ingest))
            .route("/osquery/enroll", post(enroll))
            .route("/osquery/log", post(osquery_log))
            .with_state(self)
    }

    fn answer(&self, source: &str, status: StatusCode, body: serde_json::Value) -> Response {
        self.requests
            .with_label_values(&[source, status.as_str()])
            .inc();
        (status, Json(body)).into_response()
    }

    fn refuse(&self, source: &str, status: StatusCode, message: &str) -> Response {
        self.answer(source, status, json!({ "error": message }))
    }

    async fn body(&self, headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, BodyError> {
        read_body(
            headers,
            body,
            self.limits.max_body_bytes(),
            self.limits.max_decompressed_bytes(),
        )
        .await
    }

    /// The answer to a body that could not be read.
    fn body_refused(&self, source: &str, error: BodyError) -> Response {
        let status = match error {
            BodyError::TooLarge { .. } | BodyError::InflatedTooLarge { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            BodyError::BadGzip(_) | BodyError::Read(_) => StatusCode::BAD_REQUEST,
            BodyError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        };
        debug!(source, %error, "request body refused");
        self.refuse(source, status, &error.to_string())
    }

    /// A 413 when one of `records` is over `limits.max_record_bytes`: checked before any
    /// is queued, so such a body is refused whole.
    fn check_record_sizes<'a>(
        &self,
        source: &str,
        mut records: impl Iterator<Item = &'a [u8]>,
    ) -> Option<Response> {
        let limit = self.limits.max_record_bytes;
        records.any(|record| record.len() > limit).then(|| {
            let message = format!("a record is over limits.max_record_bytes ({limit})");
            self.refuse(source, StatusCode::PAYLOAD_TOO_LARGE, &message)
        })
    }

    /// Queues records, awaits their acknowledgements and answers.
    async fn deliver<'a>(
        &self,
        source: &str,
        route: &Route,
        records: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        ok: serde_json::Value,
    ) -> Response {
        match deliver(
            &self.producer,
            route,
            records,
            self.limits.queue_full_wait(),
        )
        .await
        {
            Ok(_) => self.answer(source, StatusCode::OK, ok),
            Err(error @ DeliverError::Backpressure(_)) => {
                warn!(source, %error, "answering 429");
                self.refuse(source, StatusCode::TOO_MANY_REQUESTS, &error.to_string())
            }
            Err(error @ DeliverError::Refused { .. }) => {
                warn!(source, %error, "answering 503");
                self.refuse(source, StatusCode::SERVICE_UNAVAILABLE, &error.to_string())
            }
        }
    }
}

/// `POST /ingest/{source_id}`: each non-empty line of the body is one record.
async fn ingest(
    State(service): State<Arc<Service>>,
    Path(source_id): Path<String>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(ingest) = service.ingest.get(&source_id) else {
        // Unknown ids are not used as label values: a scan must not grow the metrics.
        return service.refuse("", StatusCode::NOT_FOUND, "unknown source");
    };
    let source = source_id.as_str();
    match bearer(&headers) {
        Some(token) if matches_any(token, &ingest.tokens) => {}
        Some(_) => {
            warn!(source, peer = %peer.0, "wrong bearer token");
            return service.refuse(source, StatusCode::UNAUTHORIZED, "wrong bearer token");
        }
        None => {
            return service.refuse(source, StatusCode::UNAUTHORIZED, "missing bearer token");
        }
    }
    let Ok(_turn) = service.turns.acquire().await else {
        return service.refuse(source, StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let body = match service.body(&headers, body).await {
        Ok(body) => body,
        Err(error) => return service.body_refused(source, error),
    };
    if let Some(response) = service.check_record_sizes(source, lines(&body)) {
        return response;
    }
    let stream = stream_name(&headers).unwrap_or_else(|| peer.0.ip().to_string());
    let key = stream.as_bytes();
    let records = lines(&body).map(|line| (key, line));
    service
        .deliver(source, &ingest.route, records, json!({}))
        .await
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

fn stream_name(headers: &HeaderMap) -> Option<String> {
    let name = headers.get(STREAM_HEADER)?.to_str().ok()?.trim();
    (!name.is_empty() && name.len() <= MAX_STREAM_NAME).then(|| name.to_owned())
}

fn node_invalid() -> serde_json::Value {
    json!({ "node_invalid": true })
}

/// `POST /osquery/enroll`.
async fn enroll(
    State(service): State<Arc<Service>>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(osquery) = &service.osquery else {
        return service.refuse("", StatusCode::NOT_FOUND, "osquery is not configured");
    };
    let source = "osquery-enroll";
    let Ok(_turn) = service.turns.acquire().await else {
        return service.refuse(source, StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let body = match service.body(&headers, body).await {
        Ok(body) => body,
        Err(error) => return service.body_refused(source, error),
    };
    let Ok(request) = serde_json::from_slice::<EnrollRequest>(&body) else {
        return service.refuse(source, StatusCode::BAD_REQUEST, "not an enroll request");
    };
    if !matches_any(&request.enroll_secret, &osquery.secrets) {
        warn!(peer = %peer.0, host = %request.host_identifier, "osquery enroll with a wrong secret");
        return service.answer(source, StatusCode::OK, node_invalid());
    }
    match osquery.node_keys.issue(&request.host_identifier) {
        Some(node_key) => service.answer(
            source,
            StatusCode::OK,
            json!({ "node_key": node_key, "node_invalid": false }),
        ),
        None => service.refuse(
            source,
            StatusCode::BAD_REQUEST,
            "host_identifier must be 1 to 255 bytes",
        ),
    }
}

/// `POST /osquery/log`: each element of `data` is one record, keyed by the host.
async fn osquery_log(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(osquery) = &service.osquery else {
        return service.refuse("", StatusCode::NOT_FOUND, "osquery is not configured");
    };
    let Ok(_turn) = service.turns.acquire().await else {
        return service.refuse("", StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    };
    let body = match service.body(&headers, body).await {
        Ok(body) => body,
        Err(error) => return service.body_refused("osquery-log", error),
    };
    let request: LogRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            let message = format!("not an osquery log request: {error}");
            return service.refuse("osquery-log", StatusCode::BAD_REQUEST, &message);
        }
    };
    let Some(host) = osquery.node_keys.verify(&request.node_key) else {
        return service.answer("osquery-log", StatusCode::OK, node_invalid());
    };
    let (source, route) = match request.log_type.as_str() {
        "result" => (osquery.results_id.as_str(), &osquery.results),
        "status" => (osquery.status_id.as_str(), &osquery.status),
        _ => {
            let message = "log_type must be result or status";
            return service.refuse("osquery-log", StatusCode::BAD_REQUEST, message);
        }
    };
    let records: Vec<Vec<u8>> = request.data.iter().map(|e| record_bytes(e)).collect();
    if let Some(response) = service.check_record_sizes(source, records.iter().map(Vec::as_slice)) {
        return response;
    }
    let key = host.as_bytes();
    service
        .deliver(
            source,
            route,
            records.iter().map(|r| (key, r.as_slice())),
            json!({}),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn only_a_bearer_token_is_a_token() {
        assert_eq!(
            bearer(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            bearer(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(bearer(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(bearer(&headers(&[("authorization", "Bearer ")])), None);
        assert_eq!(bearer(&headers(&[])), None);
    }

    #[test]
    fn a_stream_header_names_the_stream_within_bounds() {
        assert_eq!(
            stream_name(&headers(&[(STREAM_HEADER, " web-7 ")])).as_deref(),
            Some("web-7")
        );
        let long = "s".repeat(MAX_STREAM_NAME + 1);
        assert_eq!(stream_name(&headers(&[(STREAM_HEADER, &long)])), None);
        assert_eq!(stream_name(&headers(&[])), None);
    }
}
