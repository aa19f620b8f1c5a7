//! `corvid`: the one binary — engine, connectors, rule tests and load tests.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use corvid_connectors::alerts::ForwarderConfig;
use corvid_connectors::file::{send_file, FileSourceConfig};
use corvid_connectors::lag::{LagExporter, LagExporterConfig, LagExporterError};
use corvid_connectors::metrics::ConnectorMetrics;
use corvid_connectors::raw_record::SourceMeta;
use corvid_connectors::table::{load_table, TableLoad, TableName};
use corvid_engine::alerts::tail::{tail, TailOptions};
use corvid_engine::benchmarks;
use corvid_engine::cluster::ClusterFlags;
use corvid_engine::config::EngineConfig;
use corvid_engine::dataflow::{run, RunOptions};
use corvid_engine::parse::avro::AvroDecoding;
use corvid_engine::parse::stdin::{print_parsed, LineSource};
use corvid_engine::parse::{Classifier, LogTypeRegistry};
use corvid_loadtest::generator::{generate, GeneratorSpec};
use corvid_loadtest::harness::{self, HarnessConfig};
use corvid_loadtest::rules_bench;
use corvid_loadtest::scenario::{delivery, intrusion, Day};

/// Corvid: a self-hosted streaming SIEM detection engine.
#[derive(Parser)]
#[command(name = "corvid", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the detection engine: parse raw logs from Kafka, run the rules, publish alerts.
    Run(RunArgs),
    /// Stream logs into Kafka.
    #[command(subcommand)]
    Connect(ConnectCommand),
    /// Work with detections.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Read alerts back from the alerts topic.
    #[command(subcommand)]
    Alerts(AlertsCommand),
    /// Parse log lines from stdin with the engine's parsers; print one JSON line each
    /// (the normalized event, or the dead letter with every parser's reason).
    Parse(ParseArgs),
    /// Push generated osquery logs with planted attacks through a running pipeline and
    /// report end-to-end events/s; benchmarks; `scenario`: plant an attack story.
    Loadtest(LoadtestArgs),
    /// Export a consumer group's lag on its topics (committed offset to high watermark)
    /// as Prometheus metrics, read from outside the group: it stays visible while the
    /// group's consumers are stopped. docs/lag-exporter.md.
    LagExporter(LagExporterArgs),
    /// SQL over the lake (Athena-style: panther_logs, panther_views.all_logs, …): runs the
    /// `corvid-query` program installed next to `corvid`; `corvid query --help` for its options.
    #[command(disable_help_flag = true)]
    Query(QueryArgs),
}

#[derive(Args)]
struct QueryArgs {
    /// Passed to corvid-query: [--config ENGINE.yml | --lake URL] [--format table|json|csv] "SQL"
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<std::ffi::OsString>,
}

#[derive(Args)]
struct ConfigArg {
    /// Engine config file (YAML); defaults run on one machine. Keys: docs/config.md.
    #[arg(long, short)]
    config: Option<PathBuf>,
}

impl ConfigArg {
    fn load(&self) -> Result<EngineConfig> {
        match &self.config {
            Some(path) => Ok(EngineConfig::from_file(path)?),
            None => Ok(EngineConfig::default()),
        }
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Worker threads per process (overrides `workers` in the config).
    #[arg(long, short)]
    workers: Option<usize>,
    /// Processes in the cluster [default: 1; with --hostfile its lines, with --peers-dns
    /// the name's addresses]. docs/cluster.md.
    #[arg(long, short = 'n')]
    processes: Option<usize>,
    /// This process's index, 0 to N-1: its line of the --hostfile.
    #[arg(long, short = 'p')]
    process: Option<usize>,
    /// The processes' addresses, one `host:port` per line; line i is process i.
    #[arg(long, value_name = "FILE")]
    hostfile: Option<PathBuf>,
    /// Find the processes in DNS: NAME's addresses, sorted, each listening on PORT; this
    /// process is its own address's position (a compose service or headless Service).
    #[arg(long, value_name = "NAME:PORT")]
    peers_dns: Option<String>,
    /// Stop once every raw partition is read to the end it had at start-up.
    #[arg(long)]
    stop_at_end: bool,
}

#[derive(Subcommand)]
enum ConnectCommand {
    /// Read a file of log lines into a raw topic, one record per line, keyed by the file;
    /// with --config, tail files and globs across rotation with durable positions
    /// (docs/connect-file.md).
    File(FileArgs),
    /// Read objects under S3 (or local object store) prefixes into a raw topic, with a
    /// durable cursor of completed objects (docs/connect-s3.md).
    S3(S3Args),
    /// Serve HTTP(S) ingest: NDJSON or text bodies per source with bearer tokens, and
    /// osquery's TLS logger protocol (docs/connect-http.md).
    Http(ConnectorConfigArgs),
    /// Receive syslog over UDP, TCP and TLS (RFC 6587 framings) (docs/connect-syslog.md).
    Syslog(ConnectorConfigArgs),
    /// Forward alerts from the alerts topic to Slack, PagerDuty, Teams, Opsgenie, Jira,
    /// GitHub issues, Asana and webhooks.
    Alerts(AlertsForwarderArgs),
    /// Replace a lookup table's contents on its compacted topic with a CSV or JSON lines
    /// file: changed and new rows are written, unchanged ones skipped, missing keys
    /// tombstoned. docs/connect-table.md.
    Table(TableArgs),
}

#[derive(Args)]
struct ConnectorConfigArgs {
    /// Connector config file (YAML). Keys: docs/config.md, "Connectors".
    #[arg(long, short)]
    config: PathBuf,
}

#[derive(Args)]
struct S3Args {
    /// Connector config file (YAML). Keys: docs/config.md, "Connectors".
    #[arg(long, short)]
    config: PathBuf,
    /// List once, read every object not yet completed, and exit; without it, poll until
    /// stopped.
    #[arg(long)]
    once: bool,
}

#[derive(Args)]
struct TableArgs {
    /// Table name: ASCII letters, digits and `_`.
    #[arg(long)]
    name: TableName,
    /// The table's whole new contents: `.csv` (header row) or `.jsonl`/`.ndjson`.
    #[arg(long)]
    file: PathBuf,
    /// Key column; default: the CSV file's first column (required for JSON lines).
    #[arg(long)]
    key: Option<String>,
    /// Table topic [default: corvid.table.<name>].
    #[arg(long)]
    topic: Option<String>,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Partitions for the topic if it does not exist yet.
    #[arg(long, default_value_t = 1)]
    partitions: i32,
}

#[derive(Args)]
struct AlertsForwarderArgs {
    /// Forwarder config file (YAML). Keys: docs/config.md, "Alert forwarder".
    #[arg(long, short)]
    config: PathBuf,
    /// Exit once every assigned partition is read to its end and no alert has come for
    /// this many seconds (for tests and batch runs); without it, run until stopped.
    #[arg(long)]
    max_idle_secs: Option<f64>,
}

#[derive(Args)]
struct LagExporterArgs {
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// The consumer group whose lag is exported (the engine's is its `kafka.group_id`).
    #[arg(long)]
    group: String,
    /// A topic the group reads; repeat for several.
    #[arg(long = "topic", value_name = "TOPIC", required = true)]
    topics: Vec<String>,
    /// Serve Prometheus GET /metrics (and /healthz) here.
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// Seconds between two readings of the offsets.
    #[arg(long, default_value_t = 5.0)]
    interval_secs: f64,
    /// An extra librdkafka property (TLS, SASL, …); repeat for several.
    #[arg(long = "kafka-client", value_name = "KEY=VALUE")]
    client: Vec<String>,
}

#[derive(Args)]
struct FileArgs {
    /// Tail the files and globs of this config file (YAML; keys: docs/config.md,
    /// "Connectors") until stopped, instead of sending one file.
    #[arg(long, short, conflicts_with_all = ["path", "source_id", "log_types", "linger_secs"])]
    config: Option<PathBuf>,
    /// The file to read.
    #[arg(long, required_unless_present = "config")]
    path: Option<PathBuf>,
    /// Raw topic to write to.
    #[arg(long, default_value = "corvid.raw")]
    topic: String,
    /// Source id (becomes `p_source_id`).
    #[arg(long, required_unless_present = "config")]
    source_id: Option<String>,
    /// Source label (becomes `p_source_label`).
    #[arg(long, default_value = "")]
    source_label: String,
    /// Comma-separated log types the file may hold, e.g. `Osquery.Differential`.
    #[arg(long, required_unless_present = "config")]
    log_types: Option<String>,
    /// Kafka bootstrap servers.
    #[arg(long, default_value = "127.0.0.1:9092")]
    brokers: String,
    /// Partitions for the topic if it does not exist yet.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Serve Prometheus GET /metrics (and /healthz) here while the connector runs.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_listen: Option<String>,
    /// Keep serving /metrics this many seconds after the file is sent (or failed), so a
    /// scrape sees the final counts; SIGINT or SIGTERM ends the wait.
    #[arg(long, default_value_t = 0.0, requires = "metrics_listen")]
    linger_secs: f64,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Run every rule's YAML `Tests`; exits non-zero when any fails.
    Test {
        /// Directory (or single rule YAML) to test.
        #[arg(default_value = "rules")]
        path: PathBuf,
        /// The same directory as a flag, as `pat test --path` spells it.
        #[arg(long = "path", conflicts_with = "path")]
        path_flag: Option<PathBuf>,
        /// Only detections whose KEY matches VALUE (pat's `--filter`), e.g. `RuleID=X`,
        /// `LogTypes=AWS.CloudTrail`, `Severity=High,Critical`; `KEY!=VALUE` excludes.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
    },
}

#[derive(Args)]
struct ParseArgs {
    /// Comma-separated log types to try, e.g. `AWS.CloudTrail,Syslog.RFC5424`.
    #[arg(long)]
    log_types: String,
    /// Directory of custom log type schemas.
    #[arg(long)]
    schemas: Option<PathBuf>,
    /// Source id to stamp on events (`p_source_id`).
    #[arg(long, default_value = "stdin")]
    source_id: String,
    /// Stream name the lines belong to (parser state is per stream).
    #[arg(long, default_value = "stdin")]
    stream: String,
    /// Schema registry URL, to decode Confluent-framed Avro lines.
    #[arg(long)]
    schema_registry: Option<String>,
}

#[derive(Subcommand)]
enum AlertsCommand {
    /// Print alerts from the alerts topic.
    Tail(TailArgs),
}

#[derive(Args)]
struct TailArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Start at the oldest alert instead of the newest.
    #[arg(long)]
    from_beginning: bool,
    /// Exit after this many seconds without a new alert, once caught up.
    #[arg(long, default_value_t = 3.0)]
    idle_secs: f64,
    /// Exit after this many alerts.
    #[arg(long)]
    max: Option<usize>,
    /// Print each alert's full JSON instead of a summary line.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct LoadtestArgs {
    #[command(subcommand)]
    mode: Option<LoadtestMode>,
    /// `rules`: the rules benchmark (no Kafka): panther-core and Corvid's dataflow on the
    /// same `--events` CloudTrail events and benchmark rules; events/s for both, the ratio.
    /// `alerts`: dedup + the transactional alerts sink on the configured broker with
    /// `--keys` distinct dedup keys, against a plain producer; alerts/s, ratio, memory.
    /// `lake`: the lake writer (Parquet) against gzip JSON lines of the same `--events`
    /// events per log type; events/s per core and bytes per event for both.
    #[arg(value_parser = ["rules", "alerts", "lake"])]
    bench: Option<String>,
    #[command(flatten)]
    config: ConfigArg,
    /// Lines to generate.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Planted out-of-office logins (each a distinct user, so one alert each).
    #[arg(long, default_value_t = 100)]
    planted: u64,
    /// Streams (hosts) to spread the lines over.
    #[arg(long, default_value_t = 8)]
    streams: u64,
    /// Give up waiting for the planted alerts after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Write the lines to this file instead of pushing them (no Kafka needed).
    #[arg(long)]
    write_to: Option<PathBuf>,
    /// Seed for the ordinary traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Benchmark the parsers instead (no Kafka): CloudTrail, VPC flow and syslog, each
    /// beside a plain JSON decode or line split on the same lines; `--events` per log type.
    #[arg(long)]
    parse: bool,
    /// Rounds per side of the parse benchmark; the best round counts.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Alerts benchmark: distinct dedup keys (open windows).
    #[arg(long, default_value_t = 100_000)]
    keys: usize,
    /// Alerts benchmark: matches per key, one epoch each (each updates every window).
    #[arg(long, default_value_t = 2)]
    matches_per_key: usize,
}

#[derive(Subcommand)]
enum LoadtestMode {
    /// Write an attack story, mixed into background traffic of the same log types, into
    /// the raw topic (one source and stream per log type), for rules and SQL to find.
    Scenario(ScenarioArgs),
    /// Enrichment benchmark (no Kafka): parsed events through the enrichment stage with a
    /// `--rows`-row exact table and a CIDR table, against the same events without it, on
    /// one worker; events/s, ratio, table load time and resident memory.
    Enrich {
        /// Rows of the exact-match (IP) table, loaded before the first event.
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// Events per pass.
        #[arg(long, default_value_t = 500_000)]
        events: usize,
        /// Percentage of events that hit a row (approached from below).
        #[arg(long, default_value_t = 30.0)]
        hit_percent: f64,
        /// Ranges of the CIDR table.
        #[arg(long, default_value_t = 10_000)]
        cidr_ranges: usize,
        /// Rounds of (baseline, exact, CIDR) passes, each reported.
        #[arg(long, default_value_t = 2)]
        rounds: usize,
    },
}

#[derive(Args)]
struct ScenarioArgs {
    /// The story. `intrusion`: an SSH login from outside the office (osquery, VPC flow
    /// logs), a `curl … | sh`, then AWS reconnaissance with the instance's role (CloudTrail).
    #[arg(value_parser = ["intrusion"])]
    name: String,
    #[command(flatten)]
    config: ConfigArg,
    /// Background events besides the story, spread over the three log types and the day.
    #[arg(long, default_value_t = 5_000)]
    events: u64,
    /// Seed for the background traffic (the story depends on the day alone).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The UTC day every event falls on, YYYY-MM-DD; default today.
    #[arg(long)]
    date: Option<Day>,
    /// Write one file per log type (`<log type>.log`) into this directory instead of
    /// producing to Kafka.
    #[arg(long)]
    write_to: Option<PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // Fail points for the crash tests; nothing without the `failpoints` feature.
    let _fail_points = corvid_engine::checkpoint::failpoints::setup();
    match dispatch(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("corvid: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run_engine(args),
        Command::Connect(ConnectCommand::File(args)) => connect_file(args),
        Command::Connect(ConnectCommand::S3(args)) => {
            let shutdown = shutdown_on_signals()?;
            corvid_connectors::s3::run_from_file(&args.config, args.once, shutdown)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Connect(ConnectCommand::Http(args)) => {
            let shutdown = shutdown_on_signals()?;
            corvid_connectors::http::run_from_file(&args.config, shutdown)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Connect(ConnectCommand::Syslog(args)) => {
            let shutdown = shutdown_on_signals()?;
            corvid_connectors::syslog::run_from_file(&args.config, shutdown)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Connect(ConnectCommand::Alerts(args)) => forward_alerts(args),
        Command::Connect(ConnectCommand::Table(args)) => connect_table(args),
        Command::Rules(RulesCommand::Test {
            path,
            path_flag,
            filters,
        }) => test_rules(path_flag.unwrap_or(path), &filters),
        Command::Alerts(AlertsCommand::Tail(args)) => tail_alerts(args),
        Command::Parse(args) => parse_stdin(args),
        Command::Loadtest(LoadtestArgs {
            mode: Some(LoadtestMode::Scenario(args)),
            ..
        }) => scenario(args),
        Command::Loadtest(LoadtestArgs {
            mode:
                Some(LoadtestMode::Enrich {
                    rows,
                    events,
                    hit_percent,
                    cidr_ranges,
                    rounds,
                }),
            ..
        }) => {
            let mut options = benchmarks::enrich::Options::new(rows, events);
            options.hit_share = hit_percent / 100.0;
            options.cidr_ranges = cidr_ranges;
            options.rounds = rounds;
            print!("{}", benchmarks::enrich::run(&options)?.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Loadtest(args) => loadtest(args),
        Command::LagExporter(args) => lag_exporter(args),
        Command::Query(args) => query(args),
    }
}

/// `corvid query`: the `corvid-query` beside this executable, in its place (the engine's
/// binary does not link DataFusion).
fn query(args: QueryArgs) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("locating the corvid executable")?;
    let program = exe.with_file_name(format!("corvid-query{}", std::env::consts::EXE_SUFFIX));
    if !program.is_file() {
        bail!(
            "{} is missing: `corvid query` runs the corvid-query program installed next to corvid \
             (`cargo build -p corvid-sql` builds it)",
            program.display()
        );
    }
    let mut command = std::process::Command::new(&program);
    command.args(&args.args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let error = command.exec();
        bail!("cannot run {}: {error}", program.display());
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", program.display()))?;
        Ok(ExitCode::from(
            status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1),
        ))
    }
}

fn run_engine(args: RunArgs) -> Result<ExitCode> {
    let mut config = args.config.load()?;
    if let Some(workers) = args.workers {
        if workers == 0 {
            bail!("--workers: must be at least 1");
        }
        config.workers = workers;
    }
    let cluster = ClusterFlags {
        processes: args.processes,
        process: args.process,
        hostfile: args.hostfile,
        peers_dns: args.peers_dns,
    }
    .resolve()?;
    let shutdown = shutdown_on_signals()?;
    run(
        RunOptions {
            config,
            stop_at_end: args.stop_at_end,
            cluster,
        },
        shutdown,
    )?;
    eprintln!(
        "corvid: engine stopped: {}",
        corvid_engine::metrics::summary()
    );
    Ok(ExitCode::SUCCESS)
}

fn connect_file(args: FileArgs) -> Result<ExitCode> {
    if let Some(config) = &args.config {
        let shutdown = shutdown_on_signals()?;
        corvid_connectors::file::tail::run_from_file(config, shutdown)?;
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(path), Some(source_id), Some(log_types)) =
        (args.path, args.source_id, args.log_types)
    else {
        bail!("--path, --source-id and --log-types are required without --config");
    };
    if !(args.linger_secs.is_finite() && args.linger_secs >= 0.0) {
        bail!("--linger-secs: must be a non-negative number");
    }
    let metrics = ConnectorMetrics::new();
    let endpoint = args
        .metrics_listen
        .as_deref()
        .map(|listen| metrics.serve(listen, corvid_connectors::file::COMPONENT))
        .transpose()
        .context("--metrics-listen")?;
    let config = FileSourceConfig {
        path,
        brokers: args.brokers,
        topic: args.topic,
        partitions: args.partitions,
        meta: SourceMeta {
            source_id,
            source_label: args.source_label,
            log_types: SourceMeta::parse_log_types(&log_types),
        },
    };
    let sent = send_file(&config, &metrics);
    if endpoint.is_some() && args.linger_secs > 0.0 {
        linger(Duration::from_secs_f64(args.linger_secs))?;
    }
    let sent = sent?;
    eprintln!(
        "corvid: {sent} records from {} acknowledged by Kafka",
        config.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A flag SIGINT and SIGTERM raise; a second signal exits at once, for a process stuck
/// draining or in a delivery.
fn shutdown_on_signals() -> Result<Arc<AtomicBool>> {
    let shutdown = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&shutdown))
            .context("installing signal handlers")?;
        signal_hook::flag::register(signal, Arc::clone(&shutdown))
            .context("installing signal handlers")?;
    }
    Ok(shutdown)
}

/// Waits `time`, or until SIGINT or SIGTERM.
fn linger(time: Duration) -> Result<()> {
    let shutdown = shutdown_on_signals()?;
    tracing::info!(
        secs = time.as_secs_f64(),
        "serving /metrics until the linger time is over"
    );
    let end = Instant::now() + time;
    while !shutdown.load(Ordering::Acquire) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
    Ok(())
}

fn lag_exporter(args: LagExporterArgs) -> Result<ExitCode> {
    if args.group.trim().is_empty() {
        bail!("--group: must not be empty");
    }
    if let Some(topic) = args.topics.iter().find(|topic| topic.trim().is_empty()) {
        bail!("--topic: {topic:?} is not a topic name");
    }
    if !(args.interval_secs.is_finite() && args.interval_secs > 0.0) {
        bail!("--interval-secs: must be a positive number");
    }
    let client = args
        .client
        .iter()
        .map(|property| match property.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(anyhow::anyhow!(
                "--kafka-client: expected KEY=VALUE, got {property:?}"
            )),
        })
        .collect::<Result<_>>()?;
    let config = LagExporterConfig {
        brokers: args.brokers,
        group: args.group,
        topics: args.topics,
        client,
        interval: Duration::from_secs_f64(args.interval_secs),
    };
    let shutdown = shutdown_on_signals()?;
    let exporter = match LagExporter::start(config, &args.listen) {
        Err(LagExporterError::Metrics(error)) => {
            return Err(anyhow::Error::new(error).context("--listen"))
        }
        started => started?,
    };
    exporter.run(&shutdown);
    Ok(ExitCode::SUCCESS)
}

fn connect_table(args: TableArgs) -> Result<ExitCode> {
    let load = TableLoad {
        name: args.name,
        file: args.file,
        key: args.key,
        topic: args.topic,
        brokers: args.brokers,
        partitions: args.partitions,
    };
    let report = load_table(&load)?;
    eprintln!(
        "corvid: table {}: {} rows read from {}, {} written, {} unchanged, {} tombstoned on {}",
        load.name,
        report.rows_read,
        load.file.display(),
        report.written,
        report.unchanged,
        report.tombstoned,
        report.topic
    );
    Ok(ExitCode::SUCCESS)
}

fn forward_alerts(args: AlertsForwarderArgs) -> Result<ExitCode> {
    let config = ForwarderConfig::from_file(&args.config)?;
    let max_idle = match args.max_idle_secs {
        Some(secs) if !(secs.is_finite() && secs >= 0.0) => {
            bail!("--max-idle-secs: must be a non-negative number")
        }
        secs => secs.map(Duration::from_secs_f64),
    };
    let shutdown = shutdown_on_signals()?;
    let _metrics = corvid_connectors::alerts::metrics::serve(&config)?;
    let options = corvid_connectors::alerts::RunOptions { max_idle };
    let stats = corvid_connectors::alerts::run(&config, &options, &shutdown)?;
    eprintln!(
        "corvid: {} alert records read from {}: {} deliveries, {} dead letters, {} routed nowhere",
        stats.records, config.topic, stats.delivered, stats.dead_lettered, stats.unrouted
    );
    Ok(ExitCode::SUCCESS)
}

fn test_rules(path: PathBuf, filters: &[String]) -> Result<ExitCode> {
    let filters = filters
        .iter()
        .map(|filter| match filter.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(anyhow::anyhow!(
                "--filter: expected KEY=VALUE, got {filter:?}"
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    let mut stdout = std::io::stdout().lock();
    let summary = corvid_engine::rules::run_tests_filtered(&path, &filters, &mut stdout)
        .with_context(|| format!("loading rules from {}", path.display()))?;
    stdout.flush()?;
    Ok(if summary.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn parse_stdin(args: ParseArgs) -> Result<ExitCode> {
    let registry = LogTypeRegistry::with_schema_dir(args.schemas.as_deref())?;
    let log_types = SourceMeta::parse_log_types(&args.log_types);
    if let Some(unknown) = log_types.iter().find(|name| registry.get(name).is_none()) {
        bail!("--log-types: {unknown} is not a known log type");
    }
    let source = LineSource {
        topic: "stdin".into(),
        stream: args.stream,
        meta: SourceMeta {
            source_label: args.source_id.clone(),
            source_id: args.source_id,
            log_types,
        },
    };
    let mut classifier = Classifier::new(Arc::new(registry));
    if let Some(url) = &args.schema_registry {
        classifier = classifier.with_avro(Arc::new(AvroDecoding::new(url)));
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let (events, dead) = print_parsed(
        &mut classifier,
        &source,
        std::io::stdin().lock(),
        &mut stdout,
    )?;
    stdout.flush()?;
    eprintln!("corvid: {events} events, {dead} dead letters");
    Ok(ExitCode::SUCCESS)
}

fn tail_alerts(args: TailArgs) -> Result<ExitCode> {
    let config = args.config.load()?;
    if !(args.idle_secs.is_finite() && args.idle_secs >= 0.0) {
        bail!("--idle-secs: must be a non-negative number");
    }
    let options = TailOptions {
        topic: config.topics.alerts.clone(),
        from_beginning: args.from_beginning,
        idle: Duration::from_secs_f64(args.idle_secs),
        max: args.max,
        json: args.json,
        schema_registry_url: config.schema_registry_url.clone(),
    };
    let mut stdout = std::io::stdout().lock();
    let count = tail(&config.kafka, &options, &mut stdout)?;
    eprintln!("corvid: {count} alert records read from {}", options.topic);
    Ok(ExitCode::SUCCESS)
}

fn parse_benchmark(args: &LoadtestArgs) -> Result<ExitCode> {
    let (report, complete) = benchmarks::parse(usize::try_from(args.events)?, args.rounds)?;
    print!("{report}");
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn rules_benchmark(args: &LoadtestArgs) -> Result<ExitCode> {
    let mut options =
        rules_bench::Options::new(usize::try_from(args.events)?, args.seed, args.rounds);
    options.keep_events = args.write_to.clone();
    let report = benchmarks::rules(&options)?;
    print!("{}", report.render());
    Ok(if report.consistent() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn alerts_benchmark(args: &LoadtestArgs) -> Result<ExitCode> {
    if args.keys == 0 || args.matches_per_key == 0 {
        bail!("--keys and --matches-per-key must be at least 1");
    }
    let config = args.config.load()?;
    let report = benchmarks::alerts::run(&benchmarks::alerts::Options {
        brokers: config.kafka.brokers,
        keys: args.keys,
        matches_per_key: args.matches_per_key,
    })?;
    print!("{}", report.render());
    Ok(ExitCode::SUCCESS)
}

fn loadtest(args: LoadtestArgs) -> Result<ExitCode> {
    if args.parse {
        return parse_benchmark(&args);
    }
    if args.bench.as_deref() == Some("rules") {
        return rules_benchmark(&args);
    }
    if args.bench.as_deref() == Some("alerts") {
        return alerts_benchmark(&args);
    }
    if args.bench.as_deref() == Some("lake") {
        let figures = benchmarks::lake::run(usize::try_from(args.events)?, args.rounds)?;
        print!("{}", benchmarks::lake::render(&figures));
        return Ok(ExitCode::SUCCESS);
    }
    let config = args.config.load()?;
    if args.planted == 0 || args.events == 0 || args.streams == 0 {
        bail!("--events, --planted and --streams must all be at least 1");
    }
    let run_id = format!(
        "lt{}",
        std::process::id() as u64 * 1000 + u64::from(chrono::Utc::now().timestamp_subsec_millis())
    );
    let spec = GeneratorSpec {
        events: args.events,
        planted: args.planted,
        streams: args.streams,
        run_id,
        start_unix: chrono::Utc::now().timestamp(),
        seed: args.seed,
    };
    if let Some(path) = args.write_to {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        for line in generate(&spec) {
            writeln!(out, "{}", line.text)?;
        }
        out.flush()?;
        eprintln!(
            "corvid: wrote {} lines ({} planted) to {}",
            spec.events,
            spec.planted,
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let harness_config = HarnessConfig {
        brokers: config.kafka.brokers.clone(),
        raw_topic: config.topics.raw.clone(),
        alerts_topic: config.topics.alerts.clone(),
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let report = harness::run(&harness_config, &spec)?;
    println!("{}", report.render());
    Ok(if report.complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn scenario(args: ScenarioArgs) -> Result<ExitCode> {
    let spec = intrusion::IntrusionSpec {
        day: args.date.unwrap_or_else(Day::today_utc),
        background_events: args.events,
        seed: args.seed,
    };
    let scenario = intrusion::generate(&spec);
    print!("{}", scenario.render());
    if let Some(dir) = &args.write_to {
        let paths = delivery::write_files(&scenario, dir)?;
        for (path, log) in paths.iter().zip(&scenario.logs) {
            println!(
                "wrote {} ({} lines); to send it: corvid connect file --path {} --source-id {} --log-types {}",
                path.display(),
                log.lines.len(),
                path.display(),
                log.meta.source_id,
                log.log_type
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let config = args.config.load()?;
    let target = delivery::KafkaTarget {
        brokers: config.kafka.brokers.clone(),
        topic: config.topics.raw.clone(),
        partitions: config.topics.partitions,
    };
    let acknowledged = delivery::produce(&scenario, &target)?;
    for (log, records) in scenario.logs.iter().zip(acknowledged) {
        println!(
            "produced {records} records of {} to {} (key {})",
            log.log_type, target.topic, log.stream
        );
    }
    Ok(ExitCode::SUCCESS)
}
