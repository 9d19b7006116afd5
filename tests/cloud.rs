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

fn wipe(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn upload_then_read_with_the_cache_wiped() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let opts = server.options("up", cache.path());
    let tbl = TableIdent::new("t0", 0);
    let mut model = BTreeMap::new();
    {
        let s = start(&opts, 0);
        write_range(&s, &tbl, 0, 2000, 0, 300, &mut model);
        verify(&s, &tbl, &model);
        s.stop();
    }
    let keys = server.keys("up");
    assert!(keys.contains(&"t0.0/manifest_0".to_string()), "{keys:?}");
    assert!(keys.contains(&"t0.0/CURRENT_TERM".to_string()), "{keys:?}");
    assert!(keys.iter().any(|k| k.starts_with("t0.0/data_")), "{keys:?}");
    assert_eq!(
        std::fs::read(server.object_path("up/t0.0/CURRENT_TERM")).unwrap(),
        b"0"
    );
    // Every byte of the bucket equals the local file it came from.
    for k in keys.iter().filter(|k| !k.ends_with("CURRENT_TERM")) {
        let local = std::fs::read(cache.path().join(k));
        if let Ok(local) = local {
            let remote = std::fs::read(server.object_path(&format!("up/{k}"))).unwrap();
            assert!(local == remote, "{k}: local and bucket copies differ");
        }
    }
    wipe(cache.path());
    let s = start(&opts, 0);
    verify(&s, &tbl, &model);
    write_range(&s, &tbl, 1000, 2500, 1, 300, &mut model);
    verify(&s, &tbl, &model);
    s.stop();
    wipe(cache.path());
    let s = start(&opts, 0);
    verify(&s, &tbl, &model);
}

#[test]
fn a_nonempty_cache_needs_reuse() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let opts = server.options("reuse", cache.path());
    let tbl = TableIdent::new("t0", 0);
    let mut model = BTreeMap::new();
    let s = start(&opts, 0);
    write_range(&s, &tbl, 0, 500, 0, 100, &mut model);
    s.stop();
    let e = EloqStore::new(opts.clone()).unwrap().start(0).unwrap_err();
    assert_eq!(e.code(), KvError::InvalidArgs);
    assert!(e.message().contains("allow_reuse_local_caches"), "{e}");
    let mut reuse = opts.clone();
    reuse.allow_reuse_local_caches = true;
    let s = start(&reuse, 0);
    verify(&s, &tbl, &model);
    s.stop();
    // A temporary file left behind is refused, as upstream.
    std::fs::write(cache.path().join("t0.0/manifest_0.tmp"), b"x").unwrap();
    let e = EloqStore::new(reuse.clone()).unwrap().start(0).unwrap_err();
    assert_eq!(e.code(), KvError::InvalidArgs);
    assert!(e.message().contains("temporary"), "{e}");
}

#[test]
fn truncate_leaves_only_the_term_file() {
    let server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let opts = server.options("gc", cache.path());
    let tbl = TableIdent::new("t0", 0);
    let s = start(&opts, 0);
    for round in 0..2 {
        let mut model = BTreeMap::new();
        write_range(&s, &tbl, 0, 100, round, 1000, &mut model);
        assert_eq!(truncate(&s, &tbl, b""), KvError::NoError);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let keys = server.keys("gc");
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
