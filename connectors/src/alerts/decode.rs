//! Alert records off the wire: JSON, or Confluent-framed Avro through a schema registry.
//!
//! The engine writes alerts as JSON, or as Avro when configured so. A framed record
//! (magic byte 0, 4-byte schema id, Avro body) never starts with a JSON character, so the
//! first byte decides. The Avro schema cannot say "any JSON", so the engine writes
//! `alertContext` and each element of `samples` as JSON text; [`parse_json_text_fields`]
//! turns them back into JSON so both encodings yield the same alert.

use schema_registry_converter::blocking::avro::AvroDecoder;
use schema_registry_converter::blocking::schema_registry::SrSettings;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("record is not JSON: {0}")]
    Json(String),
    #[error("record is Confluent-framed Avro but no schema_registry_url is configured")]
    NoRegistry,
    #[error("Avro record (schema id {id}) does not decode: {reason}")]
    Avro { id: u32, reason: String },
}

/// Turns record payloads into alert JSON.
pub struct AlertDecoder {
    avro: Option<AvroDecoder>,
}

impl std::fmt::Debug for AlertDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertDecoder")
            .field("avro", &self.avro.is_some())
            .finish()
    }
}

impl AlertDecoder {
    pub fn new(schema_registry_url: Option<&str>) -> AlertDecoder {
        AlertDecoder {
            avro: schema_registry_url.map(|url| AvroDecoder::new(SrSettings::new(url.to_owned()))),
        }
    }

    pub fn decode(&self, payload: &[u8]) -> Result<Value, DecodeError> {
        let Some(id) = confluent_schema_id(payload) else {
            return serde_json::from_slice(payload).map_err(|e| DecodeError::Json(e.to_string()));
        };
        let avro = self.avro.as_ref().ok_or(DecodeError::NoRegistry)?;
        let avro_error = |reason: String| DecodeError::Avro { id, reason };
        let decoded = avro
            .decode(Some(payload))
            .map_err(|e| avro_error(e.to_string()))?;
        let mut json = Value::try_from(decoded.value).map_err(|e| avro_error(e.to_string()))?;
        parse_json_text_fields(&mut json);
        Ok(json)
    }
}

/// The registry id of a Confluent-framed payload, if it is one.
pub fn confluent_schema_id(payload: &[u8]) -> Option<u32> {
    match payload {
        [0, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Parses `alertContext` and each `samples` element from JSON text into JSON.
///
/// Text that is not JSON stays a string: a context the engine could not serialize is
/// still worth showing as it is.
pub fn parse_json_text_fields(alert: &mut Value) {
    let Value::Object(fields) = alert else { return };
    if let Some(context) = fields.get_mut("alertContext") {
        parse_in_place(context);
    }
    if let Some(Value::Array(samples)) = fields.get_mut("samples") {
        samples.iter_mut().for_each(parse_in_place);
    }
}

fn parse_in_place(value: &mut Value) {
    if let Value::String(text) = value {
        if let Ok(parsed) = serde_json::from_str::<Value>(text) {
            *value = parsed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    const SCHEMA: &str = r#"{"type":"record","name":"Alert","namespace":"corvid","fields":[
        {"name":"alertId","type":"string"},
        {"name":"severity","type":"string"},
        {"name":"destinations","type":["null",{"type":"array","items":"string"}],"default":null},
        {"name":"alertContext","type":["null","string"],"default":null},
        {"name":"samples","type":{"type":"array","items":"string"}}]}"#;

    /// Answers schema id 7 as a registry would; the client behaviour under test.
    fn stub_registry() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let read = stream.read(&mut request).unwrap_or(0);
                let known = String::from_utf8_lossy(&request[..read]).contains("/schemas/ids/7");
                let (status, body) = if known {
                    ("200 OK", json!({ "schema": SCHEMA }).to_string())
                } else {
                    ("404 Not Found", r#"{"error_code":40403}"#.to_owned())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{address}")
    }

    fn framed(id: u32) -> Vec<u8> {
        use apache_avro::types::{Record, Value as AvroValue};
        let schema = apache_avro::Schema::parse_str(SCHEMA).expect("schema");
        let mut record = Record::new(&schema).expect("record schema");
        record.put("alertId", "0123abcd");
        record.put("severity", "HIGH");
        record.put(
            "destinations",
            AvroValue::Union(0, Box::new(AvroValue::Null)),
        );
        record.put(
            "alertContext",
            AvroValue::Union(
                1,
                Box::new(AvroValue::String(r#"{"ip":"203.0.113.7"}"#.into())),
            ),
        );
        record.put(
            "samples",
            AvroValue::Array(vec![
                AvroValue::String(r#"{"user":"root"}"#.into()),
                AvroValue::String("not json".into()),
            ]),
        );
        let body = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .expect("writer")
            .write_value_to_vec(record)
            .expect("encode");
        let mut payload = vec![0];
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&body);
        payload
    }

    #[test]
    fn json_text_fields_become_json_and_other_text_stays() {
        let mut alert = json!({
            "alertId": "a",
            "alertContext": "{\"ip\":\"203.0.113.7\",\"n\":[1,2]}",
            "samples": ["{\"user\":\"root\"}", "plain text", {"already": "json"}],
            "title": "{\"not\":\"touched\"}",
        });
        parse_json_text_fields(&mut alert);
        assert_eq!(
            alert,
            json!({
                "alertId": "a",
                "alertContext": {"ip": "203.0.113.7", "n": [1, 2]},
                "samples": [{"user": "root"}, "plain text", {"already": "json"}],
                "title": "{\"not\":\"touched\"}",
            })
        );
    }

    #[test]
    fn a_framed_avro_alert_decodes_to_the_same_json_as_the_json_encoding() {
        let decoder = AlertDecoder::new(Some(&stub_registry()));
        let json = decoder.decode(&framed(7)).expect("decodes");
        assert_eq!(
            json,
            json!({
                "alertId": "0123abcd",
                "severity": "HIGH",
                "destinations": null,
                "alertContext": {"ip": "203.0.113.7"},
                "samples": [{"user": "root"}, "not json"],
            })
        );
        let error = decoder.decode(&framed(8)).expect_err("unknown schema id");
        assert!(error.to_string().contains("schema id 8"), "{error}");
    }

    #[test]
    fn json_needs_no_registry_and_avro_without_one_is_an_error() {
        let decoder = AlertDecoder::new(None);
        assert_eq!(
            decoder.decode(br#"{"alertId":"a"}"#).expect("json"),
            json!({"alertId": "a"})
        );
        assert!(matches!(
            decoder.decode(&[0, 0, 0, 0, 7, 2]),
            Err(DecodeError::NoRegistry)
        ));
        assert!(matches!(
            decoder.decode(b"not json"),
            Err(DecodeError::Json(_))
        ));
    }
}
