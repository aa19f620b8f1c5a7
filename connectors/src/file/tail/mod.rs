//! `corvid connect file --config`: tails files and globs into a raw topic, across
//! rotation and truncation, resuming from a durable position per file.
//!
//! ```text
//!  globs ──scan every poll──▶ tailed files (by identity) ──lines──▶ AckedProducer ──▶ Kafka
//!                                   │  ▲                                   │
//!                                   │  └──────── acknowledged offsets ◀────┘
//!                                   └──▶ positions file (temp + fsync + rename)
//! ```
//!
//! **Identity, not path.** A file is tracked by (device, inode) while the tailer holds it
//! open, and by (device, inode, fingerprint of its first bytes) in the positions file, so
//! a restart does not mistake a reused inode for the file it knew. Its lines are keyed by
//! the path it was first seen at (its *stream*), so a rotated file and its successor at
//! that path share one key and stay ordered. A rotated file still matched by a glob
//! (`app.log.1` under `app.log*`) is the same identity, never read twice.
//!
//! **Rotation and truncation** ([`identity`]): a file that moved away from its path
//! (renamed, deleted) is read on to its end; once it has not grown for `rotate_wait_ms`
//! its partial last line is sent and the new file at the path starts. A file that is
//! shorter than what was read, or whose first bytes changed, is read again from 0.
//!
//! **Delivery.** Each round reads at most `max_batch_records` records, queues them, and
//! waits for every acknowledgement before a file's position moves past them; the
//! positions file is rewritten at most every `positions_interval_ms` and at shutdown.
//! A graceful stop (SIGINT/SIGTERM) finishes the round and writes positions: a restart
//! repeats nothing. A crash repeats at most the lines after the last written position
//! (at-least-once). Memory is bounded: one batch of pending deliveries, librdkafka's
//! queue (`kafka.max_buffered_kib`), and per file one partial line of at most
//! `max_line_bytes` plus one read.

mod config;
pub mod identity;
mod lines;
mod metrics;
pub mod positions;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use config::{FileGroup, StartAt, TailConfig, MAX_LINE_BYTES_LIMIT};
pub use metrics::{SourceTailMetrics, TailMetrics};
pub use positions::{FileId, Fingerprint, Position, PositionsError, PositionsStore};

use identity::{classify, drained, fingerprint, prefix_fingerprint, rotated_away, Change};
use lines::{Cut, LineSplitter};

use super::{stream_name, CONNECTOR};
use crate::ingest::acked::{AckedProducer, AckedProducerError, Delivery, Route};
use crate::ingest::config::{load_checked, ConnectorConfigError};
use crate::metrics::ConnectorMetrics;
use crate::producer::ProduceError;

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error(transparent)]
    Config(#[from] ConnectorConfigError),
    #[error(transparent)]
    Positions(#[from] PositionsError),
    #[error(transparent)]
    Producer(#[from] AckedProducerError),
    #[error("lines of {stream}: {source}")]
    Delivery {
        stream: String,
        source: Box<ProduceError>,
    },
    #[error(transparent)]
    Metrics(#[from] corvid_telemetry::TelemetryError),
}

/// What a run did, for its last log line and for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TailSummary {
    /// Records Kafka acknowledged.
    pub records: u64,
    /// Files tailed when it stopped.
    pub files: usize,
}

/// `corvid connect file --config <path>`: runs until `shutdown` is raised.
pub fn run_from_file(config: &Path, shutdown: Arc<AtomicBool>) -> Result<(), TailError> {
    let path = config;
    let config = load_checked(path, |config: &mut TailConfig| config.validate())?;
    let metrics = TailMetrics::new(ConnectorMetrics::new());
    let _server = match &config.metrics.listen {
        Some(listen) => Some(metrics.serve(listen)?),
        None => None,
    };
    let summary = run(&config, &metrics, &shutdown)?;
    tracing::info!(
        records = summary.records,
        files = summary.files,
        "file tailing stopped"
    );
    Ok(())
}

/// Tails `config` (already validated) until `shutdown` is raised; returns after the last
/// acknowledged position is written.
pub fn run(
    config: &TailConfig,
    metrics: &TailMetrics,
    shutdown: &AtomicBool,
) -> Result<TailSummary, TailError> {
    Tailer::start(config, metrics)?.run(shutdown)
}

/// One `files` entry at run time.
struct Source {
    route: Route,
    metrics: SourceTailMetrics,
}

/// One file being tailed.
struct Tailed {
    id: FileId,
    /// Held open so the identity cannot be reused while it is tracked, and so a renamed
    /// or deleted file can still be read to its end.
    file: File,
    /// Where a scan last found it.
    path: PathBuf,
    /// The record key: the path it was first seen at.
    stream: String,
    source: usize,
    lines: LineSplitter,
    /// Bytes before this offset are acknowledged: what the positions file stores.
    acked: u64,
    fingerprint: Fingerprint,
    rotated_at: Option<Instant>,
    last_growth: Instant,
    /// Rotated away and read to its end, partial last line included.
    drained: bool,
    /// Matched by a glob at the last scan.
    matched: bool,
}

/// A record queued in this round, and the offset its acknowledgement moves to.
struct Queued {
    file: usize,
    end: u64,
    delivery: Delivery,
}

/// Bytes read from a file at once.
const READ_BYTES: usize = 64 * 1024;

struct Tailer<'a> {
    config: &'a TailConfig,
    sources: Vec<Source>,
    producer: AckedProducer,
    store: PositionsStore,
    files: Vec<Tailed>,
    /// Stored positions not yet matched to a file; only the first scan uses them.
    restored: HashMap<FileId, Position>,
    /// Streams the positions file knew: a new file there is a rotation's successor and
    /// starts at 0 whatever `start_at` says.
    known_streams: HashSet<String>,
    first_scan: bool,
    dirty: bool,
    last_saved: Instant,
    /// Paths whose open failed, warned about once.
    unreadable: HashSet<PathBuf>,
    /// Which file a round reads first, turning so no file starves the others.
    next_first: usize,
    records: u64,
    read_buffer: Vec<u8>,
}

impl<'a> Tailer<'a> {
    fn start(config: &'a TailConfig, metrics: &TailMetrics) -> Result<Tailer<'a>, TailError> {
        let store = PositionsStore::new(&config.positions);
        let stored = store.load()?.unwrap_or_default();
        let producer = AckedProducer::new(&config.kafka)?;
        let sources = config
            .files
            .iter()
            .map(|group| {
                let meta = group.source.meta();
                let counters = metrics.connector().source(CONNECTOR, &meta.source_id);
                Source {
                    route: Route::new(&meta, counters),
                    metrics: metrics.source(&meta.source_id),
                }
            })
            .collect();
        tracing::info!(
            positions = %store.path().display(),
            stored = stored.len(),
            topic = producer.topic(),
            "file tailing starts"
        );
        Ok(Tailer {
            config,
            sources,
            producer,
            store,
            files: Vec::new(),
            known_streams: stored.iter().map(|p| p.stream.clone()).collect(),
            restored: stored.into_iter().map(|p| (p.id, p)).collect(),
            first_scan: true,
            dirty: false,
            last_saved: Instant::now(),
            unreadable: HashSet::new(),
            next_first: 0,
            records: 0,
            read_buffer: vec![0; READ_BYTES],
        })
    }

    fn run(mut self, shutdown: &AtomicBool) -> Result<TailSummary, TailError> {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let save_every = Duration::from_millis(self.config.positions_interval_ms);
        // The first scan settles where each file resumes; writing that at once fails
        // start-up on an unwritable positions file instead of at the first flush.
        self.scan();
        let mut last_scan = Instant::now();
        self.save()?;
        let outcome = loop {
            if shutdown.load(Ordering::Acquire) {
                break Ok(());
            }
            if last_scan.elapsed() >= poll {
                self.scan();
                last_scan = Instant::now();
            }
            let progress = match self.round() {
                Ok(progress) => progress,
                Err(error) => break Err(error),
            };
            self.forget_drained();
            if self.dirty && self.last_saved.elapsed() >= save_every {
                if let Err(error) = self.save() {
                    break Err(error.into());
                }
            }
            if !progress {
                sleep_unless_stopped(shutdown, poll);
            }
        };
        // Every queued record was awaited in its round: these positions are all acked.
        self.save()?;
        outcome?;
        Ok(TailSummary {
            records: self.records,
            files: self.files.len(),
        })
    }

    /// Finds the files the globs match now, and which tailed files moved away.
    fn scan(&mut self) {
        let mut seen = HashSet::new();
        for (source, group) in self.config.files.iter().enumerate() {
            for pattern in &group.paths {
                let paths = match glob::glob(pattern) {
                    Ok(paths) => paths,
                    Err(error) => {
                        tracing::warn!(pattern, %error, "glob not usable");
                        continue;
                    }
                };
                // An unreadable directory under the glob is skipped.
                for path in paths.flatten() {
                    self.discover(source, &path, &mut seen);
                }
            }
        }
        let now = Instant::now();
        for tailed in &mut self.files {
            tailed.matched = seen.contains(&tailed.id);
            if tailed.rotated_at.is_some() {
                continue;
            }
            let links = tailed.file.metadata().map(|m| m.nlink()).unwrap_or(0);
            let at_home = std::fs::metadata(&tailed.stream)
                .ok()
                .map(|metadata| FileId::of(&metadata));
            if rotated_away(tailed.id, at_home, links) {
                tracing::info!(
                    stream = tailed.stream,
                    path = %tailed.path.display(),
                    deleted = links == 0,
                    "file rotated away; reading it to its end"
                );
                tailed.rotated_at = Some(now);
                self.sources[tailed.source].metrics.rotations.inc();
            }
        }
        if self.first_scan {
            self.first_scan = false;
            for (_, position) in self.restored.drain() {
                tracing::warn!(
                    stream = position.stream,
                    path = position.path,
                    "a file with a stored position is gone; its unread lines are lost"
                );
            }
            self.known_streams.clear();
        }
    }

    fn discover(&mut self, source: usize, path: &Path, seen: &mut HashSet<FileId>) {
        let Ok(metadata) = std::fs::metadata(path) else {
            return;
        };
        if !metadata.is_file() {
            return;
        }
        let id = FileId::of(&metadata);
        // A file two globs match belongs to the first.
        if !seen.insert(id) {
            return;
        }
        if let Some(tailed) = self.files.iter_mut().find(|tailed| tailed.id == id) {
            if tailed.path != path {
                tailed.path = path.to_path_buf();
                self.dirty = true;
            }
            return;
        }
        let opened = File::open(path).and_then(|file| {
            let metadata = file.metadata()?;
            let print = fingerprint(&file, metadata.len())?;
            Ok((file, metadata, print))
        });
        let (file, metadata, print) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                if self.unreadable.insert(path.to_path_buf()) {
                    tracing::warn!(path = %path.display(), %error, "cannot open file to tail");
                }
                return;
            }
        };
        if FileId::of(&metadata) != id {
            // Replaced between the stat and the open; the next scan sees it settled.
            seen.remove(&id);
            return;
        }
        self.unreadable.remove(path);
        let size = metadata.len();
        let here = stream_name(path);
        let (stream, offset) = match self.restored.remove(&id) {
            Some(stored)
                if stored.offset <= size
                    && prefix_fingerprint(&file, stored.fingerprint.len)
                        .ok()
                        .flatten()
                        .as_ref()
                        == Some(&stored.fingerprint) =>
            {
                (stored.stream, stored.offset)
            }
            restored => {
                if let Some(stored) = restored {
                    tracing::info!(
                        path = %path.display(),
                        stored = stored.path,
                        "the stored file's inode now holds another file; reading it from the start"
                    );
                }
                let start_at_end = self.first_scan
                    && self.config.start_at == StartAt::End
                    && !self.known_streams.contains(&here);
                let offset = if start_at_end {
                    after_last_line(&file, size).unwrap_or(size)
                } else {
                    0
                };
                (here, offset)
            }
        };
        tracing::info!(path = %path.display(), stream, offset, "tailing file");
        self.sources[source].metrics.watched.inc();
        let now = Instant::now();
        self.files.push(Tailed {
            id,
            file,
            path: path.to_path_buf(),
            stream,
            source,
            lines: LineSplitter::new(offset, self.config.max_line_bytes as usize),
            acked: offset,
            fingerprint: print,
            rotated_at: None,
            last_growth: now,
            drained: false,
            matched: true,
        });
        self.dirty = true;
    }

    /// Reads and queues up to `max_batch_records` records, then waits for all their
    /// acknowledgements and moves positions; true when anything was read.
    fn round(&mut self) -> Result<bool, TailError> {
        let count = self.files.len();
        let mut budget = self.config.max_batch_records;
        let mut queued = Vec::new();
        let mut consumed: Vec<Option<u64>> = vec![None; count];
        let mut progress = false;
        let now = Instant::now();
        for step in 0..count {
            if budget == 0 {
                break;
            }
            let index = (self.next_first + step) % count;
            if self.waits_for_predecessor(index) {
                continue;
            }
            progress |= self.read_file(index, now, &mut budget, &mut queued, &mut consumed)?;
        }
        self.next_first = if count == 0 {
            0
        } else {
            (self.next_first + 1) % count
        };
        // Lines left in a buffer when the budget ran out are more work for the next round.
        let progress = progress || !queued.is_empty();
        let mut failed = HashSet::new();
        let mut failure = None;
        for Queued {
            file,
            end,
            delivery,
        } in queued
        {
            if failed.contains(&file) {
                continue;
            }
            match delivery.acked_blocking() {
                Ok(()) => {
                    self.files[file].acked = end;
                    self.records += 1;
                }
                Err(error) => {
                    failed.insert(file);
                    failure.get_or_insert((file, error));
                }
            }
        }
        // Empty lines after the last record are consumed without a delivery.
        for (index, end) in consumed.into_iter().enumerate() {
            if let Some(end) = end {
                if !failed.contains(&index) {
                    self.files[index].acked = end;
                }
                self.dirty = true;
            }
        }
        if let Some((file, source)) = failure {
            self.save()?;
            return Err(TailError::Delivery {
                stream: self.files[file].stream.clone(),
                source: Box::new(source),
            });
        }
        Ok(progress)
    }

    /// A new file at a rotated file's path waits until the rotated one is drained, so
    /// the stream's lines stay in the order they were written.
    fn waits_for_predecessor(&self, index: usize) -> bool {
        let tailed = &self.files[index];
        tailed.rotated_at.is_none()
            && self.files.iter().any(|other| {
                other.id != tailed.id
                    && other.stream == tailed.stream
                    && other.rotated_at.is_some()
                    && !other.drained
            })
    }

    fn read_file(
        &mut self,
        index: usize,
        now: Instant,
        budget: &mut usize,
        queued: &mut Vec<Queued>,
        consumed: &mut [Option<u64>],
    ) -> Result<bool, TailError> {
        let Tailer {
            files,
            sources,
            producer,
            read_buffer,
            config,
            dirty,
            ..
        } = self;
        let tailed = &mut files[index];
        let source = &sources[tailed.source];
        let size = match tailed.file.metadata() {
            Ok(metadata) => metadata.len(),
            Err(error) => {
                tracing::warn!(path = %tailed.path.display(), %error, "cannot stat tailed file");
                return Ok(false);
            }
        };
        let head = match prefix_fingerprint(&tailed.file, tailed.fingerprint.len) {
            Ok(head) => head,
            Err(error) => {
                tracing::warn!(path = %tailed.path.display(), %error, "cannot read tailed file");
                return Ok(false);
            }
        };
        let change = classify(
            tailed.lines.read_offset(),
            &tailed.fingerprint,
            size,
            head.as_ref(),
        );
        if matches!(change, Change::Truncated | Change::Replaced) {
            tracing::info!(
                path = %tailed.path.display(),
                ?change,
                size,
                read = tailed.lines.read_offset(),
                "file truncated; reading it again from the start"
            );
            tailed.lines.reset(0);
            tailed.acked = 0;
            tailed.drained = false;
            source.metrics.truncations.inc();
            *dirty = true;
        }
        // A fingerprint taken while the file was short grows with it (its head was just
        // checked); a truncated file gets a new one.
        let head_grew =
            tailed.fingerprint.len < identity::FINGERPRINT_BYTES && size > tailed.fingerprint.len;
        if head_grew || matches!(change, Change::Truncated | Change::Replaced) {
            match fingerprint(&tailed.file, size) {
                Ok(print) => tailed.fingerprint = print,
                Err(error) => {
                    tracing::warn!(path = %tailed.path.display(), %error, "cannot read tailed file");
                    return Ok(false);
                }
            }
            *dirty = true;
        }
        let mut emit = |tailed: &mut Tailed, cut: Cut, budget: &mut usize| {
            consumed[index] = Some(cut.end);
            if cut.split {
                source.metrics.split.inc();
            }
            if cut.payload.is_empty() {
                return Ok(());
            }
            let delivery = producer
                .queue_blocking(
                    &source.route,
                    tailed.stream.as_bytes(),
                    tailed.lines.bytes(cut.payload),
                )
                .map_err(|source| TailError::Delivery {
                    stream: tailed.stream.clone(),
                    source: Box::new(source),
                })?;
            queued.push(Queued {
                file: index,
                end: cut.end,
                delivery,
            });
            *budget = budget.saturating_sub(1);
            Ok::<(), TailError>(())
        };
        let mut progress = false;
        let mut at_end = false;
        loop {
            while *budget > 0 {
                let Some(cut) = tailed.lines.next_cut() else {
                    break;
                };
                emit(tailed, cut, budget)?;
            }
            if *budget == 0 {
                break;
            }
            match tailed.file.read_at(read_buffer, tailed.lines.read_offset()) {
                Ok(0) => {
                    at_end = true;
                    tailed.lines.release();
                    break;
                }
                Ok(read) => {
                    tailed.lines.push(&read_buffer[..read]);
                    tailed.last_growth = now;
                    progress = true;
                }
                Err(error) => {
                    tracing::warn!(path = %tailed.path.display(), %error, "cannot read tailed file");
                    break;
                }
            }
        }
        if let (true, false, Some(rotated_at)) = (at_end, tailed.drained, tailed.rotated_at) {
            let wait = Duration::from_millis(config.rotate_wait_ms);
            if drained(rotated_at, tailed.last_growth, now, wait) {
                // Nobody will finish this line any more: it goes as it is.
                if let Some(mut rest) = tailed.lines.take_rest() {
                    if tailed.lines.bytes(rest.payload.clone()).ends_with(b"\r") {
                        rest.payload.end -= 1;
                    }
                    emit(tailed, rest, budget)?;
                }
                tailed.drained = true;
                tracing::info!(
                    stream = tailed.stream,
                    path = %tailed.path.display(),
                    "rotated file drained"
                );
            }
        }
        Ok(progress)
    }

    /// Stops tailing drained files no glob matches any more (renamed away, deleted).
    fn forget_drained(&mut self) {
        let sources = &self.sources;
        let before = self.files.len();
        self.files.retain(|tailed| {
            let keep = !tailed.drained || tailed.matched;
            if !keep {
                tracing::info!(path = %tailed.path.display(), "stopped tailing a drained file");
                sources[tailed.source].metrics.watched.dec();
            }
            keep
        });
        if self.files.len() != before {
            self.dirty = true;
            self.next_first = 0;
        }
    }

    fn save(&mut self) -> Result<(), PositionsError> {
        let positions: Vec<Position> = self
            .files
            .iter()
            .map(|tailed| Position {
                id: tailed.id,
                fingerprint: tailed.fingerprint.clone(),
                stream: tailed.stream.clone(),
                path: tailed.path.to_string_lossy().into_owned(),
                offset: tailed.acked,
            })
            .collect();
        self.store.save(&positions)?;
        self.dirty = false;
        self.last_saved = Instant::now();
        Ok(())
    }
}

/// Where `start_at: end` starts: after the last newline within the last [`READ_BYTES`],
/// so a line being written at that moment is delivered whole; the end if there is none.
fn after_last_line(file: &File, size: u64) -> std::io::Result<u64> {
    let from = size.saturating_sub(READ_BYTES as u64);
    let mut tail = vec![0; (size - from) as usize];
    file.read_exact_at(&mut tail, from)?;
    Ok(match tail.iter().rposition(|&byte| byte == b'\n') {
        Some(at) => from + at as u64 + 1,
        None if from == 0 => 0,
        None => size,
    })
}

fn sleep_unless_stopped(shutdown: &AtomicBool, total: Duration) {
    let deadline = Instant::now() + total;
    while !shutdown.load(Ordering::Acquire) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}
