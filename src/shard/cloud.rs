//! The cloud tier on a shard: the bucket is the durable copy of every
//! partition file, the store paths a bounded cache of it.
//!
//! * [`LocalCache`]: which files are local, upstream's accounting (every
//!   data file counts `DataFileSize()`, every manifest or archive
//!   `manifest_limit`) against the shard's share of `local_space_limit`, an
//!   LRU of files no operation uses, and eviction down to `limit -
//!   limit / reserve_space_ratio` when a new file needs room. A file being
//!   downloaded, written, uploaded or read (its descriptor held) is never
//!   evicted; an opener arriving while a file is being evicted waits and
//!   downloads it again.
//! * Downloads on open ([`open_file`]), whole-file uploads
//!   ([`upload_files`]), `CURRENT_TERM` compare-and-set and the manifest
//!   load rules of upstream ([`load_manifest`]), write fencing
//!   ([`fence`]), and the bucket side of file GC ([`delete_objects`],
//!   [`sweep`]).
//!
//! Every network request runs on the store's cloud threads; shard tasks
//! await them (see `io::cloud`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;

use super::ShardCtx;
use super::partition::{PartState, Partition};
use crate::error::{Error, KvError, Result};
use crate::format::manifest;
use crate::format::names::{
    CURRENT_TERM_FILE_NAME, FILE_NAME_MANIFEST, PartitionFile, TMP_SUFFIX, classify,
    manifest_file_name,
};
use crate::format::page::{AlignedBuf, FileId, MAX_PAGE_ID};
use crate::io::cloud::{CloudHandle, CloudService, CondPut, PART_SIZE, SINGLE_PUT_MAX};
use crate::io::file::{FileKind, IoFile, OpenOptions};
use crate::io::runtime::Notify;
use crate::options::KvOptions;
use crate::options::cloud::check_key_segment;
use crate::types::TableIdent;

/// Suffix of a file being downloaded (a `.tmp` file, which a reused cache
/// must not hold, as upstream's rule for every temporary file).
pub const DOWNLOAD_SUFFIX: &str = ".download.tmp";

/// A shard's cloud state.
pub struct CloudShard {
    pub handle: CloudHandle,
    pub cache: LocalCache,
}

impl CloudShard {
    pub fn new(svc: Arc<CloudService>, opts: &KvOptions) -> CloudShard {
        let shards = opts.num_threads.max(1) as u64;
        CloudShard {
            handle: CloudHandle::new(svc),
            cache: LocalCache::new(
                opts.local_space_limit as u64 / shards,
                opts.reserve_space_ratio,
            ),
        }
    }
}

/// The object-key directory of a partition, `<table>.<partition>`: table
/// names must be UTF-8 text usable in an object key (`InvalidArgs`).
pub fn key_dir(tbl: &TableIdent) -> Result<String> {
    let name = std::str::from_utf8(&tbl.tbl_name).map_err(|_| {
        Error::invalid_args(format!(
            "table name {:?} is not UTF-8, which a cloud object key needs",
            tbl.name_lossy()
        ))
    })?;
    let dir = format!("{name}.{}", tbl.partition_id);
    check_key_segment(&dir).map_err(|why| {
        Error::invalid_args(format!(
            "table name {name:?} cannot be part of a cloud object key: {dir:?} {why}"
        ))
    })?;
    Ok(dir)
}

/// The object key (relative to the store's prefix) of a partition file.
pub fn object_key(tbl: &TableIdent, name: &str) -> Result<String> {
    Ok(format!("{}/{name}", key_dir(tbl)?))
}

// ---------------------------------------------------------------------------
// The local cache.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileState {
    /// Being downloaded (or created): not readable yet.
    Loading,
    Present,
    /// Being unlinked: openers wait, then download it again.
    Evicting,
}

struct Entry {
    size: u64,
    state: FileState,
    /// Operations that need the file to stay (downloading, writing,
    /// uploading, opening it); an open descriptor held by a reader
    /// protects it too (see `FdCache::remove_if_unused`).
    pins: usize,
    /// Position in the LRU (last use).
    tick: u64,
}

/// The files of a shard's share of the local cache.
pub struct LocalCache {
    limit: u64,
    /// Eviction stops at this much use.
    low_mark: u64,
    used: Cell<u64>,
    files: RefCell<HashMap<PathBuf, Entry>>,
    lru: RefCell<BTreeMap<u64, PathBuf>>,
    tick: Cell<u64>,
    /// Something changed: a download ended, an eviction finished.
    changed: Notify,
    evicting: Cell<bool>,
}

impl LocalCache {
    pub fn new(limit: u64, reserve_space_ratio: u16) -> LocalCache {
        let reserve = if reserve_space_ratio == 0 {
            0
        } else {
            limit / reserve_space_ratio as u64
        };
        LocalCache {
            limit,
            low_mark: limit - reserve,
            used: Cell::new(0),
            files: RefCell::default(),
            lru: RefCell::default(),
            tick: Cell::new(0),
            changed: Notify::new(),
            evicting: Cell::new(false),
        }
    }

    /// The shard's budget, in estimated bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Estimated bytes of the files the cache holds or is fetching.
    pub fn used(&self) -> u64 {
        self.used.get()
    }

    /// Whether the file is local (present, not being evicted).
    #[cfg(any(test, feature = "internals"))]
    pub fn contains(&self, path: &Path) -> bool {
        self.files
            .borrow()
            .get(path)
            .is_some_and(|e| e.state == FileState::Present)
    }

    /// How many files the cache holds.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.files.borrow().len()
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn next_tick(&self) -> u64 {
        let t = self.tick.get() + 1;
        self.tick.set(t);
        t
    }

    /// Moves an entry to the most recently used end.
    fn touch(&self, path: &Path, e: &mut Entry) {
        let mut lru = self.lru.borrow_mut();
        lru.remove(&e.tick);
        e.tick = self.next_tick();
        lru.insert(e.tick, path.to_path_buf());
    }

    /// Marks a present file as just used (a read that reuses an open
    /// handle of it without going through `ensure_local`).
    pub fn mark_used(&self, path: &Path) {
        if let Some(e) = self.files.borrow_mut().get_mut(path)
            && e.state == FileState::Present
        {
            self.touch(path, e);
        }
    }

    /// Adds a file found in the store path at start (reused cache).
    pub fn adopt(&self, path: PathBuf, size: u64) {
        let tick = self.next_tick();
        self.lru.borrow_mut().insert(tick, path.clone());
        let old = self.files.borrow_mut().insert(
            path,
            Entry {
                size,
                state: FileState::Present,
                pins: 0,
                tick,
            },
        );
        if let Some(o) = old {
            self.lru.borrow_mut().remove(&o.tick);
            self.used.set(self.used.get() - o.size);
        }
        self.used.set(self.used.get() + size);
    }

    /// The least recently used files while over `limit`, for trimming an
    /// adopted cache at start (their entries are dropped).
    pub fn trim_list(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        while self.used.get() > self.limit {
            let Some((_, p)) = self.lru.borrow_mut().pop_first() else {
                break;
            };
            if let Some(e) = self.files.borrow_mut().remove(&p) {
                self.used.set(self.used.get() - e.size);
            }
            out.push(p);
        }
        out
    }

    /// Forgets a file that was deleted locally.
    pub fn forget(&self, path: &Path) {
        if let Some(e) = self.files.borrow_mut().remove(path) {
            self.lru.borrow_mut().remove(&e.tick);
            self.used.set(self.used.get() - e.size);
            self.changed.notify_all();
        }
    }

    /// Pins a present file so it cannot be evicted.
    fn pin_present<'a>(&'a self, path: &Path) -> Option<CachePin<'a>> {
        let mut files = self.files.borrow_mut();
        let e = files.get_mut(path)?;
        if e.state != FileState::Present {
            return None;
        }
        e.pins += 1;
        self.touch(path, e);
        Some(CachePin {
            cache: self,
            path: path.to_path_buf(),
        })
    }

    /// Waits until the file is present (returns it pinned) or absent (and
    /// then claims it for loading: the caller must call `loaded` or
    /// `load_failed`).
    async fn acquire<'a>(&'a self, path: &Path, size: u64) -> Acquired<'a> {
        loop {
            let state = self.files.borrow().get(path).map(|e| e.state);
            match state {
                Some(FileState::Present) => {
                    return Acquired::Present(self.pin_present(path).expect("present"));
                }
                Some(FileState::Loading) | Some(FileState::Evicting) => {
                    self.changed.notified().await;
                }
                None => {
                    self.files.borrow_mut().insert(
                        path.to_path_buf(),
                        Entry {
                            size,
                            state: FileState::Loading,
                            pins: 1,
                            tick: 0,
                        },
                    );
                    self.used.set(self.used.get() + size);
                    return Acquired::Claimed(CachePin {
                        cache: self,
                        path: path.to_path_buf(),
                    });
                }
            }
        }
    }

    /// A claimed file is now on disk.
    fn loaded(&self, path: &Path) {
        let mut files = self.files.borrow_mut();
        if let Some(e) = files.get_mut(path) {
            e.state = FileState::Present;
            self.touch(path, e);
        }
        drop(files);
        self.changed.notify_all();
    }

    /// A claimed file could not be loaded: forget it (the claim's pin is
    /// then released by the caller's guard, which finds nothing).
    fn load_failed(&self, path: &Path) {
        self.forget(path);
    }

    /// Makes room after a reservation pushed use over the limit: evicts
    /// the least recently used files no operation uses, down to the low
    /// mark. Files in use are skipped, so use may stay above the limit
    /// until they are released (a request never fails for lack of cache
    /// space). One eviction pass runs at a time.
    async fn make_room(&self, shard: &ShardCtx) {
        if self.used.get() <= self.limit || self.evicting.get() {
            return;
        }
        self.evicting.set(true);
        let mut skipped = Vec::new();
        while self.used.get() > self.low_mark {
            let victim = self.lru.borrow_mut().pop_first();
            let Some((tick, path)) = victim else { break };
            let ok = {
                let mut files = self.files.borrow_mut();
                match files.get_mut(&path) {
                    Some(e)
                        if e.state == FileState::Present
                            && e.pins == 0
                            && shard.fds.remove_if_unused(&path) =>
                    {
                        e.state = FileState::Evicting;
                        true
                    }
                    _ => false,
                }
            };
            if !ok {
                skipped.push((tick, path));
                continue;
            }
            let res = fs_remove(shard, &path).await;
            match res {
                Ok(()) => {
                    log::debug!("cache: evicted {}", path.display());
                    self.forget(&path);
                }
                Err(e) => {
                    // It stays cached.
                    log::warn!("cache: cannot evict {}: {e}", path.display());
                    if let Some(en) = self.files.borrow_mut().get_mut(&path) {
                        en.state = FileState::Present;
                    }
                    skipped.push((tick, path));
                    self.changed.notify_all();
                }
            }
        }
        let mut lru = self.lru.borrow_mut();
        for (tick, path) in skipped {
            if self.files.borrow().contains_key(&path) {
                lru.insert(tick, path);
            }
        }
        drop(lru);
        self.evicting.set(false);
    }
}

enum Acquired<'a> {
    Present(CachePin<'a>),
    Claimed(CachePin<'a>),
}

/// Keeps a cached file from eviction while held.
pub struct CachePin<'a> {
    cache: &'a LocalCache,
    path: PathBuf,
}

impl Drop for CachePin<'_> {
    fn drop(&mut self) {
        if let Some(e) = self.cache.files.borrow_mut().get_mut(&self.path) {
            e.pins = e.pins.saturating_sub(1);
        }
    }
}

// ---------------------------------------------------------------------------
// File-system helpers (through the shard's I/O runtime).

async fn fs_remove(shard: &ShardCtx, path: &Path) -> Result<()> {
    match shard.io.unlink(path, FileKind::Other).await {
        Ok(()) => Ok(()),
        Err(e) if e.code() == KvError::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

async fn fs_rename(shard: &ShardCtx, from: &Path, to: &Path) -> Result<()> {
    shard.io.rename(from, to, FileKind::Other).await
}

async fn fs_create_dir_all(shard: &ShardCtx, dir: &Path) -> Result<()> {
    shard.io.create_dir_all(dir).await
}

async fn fs_open(
    shard: &ShardCtx,
    path: &Path,
    kind: FileKind,
    opts: OpenOptions,
) -> Result<IoFile> {
    shard.io.open(path, kind, opts).await
}

// ---------------------------------------------------------------------------
// Downloads and opens.

fn cloud_of(shard: &ShardCtx) -> &CloudShard {
    shard.cloud.as_ref().expect("cloud mode")
}

/// The estimated cache size of a file (upstream's `EstimateFileSize`).
pub fn estimated_size(opts: &KvOptions, name: &str) -> u64 {
    match classify(name) {
        Some(PartitionFile::Data { .. }) => opts.data_file_size() as u64,
        _ => opts.manifest_limit as u64,
    }
}

/// Makes `dir/name` local (downloading `key` if it is not), pinned.
/// `NotFound` when the object does not exist.
pub async fn ensure_local<'a>(shard: &'a ShardCtx, path: &Path, key: &str) -> Result<CachePin<'a>> {
    let cs = cloud_of(shard);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let size = estimated_size(&shard.opts, name);
    match cs.cache.acquire(path, size).await {
        Acquired::Present(pin) => Ok(pin),
        Acquired::Claimed(pin) => {
            cs.cache.make_room(shard).await;
            match download_to(shard, key, path).await {
                Ok(_) => {
                    cs.cache.loaded(path);
                    Ok(pin)
                }
                Err(e) => {
                    cs.cache.load_failed(path);
                    Err(e)
                }
            }
        }
    }
}

/// Registers a file this shard is about to create locally (a new data
/// file, a snapshot manifest, an archive), pinned; reserves its size
/// unless it is already cached.
pub async fn create_local<'a>(shard: &'a ShardCtx, path: &Path) -> CachePin<'a> {
    let cs = cloud_of(shard);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let size = estimated_size(&shard.opts, name);
    match cs.cache.acquire(path, size).await {
        Acquired::Present(pin) => pin,
        Acquired::Claimed(pin) => {
            cs.cache.make_room(shard).await;
            cs.cache.loaded(path);
            pin
        }
    }
}

/// Cloud mode, a data file a commit writes into: made local (downloaded
/// when it exists only in the bucket) and pinned until the commit uploaded
/// it. Returns whether the file is new (to be created and allocated): so
/// it is when the commit allocates it, or when neither the cache nor the
/// bucket has it (a file GC deleted because nothing lived in it).
pub async fn prepare_data_file<'a>(
    shard: &'a ShardCtx,
    tbl: &TableIdent,
    path: &Path,
    is_new: bool,
) -> Result<(CachePin<'a>, bool)> {
    if !is_new {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        match ensure_local(shard, path, &object_key(tbl, name)?).await {
            Ok(pin) => return Ok((pin, false)),
            Err(e) if e.code() == KvError::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok((create_local(shard, path).await, true))
}

/// Cloud mode, the manifest a commit writes: pinned in the cache until it
/// is uploaded. A log record goes into the existing manifest (downloaded
/// again if the cache evicted it); a snapshot replaces it.
pub async fn pin_manifest<'a>(
    shard: &'a ShardCtx,
    tbl: &TableIdent,
    path: &Path,
    append: bool,
) -> Result<CachePin<'a>> {
    if append {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        ensure_local(shard, path, &object_key(tbl, name)?).await
    } else {
        Ok(create_local(shard, path).await)
    }
}

/// Streams object `key` into `path` (through a temporary file renamed
/// into place). Returns the bytes written.
async fn download_to(shard: &ShardCtx, key: &str, path: &Path) -> Result<u64> {
    let cs = cloud_of(shard);
    let mut d = cs.handle.download(key).await.map_err(Error::from)?;
    if let Some(dir) = path.parent() {
        fs_create_dir_all(shard, dir).await?;
    }
    let tmp = PathBuf::from(format!("{}{DOWNLOAD_SUFFIX}", path.display()));
    fs_remove(shard, &tmp).await?;
    let file = Rc::new(
        fs_open(
            shard,
            &tmp,
            FileKind::Other,
            OpenOptions::read_write().create(true),
        )
        .await?,
    );
    let mut off = 0u64;
    let res: Result<()> = async {
        while let Some(chunk) = d.next_chunk().await {
            let chunk = chunk.map_err(Error::from)?;
            let buf = AlignedBuf::from_slice(&chunk);
            shard.io.write_all_at(&file, vec![buf], off).await?;
            off += chunk.len() as u64;
        }
        if off != d.size {
            return Err(Error::new(
                KvError::CloudErr,
                format!("download of {key} ended after {off} of {} bytes", d.size),
            ));
        }
        Ok(())
    }
    .await;
    drop(file);
    if let Err(e) = res {
        let _ = fs_remove(shard, &tmp).await;
        return Err(e);
    }
    fs_rename(shard, &tmp, path).await?;
    log::debug!("cloud: downloaded {key} ({off} bytes)");
    Ok(off)
}

/// Opens a partition file through the cache: downloaded first when it is
/// not local. `NotFound` when the bucket does not have it either.
pub async fn open_file(
    shard: &ShardCtx,
    tbl: &TableIdent,
    path: &Path,
    kind: FileKind,
    opts: OpenOptions,
) -> Result<Rc<IoFile>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let key = object_key(tbl, name)?;
    loop {
        let pin = ensure_local(shard, path, &key).await?;
        match shard.fds.get_or_open(&shard.io, path, kind, opts).await {
            Ok(f) => {
                drop(pin);
                return Ok(f);
            }
            // Removed behind the cache's back (it should not be): fetch
            // it again.
            Err(e) if e.code() == KvError::NotFound => {
                drop(pin);
                cloud_of(shard).cache.forget(path);
                log::warn!("cache: {} vanished, downloading it again", path.display());
            }
            Err(e) => return Err(e),
        }
    }
}

/// The bytes of a (small) partition file, through the cache.
pub async fn read_cached(shard: &ShardCtx, tbl: &TableIdent, path: &Path) -> Result<Vec<u8>> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let key = object_key(tbl, name)?;
    let _pin = ensure_local(shard, path, &key).await?;
    let file = Rc::new(
        fs_open(
            shard,
            path,
            FileKind::Manifest,
            OpenOptions::read_only().direct(false),
        )
        .await?,
    );
    let len = shard.io.file_len(&file).await? as usize;
    shard.io.read_vec_at(&file, len, 0).await
}

// ---------------------------------------------------------------------------
// Uploads.

/// Uploads local files of a partition whole, at most `max_upload_batch` of
/// the shard's files at once (each file's bytes are in memory only while
/// it uploads; files over `SINGLE_PUT_MAX` go in parts). The first error
/// is returned after every upload ended.
pub async fn upload_files(shard: &ShardCtx, tbl: &TableIdent, paths: &[PathBuf]) -> Result<()> {
    let futs: Vec<_> = paths.iter().map(|p| upload_file(shard, tbl, p)).collect();
    super::util::all_ok(super::util::join_all(futs).await).map(|_| ())
}

/// Uploads one local file under its own name.
pub async fn upload_file(shard: &ShardCtx, tbl: &TableIdent, path: &Path) -> Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let key = object_key(tbl, name)?;
    upload_as(shard, path, &key).await
}

/// Uploads the local file `path` as object `key`.
pub async fn upload_as(shard: &ShardCtx, path: &Path, key: &str) -> Result<()> {
    let cs = cloud_of(shard);
    let _upload = cs.handle.upload_slot().await;
    let _pin = cs.cache.pin_present(path);
    let file = Rc::new(
        fs_open(
            shard,
            path,
            FileKind::Other,
            OpenOptions::read_only().direct(false),
        )
        .await?,
    );
    let len = shard.io.file_len(&file).await?;
    if len <= SINGLE_PUT_MAX {
        let bytes = shard.io.read_vec_at(&file, len as usize, 0).await?;
        if bytes.len() as u64 != len {
            return Err(Error::new(
                KvError::IoFail,
                format!("{} shrank while being uploaded", path.display()),
            ));
        }
        cs.handle
            .put(key, Bytes::from(bytes).into())
            .await
            .map_err(Error::from)?;
    } else {
        let mut w = cs.handle.multipart(key).await.map_err(Error::from)?;
        let mut off = 0u64;
        while off < len {
            let n = (len - off).min(PART_SIZE as u64) as usize;
            let bytes = shard.io.read_vec_at(&file, n, off).await?;
            if bytes.len() != n {
                w.abort().await;
                return Err(Error::new(
                    KvError::IoFail,
                    format!("{} shrank while being uploaded", path.display()),
                ));
            }
            if let Err(e) = w.put_part(Bytes::from(bytes)).await {
                w.abort().await;
                return Err(e);
            }
            off += n as u64;
        }
        w.finish().await?;
    }
    log::debug!("cloud: uploaded {key} ({len} bytes)");
    Ok(())
}

// ---------------------------------------------------------------------------
// Terms.

/// `CURRENT_TERM` of a partition: its value and ETag, `None` when absent.
pub async fn read_term(
    shard: &ShardCtx,
    tbl: &TableIdent,
) -> Result<Option<(u64, Option<String>)>> {
    let key = object_key(tbl, CURRENT_TERM_FILE_NAME)?;
    match cloud_of(shard).handle.get(&key).await {
        Ok(f) => Ok(Some((parse_term(&key, &f.bytes)?, f.e_tag))),
        Err(e) if e.error.code() == KvError::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn parse_term(key: &str, bytes: &[u8]) -> Result<u64> {
    std::str::from_utf8(bytes)
        .ok()
        .map(str::trim)
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            Error::corrupted(format!(
                "{key} holds {:?}, not a term",
                String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
            ))
        })
}

fn expired(tbl: &TableIdent, stored: u64, term: u64) -> Error {
    Error::new(
        KvError::ExpiredTerm,
        format!("{tbl}: CURRENT_TERM is {stored}, newer than this process's term {term}"),
    )
}

/// Upstream's `UpsertTermFile`: makes `CURRENT_TERM` at least the process
/// term by compare-and-set (create-only when absent, If-Match otherwise),
/// up to 10 attempts; a newer stored term is `ExpiredTerm`.
pub async fn upsert_term(shard: &ShardCtx, tbl: &TableIdent) -> Result<()> {
    let h = &cloud_of(shard).handle;
    let term = shard.term;
    let key = object_key(tbl, CURRENT_TERM_FILE_NAME)?;
    let body = || Bytes::from(term.to_string());
    for _ in 0..10 {
        let mut current = read_term(shard, tbl).await?;
        if current.is_none() {
            match h.put_if_absent(&key, body()).await {
                Ok(CondPut::Done(_)) => return Ok(()),
                Ok(CondPut::Conflict) => continue,
                Err(e) => match read_term(shard, tbl).await {
                    Ok(Some(c)) => current = Some(c),
                    _ => return Err(e.into()),
                },
            }
        }
        let Some((stored, e_tag)) = current else {
            continue;
        };
        if stored > term {
            return Err(expired(tbl, stored, term));
        }
        if stored == term {
            return Ok(());
        }
        let Some(e_tag) = e_tag else {
            return Err(Error::new(
                KvError::CloudErr,
                format!("{key}: the server sent no ETag, so the term cannot be compared and set"),
            ));
        };
        match h.put_if_match(&key, body(), &e_tag).await {
            Ok(CondPut::Done(_)) => return Ok(()),
            Ok(CondPut::Conflict) => continue,
            Err(e) if e.error.code() == KvError::NotFound => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::new(
        KvError::CloudErr,
        format!("{key}: 10 compare-and-set attempts lost to concurrent updates"),
    ))
}

/// Write fencing (not in upstream): fails with `ExpiredTerm` when
/// `CURRENT_TERM` has moved past the process term, so a stale owner's
/// commits fail instead of being acknowledged unseen.
pub async fn fence(shard: &ShardCtx, tbl: &TableIdent) -> Result<()> {
    match read_term(shard, tbl).await? {
        Some((stored, _)) if stored > shard.term => Err(expired(tbl, stored, shard.term)),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------
// Loading a manifest.

/// What a partition's prefix holds, from a listing.
#[derive(Default, Debug)]
pub struct PrefixContent {
    /// Plain manifests: term.
    pub manifests: BTreeSet<u64>,
    /// Archives: (term, timestamp, name).
    pub archives: Vec<(u64, u64, String)>,
    /// Data files: (file id, term, name).
    pub data: Vec<(FileId, u64, String)>,
    pub has_term_file: bool,
}

/// Lists a partition's objects (every page). An object named `manifest_*`
/// that does not parse is `Corrupted` (upstream aborts).
pub async fn list_partition(shard: &ShardCtx, tbl: &TableIdent) -> Result<PrefixContent> {
    let dir = key_dir(tbl)?;
    let page = cloud_of(shard)
        .handle
        .list_all(&format!("{dir}/"), false)
        .await
        .map_err(Error::from)?;
    let mut out = PrefixContent::default();
    for o in page.objects {
        let Some(name) = o.key.strip_prefix(&format!("{dir}/")).map(str::to_owned) else {
            continue;
        };
        if name == CURRENT_TERM_FILE_NAME {
            out.has_term_file = true;
            continue;
        }
        match classify(&name) {
            Some(PartitionFile::Manifest { term }) => {
                out.manifests.insert(term);
            }
            Some(PartitionFile::Archive { term, timestamp }) => {
                out.archives.push((term, timestamp, name))
            }
            Some(PartitionFile::Data { file_id, term }) => out.data.push((file_id, term, name)),
            None if name.starts_with(&format!("{FILE_NAME_MANIFEST}_"))
                && !name.ends_with(TMP_SUFFIX) =>
            {
                return Err(Error::corrupted(format!(
                    "{tbl}: object {name:?} in the bucket is not a manifest name"
                )));
            }
            None => {}
        }
    }
    out.archives.sort();
    Ok(out)
}

/// The manifest bytes of a partition in cloud mode, or `None` for a
/// partition that does not exist. Upstream's rules (`GetManifest`):
/// 1. `manifest_<term>`, from the cache or the bucket, without any term
///    check;
/// 2. else `CURRENT_TERM` is compare-and-set to the process term
///    (`ExpiredTerm` when it is newer), and `manifest_<term>` tried again;
/// 3. else the newest plain manifest of an older term is promoted: copied
///    to `manifest_<term>` (upload failures only logged); a newer one is
///    `ExpiredTerm`. A prefix with data files or archives but no plain
///    manifest is `CloudNoManifest` (upstream: only for archives); an
///    empty one (or only `CURRENT_TERM`) is a new partition.
pub async fn load_manifest(shard: &ShardCtx, part: &Partition) -> Result<Option<Vec<u8>>> {
    let tbl = &part.tbl;
    let dir = part.dir().expect("cloud partitions live in a store path");
    let term = shard.term;
    let path = dir.join(manifest_file_name(term));
    match read_cached(shard, tbl, &path).await {
        Ok(b) => return Ok(Some(b)),
        Err(e) if e.code() == KvError::NotFound => {}
        Err(e) => log::warn!("{tbl}: reading manifest_{term}: {e}; checking the term"),
    }
    upsert_term(shard, tbl).await?;
    match read_cached(shard, tbl, &path).await {
        Ok(b) => return Ok(Some(b)),
        Err(e) if e.code() == KvError::NotFound => {}
        Err(e) => return Err(e),
    }
    let content = list_partition(shard, tbl).await?;
    let Some(&newest) = content.manifests.last() else {
        if !content.data.is_empty() || !content.archives.is_empty() {
            return Err(Error::new(
                KvError::CloudNoManifest,
                format!(
                    "{tbl}: the bucket holds {} data files and {} archives of this partition but no manifest",
                    content.data.len(),
                    content.archives.len()
                ),
            ));
        }
        return Ok(None);
    };
    if newest > term {
        return Err(Error::new(
            KvError::ExpiredTerm,
            format!(
                "{tbl}: the bucket holds manifest_{newest}, newer than this process's term {term}"
            ),
        ));
    }
    // Promote: the older term's manifest becomes ours, unchanged.
    let old_key = object_key(tbl, &manifest_file_name(newest))?;
    {
        let pin = create_local(shard, &path).await;
        if let Err(e) = download_to(shard, &old_key, &path).await {
            drop(pin);
            cloud_of(shard).cache.forget(&path);
            return Err(e);
        }
    }
    let key = object_key(tbl, &manifest_file_name(term))?;
    if let Err(e) = upload_as(shard, &path, &key).await {
        log::warn!("{tbl}: promoting manifest_{newest} to manifest_{term}: upload failed: {e}");
    } else {
        log::info!("{tbl}: promoted manifest_{newest} to manifest_{term}");
    }
    read_cached(shard, tbl, &path).await.map(Some)
}

// ---------------------------------------------------------------------------
// Archives and GC.

/// Data file ids the partition's archives in the bucket reference.
pub async fn archived_file_ids(shard: &ShardCtx, tbl: &TableIdent) -> Result<BTreeSet<FileId>> {
    let content = list_partition(shard, tbl).await?;
    let shift = shard.opts.pages_per_file_shift;
    let mut out = BTreeSet::new();
    for (_, _, name) in &content.archives {
        let key = object_key(tbl, name)?;
        let bytes = match cloud_of(shard).handle.get(&key).await {
            Ok(f) => f.bytes,
            Err(e) if e.error.code() == KvError::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        match manifest::replay(&bytes) {
            Ok(st) => out.extend(
                st.mapping
                    .iter()
                    .filter_map(|&v| manifest::mapping_value::as_file_page(v))
                    .map(|fp| fp >> shift),
            ),
            Err(e) => log::warn!("{tbl}: archive {name} is unreadable: {e}"),
        }
    }
    Ok(out)
}

/// Archives of a partition in the bucket, oldest first: (timestamp, name).
pub async fn list_archives(shard: &ShardCtx, tbl: &TableIdent) -> Result<Vec<(u64, String)>> {
    let mut v: Vec<(u64, String)> = list_partition(shard, tbl)
        .await?
        .archives
        .into_iter()
        .map(|(_, ts, name)| (ts, name))
        .collect();
    v.sort();
    Ok(v)
}

/// Deletes archive objects beyond `num_retained_archives` (fenced: only
/// while this process owns the partition's term).
pub async fn delete_archives(shard: &ShardCtx, tbl: &TableIdent, names: &[String]) -> Result<()> {
    fence(shard, tbl).await?;
    delete_names(shard, tbl, names).await
}

/// Deletes the partition's objects `names`, all at once; the first error
/// is returned after every delete ended.
async fn delete_names(shard: &ShardCtx, tbl: &TableIdent, names: &[String]) -> Result<()> {
    let h = &cloud_of(shard).handle;
    let futs: Vec<_> = names
        .iter()
        .map(|n| async move {
            let key = object_key(tbl, n)?;
            h.delete(&key).await.map_err(Error::from)
        })
        .collect();
    super::util::all_ok(super::util::join_all(futs).await).map(|_| ())
}

/// Whether GC may delete objects of this partition: `CURRENT_TERM` equals
/// the process term (upstream: absent means a legacy partition whose
/// objects are never deleted; another term means GC is skipped).
async fn gc_allowed(shard: &ShardCtx, tbl: &TableIdent) -> Result<bool> {
    match read_term(shard, tbl).await? {
        Some((t, _)) if t == shard.term => Ok(true),
        Some((t, _)) => {
            log::info!(
                "{tbl}: cloud GC skipped: CURRENT_TERM {t} is not this process's term {}",
                shard.term
            );
            Ok(false)
        }
        None => Ok(false),
    }
}

/// Deletes objects of a partition (GC of files no version needs), when
/// the term allows it.
pub async fn delete_objects(shard: &ShardCtx, tbl: &TableIdent, names: &[String]) -> Result<()> {
    if names.is_empty() || !gc_allowed(shard, tbl).await? {
        return Ok(());
    }
    delete_names(shard, tbl, names).await
}

/// The bucket side of file GC, after a compaction: deletes data objects of
/// this or older terms that neither the partition (any live version) nor
/// an archive references, manifests of older terms, and the partition's
/// own manifest once no data object is left and its tree is empty, so a
/// fully truncated partition leaves only `CURRENT_TERM` (upstream's
/// `ExecuteCloudGC`, over every listing page).
pub async fn sweep(shard: &ShardCtx, part: &Partition) -> Result<()> {
    let tbl = &part.tbl;
    if !gc_allowed(shard, tbl).await? {
        return Ok(());
    }
    let content = list_partition(shard, tbl).await?;
    let term = shard.term;
    if content.manifests.iter().any(|&t| t > term) {
        log::info!("{tbl}: cloud GC skipped: a newer term's manifest exists");
        return Ok(());
    }
    let (keep, empty) = {
        let st = part.state.borrow();
        let PartState::Loaded(l) = &*st else {
            return Ok(());
        };
        let mut keep: BTreeSet<FileId> = l.files.clone();
        keep.extend(l.mapper.file_live().keys().copied());
        if let Some(a) = &l.archived_files {
            keep.extend(a.iter().copied());
        } else {
            // Archives not known yet: keep everything.
            return Ok(());
        }
        let empty = l.version.root == MAX_PAGE_ID && l.version.ttl_root == MAX_PAGE_ID;
        (keep, empty)
    };
    let mut doomed: Vec<String> = Vec::new();
    let mut data_left = 0usize;
    for (id, t, name) in &content.data {
        if *t <= term && !keep.contains(id) {
            doomed.push(name.clone());
        } else {
            data_left += 1;
        }
    }
    for &t in &content.manifests {
        if t < term {
            doomed.push(manifest_file_name(t));
        }
    }
    let drop_manifest =
        empty && data_left == 0 && content.manifests.contains(&term) && content.archives.is_empty();
    if drop_manifest {
        doomed.push(manifest_file_name(term));
    }
    if doomed.is_empty() {
        return Ok(());
    }
    log::debug!("{tbl}: cloud GC deletes {doomed:?}");
    delete_names(shard, tbl, &doomed).await?;
    if drop_manifest {
        // The partition's next commit writes a whole new manifest (the
        // bucket has none to append to); the local copy goes too.
        if let PartState::Loaded(l) = &mut *part.state.borrow_mut() {
            l.manifest_size = 0;
        }
        if let Some(dir) = part.dir() {
            let path = dir.join(manifest_file_name(term));
            shard.fds.remove(&path);
            cloud_of(shard).cache.forget(&path);
            fs_remove(shard, &path).await?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// ListObject.

/// Runs a `ListObjectRequest`: one page of a ListObjectsV2 of
/// `[prefix/]remote_path/` (recursive, or with `/` as delimiter), paths
/// relative to the listed path, objects before directories (upstream's
/// `ListObjectRequest` handling).
pub async fn list_objects(shard: &ShardCtx, req: &crate::request::Request) -> Result<()> {
    use crate::request::{Body, CloudObjectInfo, ListResult};
    let Some(cs) = &shard.cloud else {
        return Err(Error::invalid_args(
            "ListObject needs a cloud store (cloud_store_path)",
        ));
    };
    let (remote, recursive, token) = match &req.state().body {
        Body::ListObject {
            remote_path,
            recursive,
            continuation,
            ..
        } => (remote_path.clone(), *recursive, continuation.clone()),
        _ => unreachable!("list request"),
    };
    let trimmed = remote.trim_matches('/');
    let listed = if trimmed.is_empty() {
        String::new()
    } else {
        format!("{trimmed}/")
    };
    let page = cs
        .handle
        .list_page(&listed, recursive, (!token.is_empty()).then_some(token))
        .await
        .map_err(Error::from)?;
    let rel = |k: &str| -> String {
        let r = k
            .strip_prefix(listed.as_str())
            .or_else(|| k.strip_prefix(listed.trim_end_matches('/')))
            .unwrap_or(k);
        r.trim_start_matches('/').to_owned()
    };
    let name_of = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    let mut out = ListResult {
        next_continuation_token: page.next_token.unwrap_or_default(),
        ..ListResult::default()
    };
    for o in page.objects {
        let path = rel(&o.key);
        if path.is_empty() {
            continue;
        }
        out.details.push(CloudObjectInfo {
            name: name_of(&path),
            path,
            size: o.size,
            is_dir: false,
            mod_time: o.last_modified,
            continuation_token: String::new(),
        });
    }
    for p in page.prefixes {
        let path = rel(&p);
        if path.is_empty() {
            continue;
        }
        out.details.push(CloudObjectInfo {
            name: name_of(&path),
            path,
            size: 0,
            is_dir: true,
            mod_time: String::new(),
            continuation_token: String::new(),
        });
    }
    if let Body::ListObject { out: o, .. } = &mut req.state().body {
        *o = Arc::new(out);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Prewarm.

/// Files a shard holds queued for prewarming before the producer waits.
pub const PREWARM_QUEUE_CAP: usize = 1000;

/// A file to download into the cache in the background.
#[derive(Clone, Debug)]
pub struct PrewarmFile {
    pub tbl: TableIdent,
    pub name: String,
    /// The listed size.
    pub size: u64,
    pub last_modified: String,
    is_manifest: bool,
    file_id: FileId,
}

impl PrewarmFile {
    /// The file behind a recursively listed key (`<table>.<partition>/
    /// <name>`): current manifests of any term and data files; archives,
    /// `CURRENT_TERM`, temporaries and foreign keys give `None`.
    pub fn from_listing(key: &str, size: u64, last_modified: &str) -> Option<PrewarmFile> {
        let (dir, name) = key.split_once('/')?;
        if name.contains('/') {
            return None;
        }
        let tbl = TableIdent::parse(dir)?;
        if tbl.dir_name().to_str() != Some(dir) {
            return None;
        }
        let (is_manifest, file_id) = match classify(name)? {
            PartitionFile::Manifest { .. } => (true, 0),
            PartitionFile::Data { file_id, .. } => (false, file_id),
            PartitionFile::Archive { .. } => return None,
        };
        Some(PrewarmFile {
            tbl,
            name: name.to_owned(),
            size,
            last_modified: last_modified.to_owned(),
            is_manifest,
            file_id,
        })
    }

    /// Upstream's order within a page: manifests first, then data files
    /// most recently modified first (ties: higher file id first).
    pub fn sort_recent_first(files: &mut [PrewarmFile]) {
        files.sort_by(|a, b| {
            b.is_manifest
                .cmp(&a.is_manifest)
                .then_with(|| b.last_modified.cmp(&a.last_modified))
                .then_with(|| b.file_id.cmp(&a.file_id))
        });
    }
}

/// Queues files for this shard's prewarm tasks, starting them as needed
/// (`prewarm_task_count`).
pub fn queue_prewarm(ctx: &Rc<ShardCtx>, files: Vec<PrewarmFile>) {
    if ctx.cloud.is_none() || ctx.stopping.get() {
        release_queued(ctx, files.len());
        return;
    }
    ctx.prewarm_queue.borrow_mut().extend(files);
    let want = (ctx.opts.prewarm_task_count as usize).max(1);
    while ctx.prewarm_tasks.get() < want {
        ctx.prewarm_tasks.set(ctx.prewarm_tasks.get() + 1);
        ctx.env
            .prewarm_active
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let c = ctx.clone();
        ctx.io.spawn_background(async move {
            prewarm_task(&c).await;
            c.prewarm_tasks.set(c.prewarm_tasks.get() - 1);
            c.env
                .prewarm_active
                .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
        });
    }
}

fn release_queued(ctx: &ShardCtx, n: usize) {
    if let Some(q) = ctx.env.prewarm_queued.get(ctx.id) {
        q.fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Ends this shard's prewarm: the queue is dropped and the producer told.
fn stop_prewarm(ctx: &ShardCtx, why: &str) {
    let n = ctx.prewarm_queue.borrow().len();
    ctx.prewarm_queue.borrow_mut().clear();
    release_queued(ctx, n);
    if !ctx
        .env
        .prewarm_done
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        log::info!("prewarm stopped on shard {}: {why}", ctx.id);
    }
}

/// One prewarm worker: downloads queued files while the shard has no
/// request to serve (requests always go first), until the queue is empty,
/// the shard's cache budget cannot hold the next file, or the shard stops.
async fn prewarm_task(ctx: &ShardCtx) {
    let cs = cloud_of(ctx);
    loop {
        if ctx.stopping.get() {
            stop_prewarm(ctx, "the store is stopping");
            return;
        }
        if ctx.active_requests.get() > 0 {
            ctx.io.sleep(std::time::Duration::from_millis(5)).await;
            continue;
        }
        let Some(f) = ctx.prewarm_queue.borrow_mut().pop_front() else {
            return;
        };
        release_queued(ctx, 1);
        if cs.cache.limit().saturating_sub(cs.cache.used()) < f.size {
            stop_prewarm(ctx, "the local cache budget is used up");
            return;
        }
        let Some(dir) = ctx.partition(&f.tbl).dir().map(Path::to_path_buf) else {
            continue;
        };
        let path = dir.join(&f.name);
        let key = match object_key(&f.tbl, &f.name) {
            Ok(k) => k,
            Err(_) => continue,
        };
        match ensure_local(ctx, &path, &key).await {
            Ok(_) => {}
            Err(e) if e.code() == KvError::NotFound => {}
            Err(e) => {
                stop_prewarm(ctx, &format!("downloading {key}: {e}"));
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Reusing a local cache.

/// `allow_reuse_local_caches`: the files of the store paths, per shard
/// (oldest modification first), with their estimated sizes, after
/// upstream's checks: every entry of a store path is a partition directory
/// (`lost+found` aside), and every entry of those a data file or a
/// manifest (`InvalidArgs` otherwise; temporary files must be removed
/// first). Plain manifests are deleted rather than adopted: the next
/// access downloads the bucket's, so a local manifest ahead of the bucket
/// (a commit whose upload never finished) is never served (upstream adopts
/// it as is).
pub fn scan_reused_cache(opts: &KvOptions, shards: usize) -> Result<Vec<Vec<(PathBuf, u64)>>> {
    let mut out: Vec<Vec<(std::time::SystemTime, PathBuf, u64)>> = vec![Vec::new(); shards];
    let io = |e: std::io::Error, p: &Path| Error::from_io(e, p.display());
    for root in &opts.store_path {
        let root = Path::new(root);
        let rd = match std::fs::read_dir(root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(e, root)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| io(e, root))?;
            let name = ent.file_name();
            if name == "lost+found" {
                continue;
            }
            let tbl = name
                .to_str()
                .and_then(TableIdent::parse)
                .filter(|t| t.dir_name() == name);
            let is_dir = ent.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let Some(tbl) = tbl.filter(|_| is_dir) else {
                return Err(Error::invalid_args(format!(
                    "{} in the local cache is not a partition directory",
                    ent.path().display()
                )));
            };
            let shard = tbl.shard_index(shards as u16);
            for f in std::fs::read_dir(ent.path()).map_err(|e| io(e, &ent.path()))? {
                let f = f.map_err(|e| io(e, &ent.path()))?;
                let path = f.path();
                let meta = f.metadata().map_err(|e| io(e, &path))?;
                let fname = f.file_name().to_string_lossy().into_owned();
                if !meta.is_file() {
                    return Err(Error::invalid_args(format!(
                        "{} in the local cache is not a regular file",
                        path.display()
                    )));
                }
                if fname.ends_with(TMP_SUFFIX) {
                    return Err(Error::invalid_args(format!(
                        "{} is a temporary file: temporary files must be cleaned before reusing the local cache",
                        path.display()
                    )));
                }
                match classify(&fname) {
                    Some(PartitionFile::Manifest { .. }) => {
                        std::fs::remove_file(&path).map_err(|e| io(e, &path))?;
                    }
                    Some(_) => {
                        let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                        out[shard].push((mtime, path, estimated_size(opts, &fname)));
                    }
                    None => {
                        return Err(Error::invalid_args(format!(
                            "{} in the local cache is neither a data file nor a manifest",
                            path.display()
                        )));
                    }
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|mut v| {
            v.sort();
            v.into_iter().map(|(_, p, s)| (p, s)).collect()
        })
        .collect())
}

/// Adopts the files found at start into the shard's cache, then trims it
/// to the shard's budget (least recently modified first; the files are
/// removed by a task of the shard).
pub fn adopt_cache(ctx: &Rc<ShardCtx>, files: Vec<(PathBuf, u64)>) {
    let cs = cloud_of(ctx);
    let n = files.len();
    for (p, size) in files {
        cs.cache.adopt(p, size);
    }
    let trimmed = cs.cache.trim_list();
    if n > 0 {
        log::info!(
            "shard {}: reused {} cached files ({} removed over the budget)",
            ctx.id,
            n - trimmed.len(),
            trimmed.len()
        );
    }
    if !trimmed.is_empty() {
        let c = ctx.clone();
        ctx.io.spawn_background(async move {
            for p in &trimmed {
                if let Err(e) = fs_remove(&c, p).await {
                    log::warn!("cache: cannot remove {}: {e}", p.display());
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys() {
        assert_eq!(
            object_key(&TableIdent::new("t0", 3), "data_1_2").unwrap(),
            "t0.3/data_1_2"
        );
        let bad = TableIdent::new(vec![0xff, 0x00], 1);
        assert_eq!(key_dir(&bad).unwrap_err().code(), KvError::InvalidArgs);
        let ctl = TableIdent::new("a\tb", 1);
        assert_eq!(key_dir(&ctl).unwrap_err().code(), KvError::InvalidArgs);
    }

    #[test]
    fn cache_accounting_lru_and_trim() {
        let c = LocalCache::new(10, 5);
        assert_eq!((c.limit(), c.low_mark), (10, 8));
        assert_eq!(LocalCache::new(10, 0).low_mark, 10);
        for (i, p) in ["a", "b", "c"].iter().enumerate() {
            c.adopt(PathBuf::from(p), 3 + i as u64);
        }
        assert_eq!(c.used(), 3 + 4 + 5);
        assert!(c.contains(Path::new("b")));
        // "a" is used again: "b" becomes the least recently used.
        drop(c.pin_present(Path::new("a")).unwrap());
        assert_eq!(c.trim_list(), vec![PathBuf::from("b")]);
        assert_eq!(c.used(), 8);
        c.forget(Path::new("a"));
        assert_eq!((c.used(), c.len()), (5, 1));
        // Adopting a known file again replaces its size.
        c.adopt(PathBuf::from("c"), 2);
        assert_eq!((c.used(), c.len()), (2, 1));
    }

    #[test]
    fn cache_claims_and_waits() {
        use crate::io::runtime::{RuntimeConfig, block_on_runtime};
        block_on_runtime(&RuntimeConfig::default(), |io| async move {
            let c = Rc::new(LocalCache::new(100, 100));
            let p = PathBuf::from("x");
            let Acquired::Claimed(pin) = c.acquire(&p, 7).await else {
                panic!("a missing file is claimed")
            };
            assert_eq!(c.used(), 7);
            assert!(!c.contains(&p));
            // A second opener waits until the claim ends.
            let got = Rc::new(Cell::new(false));
            {
                let (c, p, got) = (c.clone(), p.clone(), got.clone());
                io.spawn(async move {
                    match c.acquire(&p, 7).await {
                        Acquired::Present(_) => got.set(true),
                        Acquired::Claimed(_) => panic!("claimed twice"),
                    }
                });
            }
            io.yield_now().await;
            assert!(!got.get());
            c.loaded(&p);
            drop(pin);
            io.sleep(std::time::Duration::from_millis(1)).await;
            assert!(got.get());
            assert_eq!(c.used(), 7, "counted once");
            // A failed load forgets the file.
            let q = PathBuf::from("y");
            let Acquired::Claimed(pin) = c.acquire(&q, 5).await else {
                panic!()
            };
            c.load_failed(&q);
            drop(pin);
            assert_eq!((c.used(), c.len()), (7, 1));
        })
        .unwrap();
    }

    #[test]
    fn prewarm_files_from_listings() {
        let f = |k: &str| PrewarmFile::from_listing(k, 10, "2024-01-01T00:00:00.000Z");
        assert!(f("t.0/data_3_1").is_some());
        assert!(f("t.0/manifest_2").is_some());
        for skip in [
            "t.0/manifest_2_99",
            "t.0/CURRENT_TERM",
            "t.0/data_3_1.tmp",
            "t.0/x/data_3_1",
            "nodot/data_1_1",
            "t.0",
        ] {
            assert!(f(skip).is_none(), "{skip}");
        }
        let mk = |k: &str, t: &str| PrewarmFile::from_listing(k, 1, t).unwrap();
        let mut v = vec![
            mk("t.0/data_1_0", "2024-01-01T00:00:01.000Z"),
            mk("t.0/data_2_0", "2024-01-01T00:00:03.000Z"),
            mk("t.0/manifest_0", "2024-01-01T00:00:00.000Z"),
            mk("t.0/data_3_0", "2024-01-01T00:00:03.000Z"),
        ];
        PrewarmFile::sort_recent_first(&mut v);
        let names: Vec<&str> = v.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["manifest_0", "data_3_0", "data_2_0", "data_1_0"]);
    }
}
