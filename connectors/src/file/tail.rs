//! `corvid connect file --config` (issue 10; being built).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("corvid connect file --config is not built yet")]
    NotBuilt,
}

pub fn run_from_file(_config: &Path, _shutdown: Arc<AtomicBool>) -> Result<(), TailError> {
    Err(TailError::NotBuilt)
}
