//! Cloud faults against a real S3-compatible server: the server killed
//! while commits upload, a server restarted within the retry back-off, a
//! read whose download fails. Every acknowledged write survives and the
//! bucket stays consistent (`check` is clean).
//!
//! Each test runs in a child process of this binary with a short retry
//! schedule (`ELOQSTORE_CLOUD_RETRY`, a test-only knob read when a store is
//! created), so that no other test shares the variable.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::engine::{check_clean, get, write};
use common::s3::S3Server;
use eloqstore::internals::io::cloud::config::RETRY_ENV;
use eloqstore::*;

/// Runs the named test in a child process with `retry` as the schedule;
/// true in the parent (which then returns), false in the child.
fn in_child(name: &str, retry: &str) -> bool {
    if std::env::var_os(RETRY_ENV).is_some() {
        return false;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(RETRY_ENV, retry)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{name} did not run in the child"
    );
    true
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:06}").into_bytes()
}

fn value(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// Batch `b` writes keys `b*10 .. b*10+10` (a batch is all or nothing).
fn batch(b: u32, len: usize) -> Vec<WriteDataEntry> {
    (b * 10..b * 10 + 10)
        .map(|i| WriteDataEntry::upsert(key(i), value(i, len), 1))
        .collect()
}

/// Every acknowledged batch reads back exactly; every failed one is either
/// entirely absent or entirely present (an unacknowledged commit may have
/// reached the bucket).
fn verify(s: &EloqStore, tbl: &TableIdent, acked: &[u32], failed: &[u32], len: usize) {
    for &b in acked {
        for i in b * 10..b * 10 + 10 {
            let e = get(s, tbl, &key(i)).unwrap_or_else(|e| panic!("acknowledged key {i}: {e}"));
            assert_eq!(e.value, value(i, len), "key {i}");
        }
    }
    for &b in failed {
        let present: Vec<bool> = (b * 10..b * 10 + 10)
            .map(|i| match get(s, tbl, &key(i)) {
                Ok(e) => {
                    assert_eq!(e.value, value(i, len));
                    true
                }
                Err(e) => {
                    assert_eq!(e.code(), KvError::NotFound);
                    false
                }
            })
            .collect();
        assert!(
            present.iter().all(|&p| p) || present.iter().all(|&p| !p),
            "batch {b} is half visible"
        );
    }
}

#[test]
fn server_killed_mid_upload_fails_writes_and_loses_nothing_acknowledged() {
    if in_child(
        "server_killed_mid_upload_fails_writes_and_loses_nothing_acknowledged",
        "100,200,2",
    ) {
        return;
    }
    let mut server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let opts = server.options("kill", cache.path());
    let tbl = TableIdent::new("t0", 0);
    let len = 64 << 10;
    let s = Arc::new(EloqStore::new(opts.clone()).unwrap());
    s.start(0).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, t, acked, failed, stop) = (
            s.clone(),
            tbl.clone(),
            acked.clone(),
            failed.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let mut b = 0;
            let mut errors = 0;
            while !stop.load(Ordering::Acquire) && errors < 3 {
                match write(&s, &t, batch(b, len)) {
                    KvError::NoError => acked.lock().unwrap().push(b),
                    e => {
                        assert!(
                            e == KvError::CloudErr || e == KvError::Timeout,
                            "batch {b}: {e:?}"
                        );
                        failed.lock().unwrap().push(b);
                        errors += 1;
                    }
                }
                b += 1;
            }
        })
    };
    // Kill the server while commits are uploading.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 20 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    writer.join().unwrap();
    stop.store(true, Ordering::Release);
    let (acked, failed) = (
        acked.lock().unwrap().clone(),
        failed.lock().unwrap().clone(),
    );
    assert_eq!(
        failed.len(),
        3,
        "every write fails while the server is down"
    );
    // The failed errors say why.
    let e = write(&s, &tbl, batch(10_000, 10));
    assert_eq!(e, KvError::CloudErr);
    s.stop();
    server.restart();
    let _ = std::fs::remove_dir_all(cache.path());
    let s = EloqStore::new(opts.clone()).unwrap();
    s.start(0).unwrap();
    verify(&s, &tbl, &acked, &failed, len);
    // And it takes writes again.
    assert_eq!(write(&s, &tbl, batch(20_000, len)), KvError::NoError);
    s.stop();
    check_clean(&opts);
}

#[test]
fn a_server_back_within_the_backoff_lets_the_write_succeed() {
    if in_child(
        "a_server_back_within_the_backoff_lets_the_write_succeed",
        "1500,3000,4",
    ) {
        return;
    }
    let mut server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let opts = server.options("retry", cache.path());
    let tbl = TableIdent::new("t0", 0);
    let len = 4096;
    let s = Arc::new(EloqStore::new(opts.clone()).unwrap());
    s.start(0).unwrap();
    let mut acked = Vec::new();
    for b in 0..5 {
        assert_eq!(write(&s, &tbl, batch(b, len)), KvError::NoError);
        acked.push(b);
    }
    server.kill();
    let w = {
        let (s, t) = (s.clone(), tbl.clone());
        std::thread::spawn(move || write(&s, &t, batch(5, len)))
    };
    std::thread::sleep(Duration::from_millis(400));
    server.restart();
    assert_eq!(
        w.join().unwrap(),
        KvError::NoError,
        "retried until the server was back"
    );
    acked.push(5);
    s.stop();
    let _ = std::fs::remove_dir_all(cache.path());
    let s = EloqStore::new(opts.clone()).unwrap();
    s.start(0).unwrap();
    verify(&s, &tbl, &acked, &[], len);
    s.stop();
    check_clean(&opts);
}

#[test]
fn a_failed_download_reports_the_cloud_error() {
    if in_child("a_failed_download_reports_the_cloud_error", "50,100,1") {
        return;
    }
    let mut server = S3Server::start();
    let cache = tempfile::tempdir().unwrap();
    let opts = server.options("dl", cache.path());
    let tbl = TableIdent::new("t0", 0);
    let mut model = BTreeMap::new();
    {
        let s = EloqStore::new(opts.clone()).unwrap();
        s.start(0).unwrap();
        for b in 0..60 {
            assert_eq!(write(&s, &tbl, batch(b, 8192)), KvError::NoError);
            for e in batch(b, 8192) {
                model.insert(e.key, e.val);
            }
        }
        s.stop();
    }
    let _ = std::fs::remove_dir_all(cache.path());
    let s = EloqStore::new(opts.clone()).unwrap();
    s.start(0).unwrap();
    // The manifest and the index are loaded (the first key's file and
    // the newest one), then the server goes away: reading a data file that
    // is not cached fails with the cloud's code, not IoFail.
    let (k, v) = model.iter().next().unwrap();
    assert_eq!(&get(&s, &tbl, k).unwrap().value, v);
    server.kill();
    let last = &key(300);
    assert!(model.contains_key(last));
    let e = get(&s, &tbl, last).unwrap_err();
    assert_eq!(e.code(), KvError::CloudErr, "{e}");
    assert!(e.message().contains("cannot be reached"), "{e}");
    server.restart();
    let e = get(&s, &tbl, last).unwrap();
    assert_eq!(&e.value, &model[last]);
}
