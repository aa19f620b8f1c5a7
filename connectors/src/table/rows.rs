//! A table file read into rows: each key and its row as compact JSON object text.
//!
//! CSV: the header row names the columns, every cell becomes a JSON string (an empty cell
//! is `""`), and a record that spans lines (a quoted newline) is numbered by its first
//! line. JSON lines: one object per non-blank line. A key must be present and non-empty;
//! a JSON key that is a number or boolean is taken as its JSON text (`42`, `true`), so it
//! matches the same key read from CSV. The row of a repeated key replaces the earlier one.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde_json::{Map, Value};

use super::TableError;

/// Why one row of a table file cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RowProblem {
    #[error("the key column {column:?} is missing")]
    MissingKey { column: String },
    #[error("the key column {column:?} is empty")]
    EmptyKey { column: String },
    #[error("the key column {column:?} holds {kind}; a key is a string, number or boolean")]
    UnusableKey { column: String, kind: &'static str },
    #[error("not a JSON object")]
    NotAnObject,
    #[error("invalid JSON: {0}")]
    InvalidJson(serde_json::Error),
}

/// The rows of one file.
#[derive(Debug, Default)]
pub(crate) struct FileRows {
    /// Key → row value; for a repeated key, the last row's.
    pub rows: BTreeMap<String, Vec<u8>>,
    /// Rows in the file, repeats included.
    pub read: u64,
    /// Rows whose key an earlier row already had.
    pub duplicates: u64,
}

impl FileRows {
    fn push(&mut self, key: String, object: Map<String, Value>) {
        self.read += 1;
        // `Value`'s Display is serde_json's compact serializer and cannot fail on a
        // map with string keys.
        let value = Value::Object(object).to_string().into_bytes();
        if self.rows.insert(key, value).is_some() {
            self.duplicates += 1;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }
}

/// Reads every row of `path`, whose extension says its format; `key` names the key
/// column (for CSV, `None` takes the first column).
pub(crate) fn read_rows(path: &Path, key: Option<&str>) -> Result<FileRows, TableError> {
    let format = Format::of(path).ok_or_else(|| TableError::UnsupportedFormat {
        path: path.to_path_buf(),
    })?;
    let open = || {
        File::open(path)
            .map(BufReader::new)
            .map_err(|source| TableError::Read {
                path: path.to_path_buf(),
                source,
            })
    };
    match (format, key) {
        (Format::Csv, key) => read_csv(open()?, path, key),
        (Format::JsonLines, Some(key)) => read_json_lines(open()?, path, key),
        (Format::JsonLines, None) => Err(TableError::KeyRequired {
            path: path.to_path_buf(),
        }),
    }
}

fn read_csv(input: impl Read, path: &Path, key: Option<&str>) -> Result<FileRows, TableError> {
    let csv_error = |source: csv::Error| TableError::Csv {
        path: path.to_path_buf(),
        line: source.position().map(|position| position.line()),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(input);
    let mut columns: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(str::to_owned)
        .collect();
    // Spreadsheet programs start UTF-8 CSV with a byte-order mark, which the csv crate
    // keeps; left in, the first column's name would not match `--key`.
    if let Some(first) = columns.first_mut() {
        if let Some(stripped) = first.strip_prefix('\u{feff}') {
            *first = stripped.to_owned();
        }
    }
    if columns.is_empty() || columns.iter().all(String::is_empty) {
        return Err(TableError::NoHeader {
            path: path.to_path_buf(),
        });
    }
    for (index, column) in columns.iter().enumerate() {
        if columns[..index].contains(column) {
            return Err(TableError::DuplicateColumn {
                path: path.to_path_buf(),
                column: column.clone(),
            });
        }
    }
    let key_column = key.unwrap_or(&columns[0]).to_owned();
    let key_index = columns
        .iter()
        .position(|column| *column == key_column)
        .ok_or_else(|| TableError::NoKeyColumn {
            path: path.to_path_buf(),
            column: key_column.clone(),
        })?;
    let mut rows = FileRows::default();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |position| position.line());
        let row_error = |problem| TableError::Row {
            path: path.to_path_buf(),
            line,
            problem,
        };
        let key = match record.get(key_index) {
            None => {
                return Err(row_error(RowProblem::MissingKey {
                    column: key_column.clone(),
                }))
            }
            Some("") => {
                return Err(row_error(RowProblem::EmptyKey {
                    column: key_column.clone(),
                }))
            }
            Some(key) => key.to_owned(),
        };
        let object = columns
            .iter()
            .zip(record.iter())
            .map(|(column, cell)| (column.clone(), Value::String(cell.to_owned())))
            .collect();
        rows.push(key, object);
    }
    Ok(rows)
}

fn read_json_lines(input: impl BufRead, path: &Path, key: &str) -> Result<FileRows, TableError> {
    let mut rows = FileRows::default();
    for (index, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|source| TableError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let row_error = |problem| TableError::Row {
            path: path.to_path_buf(),
            line: index as u64 + 1,
            problem,
        };
        let object = match serde_json::from_slice(&line) {
            Ok(Value::Object(object)) => object,
            Ok(_) => return Err(row_error(RowProblem::NotAnObject)),
            Err(error) => return Err(row_error(RowProblem::InvalidJson(error))),
        };
        let row_key = row_key(&object, key).map_err(row_error)?;
        rows.push(row_key, object);
    }
    Ok(rows)
}

/// The key of a JSON row: a non-empty string as it is, a number or boolean as its JSON
/// text.
fn row_key(object: &Map<String, Value>, column: &str) -> Result<String, RowProblem> {
    let unusable = |kind| RowProblem::UnusableKey {
        column: column.to_owned(),
        kind,
    };
    match object.get(column) {
        None => Err(RowProblem::MissingKey {
            column: column.to_owned(),
        }),
        Some(Value::String(key)) if key.is_empty() => Err(RowProblem::EmptyKey {
            column: column.to_owned(),
        }),
        Some(Value::String(key)) => Ok(key.clone()),
        Some(Value::Number(number)) => Ok(number.to_string()),
        Some(Value::Bool(boolean)) => Ok(boolean.to_string()),
        Some(Value::Null) => Err(unusable("null")),
        Some(Value::Array(_)) => Err(unusable("an array")),
        Some(Value::Object(_)) => Err(unusable("an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str, key: Option<&str>) -> Result<FileRows, TableError> {
        read_csv(text.as_bytes(), Path::new("t.csv"), key)
    }

    fn jsonl(text: &str, key: &str) -> Result<FileRows, TableError> {
        read_json_lines(text.as_bytes(), Path::new("t.jsonl"), key)
    }

    fn row(rows: &FileRows, key: &str) -> Value {
        let value = rows.rows.get(key).expect("row present");
        serde_json::from_slice(value).expect("row is JSON")
    }

    fn failing_line(result: Result<FileRows, TableError>) -> (u64, RowProblem) {
        match result {
            Err(TableError::Row { line, problem, .. }) => (line, problem),
            other => panic!("expected a row error, got {other:?}"),
        }
    }

    #[test]
    fn csv_cells_are_strings_and_the_first_column_is_the_key() {
        let rows = csv("ip,owner,note\n10.0.0.1,alice,\n\n10.0.0.2,bob,x\n", None).expect("rows");
        assert_eq!(rows.read, 2);
        assert_eq!(
            row(&rows, "10.0.0.1"),
            serde_json::json!({"ip": "10.0.0.1", "owner": "alice", "note": ""})
        );
        assert_eq!(row(&rows, "10.0.0.2")["note"], "x");
    }

    #[test]
    fn a_csv_key_column_can_be_named_and_a_byte_order_mark_is_ignored() {
        let rows = csv("\u{feff}id,host\n1,a\n2,b\n", Some("host")).expect("rows");
        assert_eq!(rows.rows.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(row(&rows, "a")["id"], "1");
    }

    #[test]
    fn the_last_row_of_a_repeated_key_wins() {
        let rows = csv("k,v\na,1\nb,2\na,3\n", None).expect("rows");
        assert_eq!((rows.read, rows.duplicates, rows.rows.len()), (3, 1, 2));
        assert_eq!(row(&rows, "a")["v"], "3");
    }

    #[test]
    fn an_empty_csv_key_names_its_line() {
        let (line, problem) = failing_line(csv("k,v\na,1\n,2\n", None));
        assert_eq!(line, 3);
        assert!(matches!(problem, RowProblem::EmptyKey { .. }));
    }

    #[test]
    fn a_multi_line_csv_record_is_numbered_by_its_first_line() {
        let (line, _) = failing_line(csv("k,v\na,\"x\ny\"\n,2\n", None));
        assert_eq!(line, 4);
    }

    #[test]
    fn csv_header_mistakes_are_refused() {
        assert!(matches!(csv("", None), Err(TableError::NoHeader { .. })));
        assert!(matches!(
            csv("k,k\n", None),
            Err(TableError::DuplicateColumn { .. })
        ));
        assert!(matches!(
            csv("k,v\n", Some("id")),
            Err(TableError::NoKeyColumn { .. })
        ));
        match csv("k,v\na,1,extra\n", None) {
            Err(TableError::Csv { line, .. }) => assert_eq!(line, Some(2)),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn json_lines_keep_their_values_and_numbers_become_key_text() {
        let rows = jsonl(
            "{\"id\": 7, \"tags\": [\"a\"]}\n\n  \r\n{\"id\": \"x\", \"n\": 1.5}\r\n{\"id\": true}",
            "id",
        )
        .expect("rows");
        assert_eq!(rows.rows.keys().collect::<Vec<_>>(), ["7", "true", "x"]);
        assert_eq!(row(&rows, "7"), serde_json::json!({"id": 7, "tags": ["a"]}));
        assert_eq!(row(&rows, "x")["n"], 1.5);
    }

    #[test]
    fn json_line_problems_name_their_line() {
        let (line, problem) = failing_line(jsonl("{\"id\":1}\n\n{\"other\":2}\n", "id"));
        assert_eq!(line, 3);
        assert!(matches!(problem, RowProblem::MissingKey { .. }));
        let (_, problem) = failing_line(jsonl("{\"id\":\"\"}", "id"));
        assert!(matches!(problem, RowProblem::EmptyKey { .. }));
        let (_, problem) = failing_line(jsonl("{\"id\":null}", "id"));
        assert!(matches!(
            problem,
            RowProblem::UnusableKey { kind: "null", .. }
        ));
        let (_, problem) = failing_line(jsonl("[1]", "id"));
        assert!(matches!(problem, RowProblem::NotAnObject));
        let (line, problem) = failing_line(jsonl("{\"id\":1}\n{\"id\":", "id"));
        assert_eq!(line, 2);
        assert!(matches!(problem, RowProblem::InvalidJson(_)));
    }

    #[test]
    fn the_format_comes_from_the_extension() {
        assert_eq!(Format::of(Path::new("a.CSV")), Some(Format::Csv));
        assert_eq!(Format::of(Path::new("a.ndjson")), Some(Format::JsonLines));
        assert_eq!(Format::of(Path::new("a.json")), None);
        assert_eq!(Format::of(Path::new("csv")), None);
        assert!(matches!(
            read_rows(Path::new("/nonexistent/a.txt"), None),
            Err(TableError::UnsupportedFormat { .. })
        ));
        assert!(matches!(
            read_rows(Path::new("/nonexistent/a.jsonl"), None),
            Err(TableError::KeyRequired { .. })
        ));
    }
}
