//! SQL over Corvid's Parquet lake, on DataFusion.
//!
//! ```text
//!  object store (directory or s3://)             DataFusion session (catalog "corvid")
//!  <root>/logs/<table>/year=/month=/day=/hour=/   ─▶ panther_logs.<table>
//!  <root>/rules/<table>/…                         ─▶ panther_rule_matches.<table>
//!  <root>/rule_errors/<table>/…                   ─▶ panther_rule_errors.<table>
//!                                                    panther_views.all_logs / all_rule_matches / all_rule_errors
//! ```
//!
//! * [`catalog`]: tables discovered by listing the lake, one listing table per table with
//!   the hour partitions as integer columns, and the union views.
//! * [`functions`]: the Presto/Athena functions investigations use (`contains` over
//!   arrays, `json_extract_scalar`, `from_iso8601_timestamp`, `date_add`, …).
//! * [`ddl`]: the same catalog as DDL for DuckDB, Athena (Glue, partition projection) and
//!   DataFusion, so other engines read the lake the same way.
//! * [`presto`]: Athena SQL DataFusion does not plan as written (`CROSS JOIN UNNEST`),
//!   rewritten before planning.
//! * [`padded`]: the store wrapper that lets `month = 3` list the folder `month=03`.
//! * [`output`]: results as an aligned table, JSON lines or CSV.
//! * [`config`]: the `lake:` section of the engine's config.
//! * [`testing`]: fixture lakes (CloudTrail-, VPC-flow- and osquery-like tables) for tests.
//!
//! The `corvid-query` binary of this crate is what `corvid query` runs: the engine's
//! binary does not link DataFusion.

pub mod catalog;
pub mod config;
pub mod ddl;
pub mod functions;
pub mod output;
pub mod padded;
pub mod presto;
pub mod testing;

pub use catalog::{session, session_with_config, CATALOG};
pub use datafusion;

/// Errors of the query library.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error(transparent)]
    Lake(#[from] corvid_lake::LakeError),
    #[error("lake: listing {path}: {source}")]
    List {
        path: String,
        source: object_store::Error,
    },
    #[error("lake: reading the Parquet footer of {path}: {source}")]
    Footer {
        path: String,
        source: Box<datafusion::error::DataFusionError>,
    },
    #[error("lake: writing {path}: {source}")]
    Write {
        path: String,
        source: object_store::Error,
    },
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error("{0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("{0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("config {path}: {message}")]
    Config { path: String, message: String },
    #[error("writing the result: {0}")]
    Output(String),
}
