//! The log type registry: every log type Corvid can parse, by name.
//!
//! Built from the built-in schemas plus the user's schema directory. Each entry pairs a
//! framing (JSON, CSV, regex or native) with the schema's fields; parsing a record is
//! always "frame, then normalize", so built-in and custom log types behave alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::native::{self, NativeParser, ParseContext};
use super::schema::loader::SchemaSource;
use super::schema::normalize::{normalize, NormalizeOptions};
use super::schema::{builtin_schemas, load_schema_dir, LogSchema, SchemaError};
use super::text::{CsvFraming, RegexFraming};
use super::{ParseRefusal, ParsedRecord};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("invalid schema {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug)]
enum Framing {
    Json,
    Csv(CsvFraming),
    Regex(RegexFraming),
    Native(Box<dyn NativeParser>),
}

/// One log type: how to frame its records and the schema that normalizes them.
#[derive(Debug)]
pub struct LogTypeParser {
    schema: LogSchema,
    framing: Framing,
    options: NormalizeOptions,
}

impl LogTypeParser {
    fn new(source: &SchemaSource) -> Result<LogTypeParser, RegistryError> {
        let schema = &source.schema;
        let invalid = |message: String| RegistryError::Invalid {
            path: source.path.clone(),
            message,
        };
        let spec = &schema.parser;
        let kinds = [
            spec.csv.is_some(),
            spec.regex.is_some(),
            spec.native.is_some(),
        ];
        if kinds.iter().filter(|&&k| k).count() > 1 {
            return Err(invalid(
                "parser: name at most one of csv, regex, native".into(),
            ));
        }
        let framing = if let Some(csv) = &spec.csv {
            Framing::Csv(CsvFraming::new(csv).map_err(invalid)?)
        } else if let Some(regex) = &spec.regex {
            Framing::Regex(RegexFraming::new(regex).map_err(invalid)?)
        } else if let Some(native) = &spec.native {
            Framing::Native(native::lookup(&native.name).ok_or_else(|| {
                invalid(format!(
                    "parser.native.name: no native parser {:?}",
                    native.name
                ))
            })?)
        } else {
            Framing::Json
        };
        if schema.fields.is_empty() {
            return Err(invalid("fields: a schema needs at least one field".into()));
        }
        Ok(LogTypeParser {
            options: NormalizeOptions {
                aws_deep_scan: schema.schema.starts_with("AWS."),
            },
            schema: schema.clone(),
            framing,
        })
    }

    pub fn name(&self) -> &str {
        &self.schema.schema
    }

    pub fn schema(&self) -> &LogSchema {
        &self.schema
    }

    /// Parses one raw record of a stream: zero or more normalized records.
    pub fn parse(
        &self,
        line: &[u8],
        state: &mut Option<Value>,
        context: &ParseContext,
    ) -> Result<Vec<ParsedRecord>, ParseRefusal> {
        let framed: Vec<Map<String, Value>> = match &self.framing {
            Framing::Json => vec![native::json_object(line)?],
            Framing::Csv(csv) => csv.split(line, state)?.into_iter().collect(),
            Framing::Regex(regex) => vec![regex.split(line)?],
            Framing::Native(parser) => parser.split(line, state, context)?,
        };
        framed
            .iter()
            .map(|record| {
                let mut parsed = normalize(&self.schema.fields, record, self.options)?;
                if let Framing::Native(parser) = &self.framing {
                    parser.extra_indicators(record, &mut parsed.indicators);
                }
                Ok(parsed)
            })
            .collect()
    }
}

/// All log types, by name.
#[derive(Debug, Default)]
pub struct LogTypeRegistry {
    types: BTreeMap<String, Arc<LogTypeParser>>,
    sources: BTreeMap<String, PathBuf>,
}

impl LogTypeRegistry {
    /// The built-in log types.
    pub fn builtin() -> Result<LogTypeRegistry, RegistryError> {
        let mut registry = LogTypeRegistry::default();
        for source in builtin_schemas()? {
            registry.add(&source)?;
        }
        Ok(registry)
    }

    /// The built-in log types plus the schemas under `dir`.
    pub fn with_schema_dir(dir: Option<&Path>) -> Result<LogTypeRegistry, RegistryError> {
        let mut registry = LogTypeRegistry::builtin()?;
        if let Some(dir) = dir {
            for source in load_schema_dir(dir)? {
                registry.add(&source)?;
            }
        }
        Ok(registry)
    }

    fn add(&mut self, source: &SchemaSource) -> Result<(), RegistryError> {
        let name = source.schema.schema.clone();
        if let Some(first) = self.sources.get(&name) {
            return Err(SchemaError::Duplicate {
                name,
                first: first.clone(),
                second: source.path.clone(),
            }
            .into());
        }
        let parser = LogTypeParser::new(source)?;
        self.sources.insert(name.clone(), source.path.clone());
        self.types.insert(name, Arc::new(parser));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&Arc<LogTypeParser>> {
        self.types.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.types.len()
    }

    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_schema_cannot_shadow_a_builtin() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("x.yml"),
            "schema: Osquery.Differential\nfields: [{ name: a, type: string }]\n",
        )
        .expect("write");
        let err = LogTypeRegistry::with_schema_dir(Some(dir.path()))
            .expect_err("duplicate")
            .to_string();
        assert!(err.contains("defined twice"), "{err}");
    }

    #[test]
    fn a_custom_csv_schema_parses_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("vpn.yml"),
            "schema: Custom.Vpn\nparser:\n  csv: { delimiter: ',', columns: [time, user, ip] }\nfields:\n  - { name: time, type: timestamp, timeFormat: '%Y-%m-%d %H:%M:%S', isEventTime: true }\n  - { name: user, type: string, indicators: [username] }\n  - { name: ip, type: string, indicators: [ip] }\n",
        )
        .expect("write");
        let registry = LogTypeRegistry::with_schema_dir(Some(dir.path())).expect("loads");
        let parser = registry.get("Custom.Vpn").expect("registered");
        let context = ParseContext {
            parse_time: chrono::Utc::now(),
        };
        let records = parser
            .parse(b"2024-01-02 03:04:05,bob,10.9.8.7", &mut None, &context)
            .expect("parses");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].fields["user"], "bob");
        assert!(records[0].event_time.is_some());
        assert!(parser.parse(b"junk", &mut None, &context).is_err());
    }
}
