//! `EloqStore`: the engine's entry point, upstream's `EloqStore` class.
//! Requests may be submitted from any thread; each runs on the shard that
//! owns its partition.

use std::collections::HashSet;
use std::fs::{File, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Duration;

use crate::error::{Error, KvError, Result};
use crate::io::cloud::{CloudConfig, CloudService};
use crate::io::fault::FaultInjector;
use crate::io::fd_budget::{self, FdGrant};
use crate::io::runtime::{Backend, RuntimeConfig};
use crate::options::{KvOptions, NUM_RESERVED_FD};
use crate::request::{
    ArchiveRequest, Body, Callback, GlobalArchiveRequest, KvRequest, Request, RequestType,
    TruncateRequest,
};
use crate::shard::{Msg, ShardSetup, ShardThread, StoreEnv, spawn_shard};
use crate::types::TableIdent;

/// Wakes the archiver thread to stop it.
type StopSignal = Arc<(Mutex<bool>, Condvar)>;

struct Running {
    shards: Vec<ShardThread>,
    env: Arc<StoreEnv>,
    term: u64,
    opts: Arc<KvOptions>,
    /// The periodic archiver, when enabled.
    archiver: Mutex<Option<(StopSignal, std::thread::JoinHandle<()>)>>,
    /// Cloud mode: the HTTP runtime and client (taken and dropped by
    /// `stop` once the shards are gone).
    cloud: Mutex<Option<Arc<CloudService>>>,
    /// Cloud mode: the client, for store-level listings.
    cloud_client: Option<crate::io::cloud::CloudClient>,
    /// The prewarm producer, when enabled.
    prewarm: Mutex<
        Option<(
            Arc<std::sync::atomic::AtomicBool>,
            std::thread::JoinHandle<()>,
        )>,
    >,
    /// Held while the store runs, released by `stop`: the lock of each
    /// store path and the store's share of the process's descriptors.
    held: Mutex<Option<(Vec<File>, FdGrant)>>,
}

/// How long `start` retries a store path lock held by someone else.
const LOCK_WAIT: Duration = Duration::from_secs(1);

/// The smallest file cache a shard gets, however short of descriptors the
/// process is (a write holds a data file and the manifest at once).
const MIN_SHARD_FDS: usize = 16;

/// The key-value store.
pub struct EloqStore {
    opts: Arc<KvOptions>,
    running: RwLock<Option<Arc<Running>>>,
    /// Serialises start and stop.
    lifecycle: Mutex<()>,
    backend: Backend,
    faults: Option<Arc<dyn FaultInjector>>,
}

impl std::fmt::Debug for EloqStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EloqStore")
            .field("store_path", &self.opts.store_path)
            .field("running", &!self.is_stopped())
            .finish()
    }
}

impl EloqStore {
    /// A store over validated options (`InvalidArgs` naming the bad option
    /// otherwise; upstream aborts the process instead). Nothing is touched
    /// on disk until `start`.
    pub fn new(opts: KvOptions) -> Result<EloqStore> {
        EloqStore::build(opts, Backend::Auto, None)
    }

    /// Like `new`, choosing the disk driver and optionally injecting I/O
    /// faults (for tests).
    #[cfg(feature = "internals")]
    pub fn with_io(
        opts: KvOptions,
        backend: Backend,
        faults: Option<Arc<dyn FaultInjector>>,
    ) -> Result<EloqStore> {
        EloqStore::build(opts, backend, faults)
    }

    fn build(
        mut opts: KvOptions,
        backend: Backend,
        faults: Option<Arc<dyn FaultInjector>>,
    ) -> Result<EloqStore> {
        // Hosts (C, C++, other languages) never call into `logging`:
        // the store turns `ELOQSTORE_LOG` on itself.
        crate::logging::init_from_env();
        opts.validate()?;
        Ok(EloqStore {
            opts: Arc::new(opts),
            running: RwLock::new(None),
            lifecycle: Mutex::new(()),
            backend,
            faults,
        })
    }

    /// Upstream's static `ValidateOptions`: checks and adjusts options.
    /// Upstream's `ValidateOptions`: [`KvOptions::validate`] as a bool.
    pub fn validate_options(opts: &mut KvOptions) -> bool {
        opts.validate().is_ok()
    }

    /// The options the store runs with (validated and adjusted).
    pub fn options(&self) -> &KvOptions {
        &self.opts
    }

    /// Whether the store is not running (never started, or stopped).
    pub fn is_stopped(&self) -> bool {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }

    /// The process term (always 0 in local mode).
    pub fn term(&self) -> u64 {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, |r| r.term)
    }

    /// Cloud mode: object bytes (uploaded, downloaded) by successful
    /// requests since `start`; `None` for a local store or when stopped.
    pub fn cloud_traffic(&self) -> Option<(u64, u64)> {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()?
            .cloud
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.traffic().bytes())
    }

    /// Cloud mode with `prewarm_cloud_cache`: whether the background
    /// prewarm has ended (listing done, or stopped at the cache budget, and
    /// every queued download finished). True when there is no prewarm.
    pub fn prewarm_finished(&self) -> bool {
        let guard = self.running.read().unwrap_or_else(|e| e.into_inner());
        let Some(r) = guard.as_ref() else {
            return true;
        };
        let producer_done = r
            .prewarm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_none_or(|(_, h)| h.is_finished());
        producer_done
            && r.env.prewarm_active.load(Ordering::Acquire) == 0
            && r.env
                .prewarm_queued
                .iter()
                .all(|q| q.load(Ordering::Acquire) == 0)
    }

    /// The disk driver the shards use ("io_uring" or "sync"), once started.
    pub fn io_backend(&self) -> Option<&'static str> {
        self.running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|r| r.shards.first().map(|s| s.backend))
    }

    fn refuse_unsupported(&self) -> Result<()> {
        let o = &self.opts;
        if o.num_retained_archives > 0 && o.archive_interval_secs > 0 && !o.data_append_mode {
            return Err(Error::invalid_args(
                "num_retained_archives > 0 starts the periodic archiver, which needs data_append_mode",
            ));
        }
        if o.data_append_mode && o.store_path.is_empty() {
            return Err(Error::invalid_args(
                "data_append_mode needs a store_path: in-memory stores are not append-only",
            ));
        }
        Ok(())
    }

    fn prepare_store_paths(&self) -> Result<()> {
        let cloud = self.opts.is_cloud();
        for p in &self.opts.store_path {
            let path = Path::new(p);
            match std::fs::metadata(path) {
                Ok(m) if !m.is_dir() => {
                    return Err(Error::invalid_args(format!(
                        "store path {p} is not a directory"
                    )));
                }
                Ok(_) => {
                    let rd = std::fs::read_dir(path).map_err(|e| Error::from_io(e, p))?;
                    for ent in rd {
                        let ent = ent.map_err(|e| Error::from_io(e, p))?;
                        if cloud && !self.opts.allow_reuse_local_caches {
                            return Err(Error::invalid_args(format!(
                                "store path {p} is not empty in cloud store mode (it is the local cache): clear the directory, or set allow_reuse_local_caches"
                            )));
                        }
                        if !ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            return Err(Error::invalid_args(format!(
                                "store path {p} holds {:?}, which is not a partition directory",
                                ent.file_name()
                            )));
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(path).map_err(|e| Error::from_io(e, p))?;
                }
                Err(e) => return Err(Error::from_io(e, p)),
            }
        }
        Ok(())
    }

    /// Takes an exclusive lock on every store path for the life of the
    /// started store: two stores on one path (in one process or two) would
    /// both acknowledge writes and corrupt it. The lock is a `flock` on the
    /// directory itself, so no file appears in the store root (the C++
    /// engine refuses to start over a store root holding a file). A path
    /// another started store holds gives `Busy` naming the path; the
    /// read-only tools take no lock.
    ///
    /// A child process forked by another thread shares the lock's open
    /// file until it execs (the descriptor is close-on-exec), so a lock
    /// just released by `stop` may stay held for a moment: a held lock is
    /// retried for up to [`LOCK_WAIT`] before `Busy`.
    fn lock_store_paths(&self) -> Result<Vec<File>> {
        let mut locks = Vec::new();
        let mut seen = HashSet::new();
        for p in &self.opts.store_path {
            let dir =
                File::open(p).map_err(|e| Error::from_io(e, format!("open store path {p}")))?;
            let m = dir
                .metadata()
                .map_err(|e| Error::from_io(e, format!("stat store path {p}")))?;
            if !seen.insert((m.dev(), m.ino())) {
                // The same directory listed twice: one lock covers it.
                continue;
            }
            let deadline = std::time::Instant::now() + LOCK_WAIT;
            let mut res = dir.try_lock();
            while matches!(res, Err(TryLockError::WouldBlock))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(10));
                res = dir.try_lock();
            }
            match res {
                Ok(()) => locks.push(dir),
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::new(
                        KvError::Busy,
                        format!(
                            "store path {p} is in use by another started EloqStore \
                             (in this process or another); stop that one first"
                        ),
                    ));
                }
                Err(TryLockError::Error(e))
                    if matches!(e.raw_os_error(), Some(libc::ENOLCK | libc::EOPNOTSUPP)) =>
                {
                    log::warn!(
                        "store path {p}: the filesystem does not support flock ({e}); \
                         nothing keeps a second store from opening it"
                    );
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::from_io(e, format!("lock store path {p}")));
                }
            }
        }
        Ok(locks)
    }

    /// Starts the shards. The term is ignored in local mode (always 0); in
    /// cloud mode it is the process term (see `shard::cloud`). Starting a
    /// running store does nothing.
    pub fn start(&self, term: u64) -> Result<()> {
        let _g = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        if !self.is_stopped() {
            return Ok(());
        }
        self.refuse_unsupported()?;
        let cloud = if self.opts.is_cloud() {
            let svc = CloudService::new(CloudConfig::from_options(&self.opts)?)?;
            // Upstream's only contact with the service at start: wrong
            // credentials or an unreachable endpoint fail here, before
            // anything is created on disk.
            svc.ensure_bucket()?;
            Some(svc)
        } else {
            None
        };
        self.prepare_store_paths()?;
        let locks = self.lock_store_paths()?;
        let n = self.opts.num_threads.max(1) as usize;
        let term = if cloud.is_some() { term } else { 0 };
        let mut adopted = if cloud.is_some() && self.opts.allow_reuse_local_caches {
            crate::shard::cloud::scan_reused_cache(&self.opts, n)?
        } else {
            vec![Vec::new(); n]
        };
        let fds = fd_budget::grant(self.opts.fd_limit, NUM_RESERVED_FD, n, MIN_SHARD_FDS);
        let fd_capacity = fds.per_shard();
        let env = Arc::new(StoreEnv {
            prewarm_queued: (0..n)
                .map(|_| std::sync::atomic::AtomicUsize::new(0))
                .collect(),
            ..StoreEnv::default()
        });
        let cfg = RuntimeConfig {
            backend: self.backend,
            queue_depth: self.opts.io_queue_size,
            faults: self.faults.clone(),
        };
        let mut shards = Vec::with_capacity(n);
        for (id, adopted) in adopted.iter_mut().enumerate() {
            let setup = ShardSetup {
                id,
                opts: self.opts.clone(),
                term,
                fd_capacity,
                env: env.clone(),
                cloud: cloud.clone(),
                adopted: std::mem::take(adopted),
            };
            match spawn_shard(setup, cfg.clone()) {
                Ok(s) => shards.push(s),
                Err(e) => {
                    for s in &shards {
                        s.send(Msg::Stop);
                        s.join();
                    }
                    return Err(e);
                }
            }
        }
        log::info!("eloqstore started: {n} shards, {} I/O", shards[0].backend);
        let running = Arc::new(Running {
            shards,
            env,
            term,
            opts: self.opts.clone(),
            archiver: Mutex::new(None),
            cloud_client: cloud.as_ref().map(|c| c.client().clone()),
            cloud: Mutex::new(cloud),
            prewarm: Mutex::new(None),
            held: Mutex::new(Some((locks, fds))),
        });
        let o = &self.opts;
        if o.data_append_mode && o.num_retained_archives > 0 && o.archive_interval_secs > 0 {
            let stop = Arc::new((Mutex::new(false), Condvar::new()));
            let (r, st) = (running.clone(), stop.clone());
            let period = Duration::from_secs(o.archive_interval_secs as u64);
            let handle = std::thread::Builder::new()
                .name("eloqstore-archiver".into())
                .spawn(move || archiver(r, st, period))
                .map_err(|e| Error::from_io(e, "spawning the archiver"))?;
            *running.archiver.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop, handle));
        }
        if o.is_cloud() && o.prewarm_cloud_cache {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (r, st) = (running.clone(), stop.clone());
            let handle = std::thread::Builder::new()
                .name("eloqstore-prewarm".into())
                .spawn(move || prewarm_producer(r, st))
                .map_err(|e| Error::from_io(e, "spawning the prewarm thread"))?;
            *running.prewarm.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop, handle));
        }
        *self.running.write().unwrap_or_else(|e| e.into_inner()) = Some(running);
        Ok(())
    }

    /// Stops the shards after every submitted request has finished. All
    /// in-memory state (and an in-memory store's data) is dropped. Safe to
    /// call repeatedly or before `start`.
    pub fn stop(&self) {
        if crate::shard::on_shard_thread() {
            log::error!("stop called from a request callback: ignored (it would wait for itself)");
            return;
        }
        let _g = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        let Some(running) = self
            .running
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        // The archiver first: it submits requests of its own.
        let archiver = running
            .archiver
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, handle)) = archiver {
            *stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            stop.1.notify_all();
            let _ = handle.join();
        }
        let prewarm = running
            .prewarm
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((stop, handle)) = prewarm {
            stop.store(true, Ordering::Release);
            let _ = handle.join();
        }
        for s in &running.shards {
            s.send(Msg::Stop);
        }
        for s in &running.shards {
            s.join();
        }
        // Release the store paths and descriptors now, whoever still holds
        // a reference to `running`.
        let held = running
            .held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(held);
        // The cloud threads go last, here (never on one of them).
        let cloud = running
            .cloud
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(cloud);
        log::info!("eloqstore stopped");
    }

    /// Submits a request; `callback` runs on the completing (shard) thread.
    /// Returns false, leaving the request untouched, when the store is
    /// stopped or the request is already in flight.
    pub fn exec_async(
        &self,
        req: &impl KvRequest,
        user_data: u64,
        callback: impl FnOnce(&Request) + Send + 'static,
    ) -> bool {
        self.submit(req.request(), user_data, Some(Box::new(callback)))
    }

    /// Submits a request without a callback (poll `is_done` or `wait`).
    pub fn exec_async_no_callback(&self, req: &impl KvRequest) -> bool {
        self.submit(req.request(), 0, None)
    }

    /// Runs a request to completion and returns its error code. On a
    /// stopped store the request completes with `NotRunning`. A request
    /// already in flight is left alone (`InvalidArgs` is returned).
    pub fn exec_sync(&self, req: &impl KvRequest) -> KvError {
        let r = req.request();
        if crate::shard::on_shard_thread() {
            // Waiting here would block the shard that must run the request.
            log::error!("exec_sync called from a request callback; use exec_async");
            return KvError::InvalidArgs;
        }
        if self.submit(r, 0, None) {
            r.wait();
            return r.error();
        }
        if !r.begin(0, None) {
            return KvError::InvalidArgs;
        }
        r.complete(Err(Error::new(
            KvError::NotRunning,
            "the store is not running",
        )));
        KvError::NotRunning
    }

    fn submit(&self, req: &Request, user_data: u64, callback: Option<Callback>) -> bool {
        let Some(running) = self
            .running
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        else {
            return false;
        };
        if !req.begin(user_data, callback) {
            return false;
        }
        if let Err(e) = route(&running, req) {
            complete_on_shard(&running, req, Err(e));
        }
        true
    }
}

/// Completes a request that failed before reaching a shard (or needs no
/// shard work) on a shard thread all the same, so a callback never runs
/// inside `exec_async` on the caller's thread (where a lock the caller
/// holds could deadlock it). Inline only when the shards have stopped.
fn complete_on_shard(running: &Running, req: &Request, result: Result<()>) {
    let tbl = req.table_id();
    let n = running.shards.len();
    let shard = if n == 0 {
        None
    } else {
        running.shards.get(tbl.shard_index(n as u16))
    };
    match shard {
        Some(s) => {
            if let Err(Msg::Complete(r, res)) = s.send_back(Msg::Complete(req.clone(), result)) {
                r.complete(res);
            }
        }
        None => req.complete(result),
    }
}

/// Sends a submitted request to the shard owning its partition, or fans it
/// out (DropTable, GlobalArchive).
fn route(running: &Arc<Running>, req: &Request) -> Result<()> {
    if let Some(e) = req.state().rejected.clone() {
        return Err(e);
    }
    match req.request_type() {
        RequestType::DropTable => return drop_table(running, req),
        RequestType::GlobalArchive => return global_archive(running, req),
        RequestType::ListObject => {
            if running.cloud_client.is_none() {
                return Err(Error::invalid_args(
                    "ListObject needs a cloud store (cloud_store_path)",
                ));
            }
            // Any shard can list; the table ident only picks one.
            let tbl = req.table_id();
            let shard = &running.shards[tbl.shard_index(running.shards.len() as u16)];
            if !shard.send(Msg::Request(req.clone())) {
                return Err(Error::new(KvError::NotRunning, "the shard has stopped"));
            }
            return Ok(());
        }
        _ => {}
    }
    let tbl = req.table_id();
    tbl.check()?;
    if running.cloud_client.is_some() {
        crate::shard::cloud::key_dir(&tbl)?;
    }
    let shard = &running.shards[tbl.shard_index(running.shards.len() as u16)];
    if !shard.send(Msg::Request(req.clone())) {
        return Err(Error::new(KvError::NotRunning, "the shard has stopped"));
    }
    Ok(())
}

/// Every partition that exists (on disk, or in memory), in order.
fn all_partitions(running: &Running) -> Result<Vec<TableIdent>> {
    let mut out = Vec::new();
    if running.opts.store_path.is_empty() {
        let reg = running
            .env
            .memory_partitions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        out.extend(reg.iter().cloned());
        return Ok(out);
    }
    for root in &running.opts.store_path {
        let rd = match std::fs::read_dir(root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::from_io(e, root)),
        };
        for ent in rd.flatten() {
            let name = ent.file_name();
            if let Some(t) = TableIdent::parse_bytes(name.as_encoded_bytes())
                && t.dir_name() == name
                && ent.file_type().map(|f| f.is_dir()).unwrap_or(false)
            {
                out.push(t);
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Completes a parent request once all its sub-requests completed, with
/// the first failure.
struct FanOut {
    left: AtomicUsize,
    first_err: Mutex<Option<Error>>,
    parent: Request,
}

impl FanOut {
    fn new(parent: &Request, n: usize) -> Arc<FanOut> {
        Arc::new(FanOut {
            left: AtomicUsize::new(n),
            first_err: Mutex::new(None),
            parent: parent.clone(),
        })
    }

    fn child_done(&self, r: &Request) {
        if let Err(e) = r.result() {
            self.first_err
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert(e);
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let err = self
                .first_err
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            self.parent.complete(err.map_or(Ok(()), Err));
        }
    }
}

/// Submits a sub-request whose completion reports to `fan`.
fn submit_child(
    running: &Arc<Running>,
    fan: &Arc<FanOut>,
    child: &Request,
    then: impl FnOnce() + Send + 'static,
) {
    let f = fan.clone();
    let cb = move |r: &Request| {
        f.child_done(r);
        then();
    };
    if !child.begin(0, Some(Box::new(cb))) {
        return;
    }
    if let Err(e) = route(running, child) {
        complete_on_shard(running, child, Err(e));
    }
}

/// Truncates every partition of the table; completes with the first
/// failure. Runs on the submitting thread, completes on a shard thread.
fn drop_table(running: &Arc<Running>, req: &Request) -> Result<()> {
    let table = match &req.state().body {
        Body::DropTable { table } => table.clone(),
        _ => unreachable!("drop table request"),
    };
    if table.is_empty() {
        return Err(Error::invalid_args("DropTable needs a table name"));
    }
    if running.cloud_client.is_some() {
        return with_cloud_partitions(running, req, move |r, q, parts| {
            let parts = parts.into_iter().filter(|t| t.tbl_name == table).collect();
            truncate_all(r, q, parts);
        });
    }
    let parts: Vec<TableIdent> = all_partitions(running)?
        .into_iter()
        .filter(|t| t.tbl_name == table)
        .collect();
    truncate_all(running, req, parts);
    Ok(())
}

/// DropTable's fan-out: a full truncate of each partition.
fn truncate_all(running: &Arc<Running>, req: &Request, parts: Vec<TableIdent>) {
    if parts.is_empty() {
        complete_on_shard(running, req, Ok(()));
        return;
    }
    let fan = FanOut::new(req, parts.len());
    for tbl in parts {
        let sub = TruncateRequest::new();
        sub.set_args(tbl, Vec::new());
        submit_child(running, &fan, sub.untyped(), || {});
    }
}

/// Archives every partition (that `partition_filter` accepts) with one
/// timestamp, at most `max_archive_tasks` at a time; completes with the
/// first failure.
fn global_archive(running: &Arc<Running>, req: &Request) -> Result<()> {
    if !running.opts.data_append_mode {
        return Err(Error::invalid_args(
            "GlobalArchive requests need data_append_mode",
        ));
    }
    let ts = match &req.state().body {
        Body::GlobalArchive { snapshot_ts } => *snapshot_ts,
        _ => unreachable!("global archive request"),
    };
    let ts = if ts == 0 {
        crate::shard::util::now_us()
    } else {
        ts
    };
    if running.cloud_client.is_some() {
        return with_cloud_partitions(running, req, move |r, q, parts| {
            archive_all(r, q, parts, ts)
        });
    }
    archive_all(running, req, all_partitions(running)?, ts);
    Ok(())
}

/// GlobalArchive's fan-out over the partitions the filter accepts.
fn archive_all(running: &Arc<Running>, req: &Request, parts: Vec<TableIdent>, ts: u64) {
    let parts: Vec<TableIdent> = parts
        .into_iter()
        .filter(|t| running.opts.owns_partition(t))
        .collect();
    if parts.is_empty() {
        complete_on_shard(running, req, Ok(()));
        return;
    }
    let fan = FanOut::new(req, parts.len());
    let queue = Arc::new(Mutex::new(parts.into_iter()));
    let width = (running.opts.max_archive_tasks as usize).max(1);
    for _ in 0..width {
        next_archive(running.clone(), fan.clone(), queue.clone(), ts);
    }
}

/// Cloud mode: lists the partitions in the bucket (every page, on the
/// cloud threads, so the submitting thread never waits for the network),
/// then runs `then` with them. If the listing fails, or the store stops
/// first, the request completes with that error.
fn with_cloud_partitions(
    running: &Arc<Running>,
    req: &Request,
    then: impl FnOnce(&Arc<Running>, &Request, Vec<TableIdent>) + Send + 'static,
) -> Result<()> {
    let svc = running
        .cloud
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| Error::new(KvError::NotRunning, "the store is stopping"))?;
    let client = running.cloud_client.clone().expect("cloud mode");
    let guard = CompleteOnDrop(Some((running.clone(), req.clone())));
    svc.spawn_task(async move {
        let mut guard = guard;
        let listed = cloud_partitions(&client).await;
        let (r, q) = guard.0.take().expect("not yet completed");
        match listed {
            Ok(parts) => then(&r, &q, parts),
            Err(e) => complete_on_shard(&r, &q, Err(e)),
        }
    });
    Ok(())
}

/// Completes a request with `NotRunning` if the task that should complete
/// it is dropped first (the cloud threads stopped).
struct CompleteOnDrop(Option<(Arc<Running>, Request)>);

impl Drop for CompleteOnDrop {
    fn drop(&mut self) {
        if let Some((r, q)) = self.0.take() {
            complete_on_shard(
                &r,
                &q,
                Err(Error::new(KvError::NotRunning, "the store stopped")),
            );
        }
    }
}

/// Every partition with objects in the bucket: the prefixes of a
/// non-recursive listing of the root, every page (upstream lists one page
/// for DropTable).
pub(crate) async fn cloud_partitions(
    client: &crate::io::cloud::CloudClient,
) -> Result<Vec<TableIdent>> {
    let page = client.list_all("", false).await.map_err(Error::from)?;
    let mut out: Vec<TableIdent> = page
        .prefixes
        .iter()
        .filter_map(|p| {
            let t = TableIdent::parse(p)?;
            (t.dir_name().to_str() == Some(p.as_str())).then_some(t)
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Starts the next partition's archive; its completion starts another.
fn next_archive(
    running: Arc<Running>,
    fan: Arc<FanOut>,
    queue: Arc<Mutex<std::vec::IntoIter<TableIdent>>>,
    ts: u64,
) {
    let Some(tbl) = queue.lock().unwrap_or_else(|e| e.into_inner()).next() else {
        return;
    };
    let sub = ArchiveRequest::new();
    sub.set_table_id(tbl);
    sub.set_snapshot_timestamp(ts);
    let (r, f, q) = (running.clone(), fan.clone(), queue.clone());
    submit_child(&running, &fan, sub.untyped(), move || {
        next_archive(r, f, q, ts)
    });
}

/// Cloud prewarm's producer (upstream's `PrewarmService`): lists the
/// bucket prefix recursively a page at a time and hands each shard the
/// current manifests and data files of its partitions (those
/// `partition_filter` accepts), manifests first, then data files newest
/// first within the page. It waits while a shard has
/// `PREWARM_QUEUE_CAP` files queued and stops when a shard's cache budget
/// is used up, at the end of the listing, or at `stop`.
fn prewarm_producer(running: Arc<Running>, stop: Arc<std::sync::atomic::AtomicBool>) {
    use crate::shard::cloud::{PREWARM_QUEUE_CAP, PrewarmFile};
    let Some(client) = running.cloud_client.clone() else {
        return;
    };
    let Some(svc) = running
        .cloud
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
    else {
        return;
    };
    let n = running.shards.len();
    let done = || stop.load(Ordering::Acquire) || running.env.prewarm_done.load(Ordering::Acquire);
    let mut token = None;
    let mut total = 0usize;
    loop {
        if done() {
            break;
        }
        let c = client.clone();
        let t = token.take();
        let page = match svc.block_on(async move { c.list_page("", true, t, None).await }) {
            Ok(p) => p,
            Err(e) => {
                log::warn!("prewarm: listing the bucket failed: {}", e.error);
                break;
            }
        };
        let mut per_shard: Vec<Vec<PrewarmFile>> = vec![Vec::new(); n];
        for o in &page.objects {
            if let Some(f) = PrewarmFile::from_listing(&o.key, o.size, &o.last_modified)
                && running.opts.owns_partition(&f.tbl)
            {
                per_shard[f.tbl.shard_index(n as u16)].push(f);
            }
        }
        for (i, mut files) in per_shard.into_iter().enumerate() {
            if files.is_empty() {
                continue;
            }
            PrewarmFile::sort_recent_first(&mut files);
            while running.env.prewarm_queued[i].load(Ordering::Acquire) >= PREWARM_QUEUE_CAP {
                if done() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            total += files.len();
            running.env.prewarm_queued[i].fetch_add(files.len(), Ordering::AcqRel);
            if !running.shards[i].send(Msg::Prewarm(files)) {
                return;
            }
        }
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    drop(svc);
    log::info!("prewarm: {total} files queued");
}

/// The periodic archiver: a GlobalArchive every `archive_interval_secs`.
fn archiver(running: Arc<Running>, stop: StopSignal, period: Duration) {
    loop {
        let mut stopped = stop.0.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = std::time::Instant::now() + period;
        while !*stopped {
            let now = std::time::Instant::now();
            if now >= deadline {
                break;
            }
            stopped = stop
                .1
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if *stopped {
            return;
        }
        drop(stopped);
        let req = GlobalArchiveRequest::new();
        let r = req.untyped();
        if r.begin(0, None) {
            if let Err(e) = route(&running, r) {
                r.complete(Err(e));
            }
            r.wait();
            match r.result() {
                Ok(()) => log::info!("periodic archive done"),
                Err(e) => log::warn!("periodic archive failed: {e}"),
            }
        }
    }
}

impl Drop for EloqStore {
    fn drop(&mut self) {
        self.stop();
    }
}
