//! I/O faults injected through the I/O layer: the affected request fails
//! with the mapped error, the store keeps serving, and after a restart
//! nothing acknowledged is lost and `check` is clean. Both disk drivers.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::engine::*;
use eloqstore::internals::io::fault::{
    Fault, FaultInjector, FaultRule, FaultRules, IoOpInfo, IoOpKind,
};
use eloqstore::internals::io::file::FileKind;
use eloqstore::internals::io::runtime::Backend;
use eloqstore::*;

struct Fixture {
    _dir: tempfile::TempDir,
    opts: KvOptions,
    faults: Arc<FaultRules>,
    store: EloqStore,
    backend: Backend,
    /// What every acknowledged write left.
    model: BTreeMap<Vec<u8>, Vec<u8>>,
    ts: u64,
}

const TBL: &str = "f";

impl Fixture {
    fn new(backend: Backend) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = disk_opts(dir.path(), 1);
        opts.buffer_pool_size = 8 * 4096;
        let faults = Arc::new(FaultRules::default());
        let store = EloqStore::with_io(opts.clone(), backend, Some(faults.clone())).unwrap();
        store.start(0).unwrap();
        Fixture {
            _dir: dir,
            opts,
            faults,
            store,
            backend,
            model: BTreeMap::new(),
            ts: 0,
        }
    }

    fn tbl(&self) -> TableIdent {
        TableIdent::new(TBL, 0)
    }

    /// Attempts a batch and returns it with the outcome.
    fn attempt(&mut self, n: usize, big: bool) -> (KvError, Vec<WriteDataEntry>) {
        self.ts += 1;
        let ts = self.ts;
        let mut batch: BTreeMap<Vec<u8>, WriteDataEntry> = BTreeMap::new();
        for i in 0..n {
            let key = format!("key{:05}", (ts as usize * 37 + i * 13) % 3000).into_bytes();
            let len = if big && i == 0 { 20_000 } else { 50 };
            batch.insert(
                key.clone(),
                WriteDataEntry::upsert(key, vec![(ts % 251) as u8; len], ts),
            );
        }
        let batch: Vec<_> = batch.into_values().collect();
        (write(&self.store, &self.tbl(), batch.clone()), batch)
    }

    fn apply(&mut self, batch: Vec<WriteDataEntry>) {
        for e in batch {
            self.model.insert(e.key, e.val);
        }
    }

    /// Writes a batch; records it in the model when acknowledged.
    fn write(&mut self, n: usize, big: bool) -> KvError {
        let (err, batch) = self.attempt(n, big);
        if err == KvError::NoError {
            self.apply(batch);
        }
        err
    }

    fn verify(&self) {
        let got = scan(&self.store, &self.tbl(), b"", b"").unwrap();
        let want: Vec<_> = self.model.iter().collect();
        assert_eq!(got.len(), want.len());
        for (g, (k, v)) in got.iter().zip(want) {
            assert_eq!((&g.key, &g.value), (k, v));
        }
    }

    fn restart(&mut self) {
        self.store.stop();
        check_clean(&self.opts);
        self.store =
            EloqStore::with_io(self.opts.clone(), self.backend, Some(self.faults.clone())).unwrap();
        self.store.start(0).unwrap();
    }
}

fn for_backends(f: impl Fn(Backend)) {
    for b in [Backend::Uring, Backend::Sync] {
        f(b);
    }
}

#[test]
fn read_errors() {
    for_backends(|b| {
        let mut fx = Fixture::new(b);
        for _ in 0..20 {
            assert_eq!(fx.write(200, true), KvError::NoError);
        }
        fx.restart();
        fx.faults
            .push(FaultRule::always(IoOpKind::Read, Fault::Errno(libc::EIO)));
        let err = get(&fx.store, &fx.tbl(), b"key00001").unwrap_err();
        assert_eq!(err.code(), KvError::IoFail, "{err}");
        assert_eq!(
            scan(&fx.store, &fx.tbl(), b"", b"").unwrap_err().code(),
            KvError::IoFail
        );
        fx.faults.clear();
        fx.faults
            .push(FaultRule::once(IoOpKind::Read, Fault::ShortRead(100)));
        fx.verify();
        fx.faults.clear();
        fx.verify();
    });
}

/// A failure before the manifest write: the batch fails and is absent.
fn clean_failure(b: Backend, rule: FaultRule, expect: KvError) {
    let mut fx = Fixture::new(b);
    for _ in 0..10 {
        assert_eq!(fx.write(100, true), KvError::NoError);
    }
    fx.faults.push(rule);
    assert_eq!(fx.write(100, true), expect);
    fx.faults.clear();
    fx.verify();
    for _ in 0..10 {
        assert_eq!(fx.write(100, true), KvError::NoError);
    }
    fx.verify();
    fx.restart();
    fx.verify();
}

#[test]
fn data_write_errors() {
    for_backends(|b| {
        let data = |fault| FaultRule {
            file_kind: Some(FileKind::Data),
            ..FaultRule::once(IoOpKind::Write, fault)
        };
        clean_failure(b, data(Fault::Errno(libc::EIO)), KvError::IoFail);
        clean_failure(b, data(Fault::Errno(libc::ENOSPC)), KvError::OutOfSpace);
        let sync = |fault| FaultRule {
            file_kind: Some(FileKind::Data),
            ..FaultRule::once(IoOpKind::Sync, fault)
        };
        clean_failure(b, sync(Fault::Errno(libc::EIO)), KvError::IoFail);
        clean_failure(b, sync(Fault::Errno(libc::ENOSPC)), KvError::OutOfSpace);
    });
}

#[test]
fn manifest_write_errors() {
    for_backends(|b| {
        for (op, fault, expect) in [
            (IoOpKind::Write, Fault::Errno(libc::EIO), KvError::IoFail),
            (
                IoOpKind::Write,
                Fault::Errno(libc::ENOSPC),
                KvError::OutOfSpace,
            ),
            (IoOpKind::Sync, Fault::Errno(libc::EIO), KvError::IoFail),
        ] {
            let mut fx = Fixture::new(b);
            for _ in 0..10 {
                assert_eq!(fx.write(100, false), KvError::NoError);
            }
            fx.faults.push(FaultRule {
                file_kind: Some(FileKind::Manifest),
                ..FaultRule::once(op, fault)
            });
            let (err, batch) = fx.attempt(100, false);
            assert_eq!(err, expect);
            fx.faults.clear();
            // A failed sync may have left the record on disk: the batch is
            // then entirely present (verify compares everything), never
            // partly.
            let got = scan(&fx.store, &fx.tbl(), b"", b"").unwrap();
            if got.iter().any(|e| e.timestamp == fx.ts) {
                assert_eq!(
                    op,
                    IoOpKind::Sync,
                    "a failed manifest write must not apply the batch"
                );
                fx.apply(batch);
            }
            fx.verify();
            for _ in 0..5 {
                assert_eq!(fx.write(100, false), KvError::NoError);
            }
            fx.verify();
            fx.restart();
            fx.verify();
        }
    });
}

#[test]
fn short_writes_complete() {
    for_backends(|b| {
        let mut fx = Fixture::new(b);
        fx.faults.push(FaultRule {
            skip: 3,
            times: 50,
            ..FaultRule::always(IoOpKind::Write, Fault::ShortWrite(4096))
        });
        for _ in 0..20 {
            assert_eq!(fx.write(300, true), KvError::NoError);
        }
        assert!(fx.faults.fired() > 0);
        fx.faults.clear();
        fx.verify();
        fx.restart();
        fx.verify();
    });
}

#[test]
fn persistent_failure_then_recovery() {
    for_backends(|b| {
        let mut fx = Fixture::new(b);
        assert_eq!(fx.write(100, false), KvError::NoError);
        fx.faults.push(FaultRule::always(
            IoOpKind::Write,
            Fault::Errno(libc::ENOSPC),
        ));
        for _ in 0..5 {
            assert_eq!(fx.write(100, false), KvError::OutOfSpace);
            // Reads keep working while writes fail.
            fx.verify();
        }
        fx.faults.clear();
        for _ in 0..5 {
            assert_eq!(fx.write(100, true), KvError::NoError);
        }
        fx.restart();
        fx.verify();
    });
}

impl Fixture {
    /// A fixture whose options `tune` adjusts first.
    fn with(backend: Backend, tune: impl FnOnce(&mut KvOptions)) -> Fixture {
        let mut fx = Fixture::new(backend);
        fx.store.stop();
        tune(&mut fx.opts);
        fx.store = EloqStore::with_io(fx.opts.clone(), backend, Some(fx.faults.clone())).unwrap();
        fx.store.start(0).unwrap();
        fx
    }

    /// Whether any entry of the last attempted batch is visible.
    fn last_batch_visible(&self) -> bool {
        let got = scan(&self.store, &self.tbl(), b"", b"").unwrap();
        got.iter().any(|e| e.timestamp == self.ts)
    }
}

/// Every commit a snapshot: a manifest limit below two records.
fn snapshots_only(o: &mut KvOptions) {
    o.manifest_limit = 4096;
}

/// The manifest switch of a snapshot commit fails (the rename of the
/// temporary file): the old manifest stays, so the batch is absent; the
/// store keeps serving and a restart (leftover temporary file included)
/// reads exactly what was acknowledged.
#[test]
fn snapshot_rename_failure() {
    for_backends(|b| {
        let mut fx = Fixture::with(b, snapshots_only);
        for _ in 0..10 {
            assert_eq!(fx.write(100, true), KvError::NoError);
        }
        fx.faults.push(FaultRule {
            file_kind: Some(FileKind::Manifest),
            path_contains: Some("manifest".into()),
            ..FaultRule::once(IoOpKind::Rename, Fault::Errno(libc::EIO))
        });
        assert_eq!(fx.write(100, true), KvError::IoFail);
        assert_eq!(fx.faults.fired(), 1);
        fx.faults.clear();
        assert!(
            !fx.last_batch_visible(),
            "a failed rename applied the batch"
        );
        fx.verify();
        fx.restart();
        fx.verify();
        for _ in 0..5 {
            assert_eq!(fx.write(100, true), KvError::NoError);
        }
        fx.verify();
        fx.restart();
        fx.verify();
    });
}

/// The directory sync after a commit created a data file fails: the
/// commit fails before its manifest record, so the batch is absent.
#[test]
fn commit_dir_sync_failure() {
    for_backends(|b| {
        // Four pages per data file: every commit here starts a new file.
        let mut fx = Fixture::with(b, |o| o.pages_per_file_shift = 2);
        for _ in 0..10 {
            assert_eq!(fx.write(100, true), KvError::NoError);
        }
        let files_before = data_file_count(&fx);
        fx.faults
            .push(FaultRule::once(IoOpKind::SyncDir, Fault::Errno(libc::EIO)));
        assert_eq!(fx.write(100, true), KvError::IoFail);
        assert_eq!(fx.faults.fired(), 1);
        assert!(data_file_count(&fx) > files_before, "no data file created");
        fx.faults.clear();
        assert!(!fx.last_batch_visible());
        fx.verify();
        for _ in 0..5 {
            assert_eq!(fx.write(100, true), KvError::NoError);
        }
        fx.verify();
        fx.restart();
        fx.verify();
    });
}

fn data_file_count(fx: &Fixture) -> usize {
    let dir = std::path::Path::new(&fx.opts.store_path[0]).join("f.0");
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("data_"))
        .count()
}

/// The directory sync after a snapshot's rename fails: the commit fails,
/// but the new manifest is in place, so the batch is entirely present
/// (never partly) and nothing acknowledged is lost.
#[test]
fn snapshot_dir_sync_failure() {
    for_backends(|b| {
        let mut fx = Fixture::with(b, snapshots_only);
        for _ in 0..10 {
            assert_eq!(fx.write(100, false), KvError::NoError);
        }
        fx.faults
            .push(FaultRule::once(IoOpKind::SyncDir, Fault::Errno(libc::EIO)));
        let (err, batch) = fx.attempt(100, false);
        assert_eq!(err, KvError::IoFail);
        assert_eq!(fx.faults.fired(), 1);
        fx.faults.clear();
        assert!(
            fx.last_batch_visible(),
            "the renamed snapshot holds the batch"
        );
        fx.apply(batch);
        fx.verify();
        for _ in 0..5 {
            assert_eq!(fx.write(100, false), KvError::NoError);
        }
        fx.verify();
        fx.restart();
        fx.verify();
    });
}

/// Records the paths of the unlinks it fails.
struct UnlinkRecorder {
    rules: Arc<FaultRules>,
    failed: std::sync::Mutex<Vec<std::path::PathBuf>>,
}

impl FaultInjector for UnlinkRecorder {
    fn check(&self, op: &IoOpInfo<'_>) -> Option<Fault> {
        let f = self.rules.check(op);
        if f.is_some() && op.kind == IoOpKind::Unlink {
            self.failed.lock().unwrap().push(op.file.to_path_buf());
        }
        f
    }
}

/// Append-mode file GC whose unlinks fail: the compaction reports the
/// error, nothing is lost, and once the disk recovers a later GC deletes
/// exactly the files whose deletion failed.
#[test]
fn gc_unlink_failure() {
    for_backends(|b| {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = disk_opts(dir.path(), 1);
        opts.data_append_mode = true;
        opts.pages_per_file_shift = 4; // 64 KiB files: many of them
        let rules = Arc::new(FaultRules::default());
        let rec = Arc::new(UnlinkRecorder {
            rules: rules.clone(),
            failed: Default::default(),
        });
        let store = EloqStore::with_io(opts.clone(), b, Some(rec.clone())).unwrap();
        store.start(0).unwrap();
        let tbl = TableIdent::new("gc", 0);
        let batch = |round: u64| -> Vec<WriteDataEntry> {
            (0..4000u32)
                .map(|i| {
                    WriteDataEntry::upsert(
                        format!("k{i:06}").into_bytes(),
                        vec![(round % 251) as u8; 100],
                        round,
                    )
                })
                .collect()
        };
        let compact = |s: &EloqStore| {
            let c = CompactRequest::new();
            c.set_table_id(tbl.clone());
            s.exec_sync(&c)
        };
        assert_eq!(write(&store, &tbl, batch(1)), KvError::NoError);
        rules.push(FaultRule {
            file_kind: Some(FileKind::Data),
            ..FaultRule::always(IoOpKind::Unlink, Fault::Errno(libc::EIO))
        });
        let mut reported = 0;
        for round in 2..=6 {
            assert_eq!(write(&store, &tbl, batch(round)), KvError::NoError);
            match compact(&store) {
                KvError::NoError => {}
                e => {
                    assert_eq!(e, KvError::IoFail);
                    reported += 1;
                }
            }
        }
        assert!(reported > 0, "no compaction reported the failed unlinks");
        let failed: std::collections::BTreeSet<_> =
            rec.failed.lock().unwrap().iter().cloned().collect();
        assert!(!failed.is_empty());
        assert!(failed.iter().all(|p| p.exists()));
        let check_all = |s: &EloqStore, round: u64| {
            let got = scan(s, &tbl, b"", b"").unwrap();
            assert_eq!(got.len(), 4000);
            assert!(
                got.iter()
                    .all(|e| e.timestamp == round && e.value[0] == round as u8)
            );
        };
        check_all(&store, 6);
        // The disk recovers: the next GC deletes what could not be deleted.
        rules.clear();
        assert_eq!(compact(&store), KvError::NoError);
        let left: Vec<_> = failed.iter().filter(|p| p.exists()).collect();
        assert!(left.is_empty(), "not deleted by a later GC: {left:?}");
        check_all(&store, 6);
        store.stop();
        check_clean(&opts);
        let store = EloqStore::with_io(opts.clone(), b, None).unwrap();
        store.start(0).unwrap();
        check_all(&store, 6);
    });
}

/// A file-system operation held back on the blocking pool (the rename of
/// a partition's first snapshot) does not stall its shard: requests of
/// another partition on the same shard complete meanwhile. Were the rename
/// run on the shard thread, they would wait for it (up to the stall's 60 s
/// limit) and find the held write finished.
#[test]
fn stalled_rename_does_not_block_the_shard() {
    for_backends(|b| {
        let mut fx = Fixture::new(b);
        for _ in 0..3 {
            assert_eq!(fx.write(50, false), KvError::NoError);
        }
        let other = TableIdent::new(TBL, 1);
        fx.faults.push(FaultRule {
            path_contains: Some(format!("/{}", other.dir_name().to_string_lossy())),
            ..FaultRule::once(IoOpKind::Rename, Fault::Stall)
        });
        let held = BatchWriteRequest::new();
        held.set_args(
            other.clone(),
            vec![WriteDataEntry::upsert(b"held".to_vec(), b"v".to_vec(), 1)],
        );
        assert!(fx.store.exec_async_no_callback(&held));
        assert!(
            fx.faults
                .wait_stalled(1, std::time::Duration::from_secs(60))
        );
        // The shard serves reads and writes of its other partition.
        fx.verify();
        assert_eq!(fx.write(50, false), KvError::NoError);
        fx.verify();
        assert!(!held.is_done(), "the held write finished early");
        fx.faults.release_stalled();
        held.wait();
        assert_eq!(held.error(), KvError::NoError);
        assert_eq!(get(&fx.store, &other, b"held").unwrap().value, b"v");
        fx.restart();
        fx.verify();
        assert_eq!(get(&fx.store, &other, b"held").unwrap().value, b"v");
    });
}

/// A temporary manifest left by an interrupted snapshot switch, longer
/// than the next snapshot and full of valid older records, is rewritten
/// from its start: none of its stale records survive behind the new one
/// (they would replay an older state after the restart).
#[test]
fn leftover_temporary_manifest_is_truncated() {
    for_backends(|b| {
        let mut fx = Fixture::with(b, snapshots_only);
        for _ in 0..3 {
            assert_eq!(fx.write(100, true), KvError::NoError);
        }
        let dir = std::path::Path::new(&fx.opts.store_path[0]).join("f.0");
        let manifest = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("manifest_")
            })
            .expect("a manifest");
        let old = std::fs::read(&manifest).unwrap();
        let mut tmp = manifest.clone().into_os_string();
        tmp.push(".tmp");
        std::fs::write(&tmp, old.repeat(16)).unwrap();
        // One snapshot commit renames the leftover over the manifest.
        assert_eq!(fx.write(100, true), KvError::NoError);
        let now = std::fs::read(&manifest).unwrap();
        assert!(
            now.len() < old.len() * 16,
            "stale tail kept: {} bytes",
            now.len()
        );
        fx.verify();
        fx.restart();
        fx.verify();
    });
}

/// A batch of large values writes its overflow pages ahead of the commit,
/// a few MiB at a time. Those pages are reachable only once the commit's
/// manifest record is durable: a write failing after some went out leaves
/// the batch absent, and later batches (reusing those file pages) and a
/// restart read exactly.
#[test]
fn overflow_pages_written_ahead_of_a_failed_commit() {
    for_backends(|b| {
        let mut fx = Fixture::new(b);
        // 300 values of 5 pages each: 1,500 overflow pages, more than one
        // early write (4 runs of `max_write_batch_pages`, 1,024 pages).
        let big = |fx: &mut Fixture, fill: u8| -> (KvError, Vec<WriteDataEntry>) {
            fx.ts += 1;
            let batch: Vec<_> = (0..300)
                .map(|i| {
                    let key = format!("big{i:04}").into_bytes();
                    WriteDataEntry::upsert(key, vec![fill; 20_000], fx.ts)
                })
                .collect();
            (write(&fx.store, &fx.tbl(), batch.clone()), batch)
        };
        let (err, batch) = big(&mut fx, 1);
        assert_eq!(err, KvError::NoError);
        fx.apply(batch);
        fx.verify();
        fx.faults.push(FaultRule {
            file_kind: Some(FileKind::Data),
            skip: 4,
            ..FaultRule::once(IoOpKind::Write, Fault::Errno(libc::EIO))
        });
        let (err, _) = big(&mut fx, 2);
        assert_eq!(err, KvError::IoFail);
        assert_eq!(fx.faults.fired(), 1);
        fx.faults.clear();
        fx.verify();
        let (err, batch) = big(&mut fx, 3);
        assert_eq!(err, KvError::NoError);
        fx.apply(batch);
        fx.verify();
        fx.restart();
        fx.verify();
    });
}
