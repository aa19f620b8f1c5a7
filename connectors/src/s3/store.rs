//! Opens the configured object store with `object_store`: S3 (or any S3-compatible
//! server) or a local directory.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::ObjectStore;

use super::config::StoreConfig;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store.url: {url}: {reason}")]
    Open { url: String, reason: String },
}

/// The store and the URL prefix of its objects' keys (`s3://bucket`, `file:///dir`).
pub fn open_store(config: &StoreConfig) -> Result<(Arc<dyn ObjectStore>, String), StoreError> {
    let url = config.url.trim().trim_end_matches('/').to_owned();
    let open_error = |reason: String| StoreError::Open {
        url: url.clone(),
        reason,
    };
    if let Some(directory) = url.strip_prefix("file://") {
        let store = LocalFileSystem::new_with_prefix(directory)
            .map_err(|error| open_error(error.to_string()))?;
        return Ok((Arc::new(store), url));
    }
    // from_env: AWS_* variables fill whatever the file leaves unset.
    let mut builder = AmazonS3Builder::from_env()
        .with_url(&url)
        .with_allow_http(config.allow_http);
    if let Some(endpoint) = &config.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(region) = &config.region {
        builder = builder.with_region(region);
    }
    if let (Some(key), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        builder = builder
            .with_access_key_id(key)
            .with_secret_access_key(secret);
    }
    let store = builder
        .build()
        .map_err(|error| open_error(error.to_string()))?;
    Ok((Arc::new(store), url))
}
