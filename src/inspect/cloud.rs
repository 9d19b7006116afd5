//! The tools on a cloud store: the partitions' objects are downloaded into
//! a temporary directory (never written back, and no `CURRENT_TERM` is
//! touched), then read there as a local store. Each partition is read
//! through its newest plain manifest (`manifest_<highest term>`), the
//! state the next owner would load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::format::names::{PartitionFile, classify};
use crate::io::cloud::{CloudConfig, CloudService};
use crate::options::KvOptions;
use crate::types::TableIdent;

/// A temporary directory, removed when dropped.
pub struct LocalCopy {
    path: PathBuf,
}

impl LocalCopy {
    fn new() -> Result<LocalCopy> {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "eloqstore-cloud-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).map_err(|e| Error::from_io(e, path.display()))?;
        Ok(LocalCopy { path })
    }

    /// The local directory the files were downloaded to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Downloads the data files, manifests and archives of the partitions
/// `wanted` accepts into a temporary directory; returns it with options
/// describing it as a local store (same page and file geometry).
pub fn download(
    opts: &KvOptions,
    wanted: &dyn Fn(&TableIdent) -> bool,
) -> Result<(LocalCopy, KvOptions)> {
    let svc = CloudService::new(CloudConfig::from_options(opts)?)?;
    let copy = LocalCopy::new()?;
    let client = svc.client().clone();
    let listing = svc
        .block_on(async move { client.list_all("", true).await })
        .map_err(Error::from)?;
    let mut jobs: Vec<(String, PathBuf)> = Vec::new();
    for o in &listing.objects {
        let Some((dir, name)) = o.key.split_once('/') else {
            continue;
        };
        let Some(tbl) = TableIdent::parse(dir).filter(|t| t.dir_name().to_str() == Some(dir))
        else {
            continue;
        };
        if name.contains('/') || !wanted(&tbl) || classify(name).is_none() {
            continue;
        }
        let local = copy.path.join(dir);
        std::fs::create_dir_all(&local).map_err(|e| Error::from_io(e, local.display()))?;
        jobs.push((o.key.clone(), local.join(name)));
    }
    for batch in jobs.chunks(16) {
        let futs: Vec<_> = batch
            .iter()
            .map(|(key, path)| {
                let (c, k, p) = (svc.client().clone(), key.clone(), path.clone());
                async move { c.download_file(&k, &p).await }
            })
            .collect();
        for r in svc.block_on(futures_util::future::join_all(futs)) {
            r?;
        }
    }
    let mut local = opts.clone();
    local.cloud_store_path.clear();
    local.store_path = vec![copy.path.to_string_lossy().into_owned()];
    local.prewarm_cloud_cache = false;
    Ok((copy, local))
}

/// The newest plain manifest (`manifest_<highest term>`) in a downloaded
/// partition directory.
pub fn newest_manifest(dir: &Path) -> Option<String> {
    let rd = std::fs::read_dir(dir).ok()?;
    rd.flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match classify(&name) {
                Some(PartitionFile::Manifest { term }) => Some((term, name)),
                _ => None,
            }
        })
        .max()
        .map(|(_, n)| n)
}
