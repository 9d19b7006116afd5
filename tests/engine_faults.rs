//! I/O faults injected through the I/O layer: the affected request fails
//! with the mapped error, the store keeps serving, and after a restart
//! nothing acknowledged is lost and `check` is clean. Both disk drivers.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::engine::*;
use eloqstore::io::fault::{Fault, FaultRule, FaultRules, IoOpKind};
use eloqstore::io::file::FileKind;
use eloqstore::io::runtime::Backend;
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
