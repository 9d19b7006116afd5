//! Readers and writers at once on one shard. Each write round rewrites a
//! seventh of the keys with the round number, so versions share most pages.
//! Long scans (one leaf per read) keep old versions alive while newer ones
//! commit and reuse freed file pages; a page reused while an older version
//! still needs it shows up as missing, repeated or foreign keys, a value
//! not matching its timestamp, or a checksum error. Every scan must also be
//! one consistent version: no key newer than the newest round it saw.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::engine::*;
use eloqstore::*;

const KEYS: u32 = 6000;

/// Round `r` rewrites one contiguous seventh of the keys, so most leaves
/// are shared between consecutive versions.
fn rewrites(round: u64, i: u32) -> bool {
    (i / (KEYS / 7 + 1)) as u64 == round % 7
}

fn round_batch(round: u64) -> Vec<WriteDataEntry> {
    (0..KEYS)
        .filter(|&i| round == 1 || rewrites(round, i))
        .map(|i| {
            let mut v = round.to_le_bytes().to_vec();
            v.resize(40 + (i as usize * 7) % 90, b'x');
            WriteDataEntry::upsert(format!("k{i:06}").into_bytes(), v, round)
        })
        .collect()
}

fn run(opts: KvOptions, secs: u64) {
    let store = Arc::new(started(opts.clone()));
    let tbl = TableIdent::new("c", 0);
    assert_eq!(write(&store, &tbl, round_batch(1)), KvError::NoError);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(1));
    let scans = Arc::new(AtomicU64::new(0));
    let writer = {
        let (store, tbl, stop, rounds) = (store.clone(), tbl.clone(), stop.clone(), rounds.clone());
        std::thread::spawn(move || {
            let mut r = 1;
            while !stop.load(Ordering::Relaxed) {
                r += 1;
                assert_eq!(write(&store, &tbl, round_batch(r)), KvError::NoError);
                rounds.store(r, Ordering::SeqCst);
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|t| {
            let (store, tbl, stop, rounds, scans) = (
                store.clone(),
                tbl.clone(),
                stop.clone(),
                rounds.clone(),
                scans.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let before = rounds.load(Ordering::SeqCst);
                    let s = ScanRequest::new();
                    s.set_args(tbl.clone(), Vec::new(), Vec::new(), true);
                    s.set_prefetch_page_num(1);
                    assert_eq!(
                        store.exec_sync(&s),
                        KvError::NoError,
                        "reader {t}: {}",
                        s.error_message()
                    );
                    let entries = s.entries();
                    assert_eq!(entries.len(), KEYS as usize, "reader {t}: incomplete scan");
                    let newest = entries.iter().map(|e| e.timestamp).max().unwrap();
                    assert!(
                        newest >= before,
                        "reader {t}: scan older than a committed round"
                    );
                    for (i, e) in entries.iter().enumerate() {
                        assert_eq!(
                            e.key,
                            format!("k{i:06}").into_bytes(),
                            "reader {t}: keys out of place"
                        );
                        assert_eq!(
                            &e.value[..8],
                            &e.timestamp.to_le_bytes(),
                            "reader {t}: foreign value"
                        );
                        // The last round that wrote this key, as of `newest`.
                        let want = (2..=newest)
                            .rev()
                            .find(|&r| rewrites(r, i as u32))
                            .unwrap_or(1);
                        assert_eq!(
                            e.timestamp, want,
                            "reader {t}: key {i} not of the scan's version"
                        );
                    }
                    scans.fetch_add(1, Ordering::Relaxed);
                    // Point reads beside the scans.
                    let r = ReadRequest::new();
                    r.set_args(tbl.clone(), b"k000123".to_vec());
                    assert_eq!(store.exec_sync(&r), KvError::NoError);
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    let (r, s) = (rounds.load(Ordering::SeqCst), scans.load(Ordering::SeqCst));
    assert!(
        r > 10 && s > 10,
        "too little concurrency: {r} rounds, {s} scans"
    );
    println!("{r} write rounds, {s} consistent scans");
    store.stop();
    if !opts.store_path.is_empty() {
        check_clean(&opts);
    }
}

#[test]
fn scans_beside_rewrites_pooled() {
    let dir = tempfile::tempdir().unwrap();
    run(disk_opts(dir.path(), 1), 3);
}

#[test]
fn scans_beside_rewrites_in_memory() {
    run(mem_opts(1), 2);
}
