//! How the engine uses the disk: one read per cold point read once the
//! index is cached, readers never waiting for a writer, the manifest kept
//! under `manifest_limit`, O_DIRECT data files and the fd budget.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::engine::*;
use eloqstore::internals::io::fault::{Fault, FaultInjector, IoOpInfo, IoOpKind};
use eloqstore::internals::io::file::FileKind;
use eloqstore::internals::io::runtime::Backend;
use eloqstore::*;

/// Counts data-file reads.
#[derive(Default)]
struct ReadCounter(AtomicUsize);

impl FaultInjector for ReadCounter {
    fn check(&self, op: &IoOpInfo<'_>) -> Option<Fault> {
        if op.kind == IoOpKind::Read && op.file_kind == FileKind::Data {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        None
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

#[test]
fn one_disk_read_per_cold_point_read() {
    for backend in [Backend::Uring, Backend::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let opts = disk_opts(dir.path(), 1);
        let tbl = TableIdent::new("t", 0);
        {
            let s = started(opts.clone());
            for chunk in 0..10 {
                let batch = (chunk * 20_000..(chunk + 1) * 20_000)
                    .map(|i| WriteDataEntry::upsert(key(i), vec![b'v'; 100], 1))
                    .collect();
                assert_eq!(write(&s, &tbl, batch), KvError::NoError);
            }
        }
        let counter = Arc::new(ReadCounter::default());
        // Room for the tree's ~20 index pages and 20 data pages (the data
        // share is half the pool): after the scan below only the last
        // leaves it read are cached, none of those the reads sample.
        let mut opts = opts;
        opts.buffer_pool_size = 40 * 4096;
        let s = EloqStore::with_io(opts, backend, Some(counter.clone())).unwrap();
        s.start(0).unwrap();
        // Warm the index: a scan touches every index page.
        let all = scan(&s, &tbl, b"", b"").unwrap();
        assert_eq!(all.len(), 200_000);
        for i in (0..199_000).step_by(7919) {
            let before = counter.0.load(Ordering::Relaxed);
            assert_eq!(get(&s, &tbl, &key(i)).unwrap().value, vec![b'v'; 100]);
            let reads = counter.0.load(Ordering::Relaxed) - before;
            assert_eq!(
                reads, 1,
                "{backend:?}: a cold point read took {reads} disk reads"
            );
            // The leaf is cached now: reading the key again takes none.
            assert_eq!(get(&s, &tbl, &key(i)).unwrap().value, vec![b'v'; 100]);
            let again = counter.0.load(Ordering::Relaxed) - before - reads;
            assert_eq!(
                again, 0,
                "{backend:?}: a warm point read took {again} disk reads"
            );
        }
        // A miss inside the key range costs one read too, outside none more.
        let before = counter.0.load(Ordering::Relaxed);
        assert_eq!(
            get(&s, &tbl, b"key00000000x").unwrap_err().code(),
            KvError::NotFound
        );
        assert_eq!(counter.0.load(Ordering::Relaxed) - before, 1);
    }
}

#[test]
fn readers_are_not_held_up_by_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let opts = disk_opts(dir.path(), 1);
    let s = started(opts);
    let tbl = TableIdent::new("t", 0);
    let batch: Vec<_> = (0..20_000)
        .map(|i| WriteDataEntry::upsert(key(i), b"old".to_vec(), 1))
        .collect();
    assert_eq!(write(&s, &tbl, batch), KvError::NoError);
    // A large write in flight...
    let big = BatchWriteRequest::new();
    big.set_args(
        tbl.clone(),
        (0..300_000)
            .map(|i| WriteDataEntry::upsert(key(i), vec![b'n'; 200], 2))
            .collect(),
    );
    let order = Arc::new(AtomicUsize::new(0));
    let write_done_at = Arc::new(AtomicUsize::new(usize::MAX));
    {
        let (order, at) = (order.clone(), write_done_at.clone());
        assert!(s.exec_async(&big, 0, move |_| {
            at.store(order.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst)
        }));
    }
    // ...and reads submitted after it, on the same shard.
    let reads: Vec<_> = (0..200u32)
        .map(|i| {
            let r = ReadRequest::new();
            r.set_args(tbl.clone(), key(i * 97));
            let order = order.clone();
            let at = Arc::new(AtomicUsize::new(0));
            let at2 = at.clone();
            assert!(s.exec_async(&r, 0, move |_| {
                at2.store(order.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst)
            }));
            (r, at)
        })
        .collect();
    big.wait();
    assert_eq!(big.error(), KvError::NoError);
    let write_pos = write_done_at.load(Ordering::SeqCst);
    let mut before = 0;
    for (r, at) in &reads {
        r.wait();
        assert_eq!(r.error(), KvError::NoError);
        if at.load(Ordering::SeqCst) < write_pos {
            before += 1;
            // Completed before the commit: the previous version.
            assert_eq!(r.value(), b"old");
        }
    }
    assert!(
        before >= 150,
        "only {before} of 200 reads finished before the write"
    );
    assert_eq!(get(&s, &tbl, &key(5)).unwrap().value, vec![b'n'; 200]);
}

#[test]
fn manifest_stays_under_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = disk_opts(dir.path(), 1);
    opts.manifest_limit = 16 * 1024;
    let s = started(opts.clone());
    let tbl = TableIdent::new("m", 0);
    let manifest = dir.path().join("store/m.0/manifest_0");
    let mut sizes = Vec::new();
    for round in 0..60u32 {
        let batch = (0..50)
            .map(|i| WriteDataEntry::upsert(key(round * 50 + i), b"v".to_vec(), 1))
            .collect();
        assert_eq!(write(&s, &tbl, batch), KvError::NoError);
        let len = std::fs::metadata(&manifest).unwrap().len();
        assert!(len <= opts.manifest_limit as u64, "manifest of {len} bytes");
        sizes.push(len);
    }
    // It grew by log records and was compacted into snapshots.
    assert!(sizes.windows(2).any(|w| w[1] > w[0]));
    assert!(sizes.windows(2).any(|w| w[1] < w[0]));
    s.stop();
    check_clean(&opts);
    s.start(0).unwrap();
    assert_eq!(scan(&s, &tbl, b"", b"").unwrap().len(), 3000);
}

#[test]
fn tiny_fd_budget_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = disk_opts(dir.path(), 2);
    opts.fd_limit = 1;
    opts.pages_per_file_shift = 2;
    let s = started(opts.clone());
    for p in 0..8 {
        let tbl = TableIdent::new("fd", p);
        let batch = (0..3000)
            .map(|i| WriteDataEntry::upsert(key(i), vec![b'x'; 64], 1))
            .collect();
        assert_eq!(write(&s, &tbl, batch), KvError::NoError);
    }
    for p in 0..8 {
        assert_eq!(
            scan(&s, &TableIdent::new("fd", p), b"", b"").unwrap().len(),
            3000
        );
    }
    s.stop();
    check_clean(&opts);
}
