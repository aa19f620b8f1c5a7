//! The raw record contract between connectors and the engine.
//!
//! * key: the stream the line came from, UTF-8 (a file path, a peer address, …);
//! * value: the raw bytes of one log line or record, exactly as read;
//! * headers: [`SOURCE_ID`], [`SOURCE_LABEL`] and [`LOG_TYPES`] (comma-separated log type
//!   names the source may hold, in the order to try them).
//!
//! The engine never guesses a source's log types from the topic: a record without a
//! usable [`LOG_TYPES`] header is a dead letter, not a silent drop.

use rdkafka::message::{Header, Headers, OwnedHeaders};

/// Header holding the source integration's id (Panther's `p_source_id`).
pub const SOURCE_ID: &str = "source_id";
/// Header holding the source's display name (Panther's `p_source_label`).
pub const SOURCE_LABEL: &str = "source_label";
/// Header holding the comma-separated log types the source may hold.
pub const LOG_TYPES: &str = "log_types";

/// Which source a raw record came from and what it may contain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMeta {
    pub source_id: String,
    pub source_label: String,
    pub log_types: Vec<String>,
}

impl SourceMeta {
    /// Parses a comma-separated log type list, ignoring blanks around names.
    pub fn parse_log_types(list: &str) -> Vec<String> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn to_headers(&self) -> OwnedHeaders {
        let log_types = self.log_types.join(",");
        OwnedHeaders::new_with_capacity(3)
            .insert(Header {
                key: SOURCE_ID,
                value: Some(self.source_id.as_bytes()),
            })
            .insert(Header {
                key: SOURCE_LABEL,
                value: Some(self.source_label.as_bytes()),
            })
            .insert(Header {
                key: LOG_TYPES,
                value: Some(log_types.as_bytes()),
            })
    }

    /// Reads the source headers; absent or non-UTF-8 headers read as empty.
    pub fn from_headers<H: Headers>(headers: Option<&H>) -> SourceMeta {
        let mut meta = SourceMeta::default();
        let Some(headers) = headers else {
            return meta;
        };
        for header in headers.iter() {
            let value = header
                .value
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or("");
            match header.key {
                SOURCE_ID => meta.source_id = value.to_owned(),
                SOURCE_LABEL => meta.source_label = value.to_owned(),
                LOG_TYPES => meta.log_types = SourceMeta::parse_log_types(value),
                _ => {}
            }
        }
        meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let meta = SourceMeta {
            source_id: "osquery-fleet".into(),
            source_label: "Osquery fleet".into(),
            log_types: vec!["Osquery.Differential".into(), "Osquery.Status".into()],
        };
        let headers = meta.to_headers();
        assert_eq!(SourceMeta::from_headers(Some(&headers)), meta);
    }

    #[test]
    fn missing_headers_read_as_empty() {
        assert_eq!(
            SourceMeta::from_headers::<OwnedHeaders>(None),
            SourceMeta::default()
        );
    }

    #[test]
    fn log_type_list_ignores_blanks() {
        assert_eq!(
            SourceMeta::parse_log_types(" A.B, ,C.D ,"),
            vec!["A.B".to_string(), "C.D".to_string()]
        );
    }
}
