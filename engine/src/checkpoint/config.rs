//! The `checkpoint` section of the engine config (keys in `docs/config.md`).

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Take checkpoints and restore from the newest one at start-up.
    pub enabled: bool,
    /// Where checkpoints live: a directory, `file:///dir` or `s3://bucket/prefix` (with
    /// the lake's endpoint and credentials); default `_corvid/checkpoints` in the lake's
    /// store.
    pub url: Option<String>,
    /// Epoch time between checkpoints; a multiple of `epoch_ms`.
    pub interval_secs: f64,
    /// Complete checkpoints kept; older ones are deleted.
    pub keep: usize,
    /// Virtual shards keyed state is split into; fixed for the life of the checkpoints.
    pub shards: u32,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        CheckpointConfig {
            enabled: true,
            url: None,
            interval_secs: 10.0,
            keep: 3,
            shards: 256,
        }
    }
}

impl CheckpointConfig {
    pub fn interval_ms(&self, epoch_ms: u64) -> u64 {
        // Rounded to whole epochs: a boundary must be an epoch.
        let ms = (self.interval_secs * 1000.0).round() as u64;
        let epoch_ms = epoch_ms.max(1);
        (ms.div_ceil(epoch_ms) * epoch_ms).max(epoch_ms)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(self.interval_secs.is_finite() && self.interval_secs > 0.0) {
            return Err("checkpoint.interval_secs: must be a positive number".into());
        }
        if self.keep == 0 {
            return Err("checkpoint.keep: must be at least 1".into());
        }
        if self.shards == 0 {
            return Err("checkpoint.shards: must be at least 1".into());
        }
        if self.url.as_deref().is_some_and(|url| url.trim().is_empty()) {
            return Err("checkpoint.url: must not be empty".into());
        }
        Ok(())
    }
}
