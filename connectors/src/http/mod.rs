//! `corvid connect http` (issue 10; being built).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("corvid connect http is not built yet")]
    NotBuilt,
}

pub fn run_from_file(_config: &Path, _shutdown: Arc<AtomicBool>) -> Result<(), HttpError> {
    Err(HttpError::NotBuilt)
}
