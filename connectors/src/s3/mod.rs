//! `corvid connect s3` (issue 10; being built).

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("corvid connect s3 is not built yet")]
    NotBuilt,
}

pub fn run_from_file(
    _config: &Path,
    _once: bool,
    _shutdown: Arc<AtomicBool>,
) -> Result<(), S3Error> {
    Err(S3Error::NotBuilt)
}
