//! Random operation sequences applied to a `BTreeMap` model and to the
//! store, with stops and restarts in between, must agree — for 1 and 3
//! shards, both disk drivers, in-memory stores, and an index cache small
//! enough to force eviction. `check` must find the files clean at the end.

mod common;

use std::collections::BTreeMap;

use common::engine::*;
use eloqstore::internals::io::runtime::Backend;
use eloqstore::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

type Model = BTreeMap<(String, u32), BTreeMap<Vec<u8>, (Vec<u8>, u64, u64)>>;

fn key(i: u32) -> Vec<u8> {
    format!("key-{:06}", i).into_bytes()
}

fn val(rng: &mut StdRng) -> Vec<u8> {
    let len = match rng.random_range(0..40) {
        0 => rng.random_range(4000..30_000),
        1..4 => rng.random_range(500..3000),
        _ => rng.random_range(0..200),
    };
    let b: u8 = rng.random();
    (0..len).map(|i| b.wrapping_add((i % 251) as u8)).collect()
}

#[derive(Default)]
struct Cfg {
    append: bool,
    compression: bool,
    threads: u16,
    backend: Backend,
    memory: bool,
    small_cache: bool,
    /// A cloud store on a local S3 server, with a small local cache that
    /// restarts sometimes wipe.
    cloud: bool,
    seed: u64,
    ops: usize,
}

/// `ELOQSTORE_MODEL_OPS` and `ELOQSTORE_MODEL_SEED` lengthen or vary a
/// run (soak testing); CI uses the defaults below.
fn run(mut cfg: Cfg) {
    if let Some(n) = std::env::var("ELOQSTORE_MODEL_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.ops = n;
    }
    if let Some(s) = std::env::var("ELOQSTORE_MODEL_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        cfg.seed = cfg.seed.wrapping_add(s.wrapping_mul(1000));
    }
    let tmp = tempfile::tempdir().unwrap();
    // KEEP_STORE=1 keeps the store's files for inspection.
    let (_guard, dir) = if std::env::var_os("KEEP_STORE").is_some() {
        let p = tmp.keep();
        eprintln!("store kept at {}", p.display());
        (None, p)
    } else {
        let p = tmp.path().to_path_buf();
        (Some(tmp), p)
    };
    let mut opts = if cfg.memory {
        mem_opts(cfg.threads)
    } else {
        disk_opts(&dir, cfg.threads)
    };
    if cfg.small_cache {
        opts.buffer_pool_size = 4 * opts.data_page_size as u64;
    }
    opts.manifest_limit = 64 * 1024;
    opts.data_append_mode = cfg.append;
    opts.enable_compression = cfg.compression;
    if cfg.append {
        // Small files, so compaction and file GC run often.
        opts.pages_per_file_shift = 5;
    }
    let server = cfg.cloud.then(common::s3::S3Server::start);
    let cache = dir.join("cache");
    if let Some(server) = &server {
        let c = server.options("model", &cache);
        opts.store_path = c.store_path;
        opts.cloud_store_path = c.cloud_store_path;
        opts.cloud_endpoint = c.cloud_endpoint;
        opts.data_append_mode = true;
        opts.pages_per_file_shift = 5;
        // 128 KiB files, 2 MiB of cache for the store: eviction all along.
        opts.local_space_limit = 2 << 20;
        opts.allow_reuse_local_caches = true;
    }
    let store = EloqStore::with_io(opts.clone(), cfg.backend, None).unwrap();
    store.start(0).unwrap();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut model = Model::new();
    let tables = ["alpha", "beta"];
    let far = 4_102_444_800_000u64; // 2100-01-01
    let mut ts = 1u64;
    for op in 0..cfg.ops {
        let t = tables[rng.random_range(0..2)];
        let p = rng.random_range(0..4u32);
        let tbl = TableIdent::new(t, p);
        let part = model.entry((t.to_string(), p)).or_default();
        match rng.random_range(0..100) {
            0..45 => {
                let n = rng.random_range(1..300);
                let mut batch = BTreeMap::new();
                for _ in 0..n {
                    let k = key(rng.random_range(0..2000));
                    ts += 1;
                    let t = if rng.random_range(0..8) == 0 {
                        ts.saturating_sub(rng.random_range(0..30))
                    } else {
                        ts
                    };
                    let e = match rng.random_range(0..10) {
                        0 => WriteDataEntry::delete(k.clone(), t),
                        1 => WriteDataEntry::new(k.clone(), val(&mut rng), t, WriteOp::Upsert, far),
                        2 => WriteDataEntry::new(k.clone(), val(&mut rng), t, WriteOp::Upsert, 1),
                        _ => WriteDataEntry::upsert(k.clone(), val(&mut rng), t),
                    };
                    batch.insert(k, e);
                }
                let batch: Vec<_> = batch.into_values().collect();
                for e in &batch {
                    if let Some(old) = part.get(&e.key)
                        && e.timestamp < old.1
                    {
                        continue;
                    }
                    if e.op == WriteOp::Delete || e.expire_ts == 1 {
                        part.remove(&e.key);
                    } else {
                        part.insert(e.key.clone(), (e.val.clone(), e.timestamp, e.expire_ts));
                    }
                }
                assert_eq!(write(&store, &tbl, batch), KvError::NoError, "op {op}");
            }
            45..50 => {
                let pos = if rng.random_range(0..3) == 0 {
                    Vec::new()
                } else {
                    key(rng.random_range(0..2000))
                };
                if pos.is_empty() {
                    part.clear();
                } else {
                    part.retain(|k, _| *k < pos);
                }
                assert_eq!(truncate(&store, &tbl, &pos), KvError::NoError, "op {op}");
            }
            50..70 => {
                let k = key(rng.random_range(0..2000));
                let got = get(&store, &tbl, &k);
                match part.get(&k) {
                    Some((v, t, e)) => {
                        let got = got.unwrap_or_else(|e| panic!("op {op}: {e}"));
                        assert_eq!(
                            (&got.value, got.timestamp, got.expire_ts),
                            (v, *t, *e),
                            "op {op}"
                        );
                    }
                    None => assert_eq!(got.unwrap_err().code(), KvError::NotFound, "op {op}"),
                }
            }
            70..80 => {
                let k = key(rng.random_range(0..2000));
                let got = floor(&store, &tbl, &k);
                match part.range(..=k.clone()).next_back() {
                    Some((fk, (v, t, e))) => {
                        let got = got.unwrap_or_else(|e| panic!("op {op}: {e}"));
                        assert_eq!(
                            (&got.key, &got.value, got.timestamp, got.expire_ts),
                            (fk, v, *t, *e)
                        );
                    }
                    None => assert_eq!(got.unwrap_err().code(), KvError::NotFound, "op {op}"),
                }
            }
            80..92 => {
                let a = rng.random_range(0..2000);
                let b = a + rng.random_range(0..600);
                let (lo, hi) = (key(a), key(b));
                let s = ScanRequest::new();
                s.set_args(tbl.clone(), lo.clone(), hi.clone(), true);
                s.set_pagination(rng.random_range(0..200), rng.random_range(0..100_000));
                s.set_prefetch_page_num(rng.random_range(0..10));
                let err = store.exec_sync(&s);
                let want: Vec<_> = part.range(lo..hi).collect();
                if err == KvError::NotFound {
                    // Only a partition never written has no manifest.
                    assert!(want.is_empty(), "op {op}");
                    continue;
                }
                assert_eq!(err, KvError::NoError, "op {op}: {}", s.error_message());
                let got = s.entries();
                assert!(got.len() <= want.len());
                for (g, (k, (v, ts, e))) in got.iter().zip(&want) {
                    assert_eq!(
                        (&g.key, &g.value, g.timestamp, g.expire_ts),
                        (*k, v, *ts, *e),
                        "op {op}"
                    );
                }
                assert_eq!(s.has_remaining(), got.len() < want.len(), "op {op}");
            }
            92..95 => {
                let d = DropTableRequest::new();
                d.set_args(t);
                assert_eq!(store.exec_sync(&d), KvError::NoError, "op {op}");
                for ((tn, _), m) in model.iter_mut() {
                    if tn == t {
                        m.clear();
                    }
                }
            }
            _ => {
                store.stop();
                if cfg.memory {
                    // An in-memory store forgets everything.
                    model.clear();
                }
                if cfg.cloud && rng.random_range(0..2) == 0 {
                    // Everything must come back from the bucket.
                    std::fs::remove_dir_all(&cache).unwrap();
                }
                store.start(0).unwrap();
            }
        }
    }
    // Final full comparison, then the files are checked.
    for ((t, p), m) in &model {
        let tbl = TableIdent::new(t.as_str(), *p);
        let got = match scan(&store, &tbl, b"", b"") {
            Ok(g) => g,
            Err(e) if e.code() == KvError::NotFound => Vec::new(),
            Err(e) => panic!("{e}"),
        };
        let want: Vec<_> = m.iter().collect();
        assert_eq!(got.len(), want.len(), "{tbl}");
        for (g, (k, (v, ts, e))) in got.iter().zip(want) {
            assert_eq!(
                (&g.key, &g.value, g.timestamp, g.expire_ts),
                (k, v, *ts, *e)
            );
        }
    }
    store.stop();
    if !cfg.memory {
        check_clean(&opts);
    }
}

#[test]
fn model_one_shard_io_uring() {
    run(Cfg {
        threads: 1,
        backend: Backend::Uring,
        memory: false,
        small_cache: false,
        seed: 1,
        ops: 1500,
        ..Default::default()
    });
}

#[test]
fn model_three_shards_io_uring_small_cache() {
    run(Cfg {
        threads: 3,
        backend: Backend::Uring,
        memory: false,
        small_cache: true,
        seed: 2,
        ops: 1500,
        ..Default::default()
    });
}

#[test]
fn model_one_shard_sync_small_cache() {
    run(Cfg {
        threads: 1,
        backend: Backend::Sync,
        memory: false,
        small_cache: true,
        seed: 3,
        ops: 1500,
        ..Default::default()
    });
}

#[test]
fn model_three_shards_sync() {
    run(Cfg {
        threads: 3,
        backend: Backend::Sync,
        memory: false,
        small_cache: false,
        seed: 4,
        ops: 1500,
        ..Default::default()
    });
}

#[test]
fn model_in_memory() {
    run(Cfg {
        threads: 3,
        backend: Backend::Auto,
        memory: true,
        small_cache: true,
        seed: 5,
        ops: 1500,
        ..Default::default()
    });
}

#[test]
fn model_append_io_uring() {
    run(Cfg {
        append: true,
        threads: 2,
        backend: Backend::Uring,
        seed: 11,
        ops: 1500,
        ..Default::default()
    });
}

#[test]
fn model_append_compression_sync_small_cache() {
    run(Cfg {
        append: true,
        compression: true,
        threads: 1,
        backend: Backend::Sync,
        small_cache: true,
        seed: 12,
        ops: 1500,
        ..Default::default()
    });
}

#[test]
fn model_compression_pooled() {
    run(Cfg {
        compression: true,
        threads: 3,
        backend: Backend::Uring,
        seed: 13,
        ops: 1500,
        ..Default::default()
    });
}

/// Fewer operations than the local runs: each commit makes several
/// requests to the local S3 server (ELOQSTORE_MODEL_OPS lengthens it).
#[test]
fn model_cloud() {
    run(Cfg {
        cloud: true,
        threads: 2,
        backend: Backend::Auto,
        seed: 21,
        ops: 700,
        ..Default::default()
    });
}
