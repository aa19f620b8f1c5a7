//! Reading a request body within bounds: the bytes as sent (`limits.max_body_kib`) and,
//! for `Content-Encoding: gzip`, the bytes after decompression
//! (`limits.max_decompressed_kib`), so neither a huge upload nor a gzip bomb costs more
//! memory than the limits.

use std::io::Read;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use bytes::{Bytes, BytesMut};
use flate2::read::MultiGzDecoder;
use futures::StreamExt;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is over {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the decompressed request body is over {limit} bytes")]
    InflatedTooLarge { limit: usize },
    #[error("the request body is not valid gzip: {0}")]
    BadGzip(std::io::Error),
    #[error("unsupported Content-Encoding {0:?} (identity and gzip are accepted)")]
    UnsupportedEncoding(String),
    #[error("cannot read the request body: {0}")]
    Read(String),
    #[error("the request body did not arrive within {0:?}")]
    Timeout(Duration),
}

/// How long a client may take to send its body: a slow sender must not hold one of the
/// `limits.max_concurrent_requests` turns for ever.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads the body, refusing it as soon as it passes `max_bytes`, then inflates gzip.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max_bytes: usize,
    max_inflated: usize,
) -> Result<Bytes, BodyError> {
    let gzip = match headers.get(header::CONTENT_ENCODING) {
        None => false,
        Some(value) => match value.to_str().map(|v| v.trim().to_ascii_lowercase()) {
            Ok(v) if v == "gzip" || v == "x-gzip" => true,
            Ok(v) if v.is_empty() || v == "identity" => false,
            Ok(v) => return Err(BodyError::UnsupportedEncoding(v)),
            Err(_) => return Err(BodyError::UnsupportedEncoding("<not ASCII>".into())),
        },
    };
    // A declared length over the limit is refused before a byte is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(BodyError::TooLarge { limit: max_bytes });
    }
    let capacity = declared.map_or(8192, |n| n as usize);
    let sent = tokio::time::timeout(BODY_TIMEOUT, collect(body, capacity, max_bytes))
        .await
        .map_err(|_| BodyError::Timeout(BODY_TIMEOUT))??;
    if !gzip {
        return Ok(sent);
    }
    // Inflating up to tens of MiB is CPU work: keep it off the I/O threads.
    tokio::task::spawn_blocking(move || inflate(&sent, max_inflated))
        .await
        .map_err(|error| BodyError::Read(error.to_string()))?
}

async fn collect(body: Body, capacity: usize, max_bytes: usize) -> Result<Bytes, BodyError> {
    let mut buffer = BytesMut::with_capacity(capacity);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| BodyError::Read(error.to_string()))?;
        if buffer.len() + chunk.len() > max_bytes {
            return Err(BodyError::TooLarge { limit: max_bytes });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// Inflates (possibly concatenated) gzip members, reading at most one byte past the limit.
pub fn inflate(compressed: &[u8], max_inflated: usize) -> Result<Bytes, BodyError> {
    let mut inflated = Vec::with_capacity(compressed.len().saturating_mul(4).min(max_inflated));
    MultiGzDecoder::new(compressed)
        .take(max_inflated as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(BodyError::BadGzip)?;
    if inflated.len() > max_inflated {
        return Err(BodyError::InflatedTooLarge {
            limit: max_inflated,
        });
    }
    Ok(Bytes::from(inflated))
}

/// The non-empty lines of a body, without their `\n` or `\r\n`.
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![b'a'; 8 << 20]);
        assert!(bomb.len() < 64 << 10);
        assert!(matches!(
            inflate(&bomb, 1 << 20),
            Err(BodyError::InflatedTooLarge { limit }) if limit == 1 << 20
        ));
        assert_eq!(inflate(&bomb, 8 << 20).unwrap().len(), 8 << 20);
    }

    #[test]
    fn lines_skip_blanks_and_carriage_returns() {
        let found: Vec<&[u8]> = lines(b"a\r\n\n  \nb\nc").collect();
        assert_eq!(found, [&b"a"[..], b"b", b"c"]);
    }

    #[test]
    fn garbage_is_not_gzip() {
        assert!(matches!(
            inflate(b"not gzip", 100),
            Err(BodyError::BadGzip(_))
        ));
    }
}
