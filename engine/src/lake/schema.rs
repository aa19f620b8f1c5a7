//! A log type's lake table schema, derived from its log schema.
//!
//! | log schema type | Parquet/Arrow column |
//! |---|---|
//! | `string` | `Utf8` |
//! | `int`, `smallint`, `bigint` | `Int64` |
//! | `float` | `Float64` |
//! | `boolean` | `Boolean` |
//! | `timestamp` | `Timestamp(µs, UTC)` |
//! | `object` with `fields` | `Struct` of those fields |
//! | `object` with `keepUnknownFields` or no fields, `json` | `Utf8` holding JSON text |
//! | `array` | `List` of the element's type (JSON text when the element is undeclared) |
//!
//! Names are lower case (the Glue catalog's convention, so Athena-style SQL with unquoted
//! names works); when two fields differ only by case the first one wins. The `p_`
//! columns follow the log type's own ([`corvid_lake::columns`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};

use crate::parse::schema::format::{ElementSchema, FieldSchema, FieldType, LogSchema};
use corvid_lake::columns::{event_columns, rule_columns, string_list, timestamp_type};
use corvid_lake::Database;

/// How one value is written: the column type plus, for structs and lists, the shape
/// inside, and the source member name (before lower-casing).
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    Text,
    Integer,
    Float,
    Boolean,
    Timestamp,
    /// Any JSON value, written as its JSON text.
    JsonText,
    Struct(Vec<Member>),
    List(Box<Shape>),
}

/// A struct member or a top-level column of the log type.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The member's name in the event.
    pub source: String,
    /// The column name (lower case).
    pub column: String,
    pub shape: Shape,
}

/// One table's schema: the Arrow schema and how to fill it from an event.
#[derive(Clone, Debug)]
pub struct TableSchema {
    pub arrow: SchemaRef,
    /// The log type's own columns, in order; the `p_` columns follow them.
    pub members: Vec<Member>,
}

impl TableSchema {
    /// The table of `log` in `database`.
    pub fn derive(log: &LogSchema, database: Database) -> TableSchema {
        let mut reserved: BTreeSet<String> = event_columns()
            .iter()
            .chain(rule_columns(database).iter())
            .map(|field| field.name().clone())
            .collect();
        let members = members(&log.fields, &mut reserved);
        let mut fields: Vec<Field> = members.iter().map(arrow_field).collect();
        fields.extend(event_columns());
        fields.extend(rule_columns(database));
        TableSchema {
            arrow: Arc::new(Schema::new(fields)),
            members,
        }
    }
}

/// The members of an object, lower-cased, skipping names already `taken`.
fn members(fields: &[FieldSchema], taken: &mut BTreeSet<String>) -> Vec<Member> {
    fields
        .iter()
        .filter_map(|field| {
            let column = field.name.to_lowercase();
            if !taken.insert(column.clone()) {
                return None;
            }
            Some(Member {
                source: field.name.clone(),
                column,
                shape: shape_of(
                    field.field_type,
                    &field.fields,
                    field.keep_unknown_fields,
                    field.element.as_deref(),
                ),
            })
        })
        .collect()
}

fn shape_of(
    field_type: FieldType,
    fields: &[FieldSchema],
    keep_unknown_fields: bool,
    element: Option<&ElementSchema>,
) -> Shape {
    match field_type {
        FieldType::String => Shape::Text,
        FieldType::Int | FieldType::Smallint | FieldType::Bigint => Shape::Integer,
        FieldType::Float => Shape::Float,
        FieldType::Boolean => Shape::Boolean,
        FieldType::Timestamp => Shape::Timestamp,
        FieldType::Json => Shape::JsonText,
        FieldType::Object if keep_unknown_fields || fields.is_empty() => Shape::JsonText,
        FieldType::Object => Shape::Struct(members(fields, &mut BTreeSet::new())),
        FieldType::Array => match element {
            Some(element) => Shape::List(Box::new(shape_of(
                element.field_type,
                &element.fields,
                false,
                element.element.as_deref(),
            ))),
            None => Shape::List(Box::new(Shape::JsonText)),
        },
    }
}

fn arrow_type(shape: &Shape) -> DataType {
    match shape {
        Shape::Text | Shape::JsonText => DataType::Utf8,
        Shape::Integer => DataType::Int64,
        Shape::Float => DataType::Float64,
        Shape::Boolean => DataType::Boolean,
        Shape::Timestamp => timestamp_type(),
        Shape::Struct(members) => DataType::Struct(Fields::from(
            members.iter().map(arrow_field).collect::<Vec<_>>(),
        )),
        Shape::List(element) => match element.as_ref() {
            Shape::Text | Shape::JsonText => string_list(),
            element => DataType::List(Arc::new(Field::new("item", arrow_type(element), true))),
        },
    }
}

fn arrow_field(member: &Member) -> Field {
    Field::new(&member.column, arrow_type(&member.shape), true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::LogTypeRegistry;

    fn table(log_type: &str) -> TableSchema {
        let registry = LogTypeRegistry::builtin().expect("builtin schemas");
        let parser = registry.get(log_type).expect("log type");
        TableSchema::derive(parser.schema(), Database::Logs)
    }

    #[test]
    fn vpc_flow_columns_are_lower_case_and_typed() {
        let schema = table("AWS.VPCFlow").arrow;
        let field = |name: &str| {
            schema
                .field_with_name(name)
                .unwrap_or_else(|_| panic!("no column {name} in {schema:?}"))
                .data_type()
                .clone()
        };
        assert_eq!(field("srcaddr"), DataType::Utf8);
        assert_eq!(field("dstport"), DataType::Int64);
        assert_eq!(field("instanceid"), DataType::Utf8);
        assert_eq!(field("p_event_time"), timestamp_type());
        assert_eq!(field("p_any_ip_addresses"), string_list());
    }

    #[test]
    fn every_builtin_log_type_derives_a_schema_with_unique_columns() {
        let registry = LogTypeRegistry::builtin().expect("builtin schemas");
        for name in registry.names() {
            let parser = registry.get(name).expect("listed");
            for database in Database::ALL {
                let schema = TableSchema::derive(parser.schema(), database).arrow;
                let mut names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
                let count = names.len();
                names.sort();
                names.dedup();
                assert_eq!(names.len(), count, "duplicate column in {name}");
            }
        }
    }

    #[test]
    fn osquery_columns_map_is_json_text_and_cloudtrail_nests_structs() {
        let osquery = table("Osquery.Differential").arrow;
        assert_eq!(
            osquery
                .field_with_name("columns")
                .expect("columns")
                .data_type(),
            &DataType::Utf8
        );
        let cloudtrail = table("AWS.CloudTrail").arrow;
        assert!(matches!(
            cloudtrail
                .field_with_name("useridentity")
                .expect("userIdentity")
                .data_type(),
            DataType::Struct(_)
        ));
    }
}
