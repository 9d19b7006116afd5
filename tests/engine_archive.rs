//! Archives: written as upstream names and encodes them, kept from file GC,
//! retained up to `num_retained_archives`, written for every partition by
//! GlobalArchive and periodically by the archiver, and restorable by copying
//! an archive over the manifest while the store is stopped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::engine::*;
use common::{copy_fixture, fixtures, name, options_at, read_tsv};
use eloqstore::internals::format::names::{PartitionFile, classify};
use eloqstore::*;

fn append_opts(dir: &Path) -> KvOptions {
    let mut o = disk_opts(dir, 2);
    o.data_append_mode = true;
    o.pages_per_file_shift = 6;
    o
}

fn archives(pdir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<_> = std::fs::read_dir(pdir)
        .unwrap()
        .flatten()
        .filter_map(|e| match e.file_name().to_str().and_then(classify) {
            Some(PartitionFile::Archive { timestamp, .. }) => Some((timestamp, e.path())),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn archive(s: &EloqStore, tbl: &TableIdent, ts: u64) -> KvError {
    let a = ArchiveRequest::new();
    a.set_table_id(tbl.clone());
    a.set_snapshot_timestamp(ts);
    s.exec_sync(&a)
}

fn content(s: &EloqStore, tbl: &TableIdent) -> BTreeMap<Vec<u8>, Vec<u8>> {
    scan(s, tbl, b"", b"")
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect()
}

fn batch(round: u64, range: std::ops::Range<u32>) -> Vec<WriteDataEntry> {
    range
        .map(|i| {
            WriteDataEntry::upsert(
                format!("k{i:06}").into_bytes(),
                vec![round as u8; 150],
                round,
            )
        })
        .collect()
}

#[test]
fn archive_survives_gc_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let opts = append_opts(dir.path());
    let s = started(opts.clone());
    let tbl = TableIdent::new("arch", 1);
    let pdir = dir.path().join("store/arch.1");
    assert_eq!(write(&s, &tbl, batch(1, 0..5000)), KvError::NoError);
    assert_eq!(write(&s, &tbl, batch(2, 2000..4000)), KvError::NoError);
    let archived = content(&s, &tbl);
    assert_eq!(archive(&s, &tbl, 0), KvError::NoError);
    let list = archives(&pdir);
    assert_eq!(list.len(), 1);
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    assert!(
        list[0].0 <= now_us && list[0].0 > now_us - 60_000_000,
        "timestamp in microseconds"
    );
    // Overwrite everything many times; compaction and GC run.
    for round in 3..15 {
        assert_eq!(write(&s, &tbl, batch(round, 0..6000)), KvError::NoError);
        let c = CompactRequest::new();
        c.set_table_id(tbl.clone());
        assert_eq!(s.exec_sync(&c), KvError::NoError);
    }
    assert_eq!(
        write(
            &s,
            &tbl,
            vec![WriteDataEntry::delete(b"k000007".to_vec(), 99)]
        ),
        KvError::NoError
    );
    let current = content(&s, &tbl);
    s.stop();
    check_clean(&opts); // includes the archive
    // Roll back to the archive, then forward again.
    let manifest = pdir.join("manifest_0");
    let saved = std::fs::read(&manifest).unwrap();
    std::fs::copy(&list[0].1, &manifest).unwrap();
    s.start(0).unwrap();
    assert!(
        content(&s, &tbl) == archived,
        "the restored archive differs from the archived content"
    );
    s.stop();
    std::fs::write(&manifest, saved).unwrap();
    s.start(0).unwrap();
    assert!(content(&s, &tbl) == current);
}

#[test]
fn refused_outside_append_mode_and_on_empty_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let s = started(disk_opts(dir.path(), 1));
    let tbl = TableIdent::new("t", 0);
    put(&s, &tbl, &[(b"a", b"1", 1)]);
    assert_eq!(archive(&s, &tbl, 0), KvError::InvalidArgs);
    let c = CompactRequest::new();
    c.set_table_id(tbl.clone());
    assert_eq!(s.exec_sync(&c), KvError::InvalidArgs);
    assert_eq!(
        s.exec_sync(&GlobalArchiveRequest::new()),
        KvError::InvalidArgs
    );
    s.stop();
    let dir = tempfile::tempdir().unwrap();
    let s = started(append_opts(dir.path()));
    assert_eq!(archive(&s, &tbl, 0), KvError::NotFound);
    put(&s, &tbl, &[(b"a", b"1", 1)]);
    assert_eq!(truncate(&s, &tbl, b""), KvError::NoError);
    assert_eq!(archive(&s, &tbl, 0), KvError::NotFound);
}

#[test]
fn retention_keeps_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = append_opts(dir.path());
    opts.num_retained_archives = 2;
    opts.archive_interval_secs = 0;
    let s = started(opts.clone());
    let tbl = TableIdent::new("ret", 0);
    let pdir = dir.path().join("store/ret.0");
    let mut contents = Vec::new();
    for (i, ts) in [1000u64, 2000, 3000, 4000].into_iter().enumerate() {
        assert_eq!(
            write(
                &s,
                &tbl,
                batch(i as u64 + 1, (i as u32 * 1000)..(i as u32 * 1000 + 3000))
            ),
            KvError::NoError
        );
        contents.push(content(&s, &tbl));
        assert_eq!(archive(&s, &tbl, ts), KvError::NoError);
    }
    let list = archives(&pdir);
    assert_eq!(list.iter().map(|a| a.0).collect::<Vec<_>>(), [3000, 4000]);
    for round in 10..20 {
        assert_eq!(write(&s, &tbl, batch(round, 0..7000)), KvError::NoError);
    }
    s.stop();
    check_clean(&opts);
    for (k, (_, path)) in list.iter().enumerate() {
        std::fs::copy(path, pdir.join("manifest_0")).unwrap();
        s.start(0).unwrap();
        assert!(content(&s, &tbl) == contents[k + 2], "archive {k}");
        s.stop();
    }
}

#[test]
fn global_archive_shares_a_timestamp_and_honours_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = append_opts(dir.path());
    opts.max_archive_tasks = 1;
    opts.partition_filter = Some(Arc::new(|t: &TableIdent| t.tbl_name == b"a"));
    let s = started(opts);
    for t in ["a", "b"] {
        for p in 0..5 {
            assert_eq!(
                write(&s, &TableIdent::new(t, p), batch(1, 0..100)),
                KvError::NoError
            );
        }
    }
    let g = GlobalArchiveRequest::new();
    g.set_snapshot_timestamp(123_456_789);
    assert_eq!(s.exec_sync(&g), KvError::NoError, "{}", g.error_message());
    for p in 0..5 {
        let a = archives(&dir.path().join(format!("store/a.{p}")));
        assert_eq!(a.iter().map(|x| x.0).collect::<Vec<_>>(), [123_456_789]);
        assert!(archives(&dir.path().join(format!("store/b.{p}"))).is_empty());
    }
}

#[test]
fn periodic_archiver_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = append_opts(dir.path());
    opts.num_retained_archives = 1;
    opts.archive_interval_secs = 1;
    let s = started(opts.clone());
    for p in 0..3 {
        assert_eq!(
            write(&s, &TableIdent::new("cron", p), batch(1, 0..200)),
            KvError::NoError
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(2600));
    s.stop();
    for p in 0..3 {
        assert_eq!(
            archives(&dir.path().join(format!("store/cron.{p}"))).len(),
            1,
            "partition {p}"
        );
    }
    check_clean(&opts);
}

/// The C++-written archive fixture restores through the engine too.
#[test]
fn cpp_archive_restores() {
    let mut seen = 0;
    for fx in fixtures() {
        if !fx.join("archived.tsv").exists() {
            continue;
        }
        seen += 1;
        let tmp = copy_fixture(&fx);
        let opts = options_at(&fx, tmp.path());
        let mut want = common::Content::new();
        read_tsv(&fx.join("archived.tsv"), &mut want);
        for (tbl, entries) in &want {
            let pdir = tbl.store_path(&opts.store_path);
            let list = archives(&pdir);
            std::fs::copy(&list.last().unwrap().1, pdir.join("manifest_0")).unwrap();
            let s = started(opts.clone());
            let got = scan(&s, tbl, b"", b"").unwrap();
            assert_eq!(got.len(), entries.len(), "{}", name(&fx));
            for (g, w) in got.iter().zip(entries.values()) {
                assert_eq!(g, w);
            }
            s.stop();
        }
        check_clean(&opts);
    }
    assert!(seen > 0);
}
