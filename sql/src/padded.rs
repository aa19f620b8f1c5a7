//! Listing prefixes with the lake's zero-padded partition folders.
//!
//! DataFusion lists only the partitions a query's equality filters name, building the
//! prefix from the filter values: `month = 3 AND day = 7` lists `…/month=3/day=7`. The
//! lake's folders are zero padded (`month=03/day=07`, as Panther writes them), so the
//! store DataFusion reads through rewrites those prefix segments: `year` to four digits,
//! `month`, `day` and `hour` to two. Objects keep their real names; everything but the
//! list prefixes passes through unchanged.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::{Path, PathPart};
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// An object store whose list prefixes name the zero-padded partition folders.
#[derive(Debug)]
pub struct PaddedPartitions {
    inner: Arc<dyn ObjectStore>,
}

impl PaddedPartitions {
    pub fn new(inner: Arc<dyn ObjectStore>) -> PaddedPartitions {
        PaddedPartitions { inner }
    }
}

impl fmt::Display for PaddedPartitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaddedPartitions({})", self.inner)
    }
}

/// `month=3` → `month=03` (also `day`, `hour`; `year` to four digits); other segments
/// unchanged.
pub fn pad_segment(segment: &str) -> Option<String> {
    let (column, value) = segment.split_once('=')?;
    let width = match column {
        "year" => 4,
        "month" | "day" | "hour" => 2,
        _ => return None,
    };
    if value.is_empty() || value.len() >= width || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{column}={value:0>width$}"))
}

/// `prefix` with its partition segments padded.
pub fn pad_prefix(prefix: &Path) -> Path {
    let mut changed = false;
    let parts: Vec<PathPart<'static>> = prefix
        .parts()
        .map(|part| match pad_segment(part.as_ref()) {
            Some(padded) => {
                changed = true;
                PathPart::from(padded)
            }
            None => PathPart::from(part.as_ref().to_owned()),
        })
        .collect();
    if changed {
        Path::from_iter(parts)
    } else {
        prefix.clone()
    }
}

#[async_trait::async_trait]
impl ObjectStore for PaddedPartitions {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let prefix = prefix.map(pad_prefix);
        self.inner.list(prefix.as_ref())
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let prefix = prefix.map(pad_prefix);
        self.inner.list_with_offset(prefix.as_ref(), offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let prefix = prefix.map(pad_prefix);
        self.inner.list_with_delimiter(prefix.as_ref()).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_segments_are_padded_and_nothing_else() {
        let path = Path::from("lake/logs/aws_vpcflow/year=2021/month=3/day=7/hour=9");
        assert_eq!(
            pad_prefix(&path).as_ref(),
            "lake/logs/aws_vpcflow/year=2021/month=03/day=07/hour=09"
        );
        for same in [
            "lake/logs/t/year=2021/month=11/day=27",
            "lake/month=3x/day=",
            "lake/minute=3/weekday=7",
        ] {
            assert_eq!(pad_prefix(&Path::from(same)).as_ref(), same);
        }
        assert_eq!(pad_segment("year=21").as_deref(), Some("year=0021"));
    }
}
