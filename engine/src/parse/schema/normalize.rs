//! Applying a schema's fields to a decoded record.
//!
//! Input is a JSON object (decoded JSON, or the named values of a CSV, regex or native
//! parser, where every value is a string). Output keeps only declared fields, typed:
//! integers and floats become numbers (numeric strings accepted), booleans accept
//! `true`/`false` strings, timestamps become Panther's `YYYY-MM-DD HH:MM:SS.fffffffff`
//! UTC text, `json` fields are kept as they are. Nulls are dropped. Key lookup is exact
//! first, then case-insensitive (Go's JSON decoding, which Panther used, matched keys
//! that way). Output names go through [`column_name`] as Panther's Glue columns did.
//!
//! The record is refused (with the field's path in the reason) when a required field is
//! missing, a value does not fit its type, or a `validate` rule fails.

use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};

use super::format::{FieldSchema, FieldType};
use super::time_format::parse_with_formats;
use crate::event::format_timestamp;
use crate::parse::indicators::Indicators;
use crate::parse::{ParseRefusal, ParsedRecord};

/// How a record is normalized beyond its fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct NormalizeOptions {
    /// Scan `json` fields with the AWS deep extractor (AWS log types).
    pub aws_deep_scan: bool,
}

/// Normalizes `input` with `fields`.
pub fn normalize(
    fields: &[FieldSchema],
    input: &Map<String, Value>,
    options: NormalizeOptions,
) -> Result<ParsedRecord, ParseRefusal> {
    let mut context = Context {
        options,
        event_time: None,
        indicators: Indicators::default(),
    };
    let fields = normalize_object(fields, input, "", &mut context)?;
    Ok(ParsedRecord {
        fields,
        event_time: context.event_time,
        indicators: context.indicators,
    })
}

struct Context {
    options: NormalizeOptions,
    event_time: Option<DateTime<Utc>>,
    indicators: Indicators,
}

fn lookup<'a>(input: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    input.get(name).or_else(|| {
        input
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

fn normalize_object(
    fields: &[FieldSchema],
    input: &Map<String, Value>,
    prefix: &str,
    context: &mut Context,
) -> Result<Map<String, Value>, ParseRefusal> {
    let mut out = Map::new();
    for field in fields {
        let path = if prefix.is_empty() {
            field.name.clone()
        } else {
            format!("{prefix}.{}", field.name)
        };
        let value = match lookup(input, &field.name) {
            Some(value) => normalize_value(field, value, &path, context)?,
            None => None,
        };
        match value {
            Some(value) => {
                out.insert(column_name(&field.name), value);
            }
            None if field.required => {
                return Err(ParseRefusal::new(format!("missing required field {path}")));
            }
            None => {}
        }
    }
    Ok(out)
}

fn mismatch(path: &str, expected: &str, value: &Value) -> ParseRefusal {
    let mut shown = value.to_string();
    if shown.len() > 80 {
        let cut = (0..=80)
            .rev()
            .find(|&i| shown.is_char_boundary(i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    ParseRefusal::new(format!("field {path}: expected {expected}, got {shown}"))
}

fn normalize_value(
    field: &FieldSchema,
    value: &Value,
    path: &str,
    context: &mut Context,
) -> Result<Option<Value>, ParseRefusal> {
    if value.is_null() {
        return Ok(None);
    }
    let normalized = match field.field_type {
        FieldType::String => {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(_) | Value::Bool(_) => value.to_string(),
                _ => return Err(mismatch(path, "a string", value)),
            };
            if let Some(rule) = &field.validate {
                if !rule.allow.is_empty() && !rule.allow.iter().any(|a| a == &text) {
                    return Err(ParseRefusal::new(format!(
                        "field {path}: {text:?} is not one of {:?}",
                        rule.allow
                    )));
                }
                if rule.deny.iter().any(|d| d == &text) {
                    return Err(ParseRefusal::new(format!(
                        "field {path}: {text:?} is not allowed"
                    )));
                }
            }
            for &scanner in &field.indicators {
                context.indicators.scan(scanner, &text);
            }
            Value::String(text)
        }
        FieldType::Int | FieldType::Smallint | FieldType::Bigint => {
            let integer = match value {
                Value::Number(n) => n
                    .as_i64()
                    .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
                Value::String(s) if s.trim().is_empty() => return Ok(None),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            let integer = integer.ok_or_else(|| mismatch(path, "an integer", value))?;
            for &scanner in &field.indicators {
                context.indicators.scan(scanner, &integer.to_string());
            }
            Value::from(integer)
        }
        FieldType::Float => {
            let float = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) if s.trim().is_empty() => return Ok(None),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            let number = float
                .and_then(Number::from_f64)
                .ok_or_else(|| mismatch(path, "a number", value))?;
            Value::Number(number)
        }
        FieldType::Boolean => match value {
            Value::Bool(b) => Value::Bool(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            Value::String(s) if s.trim().is_empty() => return Ok(None),
            _ => return Err(mismatch(path, "a boolean", value)),
        },
        FieldType::Timestamp => {
            let mut formats = field.formats().peekable();
            let time = if formats.peek().is_none() {
                parse_with_formats(value, ["rfc3339"].into_iter())
            } else {
                parse_with_formats(value, formats)
            };
            let time = match (time, value) {
                (Some(time), _) => time,
                (None, Value::String(s)) if s.trim().is_empty() => return Ok(None),
                (None, _) => {
                    let formats: Vec<&str> = field.formats().collect();
                    return Err(mismatch(path, &format!("a time in {formats:?}"), value));
                }
            };
            if field.is_event_time && context.event_time.is_none() {
                context.event_time = Some(time);
            }
            Value::String(format_timestamp(&time))
        }
        FieldType::Object => {
            let Value::Object(members) = value else {
                return Err(mismatch(path, "an object", value));
            };
            if field.fields.is_empty() {
                value.clone()
            } else {
                let mut object = normalize_object(&field.fields, members, path, context)?;
                if field.keep_unknown_fields {
                    for (key, member) in members {
                        let declared = field
                            .fields
                            .iter()
                            .any(|f| f.name.eq_ignore_ascii_case(key));
                        if !declared && !member.is_null() {
                            object.insert(key.clone(), member.clone());
                        }
                    }
                }
                Value::Object(object)
            }
        }
        FieldType::Array => {
            let Value::Array(items) = value else {
                return Err(mismatch(path, "an array", value));
            };
            let Some(element) = &field.element else {
                return Ok(Some(value.clone()));
            };
            let element = element.as_field(&field.name);
            let mut out = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                if let Some(item) =
                    normalize_value(&element, item, &format!("{path}[{index}]"), context)?
                {
                    out.push(item);
                }
            }
            Value::Array(out)
        }
        FieldType::Json => {
            let decoded = match value {
                Value::String(text) if field.is_embedded_json => serde_json::from_str(text)
                    .map_err(|e| {
                        ParseRefusal::new(format!(
                            "field {path}: embedded JSON does not decode: {e}"
                        ))
                    })?,
                other => other.clone(),
            };
            if context.options.aws_deep_scan {
                context.indicators.scan_aws_json(&decoded);
            }
            decoded
        }
    };
    Ok(Some(normalized))
}

/// Panther's Glue column name for a field: ASCII letters, digits, `_` and `-` kept; a few
/// symbols spelled out; anything else becomes `_` (so Zeek's `id.orig_h` is `id_orig_h`).
pub fn column_name(name: &str) -> String {
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => out.push(c),
            '@' => out.push_str("at_sign"),
            ',' => out.push_str("comma"),
            '`' => out.push_str("backtick"),
            '\'' => out.push_str("apostrophe"),
            '$' => out.push_str("dollar_sign"),
            '*' => out.push_str("asterisk"),
            '&' => out.push_str("ampersand"),
            _ => out.push('_'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::schema::LogSchema;
    use serde_json::json;

    fn schema(yaml: &str) -> LogSchema {
        serde_yaml_ng::from_str(yaml).expect("schema parses")
    }

    const LOGIN: &str = r#"
schema: Custom.Login
fields:
  - { name: time, type: timestamp, timeFormat: unix_ms, isEventTime: true, required: true }
  - { name: user, type: string, indicators: [username], required: true }
  - { name: kind, type: string, validate: { allow: [login, logout] } }
  - { name: port, type: int }
  - { name: ratio, type: float }
  - { name: ok, type: boolean }
  - name: src
    type: object
    keepUnknownFields: true
    fields:
      - { name: ip, type: string, indicators: [ip] }
      - { name: id.orig_h, type: string }
  - name: hops
    type: array
    element: { type: string, indicators: [hostname] }
  - { name: extra, type: json }
"#;

    fn run(input: Value) -> Result<ParsedRecord, ParseRefusal> {
        let Value::Object(map) = input else {
            panic!("object")
        };
        normalize(&schema(LOGIN).fields, &map, NormalizeOptions::default())
    }

    #[test]
    fn fields_are_typed_renamed_and_unknown_keys_dropped() {
        let parsed = run(json!({
            "time": 1555924277123i64, "User": "alice", "kind": "login", "port": "22", "ratio": "0.5",
            "ok": "TRUE", "src": {"ip": "10.0.0.1", "id.orig_h": "x", "port": "22"}, "hops": ["a.example", "10.0.0.9", null],
            "extra": {"any": ["thing"]}, "unknown": 1, "nothing": null
        }))
        .expect("parses");
        assert_eq!(
            Value::Object(parsed.fields),
            json!({"time": "2019-04-22 09:11:17.123000000", "user": "alice", "kind": "login", "port": 22,
                   "ratio": 0.5, "ok": true, "src": {"ip": "10.0.0.1", "id_orig_h": "x", "port": "22"},
                   "hops": ["a.example", "10.0.0.9"], "extra": {"any": ["thing"]}})
        );
        assert_eq!(
            parsed.event_time.map(|t| format_timestamp(&t)).as_deref(),
            Some("2019-04-22 09:11:17.123000000")
        );
        let mut out = Map::new();
        parsed.indicators.write_into(&mut out);
        assert_eq!(out["p_any_ip_addresses"], json!(["10.0.0.1", "10.0.0.9"]));
        assert_eq!(out["p_any_domain_names"], json!(["a.example"]));
        assert_eq!(out["p_any_usernames"], json!(["alice"]));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (json!({"user": "a"}), "missing required field time"),
            (
                json!({"time": 1, "user": "a", "kind": "reboot"}),
                "field kind",
            ),
            (
                json!({"time": 1, "user": "a", "port": "ssh"}),
                "field port: expected an integer",
            ),
            (
                json!({"time": "noon", "user": "a"}),
                "field time: expected a time",
            ),
            (
                json!({"time": 1, "user": "a", "src": {"ip": ["x"]}}),
                "field src.ip: expected a string",
            ),
            (
                json!({"time": 1, "user": "a", "hops": [1, {"a": 1}]}),
                "field hops[1]",
            ),
        ];
        for (input, expected) in cases {
            let refusal = run(input.clone()).expect_err("refused");
            assert!(refusal.0.contains(expected), "{input}: {refusal}");
        }
    }

    #[test]
    fn column_names_follow_glue_rules() {
        assert_eq!(column_name("id.orig_h"), "id_orig_h");
        assert_eq!(column_name("account-id"), "account-id");
        assert_eq!(column_name("@timestamp"), "at_signtimestamp");
        assert_eq!(column_name("plain_Name9"), "plain_Name9");
    }
}
