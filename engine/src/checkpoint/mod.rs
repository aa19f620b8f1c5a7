//! Checkpoints: a consistent cut of the dataflow's state in object storage, and the
//! restore that resumes from it.
//!
//! ```text
//!  <store>/<prefix>/state/<operator>/<boundary>/<worker>.json.gz   one per changed state
//!  <store>/<prefix>/manifests/<boundary>.json                      written last
//! ```
//!
//! * **Boundaries.** Checkpoints are taken at epoch boundaries `B = k × interval` (in
//!   epoch time, not wall time, so a replay meets the same boundaries). A checkpoint at
//!   `B` holds the state after every epoch below `B`.
//! * **Operators.** Each stateful operator processes epochs in order once its input
//!   frontier has passed them. Before it lets its output frontier reach a boundary it
//!   writes its state as of that boundary, if the state changed since its last file, and
//!   holds a capability at its last boundary until then. So when the frontier at the
//!   end of the dataflow has reached `B`, every state file for `B` is written.
//! * **Manifest.** Worker 0 sees that frontier and writes the manifest: the boundary, the
//!   worker count, the shard count, the newest state file of every (operator, worker)
//!   at or below `B`, and the rules' and schemas' version. Then it makes the lake files
//!   of the checkpoint visible ([`crate::lake::staging`]) and deletes manifests beyond the
//!   `keep` newest, with the state files no kept manifest names.
//! * **Shards.** Keyed state (dedup windows, learned table rows) is stored with a
//!   virtual shard (`hash mod shards`) and routed between workers by shard, so a restore
//!   with another worker count hands each worker the shards it now owns. Per-partition
//!   state (source offsets, parser state) goes with the partition's new owner.
//! * **Restore.** Start-up loads the newest manifest and deletes what a crashed run
//!   wrote after it (later state files and manifests, uncommitted lake files).

pub mod cadence;
pub mod config;
pub mod failpoints;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::source::Epoch;
use corvid_lake::store::runtime;
use corvid_lake::{Lake, LakeError, LakeLocation};

pub use cadence::Cadence;
pub use config::CheckpointConfig;

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Store(#[from] LakeError),
    #[error("checkpoint storage {path}: {source}")]
    Io {
        path: String,
        source: object_store::Error,
    },
    #[error("checkpoint file {path} is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error(
        "the checkpoints were taken with {found} shards, the config says {configured}: \
         checkpoint.shards cannot change while checkpoints exist"
    )]
    Shards { found: u32, configured: u32 },
}

/// What a manifest records.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// State as of every epoch below this one.
    pub boundary: Epoch,
    pub workers: usize,
    pub shards: u32,
    /// Per operator, the state files that make up its state (paths below the prefix).
    pub files: BTreeMap<String, Vec<String>>,
    /// Digest of the rule and schema files the state was computed with.
    pub rules_version: String,
    pub written_at: String,
    /// Total size of the files in `files` (0 in manifests written before it was recorded).
    #[serde(default)]
    pub state_bytes: u64,
}

/// A process's handle on its checkpoints; shared by its workers.
#[derive(Clone)]
pub struct Checkpoints {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    interval_ms: u64,
    shards: u32,
    keep: usize,
    restored: Option<Arc<Restored>>,
}

/// The checkpoint a run started from.
pub struct Restored {
    pub manifest: Manifest,
    /// Per operator, the raw bytes of each state file.
    states: BTreeMap<String, Vec<Vec<u8>>>,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("prefix", &self.prefix)
            .field("interval_ms", &self.interval_ms)
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

impl Checkpoints {
    /// Opens the store; nothing is read yet.
    pub fn open(
        location: &LakeLocation,
        interval_ms: u64,
        shards: u32,
        keep: usize,
    ) -> Result<Checkpoints, CheckpointError> {
        let lake = Lake::open(location)?;
        Ok(Checkpoints {
            store: lake.store,
            prefix: lake.prefix,
            interval_ms: interval_ms.max(1),
            shards: shards.max(1),
            keep: keep.max(1),
            restored: None,
        })
    }

    pub fn interval_ms(&self) -> u64 {
        self.interval_ms
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The boundary at or below `epoch`.
    pub fn boundary_at_or_below(&self, epoch: Epoch) -> Epoch {
        epoch - epoch % self.interval_ms
    }

    /// The first boundary above `epoch`.
    pub fn boundary_above(&self, epoch: Epoch) -> Epoch {
        self.boundary_at_or_below(epoch)
            .saturating_add(self.interval_ms)
    }

    /// The virtual shard of a key hash.
    pub fn shard_of(&self, hash: u64) -> u32 {
        (hash % u64::from(self.shards)) as u32
    }

    /// Whether `worker` of `workers` owns `shard` (exchanges route by shard).
    pub fn owns_shard(shard: u32, worker: usize, workers: usize) -> bool {
        shard as usize % workers.max(1) == worker
    }

    pub fn restored(&self) -> Option<&Restored> {
        self.restored.as_deref()
    }

    /// The boundary of the checkpoint this run started from (0 without one).
    pub fn restored_boundary(&self) -> Epoch {
        self.restored()
            .map_or(0, |restored| restored.manifest.boundary)
    }

    fn path(&self, relative: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in relative.split('/') {
            path = path.clone().join(part);
        }
        path
    }

    fn relative(&self, path: &Path) -> String {
        path.as_ref()
            .strip_prefix(self.prefix.as_ref())
            .unwrap_or(path.as_ref())
            .trim_start_matches('/')
            .to_owned()
    }

    fn list(&self, relative: &str) -> Result<Vec<String>, CheckpointError> {
        Ok(self
            .list_sized(relative)?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// The files below `relative`, sorted by name, each with its size in bytes.
    fn list_sized(&self, relative: &str) -> Result<Vec<(String, u64)>, CheckpointError> {
        let prefix = self.path(relative);
        let listed: Vec<_> = runtime()
            .block_on(self.store.list(Some(&prefix)).try_collect::<Vec<_>>())
            .map_err(|source| CheckpointError::Io {
                path: prefix.to_string(),
                source,
            })?;
        let mut files: Vec<(String, u64)> = listed
            .iter()
            .map(|meta| (self.relative(&meta.location), meta.size))
            .collect();
        files.sort();
        Ok(files)
    }

    fn get(&self, relative: &str) -> Result<Vec<u8>, CheckpointError> {
        let path = self.path(relative);
        let io = |source| CheckpointError::Io {
            path: path.to_string(),
            source,
        };
        let bytes = runtime()
            .block_on(async { self.store.get(&path).await?.bytes().await })
            .map_err(io)?;
        Ok(bytes.to_vec())
    }

    fn put(&self, relative: &str, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        let path = self.path(relative);
        runtime()
            .block_on(self.store.put(&path, PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|source| CheckpointError::Io {
                path: path.to_string(),
                source,
            })
    }

    fn delete(&self, relative: &str) -> Result<(), CheckpointError> {
        let path = self.path(relative);
        match runtime().block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(CheckpointError::Io {
                path: path.to_string(),
                source,
            }),
        }
    }

    /// Writes one operator's state as of `boundary` (gzip'd JSON).
    pub fn write_state<T: Serialize>(
        &self,
        operator: &str,
        boundary: Epoch,
        worker: usize,
        state: &T,
    ) -> Result<(), CheckpointError> {
        let relative = format!("state/{operator}/{boundary:020}/{worker:05}.json.gz");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let written = serde_json::to_writer(&mut encoder, state)
            .map_err(|e| e.to_string())
            .and_then(|()| encoder.flush().map_err(|e| e.to_string()));
        if let Err(reason) = written {
            return Err(CheckpointError::Corrupt {
                path: relative,
                reason,
            });
        }
        let bytes = encoder.finish().map_err(|e| CheckpointError::Corrupt {
            path: relative.clone(),
            reason: e.to_string(),
        })?;
        self.put(&relative, bytes)?;
        crate::fail_point!(failpoints::AFTER_STATE_WRITTEN);
        Ok(())
    }

    /// Every state file of `operator` in the restored checkpoint, decoded.
    pub fn restored_states<T: DeserializeOwned>(
        &self,
        operator: &str,
    ) -> Result<Vec<T>, CheckpointError> {
        let Some(restored) = self.restored() else {
            return Ok(Vec::new());
        };
        let Some(files) = restored.states.get(operator) else {
            return Ok(Vec::new());
        };
        files
            .iter()
            .map(|bytes| {
                let mut text = Vec::new();
                flate2::read::GzDecoder::new(bytes.as_slice())
                    .read_to_end(&mut text)
                    .map_err(|e| e.to_string())
                    .and_then(|_| serde_json::from_slice(&text).map_err(|e| e.to_string()))
                    .map_err(|reason| CheckpointError::Corrupt {
                        path: format!("state/{operator}"),
                        reason,
                    })
            })
            .collect()
    }

    /// The newest manifest, if any.
    fn newest_manifest(&self) -> Result<Option<Manifest>, CheckpointError> {
        let Some(name) = self.list("manifests")?.pop() else {
            return Ok(None);
        };
        let bytes = self.get(&name)?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CheckpointError::Corrupt {
                path: name,
                reason: e.to_string(),
            })
    }

    /// The newest boundary any state file was written for.
    pub fn newest_state_boundary(&self) -> Result<Option<Epoch>, CheckpointError> {
        Ok(self
            .list("state")?
            .iter()
            .filter_map(|name| boundary_in_name(name))
            .max())
    }

    /// Loads the newest checkpoint (if any) and deletes what was written after it.
    pub fn restore(&mut self) -> Result<Option<Manifest>, CheckpointError> {
        let Some(manifest) = self.newest_manifest()? else {
            // A crash before the first manifest leaves state files nobody can use.
            for name in self.list("state")? {
                self.delete(&name)?;
            }
            return Ok(None);
        };
        if manifest.shards != self.shards {
            return Err(CheckpointError::Shards {
                found: manifest.shards,
                configured: self.shards,
            });
        }
        let mut states = BTreeMap::new();
        for (operator, files) in &manifest.files {
            let mut loaded = Vec::with_capacity(files.len());
            for file in files {
                loaded.push(self.get(file)?);
            }
            states.insert(operator.clone(), loaded);
        }
        for name in self.list("state")? {
            if boundary_in_name(&name).is_some_and(|boundary| boundary > manifest.boundary) {
                self.delete(&name)?;
            }
        }
        self.restored = Some(Arc::new(Restored {
            manifest: manifest.clone(),
            states,
        }));
        Ok(Some(manifest))
    }

    /// Writes the manifest of `boundary` (every state file for it is written), then
    /// deletes checkpoints beyond the `keep` newest.
    pub fn write_manifest(
        &self,
        boundary: Epoch,
        workers: usize,
        rules_version: &str,
    ) -> Result<Manifest, CheckpointError> {
        // Per (operator, worker) the newest file at or below the boundary, and its size.
        let mut newest: BTreeMap<(String, usize), (Epoch, String, u64)> = BTreeMap::new();
        for (name, size) in self.list_sized("state")? {
            let Some((operator, file_boundary, worker)) = parse_state_name(&name) else {
                continue;
            };
            if file_boundary > boundary || worker >= workers {
                continue;
            }
            let entry = newest.entry((operator.to_owned(), worker)).or_insert((
                file_boundary,
                name.clone(),
                size,
            ));
            if file_boundary >= entry.0 {
                *entry = (file_boundary, name, size);
            }
        }
        let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut state_bytes = 0;
        for ((operator, _), (_, name, size)) in newest {
            files.entry(operator).or_default().push(name);
            state_bytes += size;
        }
        let manifest = Manifest {
            boundary,
            workers,
            shards: self.shards,
            files,
            rules_version: rules_version.to_owned(),
            written_at: chrono::Utc::now().to_rfc3339(),
            state_bytes,
        };
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| CheckpointError::Corrupt {
            path: "manifest".into(),
            reason: e.to_string(),
        })?;
        self.put(&format!("manifests/{boundary:020}.json"), text)?;
        self.collect_garbage()?;
        Ok(manifest)
    }

    /// Deletes manifests beyond the `keep` newest and state files no kept manifest names
    /// (files newer than the newest manifest belong to the next checkpoint and stay).
    fn collect_garbage(&self) -> Result<(), CheckpointError> {
        let manifests = self.list("manifests")?;
        if manifests.len() <= self.keep {
            return Ok(());
        }
        let (old, kept) = manifests.split_at(manifests.len() - self.keep);
        let mut referenced = std::collections::BTreeSet::new();
        let mut oldest_kept = Epoch::MAX;
        for name in kept {
            let bytes = self.get(name)?;
            let manifest: Manifest =
                serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
                    path: name.clone(),
                    reason: e.to_string(),
                })?;
            oldest_kept = oldest_kept.min(manifest.boundary);
            referenced.extend(manifest.files.into_values().flatten());
        }
        for name in old {
            self.delete(name)?;
        }
        for name in self.list("state")? {
            let older = boundary_in_name(&name).is_some_and(|b| b < oldest_kept);
            if older && !referenced.contains(&name) {
                self.delete(&name)?;
            }
        }
        Ok(())
    }
}

/// `state/<operator>/<boundary>/<worker>.json.gz` → its parts.
fn parse_state_name(name: &str) -> Option<(&str, Epoch, usize)> {
    let mut parts = name.split('/');
    (parts.next()? == "state").then_some(())?;
    let operator = parts.next()?;
    let boundary = parts.next()?.parse().ok()?;
    let worker = parts.next()?.strip_suffix(".json.gz")?.parse().ok()?;
    Some((operator, boundary, worker))
}

fn boundary_in_name(name: &str) -> Option<Epoch> {
    parse_state_name(name).map(|(_, boundary, _)| boundary)
}

/// A digest of the rule and schema files, recorded in each manifest.
pub fn rules_version(dirs: &[&std::path::Path]) -> String {
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    for dir in dirs {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
    }
    files.sort();
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(file.display().to_string().as_bytes());
        if let Ok(bytes) = std::fs::read(&file) {
            hasher.update(&bytes);
        }
    }
    hex::encode(&hasher.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &std::path::Path, keep: usize) -> Checkpoints {
        let location = LakeLocation {
            url: dir.display().to_string(),
            ..LakeLocation::default()
        };
        Checkpoints::open(&location, 1000, 8, keep).expect("open")
    }

    #[test]
    fn boundaries_are_multiples_of_the_interval() {
        let dir = tempfile::tempdir().expect("tempdir");
        let checkpoints = store(dir.path(), 2);
        assert_eq!(checkpoints.boundary_at_or_below(12_345), 12_000);
        assert_eq!(checkpoints.boundary_above(12_000), 13_000);
        assert_eq!(checkpoints.boundary_above(12_999), 13_000);
    }

    #[test]
    fn a_manifest_names_the_newest_state_per_worker_and_restore_drops_later_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let checkpoints = store(dir.path(), 5);
        checkpoints
            .write_state("dedup", 1000, 0, &vec![1])
            .expect("write");
        checkpoints
            .write_state("dedup", 1000, 1, &vec![2])
            .expect("write");
        checkpoints
            .write_state("dedup", 2000, 0, &vec![3])
            .expect("write");
        let manifest = checkpoints.write_manifest(2000, 2, "v1").expect("manifest");
        assert_eq!(
            manifest.files["dedup"],
            [
                "state/dedup/00000000000000002000/00000.json.gz",
                "state/dedup/00000000000000001000/00001.json.gz",
            ]
        );
        let named: u64 = manifest
            .files
            .values()
            .flatten()
            .map(|name| {
                std::fs::metadata(dir.path().join(name))
                    .expect("state file")
                    .len()
            })
            .sum();
        assert!(named > 0);
        assert_eq!(
            manifest.state_bytes, named,
            "the size of the files it names"
        );
        // Written after the manifest by a run that then crashed.
        checkpoints
            .write_state("dedup", 3000, 0, &vec![4])
            .expect("write");
        let mut restarted = store(dir.path(), 5);
        let restored = restarted.restore().expect("restore").expect("a manifest");
        assert_eq!(restored.boundary, 2000);
        let mut states: Vec<Vec<i32>> = restarted.restored_states("dedup").expect("states");
        states.sort();
        assert_eq!(states, vec![vec![2], vec![3]]);
        assert!(restarted
            .list("state")
            .expect("list")
            .iter()
            .all(|name| !name.contains("00000000000000003000")));
    }

    #[test]
    fn old_checkpoints_are_collected_but_files_still_named_are_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let checkpoints = store(dir.path(), 1);
        checkpoints
            .write_state("source", 1000, 0, &1)
            .expect("write");
        checkpoints
            .write_state("dedup", 1000, 0, &1)
            .expect("write");
        checkpoints.write_manifest(1000, 1, "v").expect("manifest");
        checkpoints
            .write_state("dedup", 2000, 0, &2)
            .expect("write");
        checkpoints.write_manifest(2000, 1, "v").expect("manifest");
        let names = checkpoints.list("").expect("list");
        assert_eq!(
            names,
            [
                "manifests/00000000000000002000.json",
                "state/dedup/00000000000000002000/00000.json.gz",
                // Unchanged since 1000: the newest manifest still names it.
                "state/source/00000000000000001000/00000.json.gz",
            ]
        );
    }

    #[test]
    fn a_changed_shard_count_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        store(dir.path(), 1)
            .write_manifest(1000, 1, "v")
            .expect("manifest");
        let location = LakeLocation {
            url: dir.path().display().to_string(),
            ..LakeLocation::default()
        };
        let mut other = Checkpoints::open(&location, 1000, 16, 1).expect("open");
        assert!(matches!(
            other.restore(),
            Err(CheckpointError::Shards {
                found: 8,
                configured: 16
            })
        ));
    }
}
