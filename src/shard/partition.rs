//! One partition as a shard holds it: its committed version (what readers
//! see), the writer's page mapper, the manifest's logical size, and where
//! its files live (a directory, or memory for in-memory stores). Loading
//! replays the manifest; committing writes pages, syncs them, then appends
//! a manifest record (or replaces the manifest with a snapshot).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use super::ShardCtx;
use super::util::{WriteQueue, all_ok, join_all};
use crate::error::{Error, KvError, Result};
use crate::format::compression::{DictSampler, Dictionary};
use crate::format::manifest::{self, TermMap};
use crate::format::names::{PartitionFile, classify, data_file_name, manifest_file_name};
use crate::format::page::{
    AlignedBuf, FileId, FilePageId, MAX_PAGE_ID, PageId, PageType, page_type,
};
use crate::io::file::{FileKind, IoFile, OpenOptions};
use crate::io::runtime::Notify;
use crate::mapping::{MappingTable, PageMapper};
use crate::tree::write::WritePlan;
use crate::tree::{PageRef, PageSource, ReadCtx};
use crate::types::TableIdent;

/// A partition's files when the store has no disk: pages and the manifest
/// bytes, kept until the store stops.
#[derive(Default)]
pub struct MemFiles {
    pub pages: HashMap<FilePageId, AlignedBuf>,
    pub manifest: Vec<u8>,
}

pub enum Storage {
    Disk { dir: PathBuf, root: PathBuf },
    Memory(RefCell<MemFiles>),
}

/// What readers see: a committed state of both trees. File pages (and, in
/// append mode, whole files) that later versions no longer use are freed
/// only when this version and every older one are gone.
pub struct Version {
    pub root: PageId,
    pub ttl_root: PageId,
    pub mapping: MappingTable,
    pub terms: Rc<TermMap>,
    pub dict: Option<Rc<Dictionary>>,
    seq: u64,
    retirement: Rc<RefCell<Retirement>>,
}

impl Drop for Version {
    fn drop(&mut self) {
        self.retirement.borrow_mut().version_dropped(self.seq);
    }
}

/// Bookkeeping of live versions and of what waits for older ones to go.
#[derive(Default)]
pub struct Retirement {
    next_seq: u64,
    /// Live versions by sequence number.
    live: BTreeMap<u64, usize>,
    /// File pages unused from the version after `key` on: reusable once no
    /// version numbered `key` or lower is alive.
    pending: BTreeMap<u64, Vec<FilePageId>>,
    /// Reusable now.
    released: Vec<FilePageId>,
    /// Data files no version after `key` uses: deletable once no version
    /// numbered `key` or lower is alive.
    pending_files: BTreeMap<u64, Vec<FileId>>,
    /// Deletable now.
    released_files: Vec<FileId>,
    /// Files already scheduled for deletion.
    doomed: BTreeSet<FileId>,
}

impl Retirement {
    fn version_dropped(&mut self, seq: u64) {
        if let Some(n) = self.live.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                self.live.remove(&seq);
            }
        }
        self.collect();
    }

    /// Moves every pending entry no live version can need to `released`.
    fn collect(&mut self) {
        let oldest = self.live.keys().next().copied().unwrap_or(u64::MAX);
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() >= oldest {
                break;
            }
            let mut fps = entry.remove();
            self.released.append(&mut fps);
        }
        while let Some(entry) = self.pending_files.first_entry() {
            if *entry.key() >= oldest {
                break;
            }
            let mut files = entry.remove();
            self.released_files.append(&mut files);
        }
    }

    pub fn live_count(&self) -> usize {
        self.live.values().sum()
    }
}

pub struct Loaded {
    pub version: Rc<Version>,
    pub mapper: PageMapper,
    /// Where the next manifest log record goes.
    pub manifest_size: usize,
    pub dict: Option<Rc<Dictionary>>,
    /// A dictionary trained since the last snapshot forces a snapshot.
    pub dict_dirty: bool,
    pub sampler: DictSampler,
    /// Data files known to exist.
    pub files: BTreeSet<FileId>,
    /// Earliest expiry in the TTL tree, if known (1: unknown but some
    /// exist; `u64::MAX`: none).
    pub next_expire: u64,
    /// Data files the partition's archives reference (computed on demand).
    pub archived_files: Option<BTreeSet<FileId>>,
}

pub enum PartState {
    Unloaded,
    /// No manifest: never written (or not on this store).
    Missing,
    Loaded(Box<Loaded>),
    /// A manifest write failed: what is durable is unknown until the
    /// manifest is replayed again, once no reader holds a version.
    Poisoned,
}

pub struct Partition {
    pub tbl: TableIdent,
    /// This partition's key in the shard's index cache.
    pub key: u64,
    pub storage: Storage,
    pub state: RefCell<PartState>,
    loading: Cell<bool>,
    loaded: Notify,
    pub writes: Rc<WriteQueue>,
    retirement: Rc<RefCell<Retirement>>,
    versions_gone: Notify,
    pub last_used: Cell<u64>,
    /// Metadata bytes this partition last counted for in the shard's total.
    pub accounted: Cell<usize>,
    /// A background compaction or TTL clean-up is queued.
    pub compaction_queued: Cell<bool>,
    pub cleanup_queued: Cell<bool>,
    /// Data files this partition's reads used lately, most recent first:
    /// finding one here skips building its path and the shard's file cache
    /// lookup. Weak: the file cache still decides what stays open.
    recent_files: RefCell<Vec<(FileId, u64, Weak<IoFile>)>>,
    /// Data files the running write created for pages it wrote ahead of
    /// its commit (see [`Partition::write_early`]); the commit adopts them.
    early_files: RefCell<BTreeSet<FileId>>,
}

/// Page runs (of `max_write_batch_pages`, upstream's unit of a batch
/// flush) a write gathers before writing them ahead of its commit: 4 MiB
/// under the default options.
const EARLY_WRITE_RUNS: usize = 4;

/// Data files a partition remembers for its reads.
const RECENT_FILES: usize = 8;

impl Partition {
    pub fn new(tbl: TableIdent, key: u64, storage: Storage) -> Partition {
        Partition {
            tbl,
            key,
            storage,
            state: RefCell::new(PartState::Unloaded),
            loading: Cell::new(false),
            loaded: Notify::new(),
            writes: Rc::new(WriteQueue::default()),
            retirement: Rc::default(),
            versions_gone: Notify::new(),
            last_used: Cell::new(0),
            accounted: Cell::new(0),
            compaction_queued: Cell::new(false),
            cleanup_queued: Cell::new(false),
            recent_files: RefCell::default(),
            early_files: RefCell::default(),
        }
    }

    /// An open data file a recent read used, if it is still open.
    fn recent_file(&self, file_id: FileId, term: u64) -> Option<Rc<IoFile>> {
        let mut recent = self.recent_files.borrow_mut();
        let i = recent
            .iter()
            .position(|(f, t, _)| *f == file_id && *t == term)?;
        match recent[i].2.upgrade() {
            Some(file) => {
                recent[..=i].rotate_right(1);
                Some(file)
            }
            None => {
                recent.remove(i);
                None
            }
        }
    }

    fn remember_file(&self, file_id: FileId, term: u64, file: &Rc<IoFile>) {
        let mut recent = self.recent_files.borrow_mut();
        recent.retain(|(f, t, _)| !(*f == file_id && *t == term));
        recent.insert(0, (file_id, term, Rc::downgrade(file)));
        recent.truncate(RECENT_FILES);
    }

    pub fn dir(&self) -> Option<&Path> {
        match &self.storage {
            Storage::Disk { dir, .. } => Some(dir),
            Storage::Memory(_) => None,
        }
    }

    /// Whether the partition could be dropped from memory now.
    pub fn idle(&self) -> bool {
        !self.writes.busy() && !self.loading.get() && self.retirement.borrow().live_count() <= 1
    }

    /// Memory held by the loaded mapping.
    pub fn memory_bytes(&self) -> usize {
        match &*self.state.borrow() {
            PartState::Loaded(l) => l.mapper.memory_bytes(),
            _ => 0,
        }
    }

    /// Drops the in-memory state (reloaded on next use).
    pub fn unload(&self) {
        *self.state.borrow_mut() = PartState::Unloaded;
    }

    pub fn make_version(
        &self,
        root: PageId,
        ttl_root: PageId,
        mapping: MappingTable,
        terms: Rc<TermMap>,
        dict: Option<Rc<Dictionary>>,
    ) -> Rc<Version> {
        let seq = {
            let mut r = self.retirement.borrow_mut();
            let seq = r.next_seq;
            r.next_seq += 1;
            *r.live.entry(seq).or_default() += 1;
            seq
        };
        Rc::new(Version {
            root,
            ttl_root,
            mapping,
            terms,
            dict,
            seq,
            retirement: self.retirement.clone(),
        })
    }

    /// The committed version, loading the manifest first if needed;
    /// `None` when the partition has no manifest.
    pub async fn version(&self, shard: &ShardCtx) -> Result<Option<Rc<Version>>> {
        loop {
            match &*self.state.borrow() {
                PartState::Loaded(l) => return Ok(Some(l.version.clone())),
                PartState::Missing => return Ok(None),
                _ => {}
            }
            self.ensure_loaded(shard).await?;
        }
    }

    /// Loads the manifest unless it is loaded (or known missing).
    pub async fn ensure_loaded(&self, shard: &ShardCtx) -> Result<()> {
        loop {
            let poisoned = match &*self.state.borrow() {
                PartState::Loaded(_) | PartState::Missing => return Ok(()),
                PartState::Poisoned => true,
                PartState::Unloaded => false,
            };
            if self.loading.get() {
                self.loaded.notified().await;
                continue;
            }
            if poisoned {
                // Readers of the old version must finish before the manifest
                // decides which pages are free.
                while self.retirement.borrow().live_count() > 0 {
                    self.versions_gone.notified().await;
                }
            }
            self.loading.set(true);
            let res = self.load(shard).await;
            self.loading.set(false);
            self.loaded.notify_all();
            return res;
        }
    }

    /// Called when a version may have been dropped.
    pub fn poke(&self) {
        if self.retirement.borrow().live_count() == 0 {
            self.versions_gone.notify_all();
        }
    }

    async fn load(&self, shard: &ShardCtx) -> Result<()> {
        let opts = &shard.opts;
        let (bytes, sizes) = match &self.storage {
            Storage::Memory(m) => {
                let m = m.borrow();
                if m.manifest.is_empty() {
                    *self.state.borrow_mut() = PartState::Missing;
                    return Ok(());
                }
                (m.manifest.clone(), None)
            }
            Storage::Disk { .. } if shard.cloud.is_some() => {
                // Pages are checked when read (a page missing from the
                // bucket is Corrupted); the data files' sizes are not known
                // without listing the bucket.
                match super::cloud::load_manifest(shard, self).await? {
                    Some(bytes) => (bytes, None),
                    None => {
                        *self.state.borrow_mut() = PartState::Missing;
                        return Ok(());
                    }
                }
            }
            Storage::Disk { dir, .. } => {
                let path = dir.join(manifest_file_name(shard.term));
                let bytes = match shard.io.read_file(&path, FileKind::Manifest).await {
                    Ok(b) => b,
                    Err(e) if e.code() == KvError::NotFound => {
                        *self.state.borrow_mut() = PartState::Missing;
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                };
                (bytes, Some(data_file_sizes(shard, dir).await?))
            }
        };
        let in_manifest = |e: Error| e.context(format_args!("{} manifest", self.tbl));
        let st = manifest::replay(&bytes).map_err(in_manifest)?;
        // A memory store's manifest and pages never left this process.
        if let Some(sizes) = &sizes {
            let limits = manifest::ManifestLimits {
                pages_per_file_shift: opts.pages_per_file_shift,
                data_page_size: opts.data_page_size as usize,
                append_mode: opts.data_append_mode,
                data_files: sizes,
            };
            st.check_limits(&bytes, &limits).map_err(in_manifest)?;
        }
        let files: BTreeSet<FileId> = sizes
            .iter()
            .flat_map(|s| s.keys().map(|&(f, _)| f))
            .collect();
        let dict = if st.dict.is_empty() {
            None
        } else {
            Some(Rc::new(Dictionary::new(st.dict.clone())?))
        };
        let mut mapper = PageMapper::from_manifest(
            &st,
            opts.data_append_mode,
            opts.pages_per_file_shift,
            shard.term,
        );
        let files = if shard.cloud.is_some() {
            cloud_loaded_files(&st, &mut mapper, shard.term)
        } else {
            files
        };
        let version = self.make_version(
            st.root,
            st.ttl_root,
            mapper.table().clone(),
            Rc::new(mapper.terms().clone()),
            dict.clone(),
        );
        // A fresh load owns every free page: nothing retired is pending.
        {
            let mut r = self.retirement.borrow_mut();
            r.pending.clear();
            r.released.clear();
            r.pending_files.clear();
            r.released_files.clear();
            r.doomed.clear();
        }
        *self.state.borrow_mut() = PartState::Loaded(Box::new(Loaded {
            version,
            mapper,
            manifest_size: st.file_size,
            dict,
            dict_dirty: false,
            sampler: DictSampler::default(),
            files,
            next_expire: if st.ttl_root == MAX_PAGE_ID {
                u64::MAX
            } else {
                1
            },
            archived_files: None,
        }));
        Ok(())
    }

    /// File pages released by dropped versions since the last call; they
    /// must leave the index cache before they are reused.
    pub fn take_released(&self) -> Vec<FilePageId> {
        std::mem::take(&mut self.retirement.borrow_mut().released)
    }

    /// A state for a partition being written for the first time.
    pub fn create(&self, shard: &ShardCtx) {
        let mut mapper = PageMapper::new(
            shard.opts.data_append_mode,
            shard.opts.pages_per_file_shift,
            shard.term,
        );
        mapper.reserve(shard.opts.init_page_count as usize);
        let version = self.make_version(
            MAX_PAGE_ID,
            MAX_PAGE_ID,
            MappingTable::new(),
            Rc::default(),
            None,
        );
        *self.state.borrow_mut() = PartState::Loaded(Box::new(Loaded {
            version,
            mapper,
            manifest_size: 0,
            dict: None,
            dict_dirty: false,
            sampler: DictSampler::default(),
            files: BTreeSet::new(),
            next_expire: u64::MAX,
            archived_files: None,
        }));
    }

    // ---- file GC --------------------------------------------------------------

    /// Schedules the deletion of data files nothing uses any more: no live
    /// page of the current version, no archive, not at or past the append
    /// point. They are deleted once every older version is gone.
    pub async fn schedule_file_gc(&self, shard: &ShardCtx) -> Result<()> {
        let Some(dir) = self.dir().map(Path::to_path_buf) else {
            return Ok(());
        };
        let need_archives =
            matches!(&*self.state.borrow(), PartState::Loaded(l) if l.archived_files.is_none());
        if need_archives {
            let archived = if shard.cloud.is_some() {
                super::cloud::archived_file_ids(shard, &self.tbl).await?
            } else {
                archived_file_ids(shard, &dir).await?
            };
            if let PartState::Loaded(l) = &mut *self.state.borrow_mut() {
                l.archived_files = Some(archived);
            }
        }
        let (doomed, seq) = {
            let mut st = self.state.borrow_mut();
            let PartState::Loaded(l) = &mut *st else {
                return Ok(());
            };
            let archived = l.archived_files.as_ref().expect("computed above");
            let current = l.mapper.current_file();
            // Cloud mode: the file being appended to goes too once nothing
            // lives in it (upstream's cloud GC deletes it, so a truncated
            // partition leaves no data object); new pages then start a
            // fresh file.
            if shard.cloud.is_some()
                && l.files.contains(&current)
                && !l.mapper.file_live().contains_key(&current)
                && !archived.contains(&current)
                && !self.retirement.borrow().doomed.contains(&current)
            {
                l.mapper.start_next_file();
            }
            let live = l.mapper.file_live();
            let current = l.mapper.current_file();
            let r = self.retirement.borrow();
            let doomed: Vec<FileId> = l
                .files
                .iter()
                .copied()
                .filter(|f| {
                    *f < current
                        && !live.contains_key(f)
                        && !archived.contains(f)
                        && !r.doomed.contains(f)
                })
                .collect();
            (doomed, l.version.seq)
        };
        if doomed.is_empty() {
            return Ok(());
        }
        let mut r = self.retirement.borrow_mut();
        r.doomed.extend(doomed.iter().copied());
        // Versions before the current one may still read these files.
        match seq.checked_sub(1) {
            Some(prev) => r.pending_files.entry(prev).or_default().extend(doomed),
            None => r.released_files.extend(doomed),
        }
        r.collect();
        Ok(())
    }

    /// Deletes the data files whose deletion no version waits for (in
    /// cloud mode their objects too), then syncs the directory. A file
    /// whose unlink fails stays known (and no longer scheduled), so a later
    /// file GC tries it again; the first error is returned after every
    /// other file was tried.
    pub async fn reap_files(&self, shard: &ShardCtx) -> Result<()> {
        let files = std::mem::take(&mut self.retirement.borrow_mut().released_files);
        if files.is_empty() {
            return Ok(());
        }
        let Some(dir) = self.dir().map(Path::to_path_buf) else {
            return Ok(());
        };
        let terms = match &*self.state.borrow() {
            PartState::Loaded(l) => l.mapper.terms().clone(),
            _ => return Ok(()),
        };
        let mut names = Vec::new();
        // A file id may come back under the same name later.
        self.recent_files.borrow_mut().clear();
        let mut first_err = None;
        let mut deleted = false;
        for f in files {
            let name = data_file_name(f, terms.get(&f).copied().unwrap_or(shard.term));
            let path = dir.join(&name);
            if let Some(c) = &shard.cloud {
                c.cache.forget(&path);
                names.push(name);
            }
            shard.fds.remove(&path);
            match shard.io.unlink(&path, FileKind::Data).await {
                Ok(()) => deleted = true,
                Err(e) if e.code() == KvError::NotFound => {}
                Err(e) => {
                    self.retirement.borrow_mut().doomed.remove(&f);
                    first_err.get_or_insert(e);
                    continue;
                }
            }
            if let PartState::Loaded(l) = &mut *self.state.borrow_mut() {
                l.files.remove(&f);
            }
            self.retirement.borrow_mut().doomed.remove(&f);
            crate::killpoint::hit("gc.deleted_file");
        }
        if deleted {
            shard.fds.sync_dir(&shard.io, &dir).await?;
        }
        if !names.is_empty()
            && let Err(e) = super::cloud::delete_objects(shard, &self.tbl, &names).await
        {
            first_err.get_or_insert(e);
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Whether compaction (or just file GC) has work: too much garbage in
    /// live files, or data files without live pages that GC could delete
    /// (in cloud mode the file being appended to as well).
    pub fn needs_compaction(&self, factor: u8, cloud: bool) -> bool {
        let st = self.state.borrow();
        let PartState::Loaded(l) = &*st else {
            return false;
        };
        if !l.mapper.is_append() || factor == 0 || l.files.is_empty() {
            return false;
        }
        if l.mapper.needs_compaction(factor) {
            return true;
        }
        let live = l.mapper.file_live();
        let current = l.mapper.current_file();
        let r = self.retirement.borrow();
        l.files.iter().any(|f| {
            (*f < current || (cloud && *f == current))
                && !live.contains_key(f)
                && !r.doomed.contains(f)
                && !l.archived_files.as_ref().is_some_and(|a| a.contains(f))
        })
    }

    /// Forgets the cached set of archived files (archives changed).
    pub fn archives_changed(&self) {
        if let PartState::Loaded(l) = &mut *self.state.borrow_mut() {
            l.archived_files = None;
        }
    }

    // ---- commit -------------------------------------------------------------

    /// Makes a write plan durable and visible: pages, their sync, then the
    /// manifest. On an error before the manifest write nothing changed; on
    /// a manifest error the partition is reloaded before its next use.
    pub async fn commit(
        &self,
        shard: &ShardCtx,
        mut plan: WritePlan,
        force_snapshot: bool,
    ) -> Result<()> {
        let early_files = self.early_files.take();
        let (dict_dirty, dict, manifest_size, mut files) = match &*self.state.borrow() {
            PartState::Loaded(l) => (
                l.dict_dirty,
                l.dict.clone(),
                l.manifest_size,
                l.files.clone(),
            ),
            _ => {
                return Err(Error::new(
                    KvError::IoFail,
                    "partition state lost during a write",
                ));
            }
        };
        files.extend(early_files);
        if plan.changes.is_empty() && !force_snapshot {
            return Ok(());
        }
        if shard.cloud.is_some() {
            // Nothing goes to the bucket once a newer term owns it.
            super::cloud::fence(shard, &self.tbl).await?;
        }
        // Index pages and leaves the batch wrote stay cached, as upstream's
        // buffer pool keeps the pages it writes (reads beside writes find
        // the leaves just written); every page buffer moves to the writes.
        let cached: Vec<(FilePageId, PageRef, bool)> = plan
            .writes
            .iter()
            .filter(|w| w.is_index || page_type(&w.page) == Some(PageType::Data))
            .map(|w| (w.fp, crate::tree::page_ref(&w.page), w.is_index))
            .collect();
        let writes: Vec<(FilePageId, AlignedBuf)> = std::mem::take(&mut plan.writes)
            .into_iter()
            .map(|w| (w.fp, w.page))
            .collect();
        // Cloud mode: the pins keep the written data files (and below, the
        // manifest) in the cache until they are uploaded.
        let (new_files, written, _data_pins) = self
            .write_pages(shard, writes, plan.mapper.terms(), &mut files)
            .await?;
        crate::killpoint::hit("commit.pages_synced");
        if shard.cloud.is_some() {
            super::cloud::upload_files(shard, &self.tbl, &written).await?;
            crate::killpoint::hit("commit.data_uploaded");
        }
        let terms = plan.mapper.terms_for_manifest();
        let log_len = manifest::padded_len(manifest::log_payload_len(&plan.changes, &terms));
        let use_log = !force_snapshot
            && !dict_dirty
            && manifest_size > 0
            && manifest_size + log_len <= shard.opts.manifest_limit as usize;
        let _manifest_pin = match (&shard.cloud, self.dir()) {
            (Some(_), Some(dir)) => {
                let path = dir.join(manifest_file_name(shard.term));
                Some(super::cloud::pin_manifest(shard, &self.tbl, &path, use_log).await?)
            }
            _ => None,
        };
        let res = if use_log {
            let rec = manifest::encode_record(
                plan.root,
                plan.ttl_root,
                &manifest::encode_log(&plan.changes, &terms),
            );
            self.append_manifest(shard, rec, manifest_size).await
        } else {
            let dict_bytes = dict
                .as_ref()
                .map(|d| d.bytes().to_vec())
                .unwrap_or_default();
            let payload = manifest::encode_snapshot(
                plan.mapper.max_fp_id(),
                &dict_bytes,
                plan.mapper.table().iter(),
                &terms,
            );
            let rec = manifest::encode_record(plan.root, plan.ttl_root, &payload);
            self.replace_manifest(shard, rec, new_files).await
        };
        let res = match res {
            Ok(size) if shard.cloud.is_some() => {
                self.cloud_publish_manifest(shard).await.map(|()| size)
            }
            r => r,
        };
        let new_size = match res {
            Ok(size) => size,
            Err(e) => {
                *self.state.borrow_mut() = PartState::Poisoned;
                shard.cache.remove_partition(self.key);
                return Err(e);
            }
        };
        let version = self.make_version(
            plan.root,
            plan.ttl_root,
            plan.mapper.table().clone(),
            Rc::new(plan.mapper.terms().clone()),
            dict,
        );
        for (fp, page, is_index) in cached {
            if is_index {
                shard.cache.insert(self.key, fp, page);
            } else {
                shard.cache.insert_data(self.key, fp, page);
            }
        }
        let old = {
            let mut st = self.state.borrow_mut();
            let PartState::Loaded(l) = &mut *st else {
                return Err(Error::new(
                    KvError::IoFail,
                    "partition state lost during a write",
                ));
            };
            l.mapper = plan.mapper;
            l.manifest_size = new_size;
            l.files = files;
            if !use_log {
                l.dict_dirty = false;
            }
            std::mem::replace(&mut l.version, version)
        };
        self.retirement
            .borrow_mut()
            .pending
            .entry(old.seq)
            .or_default()
            .extend(plan.released);
        drop(old);
        self.poke();
        Ok(())
    }

    /// Writes and syncs pages of the running write ahead of its commit (at
    /// file pages no committed version uses); files it creates are adopted
    /// by the commit.
    pub async fn write_early(
        &self,
        shard: &ShardCtx,
        pages: Vec<(FilePageId, AlignedBuf)>,
        terms: &TermMap,
    ) -> Result<()> {
        let mut files = match &*self.state.borrow() {
            PartState::Loaded(l) => l.files.clone(),
            _ => {
                return Err(Error::new(
                    KvError::IoFail,
                    "partition state lost during a write",
                ));
            }
        };
        files.extend(self.early_files.borrow().iter().copied());
        let known = files.len();
        log::debug!(
            "{}: {} pages written ahead of the commit",
            self.tbl,
            pages.len()
        );
        self.write_pages(shard, pages, terms, &mut files).await?;
        if files.len() > known {
            let loaded = match &*self.state.borrow() {
                PartState::Loaded(l) => l.files.clone(),
                _ => BTreeSet::new(),
            };
            self.early_files
                .borrow_mut()
                .extend(files.difference(&loaded).copied());
        }
        Ok(())
    }

    /// Forgets files a failed write created early (the next write reuses
    /// their ids and finds them on disk).
    pub fn forget_early_files(&self) {
        self.early_files.borrow_mut().clear();
    }

    /// Writes and syncs pages. Returns whether files were created, the
    /// data files written and, in cloud mode, pins keeping them cached.
    async fn write_pages<'s>(
        &self,
        shard: &'s ShardCtx,
        writes: Vec<(FilePageId, AlignedBuf)>,
        terms: &TermMap,
        files: &mut BTreeSet<FileId>,
    ) -> Result<(bool, Vec<PathBuf>, Vec<super::cloud::CachePin<'s>>)> {
        let (dir, root) = match &self.storage {
            Storage::Memory(m) => {
                m.borrow_mut().pages.extend(writes);
                return Ok((false, Vec::new(), Vec::new()));
            }
            Storage::Disk { dir, root } => (dir, root),
        };
        if writes.is_empty() {
            return Ok((false, Vec::new(), Vec::new()));
        }
        let opts = &shard.opts;
        let shift = opts.pages_per_file_shift;
        let page_size = opts.data_page_size as usize;
        let mut created_dir = false;
        if files.is_empty() && !shard.io.exists(dir, FileKind::Dir).await? {
            shard.io.create_dir_all(dir).await?;
            shard.fds.sync_dir(&shard.io, root).await?;
            created_dir = true;
        }
        // Runs of consecutive slots per file, at most max_write_batch_pages.
        let mut by_file: BTreeMap<FileId, Vec<(u64, AlignedBuf)>> = BTreeMap::new();
        for (fp, page) in writes {
            by_file
                .entry(fp >> shift)
                .or_default()
                .push((fp & ((1u64 << shift) - 1), page));
        }
        let mut created = false;
        let mut handles = Vec::new();
        let mut runs = Vec::new();
        let mut written = Vec::new();
        // Cloud mode: the files stay cached (never evicted) until uploaded.
        let mut pins = Vec::new();
        for (file_id, mut pages) in by_file {
            pages.sort_by_key(|p| p.0);
            let term = terms.get(&file_id).copied().unwrap_or(shard.term);
            let path = dir.join(data_file_name(file_id, term));
            let mut is_new = !files.contains(&file_id);
            if shard.cloud.is_some() {
                let (pin, fresh) =
                    super::cloud::prepare_data_file(shard, &self.tbl, &path, is_new).await?;
                pins.push(pin);
                is_new |= fresh;
            }
            written.push(path.clone());
            let file = shard
                .fds
                .get_or_open(
                    &shard.io,
                    &path,
                    FileKind::Data,
                    OpenOptions::read_write().direct(true).create(true),
                )
                .await?;
            if is_new {
                if opts.data_append_mode {
                    shard
                        .io
                        .allocate(&file, opts.data_file_size() as u64)
                        .await?;
                }
                files.insert(file_id);
                created = true;
            }
            handles.push(file.clone());
            let max_run = opts.max_write_batch_pages.max(1) as usize;
            let mut pages = pages.into_iter().peekable();
            while let Some((start, first)) = pages.next() {
                let mut bufs = vec![first];
                while bufs.len() < max_run
                    && pages
                        .peek()
                        .is_some_and(|p| p.0 == start + bufs.len() as u64)
                {
                    bufs.push(pages.next().expect("peeked").1);
                }
                runs.push((file.clone(), start * page_size as u64, bufs));
            }
        }
        // Writes go out concurrently, a bounded number at a time.
        let limit = opts.max_inflight_write.max(1) as usize;
        while !runs.is_empty() {
            let batch: Vec<_> = runs.drain(..runs.len().min(limit)).collect();
            let futs: Vec<_> = batch
                .into_iter()
                .map(|(f, off, bufs)| async move {
                    shard.io.write_all_at(&f, bufs, off).await.map(|_| ())
                })
                .collect();
            all_ok(join_all(futs).await)?;
        }
        // The data files and (for new files) their directory sync at once.
        let mut syncs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + '_>>> =
            handles
                .iter()
                .map(|f| Box::pin(shard.io.fdatasync(f)) as _)
                .collect();
        if created || created_dir {
            syncs.push(Box::pin(shard.fds.sync_dir(&shard.io, dir)));
        }
        all_ok(join_all(syncs).await)?;
        Ok((created || created_dir, written, pins))
    }

    /// Cloud mode: uploads the manifest just written, then checks the term
    /// again. A failed upload drops the local manifest (the bucket's is
    /// the truth; the caller poisons the partition so the next access
    /// reloads it); a newer term found afterwards is `ExpiredTerm`.
    async fn cloud_publish_manifest(&self, shard: &ShardCtx) -> Result<()> {
        let Some(dir) = self.dir() else {
            return Ok(());
        };
        let path = dir.join(manifest_file_name(shard.term));
        if let Err(e) = super::cloud::upload_file(shard, &self.tbl, &path).await {
            shard.fds.remove(&path);
            if let Err(rm) = shard.io.unlink(&path, FileKind::Manifest).await {
                log::warn!(
                    "{}: removing {} after a failed upload: {rm}",
                    self.tbl,
                    path.display()
                );
            }
            if let Some(c) = &shard.cloud {
                c.cache.forget(&path);
            }
            return Err(e);
        }
        crate::killpoint::hit("commit.manifest_uploaded");
        super::cloud::fence(shard, &self.tbl).await
    }

    /// Appends a log record at the manifest's logical end and syncs it.
    async fn append_manifest(&self, shard: &ShardCtx, rec: AlignedBuf, at: usize) -> Result<usize> {
        let len = rec.len();
        match &self.storage {
            Storage::Memory(m) => {
                let mut m = m.borrow_mut();
                m.manifest.truncate(at);
                m.manifest.extend_from_slice(&rec);
            }
            Storage::Disk { dir, .. } => {
                let path = dir.join(manifest_file_name(shard.term));
                let opts = OpenOptions::read_write().direct(true);
                let file = if shard.cloud.is_some() {
                    // Downloaded again if the cache evicted it.
                    super::cloud::open_file(shard, &self.tbl, &path, FileKind::Manifest, opts)
                        .await?
                } else {
                    shard
                        .fds
                        .get_or_open(&shard.io, &path, FileKind::Manifest, opts)
                        .await?
                };
                shard.io.write_all_at(&file, vec![rec], at as u64).await?;
                shard.io.fdatasync(&file).await?;
            }
        }
        Ok(at + len)
    }

    /// Writes a snapshot as the new manifest: temporary file, sync, rename,
    /// directory sync.
    async fn replace_manifest(
        &self,
        shard: &ShardCtx,
        rec: AlignedBuf,
        _new_files: bool,
    ) -> Result<usize> {
        let len = rec.len();
        match &self.storage {
            Storage::Memory(m) => {
                m.borrow_mut().manifest = rec.to_vec();
            }
            Storage::Disk { dir, root } => {
                if !shard.io.exists(dir, FileKind::Dir).await? {
                    shard.io.create_dir_all(dir).await?;
                    shard.fds.sync_dir(&shard.io, root).await?;
                }
                // (In cloud mode the commit holds the file in the cache.)
                let name = manifest_file_name(shard.term);
                write_file_atomically(shard, dir, &name, rec).await?;
            }
        }
        Ok(len)
    }

    /// Writes the committed state as an archive `manifest_<term>_<ts>`.
    pub async fn write_archive(&self, shard: &ShardCtx, ts: u64) -> Result<String> {
        let Storage::Disk { dir, .. } = &self.storage else {
            return Err(Error::invalid_args("archives need a store_path"));
        };
        let rec = {
            let st = self.state.borrow();
            let PartState::Loaded(l) = &*st else {
                return Err(Error::new(KvError::IoFail, "partition is not loaded"));
            };
            let dict = l
                .dict
                .as_ref()
                .map(|d| d.bytes().to_vec())
                .unwrap_or_default();
            let payload = manifest::encode_snapshot(
                l.mapper.max_fp_id(),
                &dict,
                l.mapper.table().iter(),
                &l.mapper.terms_for_manifest(),
            );
            manifest::encode_record(l.version.root, l.version.ttl_root, &payload)
        };
        let name = crate::format::names::archive_file_name(shard.term, ts);
        if shard.cloud.is_some() {
            super::cloud::fence(shard, &self.tbl).await?;
            let path = dir.join(&name);
            let _pin = super::cloud::create_local(shard, &path).await;
            write_file_atomically(shard, dir, &name, rec).await?;
            self.archives_changed();
            super::cloud::upload_file(shard, &self.tbl, &path).await?;
            return Ok(name);
        }
        write_file_atomically(shard, dir, &name, rec).await?;
        self.archives_changed();
        Ok(name)
    }
}

/// Writes `name` in `dir` as upstream does: a temporary file, synced, then
/// renamed over the name, then the directory synced.
async fn write_file_atomically(
    shard: &ShardCtx,
    dir: &Path,
    name: &str,
    rec: AlignedBuf,
) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}{}", crate::format::names::TMP_SUFFIX));
    shard.fds.remove(&tmp);
    // A leftover temporary file is truncated: the new one is written from
    // offset 0 and must not keep a longer old tail.
    let file = Rc::new(
        shard
            .io
            .open(
                &tmp,
                FileKind::Manifest,
                OpenOptions::read_write()
                    .direct(true)
                    .create(true)
                    .truncate(true),
            )
            .await?,
    );
    shard.io.write_all_at(&file, vec![rec], 0).await?;
    shard.io.fdatasync(&file).await?;
    drop(file);
    shard.fds.remove(&path);
    shard.io.rename(&tmp, &path, FileKind::Manifest).await?;
    shard.fds.sync_dir(&shard.io, dir).await
}

/// Cloud mode, after loading a manifest: the data files known to exist
/// (those with live pages and the one being appended to), and the
/// allocator moved to a fresh file when the manifest was written by
/// another term (upstream's rule: a term never appends into a file another
/// term wrote).
fn cloud_loaded_files(
    st: &manifest::ManifestState,
    mapper: &mut PageMapper,
    term: u64,
) -> BTreeSet<FileId> {
    let mut files: BTreeSet<FileId> = mapper.file_live().keys().copied().collect();
    let shift = mapper.shift();
    if mapper.max_fp_id() & ((1u64 << shift) - 1) != 0 {
        files.insert(mapper.current_file());
    }
    let manifest_term = st
        .term_map
        .get(&manifest::TERM_KEY_MANIFEST)
        .copied()
        .unwrap_or(0);
    if mapper.is_append() && manifest_term != term {
        mapper.start_next_file();
    }
    files
}

/// The names in a partition directory (none if it does not exist).
async fn list_dir(shard: &ShardCtx, dir: &Path) -> Result<Vec<String>> {
    match shard.io.read_dir(dir).await {
        Ok(names) => Ok(names
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .collect()),
        Err(e) if e.code() == KvError::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Byte length of every data file in a partition directory, by (file id,
/// term): listed, then stated all at once.
async fn data_file_sizes(
    shard: &ShardCtx,
    dir: &Path,
) -> Result<std::collections::BTreeMap<(FileId, u64), u64>> {
    let files: Vec<(FileId, u64, String)> = list_dir(shard, dir)
        .await?
        .into_iter()
        .filter_map(|n| match classify(&n) {
            Some(PartitionFile::Data { file_id, term }) => Some((file_id, term, n)),
            _ => None,
        })
        .collect();
    let paths: Vec<PathBuf> = files.iter().map(|(_, _, n)| dir.join(n)).collect();
    let stats = paths
        .iter()
        .map(|p| shard.io.stat(p, FileKind::Data))
        .collect();
    let sizes = all_ok(join_all(stats).await)?;
    Ok(files
        .into_iter()
        .zip(sizes)
        .map(|((f, t, _), st)| ((f, t), st.len))
        .collect())
}

/// Reads a partition's pages as one version describes them.
pub struct PageReader<'a> {
    pub shard: &'a ShardCtx,
    pub part: &'a Partition,
    pub terms: &'a TermMap,
    /// A batch write's reader: takes the writer's overflow pages early.
    pub early_writes: bool,
}

impl PageReader<'_> {
    async fn locate(&self, fp: FilePageId) -> Result<(Rc<IoFile>, u64)> {
        let Storage::Disk { dir, .. } = &self.part.storage else {
            unreachable!("memory partitions are read from memory")
        };
        let shift = self.shard.opts.pages_per_file_shift;
        let file_id = fp >> shift;
        let term = self.terms.get(&file_id).copied().ok_or_else(|| {
            Error::corrupted(format!(
                "data file {file_id} of {} is missing from the term map",
                self.part.tbl
            ))
        })?;
        let offset = (fp & ((1u64 << shift) - 1)) * self.shard.opts.data_page_size as u64;
        if let Some(file) = self.part.recent_file(file_id, term) {
            if let Some(c) = &self.shard.cloud {
                // Keep the cache's LRU order exact for reused handles.
                c.cache.mark_used(&dir.join(data_file_name(file_id, term)));
            }
            return Ok((file, offset));
        }
        let path = dir.join(data_file_name(file_id, term));
        let opts = OpenOptions::read_write().direct(true);
        let opened = if self.shard.cloud.is_some() {
            super::cloud::open_file(self.shard, &self.part.tbl, &path, FileKind::Data, opts).await
        } else {
            self.shard
                .fds
                .get_or_open(&self.shard.io, &path, FileKind::Data, opts)
                .await
        };
        let file = opened.map_err(|e| {
            if e.code() == KvError::NotFound {
                Error::corrupted(format!(
                    "{} is referenced by the manifest but missing",
                    path.display()
                ))
            } else {
                e
            }
        })?;
        self.part.remember_file(file_id, term, &file);
        Ok((file, offset))
    }

    fn memory_page(&self, fp: FilePageId) -> Option<Result<AlignedBuf>> {
        match &self.part.storage {
            Storage::Memory(m) => Some(m.borrow().pages.get(&fp).cloned().ok_or_else(|| {
                Error::corrupted(format!(
                    "file page {fp} of {} was never written",
                    self.part.tbl
                ))
            })),
            Storage::Disk { .. } => None,
        }
    }
}

impl PageSource for PageReader<'_> {
    async fn pause(&self) {
        self.shard.io.yield_now().await;
    }

    fn early_write_pages(&self) -> usize {
        // Cloud commits upload the files they wrote: every page goes with
        // the commit there.
        if self.early_writes && self.shard.cloud.is_none() {
            EARLY_WRITE_RUNS * self.shard.opts.max_write_batch_pages.max(1) as usize
        } else {
            0
        }
    }

    async fn write_early(&self, pages: Vec<(FilePageId, AlignedBuf)>) -> Result<()> {
        self.part.write_early(self.shard, pages, self.terms).await
    }

    async fn read_page(&self, fp: FilePageId) -> Result<AlignedBuf> {
        if let Some(r) = self.memory_page(fp) {
            return r;
        }
        let (file, off) = self.locate(fp).await?;
        let _slot = self.shard.read_slots.acquire(1).await;
        let buf = AlignedBuf::for_read(self.shard.opts.data_page_size as usize);
        self.shard
            .io
            .read_exact_at(&file, buf, off)
            .await
            .map_err(page_read_error)
    }

    async fn read_pages(&self, fps: &[FilePageId]) -> Result<Vec<AlignedBuf>> {
        if matches!(self.part.storage, Storage::Memory(_)) {
            return fps
                .iter()
                .map(|&fp| self.memory_page(fp).expect("memory"))
                .collect();
        }
        let mut reqs = Vec::with_capacity(fps.len());
        for &fp in fps {
            reqs.push(self.locate(fp).await?);
        }
        let res = self
            .shard
            .io
            .read_many(reqs, self.shard.opts.data_page_size as usize)
            .await;
        res.into_iter()
            .map(|r| r.map_err(page_read_error))
            .collect()
    }
}

/// A page cut short by the end of its file is damage, not an I/O failure.
fn page_read_error(e: Error) -> Error {
    if e.code() == KvError::EndOfFile {
        Error::corrupted(e.message())
    } else {
        e
    }
}

/// A read context over a version, with the shard's index cache.
pub fn read_ctx<'a>(
    shard: &'a ShardCtx,
    reader: &'a PageReader<'a>,
    v: &'a Version,
) -> ReadCtx<'a, PageReader<'a>> {
    let mut ctx = ReadCtx::new(reader, &v.mapping, &*shard.opts.comparator);
    ctx.skip_checksum = shard.opts.skip_verify_checksum;
    ctx.cache = Some((&shard.cache, reader.part.key));
    ctx
}

/// Data file ids the archives in a partition directory reference.
async fn archived_file_ids(shard: &ShardCtx, dir: &Path) -> Result<BTreeSet<FileId>> {
    let shift = shard.opts.pages_per_file_shift;
    let mut out = BTreeSet::new();
    for name in list_dir(shard, dir).await? {
        let Some(PartitionFile::Archive { .. }) = classify(&name) else {
            continue;
        };
        let path = dir.join(&name);
        let bytes = shard.io.read_file(&path, FileKind::Manifest).await?;
        // An archive that cannot be read protects nothing but is kept.
        match manifest::replay(&bytes) {
            Ok(st) => out.extend(
                st.mapping
                    .iter()
                    .filter_map(|&v| crate::format::manifest::mapping_value::as_file_page(v))
                    .map(|fp| fp >> shift),
            ),
            Err(e) => log::warn!("archive {} is unreadable: {e}", path.display()),
        }
    }
    Ok(out)
}

/// Archive files of a partition directory, oldest first: (timestamp, name).
pub async fn list_archives(shard: &ShardCtx, dir: &Path) -> Result<Vec<(u64, String)>> {
    let mut out: Vec<(u64, String)> = list_dir(shard, dir)
        .await?
        .into_iter()
        .filter_map(|n| match classify(&n) {
            Some(PartitionFile::Archive { timestamp, .. }) => Some((timestamp, n)),
            _ => None,
        })
        .collect();
    out.sort();
    Ok(out)
}
