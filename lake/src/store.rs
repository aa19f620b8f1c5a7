//! Where the lake lives: a local directory (the default, no service needed) or an
//! S3-compatible bucket, both behind `object_store`.
//!
//! * `file:///abs/dir` or a plain path: the local filesystem. Objects are addressed from
//!   the filesystem root (`file:///abs/dir/logs/...`), the way DataFusion resolves
//!   `file://` URLs, so writer and reader name every object alike.
//! * `s3://bucket/prefix`: any S3-compatible store. Endpoint, region and credentials come
//!   from [`LakeLocation`] or else the usual `AWS_*` environment variables.

use std::fmt;
use std::sync::{Arc, LazyLock};

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::ObjectStore;
use serde::Deserialize;
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake.url: {url:?} is not a directory path or a file:// or s3:// URL")]
    Url { url: String },
    #[error("lake.url: cannot create the lake directory {path}: {source}")]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("lake: cannot open {url}: {source}")]
    Store {
        url: String,
        source: object_store::Error,
    },
}

/// Where the lake is: the location keys of the engine config's `lake` section.
///
/// Unknown keys are ignored here because the section also holds the writer's settings
/// (`roll_secs`, …): the engine validates the whole section with its own strict struct,
/// and `corvid query` reads only these keys from the same file.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LakeLocation {
    /// A directory, `file:///dir`, or `s3://bucket/prefix`.
    pub url: String,
    /// S3 endpoint (e.g. `http://127.0.0.1:9000` for a local server); AWS's when unset.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow an `http://` endpoint (local S3-compatible servers).
    pub allow_http: bool,
}

impl Default for LakeLocation {
    fn default() -> Self {
        LakeLocation {
            url: "data/lake".into(),
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: false,
        }
    }
}

impl fmt::Debug for LakeLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LakeLocation")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// An opened lake: the store, the prefix of the lake inside it, and the store's URL.
#[derive(Clone, Debug)]
pub struct Lake {
    pub store: Arc<dyn ObjectStore>,
    /// The lake root inside the store.
    pub prefix: Path,
    /// The URL the store is registered under for queries: `file:///` or `s3://bucket/`.
    pub store_url: Url,
}

impl Lake {
    /// Opens (for a directory: creates) the lake at `location`.
    pub fn open(location: &LakeLocation) -> Result<Lake, LakeError> {
        let url_error = || LakeError::Url {
            url: location.url.clone(),
        };
        let text = location.url.trim();
        if text.is_empty() {
            return Err(url_error());
        }
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(url_error());
            }
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Some(endpoint) = &location.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &location.region {
                builder = builder.with_region(region);
            }
            if let Some(key) = &location.access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &location.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            if location.allow_http {
                builder = builder.with_allow_http(true);
            }
            let store = builder.build().map_err(|source| LakeError::Store {
                url: location.url.clone(),
                source,
            })?;
            let store_url = Url::parse(&format!("s3://{bucket}/")).map_err(|_| url_error())?;
            return Ok(Lake {
                store: Arc::new(store),
                prefix: Path::from(prefix.trim_matches('/')),
                store_url,
            });
        }
        let dir = match text.strip_prefix("file://") {
            Some(path) => std::path::PathBuf::from(path),
            None if text.contains("://") => return Err(url_error()),
            None => std::path::PathBuf::from(text),
        };
        std::fs::create_dir_all(&dir).map_err(|source| LakeError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        let absolute = dir.canonicalize().map_err(|source| LakeError::Directory {
            path: dir.display().to_string(),
            source,
        })?;
        let prefix = Path::from_filesystem_path(&absolute).map_err(|_| url_error())?;
        Ok(Lake {
            store: Arc::new(LocalFileSystem::new()),
            prefix,
            store_url: Url::parse("file:///").map_err(|_| url_error())?,
        })
    }

    /// The URL of a path in this lake, e.g. for a DataFusion listing table.
    pub fn url_of(&self, path: &Path) -> String {
        format!("{}{}", self.store_url, path.as_ref())
    }
}

/// The process's runtime for lake I/O (object_store is async; the engine is not).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("corvid-lake-io")
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("cannot start the lake I/O runtime: {error}"))
    });
    &RUNTIME
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_created_and_addressed_from_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = LakeLocation {
            url: dir.path().join("lake").display().to_string(),
            ..LakeLocation::default()
        };
        let lake = Lake::open(&location).expect("open");
        assert!(dir.path().join("lake").is_dir());
        assert_eq!(lake.store_url.as_str(), "file:///");
        let url = lake.url_of(&lake.prefix);
        assert!(
            url.starts_with("file:///") && url.ends_with("/lake"),
            "{url}"
        );
    }

    #[test]
    fn s3_urls_take_bucket_and_prefix_and_never_print_the_secret() {
        let location = LakeLocation {
            url: "s3://corvid-lake/prod/lake".into(),
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: Some("us-east-1".into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("do-not-print-me".into()),
            allow_http: true,
        };
        let lake = Lake::open(&location).expect("open");
        assert_eq!(lake.store_url.as_str(), "s3://corvid-lake/");
        assert_eq!(lake.prefix.as_ref(), "prod/lake");
        assert!(!format!("{location:?}").contains("do-not-print-me"));
    }

    #[test]
    fn other_schemes_fail_naming_the_key() {
        let err = Lake::open(&LakeLocation {
            url: "gs://bucket".into(),
            ..LakeLocation::default()
        })
        .expect_err("unsupported");
        assert!(err.to_string().starts_with("lake.url:"), "{err}");
    }
}
