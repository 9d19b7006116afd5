//! Read-only access to a store on disk, without the engine: open each
//! partition's manifest, rebuild its mapping, look keys up, walk it in
//! order, and verify every page. The `eloqstore` tool is built on this.

pub mod baseline;
pub mod check;
pub mod cloud;

/// What the `eloqstore manifest` command shows of a replayed manifest.
pub use crate::format::manifest::{ManifestState, ReplayEnd, TERM_KEY_MANIFEST, mapping_value};
/// The `eloqstore` command restores the default SIGPIPE action, as a Unix
/// filter should (`eloqstore scan | head` ends quietly).
pub use crate::io::restore_default_sigpipe;

use std::path::{Path, PathBuf};

use crate::error::{Error, KvError, Result};
use crate::format::compression::{Dictionary, ValueCodec};
use crate::format::manifest;
use crate::format::names::{PartitionFile, classify, manifest_file_name};
use crate::format::page::PageId;
use crate::io::blocking::{BlockingPageReader, read_file};
use crate::io::file::data_file_sizes;
use crate::mapping::MappingTable;
use crate::options::KvOptions;
use crate::tree::{ReadCtx, TreeEntry, block_on};
use crate::types::{KvEntry, TableIdent};

/// Which manifest of a partition to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ManifestChoice {
    /// `manifest_<term>` of the store's term (0 in local mode).
    #[default]
    Current,
    /// The archive with the greatest timestamp.
    NewestArchive,
    /// A file of the partition directory, by name.
    Named(String),
}

/// A store opened for reading only.
pub struct StoreReader {
    opts: KvOptions,
    term: u64,
    /// Cloud stores: the downloaded copy read instead (each partition
    /// through its newest plain manifest).
    cloud_copy: Option<cloud::LocalCopy>,
}

impl StoreReader {
    /// Opens the store the options describe (local mode: term 0). A cloud
    /// store (`cloud_store_path`) is downloaded first (see [`cloud`]).
    pub fn new(opts: KvOptions) -> Result<StoreReader> {
        StoreReader::new_for(opts, &|_| true)
    }

    /// Like `new`, downloading only the partitions `wanted` accepts when
    /// the store is in the cloud.
    pub fn new_for(opts: KvOptions, wanted: &dyn Fn(&TableIdent) -> bool) -> Result<StoreReader> {
        if opts.is_cloud() {
            let (copy, local) = cloud::download(&opts, wanted)?;
            return Ok(StoreReader {
                opts: local,
                term: 0,
                cloud_copy: Some(copy),
            });
        }
        if opts.store_path.is_empty() {
            return Err(Error::invalid_args(
                "store_path is empty: an in-memory store has nothing on disk",
            ));
        }
        Ok(StoreReader {
            opts,
            term: 0,
            cloud_copy: None,
        })
    }

    /// The options the store is read with.
    pub fn options(&self) -> &KvOptions {
        &self.opts
    }

    /// Whether this reads a cloud store (through a local copy).
    pub fn is_cloud(&self) -> bool {
        self.cloud_copy.is_some()
    }

    /// Every partition directory found under the store paths, sorted by
    /// table name then partition id.
    pub fn partitions(&self) -> Result<Vec<TableIdent>> {
        let mut out = Vec::new();
        for root in &self.opts.store_path {
            let rd = std::fs::read_dir(root).map_err(|e| Error::from_io(e, root))?;
            for ent in rd {
                let ent = ent.map_err(|e| Error::from_io(e, root))?;
                if !ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    continue;
                }
                let name = ent.file_name();
                if let Some(t) = TableIdent::parse_bytes(name.as_encoded_bytes()) {
                    // Only directories named exactly as the ident names them.
                    if t.dir_name() == name {
                        out.push(t);
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.tbl_name, a.partition_id).cmp(&(&b.tbl_name, b.partition_id)));
        out.dedup();
        Ok(out)
    }

    /// The directory of a partition.
    pub fn partition_dir(&self, tbl: &TableIdent) -> PathBuf {
        tbl.store_path(&self.opts.store_path)
    }

    /// The manifest file a choice names, within the partition directory.
    pub fn manifest_path(&self, tbl: &TableIdent, choice: &ManifestChoice) -> Result<PathBuf> {
        let dir = self.partition_dir(tbl);
        match choice {
            ManifestChoice::Current if self.cloud_copy.is_some() => {
                let name = cloud::newest_manifest(&dir)
                    .ok_or_else(|| Error::not_found(format!("{tbl}: no manifest in the bucket")))?;
                Ok(dir.join(name))
            }
            ManifestChoice::Current => Ok(dir.join(manifest_file_name(self.term))),
            ManifestChoice::Named(name) => Ok(dir.join(name)),
            ManifestChoice::NewestArchive => {
                let mut best: Option<(u64, String)> = None;
                let rd = std::fs::read_dir(&dir).map_err(|e| Error::from_io(e, dir.display()))?;
                for ent in rd.flatten() {
                    let name = ent.file_name().to_string_lossy().into_owned();
                    if let Some(PartitionFile::Archive { timestamp, .. }) = classify(&name)
                        && best.as_ref().is_none_or(|(ts, _)| timestamp > *ts)
                    {
                        best = Some((timestamp, name));
                    }
                }
                let (_, name) = best.ok_or_else(|| {
                    Error::not_found(format!("{}: no archive manifest", dir.display()))
                })?;
                Ok(dir.join(name))
            }
        }
    }

    /// Replays a partition's manifest without checking it against the data
    /// files (for showing a manifest as it is): its path and state.
    pub fn replay_manifest(
        &self,
        tbl: &TableIdent,
        choice: &ManifestChoice,
    ) -> Result<(PathBuf, Vec<u8>, ManifestState)> {
        let path = self.manifest_path(tbl, choice)?;
        let bytes = read_file(&path)?;
        let state = manifest::replay(&bytes).map_err(|e| e.context(path.display()))?;
        Ok((path, bytes, state))
    }

    /// Checks a replayed manifest against the partition's data files, as
    /// the engine does when it loads it (`ManifestState::check_limits`).
    pub fn check_limits(&self, tbl: &TableIdent, bytes: &[u8], st: &ManifestState) -> Result<()> {
        let sizes = data_file_sizes(&self.partition_dir(tbl))?;
        let limits = manifest::ManifestLimits {
            pages_per_file_shift: self.opts.pages_per_file_shift,
            data_page_size: self.opts.data_page_size as usize,
            append_mode: self.opts.data_append_mode,
            data_files: &sizes,
        };
        st.check_limits(bytes, &limits)
    }

    /// Loads a partition's manifest, checks it against the data files and
    /// prepares it for reads.
    pub fn open_partition(
        &self,
        tbl: &TableIdent,
        choice: &ManifestChoice,
    ) -> Result<PartitionReader> {
        let (path, bytes, state) = self.replay_manifest(tbl, choice)?;
        self.open_replayed(tbl, path, &bytes, state)
    }

    /// `open_partition` from a manifest already replayed from `bytes`.
    pub fn open_replayed(
        &self,
        tbl: &TableIdent,
        path: PathBuf,
        bytes: &[u8],
        state: ManifestState,
    ) -> Result<PartitionReader> {
        self.check_limits(tbl, bytes, &state)
            .map_err(|e| e.context(path.display()))?;
        PartitionReader::new(
            &self.opts,
            tbl.clone(),
            self.partition_dir(tbl),
            path,
            state,
        )
    }
}

/// One partition as a manifest describes it, read through blocking I/O.
pub struct PartitionReader {
    tbl: TableIdent,
    dir: PathBuf,
    manifest_path: PathBuf,
    state: ManifestState,
    mapping: MappingTable,
    dict: Option<Dictionary>,
    source: BlockingPageReader,
    opts: KvOptions,
}

impl PartitionReader {
    fn new(
        opts: &KvOptions,
        tbl: TableIdent,
        dir: PathBuf,
        manifest_path: PathBuf,
        state: ManifestState,
    ) -> Result<PartitionReader> {
        let dict = if state.dict.is_empty() {
            None
        } else {
            Some(
                Dictionary::new(state.dict.clone())
                    .map_err(|e| e.context(manifest_path.display()))?,
            )
        };
        let mapping = MappingTable::from_values(&state.mapping);
        let source = BlockingPageReader::new(
            dir.clone(),
            opts.data_page_size as usize,
            opts.pages_per_file_shift,
            state.term_map.clone(),
        );
        Ok(PartitionReader {
            tbl,
            dir,
            manifest_path,
            state,
            mapping,
            dict,
            source,
            opts: opts.clone(),
        })
    }

    /// The partition.
    pub fn table(&self) -> &TableIdent {
        &self.tbl
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The manifest (or archive) replayed.
    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// The replayed manifest.
    pub fn manifest(&self) -> &ManifestState {
        &self.state
    }

    #[cfg(feature = "internals")]
    pub fn mapping(&self) -> &MappingTable {
        &self.mapping
    }

    #[cfg(feature = "internals")]
    pub fn source(&self) -> &BlockingPageReader {
        &self.source
    }

    /// The options the partition is read with.
    pub fn options(&self) -> &KvOptions {
        &self.opts
    }

    pub(crate) fn dictionary(&self) -> Option<&Dictionary> {
        self.dict.as_ref()
    }

    fn ctx(&self) -> ReadCtx<'_, BlockingPageReader> {
        let mut ctx = ReadCtx::new(&self.source, &self.mapping, &*self.opts.comparator);
        ctx.skip_checksum = self.opts.skip_verify_checksum;
        ctx
    }

    fn finish(&self, e: TreeEntry, codec: &mut ValueCodec) -> Result<KvEntry> {
        let value = block_on(self.ctx().resolve_value(&e, codec, self.dict.as_ref()))?;
        Ok(KvEntry {
            key: e.key,
            value,
            timestamp: e.timestamp,
            expire_ts: e.expire_ts,
        })
    }

    /// The entry stored under `key` (expired entries included).
    pub fn get(&self, key: &[u8]) -> Result<Option<KvEntry>> {
        let found = block_on(self.ctx().get(self.state.root, key))?;
        found
            .map(|e| self.finish(e, &mut ValueCodec::new()))
            .transpose()
    }

    /// The entry with the greatest key `<= key`.
    pub fn floor(&self, key: &[u8]) -> Result<Option<KvEntry>> {
        let found = block_on(self.ctx().floor(self.state.root, key))?;
        found
            .map(|e| self.finish(e, &mut ValueCodec::new()))
            .transpose()
    }

    /// Entries with `begin <= key < end` in key order (empty bounds are
    /// open), calling `f` for each; `f` returns false to stop.
    pub fn scan(
        &self,
        begin: &[u8],
        end: &[u8],
        mut f: impl FnMut(KvEntry) -> Result<bool>,
    ) -> Result<()> {
        self.walk(self.state.root, begin, end, |e, codec| {
            f(self.finish(e, codec)?)
        })
    }

    #[cfg(feature = "internals")]
    /// Every entry of the TTL tree (keys are `BE64(expire) ++ key`,
    /// ordered bytewise whatever the store's comparator).
    pub fn ttl_entries(&self) -> Result<Vec<TreeEntry>> {
        let mut ctx = self.ctx();
        ctx.cmp = &crate::format::comparator::BytewiseComparator;
        let mut out = Vec::new();
        block_on(async {
            let mut cur = ctx.seek(self.state.ttl_root, b"", true, 1).await?;
            while let Some(e) = cur.next(&ctx).await? {
                out.push(e);
            }
            Ok::<_, Error>(())
        })?;
        Ok(out)
    }

    fn walk(
        &self,
        root: PageId,
        begin: &[u8],
        end: &[u8],
        mut f: impl FnMut(TreeEntry, &mut ValueCodec) -> Result<bool>,
    ) -> Result<()> {
        let ctx = self.ctx();
        let mut codec = ValueCodec::new();
        block_on(async {
            let mut cur = ctx.seek(root, begin, true, 1).await?;
            while let Some(e) = cur.next(&ctx).await? {
                if !end.is_empty() && ctx.cmp.compare(&e.key, end).is_ge() {
                    break;
                }
                if !f(e, &mut codec)? {
                    break;
                }
            }
            Ok(())
        })
    }
}

/// Writes one entry as a line of the fixtures' `expected.tsv` format.
pub fn tsv_line(tbl: &TableIdent, e: &KvEntry) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        tbl.name_lossy(),
        tbl.partition_id,
        hex(&e.key),
        hex(&e.value),
        e.timestamp,
        e.expire_ts
    )
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses lower- or upper-case hex.
pub fn unhex(s: &str) -> Result<Vec<u8>> {
    let bad = || Error::invalid_args(format!("not a hex string: {s:?}"));
    if !s.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}

/// Whether an error means "this partition has no manifest".
pub fn is_missing(e: &Error) -> bool {
    e.code() == KvError::NotFound
}
