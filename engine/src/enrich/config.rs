//! The `enrichment` section of the engine config: lookup tables fed by compacted topics
//! and tables learned from the log stream itself. Every key is in `docs/config.md`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::rules::jsonpath::JsonPath;

/// Lookup tables joined into events as `p_enrichment`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichmentConfig {
    /// Tables whose rows come from a compacted Kafka topic (key → JSON row).
    pub tables: Vec<LookupTableConfig>,
    /// Tables whose rows are learned from events of other log types.
    pub derived: Vec<DerivedTableConfig>,
}

/// How an event value is compared with a table's keys.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// Equal strings (IP addresses compared in canonical form).
    #[default]
    Exact,
    /// Keys are CIDR ranges; an IP matches the longest range holding it.
    Cidr,
}

/// A table fed by a compacted topic.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LookupTableConfig {
    pub name: String,
    /// Default `corvid.table.<name>`.
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default, rename = "match")]
    pub match_kind: MatchKind,
    /// Event fields whose values are looked up: JSONPaths (`sourceIPAddress`,
    /// `$.requestParameters.ipAddress`), indicator arrays (`p_any_ip_addresses`), or
    /// `p_any_*` for every indicator array.
    pub fields: Vec<String>,
    /// Only events of these log types are looked up; empty means all.
    #[serde(default)]
    pub log_types: Vec<String>,
}

impl LookupTableConfig {
    pub fn topic(&self) -> String {
        self.topic
            .clone()
            .unwrap_or_else(|| format!("corvid.table.{}", self.name))
    }
}

/// A table learned from the log stream: an asset map, a host inventory.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DerivedTableConfig {
    pub name: String,
    /// Event fields looked up in this table, as for topic-fed tables.
    pub fields: Vec<String>,
    #[serde(default)]
    pub log_types: Vec<String>,
    /// Which events teach the table rows, and how.
    pub learn: Vec<LearnConfig>,
}

/// One way events of a log type teach a derived table rows.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LearnConfig {
    pub log_type: String,
    /// Only events whose field (JSONPath) equals one of the listed values.
    #[serde(default)]
    pub when: BTreeMap<String, Vec<String>>,
    /// JSONPath to the row objects inside the event (e.g.
    /// `$.responseElements.instancesSet.items[*]`); default the event itself.
    #[serde(default)]
    pub rows: Option<String>,
    /// JSONPaths, relative to a row, whose values become the row's keys.
    pub keys: Vec<String>,
    /// Row columns: name → JSONPath relative to the row. A row with no value for any
    /// column teaches nothing.
    pub values: BTreeMap<String, String>,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_path(key: &str, path: &str) -> Result<(), String> {
    if path == "p_any_*" {
        return Ok(());
    }
    JsonPath::parse(path)
        .map(|_| ())
        .map_err(|message| format!("{key}: {message}"))
}

impl EnrichmentConfig {
    /// Checks names and paths; the message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        let tables = self
            .tables
            .iter()
            .map(|t| ("enrichment.tables", &t.name, &t.fields))
            .chain(
                self.derived
                    .iter()
                    .map(|t| ("enrichment.derived", &t.name, &t.fields)),
            );
        for (section, name, fields) in tables {
            if !valid_name(name) {
                return Err(format!(
                    "{section}.name: `{name}` must be letters, digits and `_`"
                ));
            }
            if !names.insert(name.clone()) {
                return Err(format!("{section}.name: `{name}` is declared twice"));
            }
            if fields.is_empty() {
                return Err(format!("{section}[{name}].fields: must not be empty"));
            }
            for field in fields {
                check_path(&format!("{section}[{name}].fields"), field)?;
            }
        }
        for table in &self.tables {
            if table.topic.as_deref() == Some("") {
                return Err(format!(
                    "enrichment.tables[{}].topic: must not be empty",
                    table.name
                ));
            }
        }
        for table in &self.derived {
            let key = format!("enrichment.derived[{}].learn", table.name);
            if table.learn.is_empty() {
                return Err(format!("{key}: must not be empty"));
            }
            for learn in &table.learn {
                if learn.keys.is_empty() {
                    return Err(format!("{key}.keys: must not be empty"));
                }
                if learn.values.is_empty() {
                    return Err(format!("{key}.values: must not be empty"));
                }
                for path in learn.when.keys() {
                    check_path(&format!("{key}.when"), path)?;
                }
                if let Some(rows) = &learn.rows {
                    check_path(&format!("{key}.rows"), rows)?;
                }
                for path in learn.keys.iter().chain(learn.values.values()) {
                    check_path(&format!("{key}.keys/values"), path)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<EnrichmentConfig, String> {
        let config: EnrichmentConfig = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn a_table_defaults_to_exact_matching_on_its_own_topic() {
        let config = parse("tables:\n  - name: tor_exits\n    fields: [p_any_ip_addresses]\n")
            .expect("valid");
        assert_eq!(config.tables[0].match_kind, MatchKind::Exact);
        assert_eq!(config.tables[0].topic(), "corvid.table.tor_exits");
    }

    #[test]
    fn mistakes_name_their_key() {
        let err = parse("tables:\n  - name: bad-name\n    fields: [x]\n").expect_err("name");
        assert!(err.starts_with("enrichment.tables.name:"), "{err}");
        let err = parse("tables:\n  - name: t\n    fields: []\n").expect_err("fields");
        assert!(err.contains("[t].fields"), "{err}");
        let err = parse("tables:\n  - name: t\n    fields: ['$.a[']\n").expect_err("path");
        assert!(err.contains("[t].fields"), "{err}");
        let err = parse(
            "tables:\n  - name: t\n    fields: [a]\nderived:\n  - name: t\n    fields: [a]\n    learn: []\n",
        )
        .expect_err("twice");
        assert!(err.contains("declared twice"), "{err}");
        let err = parse("tables:\n  - name: t\n    fields: [a]\n    matches: cidr\n")
            .expect_err("unknown key");
        assert!(err.contains("matches"), "{err}");
        let err = parse("derived:\n  - name: d\n    fields: [a]\n    learn:\n      - log_type: X\n        keys: []\n        values: {a: b}\n")
            .expect_err("no keys");
        assert!(err.contains("learn.keys"), "{err}");
    }
}
