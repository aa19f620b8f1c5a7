//! What happened to a tailed file since the last look: the decisions that keep every
//! line delivered once across rotation and truncation.
//!
//! - *Grown / unchanged*: its size against the offset read so far.
//! - *Truncated* (logrotate `copytruncate`): size below the offset read; restart at 0.
//! - *Replaced*: the first bytes no longer hash to the stored [`Fingerprint`]: the file
//!   was truncated and refilled between two looks, or (after a restart) the inode was
//!   reused by another file. Also restart at 0.
//! - *Rotated away* (logrotate `create`, or deleted): its first path now names another
//!   file, or none, or it has no links left. It is still read to its end, and counts as
//!   [`drained`] once it stopped growing for `rotate_wait`.
//!
//! Known limit: a file truncated and refilled with the same first bytes
//! ([`FINGERPRINT_BYTES`]) past the old offset between two looks is not noticed.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::positions::{FileId, Fingerprint};

/// Bytes at the head of a file that its fingerprint covers.
pub const FINGERPRINT_BYTES: u64 = 256;

/// The fingerprint of the first `min(size, FINGERPRINT_BYTES)` bytes.
pub fn fingerprint(file: &File, size: u64) -> std::io::Result<Fingerprint> {
    let len = size.min(FINGERPRINT_BYTES);
    Ok(prefix_fingerprint(file, len)?.unwrap_or_else(|| hash(&[])))
}

/// The fingerprint of exactly the first `len` bytes; `None` when the file is shorter.
pub fn prefix_fingerprint(file: &File, len: u64) -> std::io::Result<Option<Fingerprint>> {
    let mut head = vec![0; len as usize];
    let mut filled = 0;
    while filled < head.len() {
        match file.read_at(&mut head[filled..], filled as u64)? {
            0 => return Ok(None),
            read => filled += read,
        }
    }
    Ok(Some(hash(&head)))
}

fn hash(bytes: &[u8]) -> Fingerprint {
    Fingerprint {
        len: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Unchanged,
    Grown,
    Truncated,
    Replaced,
}

/// Compares what is known of a file (bytes read so far, fingerprint) with what it is now
/// (size, and the fingerprint of its first `known.len` bytes, `None` if it is shorter).
pub fn classify(
    read_offset: u64,
    known: &Fingerprint,
    size: u64,
    head_now: Option<&Fingerprint>,
) -> Change {
    if size < read_offset {
        return Change::Truncated;
    }
    match head_now {
        // Shorter than its fingerprint: it lost bytes we saw.
        None => Change::Truncated,
        Some(head) if head != known => Change::Replaced,
        Some(_) if size > read_offset => Change::Grown,
        Some(_) => Change::Unchanged,
    }
}

/// Whether a file has moved away from the path its lines are keyed by: that path now
/// names another file (`at_home`), or nothing, or the file has no links left.
pub fn rotated_away(own: FileId, at_home: Option<FileId>, links: u64) -> bool {
    links == 0 || at_home != Some(own)
}

/// Whether a rotated-away file read to its end is done: nothing was appended for
/// `wait` since it moved away or last grew, whichever is later.
pub fn drained(rotated_at: Instant, last_growth: Instant, now: Instant, wait: Duration) -> bool {
    now.saturating_duration_since(rotated_at.max(last_growth)) >= wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(bytes).unwrap();
        let handle = file.reopen().unwrap();
        (file, handle)
    }

    #[test]
    fn fingerprints_cover_the_head_only() {
        let long = vec![b'x'; 1000];
        let (_keep, handle) = file_with(&long);
        let print = fingerprint(&handle, 1000).unwrap();
        assert_eq!(print.len, FINGERPRINT_BYTES);
        assert_eq!(print, hash(&long[..256]));
        let (_keep, short) = file_with(b"abc");
        assert_eq!(fingerprint(&short, 3).unwrap(), hash(b"abc"));
        assert_eq!(prefix_fingerprint(&short, 4).unwrap(), None);
        assert_eq!(prefix_fingerprint(&short, 2).unwrap(), Some(hash(b"ab")));
    }

    #[test]
    fn growth_truncation_and_replacement_are_told_apart() {
        let known = hash(b"first line\n");
        let same = Some(&known);
        let other = hash(b"other line\n");
        assert_eq!(classify(20, &known, 20, same), Change::Unchanged);
        assert_eq!(classify(20, &known, 35, same), Change::Grown);
        // copytruncate: the file is shorter than what was read.
        assert_eq!(classify(20, &known, 0, None), Change::Truncated);
        assert_eq!(classify(20, &known, 15, same), Change::Truncated);
        // Truncated and refilled past the old offset before we looked.
        assert_eq!(classify(20, &known, 40, Some(&other)), Change::Replaced);
        // A reused inode found at restart: head differs even though it is long enough.
        assert_eq!(classify(0, &known, 500, Some(&other)), Change::Replaced);
        // Shorter than the fingerprint but not than the offset read (a stored offset).
        assert_eq!(classify(5, &known, 8, None), Change::Truncated);
    }

    #[test]
    fn a_file_is_rotated_when_its_path_names_another_or_nothing() {
        let own = FileId {
            device: 1,
            inode: 10,
        };
        let new = FileId {
            device: 1,
            inode: 11,
        };
        assert!(!rotated_away(own, Some(own), 1));
        assert!(rotated_away(own, Some(new), 1), "renamed, new file created");
        assert!(rotated_away(own, None, 1), "renamed, nothing created yet");
        assert!(rotated_away(own, Some(own), 0), "deleted while open");
    }

    #[test]
    fn a_rotated_file_is_drained_after_the_wait_without_growth() {
        let start = Instant::now();
        let wait = Duration::from_millis(500);
        let at = |ms| start + Duration::from_millis(ms);
        assert!(!drained(start, start, at(499), wait));
        assert!(drained(start, start, at(500), wait));
        // It grew after the rotation: the wait starts again from the growth.
        assert!(!drained(start, at(300), at(600), wait));
        assert!(drained(start, at(300), at(800), wait));
    }
}
