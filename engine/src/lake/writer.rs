//! The lake writer: rows of completed epochs into Parquet files, one open file per
//! (database, log type, hour partition), rolled by size and by time, named by
//! (shard, first epoch, last epoch).
//!
//! A file's content depends only on the input: epochs are applied in order once the
//! frontier has passed them, a file opened at epoch F takes the epochs in
//! `[F, F + roll)` that have rows for it and is cut earlier only after the epoch in
//! which it reached `max_file_bytes`. Whether the cut happens because a later epoch
//! arrived or because the frontier passed `F + roll`, the same epochs land in it, so a
//! replay writes the same names with the same rows and overwrites instead of duplicating.
//!
//! Files are written whole (`put` of the finished Parquet bytes), so a reader never sees
//! a partial file. Until checkpoints exist (issue 8) a file is visible as soon as it is
//! rolled.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::{Map, Value};

use super::rows::to_row;
use super::schema::TableSchema;
use crate::metrics::metrics;
use crate::parse::LogTypeRegistry;
use crate::source::Epoch;
use corvid_lake::layout::{file_name, file_path, table_name};
use corvid_lake::store::runtime;
use corvid_lake::{Database, Lake, Partition};

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// When files are cut.
#[derive(Clone, Copy, Debug)]
pub struct RollPolicy {
    /// A file holds at most this span of epochs.
    pub roll_ms: u64,
    /// A file is cut after the epoch in which its Parquet size reached this.
    pub max_file_bytes: usize,
}

/// One row for the lake: an event, a rule match or a rule error.
#[derive(Clone, Debug)]
pub struct LakeRow {
    pub database: Database,
    pub log_type: String,
    pub fields: Arc<Map<String, Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum LakeWriteError {
    #[error("cannot encode {table} rows: {source}")]
    Encode {
        table: String,
        source: parquet::errors::ParquetError,
    },
    #[error("lake write of {path} not completed before shutdown: {reason}")]
    Shutdown { path: String, reason: String },
}

type FileKey = (Database, String, Partition);

struct OpenFile {
    writer: ArrowWriter<Vec<u8>>,
    table: String,
    first_epoch: Epoch,
    last_epoch: Epoch,
    rows: u64,
}

/// One worker's lake writer.
pub struct LakeWriter {
    lake: Lake,
    shard: usize,
    registry: Arc<LogTypeRegistry>,
    policy: RollPolicy,
    shutdown: Arc<AtomicBool>,
    tables: HashMap<(Database, String), Option<Arc<TableSchema>>>,
    open: BTreeMap<FileKey, OpenFile>,
    /// With checkpoints: files never span a checkpoint boundary (so a restore never
    /// needs a half-written file) and wait in staging until their checkpoint.
    checkpoint_ms: Option<u64>,
}

impl LakeWriter {
    pub fn new(
        lake: Lake,
        shard: usize,
        registry: Arc<LogTypeRegistry>,
        policy: RollPolicy,
        shutdown: Arc<AtomicBool>,
    ) -> LakeWriter {
        LakeWriter {
            lake,
            shard,
            registry,
            policy,
            shutdown,
            tables: HashMap::new(),
            open: BTreeMap::new(),
            checkpoint_ms: None,
        }
    }

    /// Cuts files at checkpoint boundaries every `interval_ms` and stages them until
    /// their checkpoint is written ([`super::staging`]).
    pub fn with_checkpoints(mut self, interval_ms: u64) -> LakeWriter {
        self.checkpoint_ms = Some(interval_ms.max(1));
        self
    }

    /// The first epoch a file opened at `first` may no longer take.
    fn span_end(roll_ms: u64, checkpoint_ms: Option<u64>, first: Epoch) -> Epoch {
        let by_roll = first.saturating_add(roll_ms);
        match checkpoint_ms {
            Some(interval) => by_roll.min((first - first % interval).saturating_add(interval)),
            None => by_roll,
        }
    }

    /// Writes the rows of one completed epoch. Epochs must come in increasing order.
    pub fn write_epoch(&mut self, epoch: Epoch, rows: Vec<LakeRow>) -> Result<(), LakeWriteError> {
        // Files whose time span ends at or before this epoch are complete.
        let (roll_ms, checkpoint_ms) = (self.policy.roll_ms, self.checkpoint_ms);
        self.roll_where(|file| Self::span_end(roll_ms, checkpoint_ms, file.first_epoch) <= epoch)?;
        // Group first, so each group looks its table up once rather than once per row.
        let mut groups: BTreeMap<FileKey, Vec<Arc<Map<String, Value>>>> = BTreeMap::new();
        for row in rows {
            let partition = partition_of(&row.fields, epoch);
            groups
                .entry((row.database, row.log_type, partition))
                .or_default()
                .push(row.fields);
        }
        for (key, fields) in groups {
            let Some(schema) = self.table(key.0, &key.1) else {
                metrics().lake_rows_rejected.inc_by(fields.len() as u64);
                continue;
            };
            let values: Vec<Value> = fields
                .iter()
                .map(|fields| to_row(&schema, key.0, fields))
                .collect();
            let Some(batch) = decode(&schema, &values) else {
                continue;
            };
            let file = match self.open.entry(key.clone()) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let writer = ArrowWriter::try_new(
                        Vec::new(),
                        Arc::clone(&schema.arrow),
                        Some(writer_properties()),
                    )
                    .map_err(|source| LakeWriteError::Encode {
                        table: table_name(&key.1),
                        source,
                    })?;
                    entry.insert(OpenFile {
                        writer,
                        table: table_name(&key.1),
                        first_epoch: epoch,
                        last_epoch: epoch,
                        rows: 0,
                    })
                }
            };
            file.writer
                .write(&batch)
                .map_err(|source| LakeWriteError::Encode {
                    table: file.table.clone(),
                    source,
                })?;
            file.last_epoch = epoch;
            file.rows += batch.num_rows() as u64;
        }
        let max = self.policy.max_file_bytes;
        self.roll_where(|file| file.writer.bytes_written() + file.writer.in_progress_size() >= max)
    }

    /// The frontier moved to `frontier` (None: the input ended): files whose span it
    /// has passed are complete.
    pub fn advance(&mut self, frontier: Option<Epoch>) -> Result<(), LakeWriteError> {
        let (roll_ms, checkpoint_ms) = (self.policy.roll_ms, self.checkpoint_ms);
        match frontier {
            Some(frontier) => self.roll_where(|file| {
                Self::span_end(roll_ms, checkpoint_ms, file.first_epoch) <= frontier
            }),
            None => self.roll_where(|_| true),
        }
    }

    pub fn open_files(&self) -> usize {
        self.open.len()
    }

    fn table(&mut self, database: Database, log_type: &str) -> Option<Arc<TableSchema>> {
        let registry = &self.registry;
        self.tables
            .entry((database, log_type.to_owned()))
            .or_insert_with(|| {
                let schema = registry
                    .get(log_type)
                    .map(|parser| Arc::new(TableSchema::derive(parser.schema(), database)));
                if schema.is_none() {
                    tracing::error!(log_type, "no schema for the lake table; rows dropped");
                }
                schema
            })
            .clone()
    }

    fn roll_where(&mut self, done: impl Fn(&OpenFile) -> bool) -> Result<(), LakeWriteError> {
        let keys: Vec<FileKey> = self
            .open
            .iter()
            .filter(|(_, file)| done(file))
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            if let Some(file) = self.open.remove(&key) {
                self.finish(&key, file)?;
            }
        }
        Ok(())
    }

    fn finish(&self, key: &FileKey, file: OpenFile) -> Result<(), LakeWriteError> {
        let (database, _, partition) = key;
        let path = file_path(
            &self.lake.prefix,
            *database,
            &file.table,
            partition,
            &file_name(self.shard, file.first_epoch, file.last_epoch),
        );
        let bytes = file
            .writer
            .into_inner()
            .map_err(|source| LakeWriteError::Encode {
                table: file.table.clone(),
                source,
            })?;
        let size = bytes.len() as u64;
        let path = match self.checkpoint_ms {
            Some(_) => super::staging::staged_path(&self.lake, &path),
            None => path,
        };
        let payload = PutPayload::from(bytes);
        let mut backoff = Duration::from_millis(100);
        loop {
            match runtime().block_on(self.lake.store.put(&path, payload.clone())) {
                Ok(_) => break,
                Err(error) => {
                    if self.shutdown.load(Ordering::Acquire) {
                        return Err(LakeWriteError::Shutdown {
                            path: path.to_string(),
                            reason: error.to_string(),
                        });
                    }
                    tracing::warn!(%path, %error, retry_in_ms = backoff.as_millis() as u64, "lake write failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let m = metrics();
        let db = database.name();
        m.lake_files.with_label_values(&[db]).inc();
        m.lake_rows.with_label_values(&[db]).inc_by(file.rows);
        m.lake_bytes.with_label_values(&[db]).inc_by(size);
        tracing::debug!(%path, rows = file.rows, bytes = size, "lake file written");
        crate::fail_point!(crate::checkpoint::failpoints::AFTER_LAKE_FILE);
        Ok(())
    }
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build()
}

/// Decodes rows with Arrow's JSON decoder; when the batch fails, row by row, dropping
/// (and counting) only the rows that do not fit.
fn decode(schema: &TableSchema, values: &[Value]) -> Option<RecordBatch> {
    let attempt = |rows: &[Value]| -> Result<Option<RecordBatch>, arrow::error::ArrowError> {
        let mut decoder = ReaderBuilder::new(Arc::clone(&schema.arrow))
            .with_batch_size(rows.len().max(1))
            .build_decoder()?;
        decoder.serialize(rows)?;
        decoder.flush()
    };
    match attempt(values) {
        Ok(batch) => batch,
        Err(batch_error) => {
            let mut good = Vec::with_capacity(values.len());
            for value in values {
                match attempt(std::slice::from_ref(value)) {
                    Ok(_) => good.push(value.clone()),
                    Err(error) => {
                        metrics().lake_rows_rejected.inc();
                        tracing::error!(%error, "row does not fit its lake table; dropped");
                    }
                }
            }
            tracing::warn!(%batch_error, kept = good.len(), of = values.len(), "lake batch decoded row by row");
            attempt(&good).ok().flatten()
        }
    }
}

/// The hour of `p_event_time`, else of `p_parse_time`, else of the epoch.
fn partition_of(fields: &Map<String, Value>, epoch: Epoch) -> Partition {
    let parse = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| {
                chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok()
            })
            .map(|naive| naive.and_utc())
    };
    let time = parse("p_event_time")
        .or_else(|| parse("p_parse_time"))
        .or_else(|| chrono::DateTime::from_timestamp_millis(epoch as i64))
        .unwrap_or_default();
    Partition::of(&time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{Classifier, ParseOutcome};
    use crate::source::RawRecord;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::TimestampMicrosecondType;
    use corvid_connectors::raw_record::SourceMeta;
    use corvid_lake::LakeLocation;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    const VPC: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
        2 123456789012 eni-0a1b2c3d 136.24.229.194 172.31.84.73 51234 22 6 10 840 1795770000 1795770060 ACCEPT OK\n\
        2 123456789012 eni-0a1b2c3d 10.0.0.5 172.31.84.73 40000 443 6 5 400 1795773600 1795773660 ACCEPT OK";

    fn events(log_type: &str, text: &str) -> Vec<Event> {
        let registry = Arc::new(LogTypeRegistry::builtin().expect("schemas"));
        let mut classifier = Classifier::new(registry);
        let meta = SourceMeta {
            source_id: "test".into(),
            source_label: "test".into(),
            log_types: vec![log_type.into()],
        };
        text.lines()
            .enumerate()
            .flat_map(|(offset, line)| {
                let record = RawRecord {
                    topic: "t".into(),
                    partition: 0,
                    offset: offset as i64,
                    stream: "s".into(),
                    meta: meta.clone(),
                    payload: line.as_bytes().to_vec(),
                };
                classifier.classify(&record, chrono::Utc::now())
            })
            .map(|outcome| match outcome {
                ParseOutcome::Event(event) => event,
                ParseOutcome::DeadLetter(dead) => panic!("dead letter: {}", dead.reason),
            })
            .collect()
    }

    use crate::event::Event;

    fn writer(dir: &std::path::Path, policy: RollPolicy) -> LakeWriter {
        let lake = Lake::open(&LakeLocation {
            url: dir.display().to_string(),
            ..LakeLocation::default()
        })
        .expect("lake");
        LakeWriter::new(
            lake,
            1,
            Arc::new(LogTypeRegistry::builtin().expect("schemas")),
            policy,
            Arc::new(AtomicBool::new(false)),
        )
    }

    fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(next) = stack.pop() {
            for entry in std::fs::read_dir(&next).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "parquet") {
                    found.push(path);
                }
            }
        }
        found.sort();
        found
    }

    const POLICY: RollPolicy = RollPolicy {
        roll_ms: 60_000,
        max_file_bytes: 64 << 20,
    };

    #[test]
    fn events_land_in_hour_partitions_as_typed_parquet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut lake = writer(dir.path(), POLICY);
        let rows = events("AWS.VPCFlow", VPC)
            .iter()
            .map(LakeRow::event)
            .collect::<Vec<_>>();
        lake.write_epoch(1_000, rows).expect("write");
        assert!(
            parquet_files(dir.path()).is_empty(),
            "nothing before the roll"
        );
        lake.advance(None).expect("roll");
        let files = parquet_files(dir.path());
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .expect("inside")
                    .display()
                    .to_string()
            })
            .collect();
        // 1795770000 is 2026-11-27 09:00 UTC; the second record an hour later.
        assert_eq!(
            names,
            vec![
                "logs/aws_vpcflow/year=2026/month=11/day=27/hour=09/part-0001-0000000001000-0000000001000.zstd.parquet",
                "logs/aws_vpcflow/year=2026/month=11/day=27/hour=10/part-0001-0000000001000-0000000001000.zstd.parquet",
            ]
        );
        let file = std::fs::File::open(&files[0]).expect("open");
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader");
        let batches: Vec<_> = reader.map(|b| b.expect("batch")).collect();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        let batch = &batches[0];
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(
            column("srcaddr").as_string::<i32>().value(0),
            "136.24.229.194"
        );
        assert_eq!(
            column("dstport")
                .as_primitive::<arrow::datatypes::Int64Type>()
                .value(0),
            22
        );
        let event_time = column("p_event_time").as_primitive::<TimestampMicrosecondType>();
        assert_eq!(event_time.value(0), 1_795_770_000_000_000);
        let ips = column("p_any_ip_addresses").as_list::<i32>().value(0);
        let ips = ips.as_string::<i32>();
        assert!((0..ips.len()).any(|i| ips.value(i) == "136.24.229.194"));
    }

    #[test]
    fn files_roll_by_epoch_span_and_size_and_replays_write_the_same_names() {
        let run = |advance_each: bool| {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut lake = writer(
                dir.path(),
                RollPolicy {
                    roll_ms: 3_000,
                    max_file_bytes: usize::MAX,
                },
            );
            for epoch in (0..10u64).map(|i| i * 1000) {
                let rows = events("AWS.VPCFlow", VPC)
                    .iter()
                    .take(2)
                    .map(LakeRow::event)
                    .collect();
                lake.write_epoch(epoch, rows).expect("write");
                if advance_each {
                    lake.advance(Some(epoch + 1)).expect("advance");
                }
            }
            lake.advance(None).expect("end");
            parquet_files(dir.path())
                .iter()
                .map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
        };
        let batched = run(false);
        // Epochs 0-2, 3-5, 6-8, 9 in each of two hour partitions.
        assert_eq!(batched.len(), 8, "{batched:?}");
        assert!(batched
            .iter()
            .any(|n| n.as_deref() == Some("part-0001-0000000000000-0000000002000.zstd.parquet")));
        assert_eq!(
            run(true),
            batched,
            "the frontier's pace does not change files"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        let mut small = writer(
            dir.path(),
            RollPolicy {
                roll_ms: 3_600_000,
                max_file_bytes: 1,
            },
        );
        for epoch in [0u64, 1000] {
            let rows = events("AWS.VPCFlow", VPC)
                .iter()
                .take(2)
                .map(LakeRow::event)
                .collect();
            small.write_epoch(epoch, rows).expect("write");
        }
        assert_eq!(
            small.open_files(),
            0,
            "cut after each epoch once over the size"
        );
        assert_eq!(parquet_files(dir.path()).len(), 4);
    }
}
