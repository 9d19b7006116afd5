//! The cloud tier end to end against a real S3-compatible server (s3s-fs,
//! started by each test): uploads, reads after the local cache is wiped,
//! eviction, prewarm, terms, GC, archives, listings, faults.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::engine::{get, put, scan, truncate, write};
use common::s3::S3Server;
use eloqstore::*;

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u32, round: u32, len: usize) -> Vec<u8> {
    let mut v = format!("v{i}-{round}-").into_bytes();
    while v.len() < len {
        v.push(b'a' + ((i as usize + v.len() + round as usize) % 26) as u8);
    }
    v
}

fn start(opts: &KvOptions, term: u64) -> EloqStore {
    let s = EloqStore::new(opts.clone()).unwrap();
    s.start(term)
        .unwrap_or_else(|e| panic!("start(term {term}): {e}"));
    s
}

/// Writes keys `from..to` (one batch per 100) and records them in `model`.
fn write_range(
    s: &EloqStore,
    tbl: &TableIdent,
    from: u32,
    to: u32,
    round: u32,
    len: usize,
    model: &mut BTreeMap<Vec<u8>, Vec<u8>>,
) {
    let mut i = from;
    while i < to {
        let end = (i + 100).min(to);
        let batch: Vec<WriteDataEntry> = (i..end)
            .map(|k| WriteDataEntry::upsert(key(k), value(k, round, len), round as u64 + 1))
            .collect();
        for e in &batch {
            model.insert(e.key.clone(), e.val.clone());
        }
        assert_eq!(write(s, tbl, batch), KvError::NoError);
        i = end;
    }
}

/// Every key of the model reads back exactly, and a scan returns exactly
/// the model.
fn verify(s: &EloqStore, tbl: &TableIdent, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    for (k, v) in model.iter().step_by(7) {
        let e = get(s, tbl, k)
            .unwrap_or_else(|e| panic!("{tbl} {:?}: {e}", String::from_utf8_lossy(k)));
        assert_eq!(&e.value, v);
    }
    let all = scan(s, tbl, b"", b"").unwrap();
    assert_eq!(all.len(), model.len(), "{tbl}: scan length");
    for (e, (k, v)) in all.iter().zip(model) {
        assert_eq!((&e.key, &e.value), (k, v));
    }
}

/// A new model of keys `from..to`, written as [`write_range`] does.
fn written(
    s: &EloqStore,
    tbl: &TableIdent,
    from: u32,
    to: u32,
    round: u32,
    len: usize,
) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = BTreeMap::new();
    write_range(s, tbl, from, to, round, len, &mut model);
    model
}

fn wipe(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

/// A test's own S3 server and local cache, and the options of a store
/// under the bucket prefix `prefix` caching there (tests adjust `opts`).
struct Cloud {
    server: S3Server,
    cache: tempfile::TempDir,
    prefix: String,
    opts: KvOptions,
}

impl Cloud {
    fn new(prefix: &str) -> Cloud {
        let server = S3Server::start();
        let cache = tempfile::tempdir().unwrap();
        let opts = server.options(prefix, cache.path());
        Cloud {
            server,
            cache,
            prefix: prefix.to_owned(),
            opts,
        }
    }

    fn cache(&self) -> &Path {
        self.cache.path()
    }

    /// A store over `opts`, started with `term`.
    fn start(&self, term: u64) -> EloqStore {
        start(&self.opts, term)
    }

    fn wipe_cache(&self) {
        wipe(self.cache());
    }

    /// Keys of the objects under `prefix/under` (relative to it).
    fn keys(&self, under: &str) -> Vec<String> {
        self.server.keys(&self.object_key(under))
    }

    /// The file holding the object `prefix/key`.
    fn object_path(&self, key: &str) -> std::path::PathBuf {
        self.server.object_path(&self.object_key(key))
    }

    fn object(&self, key: &str) -> Vec<u8> {
        std::fs::read(self.object_path(key)).unwrap_or_else(|e| panic!("{key}: {e}"))
    }

    fn object_len(&self, key: &str) -> u64 {
        std::fs::metadata(self.object_path(key))
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .len()
    }

    /// Bytes of every object under the prefix.
    fn bucket_bytes(&self) -> u64 {
        self.keys("").iter().map(|k| self.object_len(k)).sum()
    }

    fn object_key(&self, key: &str) -> String {
        if key.is_empty() {
            self.prefix.clone()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }
}

#[test]
fn upload_then_read_with_the_cache_wiped() {
    let f = Cloud::new("up");
    let tbl = TableIdent::new("t0", 0);
    let mut model;
    let uploaded;
    {
        let s = f.start(0);
        model = written(&s, &tbl, 0, 2000, 0, 300);
        verify(&s, &tbl, &model);
        uploaded = s.cloud_traffic().unwrap().0;
        s.stop();
    }
    let keys = f.keys("");
    // Every object went up at least once (appended data files and the
    // manifest more than once).
    let bucket_bytes = f.bucket_bytes();
    assert!(uploaded >= bucket_bytes, "{uploaded} < {bucket_bytes}");
    assert!(keys.contains(&"t0.0/manifest_0".to_string()), "{keys:?}");
    assert!(keys.contains(&"t0.0/CURRENT_TERM".to_string()), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("t0.0/data_")), "{keys:?}");
    assert_eq!(f.object("t0.0/CURRENT_TERM"), b"0");
    // Every byte of the bucket equals the local file it came from.
    for k in keys.iter().filter(|k| !k.ends_with("CURRENT_TERM")) {
        let local = std::fs::read(f.cache().join(k));
        if let Ok(local) = local {
            assert!(local == f.object(k), "{k}: local and bucket copies differ");
        }
    }
    f.wipe_cache();
    let s = f.start(0);
    verify(&s, &tbl, &model);
    // Reads from a cold cache download and upload nothing.
    let (up, down) = s.cloud_traffic().unwrap();
    assert_eq!(up, 0);
    let manifest = f.object_len("t0.0/manifest_0");
    assert!(down > manifest, "{down} <= {manifest}");
    write_range(&s, &tbl, 1000, 2500, 1, 300, &mut model);
    verify(&s, &tbl, &model);
    s.stop();
    f.wipe_cache();
    let s = f.start(0);
    verify(&s, &tbl, &model);
}

#[test]
fn a_nonempty_cache_needs_reuse() {
    let f = Cloud::new("reuse");
    let tbl = TableIdent::new("t0", 0);
    let s = f.start(0);
    let model = written(&s, &tbl, 0, 500, 0, 100);
    s.stop();
    let e = EloqStore::new(f.opts.clone())
        .unwrap()
        .start(0)
        .unwrap_err();
    assert_eq!(e.code(), KvError::InvalidArgs);
    assert!(e.message().contains("allow_reuse_local_caches"), "{e}");
    let mut reuse = f.opts.clone();
    reuse.allow_reuse_local_caches = true;
    let s = start(&reuse, 0);
    verify(&s, &tbl, &model);
    s.stop();
    // A temporary file left behind is refused, as upstream.
    std::fs::write(f.cache().join("t0.0/manifest_0.tmp"), b"x").unwrap();
    let e = EloqStore::new(reuse.clone()).unwrap().start(0).unwrap_err();
    assert_eq!(e.code(), KvError::InvalidArgs);
    assert!(e.message().contains("temporary"), "{e}");
}

#[test]
fn truncate_leaves_only_the_term_file() {
    let f = Cloud::new("gc");
    let tbl = TableIdent::new("t0", 0);
    let s = f.start(0);
    for round in 0..2 {
        written(&s, &tbl, 0, 100, round, 1000);
        assert_eq!(truncate(&s, &tbl, b""), KvError::NoError);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let keys = f.keys("");
            if keys == vec!["t0.0/CURRENT_TERM".to_string()] {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "round {round}: {keys:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(scan(&s, &tbl, b"", b"").unwrap().len(), 0);
    }
    let _ = put;
}

/// Real bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            n += if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            };
        }
    }
    n
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn eviction_under_a_small_budget_keeps_reads_exact() {
    let mut f = Cloud::new("evict");
    // Ten 1 MiB data files' worth of cache (upstream's "cloud reopen waits
    // on evicting cached file").
    f.opts.local_space_limit = 10 << 20;
    let tbl = TableIdent::new("t0", 0);
    let s = std::sync::Arc::new(f.start(0));
    let mut model = written(&s, &tbl, 0, 200, 0, 32 << 10);
    let first = model
        .first_key_value()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    // A reader reopening the oldest file while writes evict it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, st2, t2) = (s.clone(), stop.clone(), tbl.clone());
    let reader = std::thread::spawn(move || {
        let mut reads = 0;
        while !st2.load(std::sync::atomic::Ordering::Acquire) {
            let e = get(&s2, &t2, &first.0).expect("a read while files are evicted");
            assert_eq!(e.value, first.1);
            reads += 1;
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        reads
    });
    for round in 0..4 {
        write_range(
            &s,
            &tbl,
            200 + round * 500,
            700 + round * 500,
            1,
            32 << 10,
            &mut model,
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Release);
    let reads = reader.join().unwrap();
    assert!(reads > 0);
    verify(&s, &tbl, &model);
    // 70 MB went to the bucket; the cache stayed near its budget (files in
    // use at that moment may be on top).
    let bucket = f.bucket_bytes();
    assert!(bucket > 60 << 20, "bucket holds {bucket} bytes");
    let local = dir_size(f.cache());
    assert!(local <= (10 << 20) + (2 << 20), "cache holds {local} bytes");
    s.stop();
}

fn count_data_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("data_"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn prewarm_fills_the_cache_within_budget_and_filter() {
    let mut f = Cloud::new("prewarm");
    f.opts.num_threads = 2;
    let mut models = Vec::new();
    {
        let s = f.start(0);
        for p in 0..3 {
            let tbl = TableIdent::new("t0", p);
            let m = written(&s, &tbl, 0, 1500, 0, 3000);
            models.push((tbl, m));
        }
        s.stop();
    }
    let bucket_data = |p: u32| {
        f.keys(&format!("t0.{p}"))
            .iter()
            .filter(|k| k.starts_with("data_"))
            .count()
    };
    assert!(bucket_data(0) >= 4);
    // Filter: partitions 0 and 1 only; a budget holding everything.
    f.wipe_cache();
    let mut o = f.opts.clone();
    o.prewarm_cloud_cache = true;
    o.partition_filter = Some(std::sync::Arc::new(|t: &TableIdent| t.partition_id < 2));
    let s = start(&o, 0);
    wait_until("prewarm", 30, || s.prewarm_finished());
    for p in 0..2 {
        let dir = f.cache().join(format!("t0.{p}"));
        assert_eq!(count_data_files(&dir), bucket_data(p), "t0.{p}");
        assert!(dir.join("manifest_0").exists());
    }
    assert!(
        !f.cache().join("t0.2").exists(),
        "a filtered-out partition is never touched"
    );
    for (tbl, m) in &models {
        verify(&s, tbl, m);
    }
    s.stop();

    // A budget of 5 data files on one shard: prewarm stops there.
    f.wipe_cache();
    let mut o = f.opts.clone();
    o.num_threads = 1;
    o.prewarm_cloud_cache = true;
    o.local_space_limit = 5 << 20;
    let s = start(&o, 0);
    wait_until("prewarm", 30, || s.prewarm_finished());
    let local = dir_size(f.cache());
    assert!(local <= 5 << 20, "prewarm went over the budget: {local}");
    let fetched: usize = (0..3)
        .map(|p| count_data_files(&f.cache().join(format!("t0.{p}"))))
        .sum();
    assert!(
        fetched >= 1 && local >= 1 << 20,
        "prewarm fetched too little: {local}"
    );
    // Reads download what prewarm left out, evicting as they go.
    for (tbl, m) in &models {
        verify(&s, tbl, m);
    }
}

/// A client of the test's bucket (for moving and deleting objects as
/// upstream's tests do, with CopyObject and DeleteObject).
fn bucket_client(
    server: &S3Server,
    prefix: &str,
) -> std::sync::Arc<eloqstore::internals::io::cloud::CloudService> {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = eloqstore::internals::io::cloud::CloudConfig::from_options(
        &server.options(prefix, tmp.path()),
    )
    .unwrap();
    eloqstore::internals::io::cloud::CloudService::new(cfg).unwrap()
}

fn move_object(svc: &eloqstore::internals::io::cloud::CloudService, from: &str, to: &str) {
    let c = svc.client().clone();
    let (f, t) = (from.to_owned(), to.to_owned());
    svc.block_on(async move {
        c.copy(&f, &t).await?;
        c.delete(&f).await
    })
    .unwrap_or_else(|e| panic!("moving {from} to {to}: {}", e.error));
}

fn list_request(s: &EloqStore, path: &str, recursive: bool) -> (usize, Vec<CloudObjectInfo>) {
    let mut pages = 0;
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let r = ListObjectRequest::new();
        r.set_remote_path(path);
        r.set_recursive(recursive);
        r.set_continuation_token(token.clone());
        assert_eq!(s.exec_sync(&r), KvError::NoError, "{}", r.error_message());
        pages += 1;
        assert_eq!(r.objects().len(), r.details().len());
        all.extend(r.details());
        if !r.has_more_results() {
            return (pages, all);
        }
        token = r.next_continuation_token();
    }
}

#[test]
fn list_objects_with_continuation_over_thousands_of_files_and_prewarm_them() {
    let mut f = Cloud::new("many");
    // Two pages per data file: 2,400 values of 3 KB make 1,200+ files.
    f.opts.pages_per_file_shift = 1;
    f.opts.fd_limit = 1000;
    let tbl = TableIdent::new("t0", 0);
    let s = f.start(0);
    let model = written(&s, &tbl, 0, 2400, 0, 3000);
    // Background compaction and GC (of files holding only replaced index
    // pages) end before the bucket is compared with the listing.
    let c = CompactRequest::new();
    c.set_table_id(tbl.clone());
    assert_eq!(s.exec_sync(&c), KvError::NoError);
    let keys = f.keys("t0.0");
    assert!(keys.len() > 1200, "{} objects", keys.len());
    let (pages, listed) = list_request(&s, "t0.0", false);
    assert!(pages >= 2, "{} objects in {pages} page(s)", listed.len());
    let mut names: Vec<String> = listed.iter().map(|d| d.name.clone()).collect();
    names.sort();
    let missing: Vec<&String> = keys.iter().filter(|k| !names.contains(k)).collect();
    let extra: Vec<&String> = names.iter().filter(|k| !keys.contains(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && names.len() == keys.len(),
        "listed {} of {}: missing {missing:?}, extra {extra:?}",
        names.len(),
        keys.len()
    );
    for d in &listed {
        assert!(!d.is_dir);
        assert_eq!(d.path, d.name);
        let len = f.object_len(&format!("t0.0/{}", d.name));
        assert_eq!(d.size, len, "{}", d.name);
        assert!(d.mod_time.ends_with('Z'), "{}", d.mod_time);
    }
    // The root, non-recursive: the partition as a directory.
    let (_, root) = list_request(&s, "", false);
    assert_eq!(root.len(), 1);
    assert!(root[0].is_dir && root[0].name == "t0.0" && root[0].size == 0);
    // Recursive from the root: paths include the partition.
    let (_, rec) = list_request(&s, "/", true);
    assert_eq!(rec.len(), keys.len());
    assert!(rec.iter().all(|d| d.path == format!("t0.0/{}", d.name)));
    s.stop();

    // Prewarm fetches every one of them (two or more listing pages).
    f.wipe_cache();
    let mut o = f.opts.clone();
    o.prewarm_cloud_cache = true;
    o.prewarm_task_count = 4;
    let s = start(&o, 0);
    wait_until("prewarm", 120, || s.prewarm_finished());
    let bucket_data = keys.iter().filter(|k| k.starts_with("data_")).count();
    assert_eq!(count_data_files(&f.cache().join("t0.0")), bucket_data);
    verify(&s, &tbl, &model);

    // ListObject outside cloud mode is refused.
    let local = tempfile::tempdir().unwrap();
    let l = start(&common::engine::disk_opts(local.path(), 1), 0);
    let r = ListObjectRequest::new();
    assert_eq!(l.exec_sync(&r), KvError::InvalidArgs);
}

#[test]
fn archives_restore_and_global_archive() {
    let mut f = Cloud::new("arch");
    f.opts.num_retained_archives = 1;
    f.opts.archive_interval_secs = 0;
    f.opts.file_amplify_factor = 2;
    let tbl = TableIdent::new("t0", 0);
    let s = f.start(0);
    let archived = written(&s, &tbl, 0, 600, 0, 2000);
    let a = ArchiveRequest::new();
    a.set_table_id(tbl.clone());
    assert_eq!(s.exec_sync(&a), KvError::NoError, "{}", a.error_message());
    let archive = f
        .keys("t0.0")
        .into_iter()
        .find(|k| k.starts_with("manifest_0_"))
        .expect("an archive object");
    // Overwrite everything twice and add more: compaction and GC run, and
    // must keep what the archive references.
    let mut latest = archived.clone();
    write_range(&s, &tbl, 0, 600, 1, 2000, &mut latest);
    write_range(&s, &tbl, 0, 900, 2, 2000, &mut latest);
    let c = CompactRequest::new();
    c.set_table_id(tbl.clone());
    assert_eq!(s.exec_sync(&c), KvError::NoError);
    verify(&s, &tbl, &latest);
    s.stop();

    // Roll back: the archive becomes manifest_0 (upstream's test moves
    // objects the same way), the cache is wiped.
    let svc = bucket_client(&f.server, &f.prefix);
    move_object(&svc, "t0.0/manifest_0", "t0.0/manifest_0_1");
    move_object(&svc, &format!("t0.0/{archive}"), "t0.0/manifest_0");
    f.wipe_cache();
    let s = f.start(0);
    verify(&s, &tbl, &archived);
    s.stop();
    // And forward again.
    move_object(&svc, "t0.0/manifest_0", &format!("t0.0/{archive}"));
    move_object(&svc, "t0.0/manifest_0_1", "t0.0/manifest_0");
    f.wipe_cache();
    let s = f.start(0);
    verify(&s, &tbl, &latest);
    s.stop();

    // GlobalArchive over partitions that exist only in the bucket, with
    // the filter: exactly the accepted ones get an archive with the
    // given timestamp.
    let mut o = f.opts.clone();
    o.num_threads = 2;
    f.wipe_cache();
    {
        let s = start(&o, 0);
        for p in 1..5 {
            written(&s, &TableIdent::new("t0", p), 0, 50, 0, 100);
        }
        s.stop();
    }
    f.wipe_cache();
    o.partition_filter = Some(std::sync::Arc::new(|t: &TableIdent| {
        t.partition_id == 1 || t.partition_id == 4
    }));
    let s = start(&o, 0);
    let g = GlobalArchiveRequest::new();
    g.set_snapshot_timestamp(987654321);
    assert_eq!(s.exec_sync(&g), KvError::NoError, "{}", g.error_message());
    for p in 0..5 {
        let has = f
            .keys(&format!("t0.{p}"))
            .contains(&"manifest_0_987654321".to_string());
        assert_eq!(has, p == 1 || p == 4, "t0.{p}");
    }
}

#[test]
fn drop_table_clears_every_partition_in_the_bucket() {
    let mut f = Cloud::new("drop");
    f.opts.num_threads = 2;
    for round in 0..3 {
        let s = f.start(0);
        for p in 0..3 {
            let tbl = TableIdent::new("t1", p);
            let m = written(&s, &tbl, 0, 16, round, 50);
            verify(&s, &tbl, &m);
        }
        s.stop();
        // From a cold cache: the partitions are found in the bucket.
        f.wipe_cache();
        let s = f.start(0);
        let d = DropTableRequest::new();
        d.set_args("t1");
        assert_eq!(s.exec_sync(&d), KvError::NoError, "{}", d.error_message());
        for p in 0..3 {
            let tbl = TableIdent::new("t1", p);
            assert_eq!(scan(&s, &tbl, b"", b"").unwrap().len(), 0);
            assert_eq!(
                get(&s, &tbl, &key(1)).unwrap_err().code(),
                KvError::NotFound
            );
        }
        s.stop();
        f.wipe_cache();
    }
}

fn read_code(s: &EloqStore, tbl: &TableIdent, i: u32) -> KvError {
    match get(s, tbl, &key(i)) {
        Ok(_) => KvError::NoError,
        Err(e) => e.code(),
    }
}

/// Upstream's tests/cloud_term.cpp, with one deliberate difference: a
/// restarted older term that still finds its manifest reads its own
/// lineage (as upstream), but its writes fail with ExpiredTerm (write
/// fencing; upstream acknowledges them although no newer owner will ever
/// see them).
#[test]
fn terms_promote_expire_and_fence() {
    let f = Cloud::new("term");
    let tbl = TableIdent::new("t0", 0);
    let mut model = BTreeMap::new();
    let run = |term: u64, body: &mut dyn FnMut(&EloqStore)| {
        f.wipe_cache();
        let s = f.start(term);
        assert_eq!(s.term(), term);
        body(&s);
        s.stop();
    };
    // Upstream's value size: 100 values fill several 1 MiB files, so no
    // compaction (and no GC of manifest_1) runs in this sequence.
    run(1, &mut |s| {
        write_range(s, &tbl, 0, 100, 0, 40960, &mut model)
    });
    assert_eq!(f.object("t0.0/CURRENT_TERM"), b"1");
    run(5, &mut |s| {
        verify(s, &tbl, &model);
        write_range(s, &tbl, 100, 200, 0, 40960, &mut model);
    });
    let keys = f.keys("t0.0");
    assert!(
        keys.contains(&"manifest_5".to_string()),
        "promoted: {keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.starts_with("data_") && k.ends_with("_5")),
        "{keys:?}"
    );
    assert_eq!(f.object("t0.0/CURRENT_TERM"), b"5");
    // An older term without a manifest of its own is refused.
    run(3, &mut |s| {
        assert_eq!(read_code(s, &tbl, 50), KvError::ExpiredTerm)
    });
    // Term 1 still has manifest_1: it reads its own (older) state ...
    run(1, &mut |s| {
        assert_eq!(read_code(s, &tbl, 50), KvError::NoError);
        assert_eq!(read_code(s, &tbl, 150), KvError::NotFound);
        // ... but may not write: CURRENT_TERM is 5.
        let batch = vec![WriteDataEntry::upsert(key(450), b"x".to_vec(), 9)];
        assert_eq!(write(s, &tbl, batch), KvError::ExpiredTerm);
    });
    run(7, &mut |s| {
        verify(s, &tbl, &model);
        assert_eq!(read_code(s, &tbl, 450), KvError::NotFound);
    });
    assert_eq!(f.object("t0.0/CURRENT_TERM"), b"7");
}

#[test]
fn a_newer_owner_fences_the_running_older_one() {
    // Two stores on one bucket prefix, each with its own cache: A is the
    // fixture's, B caches in `cb`.
    let f = Cloud::new("fence");
    let cb = tempfile::tempdir().unwrap();
    let b_opts = f.server.options(&f.prefix, cb.path());
    let tbl = TableIdent::new("t0", 0);
    let a = f.start(1);
    let mut model = written(&a, &tbl, 0, 100, 0, 100);
    // B takes the partition over with term 2 (its first access).
    let b = start(&b_opts, 2);
    verify(&b, &tbl, &model);
    // A's next writes fail, and nothing of them becomes visible to B.
    for i in 0..3 {
        let batch = vec![WriteDataEntry::upsert(key(1000 + i), b"stale".to_vec(), 9)];
        assert_eq!(write(&a, &tbl, batch), KvError::ExpiredTerm);
    }
    let t = TruncateRequest::new();
    t.set_args(tbl.clone(), Vec::new());
    assert_eq!(a.exec_sync(&t), KvError::ExpiredTerm);
    assert_eq!(read_code(&b, &tbl, 1000), KvError::NotFound);
    write_range(&b, &tbl, 100, 150, 0, 100, &mut model);
    verify(&b, &tbl, &model);
    b.stop();
    a.stop();
    wipe(cb.path());
    let b = start(&b_opts, 2);
    verify(&b, &tbl, &model);
}

#[test]
fn files_without_a_manifest_are_cloud_no_manifest() {
    let f = Cloud::new("nomani");
    let s = f.start(0);
    for p in 0..3 {
        written(&s, &TableIdent::new("t0", p), 0, 100, 0, 100);
    }
    let a = ArchiveRequest::new();
    a.set_table_id(TableIdent::new("t0", 1));
    assert_eq!(s.exec_sync(&a), KvError::NoError);
    s.stop();
    // t0.0: data files only; t0.1: data files and an archive; t0.2: only
    // CURRENT_TERM left.
    for p in 0..3 {
        for k in f.keys(&format!("t0.{p}")) {
            let drop = k == "manifest_0" || (p == 2 && k.starts_with("data_"));
            if drop {
                std::fs::remove_file(f.object_path(&format!("t0.{p}/{k}"))).unwrap();
            }
        }
    }
    f.wipe_cache();
    let s = f.start(0);
    for p in 0..2 {
        let e = get(&s, &TableIdent::new("t0", p), &key(1)).unwrap_err();
        assert_eq!(e.code(), KvError::CloudNoManifest, "t0.{p}: {e}");
    }
    // An object named like a manifest that is not one: Corrupted
    // (upstream aborts the process).
    let t3 = TableIdent::new("t0", 3);
    let odd = f.object_path("t0.3/manifest_x");
    std::fs::create_dir_all(odd.parent().unwrap()).unwrap();
    std::fs::write(&odd, b"?").unwrap();
    assert_eq!(read_code(&s, &t3, 1), KvError::Corrupted);
    // An empty prefix is a new, empty partition.
    let t2 = TableIdent::new("t0", 2);
    assert_eq!(read_code(&s, &t2, 1), KvError::NotFound);
    let m = written(&s, &t2, 0, 10, 1, 10);
    verify(&s, &t2, &m);
}

#[test]
fn wrong_credentials_fail_start_clearly() {
    let f = Cloud::new("creds");
    let mut opts = f.opts.clone();
    opts.cloud_secret_key = "wrong".into();
    let e = EloqStore::new(opts.clone()).unwrap().start(0).unwrap_err();
    assert_eq!(e.code(), KvError::CloudErr, "{e}");
    assert!(
        e.message().contains("403") && e.message().contains("cloud_secret_key"),
        "{e}"
    );
    opts.cloud_access_key = "nobody".into();
    let e = EloqStore::new(opts).unwrap().start(0).unwrap_err();
    assert_eq!(e.code(), KvError::CloudErr, "{e}");
}

#[test]
fn invalid_cloud_options_are_refused() {
    let fx = Cloud::new("opts");
    let opts = &fx.opts;
    for (what, f) in [
        (
            "colon",
            Box::new(|o: &mut KvOptions| o.cloud_store_path = "remote:b".into())
                as Box<dyn Fn(&mut KvOptions)>,
        ),
        (
            "bucket",
            Box::new(|o: &mut KvOptions| o.cloud_store_path = "/".into()),
        ),
        (
            "store_path",
            Box::new(|o: &mut KvOptions| o.store_path.clear()),
        ),
        (
            "upload",
            Box::new(|o: &mut KvOptions| o.max_upload_batch = o.max_cloud_concurrency),
        ),
    ] {
        let mut o = opts.clone();
        f(&mut o);
        let e = EloqStore::new(o).unwrap_err();
        assert_eq!(e.code(), KvError::InvalidArgs, "{what}: {e}");
    }
    // Cloud mode is append mode.
    let mut o = opts.clone();
    o.data_append_mode = false;
    assert!(EloqStore::new(o).unwrap().options().data_append_mode);
    // A table name that cannot be an object key.
    let s = fx.start(0);
    let bad = TableIdent::new(vec![0xffu8, 0xfe], 0);
    let e = write(
        &s,
        &bad,
        vec![WriteDataEntry::upsert(b"k".to_vec(), b"v".to_vec(), 1)],
    );
    assert_eq!(e, KvError::InvalidArgs);
}

#[test]
fn a_bucket_seeded_with_cpp_fixture_files_reads_exactly() {
    let server = S3Server::start();
    for fx in common::fixtures() {
        let name = common::name(&fx);
        let prefix = format!("fixtures/{name}");
        let local = common::options_at(&fx, &fx);
        // The C++ engine's files, under upstream's object names.
        for root in &local.store_path {
            for part in std::fs::read_dir(root).unwrap().flatten() {
                let dst = server
                    .root()
                    .join(common::s3::BUCKET)
                    .join(&prefix)
                    .join(part.file_name());
                std::fs::create_dir_all(&dst).unwrap();
                for f in std::fs::read_dir(part.path()).unwrap().flatten() {
                    std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
                }
            }
        }
        let cache = tempfile::tempdir().unwrap();
        let mut opts = local.clone();
        let cloud = server.options(&prefix, cache.path());
        opts.store_path = cloud.store_path.clone();
        opts.cloud_store_path = cloud.cloud_store_path.clone();
        opts.cloud_endpoint = cloud.cloud_endpoint.clone();
        opts.num_retained_archives = 0;
        let s = start(&opts, 0);
        let want = common::stored_content(&fx);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        for (tbl, entries) in &want {
            let live: Vec<&KvEntry> = entries
                .values()
                .filter(|e| e.expire_ts == 0 || e.expire_ts > now)
                .collect();
            let got = scan(&s, tbl, b"", b"").unwrap_or_else(|e| panic!("{name} {tbl}: {e}"));
            assert_eq!(got.len(), live.len(), "{name} {tbl}");
            for (g, w) in got.iter().zip(live) {
                assert_eq!(g, w, "{name} {tbl}");
            }
        }
        s.stop();
        // Nothing was written to the bucket by reading it (Start(0) on a
        // seeded bucket never creates CURRENT_TERM).
        assert!(
            !server
                .keys(&prefix)
                .iter()
                .any(|k| k.ends_with("CURRENT_TERM")),
            "{name}"
        );
    }
}

fn eloqstore_tool(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eloqstore"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cloud_ini(server: &S3Server, prefix: &str, cache: &Path, extra_run: &str) -> String {
    format!(
        "[run]\nnum_threads = 2\nlocal_space_limit = 209715200\n{extra_run}\n[permanent]\nstore_path = {}\ncloud_store_path = eloqstore/{prefix}\ncloud_endpoint = {}\ncloud_access_key = minioadmin\ncloud_secret_key = minioadmin\ndata_page_size = 4KB\ndata_file_size = 1MB\ndata_append_mode = true\n",
        cache.display(),
        server.endpoint()
    )
}

#[test]
fn tools_read_a_cloud_store_from_its_ini_and_bench_runs_against_one() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let ini = dir.path().join("cloud.ini");
    std::fs::write(&ini, cloud_ini(&server, "tools", &cache, "")).unwrap();
    let opts = KvOptions::from_ini_file(&ini).unwrap();
    let mut models = Vec::new();
    {
        let s = start(&opts, 0);
        for p in 0..2 {
            let tbl = TableIdent::new("t0", p);
            let m = written(&s, &tbl, 0, 300, 0, 500);
            models.push((tbl, m));
        }
        s.stop();
    }
    let before: Vec<(String, Vec<u8>)> = server
        .keys("tools")
        .into_iter()
        .map(|k| {
            let b = std::fs::read(server.object_path(&format!("tools/{k}"))).unwrap();
            (k, b)
        })
        .collect();
    let o = format!("--options={}", ini.display());
    let (ok, out, err) = eloqstore_tool(&["check", &o]);
    assert!(ok, "check: {out}{err}");
    assert!(out.contains("clean: 2 manifests checked"), "{out}");
    let (ok, out, err) = eloqstore_tool(&["scan", &o, "--table=t0", "--partition=1"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), models[1].1.len());
    for (line, (k, v)) in lines.iter().zip(&models[1].1) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!((f[0], f[1]), ("t0", "1"));
        assert_eq!(f[2], inspect::hex(k));
        assert_eq!(f[3], inspect::hex(v));
    }
    let (ok, out, err) = eloqstore_tool(&[
        "get",
        &o,
        "--table=t0",
        "--partition=0",
        &format!("--key={}", inspect::hex(&key(7))),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(&inspect::hex(&models[0].1[&key(7)])), "{out}");
    let (ok, out, err) = eloqstore_tool(&["manifest", &o, "--table=t0", "--partition=0"]);
    assert!(ok, "{err}");
    assert!(out.contains("manifest term:   0"), "{out}");
    // The tools never wrote to the bucket, nor touched the cache.
    let after: Vec<(String, Vec<u8>)> = server
        .keys("tools")
        .into_iter()
        .map(|k| {
            let b = std::fs::read(server.object_path(&format!("tools/{k}"))).unwrap();
            (k, b)
        })
        .collect();
    assert!(before == after, "the bucket changed");

    // bench against the cloud store (a fresh prefix and cache).
    let bench_cache = dir.path().join("bench-cache");
    let bench_ini = dir.path().join("bench.ini");
    std::fs::write(&bench_ini, cloud_ini(&server, "bench", &bench_cache, "")).unwrap();
    let b = format!("--kvoptions={}", bench_ini.display());
    let (ok, out, err) = eloqstore_tool(&[
        "bench",
        &b,
        "--load",
        "--kv_size=256",
        "--batch_size=500",
        "--max_key=4000",
        "--partitions=2",
        "--json",
    ]);
    assert!(ok, "bench: {out}{err}");
    let json = out.lines().last().unwrap();
    assert!(json.contains("\"write\""), "{out}");
    assert!(server.keys("bench").iter().any(|k| k.contains("/data_")));
    // It reports the bytes the load uploaded: at least the keys and values.
    let up: u64 = json
        .split("\"uploaded_bytes\":")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no uploaded_bytes in {json}"));
    assert!(up >= 4000 * 256, "{json}");
}

/// A host program running its own tokio runtime can start and stop a cloud
/// store from inside it (the store's HTTP runtime is separate and is not
/// dropped in a way tokio forbids there).
#[test]
fn a_cloud_store_inside_a_host_tokio_runtime() {
    let f = Cloud::new("host-tokio");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let tbl = TableIdent::new("t0", 0);
        let s = f.start(0);
        let model = written(&s, &tbl, 0, 50, 0, 100);
        verify(&s, &tbl, &model);
        s.stop();
        drop(s);
    });
}

/// Data files over 16 MiB go up as multipart uploads; the bucket holds
/// exactly the local bytes and a cold cache reads them back.
#[test]
fn big_data_files_upload_in_parts() {
    let mut f = Cloud::new("big");
    f.opts.pages_per_file_shift = 13; // 32 MiB data files
    let tbl = TableIdent::new("t0", 0);
    let s = f.start(0);
    let mut model = written(&s, &tbl, 0, 300, 0, 64 << 10);
    write_range(&s, &tbl, 300, 600, 0, 64 << 10, &mut model);
    s.stop();
    let data: Vec<String> = f
        .keys("t0.0")
        .into_iter()
        .filter(|k| k.starts_with("data_"))
        .collect();
    assert!(!data.is_empty());
    for k in &data {
        let remote = f.object(&format!("t0.0/{k}"));
        assert_eq!(remote.len(), 32 << 20, "{k} uploaded whole");
        let local = std::fs::read(f.cache().join("t0.0").join(k)).unwrap();
        assert!(remote == local, "{k}: bucket and cache differ");
    }
    f.wipe_cache();
    let s = f.start(0);
    verify(&s, &tbl, &model);
}
