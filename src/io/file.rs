//! Open files for the shard runtime, and the per-shard cache of them.
//!
//! [`IoFile`] is an open file that remembers its path, what it is (for fault
//! injection and messages) and whether it really got O_DIRECT: filesystems
//! that refuse O_DIRECT (open fails with EINVAL) are opened buffered instead.
//! Shard code opens files through [`IoHandle::open`] (never blocking the
//! shard); [`IoFile::open`], [`IoFile::len`] and [`IoFile::allocate`] are
//! the blocking equivalents for tools and tests.
//! [`FdCache`] keeps a bounded LRU set of open files per shard; it hands out
//! `Rc<IoFile>`, so a file evicted while an operation still uses it stays
//! open until that operation (and every other holder) lets go.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::runtime::IoHandle;
use crate::error::{Error, Result};

/// [`IoFile`]s open in this process (for the descriptor budget).
static OPEN_IO_FILES: AtomicUsize = AtomicUsize::new(0);

/// How many [`IoFile`]s (store files: data files, manifests, archives) are
/// open in this process right now.
pub fn open_io_files() -> usize {
    OPEN_IO_FILES.load(Ordering::Relaxed)
}

/// The alignment O_DIRECT transfers use (buffer address, offset, length).
pub const DIRECT_ALIGN: usize = 4096;

/// What a file is, for fault injection and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    Data,
    Manifest,
    /// A directory (partition directories, store roots).
    Dir,
    Other,
}

/// How to open an [`IoFile`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Ask for O_DIRECT (dropped if the filesystem refuses it).
    pub direct: bool,
    /// Create the file (mode 0644) if missing. Needs `read_only == false`.
    pub create: bool,
    /// O_RDONLY instead of O_RDWR.
    pub read_only: bool,
    /// O_TRUNC: a file written from offset 0 loses what it held before.
    pub truncate: bool,
    /// A directory (O_RDONLY | O_DIRECTORY), opened to be synced.
    pub directory: bool,
}

impl OpenOptions {
    /// Read-write, buffered, no create.
    pub fn read_write() -> OpenOptions {
        OpenOptions::default()
    }

    /// Read-only, buffered.
    pub fn read_only() -> OpenOptions {
        OpenOptions {
            read_only: true,
            ..OpenOptions::default()
        }
    }

    /// A directory, read-only, kept open so that syncing it costs no open.
    pub fn directory() -> OpenOptions {
        OpenOptions {
            read_only: true,
            directory: true,
            ..OpenOptions::default()
        }
    }

    pub fn truncate(mut self, truncate: bool) -> OpenOptions {
        self.truncate = truncate;
        self
    }

    pub fn direct(mut self, direct: bool) -> OpenOptions {
        self.direct = direct;
        self
    }

    pub fn create(mut self, create: bool) -> OpenOptions {
        self.create = create;
        self
    }
}

/// An open file plus what it is.
#[derive(Debug)]
pub struct IoFile {
    file: File,
    path: PathBuf,
    kind: FileKind,
    direct: bool,
    read_only: bool,
}

impl IoFile {
    /// Opens `path`. With `opts.direct` it asks for O_DIRECT; if the open
    /// fails with EINVAL (the filesystem refuses O_DIRECT) it retries without
    /// and [`is_direct`](Self::is_direct) reports false. `opts.create` adds
    /// O_CREAT with mode 0644; `opts.read_only` opens O_RDONLY, else O_RDWR.
    pub fn open(path: &Path, kind: FileKind, opts: OpenOptions) -> Result<IoFile> {
        if opts.create && opts.read_only {
            return Err(Error::invalid_args(format!(
                "cannot create {} read-only",
                path.display()
            )));
        }
        let open = |direct: bool| {
            let mut o = std::fs::OpenOptions::new();
            o.read(true)
                .write(!opts.read_only)
                .create(opts.create)
                .truncate(opts.truncate)
                .mode(0o644);
            if direct {
                o.custom_flags(libc::O_DIRECT);
            } else if opts.directory {
                o.custom_flags(libc::O_DIRECTORY);
            }
            o.open(path)
        };
        let (file, direct) = match open(opts.direct) {
            Ok(f) => (f, opts.direct),
            Err(e) if opts.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                log::debug!("{} refuses O_DIRECT, opening it buffered", path.display());
                let f = open(false)
                    .map_err(|e| Error::from_io(e, format!("open {}", path.display())))?;
                (f, false)
            }
            Err(e) => return Err(Error::from_io(e, format!("open {}", path.display()))),
        };
        OPEN_IO_FILES.fetch_add(1, Ordering::Relaxed);
        Ok(IoFile {
            file,
            path: path.to_path_buf(),
            kind,
            direct,
            read_only: opts.read_only,
        })
    }

    /// An `IoFile` over a descriptor the runtime opened.
    pub(super) fn from_fd(
        fd: OwnedFd,
        path: &Path,
        kind: FileKind,
        direct: bool,
        read_only: bool,
    ) -> IoFile {
        IoFile {
            file: File::from(fd),
            path: path.to_path_buf(),
            kind,
            direct,
            read_only,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn kind(&self) -> FileKind {
        self.kind
    }

    /// Whether the file really is open with O_DIRECT.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The file's current length.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> Result<u64> {
        self.file
            .metadata()
            .map(|m| m.len())
            .map_err(|e| Error::from_io(e, format!("stat {}", self.path.display())))
    }

    /// Whether the file is empty.
    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> Result<bool> {
        self.len().map(|l| l == 0)
    }

    /// Reserves `len` bytes from offset 0 (`fallocate(fd, 0, 0, len)`,
    /// never shrinking). Where fallocate is unsupported it extends the file
    /// with `set_len` instead (only if shorter).
    #[cfg(any(test, feature = "internals"))]
    pub fn allocate(&self, len: u64) -> Result<()> {
        let Ok(off_len) = libc::off_t::try_from(len) else {
            return Err(Error::invalid_args(format!(
                "cannot allocate {len} bytes for {}",
                self.path.display()
            )));
        };
        // SAFETY: fallocate takes a file descriptor we own (kept open by
        // `self.file` for the duration of the call) and plain integers; it
        // touches no memory of ours.
        let rc = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, 0, off_len) };
        if rc == 0 {
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => {
                if self.len()? < len {
                    self.file.set_len(len).map_err(|e| {
                        Error::from_io(e, format!("extend {} to {len}", self.path.display()))
                    })?;
                }
                Ok(())
            }
            _ => Err(Error::from_io(
                err,
                format!("fallocate {} to {len}", self.path.display()),
            )),
        }
    }
}

impl Drop for IoFile {
    fn drop(&mut self) {
        OPEN_IO_FILES.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsRawFd for IoFile {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

struct CacheEntry {
    file: Rc<IoFile>,
    tick: u64,
}

#[derive(Default)]
struct CacheState {
    files: HashMap<PathBuf, CacheEntry>,
    lru: BTreeMap<u64, PathBuf>,
    tick: u64,
}

impl CacheState {
    fn touch(&mut self, path: &Path) -> Option<Rc<IoFile>> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.files.get_mut(path)?;
        self.lru.remove(&entry.tick);
        entry.tick = tick;
        self.lru.insert(tick, path.to_path_buf());
        Some(entry.file.clone())
    }

    fn remove(&mut self, path: &Path) -> Option<Rc<IoFile>> {
        let entry = self.files.remove(path)?;
        self.lru.remove(&entry.tick);
        Some(entry.file)
    }

    fn insert(&mut self, file: Rc<IoFile>) {
        self.tick += 1;
        let path = file.path().to_path_buf();
        if let Some(old) = self.files.insert(
            path.clone(),
            CacheEntry {
                file,
                tick: self.tick,
            },
        ) {
            self.lru.remove(&old.tick);
        }
        self.lru.insert(self.tick, path);
    }

    /// Drops the least recently used entry; returns whether there was one.
    fn evict_one(&mut self) -> Option<Rc<IoFile>> {
        let (_, path) = self.lru.pop_first()?;
        self.files.remove(&path).map(|e| e.file)
    }

    /// Drops the least recently used entry no operation is using.
    fn evict_unused(&mut self) -> bool {
        let victim = self
            .lru
            .iter()
            .find(|(_, p)| {
                self.files
                    .get(*p)
                    .is_some_and(|e| Rc::strong_count(&e.file) == 1)
            })
            .map(|(_, p)| p.clone());
        match victim {
            Some(p) => self.remove(&p).is_some(),
            None => false,
        }
    }
}

/// A per-shard LRU cache of open files holding at most `capacity` of them
/// (the cache's part of the shard's descriptor budget). Files are handed
/// out as `Rc<IoFile>`: one evicted while an operation still uses it stays
/// open until the last holder drops it, so the process may briefly hold
/// more descriptors than the capacity (the shard bounds how many tasks
/// hold files at once). A cached file is reused whatever `OpenOptions` a later
/// caller passes, except that a read-only cached file is reopened when a
/// caller asks for read-write.
pub struct FdCache {
    capacity: usize,
    state: RefCell<CacheState>,
}

impl FdCache {
    /// A cache of at most `capacity` files (at least 1).
    pub fn new(capacity: usize) -> FdCache {
        FdCache {
            capacity: capacity.max(1),
            state: RefCell::new(CacheState::default()),
        }
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The cached file for `path`, opening (and caching) it through `io`
    /// if needed, without blocking the shard. When the open fails with
    /// EMFILE it closes one cached file no operation is using and retries
    /// once.
    pub async fn get_or_open(
        &self,
        io: &IoHandle,
        path: &Path,
        kind: FileKind,
        opts: OpenOptions,
    ) -> Result<Rc<IoFile>> {
        let evicted;
        {
            let mut st = self.state.borrow_mut();
            if let Some(f) = st.touch(path)
                && (opts.read_only || !f.is_read_only())
            {
                return Ok(f);
            }
            // Reopening read-write: drop the read-only entry first.
            evicted = st.remove(path);
        }
        drop(evicted);
        // Boxed: the hit above is the common case, and page reads awaiting
        // this future should not carry the open's state inline.
        Box::pin(self.open_and_insert(io, path, kind, opts)).await
    }

    async fn open_and_insert(
        &self,
        io: &IoHandle,
        path: &Path,
        kind: FileKind,
        opts: OpenOptions,
    ) -> Result<Rc<IoFile>> {
        let file = match io.open(path, kind, opts).await {
            Ok(f) => f,
            Err(e) if e.code() == crate::error::KvError::OpenFileLimit => {
                if !self.state.borrow_mut().evict_unused() {
                    return Err(e);
                }
                io.open(path, kind, opts).await?
            }
            Err(e) => return Err(e),
        };
        let file = Rc::new(file);
        let mut dropped = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            st.insert(file.clone());
            while st.files.len() > self.capacity {
                match st.evict_one() {
                    Some(f) => dropped.push(f),
                    None => break,
                }
            }
        }
        // Close evicted files outside the borrow.
        drop(dropped);
        Ok(file)
    }

    /// `fsync` of a directory through a descriptor the cache keeps open, as
    /// upstream keeps partition directories open: a commit that creates or
    /// renames a file then costs no open and close of its directory.
    pub async fn sync_dir(&self, io: &IoHandle, dir: &Path) -> Result<()> {
        let f = self
            .get_or_open(io, dir, FileKind::Dir, OpenOptions::directory())
            .await?;
        io.fsync(&f).await
    }

    /// The cached file for `path`, if any (marks it recently used).
    #[cfg(any(test, feature = "internals"))]
    pub fn get(&self, path: &Path) -> Option<Rc<IoFile>> {
        self.state.borrow_mut().touch(path)
    }

    /// Forgets `path` (e.g. before deleting the file).
    pub fn remove(&self, path: &Path) {
        let f = self.state.borrow_mut().remove(path);
        drop(f);
    }

    /// Forgets `path` unless an operation holds it: true when the file is
    /// not cached (any more), false when it is in use.
    pub fn remove_if_unused(&self, path: &Path) -> bool {
        let mut st = self.state.borrow_mut();
        let in_use = st
            .files
            .get(path)
            .is_some_and(|e| Rc::strong_count(&e.file) > 1);
        if in_use {
            return false;
        }
        let f = st.remove(path);
        drop(st);
        drop(f);
        true
    }

    /// Forgets every cached file under `dir` (e.g. before removing a
    /// partition's directory).
    pub fn remove_dir(&self, dir: &Path) {
        let mut dropped = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            let paths: Vec<PathBuf> = st
                .files
                .keys()
                .filter(|p| p.starts_with(dir))
                .cloned()
                .collect();
            for p in paths {
                if let Some(f) = st.remove(&p) {
                    dropped.push(f);
                }
            }
        }
        drop(dropped);
    }

    /// Forgets every cached file.
    #[cfg(any(test, feature = "internals"))]
    pub fn clear(&self) {
        let st = std::mem::take(&mut *self.state.borrow_mut());
        drop(st);
    }

    /// How many files are cached.
    #[cfg(any(test, feature = "internals"))]
    pub fn len(&self) -> usize {
        self.state.borrow().files.len()
    }

    #[cfg(any(test, feature = "internals"))]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Byte length of every data file in a partition directory, by (file id,
/// term).
pub fn data_file_sizes(dir: &Path) -> Result<BTreeMap<(u64, u64), u64>> {
    let mut out = BTreeMap::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::from_io(e, dir.display())),
    };
    for ent in rd {
        let ent = ent.map_err(|e| Error::from_io(e, dir.display()))?;
        if let Some(crate::format::names::PartitionFile::Data { file_id, term }) = ent
            .file_name()
            .to_str()
            .and_then(crate::format::names::classify)
        {
            let len = ent
                .metadata()
                .map_err(|e| Error::from_io(e, ent.path().display()))?
                .len();
            out.insert((file_id, term), len);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_on_ext4_and_fallback_on_procfs() {
        let dir = tempfile::tempdir_in("/tmp").unwrap();
        let p = dir.path().join("f");
        let f = IoFile::open(
            &p,
            FileKind::Data,
            OpenOptions::read_write().create(true).direct(true),
        )
        .unwrap();
        assert!(f.is_direct(), "O_DIRECT should work on /tmp");
        assert_eq!(f.len().unwrap(), 0);
        f.allocate(8192).unwrap();
        assert_eq!(f.len().unwrap(), 8192);
        f.allocate(4096).unwrap();
        assert_eq!(f.len().unwrap(), 8192, "allocate never shrinks");

        // procfs refuses O_DIRECT with EINVAL.
        let f = IoFile::open(
            Path::new("/proc/self/status"),
            FileKind::Other,
            OpenOptions::read_only().direct(true),
        )
        .unwrap();
        assert!(!f.is_direct());

        let e = IoFile::open(
            &dir.path().join("missing"),
            FileKind::Data,
            OpenOptions::read_write(),
        )
        .unwrap_err();
        assert_eq!(e.code(), crate::error::KvError::NotFound);
        assert!(e.message().contains("missing"));
        let e =
            IoFile::open(&p, FileKind::Data, OpenOptions::read_only().create(true)).unwrap_err();
        assert_eq!(e.code(), crate::error::KvError::InvalidArgs);
    }

    #[test]
    fn fd_cache_lru() {
        use crate::io::runtime::{Backend, RuntimeConfig, block_on_runtime};
        for backend in [Backend::Uring, Backend::Sync] {
            if backend == Backend::Uring && std::env::var("ELOQSTORE_IO").is_ok_and(|v| v == "sync")
            {
                continue;
            }
            block_on_runtime(&RuntimeConfig::with_backend(backend), fd_cache_lru_on).unwrap();
        }
    }

    async fn fd_cache_lru_on(io: IoHandle) {
        let dir = tempfile::tempdir().unwrap();
        let cache = FdCache::new(2);
        let opts = OpenOptions::read_write().create(true);
        let path = |i: u32| dir.path().join(format!("f{i}"));
        let open = |p: PathBuf, kind, opts| {
            let (cache, io) = (&cache, &io);
            async move { cache.get_or_open(io, &p, kind, opts).await }
        };
        let f0 = open(path(0), FileKind::Data, opts).await.unwrap();
        let _f1 = open(path(1), FileKind::Data, opts).await.unwrap();
        // Touch f0 so f1 is the LRU one.
        let again = open(path(0), FileKind::Data, opts).await.unwrap();
        assert!(Rc::ptr_eq(&f0, &again));
        let _f2 = open(path(2), FileKind::Data, opts).await.unwrap();
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&path(1)).is_none());
        assert!(cache.get(&path(0)).is_some());
        cache.remove(&path(0));
        assert_eq!(cache.len(), 1);
        // A held file survives removal.
        assert!(f0.len().is_ok());
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        open(sub.join("a"), FileKind::Manifest, opts).await.unwrap();
        assert_eq!(cache.len(), 2);
        cache.remove_dir(&sub);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&path(2)).is_some());
        // Read-only entry reopened read-write on demand.
        let ro = open(path(3), FileKind::Other, opts).await.unwrap();
        drop(ro);
        cache.remove(&path(3));
        let ro = open(path(3), FileKind::Other, OpenOptions::read_only())
            .await
            .unwrap();
        assert!(ro.is_read_only());
        let rw = open(path(3), FileKind::Other, OpenOptions::read_write())
            .await
            .unwrap();
        assert!(!rw.is_read_only());
        // A missing file is NotFound and leaves the cache alone.
        let e = open(path(9), FileKind::Data, OpenOptions::read_write())
            .await
            .unwrap_err();
        assert_eq!(e.code(), crate::error::KvError::NotFound);
        assert!(cache.get(&path(9)).is_none());
        cache.clear();
        assert!(cache.is_empty());
    }
}
