//! `EloqStore`: the engine's entry point, upstream's `EloqStore` class.
//! Requests may be submitted from any thread; each runs on the shard that
//! owns its partition.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, KvError, Result};
use crate::io::fault::FaultInjector;
use crate::io::runtime::{Backend, RuntimeConfig};
use crate::options::{KvOptions, NUM_RESERVED_FD};
use crate::request::{Body, Callback, KvRequest, Request, RequestType, TruncateRequest};
use crate::shard::{Msg, ShardSetup, ShardThread, StoreEnv, spawn_shard};
use crate::types::TableIdent;

struct Running {
    shards: Vec<ShardThread>,
    env: Arc<StoreEnv>,
    term: u64,
}

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
        EloqStore::with_io(opts, Backend::Auto, None)
    }

    /// Like `new`, choosing the disk driver and optionally injecting I/O
    /// faults (for tests).
    pub fn with_io(
        mut opts: KvOptions,
        backend: Backend,
        faults: Option<Arc<dyn FaultInjector>>,
    ) -> Result<EloqStore> {
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
    pub fn validate_options(opts: &mut KvOptions) -> bool {
        opts.validate().is_ok()
    }

    pub fn options(&self) -> &KvOptions {
        &self.opts
    }

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
        if !o.cloud_store_path.is_empty() {
            return Err(Error::invalid_args(
                "cloud_store_path is set, but this engine does not support the cloud tier yet",
            ));
        }
        if o.num_retained_archives > 0 && o.archive_interval_secs > 0 {
            return Err(Error::invalid_args(
                "num_retained_archives > 0 with archive_interval_secs > 0 starts the periodic archiver, \
                 which this engine does not support yet",
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
        for p in &self.opts.store_path {
            let path = Path::new(p);
            match std::fs::metadata(path) {
                Ok(m) if !m.is_dir() => {
                    return Err(Error::invalid_args(format!(
                        "store path {p} is not a directory"
                    )));
                }
                Ok(_) => {
                    let rd = std::fs::read_dir(path).map_err(|e| Error::from_io(&e, p))?;
                    for ent in rd {
                        let ent = ent.map_err(|e| Error::from_io(&e, p))?;
                        if !ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                            return Err(Error::invalid_args(format!(
                                "store path {p} holds {:?}, which is not a partition directory",
                                ent.file_name()
                            )));
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(path).map_err(|e| Error::from_io(&e, p))?;
                }
                Err(e) => return Err(Error::from_io(&e, p)),
            }
        }
        Ok(())
    }

    /// Starts the shards. The term is ignored in local mode (always 0).
    /// Starting a running store does nothing.
    pub fn start(&self, _term: u64) -> Result<()> {
        let _g = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        if !self.is_stopped() {
            return Ok(());
        }
        self.refuse_unsupported()?;
        self.prepare_store_paths()?;
        let n = self.opts.num_threads.max(1) as usize;
        let used = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count())
            .unwrap_or(0) as i64;
        let fd_share = (self.opts.fd_limit as i64 - used - NUM_RESERVED_FD as i64) / n as i64;
        let fd_capacity = fd_share.max(16) as usize;
        let env = Arc::new(StoreEnv::default());
        let cfg = RuntimeConfig {
            backend: self.backend,
            queue_depth: self.opts.io_queue_size,
            faults: self.faults.clone(),
        };
        let mut shards = Vec::with_capacity(n);
        for id in 0..n {
            let setup = ShardSetup {
                id,
                opts: self.opts.clone(),
                term: 0,
                fd_capacity,
                env: env.clone(),
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
        *self.running.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Running {
            shards,
            env,
            term: 0,
        }));
        Ok(())
    }

    /// Stops the shards after every submitted request has finished. All
    /// in-memory state (and an in-memory store's data) is dropped. Safe to
    /// call repeatedly or before `start`.
    pub fn stop(&self) {
        let _g = self.lifecycle.lock().unwrap_or_else(|e| e.into_inner());
        let Some(running) = self
            .running
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return;
        };
        for s in &running.shards {
            s.send(Msg::Stop);
        }
        for s in &running.shards {
            s.join();
        }
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
        if let Err(e) = self.route(&running, req) {
            req.complete(Err(e));
        }
        true
    }

    fn route(&self, running: &Arc<Running>, req: &Request) -> Result<()> {
        match req.request_type() {
            RequestType::DropTable => return self.drop_table(running, req),
            RequestType::ListObject => {
                return Err(Error::invalid_args(
                    "ListObject needs a cloud store (cloud_store_path), which this engine does not support",
                ));
            }
            RequestType::GlobalArchive => {
                return Err(Error::invalid_args(
                    "GlobalArchive requests are not supported by this engine yet",
                ));
            }
            _ => {}
        }
        let tbl = req.table_id();
        if !tbl.is_valid() {
            return Err(Error::invalid_args(
                "the request's table ident has an empty table name",
            ));
        }
        let shard = &running.shards[tbl.shard_index(running.shards.len() as u16)];
        if !shard.send(Msg::Request(req.clone())) {
            return Err(Error::new(KvError::NotRunning, "the shard has stopped"));
        }
        Ok(())
    }

    /// Every partition of a table that exists (on disk, or in memory).
    fn table_partitions(&self, running: &Running, table: &str) -> Result<Vec<TableIdent>> {
        let mut out = Vec::new();
        if self.opts.store_path.is_empty() {
            let reg = running
                .env
                .memory_partitions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            out.extend(reg.iter().filter(|t| t.tbl_name == table).cloned());
            return Ok(out);
        }
        for root in &self.opts.store_path {
            let rd = match std::fs::read_dir(root) {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::from_io(&e, root)),
            };
            for ent in rd.flatten() {
                let name = ent.file_name();
                let Some(name) = name.to_str() else { continue };
                if let Some(t) = TableIdent::parse(name)
                    && t.tbl_name == table
                    && t.to_string() == name
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

    /// Truncates every partition of the table; completes with the first
    /// failure. Runs on the submitting thread, completes on a shard thread.
    fn drop_table(&self, running: &Arc<Running>, req: &Request) -> Result<()> {
        let table = match &req.state().body {
            Body::DropTable { table } => table.clone(),
            _ => unreachable!("drop table request"),
        };
        if table.is_empty() {
            return Err(Error::invalid_args("DropTable needs a table name"));
        }
        let parts = self.table_partitions(running, &table)?;
        if parts.is_empty() {
            req.complete(Ok(()));
            return Ok(());
        }
        struct Agg {
            left: AtomicUsize,
            first_err: Mutex<Option<Error>>,
            parent: Request,
        }
        let agg = Arc::new(Agg {
            left: AtomicUsize::new(parts.len()),
            first_err: Mutex::new(None),
            parent: req.clone(),
        });
        for tbl in parts {
            let sub = TruncateRequest::new();
            sub.set_args(tbl, Vec::new());
            let agg = agg.clone();
            let cb = move |r: &Request| {
                if let Err(e) = r.result() {
                    agg.first_err
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                }
                if agg.left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let err = agg
                        .first_err
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    agg.parent.complete(err.map_or(Ok(()), Err));
                }
            };
            let sub_req = sub.untyped().clone();
            if !sub_req.begin(0, Some(Box::new(cb))) {
                continue;
            }
            if let Err(e) = self.route(running, &sub_req) {
                sub_req.complete(Err(e));
            }
        }
        Ok(())
    }
}

impl Drop for EloqStore {
    fn drop(&mut self) {
        self.stop();
    }
}
