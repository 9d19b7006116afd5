//! Request handlers run as shard tasks.

use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::Arc;

use super::ShardCtx;
use super::partition::{PageReader, PartState, Partition, Version, read_ctx};
use super::util::{Ticket, now_ms, now_us};
use crate::error::{Error, KvError, Result};
use crate::format::compression::Dictionary;
use crate::format::page::MAX_PAGE_ID;
use crate::format::ttl::parse_ttl_key;
use crate::io::file::FileKind;
use crate::io::runtime::Runtime;
use crate::request::{Body, Request, RequestType, ScanResult};
use crate::tree::write::{Change, TreeConfig, TreeWriter};
use crate::tree::{ReadCtx, TreeEntry};
use crate::types::{Batch, KvEntry, WriteOp};

/// Completes its request when dropped without an outcome (a task that
/// panicked), so no caller waits forever.
struct Completion(Option<Request>);

impl Completion {
    fn finish(mut self, res: Result<()>) {
        if let Some(r) = self.0.take() {
            r.complete(res);
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.complete(Err(Error::new(
                KvError::IoFail,
                "internal error: the request's task failed",
            )));
        }
    }
}

/// Counts a request as running on its shard while held (background
/// prewarming waits while any runs).
struct Active(Rc<ShardCtx>);

impl Active {
    fn new(ctx: &Rc<ShardCtx>) -> Active {
        ctx.active_requests.set(ctx.active_requests.get() + 1);
        Active(ctx.clone())
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active_requests.set(self.0.active_requests.get() - 1);
    }
}

/// Starts the task serving a request.
pub fn dispatch(ctx: &Rc<ShardCtx>, rt: &Runtime, req: Request) {
    let done = Completion(Some(req.clone()));
    let ty = req.request_type();
    let tbl = req.table_id();
    match ty {
        RequestType::Read | RequestType::Floor | RequestType::Scan => {
            let ctx = ctx.clone();
            let active = Active::new(&ctx);
            rt.spawn(async move {
                let _active = active;
                let admitted = ctx.admit_disk_task().await;
                let part = ctx.partition(&tbl);
                let res = read_task(&ctx, &part, &req).await;
                drop(admitted);
                part.poke();
                done.finish(res);
                // A reader may have held the last old version: files it kept
                // alive can go now.
                if let Err(e) = part.reap_files(&ctx).await {
                    log::warn!("{}: deleting unused data files: {e}", part.tbl);
                }
                ctx.trim_partitions(&part);
            });
        }
        RequestType::BatchWrite
        | RequestType::Truncate
        | RequestType::CleanExpired
        | RequestType::Compact
        | RequestType::Archive => {
            let part = ctx.partition(&tbl);
            // The ticket is taken on arrival: writes run in arrival order.
            let ticket = part.writes.ticket();
            let ctx = ctx.clone();
            let active = Active::new(&ctx);
            rt.spawn_background(async move {
                let _active = active;
                let res = write_task(&ctx, &part, &req, ticket).await;
                part.poke();
                done.finish(res);
                after_write(&ctx, &part, ty != RequestType::CleanExpired);
                ctx.trim_partitions(&part);
            });
        }
        RequestType::ListObject => {
            let ctx = ctx.clone();
            let active = Active::new(&ctx);
            rt.spawn(async move {
                let res = super::cloud::list_objects(&ctx, &req).await;
                done.finish(res);
                drop(active);
            });
        }
        RequestType::DropTable | RequestType::GlobalArchive => {
            done.finish(Err(Error::invalid_args(format!(
                "{} requests are handled by the store, not a shard",
                ty.as_str()
            ))))
        }
    }
}

fn expired(e: &TreeEntry, now_ms: u64) -> bool {
    e.expire_ts != 0 && e.expire_ts <= now_ms
}

async fn read_task(ctx: &ShardCtx, part: &Partition, req: &Request) -> Result<()> {
    let Some(v) = part.version(ctx).await? else {
        return Err(Error::not_found(format!(
            "partition {} does not exist",
            part.tbl
        )));
    };
    let reader = PageReader {
        shard: ctx,
        part,
        terms: &v.terms,
        early_writes: false,
    };
    let rctx = read_ctx(ctx, &reader, &v);
    let now = now_ms();
    enum Args {
        Read(Vec<u8>),
        Floor(Vec<u8>),
        Scan {
            begin: Vec<u8>,
            end: Vec<u8>,
            inclusive: bool,
            max_entries: usize,
            max_size: usize,
            prefetch: usize,
        },
    }
    let args = match &req.state().body {
        Body::Read { key, .. } => Args::Read(key.clone()),
        Body::Floor { key, .. } => Args::Floor(key.clone()),
        Body::Scan {
            begin,
            end,
            begin_inclusive,
            max_entries,
            max_size,
            prefetch,
            ..
        } => Args::Scan {
            begin: begin.clone(),
            end: end.clone(),
            inclusive: *begin_inclusive,
            max_entries: *max_entries,
            max_size: *max_size,
            prefetch: *prefetch,
        },
        _ => unreachable!("read request"),
    };
    let mut codec = ctx.codec();
    let res = async {
        match args {
            Args::Read(key) => {
                let e = rctx.get(v.root, &key).await?;
                let e = match e {
                    Some(e) if !expired(&e, now) => e,
                    _ => return Err(Error::not_found("key not found")),
                };
                let entry = resolve(&rctx, &v, e, &mut codec).await?;
                if let Body::Read { out, .. } = &mut req.state().body {
                    *out = Some(entry);
                }
                Ok(())
            }
            Args::Floor(key) => {
                let found = rctx.floor_where(v.root, &key, |e| !expired(e, now)).await?;
                let Some(e) = found else {
                    return Err(Error::not_found("no key at or below the search key"));
                };
                let entry = resolve(&rctx, &v, e, &mut codec).await?;
                if let Body::Floor { out, .. } = &mut req.state().body {
                    *out = Some(entry);
                }
                Ok(())
            }
            Args::Scan {
                begin,
                end,
                inclusive,
                max_entries,
                max_size,
                prefetch,
            } => {
                let mut result = ScanResult::default();
                // With a page limit, room for the whole page at the entry
                // size the last scan returned (bounded), so that the
                // buffer is not regrown and copied while it fills.
                let per = ctx.scan_entry_bytes.get();
                let mut reserved = per != 0 && max_entries != usize::MAX;
                if reserved {
                    let n = max_entries.min(4096);
                    result.reserve(n, n.saturating_mul(per).min(max_size).min(1 << 20));
                } else {
                    result.reserve(max_entries.min(64), max_size.min(8 << 10));
                }
                let dict = v.dict.as_deref();
                let mut cur = rctx.seek(v.root, &begin, inclusive, prefetch).await?;
                cur.set_per_leaf_hint(ctx.scan_per_leaf.get());
                'leaves: loop {
                    cur.set_want(if max_entries == usize::MAX {
                        usize::MAX
                    } else {
                        max_entries - result.len()
                    });
                    if !reserved && result.len() >= 16 && max_entries != usize::MAX {
                        // Room for the whole page of results at the size
                        // seen so far (bounded), so the buffer rarely grows.
                        reserved = true;
                        let left = max_entries - result.len();
                        let per = result.size().1 / result.len();
                        result.reserve(
                            left.min(4096),
                            left.saturating_mul(per).min(max_size).min(1 << 20),
                        );
                    }
                    let Some(mut leaf) = cur.next_leaf(&rctx).await? else {
                        break;
                    };
                    while let Some(e) = leaf.next()? {
                        if !end.is_empty() && rctx.cmp.compare(e.key, &end) != Ordering::Less {
                            break 'leaves;
                        }
                        if e.expire_ts != 0 && e.expire_ts <= now {
                            continue;
                        }
                        if result.len() >= max_entries {
                            result.has_remaining = true;
                            break 'leaves;
                        }
                        let value = rctx.value_of(&e, &mut codec, dict).await?;
                        let bytes = result.size().1;
                        result.push(e.key, &value, e.timestamp, e.expire_ts);
                        if bytes > 0 && result.size().1 > max_size {
                            result.pop();
                            result.has_remaining = true;
                            break 'leaves;
                        }
                    }
                }
                if cur.per_leaf() > 0.0 {
                    ctx.scan_per_leaf.set(cur.per_leaf());
                }
                if !result.is_empty() {
                    // Key and value bytes per entry (`size` adds 16).
                    let (n, bytes) = result.size();
                    ctx.scan_entry_bytes.set((bytes - 16 * n).div_ceil(n));
                }
                if let Body::Scan { out, .. } = &mut req.state().body {
                    *out = Arc::new(result);
                }
                Ok(())
            }
        }
    }
    .await;
    ctx.return_codec(codec);
    res
}

async fn resolve(
    rctx: &ReadCtx<'_, PageReader<'_>>,
    v: &Version,
    e: TreeEntry,
    codec: &mut crate::format::compression::ValueCodec,
) -> Result<KvEntry> {
    let value = rctx.resolve_value(&e, codec, v.dict.as_deref()).await?;
    Ok(KvEntry {
        key: e.key,
        value,
        timestamp: e.timestamp,
        expire_ts: e.expire_ts,
    })
}

/// What a write request asks for.
enum WriteKind {
    Batch(Batch),
    Truncate(Vec<u8>),
    CleanExpired,
    Compact,
    Archive(u64),
}

async fn write_task(
    ctx: &ShardCtx,
    part: &Partition,
    req: &Request,
    mut ticket: Ticket,
) -> Result<()> {
    let kind = match &req.state().body {
        Body::BatchWrite { batch } => WriteKind::Batch(batch.clone()),
        Body::Truncate { position } => WriteKind::Truncate(position.clone()),
        Body::CleanExpired => WriteKind::CleanExpired,
        Body::Compact => WriteKind::Compact,
        Body::Archive { snapshot_ts } => WriteKind::Archive(*snapshot_ts),
        _ => unreachable!("write request"),
    };
    match &kind {
        WriteKind::Batch(batch) => {
            validate_batch(ctx, batch)?;
            if batch.is_empty() {
                return Ok(());
            }
        }
        WriteKind::Compact | WriteKind::Archive(_) if !ctx.opts.data_append_mode => {
            return Err(Error::invalid_args(format!(
                "{} requests need data_append_mode",
                req.request_type().as_str()
            )));
        }
        _ => {}
    }
    ticket.acquire().await;
    let _admitted = ctx.admit_disk_task().await;
    part.ensure_loaded(ctx).await?;
    let missing = matches!(&*part.state.borrow(), PartState::Missing);
    if missing {
        match kind {
            // Nothing to truncate, clean or compact in a partition never
            // written; nothing to archive either.
            WriteKind::Truncate(_) | WriteKind::CleanExpired | WriteKind::Compact => return Ok(()),
            WriteKind::Archive(_) => {
                return Err(Error::not_found(format!(
                    "partition {} does not exist",
                    part.tbl
                )));
            }
            WriteKind::Batch(_) => {
                part.create(ctx);
                if ctx.opts.store_path.is_empty() {
                    let mut reg = ctx
                        .env
                        .memory_partitions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner());
                    reg.insert(part.tbl.clone());
                }
            }
        }
    }
    let mut codec = ctx.codec();
    let res = match kind {
        WriteKind::Compact => compact(ctx, part).await,
        WriteKind::Archive(ts) => archive(ctx, part, ts).await,
        kind => apply_write(ctx, part, kind, &mut codec).await,
    };
    ctx.return_codec(codec);
    drop(ticket);
    res
}

/// Background work a commit may call for: compaction when the data files
/// hold too much garbage, TTL clean-up when an expiry has passed. Each is
/// queued behind the writes already waiting, at most one of each at once.
fn after_write(ctx: &Rc<ShardCtx>, part: &Rc<Partition>, allow_cleanup: bool) {
    let (want_compact, want_cleanup) = match &*part.state.borrow() {
        PartState::Loaded(l) => (
            part.needs_compaction(ctx.opts.file_amplify_factor, ctx.cloud.is_some()),
            allow_cleanup && l.next_expire <= now_ms(),
        ),
        _ => return,
    };
    if want_compact && !part.compaction_queued.replace(true) {
        let mut ticket = part.writes.ticket();
        let (ctx2, part2) = (ctx.clone(), part.clone());
        ctx.io.spawn_background(async move {
            ticket.acquire().await;
            part2.compaction_queued.set(false);
            let admitted = ctx2.admit_disk_task().await;
            if let Err(e) = compact(&ctx2, &part2).await {
                log::warn!("{}: background compaction failed: {e}", part2.tbl);
            }
            drop(admitted);
            drop(ticket);
            part2.poke();
        });
    }
    if want_cleanup && !part.cleanup_queued.replace(true) {
        let mut ticket = part.writes.ticket();
        let (ctx2, part2) = (ctx.clone(), part.clone());
        ctx.io.spawn_background(async move {
            ticket.acquire().await;
            part2.cleanup_queued.set(false);
            let admitted = ctx2.admit_disk_task().await;
            let mut codec = ctx2.codec();
            if let Err(e) = apply_write(&ctx2, &part2, WriteKind::CleanExpired, &mut codec).await {
                log::warn!("{}: background TTL clean-up failed: {e}", part2.tbl);
            }
            ctx2.return_codec(codec);
            drop(admitted);
            drop(ticket);
            part2.poke();
            // Compaction only: entries a clean-up cannot remove (stored
            // timestamps above the clock) must not loop it.
            after_write(&ctx2, &part2, false);
        });
    }
}

/// Moves live pages out of sparse data files, then deletes the files no
/// version, archive or reader needs. Runs under the partition's write
/// ticket; yields to other tasks between page batches.
async fn compact(ctx: &ShardCtx, part: &Partition) -> Result<()> {
    if !ctx.opts.data_append_mode || ctx.opts.file_amplify_factor == 0 {
        return Ok(());
    }
    let factor = ctx.opts.file_amplify_factor;
    let max_pages = (1usize << ctx.opts.pages_per_file_shift).max(8192);
    for _ in 0..10_000 {
        let released = part.take_released();
        for fp in &released {
            ctx.cache.remove(part.key, *fp);
        }
        let (version, mapper) = match &*part.state.borrow() {
            PartState::Loaded(l) => (l.version.clone(), l.mapper.clone()),
            _ => return Ok(()),
        };
        if !mapper.needs_compaction(factor) {
            break;
        }
        let victims = mapper.compaction_victims(factor);
        part.forget_early_files();
        let reader = PageReader {
            shard: ctx,
            part,
            terms: &version.terms,
            early_writes: true,
        };
        let rctx = read_ctx(ctx, &reader, &version);
        let plan = crate::tree::compact::compact(
            &rctx,
            mapper,
            &victims,
            max_pages,
            version.root,
            version.ttl_root,
        )
        .await?;
        let Some(plan) = plan else { break };
        log::debug!(
            "{}: compaction of {} files commits {} pages",
            part.tbl,
            victims.len(),
            plan.writes.len()
        );
        crate::killpoint::hit("compact.before_commit");
        part.commit(ctx, plan, false).await?;
        crate::killpoint::hit("compact.committed");
    }
    part.schedule_file_gc(ctx).await?;
    part.reap_files(ctx).await?;
    if ctx.cloud.is_some() {
        super::cloud::sweep(ctx, part).await?;
    }
    Ok(())
}

/// Writes an archive of the partition (after a compaction check), then
/// keeps only the newest `num_retained_archives` archives when set.
async fn archive(ctx: &ShardCtx, part: &Partition, ts: u64) -> Result<()> {
    let empty = match &*part.state.borrow() {
        PartState::Loaded(l) => l.version.root == MAX_PAGE_ID,
        _ => true,
    };
    if empty {
        return Err(Error::not_found(format!(
            "partition {} holds no data to archive",
            part.tbl
        )));
    }
    compact(ctx, part).await?;
    let ts = if ts == 0 { now_us() } else { ts };
    let name = part.write_archive(ctx, ts).await?;
    crate::killpoint::hit("archive.written");
    log::info!("{}: archive {name} written", part.tbl);
    let keep = ctx.opts.num_retained_archives as usize;
    if let (true, Some(dir)) = (keep > 0, part.dir()) {
        let archives = if ctx.cloud.is_some() {
            super::cloud::list_archives(ctx, &part.tbl).await?
        } else {
            super::partition::list_archives(ctx, dir).await?
        };
        if archives.len() > keep {
            let old: Vec<String> = archives[..archives.len() - keep]
                .iter()
                .map(|(_, n)| n.clone())
                .collect();
            for name in &old {
                let path = dir.join(name);
                if let Some(c) = &ctx.cloud {
                    c.cache.forget(&path);
                }
                match ctx.io.unlink(&path, FileKind::Manifest).await {
                    Ok(()) => {}
                    Err(e) if e.code() == KvError::NotFound && ctx.cloud.is_some() => {}
                    Err(e) => return Err(e),
                }
            }
            if ctx.io.exists(dir, FileKind::Dir).await? {
                ctx.fds.sync_dir(&ctx.io, dir).await?;
            }
            if ctx.cloud.is_some() {
                super::cloud::delete_archives(ctx, &part.tbl, &old).await?;
            }
            part.archives_changed();
            part.schedule_file_gc(ctx).await?;
            part.reap_files(ctx).await?;
        }
    }
    Ok(())
}

fn validate_batch(ctx: &ShardCtx, batch: &Batch) -> Result<()> {
    let max_key = ctx.opts.data_page_size as usize / 2;
    let cmp = &*ctx.opts.comparator;
    let mut prev: Option<&[u8]> = None;
    for (i, e) in batch.iter().enumerate() {
        if e.key.is_empty() {
            return Err(Error::invalid_args(format!(
                "batch entry {i} has an empty key"
            )));
        }
        if e.key.len() > max_key {
            return Err(Error::invalid_args(format!(
                "batch entry {i} has a {}-byte key; keys are limited to data_page_size / 2 = {max_key} bytes",
                e.key.len()
            )));
        }
        if e.val.len() > u32::MAX as usize {
            return Err(Error::invalid_args(format!(
                "batch entry {i} has a {}-byte value; values are limited to 4 GiB - 1",
                e.val.len()
            )));
        }
        if let Some(p) = prev
            && cmp.compare(p, e.key) != Ordering::Less
        {
            return Err(Error::invalid_args(format!(
                "batch keys must be strictly ascending without duplicates (entry {i} is not above entry {})",
                i - 1
            )));
        }
        prev = Some(e.key);
    }
    Ok(())
}

async fn apply_write(
    ctx: &ShardCtx,
    part: &Partition,
    kind: WriteKind,
    codec: &mut crate::format::compression::ValueCodec,
) -> Result<()> {
    // Pages of versions no reader holds any more become reusable; they
    // leave the index cache first.
    let released = part.take_released();
    for fp in &released {
        ctx.cache.remove(part.key, *fp);
    }
    let (version, mapper, dict) = {
        let mut st = part.state.borrow_mut();
        let PartState::Loaded(l) = &mut *st else {
            return Err(Error::new(KvError::IoFail, "partition is not loaded"));
        };
        l.mapper.release_file_pages(released);
        if let (WriteKind::Batch(batch), true, None) = (&kind, ctx.opts.enable_compression, &l.dict)
            && let Some(trained) = l.sampler.offer(batch.iter().map(|e| e.val))
            && !trained.is_empty()
        {
            l.dict = Some(Rc::new(Dictionary::new(trained)?));
            l.dict_dirty = true;
        }
        (l.version.clone(), l.mapper.clone(), l.dict.clone())
    };
    let now = now_ms();
    part.forget_early_files();
    let reader = PageReader {
        shard: ctx,
        part,
        terms: &version.terms,
        early_writes: true,
    };
    let rctx = read_ctx(ctx, &reader, &version);
    let cfg = TreeConfig {
        page_size: ctx.opts.data_page_size as usize,
        data_restart_interval: ctx.opts.data_page_restart_interval as usize,
        index_restart_interval: ctx.opts.index_page_restart_interval as usize,
        overflow_pointers: ctx.opts.overflow_pointers as usize,
        cmp: &*ctx.opts.comparator,
    };
    if matches!(kind, WriteKind::Truncate(ref p) if p.is_empty()) {
        // Full truncate: free every mapped page. Like upstream, the frees
        // go into a log record when the manifest has room (a snapshot costs
        // a new file, a rename and a directory sync); an empty snapshot is
        // written only when there is no page to free but roots to clear.
        if version.root == MAX_PAGE_ID
            && version.ttl_root == MAX_PAGE_ID
            && mapper.mapped_count() == 0
        {
            return Ok(());
        }
        let mut w = TreeWriter::new(rctx, cfg, mapper, now, codec);
        let (root, ttl_root) = w.truncate_all();
        let plan = w.finish(root, ttl_root);
        let snapshot = plan.changes.is_empty();
        part.commit(ctx, plan, snapshot).await?;
        if let PartState::Loaded(l) = &mut *part.state.borrow_mut() {
            l.next_expire = u64::MAX;
        }
        return Ok(());
    }
    let mut w = TreeWriter::new(rctx, cfg, mapper.clone(), now, codec)
        .with_compression(ctx.opts.enable_compression, dict.as_deref());
    let (root, ttl_root) = match &kind {
        WriteKind::Batch(batch) => {
            let changes: Vec<Change<'_>> = batch
                .iter()
                .map(|e| Change {
                    key: e.key,
                    value: e.val,
                    timestamp: e.timestamp,
                    expire_ts: e.expire_ts,
                    delete: e.op == WriteOp::Delete,
                })
                .collect();
            w.apply(version.root, version.ttl_root, &changes).await?
        }
        WriteKind::Truncate(pos) => w.truncate(version.root, version.ttl_root, pos).await?,
        WriteKind::Compact | WriteKind::Archive(_) => unreachable!("not a tree write"),
        WriteKind::CleanExpired => {
            let keys = expired_keys(&read_ctx(ctx, &reader, &version), &version, now).await?;
            if keys.is_empty() {
                drop(w);
                return update_next_expire(ctx, part, &kind, now).await;
            }
            let ts = now_us();
            let changes: Vec<Change<'_>> = keys
                .iter()
                .map(|k| Change {
                    key: k,
                    value: &[],
                    timestamp: ts,
                    expire_ts: 0,
                    delete: true,
                })
                .collect();
            w.apply(version.root, version.ttl_root, &changes).await?
        }
    };
    let plan = w.finish(root, ttl_root);
    drop(mapper);
    part.commit(ctx, plan, false).await?;
    update_next_expire(ctx, part, &kind, now).await
}

/// Keeps the partition's earliest expiry current: new expiries lower it; a
/// clean-up (or a tree rewritten by truncation) re-reads it from the TTL
/// tree.
async fn update_next_expire(
    ctx: &ShardCtx,
    part: &Partition,
    kind: &WriteKind,
    now: u64,
) -> Result<()> {
    let earliest_new = match kind {
        WriteKind::Batch(batch) => batch
            .iter()
            .filter(|e| e.op == WriteOp::Upsert && e.expire_ts > now)
            .map(|e| e.expire_ts)
            .min(),
        _ => None,
    };
    let version = match &mut *part.state.borrow_mut() {
        PartState::Loaded(l) => {
            if let Some(t) = earliest_new {
                l.next_expire = l.next_expire.min(t);
            }
            if matches!(kind, WriteKind::Batch(_)) {
                return Ok(());
            }
            l.version.clone()
        }
        _ => return Ok(()),
    };
    let reader = PageReader {
        shard: ctx,
        part,
        terms: &version.terms,
        early_writes: false,
    };
    let mut rctx = read_ctx(ctx, &reader, &version);
    let bytewise = crate::format::comparator::BytewiseComparator;
    rctx.cmp = &bytewise;
    let mut cur = rctx.seek(version.ttl_root, b"", true, 1).await?;
    let first = cur
        .next(&rctx)
        .await?
        .and_then(|e| parse_ttl_key(&e.key).map(|(ts, _)| ts));
    if let PartState::Loaded(l) = &mut *part.state.borrow_mut() {
        l.next_expire = first.unwrap_or(u64::MAX);
    }
    Ok(())
}

/// User keys whose expiry has passed, from the TTL tree, in key order.
async fn expired_keys(
    rctx: &ReadCtx<'_, PageReader<'_>>,
    v: &Version,
    now: u64,
) -> Result<Vec<Vec<u8>>> {
    let mut ttl_ctx = rctx.clone();
    let bytewise = crate::format::comparator::BytewiseComparator;
    ttl_ctx.cmp = &bytewise;
    let mut cur = ttl_ctx.seek(v.ttl_root, b"", true, 6).await?;
    let mut keys = Vec::new();
    while let Some(e) = cur.next(&ttl_ctx).await? {
        match parse_ttl_key(&e.key) {
            Some((ts, key)) if ts <= now => keys.push(key.to_vec()),
            Some(_) => break,
            None => {
                return Err(Error::corrupted(
                    "TTL tree entry shorter than its expiry prefix",
                ));
            }
        }
    }
    let cmp = rctx.cmp;
    keys.sort_by(|a, b| cmp.compare(a, b));
    keys.dedup_by(|a, b| cmp.compare(a, b) == Ordering::Equal);
    Ok(keys)
}
