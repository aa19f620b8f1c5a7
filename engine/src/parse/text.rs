//! Text framings: CSV-like and regex log lines become named string values.
//!
//! Both produce a JSON object of strings that the schema's fields then type and check,
//! so a text log type is declared exactly like a JSON one.

use regex::Regex;
use serde_json::{Map, Value};

use super::schema::format::{CsvSpec, RegexSpec};
use super::ParseRefusal;

/// A compiled CSV framing.
#[derive(Debug)]
pub struct CsvFraming {
    delimiter: u8,
    columns: Vec<String>,
    has_header: bool,
    empty_values: Vec<String>,
    trailing_columns_join: bool,
}

impl CsvFraming {
    pub fn new(spec: &CsvSpec) -> Result<CsvFraming, String> {
        let delimiter = match spec.delimiter.as_bytes() {
            [byte] => *byte,
            _ => {
                return Err(format!(
                    "parser.csv.delimiter: must be one character, got {:?}",
                    spec.delimiter
                ))
            }
        };
        if spec.columns.is_empty() && !spec.has_header {
            return Err("parser.csv.columns: required unless hasHeader is true".into());
        }
        Ok(CsvFraming {
            delimiter,
            columns: spec.columns.clone(),
            has_header: spec.has_header,
            empty_values: spec.empty_values.clone(),
            trailing_columns_join: spec.trailing_columns_join,
        })
    }

    /// Splits one line. With `hasHeader`, the stream's first line names the columns: it
    /// is kept in `state` and yields nothing.
    pub fn split(
        &self,
        line: &[u8],
        state: &mut Option<Value>,
    ) -> Result<Option<Map<String, Value>>, ParseRefusal> {
        let values = split_record(line, self.delimiter)?;
        if self.has_header && state.is_none() {
            *state = Some(Value::from(values));
            return Ok(None);
        }
        let header: Vec<String>;
        let columns: &[String] = match state.as_ref().and_then(Value::as_array) {
            Some(names) if self.has_header => {
                header = names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect();
                &header
            }
            _ => &self.columns,
        };
        Ok(Some(zip_columns(
            columns,
            values,
            &self.empty_values,
            self.trailing_columns_join,
            self.delimiter,
        )?))
    }
}

/// Splits one delimited line, honouring double quotes.
pub fn split_record(line: &[u8], delimiter: u8) -> Result<Vec<String>, ParseRefusal> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(line);
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => Ok(record.iter().map(str::to_owned).collect()),
        Ok(false) => Err(ParseRefusal::new("empty line")),
        Err(e) => Err(ParseRefusal::new(format!("not delimited text: {e}"))),
    }
}

/// Names `values` by `columns`, dropping empty values.
pub fn zip_columns(
    columns: &[String],
    mut values: Vec<String>,
    empty: &[String],
    join_surplus: bool,
    delimiter: u8,
) -> Result<Map<String, Value>, ParseRefusal> {
    if values.len() > columns.len() && join_surplus && !columns.is_empty() {
        let tail = values.split_off(columns.len() - 1);
        values.push(tail.join(&(delimiter as char).to_string()));
    }
    if values.len() != columns.len() {
        return Err(ParseRefusal::new(format!(
            "expected {} columns, got {}",
            columns.len(),
            values.len()
        )));
    }
    Ok(columns
        .iter()
        .zip(values)
        .filter(|(_, value)| !value.is_empty() && !empty.iter().any(|e| e == value))
        .map(|(name, value)| (name.clone(), Value::String(value)))
        .collect())
}

/// A compiled regex framing.
#[derive(Debug)]
pub struct RegexFraming {
    regex: Regex,
    empty_values: Vec<String>,
}

impl RegexFraming {
    pub fn new(spec: &RegexSpec) -> Result<RegexFraming, String> {
        let mut pattern = spec.patterns.concat();
        for (name, definition) in &spec.pattern_definitions {
            pattern = pattern.replace(&format!("%{{{name}}}"), definition);
        }
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| format!("parser.regex.match: {e}"))?;
        Ok(RegexFraming {
            regex,
            empty_values: spec.empty_values.clone(),
        })
    }

    pub fn split(&self, line: &[u8]) -> Result<Map<String, Value>, ParseRefusal> {
        let text = std::str::from_utf8(line).map_err(|_| ParseRefusal::new("not UTF-8 text"))?;
        let captures = self
            .regex
            .captures(text.trim_end_matches(['\r', '\n']))
            .ok_or_else(|| ParseRefusal::new("line does not match the pattern"))?;
        Ok(self
            .regex
            .capture_names()
            .flatten()
            .filter_map(|name| {
                let value = captures.name(name)?.as_str();
                (!value.is_empty() && !self.empty_values.iter().any(|e| e == value))
                    .then(|| (name.to_owned(), Value::String(value.to_owned())))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_empty_values_and_surplus() {
        let spec = CsvSpec {
            delimiter: " ".into(),
            columns: vec!["a".into(), "b".into(), "c".into()],
            has_header: false,
            empty_values: vec!["-".into()],
            trailing_columns_join: true,
        };
        let framing = CsvFraming::new(&spec).expect("spec");
        let mut state = None;
        let map = framing
            .split(br#""two words" - and more"#, &mut state)
            .expect("split")
            .expect("row");
        assert_eq!(
            Value::Object(map),
            serde_json::json!({"a": "two words", "c": "and more"})
        );
    }

    #[test]
    fn csv_header_names_the_columns_of_its_stream() {
        let spec = CsvSpec {
            delimiter: ",".into(),
            columns: vec![],
            has_header: true,
            empty_values: vec![],
            trailing_columns_join: false,
        };
        let framing = CsvFraming::new(&spec).expect("spec");
        let mut state = None;
        assert!(framing.split(b"x,y", &mut state).expect("header").is_none());
        let row = framing
            .split(b"1,2", &mut state)
            .expect("row")
            .expect("values");
        assert_eq!(Value::Object(row), serde_json::json!({"x": "1", "y": "2"}));
        assert!(
            framing.split(b"1,2,3", &mut state).is_err(),
            "column count is checked"
        );
    }

    #[test]
    fn regex_named_groups_become_values() {
        let spec = RegexSpec {
            patterns: vec![r"(?P<user>\w+) from ".into(), r"(?P<ip>%{IP})".into()],
            pattern_definitions: [("IP".to_string(), r"[0-9.]+".to_string())].into(),
            empty_values: vec![],
        };
        let framing = RegexFraming::new(&spec).expect("spec");
        let map = framing.split(b"alice from 10.0.0.1").expect("matches");
        assert_eq!(
            Value::Object(map),
            serde_json::json!({"user": "alice", "ip": "10.0.0.1"})
        );
        assert!(framing.split(b"alice via 10.0.0.1").is_err());
    }
}
