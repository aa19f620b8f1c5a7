//! The durable positions file: for each tailed file *identity* (device, inode, and a
//! fingerprint of its first bytes), the offset just after the last line Kafka
//! acknowledged.
//!
//! Invariant: a position is never ahead of an acknowledgement; the tailer writes one only
//! after the broker acknowledged every record before it. The file is replaced atomically
//! (write a temporary sibling, fsync it, rename it over, fsync the directory), so a crash
//! leaves either the old or the new positions, never a torn file.

use std::fs::{File, Metadata};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file's identity while it exists: rename keeps it, a new file at a path changes it.
/// The filesystem may reuse an inode after a delete, so it is paired with a
/// [`Fingerprint`] wherever a stored identity is matched again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub device: u64,
    pub inode: u64,
}

impl FileId {
    pub fn of(metadata: &Metadata) -> FileId {
        use std::os::unix::fs::MetadataExt;
        FileId {
            device: metadata.dev(),
            inode: metadata.ino(),
        }
    }
}

/// SHA-256 of a file's first `len` bytes (at most [`super::identity::FINGERPRINT_BYTES`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fingerprint {
    pub len: u64,
    pub sha256: String,
}

/// Where one file identity resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    #[serde(flatten)]
    pub id: FileId,
    pub fingerprint: Fingerprint,
    /// The record key of the file's lines: the path it was first seen at.
    pub stream: String,
    /// Where the file was last seen (after a rename, not the stream).
    pub path: String,
    /// Bytes before this offset were acknowledged (or were empty lines).
    pub offset: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PositionsFile {
    version: u32,
    files: Vec<Position>,
}

const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum PositionsError {
    #[error("cannot read positions file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("positions file {path} is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write positions file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The positions file at one path.
#[derive(Clone, Debug)]
pub struct PositionsStore {
    path: PathBuf,
}

impl PositionsStore {
    pub fn new(path: impl Into<PathBuf>) -> PositionsStore {
        PositionsStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored positions; `None` when there is no positions file yet (a first run).
    pub fn load(&self) -> Result<Option<Vec<Position>>, PositionsError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(PositionsError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let invalid = |message: String| PositionsError::Invalid {
            path: self.path.clone(),
            message,
        };
        let file: PositionsFile =
            serde_json::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        if file.version != VERSION {
            return Err(invalid(format!(
                "version {} (this corvid writes {VERSION})",
                file.version
            )));
        }
        Ok(Some(file.files))
    }

    /// Replaces the stored positions atomically and durably.
    pub fn save(&self, positions: &[Position]) -> Result<(), PositionsError> {
        let write_error = |source| PositionsError::Write {
            path: self.path.clone(),
            source,
        };
        let text = serde_json::to_vec_pretty(&PositionsFile {
            version: VERSION,
            files: positions.to_vec(),
        })
        .map_err(|error| write_error(std::io::Error::other(error)))?;
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut file = File::create(&temporary).map_err(write_error)?;
        file.write_all(&text).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        drop(file);
        std::fs::rename(&temporary, &self.path).map_err(write_error)?;
        // The rename itself is durable only once the directory entry is.
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(directory)
            .and_then(|directory| directory.sync_all())
            .map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(inode: u64, offset: u64) -> Position {
        Position {
            id: FileId {
                device: 2049,
                inode,
            },
            fingerprint: Fingerprint {
                len: 12,
                sha256: "ab".repeat(32),
            },
            stream: "/var/log/app.log".into(),
            path: "/var/log/app.log.1".into(),
            offset,
        }
    }

    #[test]
    fn a_missing_file_is_a_first_run() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionsStore::new(dir.path().join("positions.json"));
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn saved_positions_load_back_and_replace_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = PositionsStore::new(dir.path().join("positions.json"));
        store.save(&[position(7, 10), position(8, 0)]).unwrap();
        store.save(&[position(7, 99)]).unwrap();
        assert_eq!(store.load().unwrap(), Some(vec![position(7, 99)]));
        // Nothing is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["positions.json"]);
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("positions.json");
        std::fs::write(&path, "{\"version\": 1, \"files\": [").unwrap();
        let error = PositionsStore::new(&path).load().unwrap_err();
        assert!(matches!(error, PositionsError::Invalid { .. }), "{error}");
        assert!(error.to_string().contains("positions.json"), "{error}");
        std::fs::write(&path, "{\"version\": 9, \"files\": []}").unwrap();
        let error = PositionsStore::new(&path).load().unwrap_err();
        assert!(error.to_string().contains("version 9"), "{error}");
    }
}
