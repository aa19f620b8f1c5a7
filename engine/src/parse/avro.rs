//! Confluent-framed Avro records, decoded through a schema registry.
//!
//! The Confluent wire format is a zero "magic" byte, the writer schema's registry id as a
//! 4-byte big-endian integer, then the Avro binary body. A framed record is decoded to
//! JSON (the writer schema fetched from the registry once per id and cached), and the
//! JSON goes through the source's log types like any JSON line. The raw record — framing
//! included — is what a dead letter keeps.
//!
//! A zero first byte never starts a JSON or text log line, so detection is unambiguous.

use schema_registry_converter::blocking::avro::AvroDecoder;
use schema_registry_converter::blocking::schema_registry::SrSettings;
use serde_json::Value;

use super::ParseRefusal;

/// The registry id in a Confluent-framed payload, if it is one.
pub fn confluent_schema_id(payload: &[u8]) -> Option<u32> {
    match payload {
        [0, a, b, c, d, _body @ ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// Decodes framed records with schemas from one registry.
pub struct AvroDecoding {
    url: String,
    decoder: AvroDecoder,
}

impl std::fmt::Debug for AvroDecoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroDecoding")
            .field("url", &self.url)
            .finish()
    }
}

impl AvroDecoding {
    pub fn new(registry_url: &str) -> AvroDecoding {
        AvroDecoding {
            url: registry_url.to_owned(),
            decoder: AvroDecoder::new(SrSettings::new(registry_url.to_owned())),
        }
    }

    /// The record as JSON text.
    pub fn to_json(&self, payload: &[u8]) -> Result<Vec<u8>, ParseRefusal> {
        let id = confluent_schema_id(payload).unwrap_or_default();
        let decoded = self.decoder.decode(Some(payload)).map_err(|e| {
            ParseRefusal::new(format!("Avro record (schema id {id}) does not decode: {e}"))
        })?;
        let json = Value::try_from(decoded.value).map_err(|e| {
            ParseRefusal::new(format!(
                "Avro record (schema id {id}) has no JSON form: {e}"
            ))
        })?;
        serde_json::to_vec(&json)
            .map_err(|e| ParseRefusal::new(format!("Avro record (schema id {id}): {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    const SCHEMA: &str = r#"{"type":"record","name":"Login","fields":[{"name":"user","type":"string"},{"name":"ip","type":"string"},{"name":"port","type":"int"}]}"#;

    /// Answers every request with schema id 1, as a registry would; one client behaviour
    /// under test, not a registry (the pipeline test uses a real one).
    fn stub_registry() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let Ok(mut stream) = stream else { continue };
                let mut request = [0u8; 4096];
                let read = stream.read(&mut request).unwrap_or(0);
                let asked_for_one =
                    String::from_utf8_lossy(&request[..read]).contains("/schemas/ids/1");
                let body = if asked_for_one {
                    serde_json::json!({ "schema": SCHEMA }).to_string()
                } else {
                    r#"{"error_code":40403,"message":"Schema not found"}"#.to_owned()
                };
                let status = if asked_for_one {
                    "200 OK"
                } else {
                    "404 Not Found"
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: application/vnd.schemaregistry.v1+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        format!("http://{address}")
    }

    fn framed(id: u32) -> Vec<u8> {
        use apache_avro::types::Record;
        let schema = apache_avro::Schema::parse_str(SCHEMA).expect("schema");
        let mut record = Record::new(&schema).expect("record schema");
        record.put("user", "alice");
        record.put("ip", "203.0.113.7");
        record.put("port", 22);
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
    fn a_framed_record_decodes_to_json_with_the_registry_schema() {
        let decoding = AvroDecoding::new(&stub_registry());
        let json: Value =
            serde_json::from_slice(&decoding.to_json(&framed(1)).expect("decodes")).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"user": "alice", "ip": "203.0.113.7", "port": 22})
        );
        let refusal = decoding.to_json(&framed(2)).expect_err("unknown id");
        assert!(refusal.0.contains("schema id 2"), "{refusal}");
    }

    #[test]
    fn only_the_confluent_framing_is_recognized() {
        assert_eq!(confluent_schema_id(&[0, 0, 0, 1, 7, 2, 4]), Some(263));
        assert_eq!(confluent_schema_id(&[0, 0, 0, 1, 7]), Some(263));
        assert_eq!(confluent_schema_id(b"{\"a\":1}"), None);
        assert_eq!(confluent_schema_id(&[0, 0, 1]), None);
        assert_eq!(confluent_schema_id(b""), None);
    }
}
