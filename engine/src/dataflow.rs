//! The engine's dataflow, wired from the stages, and the `corvid run` entry point.
//!
//! ```text
//!  KafkaSource ─▶ Parse ─┬─ events ─▶ Enrich ─▶ Rules ─▶ DedupAlerts ─┬─▶ AlertsSink (worker 0,
//!   (owned        (per-  │           (lookup    (pyo3,   (exchange by   │    one transaction/epoch)
//!    partitions,  worker │            tables,    batch)   rule+dedup)   └─▶ KafkaSink(rule matches,
//!    epochs)      state) │            half-join)   └─▶ lake, events topic            rule errors)
//!                        └─ dead letters ───────────────────────────────▶ KafkaSink(dead letters)
//! ```
//!
//! Every worker builds the same dataflow; workers differ only in the partitions they own.
//! Parsing and rules run where the records were read (pipeline channels), so a stream's
//! records are parsed in order by one worker; only rule outcomes are exchanged.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::OkErr;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Concat, Exchange, Probe};
use timely::dataflow::{ProbeHandle, Stream};

use crate::alerts::{dedup_alerts, DedupCheckpoint};
use crate::checkpoint::{Cadence, CheckpointError, Checkpoints};
use crate::cluster::{Cluster, JsonWire};
use crate::config::EngineConfig;
use crate::enrich::{enrich, LearnCheckpoint, TableFeed, Tables};
use crate::evaluate::evaluate_rules;
use crate::evaluate::reload::{LiveRules, Loader};
use crate::event::Event;
use crate::kafka::client_config;
use crate::lake::{lake_sink, LakeRow, LakeWriter, RollPolicy};
use crate::metrics::{metrics, FrontierLag, OperatorName, ParseInstruments, SourceInstruments};
use crate::parse::avro::AvroDecoding;
use crate::parse::registry::RegistryError;
use crate::parse::{Classifier, DeadLetter, LogTypeRegistry, ParseOutcome};
use crate::rules::{LoadOptions, RuleLoadError, RuleSet};
use crate::sinks::alerts::{alerts_sink, AlertsSink, AlertsSinkError, FatalSlot};
use crate::sinks::dead_letters::dead_letter_record;
use crate::sinks::events::event_record;
use crate::sinks::kafka::{SinkError, TopicProducer};
use crate::sinks::kafka_sink;
use crate::sinks::rule_matches::rule_row_record;
use crate::source::epoch::Pending;
use crate::source::kafka::{kafka_source, OwnedPartitions, SourceError, SourceSettings};
use crate::source::Epoch;
use corvid_connectors::topics::{ensure_topics, ensure_topics_with, TopicError};
use corvid_lake::{Database, Lake, LakeError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error("cannot load rules from {dir}: {source}")]
    Rules { dir: PathBuf, source: RuleLoadError },
    #[error(transparent)]
    Schemas(#[from] RegistryError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    AlertsSink(#[from] AlertsSinkError),
    #[error("a sink failed: {0}")]
    SinkFailed(String),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("timely: {0}")]
    Timely(String),
    #[error("worker {0} panicked")]
    WorkerPanicked(usize),
    #[error("checkpoints: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Metrics(#[from] corvid_telemetry::TelemetryError),
}

/// Opens the checkpoints, loads the newest one and clears what a crashed run wrote
/// after it (state files, manifests, uncommitted lake files).
fn restore_checkpoint(
    config: &EngineConfig,
    lake: Option<&Lake>,
) -> Result<Checkpoints, EngineError> {
    let location = config
        .lake
        .checkpoint_location(&config.state_dir, config.checkpoint.url.as_deref());
    let mut checkpoints = Checkpoints::open(
        &location,
        config.checkpoint.interval_ms(config.epoch_ms),
        config.checkpoint.shards,
        config.checkpoint.keep,
    )?;
    let restored = checkpoints.restore()?;
    let boundary = restored.as_ref().map(|manifest| manifest.boundary);
    if let Some(lake) = lake {
        crate::lake::staging::recover(lake, boundary)?;
    }
    match restored {
        Some(manifest) => {
            let version = rules_version(config);
            if manifest.rules_version != version {
                tracing::warn!(
                    checkpoint = manifest.rules_version,
                    now = version,
                    "rules or schemas changed since the checkpoint: replayed epochs use the current ones"
                );
            }
            tracing::info!(
                boundary = manifest.boundary,
                workers = manifest.workers,
                written_at = manifest.written_at,
                "restoring from checkpoint"
            );
        }
        None => tracing::info!(url = location.url, "no checkpoint yet: starting fresh"),
    }
    Ok(checkpoints)
}

/// The version of the rules and schemas recorded in each manifest.
fn rules_version(config: &EngineConfig) -> String {
    let mut dirs = vec![config.rules_dir.as_path()];
    if let Some(schemas) = &config.schemas_dir {
        dirs.push(schemas.as_path());
    }
    crate::checkpoint::rules_version(&dirs)
}

/// Process 0 commits every worker's lake files and writes manifests naming every worker's
/// state files: with several processes the stores must be the same for all of them.
fn warn_if_local(config: &EngineConfig) {
    let lake = config.lake.location(&config.state_dir).url;
    let checkpoints = config
        .lake
        .checkpoint_location(&config.state_dir, config.checkpoint.url.as_deref())
        .url;
    let stores = [
        ("lake", lake, config.lake.enabled),
        ("checkpoints", checkpoints, config.checkpoint.enabled),
    ];
    for (store, url, enabled) in stores {
        if enabled && crate::cluster::is_local_url(&url) {
            tracing::warn!(
                store,
                url,
                "on local disk: every process must see the same directory (one machine or a \
                 shared filesystem), else other processes' files are never committed"
            );
        }
    }
}

/// How `corvid run` should run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub config: EngineConfig,
    /// Stop once every partition is read to the end it had at start-up.
    pub stop_at_end: bool,
    /// The processes of this engine; `config.workers` threads in each.
    pub cluster: Cluster,
}

/// Runs the engine until shutdown is requested (or, with `stop_at_end`, the input ends).
pub fn run(options: RunOptions, shutdown: Arc<AtomicBool>) -> Result<(), EngineError> {
    let config = options.config;
    let cluster = options.cluster;
    // First, so that a bad `metrics.listen` fails before anything else starts and start-up
    // (topics, rules, the checkpoint restore) is already observable; served until `run`
    // returns.
    let _metrics_server = corvid_telemetry::serve_configured(
        &config.metrics,
        "engine",
        vec![metrics().registry.clone()],
    )?;
    let topics = &config.topics;
    let mut topics_needed = vec![
        (topics.raw.as_str(), topics.partitions),
        (topics.alerts.as_str(), topics.partitions),
        (topics.dead_letters.as_str(), topics.partitions),
        (topics.rule_errors.as_str(), topics.partitions),
        (topics.rule_matches.as_str(), topics.partitions),
    ];
    if let Some(events) = &topics.events {
        topics_needed.push((events.as_str(), topics.partitions));
    }
    ensure_topics(&client_config(&config.kafka), &topics_needed)?;
    // The sink reads back only its newest progress record: compaction keeps just that.
    ensure_topics_with(
        &client_config(&config.kafka),
        &[(config.alerts.progress_topic.as_str(), 1)],
        &[("cleanup.policy", "compact")],
    )?;
    let tables = Arc::new(Tables::from_config(&config.enrichment));
    let table_topics: Vec<(String, i32)> = tables
        .topics()
        .into_iter()
        .map(|(_, topic)| (topic, 1))
        .collect();
    if !table_topics.is_empty() {
        let needed: Vec<(&str, i32)> = table_topics
            .iter()
            .map(|(topic, partitions)| (topic.as_str(), *partitions))
            .collect();
        ensure_topics_with(
            &client_config(&config.kafka),
            &needed,
            &[("cleanup.policy", "compact")],
        )?;
    }
    let registry = Arc::new(LogTypeRegistry::with_schema_dir(
        config.schemas_dir.as_deref(),
    )?);
    tracing::info!(log_types = registry.len(), "log types loaded");
    let load_options = LoadOptions {
        rule_timeout: Duration::from_millis(config.rule_timeout_ms),
    };
    let loader: Loader =
        Arc::new(move |dir: &std::path::Path| RuleSet::load_with(dir, load_options.clone()));
    let rules = loader(&config.rules_dir).map_err(|source| EngineError::Rules {
        dir: config.rules_dir.clone(),
        source,
    })?;
    if rules.is_empty() {
        tracing::warn!(dir = %config.rules_dir.display(), "no enabled rule yet");
    }
    tracing::info!(rules = ?rules.rule_ids(), "rules loaded");
    for failure in rules.load_failures() {
        tracing::error!(%failure, "rule not loaded");
    }
    let rules = LiveRules::new(rules);
    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = (config.rules_reload_secs > 0.0).then(|| {
        rules.watch(
            config.rules_dir.clone(),
            Duration::from_secs_f64(config.rules_reload_secs),
            loader,
            Arc::clone(&stop_watching),
        )
    });
    let fatal = FatalSlot::default();
    let lake = match config.lake.enabled {
        true => Some(Lake::open(&config.lake.location(&config.state_dir))?),
        false => None,
    };
    if cluster.processes() > 1 {
        warn_if_local(&config);
    }
    // Every process loads the checkpoint, but only process 0 settles the lake's staged
    // files: two processes moving the same file race (no worker runs before all have
    // connected, so process 0 is done before anyone writes).
    let staged_lake = lake.as_ref().filter(|_| cluster.process == 0);
    let checkpoints = match config.checkpoint.enabled {
        true => Some(Arc::new(restore_checkpoint(&config, staged_lake)?)),
        false => None,
    };
    let settings = SourceSettings {
        kafka: config.kafka.clone(),
        topic: config.topics.raw.clone(),
        tick_ms: config.epoch_ms,
        grace_ms: config.epoch_grace_ms,
        stop_at_end: options.stop_at_end,
        shutdown,
        table: false,
        checkpoints: checkpoints.clone(),
        fatal: fatal.clone(),
    };
    if let Some(lake) = &lake {
        tracing::info!(lake = %lake.url_of(&lake.prefix), "writing the lake");
    }
    let shared = Shared {
        config,
        settings,
        registry,
        rules,
        fatal: fatal.clone(),
        lake,
        tables,
        checkpoints,
    };
    let workers = shared.config.workers;
    tracing::info!(%cluster, workers, "starting the workers");
    let guards = timely::execute(cluster.timely_config(workers), move |worker| {
        run_worker(worker, &shared)
    })
    .map_err(EngineError::Timely)?;
    let results = guards.join();
    stop_watching.store(true, Ordering::Release);
    if let Some(watcher) = watcher {
        let _ = watcher.join();
    }
    for (index, result) in results.into_iter().enumerate() {
        match result {
            Ok(outcome) => outcome?,
            Err(_) => {
                let global = cluster.process * workers + index;
                return Err(EngineError::WorkerPanicked(global));
            }
        }
    }
    if let Some(message) = fatal.take() {
        return Err(EngineError::SinkFailed(message));
    }
    tracing::debug!("final metrics\n{}", crate::metrics::render());
    Ok(())
}

/// What every worker of the process shares.
struct Shared {
    config: EngineConfig,
    settings: SourceSettings,
    registry: Arc<LogTypeRegistry>,
    rules: Arc<LiveRules>,
    fatal: FatalSlot,
    lake: Option<Lake>,
    tables: Arc<Tables>,
    checkpoints: Option<Arc<Checkpoints>>,
}

fn run_worker(worker: &mut timely::worker::Worker, shared: &Shared) -> Result<(), EngineError> {
    let Shared {
        config,
        settings,
        registry,
        rules,
        fatal,
        lake,
        tables,
        checkpoints,
    } = shared;
    let partitions = OwnedPartitions::assign(settings, worker.index(), worker.peers())?;
    let mut table_feeds = Vec::new();
    for (_, topic) in tables.topics() {
        let settings = SourceSettings {
            topic,
            table: true,
            checkpoints: None,
            ..settings.clone()
        };
        let partitions = OwnedPartitions::assign(&settings, worker.index(), worker.peers())?;
        table_feeds.push(TableFeed {
            settings,
            partitions,
        });
    }
    let tables = Arc::clone(tables);
    let alerts_out = match worker.index() {
        0 => Some(AlertsSink::connect(config)?),
        _ => None,
    };
    let dead_out = TopicProducer::connect(&config.kafka, &config.topics.dead_letters)?;
    let rule_errors_out = TopicProducer::connect(&config.kafka, &config.topics.rule_errors)?;
    let rule_matches_out = TopicProducer::connect(&config.kafka, &config.topics.rule_matches)?;
    let fatal = fatal.clone();
    let max_samples = config.alerts.max_samples;
    let events_out = match &config.topics.events {
        Some(topic) => Some(TopicProducer::connect(&config.kafka, topic)?),
        None => None,
    };
    let probe = ProbeHandle::new();
    let lake_probe = ProbeHandle::new();
    let settings = settings.clone();
    let shutdown = Arc::clone(&settings.shutdown);
    let rules = Arc::clone(rules);
    let registry = Arc::clone(registry);
    let avro = config
        .schema_registry_url
        .as_deref()
        .map(|url| Arc::new(AvroDecoding::new(url)));
    let policy = RollPolicy {
        roll_ms: (config.lake.roll_secs * 1000.0) as u64,
        max_file_bytes: usize::try_from(config.lake.max_file_mib.saturating_mul(1 << 20))
            .unwrap_or(usize::MAX),
    };
    let lake_writer = lake.clone().map(|lake| {
        let writer = LakeWriter::new(
            lake,
            worker.index(),
            Arc::clone(&registry),
            policy,
            Arc::clone(&shutdown),
        );
        match checkpoints {
            Some(checkpoints) => writer.with_checkpoints(checkpoints.interval_ms()),
            None => writer,
        }
    });
    let index = worker.index();
    let parse_checkpoint = checkpoints.as_ref().map(|checkpoints| ParseCheckpoint {
        checkpoints: Arc::clone(checkpoints),
        worker: index,
        owned: partitions.owned.iter().copied().collect(),
        fatal: fatal.clone(),
    });
    let learn_checkpoint = checkpoints.as_ref().map(|checkpoints| LearnCheckpoint {
        checkpoints: Arc::clone(checkpoints),
        worker: index,
        fatal: fatal.clone(),
    });
    let dedup_checkpoint = checkpoints.as_ref().map(|checkpoints| DedupCheckpoint {
        checkpoints: Arc::clone(checkpoints),
        worker: index,
        fatal: fatal.clone(),
    });
    let lake_checkpoint = checkpoints
        .as_ref()
        .map(|checkpoints| (Arc::clone(checkpoints), index));
    worker.dataflow::<Epoch, _, _>(|scope| {
        // With checkpoints the source runs at most two intervals ahead of the sinks, so
        // a backlog drains checkpoint by checkpoint instead of in one gulp.
        let ahead = checkpoints
            .as_ref()
            .map(|checkpoints| (probe.clone(), 2 * checkpoints.interval_ms()));
        let raw = kafka_source(scope, settings, partitions, ahead);
        let (events, dead_letters) = parse(raw, registry, avro, parse_checkpoint);
        let events = enrich(scope, events, tables, table_feeds, learn_checkpoint);
        if let Some(events_out) = events_out {
            kafka_sink(events.clone(), events_out, event_record, &probe);
        }
        kafka_sink(
            dead_letters,
            dead_out,
            |dead| dead_letter_record(dead),
            &probe,
        );
        let lake_events = events.clone();
        let outcomes = evaluate_rules(scope, events, rules);
        let (alerts, alerted) = dedup_alerts(outcomes, max_samples, dedup_checkpoint);
        // Each match's or error's record is built once, for its topic and for the lake.
        let rule_rows = alerted.map(|alerted| LakeRow::outcome(&alerted));
        if let Some(writer) = lake_writer {
            // The lake sink's input frontier, for corvid_frontier_lag_seconds.
            let rows = lake_events
                .map(|event| LakeRow::event(&event))
                .concat(rule_rows.clone())
                .probe_with(&lake_probe);
            lake_sink(rows, writer, fatal.clone(), lake_checkpoint, &probe);
        }
        let (errors, matches) = rule_rows.ok_err(|row| match row.database {
            Database::RuleErrors => Ok(row),
            _ => Err(row),
        });
        kafka_sink(errors, rule_errors_out, rule_row_record, &probe);
        kafka_sink(matches, rule_matches_out, rule_row_record, &probe);
        // Alerts hold JSON values, which timely's codec between processes cannot decode:
        // they reach worker 0 as JSON text (the sink's own exchange is then local).
        let alerts = alerts
            .map(JsonWire)
            .exchange(|_| 0)
            .map(JsonWire::into_inner);
        alerts_sink(alerts, alerts_out, shutdown, fatal, &probe);
    });
    let mut committer = match (index, checkpoints) {
        (0, Some(checkpoints)) => Some(Committer::new(
            Arc::clone(checkpoints),
            lake.clone(),
            worker.peers(),
            rules_version(config),
        )),
        _ => None,
    };
    let end_lag = FrontierLag::of(OperatorName::End);
    let lake_lag = FrontierLag::of(OperatorName::LakeSink);
    while worker.step_or_park(Some(Duration::from_millis(100))) {
        let frontier = probe.with_frontier(|frontier| frontier.first().copied());
        end_lag.observe(frontier);
        lake_lag.observe(lake_probe.with_frontier(|frontier| frontier.first().copied()));
        if let Some(committer) = committer.as_mut() {
            committer.reach(frontier)?;
        }
    }
    if let Some(committer) = committer.as_mut() {
        committer.finish()?;
    }
    Ok(())
}

/// Worker 0's part of a checkpoint: once the end of the dataflow has reached a boundary,
/// every state file for it is written; the manifest follows, then the lake files it
/// covers become visible.
struct Committer {
    checkpoints: Arc<Checkpoints>,
    lake: Option<Lake>,
    workers: usize,
    rules_version: String,
    last: Epoch,
}

impl Committer {
    fn new(
        checkpoints: Arc<Checkpoints>,
        lake: Option<Lake>,
        workers: usize,
        rules_version: String,
    ) -> Committer {
        let last = checkpoints.restored_boundary();
        Committer {
            checkpoints,
            lake,
            workers,
            rules_version,
            last,
        }
    }

    /// The dataflow's frontier is `frontier` (None: everything is done).
    fn reach(&mut self, frontier: Option<Epoch>) -> Result<(), EngineError> {
        let Some(frontier) = frontier else {
            return Ok(());
        };
        let boundary = self.checkpoints.boundary_at_or_below(frontier);
        if boundary > self.last {
            self.commit(boundary)?;
        }
        Ok(())
    }

    /// The dataflow is done: the operators wrote their final state at the boundary above
    /// what they processed; the newest such boundary is the final checkpoint.
    fn finish(&mut self) -> Result<(), EngineError> {
        match self.checkpoints.newest_state_boundary()? {
            Some(boundary) if boundary > self.last => self.commit(boundary),
            _ => Ok(()),
        }
    }

    fn commit(&mut self, boundary: Epoch) -> Result<(), EngineError> {
        let started = std::time::Instant::now();
        let manifest =
            self.checkpoints
                .write_manifest(boundary, self.workers, &self.rules_version)?;
        crate::fail_point!(crate::checkpoint::failpoints::AFTER_MANIFEST);
        let moved = match &self.lake {
            Some(lake) => crate::lake::staging::commit(lake, boundary)?,
            None => 0,
        };
        self.last = boundary;
        crate::metrics::checkpoint_completed(started.elapsed(), manifest.state_bytes);
        tracing::info!(
            boundary,
            files = manifest.files.values().map(Vec::len).sum::<usize>(),
            lake_files = moved,
            millis = started.elapsed().as_millis() as u64,
            "checkpoint written"
        );
        Ok(())
    }
}

/// Logs and counts one record's outcomes.
fn count_parsed(outcomes: &[ParseOutcome], instruments: &mut SourceInstruments) {
    match outcomes {
        [ParseOutcome::DeadLetter(dead)] => {
            tracing::warn!(
                stream = dead.record.stream,
                partition = dead.record.partition,
                offset = dead.record.offset,
                reason = dead.reason,
                "dead letter"
            );
            metrics()
                .dead_letters
                .with_label_values(&[&dead.record.meta.source_id, dead.kind.as_str()])
                .inc();
        }
        events => {
            metrics().records_parsed.inc();
            for outcome in events {
                if let ParseOutcome::Event(event) = outcome {
                    instruments.event(event.log_type());
                }
            }
        }
    }
}

/// A stream of events and the stream of dead letters beside it.
pub type Parsed<'scope> = (
    Stream<'scope, Epoch, Vec<Event>>,
    Stream<'scope, Epoch, Vec<Box<DeadLetter>>>,
);

/// What the parse stage needs to take part in checkpoints.
pub struct ParseCheckpoint {
    pub checkpoints: Arc<Checkpoints>,
    pub worker: usize,
    /// Raw partitions this worker owns: it takes over their streams' parser state.
    pub owned: std::collections::BTreeSet<i32>,
    pub fatal: FatalSlot,
}

/// Name of the parse stage's state in checkpoints.
pub const PARSE_STATE: &str = "parse";

/// Classifies raw records; splits events from dead letters.
///
/// Epochs are parsed in order once the frontier has passed them, so per-stream parser
/// state at a checkpoint boundary is exactly the state after the epochs below it.
pub fn parse<'scope>(
    raw: Stream<'scope, Epoch, Vec<crate::source::RawRecord>>,
    registry: Arc<LogTypeRegistry>,
    avro: Option<Arc<AvroDecoding>>,
    checkpoint: Option<ParseCheckpoint>,
) -> Parsed<'scope> {
    raw.unary_frontier::<timely::container::CapacityContainerBuilder<Vec<ParseOutcome>>, _, _, _>(
        Pipeline,
        "Parse",
        move |capability, _info| {
            let mut classifier = Classifier::new(registry);
            if let Some(avro) = avro {
                classifier = classifier.with_avro(avro);
            }
            let mut fatal = None;
            let mut cadence = None;
            if let Some(checkpoint) = checkpoint {
                match checkpoint.checkpoints.restored_states(PARSE_STATE) {
                    Ok(states) => {
                        classifier.restore(states, |p| checkpoint.owned.contains(&p));
                    }
                    Err(error) => checkpoint.fatal.set(error.to_string()),
                }
                cadence = Some(Cadence::new(
                    checkpoint.checkpoints,
                    PARSE_STATE,
                    checkpoint.worker,
                    capability,
                ));
                fatal = Some(checkpoint.fatal);
            }
            let mut pending: Pending<crate::source::RawRecord> = Pending::new();
            let mut instruments = ParseInstruments::default();
            let lag = FrontierLag::of(OperatorName::Parse);
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    crate::source::epoch::stash(&mut pending, &cap, data);
                });
                let frontier = frontier.frontier().first().copied();
                lag.observe(frontier);
                let mut checkpoint_failed = None;
                while let Some(entry) = pending.first_entry() {
                    if frontier.is_some_and(|frontier| frontier <= *entry.key()) {
                        break;
                    }
                    let (epoch, (cap, records)) = entry.remove_entry();
                    if let Some(cadence) = cadence.as_mut() {
                        if let Err(error) = cadence.before(epoch, || classifier.snapshot()) {
                            checkpoint_failed = Some(error);
                        }
                    }
                    let parse_time = chrono::Utc::now();
                    let mut session = output.session(&cap);
                    for record in records {
                        let started = Instant::now();
                        let outcomes = classifier.classify(&record, parse_time);
                        let source = instruments.source(&record.meta.source_id);
                        source.parsed(started.elapsed());
                        count_parsed(&outcomes, source);
                        session.give_iterator(outcomes.into_iter());
                    }
                }
                if let Some(cadence) = cadence.as_mut() {
                    if let Err(error) = cadence.follow(frontier, || classifier.snapshot()) {
                        checkpoint_failed = Some(error);
                    }
                }
                if let (Some(error), Some(fatal)) = (checkpoint_failed, fatal.as_ref()) {
                    tracing::error!(%error, "checkpoint of parser state failed");
                    fatal.set(error.to_string());
                }
            }
        },
    )
    .ok_err(|outcome| match outcome {
        ParseOutcome::Event(event) => Ok(event),
        ParseOutcome::DeadLetter(dead) => Err(dead),
    })
}
