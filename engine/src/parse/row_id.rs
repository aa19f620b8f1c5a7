//! `p_row_id`: a unique, *deterministic* identifier per event.
//!
//! Panther derives row ids from the host MAC, process start and a counter, so a replay
//! mints new ids. Corvid's output must be a deterministic function of its input log, so
//! the id is a hash of the event's position instead: (topic, partition, offset, index of
//! the event within the record). Replaying a record yields the same ids, and the lake's
//! rewrites and the alerts' sample rows agree across restarts.

use sha2::{Digest, Sha256};

/// 32 hex characters identifying event `index` of the record at (topic, partition, offset).
pub fn row_id(topic: &str, partition: i32, offset: i64, index: usize) -> String {
    let mut hasher = Sha256::new();
    hasher.update(topic.as_bytes());
    hasher.update([0u8]);
    hasher.update(partition.to_be_bytes());
    hasher.update(offset.to_be_bytes());
    hasher.update((index as u64).to_be_bytes());
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_position_same_id_and_any_change_changes_it() {
        let id = row_id("raw", 1, 42, 0);
        assert_eq!(id.len(), 32);
        assert_eq!(id, row_id("raw", 1, 42, 0));
        for other in [
            row_id("raw2", 1, 42, 0),
            row_id("raw", 2, 42, 0),
            row_id("raw", 1, 43, 0),
            row_id("raw", 1, 42, 1),
        ] {
            assert_ne!(id, other);
        }
    }
}
