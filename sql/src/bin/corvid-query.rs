//! `corvid-query`: SQL over Corvid's Parquet lake. `corvid query ARGS…` runs this
//! program (installed next to `corvid`), so the engine's binary does not link DataFusion.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use corvid_lake::{Lake, LakeLocation};
use corvid_sql::datafusion::execution::context::SQLOptions;
use corvid_sql::datafusion::prelude::SessionContext;
use corvid_sql::ddl::{self, Dialect};
use corvid_sql::output::{write_results, Format};
use corvid_sql::{config, presto, session, CATALOG};

const ABOUT: &str = "SQL over Corvid's Parquet lake (DataFusion, Athena-style SQL)";

const LONG_ABOUT: &str = "\
SQL over Corvid's Parquet lake, with the databases and tables Panther's data lake has:
  panther_logs.<table>           every parsed event (e.g. aws_cloudtrail, aws_vpcflow)
  panther_rule_matches.<table>   events that matched a rule, with p_rule_id, p_alert_id, ...
  panther_rule_errors.<table>    events a rule raised on, with p_rule_error
  panther_views.all_logs         p_ columns of every log table (also all_rule_matches, all_rule_errors)
Partition columns year, month, day, hour (integers, the hour of p_event_time) select the files
read: always filter on them. Presto functions work as in Athena: contains(p_any_ip_addresses,
'1.2.3.4'), json_extract_scalar(requestparameters, '$.bucketName'), from_iso8601_timestamp(...),
date_add('day', -1, now()), cardinality(...). Statements that write (CREATE, INSERT, COPY) are
refused. `corvid query ...` runs this program.

Examples:
  corvid-query --lake data/lake \"SELECT DISTINCT p_log_type FROM panther_views.all_logs
      WHERE contains(p_any_ip_addresses, '136.24.229.194') AND month=11 AND day=27\"
  corvid-query --config engine.yml --format csv \"SELECT eventname, COUNT(*) FROM aws_cloudtrail
      WHERE year=2020 AND month=11 GROUP BY eventname\"
  corvid-query --lake s3://bucket/lake ddl --dialect athena";

#[derive(Parser)]
#[command(name = "corvid-query", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    #[command(flatten)]
    lake: LakeArgs,
    /// How to print the result: an aligned table, JSON lines, or CSV.
    #[arg(long, value_enum, default_value_t = FormatArg::Table, global = true)]
    format: FormatArg,
    /// The SQL statement to run (one); `-` reads it from standard input.
    sql: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct LakeArgs {
    /// The engine's config file: its `lake:` section (url, endpoint, region,
    /// access_key_id, secret_access_key, allow_http) locates the lake.
    #[arg(
        long,
        global = true,
        value_name = "ENGINE.yml",
        conflicts_with = "lake"
    )]
    config: Option<PathBuf>,
    /// The lake: a directory, file:///dir, or s3://bucket/prefix (S3 endpoint and
    /// credentials from the AWS_* variables). Default: the engine's default, data/lake.
    #[arg(long, global = true, value_name = "URL", env = "CORVID_LAKE")]
    lake: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the DDL of the tables now in the lake for another engine: DuckDB views
    /// over read_parquet, Athena (Glue) external tables with partition projection, or
    /// DataFusion external tables; each with the panther_views union views.
    Ddl {
        #[arg(long, value_enum)]
        dialect: DialectArg,
        /// The lake root as that engine names it (a directory or s3://bucket/prefix);
        /// default: the lake's own location.
        #[arg(long, value_name = "ROOT")]
        location: Option<String>,
    },
    /// List the databases and their tables.
    Tables,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Csv,
}

#[derive(Clone, Copy, ValueEnum)]
enum DialectArg {
    Duckdb,
    Athena,
    Datafusion,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("corvid-query: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn location(args: &LakeArgs) -> Result<LakeLocation> {
    let location = match (&args.config, &args.lake) {
        (Some(path), _) => config::lake_location_from_file(path)?,
        (None, Some(url)) => LakeLocation {
            url: url.clone(),
            ..LakeLocation::default()
        },
        (None, None) => LakeLocation::default(),
    };
    // Opening a local lake creates its directory; a query must not invent one.
    let url = location.url.trim();
    if !url.contains("://") || url.starts_with("file://") {
        let dir = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        if !dir.is_dir() {
            bail!(
                "the lake directory {} does not exist (give the engine's --config or --lake)",
                dir.display()
            );
        }
    }
    Ok(location)
}

fn run(cli: Cli) -> Result<()> {
    let location = location(&cli.lake)?;
    let lake = Lake::open(&location)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("corvid-query")
        .enable_all()
        .build()
        .context("starting the I/O runtime")?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match cli.command {
        Some(Command::Ddl { dialect, location }) => {
            let dialect = match dialect {
                DialectArg::Duckdb => Dialect::DuckDb,
                DialectArg::Athena => Dialect::Athena,
                DialectArg::Datafusion => Dialect::DataFusion,
            };
            let tables = runtime.block_on(ddl::lake_tables(&lake))?;
            let root = location.unwrap_or_else(|| ddl::default_root(&lake, dialect));
            out.write_all(ddl::generate(dialect, &tables, &root).as_bytes())?;
            out.flush()?;
            Ok(())
        }
        Some(Command::Tables) => {
            let ctx = runtime.block_on(session(&lake))?;
            for (schema, tables) in tables(&ctx) {
                for table in tables {
                    writeln!(out, "{schema}.{table}")?;
                }
            }
            out.flush()?;
            Ok(())
        }
        None => {
            let sql = match cli.sql.as_deref() {
                Some("-") => {
                    let mut text = String::new();
                    std::io::stdin()
                        .read_to_string(&mut text)
                        .context("reading SQL from standard input")?;
                    text
                }
                Some(sql) => sql.to_owned(),
                None => {
                    bail!("give a SQL statement (or - to read it from standard input); see --help")
                }
            };
            let format = match cli.format {
                FormatArg::Table => Format::Table,
                FormatArg::Json => Format::Json,
                FormatArg::Csv => Format::Csv,
            };
            runtime.block_on(query(&lake, &sql, format, &mut out))
        }
    }
}

async fn query(lake: &Lake, sql: &str, format: Format, out: &mut dyn Write) -> Result<()> {
    let ctx = session(lake).await?;
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false);
    let frame = match presto::sql(&ctx, sql, options).await {
        Ok(frame) => frame,
        Err(error) => {
            let message = error.to_string();
            if message.contains("not found") {
                let known: Vec<String> = tables(&ctx)
                    .into_iter()
                    .map(|(schema, tables)| {
                        let tables = if tables.is_empty() {
                            "(none)".to_owned()
                        } else {
                            tables.join(", ")
                        };
                        format!("  {schema}: {tables}")
                    })
                    .collect();
                bail!(
                    "query failed: {message}\ntables in the lake:\n{}",
                    known.join("\n")
                );
            }
            bail!("query failed: {message}");
        }
    };
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let batches = frame
        .collect()
        .await
        .map_err(|error| anyhow::anyhow!("query failed: {error}"))?;
    write_results(format, &schema, &batches, out)?;
    Ok(())
}

/// `(schema, sorted table names)` of the lake catalog.
fn tables(ctx: &SessionContext) -> Vec<(String, Vec<String>)> {
    let Some(catalog) = ctx.catalog(CATALOG) else {
        return Vec::new();
    };
    catalog
        .schema_names()
        .into_iter()
        .filter_map(|name| {
            let schema = catalog.schema(&name)?;
            let mut tables = schema.table_names();
            tables.sort();
            Some((name, tables))
        })
        .collect()
}
