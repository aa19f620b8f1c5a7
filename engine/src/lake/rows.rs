//! Events as rows of their table: the event's JSON reshaped to the table's columns
//! (lower-case names, JSON text where the column is text, values coerced to the column
//! type or null), ready for Arrow's JSON decoder.
//!
//! Members the schema does not declare are not stored (as in Panther's lake); a value
//! that cannot take its column's type becomes null rather than failing the file.

use serde_json::{Map, Value};

use super::schema::{Member, Shape, TableSchema};
use corvid_lake::columns::{event_columns, rule_columns};
use corvid_lake::Database;

/// The row of `fields` (an event, or a rule match or error) in `table`.
pub fn to_row(table: &TableSchema, database: Database, fields: &Map<String, Value>) -> Value {
    let mut row = Map::with_capacity(table.arrow.fields().len());
    for member in &table.members {
        if let Some(value) = fields
            .get(&member.source)
            .and_then(|v| shape(&member.shape, v))
        {
            row.insert(member.column.clone(), value);
        }
    }
    for column in event_columns().iter().chain(rule_columns(database).iter()) {
        let name = column.name();
        let Some(value) = fields.get(name) else {
            continue;
        };
        let value = match name.as_str() {
            // Free-form members of the p_ set: stored as JSON text.
            "p_enrichment" => Some(Value::String(value.to_string())),
            "p_alert_context" => Some(match value {
                Value::String(text) => Value::String(text.clone()),
                other => Value::String(other.to_string()),
            }),
            _ => Some(value.clone()),
        };
        if let Some(value) = value {
            row.insert(name.clone(), value);
        }
    }
    Value::Object(row)
}

fn shape(shape: &Shape, value: &Value) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    match shape {
        Shape::Text => Some(match value {
            Value::String(_) => value.clone(),
            other => Value::String(other.to_string()),
        }),
        Shape::JsonText => Some(Value::String(value.to_string())),
        Shape::Integer => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
                .map(Value::from),
            Value::String(s) => s.trim().parse::<i64>().ok().map(Value::from),
            Value::Bool(b) => Some(Value::from(i64::from(*b))),
            _ => None,
        },
        Shape::Float => match value {
            Value::Number(n) => n.as_f64().map(Value::from),
            Value::String(s) => s.trim().parse::<f64>().ok().map(Value::from),
            _ => None,
        },
        Shape::Boolean => match value {
            Value::Bool(_) => Some(value.clone()),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" => Some(Value::Bool(true)),
                "false" => Some(Value::Bool(false)),
                _ => None,
            },
            _ => None,
        },
        // Normalized events hold Panther's timestamp text, which the decoder parses.
        Shape::Timestamp => value.as_str().map(|s| Value::String(s.to_owned())),
        Shape::Struct(members) => {
            let object = value.as_object()?;
            Some(Value::Object(struct_row(members, object)))
        }
        Shape::List(element) => match value {
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .map(|item| self::shape(element, item).unwrap_or(Value::Null))
                    .collect(),
            )),
            single => self::shape(element, single).map(|v| Value::Array(vec![v])),
        },
    }
}

fn struct_row(members: &[Member], object: &Map<String, Value>) -> Map<String, Value> {
    members
        .iter()
        .filter_map(|member| {
            let value = object.get(&member.source)?;
            Some((member.column.clone(), shape(&member.shape, value)?))
        })
        .collect()
}
