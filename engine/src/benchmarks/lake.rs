//! The lake benchmark: events/s per core through the lake writer and bytes on disk per
//! event, beside gzip JSON lines of the same events (Panther v1's lake format), both
//! measured in the same run on the same parsed events.
//!
//! Each side runs on one thread over a local directory; events come from the parse
//! benchmark's corpora (CloudTrail, VPC flow, syslog), parsed before timing starts.

use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use flate2::write::GzEncoder;
use flate2::Compression;

use super::{raw_records, BenchmarkError};
use crate::event::Event;
use crate::lake::{LakeRow, LakeWriter, RollPolicy};
use crate::parse::{Classifier, LogTypeRegistry, ParseOutcome};
use corvid_lake::{Lake, LakeLocation};
use corvid_loadtest::parse_bench;

/// Events per epoch handed to the writer, as the dataflow would.
const EPOCH_EVENTS: usize = 1024;

#[derive(Clone, Debug)]
pub struct LakeFigures {
    pub log_type: &'static str,
    pub events: usize,
    pub lake_seconds: f64,
    pub lake_bytes: u64,
    pub gzip_seconds: f64,
    pub gzip_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LakeBenchError {
    #[error(transparent)]
    Setup(#[from] BenchmarkError),
    #[error("lake benchmark I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Lake(#[from] corvid_lake::LakeError),
    #[error(transparent)]
    Write(#[from] crate::lake::writer::LakeWriteError),
}

/// Runs the benchmark with `events` events per log type; the best of `rounds` counts.
pub fn run(events: usize, rounds: usize) -> Result<Vec<LakeFigures>, LakeBenchError> {
    let registry = Arc::new(LogTypeRegistry::builtin().map_err(BenchmarkError::from)?);
    let mut figures = Vec::new();
    for corpus in parse_bench::corpora(events) {
        let parsed = parse(&registry, &corpus)?;
        let mut best: Option<LakeFigures> = None;
        for _ in 0..rounds.max(1) {
            let dir = tempfile::tempdir()?;
            let (lake_seconds, lake_bytes) =
                lake_side(&registry, &parsed, &dir.path().join("lake"))?;
            let (gzip_seconds, gzip_bytes) = gzip_side(&parsed, &dir.path().join("gzip"))?;
            let round = LakeFigures {
                log_type: corpus.log_type,
                events: parsed.len(),
                lake_seconds: best
                    .as_ref()
                    .map_or(lake_seconds, |b| b.lake_seconds.min(lake_seconds)),
                lake_bytes,
                gzip_seconds: best
                    .as_ref()
                    .map_or(gzip_seconds, |b| b.gzip_seconds.min(gzip_seconds)),
                gzip_bytes,
            };
            best = Some(round);
        }
        figures.extend(best);
    }
    Ok(figures)
}

fn parse(
    registry: &Arc<LogTypeRegistry>,
    corpus: &parse_bench::Corpus,
) -> Result<Vec<Event>, LakeBenchError> {
    let mut classifier = Classifier::new(Arc::clone(registry));
    let parse_time = chrono::Utc::now();
    Ok(raw_records(&corpus.lines, corpus.log_type)
        .iter()
        .flat_map(|record| classifier.classify(record, parse_time))
        .filter_map(|outcome| match outcome {
            ParseOutcome::Event(event) => Some(event),
            ParseOutcome::DeadLetter(_) => None,
        })
        .collect())
}

fn lake_side(
    registry: &Arc<LogTypeRegistry>,
    events: &[Event],
    dir: &std::path::Path,
) -> Result<(f64, u64), LakeBenchError> {
    let lake = Lake::open(&LakeLocation {
        url: dir.display().to_string(),
        ..LakeLocation::default()
    })?;
    let mut writer = LakeWriter::new(
        lake,
        0,
        Arc::clone(registry),
        RollPolicy {
            roll_ms: u64::MAX / 2,
            max_file_bytes: 128 << 20,
        },
        Arc::new(AtomicBool::new(false)),
    );
    let started = Instant::now();
    for (epoch, chunk) in events.chunks(EPOCH_EVENTS).enumerate() {
        writer.write_epoch(epoch as u64, chunk.iter().map(LakeRow::event).collect())?;
    }
    writer.advance(None)?;
    Ok((started.elapsed().as_secs_f64(), directory_bytes(dir)?))
}

fn gzip_side(events: &[Event], dir: &std::path::Path) -> Result<(f64, u64), LakeBenchError> {
    std::fs::create_dir_all(dir)?;
    let started = Instant::now();
    let file = std::fs::File::create(dir.join("events.json.gz"))?;
    let mut gzip = GzEncoder::new(std::io::BufWriter::new(file), Compression::default());
    for event in events {
        gzip.write_all(event.to_json().as_bytes())?;
        gzip.write_all(b"\n")?;
    }
    gzip.finish()?.flush()?;
    Ok((started.elapsed().as_secs_f64(), directory_bytes(dir)?))
}

fn directory_bytes(dir: &std::path::Path) -> Result<u64, std::io::Error> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            } else {
                total += entry.metadata()?.len();
            }
        }
    }
    Ok(total)
}

/// The report: per log type, both sides and the ratios.
pub fn render(figures: &[LakeFigures]) -> String {
    let mut out = String::from(
        "lake benchmark: one thread each, local directory, best round\n\
         log type          events   lake ev/s  gzip-json ev/s  speed ratio   lake B/ev  gzip B/ev  size ratio\n",
    );
    for f in figures {
        let rate = |seconds: f64| f.events as f64 / seconds.max(1e-9);
        let per = |bytes: u64| bytes as f64 / f.events.max(1) as f64;
        out.push_str(&format!(
            "{:<16} {:>7} {:>11.0} {:>15.0} {:>12.2} {:>11.1} {:>10.1} {:>11.2}\n",
            f.log_type,
            f.events,
            rate(f.lake_seconds),
            rate(f.gzip_seconds),
            rate(f.lake_seconds) / rate(f.gzip_seconds).max(1e-9),
            per(f.lake_bytes),
            per(f.gzip_bytes),
            per(f.lake_bytes) / per(f.gzip_bytes).max(1e-9),
        ));
    }
    out
}
