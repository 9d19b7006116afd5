//! Append mode: compaction keeps space bounded, file GC never deletes a
//! file a reader still uses, compression round-trips across toggles, and
//! expired entries are cleaned from the trees in the background.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::engine::*;
use eloqstore::inspect::{ManifestChoice, StoreReader};
use eloqstore::internals::format::names::{PartitionFile, classify};
use eloqstore::*;

fn append_opts(dir: &Path, shift: u8) -> KvOptions {
    let mut o = disk_opts(dir, 1);
    o.data_append_mode = true;
    o.pages_per_file_shift = shift;
    o
}

fn data_files(dir: &Path) -> BTreeSet<u64> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| match e.file_name().to_str().and_then(classify) {
                    Some(PartitionFile::Data { file_id, .. }) => Some(file_id),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

fn data_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            matches!(
                e.file_name().to_str().and_then(classify),
                Some(PartitionFile::Data { .. })
            )
        })
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// Live bytes: mapped pages of the durable manifest times the page size.
fn live_bytes(opts: &KvOptions, tbl: &TableIdent) -> u64 {
    let r = StoreReader::new(opts.clone()).unwrap();
    let p = r.open_partition(tbl, &ManifestChoice::Current).unwrap();
    let mapped = p
        .mapping()
        .iter()
        .filter(|&v| {
            eloqstore::internals::format::manifest::mapping_value::as_file_page(v).is_some()
        })
        .count();
    mapped as u64 * opts.data_page_size as u64
}

fn compact(s: &EloqStore, tbl: &TableIdent) {
    let c = CompactRequest::new();
    c.set_table_id(tbl.clone());
    assert_eq!(s.exec_sync(&c), KvError::NoError, "{}", c.error_message());
}

#[test]
fn overwrites_keep_space_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let opts = append_opts(dir.path(), 6); // 256 KiB files
    let s = started(opts.clone());
    let tbl = TableIdent::new("space", 0);
    let pdir = dir.path().join("store/space.0");
    let factor = opts.file_amplify_factor as u64;
    let mut max_file = 0;
    let mut deleted = 0usize;
    let mut seen = BTreeSet::new();
    for round in 1..=30u64 {
        let batch: Vec<_> = (0..20_000u32)
            .map(|i| {
                WriteDataEntry::upsert(
                    format!("k{i:07}").into_bytes(),
                    vec![(round % 251) as u8; 120],
                    round,
                )
            })
            .collect();
        assert_eq!(write(&s, &tbl, batch), KvError::NoError);
        compact(&s, &tbl);
        let files = data_files(&pdir);
        deleted += seen.difference(&files).count();
        seen = files.clone();
        max_file = max_file.max(*files.last().unwrap());
        let (disk, live) = (data_bytes(&pdir), live_bytes(&opts, &tbl));
        assert!(
            disk <= (factor + 1) * live,
            "round {round}: {disk} bytes of data files for {live} live bytes"
        );
    }
    assert!(deleted > 50, "only {deleted} data files were collected");
    println!(
        "files up to {max_file} written, {deleted} deleted, {} kept",
        seen.len()
    );
    assert_eq!(scan(&s, &tbl, b"", b"").unwrap().len(), 20_000);
    s.stop();
    check_clean(&opts);
}

#[test]
fn background_compaction_runs_without_requests() {
    let dir = tempfile::tempdir().unwrap();
    let opts = append_opts(dir.path(), 6);
    let s = started(opts.clone());
    let tbl = TableIdent::new("bg", 0);
    let pdir = dir.path().join("store/bg.0");
    let mut peak = 0;
    for round in 1..=30u64 {
        let batch: Vec<_> = (0..20_000u32)
            .map(|i| WriteDataEntry::upsert(format!("k{i:07}").into_bytes(), vec![1; 120], round))
            .collect();
        assert_eq!(write(&s, &tbl, batch), KvError::NoError);
        peak = peak.max(data_files(&pdir).len());
    }
    // A read after the writes lets the last queued compaction finish first.
    assert_eq!(scan(&s, &tbl, b"", b"").unwrap().len(), 20_000);
    let files = data_files(&pdir);
    assert!(*files.first().unwrap() > 0, "no file was ever collected");
    assert!(files.len() < 60, "{} files kept (peak {peak})", files.len());
    s.stop();
    check_clean(&opts);
}

/// Scans run while writes make garbage and compaction collects files; a
/// file deleted while a scan's version needs it would fail the scan.
#[test]
fn gc_never_deletes_a_file_a_scan_uses() {
    let dir = tempfile::tempdir().unwrap();
    let opts = append_opts(dir.path(), 4); // 64 KiB files: many of them
    let s = Arc::new(started(opts.clone()));
    let tbl = TableIdent::new("gc", 0);
    let pdir = dir.path().join("store/gc.0");
    const KEYS: u32 = 8000;
    let batch = |round: u64, block: Option<u32>| -> Vec<WriteDataEntry> {
        (0..KEYS)
            .filter(|i| block.is_none_or(|b| i / 1000 == b))
            .map(|i| {
                let mut v = round.to_le_bytes().to_vec();
                v.resize(100, b'v');
                WriteDataEntry::upsert(format!("k{i:06}").into_bytes(), v, round)
            })
            .collect()
    };
    assert_eq!(write(&s, &tbl, batch(1, None)), KvError::NoError);
    let stop = Arc::new(AtomicBool::new(false));
    let deleted_during = Arc::new(AtomicU64::new(0));
    let writer = {
        let (s, tbl, stop) = (s.clone(), tbl.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut r = 1;
            while !stop.load(Ordering::Relaxed) {
                r += 1;
                assert_eq!(
                    write(&s, &tbl, batch(r, Some((r % 8) as u32))),
                    KvError::NoError
                );
                compact(&s, &tbl);
            }
            r
        })
    };
    let mut scans = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(4);
    while std::time::Instant::now() < deadline {
        let before = data_files(&pdir);
        let sc = ScanRequest::new();
        sc.set_args(tbl.clone(), Vec::new(), Vec::new(), true);
        sc.set_prefetch_page_num(1);
        assert_eq!(s.exec_sync(&sc), KvError::NoError, "{}", sc.error_message());
        let entries = sc.entries();
        assert_eq!(entries.len(), KEYS as usize);
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e.key, format!("k{i:06}").into_bytes());
            assert_eq!(&e.value[..8], &e.timestamp.to_le_bytes());
        }
        let after = data_files(&pdir);
        deleted_during.fetch_add(before.difference(&after).count() as u64, Ordering::Relaxed);
        scans += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    let deleted = deleted_during.load(Ordering::Relaxed);
    println!(
        "{scans} scans beside {rounds} write+compact rounds; {deleted} files deleted while scans ran"
    );
    assert!(scans > 5 && rounds > 20);
    assert!(deleted > 0, "GC never ran while a scan was open");
    s.stop();
    check_clean(&opts);
}

#[test]
fn compression_survives_toggles_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = append_opts(dir.path(), 8);
    let tbl = TableIdent::new("z", 0);
    let text = |i: u32, round: u32| -> Vec<u8> {
        format!("round {round} value {i} ")
            .repeat(20 + (i % 30) as usize)
            .into_bytes()
    };
    let mut expect = std::collections::BTreeMap::new();
    for round in 0..6u32 {
        opts.enable_compression = round % 2 == 1;
        let s = started(opts.clone());
        let batch: Vec<_> = (0..3000u32)
            .filter(|i| i % 6 == round % 6 || round < 2)
            .map(|i| {
                WriteDataEntry::upsert(
                    format!("k{i:05}").into_bytes(),
                    text(i, round),
                    round as u64 + 1,
                )
            })
            .collect();
        for e in &batch {
            expect.insert(e.key.clone(), e.val.clone());
        }
        assert_eq!(write(&s, &tbl, batch), KvError::NoError);
        let got = scan(&s, &tbl, b"", b"").unwrap();
        assert_eq!(got.len(), expect.len());
        for g in &got {
            assert_eq!(&g.value, &expect[&g.key], "round {round}");
        }
        s.stop();
        check_clean(&opts);
    }
}

#[test]
fn compression_shrinks_compressible_values() {
    let sizes: Vec<u64> = [false, true]
        .iter()
        .map(|&on| {
            let dir = tempfile::tempdir().unwrap();
            let mut opts = disk_opts(dir.path(), 1);
            opts.enable_compression = on;
            let s = started(opts.clone());
            let tbl = TableIdent::new("c", 0);
            for chunk in 0..4u32 {
                let batch: Vec<_> = (chunk * 5000..(chunk + 1) * 5000)
                    .map(|i| {
                        let v = format!("{{\"id\":{i},\"name\":\"user{i}\",\"tags\":[\"a\",\"b\"],\"bio\":\"lorem ipsum dolor sit amet {}\"}}", i % 97);
                        WriteDataEntry::upsert(format!("k{i:06}").into_bytes(), v.repeat(3).into_bytes(), 1)
                    })
                    .collect();
                assert_eq!(write(&s, &tbl, batch), KvError::NoError);
            }
            assert_eq!(scan(&s, &tbl, b"", b"").unwrap().len(), 20_000);
            s.stop();
            check_clean(&opts);
            live_bytes(&opts, &tbl)
        })
        .collect();
    println!(
        "live bytes without compression {}, with {}",
        sizes[0], sizes[1]
    );
    assert!(
        sizes[1] * 2 < sizes[0],
        "compression saved too little: {sizes:?}"
    );
}

#[test]
fn expired_entries_are_cleaned_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let opts = disk_opts(dir.path(), 1);
    let s = started(opts.clone());
    let tbl = TableIdent::new("ttl", 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let batch: Vec<_> = (0..2000u32)
        .map(|i| {
            let exp = if i % 2 == 0 { now + 300 } else { 0 };
            WriteDataEntry::new(
                format!("k{i:05}").into_bytes(),
                b"v".to_vec(),
                1,
                WriteOp::Upsert,
                exp,
            )
        })
        .collect();
    assert_eq!(write(&s, &tbl, batch), KvError::NoError);
    std::thread::sleep(std::time::Duration::from_millis(400));
    // Any write after the expiry queues the clean-up behind it.
    assert_eq!(
        write(
            &s,
            &tbl,
            vec![WriteDataEntry::upsert(b"z".to_vec(), b"1".to_vec(), 2)]
        ),
        KvError::NoError
    );
    assert_eq!(scan(&s, &tbl, b"", b"").unwrap().len(), 1001);
    s.stop();
    // The expired entries are gone from disk too, and the TTL tree is empty.
    let r = StoreReader::new(opts.clone()).unwrap();
    let p = r.open_partition(&tbl, &ManifestChoice::Current).unwrap();
    let mut stored = 0;
    p.scan(b"", b"", |_| {
        stored += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(stored, 1001);
    assert!(p.ttl_entries().unwrap().is_empty());
    check_clean(&opts);
}

/// A compaction that moves more pages than it holds in memory at once
/// (its copies go out ahead of the commit, a few MiB at a time): every
/// value reads back exactly, before and after a restart.
#[test]
fn compaction_larger_than_its_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = append_opts(dir.path(), 8); // 1 MiB files
    // Pages go out ahead of the commit four runs (64 pages) at a time.
    opts.max_write_batch_pages = 16;
    let s = started(opts.clone());
    let tbl = TableIdent::new("big", 0);
    let pdir = dir.path().join("store/big.0");
    // Each batch writes 100 one-page values under each of "a" to "d": the
    // files hold runs of all four.
    let n = 3000u32;
    let key = |p: char, i: u32| format!("{p}{i:06}").into_bytes();
    let value = |i: u32| {
        let mut v = vec![(i % 251) as u8; 3000];
        v[..4].copy_from_slice(&i.to_be_bytes());
        v
    };
    for b in 0..n / 100 {
        let mut batch = Vec::new();
        for p in ['a', 'b', 'c', 'd'] {
            for i in b * 100..(b + 1) * 100 {
                batch.push(WriteDataEntry::upsert(key(p, i), value(i), 1));
            }
        }
        assert_eq!(write(&s, &tbl, batch), KvError::NoError);
    }
    // "b" to "d" go; the "a" pages stay where they are, a quarter of every
    // file: 3,000 pages (about 12 MiB) for compaction to move.
    let batch: Vec<_> = ['b', 'c', 'd']
        .into_iter()
        .flat_map(|p| (0..n).map(move |i| WriteDataEntry::delete(key(p, i), 2)))
        .collect();
    assert_eq!(write(&s, &tbl, batch), KvError::NoError);
    compact(&s, &tbl);
    let (disk, live) = (data_bytes(&pdir), live_bytes(&opts, &tbl));
    let factor = opts.file_amplify_factor as u64;
    assert!(disk <= (factor + 1) * live, "{disk} bytes for {live} live");
    let check = |s: &EloqStore| {
        let got = scan(s, &tbl, b"", b"").unwrap();
        assert_eq!(got.len(), n as usize);
        for (g, i) in got.iter().zip(0..n) {
            assert!(g.key == key('a', i) && g.value == value(i), "key {i}");
        }
    };
    check(&s);
    s.stop();
    check_clean(&opts);
    let s = started(opts.clone());
    check(&s);
    s.stop();
}
