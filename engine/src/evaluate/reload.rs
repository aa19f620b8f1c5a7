//! Hot reload: the rule set in force, replaced atomically when the rules directory changes.
//!
//! A [`LiveRules`] holds the current [`RuleSet`] behind an `Arc`. A watcher thread
//! fingerprints the directory (every file's path, size and modification time) every
//! `interval`; when the fingerprint changes it loads a complete new set and swaps it in.
//! Readers take the `Arc` at the start of a batch, so a batch is evaluated by exactly one
//! set: the change is atomic per batch, and an old set stays alive until its last batch
//! ends. A load that fails as a whole keeps the previous set running and is reported; a
//! load whose individual rules fail swaps in the rules that did load, and the failures
//! become rule-error records (see [`LiveRules::generation`]).
//!
//! Workers may pick up a new set at different epochs: hot reload trades the engine's
//! replay determinism for not restarting, and a restart from a checkpoint re-evaluates
//! with whatever set is on disk then.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use crate::metrics::metrics;
use crate::rules::{RuleLoadError, RuleSet};

/// Loads a rule set from a directory; the engine's loader with its options.
pub type Loader = Arc<dyn Fn(&Path) -> Result<RuleSet, RuleLoadError> + Send + Sync>;

/// The rule set in force and its generation (incremented by each successful reload).
pub struct LiveRules {
    current: RwLock<(u64, Arc<RuleSet>)>,
    generation: AtomicU64,
}

impl LiveRules {
    pub fn new(initial: RuleSet) -> Arc<LiveRules> {
        Arc::new(LiveRules {
            current: RwLock::new((0, Arc::new(initial))),
            generation: AtomicU64::new(0),
        })
    }

    /// The set in force and its generation.
    pub fn current(&self) -> (u64, Arc<RuleSet>) {
        let guard = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        (guard.0, Arc::clone(&guard.1))
    }

    /// The generation in force; cheap, for operators polling for a change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn replace(&self, rules: RuleSet) -> u64 {
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let generation = guard.0 + 1;
        *guard = (generation, Arc::new(rules));
        self.generation.store(generation, Ordering::Release);
        generation
    }

    /// Watches `dir` every `interval` until `stop` is set, reloading on change.
    pub fn watch(
        self: &Arc<Self>,
        dir: PathBuf,
        interval: Duration,
        loader: Loader,
        stop: Arc<AtomicBool>,
    ) -> std::thread::JoinHandle<()> {
        let live = Arc::clone(self);
        std::thread::Builder::new()
            .name("corvid-rules-reload".into())
            .spawn(move || {
                let mut seen = fingerprint(&dir);
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(interval);
                    let now = fingerprint(&dir);
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    match loader(&dir) {
                        Ok(rules) => {
                            let ids = rules.rule_ids();
                            let generation = live.replace(rules);
                            metrics().rule_reloads.with_label_values(&["ok"]).inc();
                            tracing::info!(generation, rules = ?ids, "rules reloaded");
                        }
                        Err(error) => {
                            metrics().rule_reloads.with_label_values(&["failed"]).inc();
                            tracing::error!(%error, "rules reload failed; the previous rules keep running");
                        }
                    }
                }
            })
            .expect("spawning the reload thread")
    }
}

/// Every file under `dir` with its size and modification time, sorted.
pub fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    collect(dir, &mut out);
    out.sort();
    out
}

fn collect(dir: &Path, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            // Python's bytecode caches change when modules are imported, not when rules do.
            if path.file_name().is_some_and(|n| n == "__pycache__") {
                continue;
            }
            collect(&path, out);
        } else {
            out.push((path, meta.len(), meta.modified().ok()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_sees_added_changed_and_removed_files_but_not_bytecode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = fingerprint(dir.path());
        std::fs::write(dir.path().join("a.py"), "x = 1\n").expect("write");
        let one = fingerprint(dir.path());
        assert_ne!(empty, one);
        std::fs::write(dir.path().join("a.py"), "x = 12\n").expect("write");
        let changed = fingerprint(dir.path());
        assert_ne!(one, changed, "a size change is seen");
        std::fs::create_dir_all(dir.path().join("__pycache__")).expect("mkdir");
        std::fs::write(dir.path().join("__pycache__/a.pyc"), "bytecode").expect("write");
        assert_eq!(changed, fingerprint(dir.path()));
        std::fs::remove_file(dir.path().join("a.py")).expect("remove");
        assert_eq!(empty, fingerprint(dir.path()));
    }
}
