//! Shards: one thread each, owning the partitions `partition_id %
//! num_threads` selects, running many requests at once as tasks on the
//! thread's runtime. Writes to one partition run one at a time in arrival
//! order; reads run beside them on the last committed version.

pub mod cloud;
pub mod partition;
mod tasks;
pub mod util;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::format::compression::ValueCodec;
use crate::io::file::FdCache;
use crate::io::runtime::{IoHandle, RemoteWaker, Runtime, RuntimeConfig};
use crate::options::KvOptions;
use crate::request::Request;
use crate::tree::PageCache;
use crate::types::TableIdent;
use partition::{MemFiles, Partition, Storage};

/// What a shard receives from the store.
pub enum Msg {
    Request(Request),
    /// Complete a request that needs no shard work, on this shard's thread.
    Complete(Request, crate::error::Result<()>),
    /// Cloud mode: files to download into the cache in the background.
    Prewarm(Vec<cloud::PrewarmFile>),
    /// Finish every queued and running request, then exit.
    Stop,
}

/// State shared by all shards of a running store.
#[derive(Default)]
pub struct StoreEnv {
    /// In-memory stores: every partition that holds data, for DropTable.
    pub memory_partitions: Mutex<BTreeSet<TableIdent>>,
    /// Cloud prewarm: files queued on each shard (the producer waits while
    /// a shard holds `PREWARM_QUEUE_CAP`).
    pub prewarm_queued: Vec<std::sync::atomic::AtomicUsize>,
    /// Cloud prewarm: set when a shard's cache budget is used up (or
    /// prewarm failed): the producer stops listing.
    pub prewarm_done: std::sync::atomic::AtomicBool,
    /// Cloud prewarm: tasks downloading on any shard.
    pub prewarm_active: std::sync::atomic::AtomicUsize,
}

/// Everything a shard's tasks share.
pub struct ShardCtx {
    pub id: usize,
    pub opts: Arc<KvOptions>,
    pub term: u64,
    pub io: IoHandle,
    pub fds: FdCache,
    pub cache: PageCache,
    pub env: Arc<StoreEnv>,
    /// The cloud tier (cloud mode only).
    pub cloud: Option<cloud::CloudShard>,
    /// Requests running or queued on this shard (prewarm yields to them).
    pub active_requests: Cell<usize>,
    /// Set once the shard was told to stop.
    pub stopping: Cell<bool>,
    /// Cloud prewarm: files waiting for download, and tasks working on them.
    pub prewarm_queue: RefCell<std::collections::VecDeque<cloud::PrewarmFile>>,
    pub prewarm_tasks: Cell<usize>,
    /// Page reads in flight, at most `buf_ring_size` (upstream's bound on
    /// reads through its io_uring provided-buffer ring).
    pub read_slots: util::Semaphore,
    /// Requests working on files at once (see [`ShardCtx::admit_disk_task`]).
    disk_tasks: util::Semaphore,
    partitions: RefCell<HashMap<TableIdent, Rc<Partition>>>,
    next_key: Cell<u64>,
    codecs: RefCell<Vec<ValueCodec>>,
    clock: Cell<u64>,
    /// Entries per leaf the last scan saw: sizes the first batch of leaf
    /// reads of the next scan.
    pub scan_per_leaf: Cell<f64>,
    /// Result bytes per entry (key, value and 16 bytes of metadata) the
    /// last scan returned: sizes the next scan's result buffer up front, so
    /// it is not regrown (and copied) while the scan fills it.
    pub scan_entry_bytes: Cell<usize>,
    /// The sum of the partitions' last accounted metadata bytes (see
    /// [`ShardCtx::trim_partitions`]): kept up to date so that a request
    /// does not sum over every partition of the shard.
    mapped_bytes: Cell<usize>,
}

impl ShardCtx {
    /// The shard's partition object (created unloaded on first use).
    pub fn partition(&self, tbl: &TableIdent) -> Rc<Partition> {
        let tick = self.clock.get() + 1;
        self.clock.set(tick);
        if let Some(p) = self.partitions.borrow().get(tbl) {
            p.last_used.set(tick);
            return p.clone();
        }
        let key = self.next_key.get();
        self.next_key.set(key + 1);
        let storage = if self.opts.store_path.is_empty() {
            Storage::Memory(RefCell::new(MemFiles::default()))
        } else {
            let root =
                PathBuf::from(&self.opts.store_path[tbl.disk_index(self.opts.store_path.len())]);
            Storage::Disk {
                dir: root.join(tbl.dir_name()),
                root,
            }
        };
        let p = Rc::new(Partition::new(tbl.clone(), key, storage));
        p.last_used.set(tick);
        self.partitions.borrow_mut().insert(tbl.clone(), p.clone());
        p
    }

    /// Admits a task that opens files (a read, a write, a background
    /// compaction or clean-up), waiting while `disk_tasks` others run. Files
    /// a running task holds stay open even when the file cache evicts them,
    /// so without this bound thousands of requests in flight would hold
    /// thousands of descriptors and fail with OpenFileLimit. A task takes
    /// its permit before any partition version and after its write ticket,
    /// so no permit holder waits for a task without one. In-memory stores
    /// open no files: `None`.
    pub async fn admit_disk_task(&self) -> Option<util::Permit<'_>> {
        if self.opts.store_path.is_empty() {
            return None;
        }
        Some(self.disk_tasks.acquire(1).await)
    }

    /// A zstd context from the shard's pool.
    pub fn codec(&self) -> ValueCodec {
        self.codecs.borrow_mut().pop().unwrap_or_default()
    }

    pub fn return_codec(&self, c: ValueCodec) {
        self.codecs.borrow_mut().push(c);
    }

    /// Called after a task on `touched` finished: accounts its metadata,
    /// then drops idle partitions' metadata (least recently used first)
    /// while the shard's share of `root_meta_cache_size` is exceeded.
    /// In-memory partitions hold the data itself and are never dropped.
    pub fn trim_partitions(&self, touched: &Partition) {
        if self.opts.store_path.is_empty() {
            return;
        }
        let now = touched.memory_bytes();
        let total = self.mapped_bytes.get() + now - touched.accounted.replace(now);
        self.mapped_bytes.set(total);
        let budget =
            (self.opts.root_meta_cache_size / self.opts.num_threads.max(1) as u64) as usize;
        if total <= budget {
            return;
        }
        // Over budget by the running sum: recount exactly (a partition
        // changed by a task that was not the last to finish is seen here).
        let parts: Vec<Rc<Partition>> = self.partitions.borrow().values().cloned().collect();
        let mut used = 0;
        for p in &parts {
            let b = p.memory_bytes();
            p.accounted.set(b);
            used += b;
        }
        self.mapped_bytes.set(used);
        if used <= budget {
            return;
        }
        let mut idle: Vec<&Rc<Partition>> = parts
            .iter()
            .filter(|p| p.idle() && Rc::strong_count(p) <= 2)
            .collect();
        idle.sort_by_key(|p| p.last_used.get());
        for p in idle {
            if used <= budget {
                break;
            }
            used -= p.accounted.replace(0);
            self.mapped_bytes.set(used);
            p.unload();
            self.cache.remove_partition(p.key);
            if let Some(dir) = p.dir() {
                self.fds.remove_dir(dir);
            }
            self.partitions.borrow_mut().remove(&p.tbl);
        }
    }
}

/// A running shard thread, as the store sees it.
pub struct ShardThread {
    pub tx: Sender<Msg>,
    /// False once the shard's inbox closed (see [`Inbox`]); held while
    /// sending so that no message slips in after the final drain.
    open: Arc<Mutex<bool>>,
    pub waker: RemoteWaker,
    pub join: Mutex<Option<JoinHandle<()>>>,
    pub backend: &'static str,
}

impl ShardThread {
    /// Hands a message to the shard and wakes it.
    pub fn send(&self, msg: Msg) -> bool {
        self.send_back(msg).is_ok()
    }

    /// Sends a message; gives it back when the shard has exited.
    pub fn send_back(&self, msg: Msg) -> std::result::Result<(), Msg> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if !*open {
            return Err(msg);
        }
        let r = self.tx.send(msg).map_err(|e| e.0);
        drop(open);
        self.waker.wake();
        r
    }

    /// Waits for the thread to exit (after `Msg::Stop`).
    pub fn join(&self) {
        let h = self.join.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = h
            && h.join().is_err()
        {
            log::error!("a shard thread panicked");
        }
    }
}

/// Starts a shard thread; its runtime is built on the thread itself.
pub fn spawn_shard(setup: ShardSetup, cfg: RuntimeConfig) -> crate::Result<ShardThread> {
    let (tx, rx) = channel::<Msg>();
    let open = Arc::new(Mutex::new(true));
    let inbox = Inbox {
        rx,
        open: open.clone(),
    };
    let (ready_tx, ready_rx) = channel();
    let id = setup.id;
    let join = std::thread::Builder::new()
        .name(format!("eloqstore-shard-{id}"))
        .spawn(move || {
            let rt = match Runtime::new(&cfg) {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok((rt.remote(), rt.backend_name())));
            run_shard(setup, rt, &inbox.rx);
        })
        .map_err(|e| crate::Error::from_io(e, "spawning a shard thread"))?;
    match ready_rx.recv() {
        Ok(Ok((waker, backend))) => Ok(ShardThread {
            tx,
            open,
            waker,
            join: Mutex::new(Some(join)),
            backend,
        }),
        Ok(Err(e)) => {
            let _ = join.join();
            Err(e)
        }
        Err(_) => {
            let _ = join.join();
            Err(crate::Error::new(
                crate::KvError::IoFail,
                format!("shard {id} failed to start"),
            ))
        }
    }
}

thread_local! {
    static ON_SHARD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current thread is a shard thread (request callbacks run
/// there; blocking on the store from them would deadlock).
pub fn on_shard_thread() -> bool {
    ON_SHARD.with(|c| c.get())
}

/// The body of a shard thread: receive requests, run them, exit after
/// `Stop` once everything has finished.
fn run_shard(setup: ShardSetup, rt: Runtime, rx: &Receiver<Msg>) {
    ON_SHARD.with(|c| c.set(true));
    let adopted = setup.adopted;
    let (cache_files, disk_tasks) = split_fd_budget(setup.fd_capacity);
    let ctx = Rc::new(ShardCtx {
        id: setup.id,
        opts: setup.opts.clone(),
        term: setup.term,
        io: rt.handle(),
        fds: FdCache::new(cache_files),
        cache: PageCache::new(
            (setup.opts.buffer_pool_size / setup.opts.data_page_size.max(1) as u64) as usize,
        ),
        env: setup.env,
        cloud: setup
            .cloud
            .map(|svc| cloud::CloudShard::new(svc, &setup.opts)),
        active_requests: Cell::new(0),
        stopping: Cell::new(false),
        prewarm_queue: RefCell::default(),
        prewarm_tasks: Cell::new(0),
        read_slots: util::Semaphore::new(setup.opts.buf_ring_size as usize),
        disk_tasks: util::Semaphore::new(disk_tasks),
        partitions: RefCell::default(),
        next_key: Cell::new(0),
        mapped_bytes: Cell::new(0),
        codecs: RefCell::default(),
        clock: Cell::new(0),
        scan_per_leaf: Cell::new(0.0),
        scan_entry_bytes: Cell::new(0),
    });
    if ctx.cloud.is_some() {
        cloud::adopt_cache(&ctx, adopted);
    }
    let mut stopping = false;
    loop {
        loop {
            match rx.try_recv() {
                Ok(Msg::Request(req)) => tasks::dispatch(&ctx, &rt, req),
                Ok(Msg::Complete(req, result)) => req.complete(result),
                Ok(Msg::Prewarm(files)) => cloud::queue_prewarm(&ctx, files),
                Ok(Msg::Stop) => {
                    stopping = true;
                    ctx.stopping.set(true);
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    stopping = true;
                    break;
                }
            }
        }
        if stopping && rt.task_count() == 0 {
            break;
        }
        rt.turn(None);
    }
    log::debug!("shard {} stopped", ctx.id);
}

/// The shard thread's end of its channel. Dropped when the thread exits
/// (normally or by a panic), it refuses later sends and completes whatever
/// is still queued, so no submitted request is left waiting forever.
struct Inbox {
    rx: Receiver<Msg>,
    open: Arc<Mutex<bool>>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = false;
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Request(r) => r.complete(Err(crate::Error::new(
                    crate::KvError::NotRunning,
                    "the store stopped before the request ran",
                ))),
                Msg::Complete(r, result) => r.complete(result),
                Msg::Prewarm(_) | Msg::Stop => {}
            }
        }
    }
}

/// Files a running task holds open at once in the common case: the data
/// files of a write or a prefetch (one or two), the manifest, and a
/// directory opened briefly to sync it.
const FILES_PER_TASK: usize = 4;

/// Splits a shard's descriptor budget between its file cache and the files
/// running tasks hold (which stay open after the cache evicts them): half
/// each. Returns the cache's capacity and how many tasks may work on files
/// at once.
fn split_fd_budget(budget: usize) -> (usize, usize) {
    let tasks = (budget / 2 / FILES_PER_TASK).max(1);
    let cache = budget.saturating_sub(tasks * FILES_PER_TASK).max(1);
    (cache, tasks)
}

/// What a shard thread needs to start.
pub struct ShardSetup {
    pub id: usize,
    pub opts: Arc<KvOptions>,
    pub term: u64,
    /// Descriptors the shard may keep open (its share of the store's budget).
    pub fd_capacity: usize,
    pub env: Arc<StoreEnv>,
    /// Cloud mode: the store's cloud service.
    pub cloud: Option<Arc<crate::io::cloud::CloudService>>,
    /// Cloud mode with `allow_reuse_local_caches`: files found in the
    /// store paths at start, with their estimated sizes, oldest first.
    pub adopted: Vec<(PathBuf, u64)>,
}
