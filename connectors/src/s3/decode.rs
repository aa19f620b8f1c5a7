//! Turns one object's bytes into records while reading them, never holding the object:
//! decompression chosen by content (gzip `1f 8b`, zstd `28 b5 2f fd`, else plain), then
//! either a CloudTrail `{"Records": [...]}` envelope split element by element, or one
//! record per line (header lines included: the engine's VPC flow parser keeps the
//! stream's header as state).

use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::rc::Rc;

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const READ_BUFFER: usize = 64 * 1024;
/// Enough decoded bytes to recognise `{"Records":` behind whitespace or a BOM.
const ENVELOPE_PEEK: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// A `{"Records": [...]}` envelope: each element is a record.
    Envelope,
    Lines,
}

/// What was read from an object that decoded to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub compression: Compression,
    pub framing: Framing,
    /// Records handed to the callback.
    pub records: u64,
    /// Records over the size limit, skipped.
    pub oversized: u64,
}

#[derive(Debug)]
pub enum DecodeError<E> {
    /// The object's content is broken (bad gzip/zstd, truncated, malformed envelope);
    /// `records` were handed over before it broke.
    Corrupt { reason: String, records: u64 },
    /// Reading the object from its store failed (network): the content may be fine.
    Source { reason: String, records: u64 },
    /// The callback refused a record.
    Stopped(E),
}

impl<E: fmt::Display> fmt::Display for DecodeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Corrupt { reason, records } => {
                write!(f, "corrupt after {records} records: {reason}")
            }
            DecodeError::Source { reason, records } => {
                write!(f, "read failed after {records} records: {reason}")
            }
            DecodeError::Stopped(error) => write!(f, "stopped: {error}"),
        }
    }
}

pub fn detect_compression(head: &[u8]) -> Compression {
    if head.starts_with(GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::Plain
    }
}

/// Whether decoded content opens with `{"Records":`, as CloudTrail's files do.
pub fn detect_framing(head: &[u8]) -> Framing {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let rest = skip_whitespace(head);
    let Some(rest) = rest.strip_prefix(b"{") else {
        return Framing::Lines;
    };
    let Some(rest) = skip_whitespace(rest).strip_prefix(b"\"Records\"") else {
        return Framing::Lines;
    };
    if skip_whitespace(rest).starts_with(b":") {
        Framing::Envelope
    } else {
        Framing::Lines
    }
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| !byte.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Reads `source` to its end, handing each record to `emit` in order.
pub fn decode_object<R, E>(
    source: R,
    max_record_bytes: usize,
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<Decoded, DecodeError<E>>
where
    R: Read,
{
    let source_failure = Rc::new(RefCell::new(None));
    let tracked = Tracked {
        inner: source,
        failure: Rc::clone(&source_failure),
    };
    let mut counts = Counts::default();
    let mut stopped = None;
    let result = decode_tracked(
        tracked,
        max_record_bytes,
        &mut counts,
        &mut |record: &[u8]| match emit(record) {
            Ok(()) => true,
            Err(error) => {
                stopped = Some(error);
                false
            }
        },
    );
    if let Some(error) = stopped {
        return Err(DecodeError::Stopped(error));
    }
    match result {
        Ok((compression, framing)) => Ok(Decoded {
            compression,
            framing,
            records: counts.records,
            oversized: counts.oversized,
        }),
        Err(reason) => {
            let records = counts.records;
            match source_failure.borrow_mut().take() {
                Some(reason) => Err(DecodeError::Source { reason, records }),
                None => Err(DecodeError::Corrupt { reason, records }),
            }
        }
    }
}

#[derive(Default)]
struct Counts {
    records: u64,
    oversized: u64,
}

/// `emit` answers false to stop.
type Emit<'a> = dyn FnMut(&[u8]) -> bool + 'a;

fn decode_tracked<R: Read>(
    source: R,
    limit: usize,
    counts: &mut Counts,
    emit: &mut Emit<'_>,
) -> Result<(Compression, Framing), String> {
    let mut source = source;
    let head = read_head(&mut source, ZSTD_MAGIC.len()).map_err(|e| e.to_string())?;
    let compression = detect_compression(&head);
    let raw = Cursor::new(head).chain(source);
    let mut decompressed: Box<dyn Read> = match compression {
        // Multi-member: concatenated gzip files (and some writers' output) are one stream.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(raw).map_err(|e| format!("zstd: {e}"))?)
        }
        Compression::Plain => Box::new(raw),
    };
    let head =
        read_head(&mut decompressed, ENVELOPE_PEEK).map_err(|e| describe(compression, &e))?;
    let framing = detect_framing(&head);
    let reader = BufReader::with_capacity(READ_BUFFER, Cursor::new(head).chain(decompressed));
    match framing {
        Framing::Envelope => split_envelope(reader, limit, counts, emit).map_err(|error| {
            // An I/O error inside the JSON parser is the decompressor's (or the source's).
            if error.is_io() {
                describe(compression, &io::Error::other(error.to_string()))
            } else {
                format!("envelope: {error}")
            }
        }),
        Framing::Lines => {
            split_lines(reader, limit, counts, emit).map_err(|e| describe(compression, &e))
        }
    }
    .map(|()| (compression, framing))
}

fn describe(compression: Compression, error: &io::Error) -> String {
    match compression {
        Compression::Gzip => format!("gzip: {error}"),
        Compression::Zstd => format!("zstd: {error}"),
        Compression::Plain => error.to_string(),
    }
}

/// Reads up to `want` bytes (fewer only at the end of the input).
fn read_head(source: &mut impl Read, want: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(want);
    source.take(want as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn split_lines(
    mut reader: impl BufRead,
    limit: usize,
    counts: &mut Counts,
    emit: &mut Emit<'_>,
) -> io::Result<()> {
    let mut line = Vec::new();
    while let Some(oversized) = read_line_limited(&mut reader, &mut line, limit)? {
        if oversized {
            counts.oversized += 1;
            continue;
        }
        let record = line.strip_suffix(b"\r").unwrap_or(&line);
        if record.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !emit(record) {
            return Ok(());
        }
        counts.records += 1;
    }
    Ok(())
}

/// Reads one line (without its `\n`) into `line`; `None` at the end of input,
/// `Some(true)` when the line was longer than `limit` (then `line` is empty and the
/// rest of it was skipped without buffering it).
fn read_line_limited(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> io::Result<Option<bool>> {
    line.clear();
    let mut any = false;
    let mut oversized = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(any.then_some(oversized));
        }
        any = true;
        let (chunk, used, done) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..end], end + 1, true),
            None => (available, available.len(), false),
        };
        if !oversized {
            if line.len() + chunk.len() > limit {
                oversized = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if done {
            return Ok(Some(oversized));
        }
    }
}

fn split_envelope(
    reader: impl Read,
    limit: usize,
    counts: &mut Counts,
    emit: &mut Emit<'_>,
) -> Result<(), serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let mut stopped = false;
    let outcome = EnvelopeSeed {
        limit,
        counts,
        emit,
        stopped: &mut stopped,
    }
    .deserialize(&mut deserializer);
    if stopped {
        return Ok(());
    }
    outcome?;
    deserializer.end()
}

/// The top-level object: `Records` is split, other keys are skipped.
struct EnvelopeSeed<'a, 'b> {
    limit: usize,
    counts: &'a mut Counts,
    emit: &'a mut Emit<'b>,
    stopped: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for EnvelopeSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvelopeSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a Records array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" {
                map.next_value_seed(RecordsSeed {
                    limit: self.limit,
                    counts: &mut *self.counts,
                    emit: &mut *self.emit,
                    stopped: &mut *self.stopped,
                })?;
                if *self.stopped {
                    return Err(A::Error::custom("stopped"));
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `Records` array: each element goes to `emit` as its exact bytes.
struct RecordsSeed<'a, 'b> {
    limit: usize,
    counts: &'a mut Counts,
    emit: &'a mut Emit<'b>,
    stopped: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Records array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(record) = seq.next_element::<Box<RawValue>>()? {
            let bytes = record.get().as_bytes();
            if bytes.len() > self.limit {
                self.counts.oversized += 1;
                continue;
            }
            if !(self.emit)(bytes) {
                *self.stopped = true;
                return Err(A::Error::custom("stopped"));
            }
            self.counts.records += 1;
        }
        Ok(())
    }
}

/// Remembers whether the *source* failed, so a network error is not taken for a
/// corrupt object.
struct Tracked<R> {
    inner: R,
    failure: Rc<RefCell<Option<String>>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|error| {
            *self.failure.borrow_mut() = Some(error.to_string());
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn decode(bytes: &[u8]) -> (Result<Decoded, DecodeError<String>>, Vec<String>) {
        decode_limited(bytes, 1 << 20)
    }

    fn decode_limited(
        bytes: &[u8],
        limit: usize,
    ) -> (Result<Decoded, DecodeError<String>>, Vec<String>) {
        let mut records = Vec::new();
        let result = decode_object(bytes, limit, |record| {
            records.push(String::from_utf8_lossy(record).into_owned());
            Ok::<(), String>(())
        });
        (result, records)
    }

    const LINES: &str = "version account-id interface-id srcaddr dstaddr\n2 1 eni-1 10.0.0.1 10.0.0.2\r\n\n2 1 eni-1 10.0.0.3 10.0.0.4";

    #[test]
    fn plain_lines_keep_the_header_and_skip_blank_lines() {
        let (result, records) = decode(LINES.as_bytes());
        let decoded = result.unwrap();
        assert_eq!(decoded.compression, Compression::Plain);
        assert_eq!(decoded.framing, Framing::Lines);
        assert_eq!(decoded.records, 3);
        assert_eq!(
            records,
            [
                "version account-id interface-id srcaddr dstaddr",
                "2 1 eni-1 10.0.0.1 10.0.0.2",
                "2 1 eni-1 10.0.0.3 10.0.0.4"
            ]
        );
    }

    #[test]
    fn gzip_is_recognised_by_content() {
        let (result, records) = decode(&gzip(LINES.as_bytes()));
        assert_eq!(result.unwrap().compression, Compression::Gzip);
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn multi_member_gzip_is_read_to_its_end() {
        let mut bytes = gzip(b"a\nb\n");
        bytes.extend(gzip(b"c\n"));
        let (result, records) = decode(&bytes);
        assert_eq!(result.unwrap().records, 3);
        assert_eq!(records, ["a", "b", "c"]);
    }

    #[test]
    fn zstd_is_recognised_by_content() {
        let bytes = zstd::encode_all(LINES.as_bytes(), 3).unwrap();
        let (result, records) = decode(&bytes);
        assert_eq!(result.unwrap().compression, Compression::Zstd);
        assert_eq!(records.len(), 3);
    }

    #[test]
    fn an_envelope_is_split_into_its_records_exactly() {
        let envelope =
            r#" {"Records": [{"eventID":"a","n":[1,2]}, {"eventID":"b","s":"x]}"} ], "x": 1}"#;
        let (result, records) = decode(&gzip(envelope.as_bytes()));
        let decoded = result.unwrap();
        assert_eq!(decoded.framing, Framing::Envelope);
        assert_eq!(decoded.records, 2);
        assert_eq!(
            records,
            [
                r#"{"eventID":"a","n":[1,2]}"#,
                r#"{"eventID":"b","s":"x]}"}"#
            ]
        );
    }

    #[test]
    fn one_record_a_line_json_is_not_an_envelope() {
        let (result, records) = decode(b"{\"eventID\":\"a\"}\n{\"eventID\":\"b\"}\n");
        assert_eq!(result.unwrap().framing, Framing::Lines);
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn a_truncated_envelope_forwards_what_was_read_and_says_corrupt() {
        let envelope = r#"{"Records": [{"eventID":"a"}, {"eventID":"b"}, {"event"#;
        let (result, records) = decode(envelope.as_bytes());
        match result {
            Err(DecodeError::Corrupt { records: 2, reason }) => {
                assert!(reason.starts_with("envelope:"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn a_truncated_gzip_envelope_blames_gzip() {
        let records: Vec<String> = (0..2000)
            .map(|i| format!("{{\"eventID\":\"{i}\",\"n\":{}}}", i * 7919))
            .collect();
        let bytes = gzip(format!("{{\"Records\":[{}]}}", records.join(",")).as_bytes());
        let (result, sent) = decode(&bytes[..bytes.len() / 2]);
        match result {
            Err(DecodeError::Corrupt { reason, records }) => {
                assert!(reason.starts_with("gzip:"), "{reason}");
                assert_eq!(records as usize, sent.len());
                assert!(records > 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_and_garbled_gzip_are_corrupt() {
        let data: String = (0..5000)
            .map(|i| format!("line {i} {}\n", i * 7919))
            .collect();
        let bytes = gzip(data.as_bytes());
        let (result, records) = decode(&bytes[..bytes.len() / 2]);
        assert!(
            matches!(result, Err(DecodeError::Corrupt { records: n, .. }) if n == records.len() as u64),
            "{result:?}"
        );
        let mut garbled = bytes.clone();
        for byte in &mut garbled[20..60] {
            *byte ^= 0x5a;
        }
        let (result, _) = decode(&garbled);
        assert!(
            matches!(result, Err(DecodeError::Corrupt { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn a_failing_source_is_not_called_corrupt() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("connection reset"));
                }
                self.0 -= 1;
                buf[..2].copy_from_slice(b"x\n");
                Ok(2)
            }
        }
        let mut seen = 0;
        let result = decode_object(Failing(10), 1024, |_| {
            seen += 1;
            Ok::<(), String>(())
        });
        assert!(
            matches!(&result, Err(DecodeError::Source { reason, .. }) if reason.contains("connection reset")),
            "{result:?}"
        );
    }

    #[test]
    fn oversized_records_are_skipped_and_counted() {
        let long = "y".repeat(3000);
        let (result, records) = decode_limited(format!("a\n{long}\nb\n").as_bytes(), 1024);
        let decoded = result.unwrap();
        assert_eq!((decoded.records, decoded.oversized), (2, 1));
        assert_eq!(records, ["a", "b"]);
        let envelope = format!(r#"{{"Records":[{{"a":1}},{{"b":"{long}"}}]}}"#);
        let (result, _) = decode_limited(envelope.as_bytes(), 1024);
        let decoded = result.unwrap();
        assert_eq!((decoded.records, decoded.oversized), (1, 1));
    }

    #[test]
    fn a_refusing_callback_stops_the_read() {
        let mut seen = 0;
        let result = decode_object(
            r#"{"Records":[{"a":1},{"a":2},{"a":3}]}"#.as_bytes(),
            1024,
            |_| {
                seen += 1;
                if seen == 2 {
                    Err("full".to_string())
                } else {
                    Ok(())
                }
            },
        );
        assert!(matches!(result, Err(DecodeError::Stopped(ref e)) if e == "full"));
        assert_eq!(seen, 2);
    }

    #[test]
    fn empty_objects_have_no_records() {
        let (result, records) = decode(b"");
        assert_eq!(result.unwrap().records, 0);
        assert!(records.is_empty());
    }
}
