//! The serde model of a schema file.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::parse::indicators::Scanner;

/// One log type's schema.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogSchema {
    /// The log type name, e.g. `AWS.CloudTrail` or `Custom.Login`.
    #[serde(alias = "name")]
    pub schema: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, rename = "referenceURL", alias = "referenceUrl")]
    pub reference_url: String,
    /// Schema version (Panther's `version`); informational.
    #[serde(default)]
    pub version: u32,
    #[serde(default)]
    pub parser: ParserSpec,
    pub fields: Vec<FieldSchema>,
}

/// How a line becomes named values before the fields are applied.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ParserSpec {
    pub csv: Option<CsvSpec>,
    pub regex: Option<RegexSpec>,
    pub native: Option<NativeSpec>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CsvSpec {
    /// One character; `" "` for space-delimited logs with quoted fields.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Column names in order; required unless `hasHeader` is true.
    #[serde(default)]
    pub columns: Vec<String>,
    /// The first line of each stream names the columns (consumed, yields no event).
    #[serde(default)]
    pub has_header: bool,
    /// Values that mean "absent", e.g. `-`.
    #[serde(default)]
    pub empty_values: Vec<String>,
    /// Accept a line with more values than columns, joining the surplus into the last
    /// column (logs whose last column is free text).
    #[serde(default)]
    pub trailing_columns_join: bool,
}

fn default_delimiter() -> String {
    ",".into()
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegexSpec {
    /// Patterns tried in order; named groups `(?P<name>…)` become values. Several
    /// patterns are concatenated, as in Panther.
    #[serde(rename = "match")]
    pub patterns: Vec<String>,
    /// Named sub-patterns usable as `%{NAME}` inside `match`.
    #[serde(default)]
    pub pattern_definitions: BTreeMap<String, String>,
    #[serde(default)]
    pub empty_values: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NativeSpec {
    /// The native parser's name (a built-in log type name).
    pub name: String,
}

/// A field's value type.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Int,
    Smallint,
    Bigint,
    Float,
    Boolean,
    Timestamp,
    Array,
    Object,
    Json,
}

/// One field.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldSchema {
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    /// For `timestamp`: one format; `timeFormats` lists several, tried in order.
    pub time_format: Option<String>,
    #[serde(default)]
    pub time_formats: Vec<String>,
    #[serde(default)]
    pub is_event_time: bool,
    /// For `json`: the value is a string holding JSON, decoded before use.
    #[serde(default, rename = "isEmbeddedJSON")]
    pub is_embedded_json: bool,
    #[serde(default)]
    pub indicators: Vec<Scanner>,
    pub validate: Option<Validation>,
    /// For `object`.
    #[serde(default)]
    pub fields: Vec<FieldSchema>,
    /// For `object` (a Corvid extension): keep members `fields` does not declare, as
    /// they are — for maps such as osquery's `columns`, whose keys depend on the query.
    #[serde(default)]
    pub keep_unknown_fields: bool,
    /// For `array`: the element's schema (its `name` may be omitted).
    pub element: Option<Box<ElementSchema>>,
}

/// An array element: a field without a name.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ElementSchema {
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub time_format: Option<String>,
    #[serde(default)]
    pub time_formats: Vec<String>,
    #[serde(default)]
    pub indicators: Vec<Scanner>,
    #[serde(default)]
    pub fields: Vec<FieldSchema>,
    pub element: Option<Box<ElementSchema>>,
    #[serde(default, rename = "isEmbeddedJSON")]
    pub is_embedded_json: bool,
}

/// Constraints on a string value.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Validation {
    /// The value must be one of these.
    #[serde(default)]
    pub allow: Vec<String>,
    /// The value must not be one of these.
    #[serde(default)]
    pub deny: Vec<String>,
}

impl ElementSchema {
    /// This element as a field called `name`, so arrays reuse the field logic.
    pub fn as_field(&self, name: &str) -> FieldSchema {
        FieldSchema {
            name: name.to_owned(),
            field_type: self.field_type,
            description: String::new(),
            required: false,
            time_format: self.time_format.clone(),
            time_formats: self.time_formats.clone(),
            is_event_time: false,
            is_embedded_json: self.is_embedded_json,
            indicators: self.indicators.clone(),
            validate: None,
            fields: self.fields.clone(),
            keep_unknown_fields: false,
            element: self.element.clone(),
        }
    }
}

impl FieldSchema {
    /// All time formats of a timestamp field, `timeFormat` first.
    pub fn formats(&self) -> impl Iterator<Item = &str> {
        self.time_format
            .iter()
            .chain(self.time_formats.iter())
            .map(String::as_str)
    }
}
