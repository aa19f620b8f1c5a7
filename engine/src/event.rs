//! The normalized event that flows from parsing to rules, alerts and the lake.
//!
//! An [`Event`] is the parsed log record as a JSON object together with its Panther `p_`
//! fields (`p_log_type`, `p_event_time`, `p_parse_time`, `p_row_id`, `p_source_id`,
//! `p_source_label` and the `p_any_*` indicator arrays). The object sits behind an `Arc`
//! because the same event is read by every rule of its log type (the Python view shares
//! it instead of copying) and later by the lake sink.
//!
//! Invariants, established by the parsers and relied on downstream:
//! * `p_log_type`, `p_row_id`, `p_event_time` and `p_parse_time` are always present strings;
//! * timestamps use Panther's data-lake layout `YYYY-MM-DD HH:MM:SS.fffffffff` in UTC.
//!
//! On the wire between timely processes an event travels as its JSON text: the binary
//! codec timely uses cannot decode a self-describing `serde_json::Value`.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// An epoch as Panther's timestamp layout.
pub fn epoch_timestamp(epoch: crate::source::Epoch) -> String {
    let time = chrono::DateTime::from_timestamp_millis(epoch as i64).unwrap_or_default();
    format_timestamp(&time)
}

/// Formats a UTC time in Panther's data-lake layout.
///
/// Written field by field: it runs for every timestamp of every event, and interpreting
/// a strftime pattern each time cost more than the rest of the formatting.
pub fn format_timestamp(time: &chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09}",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        // A leap second carries nanoseconds past 10^9; the layout has no 60th second.
        time.nanosecond().min(999_999_999)
    )
}

/// A parsed, normalized event. Cheap to clone.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    fields: Arc<Map<String, Value>>,
}

impl Event {
    /// Wraps an already normalized object; the caller guarantees the module invariants.
    pub fn from_fields(fields: Map<String, Value>) -> Self {
        Event {
            fields: Arc::new(fields),
        }
    }

    /// The event with `name` set to `value` (copies the fields only if they are shared).
    pub fn with_field(mut self, name: &str, value: Value) -> Event {
        Arc::make_mut(&mut self.fields).insert(name.to_owned(), value);
        self
    }

    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    /// The shared object, for views (the Python event) that must outlive a borrow.
    pub fn shared_fields(&self) -> Arc<Map<String, Value>> {
        Arc::clone(&self.fields)
    }

    fn str_field(&self, name: &str) -> &str {
        self.fields.get(name).and_then(Value::as_str).unwrap_or("")
    }

    pub fn log_type(&self) -> &str {
        self.str_field("p_log_type")
    }

    pub fn row_id(&self) -> &str {
        self.str_field("p_row_id")
    }

    pub fn event_time(&self) -> &str {
        self.str_field("p_event_time")
    }

    pub fn to_json(&self) -> String {
        // A map of JSON values always serializes.
        serde_json::to_string(&*self.fields).unwrap_or_default()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(&*self.fields).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let fields: Map<String, Value> =
            serde_json::from_str(&text).map_err(serde::de::Error::custom)?;
        Ok(Event::from_fields(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_round_trips_through_a_binary_codec_view() {
        let mut fields = Map::new();
        fields.insert("p_log_type".into(), Value::from("Osquery.Differential"));
        fields.insert(
            "columns".into(),
            serde_json::json!({"user": "alice", "n": [1, 2]}),
        );
        let event = Event::from_fields(fields);
        // A string is what binary codecs see; it must carry the whole object.
        let text = serde_json::to_string(&event).expect("serialize");
        let back: Event = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, event);
        assert_eq!(back.log_type(), "Osquery.Differential");
        assert_eq!(back.row_id(), "");
    }

    #[test]
    fn timestamps_use_the_lake_layout() {
        let time = chrono::DateTime::from_timestamp(1_555_924_277, 5).expect("time");
        assert_eq!(format_timestamp(&time), "2019-04-22 09:11:17.000000005");
        let early = chrono::DateTime::from_timestamp(-62_135_596_800, 0).expect("year 1");
        assert_eq!(format_timestamp(&early), "0001-01-01 00:00:00.000000000");
    }
}
