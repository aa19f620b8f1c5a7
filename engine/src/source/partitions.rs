//! Which worker owns which Kafka partition.
//!
//! `owner(topic, partition) = (fnv1a(topic) + partition) mod workers`. The hash is fixed
//! (not Rust's randomized `DefaultHasher`) so every process of a cluster, and every
//! restart, computes the same assignment from the same worker count. Adding the partition
//! number spreads one topic's partitions round-robin over the workers, and the topic hash
//! staggers different topics so their partition 0s do not all land on worker 0.

/// A stable 64-bit FNV-1a hash of a topic name.
pub fn topic_hash(topic: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    topic.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The index of the worker that owns `partition` of `topic` among `workers` workers.
pub fn owner(topic: &str, partition: i32, workers: usize) -> usize {
    let workers = workers.max(1) as u64;
    let partition = u64::from(partition.unsigned_abs());
    (topic_hash(topic).wrapping_add(partition) % workers) as usize
}

/// The partitions among `0..partition_count` that `worker` owns.
pub fn owned_partitions(
    topic: &str,
    partition_count: i32,
    worker: usize,
    workers: usize,
) -> Vec<i32> {
    (0..partition_count)
        .filter(|&partition| owner(topic, partition, workers) == worker)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_has_exactly_one_owner() {
        for workers in 1..6 {
            let mut seen: Vec<i32> = (0..workers)
                .flat_map(|worker| owned_partitions("corvid.raw", 12, worker, workers))
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..12).collect::<Vec<_>>(), "workers={workers}");
        }
    }

    #[test]
    fn partitions_spread_evenly() {
        let counts: Vec<usize> = (0..4)
            .map(|worker| owned_partitions("t", 8, worker, 4).len())
            .collect();
        assert_eq!(counts, vec![2, 2, 2, 2]);
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // FNV-1a reference value: a changed hash would silently move partitions.
        assert_eq!(topic_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(topic_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
