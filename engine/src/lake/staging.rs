//! Lake files become visible only after their checkpoint.
//!
//! With checkpoints on, the writer puts a finished file under `_corvid/staging/` (same
//! relative path). Once the manifest of boundary `B` is written, every staged file whose
//! epochs all lie below `B` is moved into place. On restart, files staged for epochs the
//! restored checkpoint covers are moved (a crash may have cut the moves short) and the
//! rest are deleted: the replay writes them again, possibly under other names after a
//! rescale, so readers never see a row twice.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::ObjectStoreExt;

use crate::checkpoint::CheckpointError;
use crate::source::Epoch;
use corvid_lake::store::runtime;
use corvid_lake::Lake;

const STAGING: &str = "_corvid/staging";

fn staging_root(lake: &Lake) -> Path {
    let mut path = lake.prefix.clone();
    for part in STAGING.split('/') {
        path = path.clone().join(part);
    }
    path
}

/// Where a file bound for `target` waits for its checkpoint.
pub fn staged_path(lake: &Lake, target: &Path) -> Path {
    let relative = target
        .as_ref()
        .strip_prefix(lake.prefix.as_ref())
        .unwrap_or(target.as_ref())
        .trim_start_matches('/');
    let mut path = staging_root(lake);
    for part in relative.split('/') {
        path = path.clone().join(part);
    }
    path
}

/// The last epoch in a lake file name (`part-<shard>-<first>-<last>.zstd.parquet`).
fn last_epoch(path: &Path) -> Option<Epoch> {
    let name = path.filename()?;
    name.strip_suffix(".zstd.parquet")?
        .rsplit('-')
        .next()?
        .parse()
        .ok()
}

fn io(path: &Path) -> impl FnOnce(object_store::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_string(),
        source,
    }
}

/// Moves staged files below `boundary` into place; returns how many moved.
pub fn commit(lake: &Lake, boundary: Epoch) -> Result<usize, CheckpointError> {
    settle(lake, Some(boundary))
}

/// After a restore from `boundary` (None: no checkpoint yet): finishes the moves of
/// committed files and deletes the uncommitted ones.
pub fn recover(lake: &Lake, boundary: Option<Epoch>) -> Result<usize, CheckpointError> {
    let root = staging_root(lake);
    let staged: Vec<_> = runtime()
        .block_on(lake.store.list(Some(&root)).try_collect::<Vec<_>>())
        .map_err(io(&root))?;
    let moved = settle(lake, boundary)?;
    let mut deleted = 0;
    for meta in staged {
        let committed = boundary.is_some_and(|b| last_epoch(&meta.location).is_some_and(|l| l < b));
        if !committed {
            match runtime().block_on(lake.store.delete(&meta.location)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(source) => return Err(io(&meta.location)(source)),
            }
        }
    }
    if moved + deleted > 0 {
        tracing::info!(moved, deleted, "lake staging recovered");
    }
    Ok(moved)
}

fn settle(lake: &Lake, boundary: Option<Epoch>) -> Result<usize, CheckpointError> {
    let Some(boundary) = boundary else {
        return Ok(0);
    };
    let root = staging_root(lake);
    let staged: Vec<_> = runtime()
        .block_on(lake.store.list(Some(&root)).try_collect::<Vec<_>>())
        .map_err(io(&root))?;
    let mut moved = 0;
    for meta in staged {
        if last_epoch(&meta.location).is_none_or(|last| last >= boundary) {
            continue;
        }
        let relative = meta
            .location
            .as_ref()
            .strip_prefix(root.as_ref())
            .unwrap_or(meta.location.as_ref())
            .trim_start_matches('/');
        let mut target = lake.prefix.clone();
        for part in relative.split('/') {
            target = target.clone().join(part);
        }
        runtime()
            .block_on(lake.store.rename(&meta.location, &target))
            .map_err(io(&meta.location))?;
        moved += 1;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::PutPayload;

    fn lake(dir: &std::path::Path) -> Lake {
        Lake::open(&corvid_lake::LakeLocation {
            url: dir.display().to_string(),
            ..corvid_lake::LakeLocation::default()
        })
        .expect("lake")
    }

    fn put(lake: &Lake, path: &Path) {
        runtime()
            .block_on(lake.store.put(path, PutPayload::from(vec![1u8])))
            .expect("put");
    }

    #[test]
    fn staged_files_move_once_their_checkpoint_covers_them_and_the_rest_are_dropped_on_recovery() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = lake(dir.path());
        let early = lake
            .prefix
            .clone()
            .join("logs")
            .join("t")
            .join("part-0000-0000000001000-0000000001900.zstd.parquet");
        let late = lake
            .prefix
            .clone()
            .join("logs")
            .join("t")
            .join("part-0000-0000000002000-0000000002900.zstd.parquet");
        put(&lake, &staged_path(&lake, &early));
        put(&lake, &staged_path(&lake, &late));
        assert_eq!(commit(&lake, 2000).expect("commit"), 1);
        assert!(dir
            .path()
            .join("logs/t/part-0000-0000000001000-0000000001900.zstd.parquet")
            .exists());
        assert!(!dir
            .path()
            .join("logs/t/part-0000-0000000002000-0000000002900.zstd.parquet")
            .exists());
        // A crash, then a restore from the checkpoint at 2000: the late file is not part
        // of it and goes.
        assert_eq!(recover(&lake, Some(2000)).expect("recover"), 0);
        assert!(!dir
            .path()
            .join("_corvid/staging/logs/t/part-0000-0000000002000-0000000002900.zstd.parquet")
            .exists());
    }
}
