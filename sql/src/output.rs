//! Query results as an aligned table, JSON lines or CSV.

use std::io::Write;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::writer::{LineDelimited, WriterBuilder};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_schema;

use crate::SqlError;

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Arrow's pretty printer: an aligned table with a header.
    Table,
    /// One JSON object per row; NULLs as `null`, arrays and structs as JSON.
    Json,
    /// RFC 4180 CSV with a header; NULL as an empty field, arrays and structs as text.
    Csv,
}

/// Writes `batches` (of `schema`) to `out` in `format`.
pub fn write_results(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<(), SqlError> {
    let io = |error: std::io::Error| SqlError::Output(error.to_string());
    match format {
        Format::Table => {
            let table = pretty_format_batches_with_schema(schema.clone(), batches)?;
            writeln!(out, "{table}").map_err(io)?;
        }
        Format::Json => {
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(&mut *out);
            let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            writer
                .write_record(&header)
                .map_err(|e| SqlError::Output(e.to_string()))?;
            let options = FormatOptions::default().with_null("");
            for batch in batches {
                let formatters = batch
                    .columns()
                    .iter()
                    .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
                    .collect::<Result<Vec<_>, _>>()?;
                for row in 0..batch.num_rows() {
                    let record: Vec<String> = formatters
                        .iter()
                        .map(|f| f.value(row).to_string())
                        .collect();
                    writer
                        .write_record(&record)
                        .map_err(|e| SqlError::Output(e.to_string()))?;
                }
            }
            writer.flush().map_err(io)?;
        }
    }
    out.flush().map_err(io)
}
