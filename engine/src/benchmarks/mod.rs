//! The engine's side of the benchmarks in `loadtest/`: the loadtest crate owns corpora,
//! baselines and reports, and calls back into the engine's real code through these.
//!
//! * [`parse`]: the classifier over each corpus, one thread (events/s per core).
//! * [`rules`]: the production Parse and Rules operators of `corvid run`, in a one-worker
//!   timely dataflow fed [`EPOCH_ITEMS`] items per epoch (Kafka and sinks left out),
//!   against panther-core on the same events and rules.
//! * [`alerts`]: the production dedup stage and transactional alerts sink on real Kafka
//!   with many distinct dedup keys, against a plain producer of the same records.
//! * [`lake`]: the lake writer (Parquet, zstd) on the parse corpora, against gzip JSON
//!   lines of the same events (Panther v1's lake format).

pub mod alerts;
pub mod enrich;
pub mod lake;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use corvid_connectors::raw_record::SourceMeta;
use corvid_loadtest::{parse_bench, rules_bench};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::{Input, Inspect, Probe};
use timely::dataflow::{InputHandle, ProbeHandle};

use crate::dataflow::parse as parse_stage;
use crate::evaluate::evaluate_rules;
use crate::evaluate::reload::LiveRules;
use crate::event::Event;
use crate::parse::registry::RegistryError;
use crate::parse::{Classifier, LogTypeRegistry, ParseOutcome};
use crate::rules::{OutcomeKind, RuleLoadError, RuleOutcome, RuleSet};
use crate::source::{Epoch, RawRecord};

/// A dataflow input of `D` records.
type VecInput<D> = InputHandle<Epoch, CapacityContainerBuilder<Vec<D>>>;

/// Items fed into the benchmark dataflow per epoch.
pub const EPOCH_ITEMS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum BenchmarkError {
    #[error(transparent)]
    Schemas(#[from] RegistryError),
    #[error("log type {0} is not built in")]
    UnknownLogType(String),
    #[error("cannot load the benchmark rules from {dir}: {source}")]
    Rules {
        dir: std::path::PathBuf,
        source: RuleLoadError,
    },
    #[error(transparent)]
    RulesBench(#[from] rules_bench::RulesBenchError),
}

/// Raw records of one source and stream, one per line.
fn raw_records(lines: &[Vec<u8>], log_type: &str) -> Vec<RawRecord> {
    let meta = SourceMeta {
        source_id: "bench".into(),
        source_label: "bench".into(),
        log_types: vec![log_type.to_owned()],
    };
    lines
        .iter()
        .enumerate()
        .map(|(offset, line)| RawRecord {
            topic: "bench".into(),
            partition: 0,
            offset: offset as i64,
            stream: "bench".into(),
            meta: meta.clone(),
            payload: line.clone(),
        })
        .collect()
}

/// The parse benchmark: the report and whether every line parsed.
pub fn parse(lines: usize, rounds: usize) -> Result<(String, bool), BenchmarkError> {
    let registry = Arc::new(LogTypeRegistry::builtin()?);
    let corpora = parse_bench::corpora(lines);
    if let Some(missing) = corpora.iter().find(|c| registry.get(c.log_type).is_none()) {
        return Err(BenchmarkError::UnknownLogType(missing.log_type.to_owned()));
    }
    let parse_time = chrono::Utc::now();
    let results = parse_bench::run(&corpora, rounds, &mut |corpus| {
        let mut classifier = Classifier::new(Arc::clone(&registry));
        raw_records(&corpus.lines, corpus.log_type)
            .iter()
            .map(|record| {
                classifier
                    .classify(record, parse_time)
                    .iter()
                    .filter(|outcome| matches!(outcome, ParseOutcome::Event(_)))
                    .count() as u64
            })
            .sum()
    });
    // A VPC flow corpus starts with its header line, which yields no event.
    let complete = results.iter().all(|r| r.events + 1 >= r.lines as u64);
    Ok((parse_bench::render(&results), complete))
}

/// The rules benchmark: panther-core against Corvid's dataflow.
pub fn rules(options: &rules_bench::Options) -> Result<rules_bench::Report, BenchmarkError> {
    let registry = Arc::new(LogTypeRegistry::builtin()?);
    let rule_set = RuleSet::load(&options.rules_dir).map_err(|source| BenchmarkError::Rules {
        dir: options.rules_dir.clone(),
        source,
    })?;
    let live = LiveRules::new(rule_set);
    let parse_all = |lines: &[Vec<u8>]| -> Result<Vec<Event>, String> {
        let mut classifier = Classifier::new(Arc::clone(&registry));
        let parse_time = chrono::Utc::now();
        let mut events = Vec::with_capacity(lines.len());
        for record in raw_records(lines, rules_bench::LOG_TYPE) {
            for outcome in classifier.classify(&record, parse_time) {
                match outcome {
                    ParseOutcome::Event(event) => events.push(event),
                    ParseOutcome::DeadLetter(dead) => return Err(dead.reason),
                }
            }
        }
        Ok(events)
    };
    let mut normalize =
        |lines: &[Vec<u8>]| Ok(parse_all(lines)?.iter().map(Event::to_json).collect());
    let mut corvid = |lines: &[Vec<u8>], pass| match pass {
        rules_bench::Pass::EndToEnd => Ok(dataflow_pass(
            BenchInput::Raw(raw_records(lines, rules_bench::LOG_TYPE)),
            &registry,
            &live,
        )),
        rules_bench::Pass::RulesOnly => Ok(dataflow_pass(
            BenchInput::Parsed(parse_all(lines)?),
            &registry,
            &live,
        )),
    };
    Ok(rules_bench::run(
        options,
        rules_bench::Engine {
            normalize: &mut normalize,
            corvid: &mut corvid,
            corvid_label: format!("dataflow, 1 worker, {EPOCH_ITEMS}/epoch"),
        },
    )?)
}

/// What a pass starts from.
enum BenchInput {
    Raw(Vec<RawRecord>),
    Parsed(Vec<Event>),
}

/// One timed pass through `corvid run`'s Parse (for raw input) and Rules operators.
fn dataflow_pass(
    input: BenchInput,
    registry: &Arc<LogTypeRegistry>,
    live: &Arc<LiveRules>,
) -> rules_bench::PassResult {
    let registry = Arc::clone(registry);
    let live = Arc::clone(live);
    timely::execute_directly(move |worker| {
        let tally = Rc::new(RefCell::new(rules_bench::PassResult::default()));
        let probe = ProbeHandle::new();
        let count = {
            let tally = Rc::clone(&tally);
            move |outcome: &RuleOutcome| {
                let mut tally = tally.borrow_mut();
                match outcome.kind {
                    OutcomeKind::Match => {
                        *tally.matches.entry(outcome.rule_id.clone()).or_default() += 1
                    }
                    OutcomeKind::Error => tally.errors += 1,
                }
            }
        };
        let events_seen = Rc::new(RefCell::new(0u64));
        let seen = Rc::clone(&events_seen);
        let started = std::time::Instant::now();
        match input {
            BenchInput::Raw(records) => {
                let mut handle = VecInput::<RawRecord>::new();
                worker.dataflow(|scope| {
                    let raw = scope.input_from(&mut handle);
                    let (events, _dead) = parse_stage(raw, Arc::clone(&registry), None, None);
                    let events = events.inspect(move |_| *seen.borrow_mut() += 1);
                    evaluate_rules(scope, events, Arc::clone(&live))
                        .inspect(count)
                        .probe_with(&probe);
                });
                feed(worker, handle, &probe, records);
            }
            BenchInput::Parsed(events) => {
                let mut handle = VecInput::<Event>::new();
                worker.dataflow(|scope| {
                    let events = scope
                        .input_from(&mut handle)
                        .inspect(move |_| *seen.borrow_mut() += 1);
                    evaluate_rules(scope, events, Arc::clone(&live))
                        .inspect(count)
                        .probe_with(&probe);
                });
                feed(worker, handle, &probe, events);
            }
        }
        let mut result = tally.take();
        result.events = *events_seen.borrow();
        result.seconds = started.elapsed().as_secs_f64();
        result
    })
}

/// Sends `items` in epochs of [`EPOCH_ITEMS`], waiting for each to pass the probe.
fn feed<D: Clone + 'static>(
    worker: &mut timely::worker::Worker,
    mut handle: VecInput<D>,
    probe: &ProbeHandle<Epoch>,
    items: Vec<D>,
) {
    let mut items = items.into_iter().peekable();
    let mut epoch: Epoch = 0;
    while items.peek().is_some() {
        let mut batch: Vec<D> = items.by_ref().take(EPOCH_ITEMS).collect();
        handle.send_batch(&mut batch);
        epoch += 1;
        handle.advance_to(epoch);
        while probe.less_than(handle.time()) {
            worker.step();
        }
    }
    handle.close();
    while worker.step() {}
}
