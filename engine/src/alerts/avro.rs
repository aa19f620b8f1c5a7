//! Alerts in Avro: the [`Alert`] record in the Confluent wire format, its schema kept in a
//! schema registry.
//!
//! ```text
//!  Alert ──alert_value──▶ Value::Record (schema order) ──AvroEncoder──▶ 0 | schema id (4 B BE) | Avro binary
//!                                                          │
//!                                  POST subjects/<topic>-value/versions (once, at start)
//! ```
//!
//! # Encoding
//!
//! [`ALERT_SCHEMA`] is the record `corvid.Alert`. Its field names are exactly the JSON
//! names of [`Alert`] (`alertId`, `type`, `ruleId`, …), so the JSON and the Avro encodings
//! of the alerts topic read alike. Counts are `long`s; times are strings in Panther's
//! `YYYY-MM-DD HH:MM:SS.fffffffff` layout, as in the JSON; `type` is the enum
//! `corvid.AlertType` (`RULE`, `RULE_ERROR`).
//!
//! Free-form JSON has no Avro type: Avro schemas are fixed, a rule's `alert_context()` and
//! a sample event are not. They are carried as JSON *text*: `alertContext` is the JSON text
//! of the context (or null), `samples` one JSON text per sample event. A consumer parses
//! those strings with any JSON parser.
//!
//! Every optional field (`destinations`, `outputIds`, `alertContext`, `error`) is a union
//! with `null` first and a `null` default, so fields can be added later without breaking
//! readers of the older schema (the registry's backward-compatibility check accepts it).
//! `outputIds` is always null for now: [`Alert`] has no output ids yet.
//!
//! The value is built by hand from the struct, field by field in schema order, not through
//! JSON: the schema and [`alert_value`] are the contract, and a unit test checks that the
//! schema names every JSON field of [`Alert`].
//!
//! # Avro alerts
//!
//! [`AlertAvroEncoder::new`] registers the schema under the subject `<topic>-value`
//! (Confluent's TopicNameStrategy) — or finds it already registered — and fails at once if
//! the registry refuses it or cannot be reached, so a misconfigured engine stops at
//! start-up rather than at its first alert. Each record on the topic is then a zero magic
//! byte, the schema's registry id (4 bytes, big-endian) and the Avro binary body; the record
//! key is the alert id, as for JSON alerts.
//!
//! A consumer decodes them as it would any Confluent-framed Avro: a stock Avro
//! deserializer (Confluent's `KafkaAvroDeserializer`, `confluent_kafka`'s
//! `AvroDeserializer`, …) pointed at the same registry reads the schema id from the frame,
//! fetches the writer schema by id, and decodes the body; then it parses `alertContext`
//! and each of `samples` as JSON. `engine/tests/avro_alert_consumer.py` is such a consumer.
//!
//! # Errors
//!
//! [`AlertAvroError`] names the registry URL (credentials removed) and the subject, and for
//! an alert that cannot be encoded, the alert id.

use std::collections::HashMap;

use apache_avro::types::Value;
use schema_registry_converter::blocking::avro::AvroEncoder;
use schema_registry_converter::blocking::schema_registry::{get_schema_by_subject, SrSettings};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};

use super::{Alert, AlertType};

/// The full name of the alert record in [`ALERT_SCHEMA`].
pub const ALERT_SCHEMA_NAME: &str = "corvid.Alert";

/// The Avro schema of an alert: the record `corvid.Alert`, fields in the order
/// [`alert_value`] writes them.
pub const ALERT_SCHEMA: &str = r#"{
  "type": "record",
  "name": "Alert",
  "namespace": "corvid",
  "doc": "A Corvid alert (Panther's alert fields). Free-form JSON (alertContext, samples) is carried as JSON text.",
  "fields": [
    {"name": "alertId", "type": "string"},
    {"name": "type", "type": {"type": "enum", "name": "AlertType", "symbols": ["RULE", "RULE_ERROR"]}},
    {"name": "ruleId", "type": "string"},
    {"name": "ruleVersion", "type": "string"},
    {"name": "title", "type": "string"},
    {"name": "severity", "type": "string"},
    {"name": "dedupString", "type": "string"},
    {"name": "dedupPeriodMinutes", "type": "long"},
    {"name": "threshold", "type": "long"},
    {"name": "eventCount", "type": "long"},
    {"name": "creationTime", "type": "string", "doc": "YYYY-MM-DD HH:MM:SS.fffffffff"},
    {"name": "updateTime", "type": "string", "doc": "YYYY-MM-DD HH:MM:SS.fffffffff"},
    {"name": "firstEventTime", "type": "string", "doc": "YYYY-MM-DD HH:MM:SS.fffffffff"},
    {"name": "lastEventTime", "type": "string", "doc": "YYYY-MM-DD HH:MM:SS.fffffffff"},
    {"name": "logTypes", "type": {"type": "array", "items": "string"}},
    {"name": "displayName", "type": "string"},
    {"name": "description", "type": "string"},
    {"name": "reference", "type": "string"},
    {"name": "runbook", "type": "string"},
    {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "reports", "type": {"type": "map", "values": {"type": "array", "items": "string"}}},
    {"name": "destinations", "type": ["null", {"type": "array", "items": "string"}], "default": null},
    {"name": "outputIds", "type": ["null", {"type": "array", "items": "string"}], "default": null},
    {"name": "alertContext", "type": ["null", "string"], "default": null, "doc": "JSON text of the rule's alert_context()"},
    {"name": "error", "type": ["null", "string"], "default": null},
    {"name": "samples", "type": {"type": "array", "items": "string"}, "doc": "JSON text of each sample event"}
  ]
}"#;

#[derive(Debug, thiserror::Error)]
pub enum AlertAvroError {
    #[error("the schema registry URL does not parse: {0}")]
    RegistryUrl(url::ParseError),
    #[error("schema registry {registry}: cannot register or find subject {subject}: {source}")]
    Registry {
        registry: String,
        subject: String,
        source: Box<SRCError>,
    },
    #[error("alert {alert_id}: {field} = {value} does not fit an Avro long")]
    OutOfRange {
        alert_id: String,
        field: &'static str,
        value: u64,
    },
    #[error("alert {alert_id} does not encode for subject {subject} (schema registry {registry}): {source}")]
    Encode {
        alert_id: String,
        registry: String,
        subject: String,
        source: Box<SRCError>,
    },
}

/// Encodes alerts for one topic, with the schema registered under `<topic>-value`.
///
/// Invariant: every record [`encode`](Self::encode) returns is framed with the id of
/// [`ALERT_SCHEMA`] in the registry given to [`new`](Self::new).
pub struct AlertAvroEncoder {
    /// The registry URL without credentials, for messages.
    registry: String,
    subject: String,
    schema_id: u32,
    strategy: SubjectNameStrategy,
    encoder: AvroEncoder,
}

impl std::fmt::Debug for AlertAvroEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertAvroEncoder")
            .field("registry", &self.registry)
            .field("subject", &self.subject)
            .field("schema_id", &self.schema_id)
            .finish()
    }
}

impl AlertAvroEncoder {
    /// Registers [`ALERT_SCHEMA`] under `<topic>-value` (a registry answers with the
    /// existing id when it is already there).
    pub fn new(registry_url: &str, topic: &str) -> Result<AlertAvroEncoder, AlertAvroError> {
        let registry = without_credentials(registry_url)?;
        let subject = format!("{topic}-value");
        let registry_error = |source| AlertAvroError::Registry {
            registry: registry.clone(),
            subject: subject.clone(),
            source: Box::new(source),
        };
        let settings = SrSettings::new_builder(registry_url.to_owned())
            .build()
            .map_err(registry_error)?;
        let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
            topic.to_owned(),
            false,
            SuppliedSchema::new(
                Some(ALERT_SCHEMA_NAME.to_owned()),
                SchemaType::Avro,
                ALERT_SCHEMA.to_owned(),
            ),
        );
        let schema_id = get_schema_by_subject(&settings, &strategy)
            .map_err(registry_error)?
            .id;
        Ok(AlertAvroEncoder {
            registry,
            subject,
            schema_id,
            strategy,
            encoder: AvroEncoder::new(settings),
        })
    }

    /// The registry id of [`ALERT_SCHEMA`] under [`subject`](Self::subject).
    pub fn schema_id(&self) -> u32 {
        self.schema_id
    }

    /// `<topic>-value`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The alert as a Confluent-framed Avro record.
    pub fn encode(&self, alert: &Alert) -> Result<Vec<u8>, AlertAvroError> {
        self.encoder
            .encode(alert_fields(alert)?, &self.strategy)
            .map_err(|source| AlertAvroError::Encode {
                alert_id: alert.alert_id.clone(),
                registry: self.registry.clone(),
                subject: self.subject.clone(),
                source: Box::new(source),
            })
    }
}

/// The alert as an Avro record of [`ALERT_SCHEMA`], fields in schema order.
pub fn alert_value(alert: &Alert) -> Result<Value, AlertAvroError> {
    Ok(Value::Record(
        alert_fields(alert)?
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
    ))
}

/// The symbol indexes follow the order of `corvid.AlertType`'s symbols.
fn alert_type(alert_type: AlertType) -> Value {
    match alert_type {
        AlertType::Rule => Value::Enum(0, "RULE".to_owned()),
        AlertType::RuleError => Value::Enum(1, "RULE_ERROR".to_owned()),
    }
}

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn strings(texts: &[String]) -> Value {
    Value::Array(texts.iter().map(|t| string(t)).collect())
}

/// A `["null", T]` union: branch 0 for null, 1 for a value.
fn nullable(value: Option<Value>) -> Value {
    match value {
        None => Value::Union(0, Box::new(Value::Null)),
        Some(value) => Value::Union(1, Box::new(value)),
    }
}

fn alert_fields(alert: &Alert) -> Result<Vec<(&'static str, Value)>, AlertAvroError> {
    let long = |field: &'static str, value: u64| {
        i64::try_from(value)
            .map(Value::Long)
            .map_err(|_| AlertAvroError::OutOfRange {
                alert_id: alert.alert_id.clone(),
                field,
                value,
            })
    };
    let reports: HashMap<String, Value> = alert
        .reports
        .iter()
        .map(|(framework, ids)| (framework.clone(), strings(ids)))
        .collect();
    Ok(vec![
        ("alertId", string(&alert.alert_id)),
        ("type", alert_type(alert.alert_type)),
        ("ruleId", string(&alert.rule_id)),
        ("ruleVersion", string(&alert.rule_version)),
        ("title", string(&alert.title)),
        ("severity", string(&alert.severity)),
        ("dedupString", string(&alert.dedup_string)),
        (
            "dedupPeriodMinutes",
            long("dedupPeriodMinutes", alert.dedup_period_minutes)?,
        ),
        ("threshold", long("threshold", alert.threshold)?),
        ("eventCount", long("eventCount", alert.event_count)?),
        ("creationTime", string(&alert.creation_time)),
        ("updateTime", string(&alert.update_time)),
        ("firstEventTime", string(&alert.first_event_time)),
        ("lastEventTime", string(&alert.last_event_time)),
        ("logTypes", strings(&alert.log_types)),
        ("displayName", string(&alert.display_name)),
        ("description", string(&alert.description)),
        ("reference", string(&alert.reference)),
        ("runbook", string(&alert.runbook)),
        ("tags", strings(&alert.tags)),
        ("reports", Value::Map(reports)),
        (
            "destinations",
            nullable(alert.destinations.as_deref().map(strings)),
        ),
        ("outputIds", nullable(None)),
        (
            "alertContext",
            nullable(
                alert
                    .alert_context
                    .as_ref()
                    .map(|context| Value::String(context.to_string())),
            ),
        ),
        ("error", nullable(alert.error.as_deref().map(string))),
        (
            "samples",
            Value::Array(
                alert
                    .samples
                    .iter()
                    .map(|sample| Value::String(sample.to_string()))
                    .collect(),
            ),
        ),
    ])
}

/// The URL as messages may show it: user name and password removed.
fn without_credentials(registry_url: &str) -> Result<String, AlertAvroError> {
    let mut url = url::Url::parse(registry_url).map_err(AlertAvroError::RegistryUrl)?;
    // Both fail only for URLs that cannot hold credentials, which then hold none.
    let _ = url.set_password(None);
    let _ = url.set_username("");
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use apache_avro::reader::datum::GenericDatumReader;
    use apache_avro::writer::datum::GenericDatumWriter;
    use apache_avro::Schema;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn schema() -> Schema {
        Schema::parse_str(ALERT_SCHEMA).expect("the alert schema parses")
    }

    /// An alert with every optional field set.
    fn full_alert() -> Alert {
        Alert {
            alert_id: "3f2a9c".into(),
            alert_type: AlertType::Rule,
            rule_id: "Osquery.SSHLoginOutside".into(),
            rule_version: "v1".into(),
            title: "mallory logged in from 198.51.100.66".into(),
            severity: "HIGH".into(),
            dedup_string: "mallory".into(),
            dedup_period_minutes: 60,
            threshold: 1,
            event_count: 3,
            creation_time: "2026-11-27 20:01:02.000000000".into(),
            update_time: "2026-11-27 20:01:04.200000000".into(),
            first_event_time: "2026-11-27 20:01:02.000000000".into(),
            last_event_time: "2026-11-27 20:01:03.500000000".into(),
            log_types: vec!["Osquery.Differential".into()],
            display_name: "SSH login from outside".into(),
            description: "A login from an address outside the fleet.".into(),
            reference: "https://example.com/runbooks/ssh".into(),
            runbook: "Ask the user.".into(),
            tags: vec!["Initial Access".into(), "SSH".into()],
            reports: BTreeMap::from([("MITRE ATT&CK".into(), vec!["TA0001:T1078".into()])]),
            destinations: Some(vec!["slack-soc".into()]),
            alert_context: Some(json!({"user": "mallory", "ports": [22, 2222], "geo": null})),
            error: Some("ValueError: no such key".into()),
            samples: vec![
                json!({"user": "mallory", "p_log_type": "Osquery.Differential"}),
                json!({"user": "mallory", "nested": {"n": 1.5}}),
            ],
        }
    }

    fn round_trip(alert: &Alert) -> Vec<(String, Value)> {
        let schema = schema();
        let body = GenericDatumWriter::builder(&schema)
            .build()
            .expect("writer")
            .write_value_to_vec(alert_value(alert).expect("value"))
            .expect("the value matches the schema");
        let decoded = GenericDatumReader::builder(&schema)
            .build()
            .expect("reader")
            .read_value(&mut body.as_slice())
            .expect("decodes");
        match decoded {
            Value::Record(fields) => fields,
            other => panic!("not a record: {other:?}"),
        }
    }

    fn field<'a>(fields: &'a [(String, Value)], name: &str) -> &'a Value {
        &fields
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no field {name}"))
            .1
    }

    fn text(value: &Value) -> &str {
        match value {
            Value::String(text) => text,
            other => panic!("not a string: {other:?}"),
        }
    }

    fn texts(value: &Value) -> Vec<&str> {
        match value {
            Value::Array(items) => items.iter().map(text).collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    #[test]
    fn the_schema_parses_and_names_every_json_field_of_an_alert_in_order() {
        let Schema::Record(record) = schema() else {
            panic!("the alert schema is a record");
        };
        assert_eq!(record.name.fullname(None), ALERT_SCHEMA_NAME);
        let avro_names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
        let json = serde_json::to_value(full_alert()).expect("alert JSON");
        let mut json_names: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        json_names.push("outputIds");
        let mut sorted = avro_names.clone();
        sorted.sort_unstable();
        json_names.sort_unstable();
        assert_eq!(sorted, json_names);
        let Value::Record(value) = alert_value(&full_alert()).expect("value") else {
            panic!("a record value");
        };
        let value_names: Vec<&str> = value.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(value_names, avro_names, "the value is in schema order");
    }

    #[test]
    fn an_encoded_alert_decodes_to_the_same_fields() {
        let alert = full_alert();
        let fields = round_trip(&alert);
        assert_eq!(
            fields,
            match alert_value(&alert).expect("value") {
                Value::Record(fields) => fields,
                other => panic!("not a record: {other:?}"),
            }
        );
        assert_eq!(text(field(&fields, "alertId")), alert.alert_id);
        assert_eq!(
            field(&fields, "type"),
            &Value::Enum(0, "RULE".into()),
            "RULE is the first symbol"
        );
        assert_eq!(text(field(&fields, "title")), alert.title);
        assert_eq!(field(&fields, "eventCount"), &Value::Long(3));
        assert_eq!(field(&fields, "dedupPeriodMinutes"), &Value::Long(60));
        assert_eq!(text(field(&fields, "lastEventTime")), alert.last_event_time);
        assert_eq!(texts(field(&fields, "tags")), ["Initial Access", "SSH"]);
        let Value::Map(reports) = field(&fields, "reports") else {
            panic!("reports is a map");
        };
        assert_eq!(texts(&reports["MITRE ATT&CK"]), ["TA0001:T1078"]);
        let Value::Union(1, destinations) = field(&fields, "destinations") else {
            panic!("destinations are set");
        };
        assert_eq!(texts(destinations), ["slack-soc"]);
        assert_eq!(
            field(&fields, "outputIds"),
            &Value::Union(0, Box::new(Value::Null))
        );
        let Value::Union(1, context) = field(&fields, "alertContext") else {
            panic!("the context is set");
        };
        let context: serde_json::Value =
            serde_json::from_str(text(context)).expect("the context is JSON text");
        assert_eq!(Some(context), alert.alert_context);
        let samples: Vec<serde_json::Value> = texts(field(&fields, "samples"))
            .into_iter()
            .map(|s| serde_json::from_str(s).expect("a sample is JSON text"))
            .collect();
        assert_eq!(samples, alert.samples);
    }

    #[test]
    fn absent_optional_fields_are_the_null_branch() {
        let alert = Alert {
            alert_type: AlertType::RuleError,
            destinations: None,
            alert_context: None,
            error: None,
            samples: Vec::new(),
            ..full_alert()
        };
        let fields = round_trip(&alert);
        assert_eq!(field(&fields, "type"), &Value::Enum(1, "RULE_ERROR".into()));
        for name in ["destinations", "outputIds", "alertContext", "error"] {
            assert_eq!(
                field(&fields, name),
                &Value::Union(0, Box::new(Value::Null)),
                "{name}"
            );
        }
        assert_eq!(field(&fields, "samples"), &Value::Array(Vec::new()));
    }

    #[test]
    fn a_count_beyond_a_long_is_an_error_naming_the_alert_and_field() {
        let alert = Alert {
            event_count: u64::MAX,
            ..full_alert()
        };
        let error = alert_value(&alert).expect_err("out of range");
        assert_eq!(
            error.to_string(),
            format!(
                "alert 3f2a9c: eventCount = {} does not fit an Avro long",
                u64::MAX
            )
        );
    }

    #[test]
    fn an_unreachable_registry_fails_at_start_naming_it_and_the_subject_without_secrets() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let error = AlertAvroEncoder::new(
            &format!("http://corvid:s3cret@127.0.0.1:{port}/apis/ccompat/v6"),
            "prod.alerts",
        )
        .expect_err("nothing listens there");
        let message = error.to_string();
        assert!(
            message.contains(&format!("http://127.0.0.1:{port}/apis/ccompat/v6")),
            "{message}"
        );
        assert!(message.contains("prod.alerts-value"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}
